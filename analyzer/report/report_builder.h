#pragma once
// Generic report widgets. Families describe sections as SQL queries plus a
// widget kind; report.js renders each kind, so a new family needs no JS edit.
// All values travel as JSON data and are rendered with textContent or escaped
// by ECharts' text renderer, never as HTML.
#include <string>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"

namespace nettrail {

class ReportBuilder {
 public:
  virtual ~ReportBuilder() = default;
  // Starts a section (a heading with an optional explanatory paragraph).
  virtual void beginSection(const std::string& id, const std::string& title, const std::string& intro) = 0;
  // A table of the query's rows; column names become headers.
  virtual Status table(const std::string& title, Db& db, const std::string& sql, int max_rows = 200) = 0;
  // A bar chart: first column labels, second column values.
  virtual Status bar(const std::string& title, Db& db, const std::string& sql) = 0;
  // A time series: columns (time_ns, series, value); one line or stacked bar per series.
  virtual Status timeSeries(const std::string& title, Db& db, const std::string& sql, bool stacked) = 0;
  // Stacks: columns (count, stack_id, label); frames come from stack_frame_text.
  virtual Status stacks(const std::string& title, Db& db, const std::string& sql, int max_stacks = 20) = 0;
  // A flame graph (root at the top): columns (value, label, stack_id, stack_id...).
  // Each row is one path: the label as the root frame, then the frames of each
  // stack column outermost first, columns in order (e.g. user then kernel
  // stack). Paths that share a prefix merge; `unit` names the value.
  virtual Status flame(const std::string& title, Db& db, const std::string& sql, const std::string& unit) = 0;
  // A single headline figure shown in the summary strip at the top.
  virtual void headline(const std::string& label, const std::string& value) = 0;
};

}  // namespace nettrail
