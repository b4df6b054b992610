#pragma once
// `nettrail triage FILE...`: the ranked findings of a recording in the
// terminal (escaped) or as JSON, from analysis/findings.h.
#include <ostream>
#include <string>

#include "analysis/findings.h"
#include "core/db.h"
#include "core/json.h"
#include "nettrail/status.h"

namespace nettrail {

// A heading naming `input` and the recording (host, start, length), then each
// finding: rank, severity, title, evidence, next step and its evidence rows.
// Rules that could not run are listed after the findings.
Status printTriage(Db& db, const std::string& input, const FindingsResult& result, std::ostream& out);

// The findings alone (no heading), as printTriage and `nettrail diff` show them.
void printFindingList(const FindingsResult& result, std::ostream& out);

// The same as one JSON object: {"input", "host", "rules", "findings": [{"rule",
// "source", "severity", "score", "title", "evidence", "next_step", "evidence_rows":
// {"columns", "rows", "total"}}], "problems"}.
void writeTriageJson(Db& db, const std::string& input, const FindingsResult& result, JsonWriter& w);

}  // namespace nettrail
