#pragma once
// Alerts from imported monitoring exports (nettrail import) set against the
// recorded events around them (`nettrail correlate`, and the report's
// "Monitoring and correlation" section). Events come from every view named
// <family>_timeline (contract in analyzer/queries/_monitor.sql), so a family
// joins the correlation by declaring that view; nothing here names families
// except "drop", whose presence decides the verdict.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"

namespace nettrail {

class JsonReportBuilder;

// --threshold 'SERIES>VALUE': SERIES is a glob over monitor_sample.series
// (e.g. '%CPU ovs-vswitchd*'); the operator is >, >=, < or <=.
struct SeriesThreshold {
  std::string pattern;
  std::string op;
  double value = 0;
  std::string text;  // as given
};
Result<SeriesThreshold> parseSeriesThreshold(std::string_view text);

struct CorrelateOptions {
  double window_ms = 1000;       // events within ±window of the alert
  double rtt_threshold_ms = 200; // probe RTT above this is an alert; <= 0 turns RTT alerts off
  std::vector<SeriesThreshold> thresholds;
};

struct CorrelateSummary {
  double window_ms = 0;
  int64_t alerts = 0;            // all alerts, inside the recording or not
  int64_t outside = 0;           // alerts outside the recording's span
  int64_t with_drop = 0;
  int64_t without_drop = 0;
  // Of the alerts without a drop: how many had events of each other family.
  std::map<std::string, int64_t> without_drop_by_family;
  std::vector<std::string> families;  // timeline families found
};

// Computes the alerts into monitor_alert and monitor_alert_event of `schema`
// ("main", or "temp" for a read-only database), replacing earlier rows, and
// stores the settings in monitor_setting. Needs monitor tables (nettrail import).
Result<CorrelateSummary> correlateAlerts(Db& db, const CorrelateOptions& options, const std::string& schema = "main");

// Recomputes the summary from monitor_alert as it stands.
Result<CorrelateSummary> readCorrelateSummary(Db& db);

// "234 alerts: 31 with a kernel drop within ±1000 ms, 203 with no drop (late only)".
std::string correlationSummaryLine(const CorrelateSummary& summary);

// Summary line and the per-alert table (first `limit` alerts), escaped for a terminal.
Status printCorrelation(Db& db, const CorrelateSummary& summary, int64_t limit, std::ostream& out);

// The report's monitoring section: only when monitor tables have rows. Uses
// the alerts of the last nettrail correlate run, or computes them with default
// settings into temporary tables.
Status addMonitorReportSections(Db& db, JsonReportBuilder& report);

}  // namespace nettrail
