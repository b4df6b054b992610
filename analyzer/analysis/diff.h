#pragma once
// `nettrail diff BEFORE AFTER`: the change between two recordings, as a
// terminal summary and a self-contained HTML report (the report's template,
// widgets and escaping, with a different set of sections). Figures come from
// the families' <family>_metric, <family>_breakdown and <family>_timeline views
// (contracts in analyzer/queries/_monitor.sql) and land in the diff_* tables of
// analyzer/queries/_diff.sql.
#include <ostream>
#include <string>

#include "core/db.h"
#include "nettrail/output_file.h"
#include "nettrail/status.h"

namespace nettrail {

// Fills `out` (an empty database) with the diff_* tables comparing `before` and `after`.
Status buildDiff(Db& before, const std::string& before_path, Db& after, const std::string& after_path, Db& out);

// "drops/s: 120.0 → 3.5 (−97.1%)".
std::string changeStatement(const std::string& name, double before, double after);

// Headline statements and the per-dimension change tables, escaped for a terminal.
Status printDiff(Db& diff, std::ostream& out);

// The diff as one HTML file, written as an OutputFile (complete or not at all).
Status writeDiffHtml(Db& diff, const std::string& out_path, const OutputOptions& output = {});

}  // namespace nettrail
