#include "analysis/correlate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "core/clock_map.h"
#include "core/text_escape.h"
#include "import/monitor_import.h"
#include "report/report.h"
#include "views/text_views.h"

namespace nettrail {
namespace {

constexpr char kTimelineSuffix[] = "_timeline";
// Events stored per alert and family; the counts cover all of them.
constexpr int64_t kMaxStoredEvents = 200;

std::string formatNumber(double v) {
  char buf[64];
  if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15) std::snprintf(buf, sizeof(buf), "%.0f", v);
  else std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

bool tableHasRows(Db& db, const std::string& table) {
  auto exists = db.queryInt("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '" + table + "'");
  if (!exists.isOk() || *exists == 0) return false;
  auto rows = db.queryInt("SELECT EXISTS (SELECT 1 FROM " + table + ")");
  return rows.isOk() && *rows > 0;
}

struct Alert {
  int64_t source_id = 0;
  int64_t time_ns = 0;
  int64_t realtime_ns = 0;
  std::string kind, subject, detail;
  std::optional<double> value;
  bool in_recording = true;
  int64_t drops = 0, events = 0;
  std::map<std::string, int64_t> per_family;
};

bool compare(double a, const std::string& op, double b) {
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  if (op == "<") return a < b;
  return a <= b;
}

Status collectAlerts(Db& db, const CorrelateOptions& options, std::vector<Alert>* alerts) {
  if (tableHasRows(db, "monitor_probe")) {
    NT_ASSIGN_OR_RETURN(Statement probes, db.prepare("SELECT source_id, time_ns, realtime_ns, target, seq, rtt_ms, "
                                                     "timeout FROM main.monitor_probe ORDER BY time_ns, rowid"));
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, probes.step());
      if (!row) break;
      Alert a;
      a.source_id = probes.columnInt(0);
      a.time_ns = probes.columnInt(1);
      a.realtime_ns = probes.columnInt(2);
      a.subject = probes.columnText(3);
      const std::string seq = probes.columnIsNull(4) ? "" : "icmp_seq=" + std::to_string(probes.columnInt(4)) + " ";
      if (probes.columnInt(6) != 0) {
        a.kind = "timeout";
        a.detail = seq + "no answer";
      } else if (options.rtt_threshold_ms > 0 && probes.columnDouble(5) > options.rtt_threshold_ms) {
        a.kind = "rtt";
        a.value = probes.columnDouble(5);
        a.detail = seq + "time=" + formatNumber(*a.value) + " ms > " + formatNumber(options.rtt_threshold_ms) + " ms";
      } else {
        continue;
      }
      alerts->push_back(std::move(a));
    }
  }
  if (!options.thresholds.empty() && tableHasRows(db, "monitor_sample")) {
    NT_ASSIGN_OR_RETURN(Statement samples,
                        db.prepare("SELECT source_id, time_ns, realtime_ns, series, value FROM main.monitor_sample "
                                   "WHERE series GLOB ? ORDER BY source_id, series, time_ns, rowid"));
    for (const SeriesThreshold& threshold : options.thresholds) {
      samples.reset();
      samples.bind(1, std::string_view(threshold.pattern));
      int64_t last_source = -1;
      std::string last_series;
      bool above = false;
      while (true) {
        NT_ASSIGN_OR_RETURN(bool row, samples.step());
        if (!row) break;
        const int64_t source = samples.columnInt(0);
        std::string series = samples.columnText(3);
        if (source != last_source || series != last_series) above = false;
        last_source = source;
        last_series = series;
        if (samples.columnIsNull(4)) continue;
        const double value = samples.columnDouble(4);
        const bool now = compare(value, threshold.op, threshold.value);
        // A crossing: the condition holds now and did not at the previous sample.
        if (now && !above) {
          Alert a;
          a.source_id = source;
          a.time_ns = samples.columnInt(1);
          a.realtime_ns = samples.columnInt(2);
          a.kind = "threshold";
          a.subject = series;
          a.value = value;
          a.detail = series + " = " + formatNumber(value) + " " + threshold.op + " " + formatNumber(threshold.value);
          alerts->push_back(std::move(a));
        }
        above = now;
      }
    }
  }
  std::stable_sort(alerts->begin(), alerts->end(),
                   [](const Alert& a, const Alert& b) { return a.time_ns < b.time_ns; });
  return Status::ok();
}

Result<std::vector<std::string>> timelineViews(Db& db) {
  std::vector<std::string> views;
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'view' AND "
                                                 "name GLOB '*_timeline' ORDER BY name"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    views.push_back(stmt.columnText(0));
  }
  return views;
}

// Creates `schema`.monitor_alert / monitor_alert_event / monitor_setting when
// they do not exist there (temp copies of the documented main tables).
Status ensureAlertTables(Db& db, const std::string& schema) {
  if (schema == "main") return Status::ok();
  for (const char* table : {"monitor_alert", "monitor_alert_event", "monitor_setting"}) {
    NT_ASSIGN_OR_RETURN(int64_t exists, db.queryInt(std::string("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = '") +
                                                    table + "'"));
    if (exists) continue;
    NT_ASSIGN_OR_RETURN(Statement ddl, db.prepare("SELECT sql FROM main.sqlite_master WHERE name = ?"));
    ddl.bind(1, std::string_view(table));
    NT_ASSIGN_OR_RETURN(bool row, ddl.step());
    if (!row) return Status::error("correlate: no ", table, " table; import monitoring data first");
    std::string sql = ddl.columnText(0);
    const size_t at = sql.find("TABLE");
    if (at == std::string::npos) return Status::error("correlate: unexpected DDL of ", table);
    sql.replace(0, at + 5, "CREATE TEMP TABLE");
    const size_t if_not = sql.find("IF NOT EXISTS");
    if (if_not != std::string::npos && if_not < sql.find('(')) sql.erase(if_not, 13);
    NT_RETURN_IF_ERROR(db.exec(sql));
  }
  return Status::ok();
}

}  // namespace

Result<SeriesThreshold> parseSeriesThreshold(std::string_view text) {
  SeriesThreshold t;
  t.text = std::string(text);
  size_t at = std::string_view::npos;
  for (size_t i = text.size(); i-- > 0;) {
    if (text[i] == '>' || text[i] == '<') {
      at = i;
      break;
    }
  }
  if (at == std::string_view::npos || at == 0)
    return Status::error("--threshold ", escapeForTerminal(std::string(text)),
                         ": expected SERIES>VALUE (or >=, <, <=), e.g. '%CPU ovs-vswitchd*>90'");
  t.pattern = std::string(text.substr(0, at));
  t.op = std::string(1, text[at]);
  std::string_view value = text.substr(at + 1);
  if (!value.empty() && value[0] == '=') {
    t.op += '=';
    value.remove_prefix(1);
  }
  while (!t.pattern.empty() && t.pattern.back() == ' ') t.pattern.pop_back();
  std::string number(value);
  char* end = nullptr;
  t.value = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(t.value) || t.pattern.empty())
    return Status::error("--threshold ", escapeForTerminal(std::string(text)),
                         ": expected SERIES>VALUE with a number after the operator");
  return t;
}

Result<CorrelateSummary> correlateAlerts(Db& db, const CorrelateOptions& options, const std::string& schema) {
  if (!tableHasRows(db, "monitor_source"))
    return Status::error("correlate: ", db.path(), " has no monitoring data; add some with nettrail import");
  NT_RETURN_IF_ERROR(ensureAlertTables(db, schema));
  std::vector<Alert> alerts;
  NT_RETURN_IF_ERROR(collectAlerts(db, options, &alerts));
  int64_t first_ns = 0, last_ns = -1;
  const bool has_span = recordingBoottimeSpan(db, &first_ns, &last_ns);
  const int64_t window_ns = static_cast<int64_t>(options.window_ms * 1e6);

  CorrelateSummary summary;
  summary.window_ms = options.window_ms;
  NT_ASSIGN_OR_RETURN(std::vector<std::string> views, timelineViews(db));
  for (Alert& a : alerts) a.in_recording = !has_span || (a.time_ns >= first_ns && a.time_ns <= last_ns);

  const std::string s = schema + ".";
  NT_RETURN_IF_ERROR(db.exec("SAVEPOINT correlate"));
  Status status = [&]() -> Status {
    NT_RETURN_IF_ERROR(db.exec("DELETE FROM " + s + "monitor_alert; DELETE FROM " + s + "monitor_alert_event; DELETE FROM " +
                               s + "monitor_setting;"));
    NT_ASSIGN_OR_RETURN(Statement setting, db.prepare("INSERT INTO " + s + "monitor_setting VALUES (?, ?)"));
    auto set = [&](const std::string& key, const std::string& value) {
      setting.bind(1, std::string_view(key));
      setting.bind(2, std::string_view(value));
      return setting.run();
    };
    NT_RETURN_IF_ERROR(set("window_ms", formatNumber(options.window_ms)));
    NT_RETURN_IF_ERROR(set("rtt_threshold_ms", formatNumber(options.rtt_threshold_ms)));
    for (const SeriesThreshold& t : options.thresholds) NT_RETURN_IF_ERROR(set("threshold", t.text));

    NT_ASSIGN_OR_RETURN(Statement insert_event,
                        db.prepare("INSERT INTO " + s + "monitor_alert_event VALUES (?, ?, ?, ?, ?, ?, ?)"));
    for (const std::string& view : views) {
      const std::string family = view.substr(0, view.size() - (sizeof(kTimelineSuffix) - 1));
      summary.families.push_back(family);
      // Materialized and indexed once, so each alert is a range lookup.
      NT_RETURN_IF_ERROR(db.exec("DROP TABLE IF EXISTS temp._nt_timeline; CREATE TEMP TABLE _nt_timeline AS "
                                 "SELECT time_ns, COALESCE(duration_ns, 0) AS duration_ns, kind, detail FROM " +
                                 sqlIdentifier(view) +
                                 "; CREATE INDEX temp._nt_timeline_time ON _nt_timeline(time_ns);")
                             .context("correlate: read " + view));
      NT_ASSIGN_OR_RETURN(int64_t max_duration,
                          db.queryInt("SELECT COALESCE(MAX(duration_ns), 0) FROM temp._nt_timeline"));
      NT_ASSIGN_OR_RETURN(Statement near,
                          db.prepare("SELECT time_ns, duration_ns, kind, detail FROM temp._nt_timeline WHERE "
                                     "time_ns BETWEEN ? AND ? AND time_ns + duration_ns >= ? ORDER BY time_ns"));
      for (size_t i = 0; i < alerts.size(); ++i) {
        Alert& a = alerts[i];
        if (!a.in_recording) continue;
        near.reset();
        near.bind(1, a.time_ns - window_ns - max_duration);
        near.bind(2, a.time_ns + window_ns);
        near.bind(3, a.time_ns - window_ns);
        int64_t count = 0;
        while (true) {
          NT_ASSIGN_OR_RETURN(bool row, near.step());
          if (!row) break;
          if (count++ >= kMaxStoredEvents) continue;
          insert_event.bind(1, static_cast<int64_t>(i + 1));
          insert_event.bind(2, std::string_view(family));
          insert_event.bind(3, near.columnInt(0));
          insert_event.bind(4, static_cast<double>(near.columnInt(0) - a.time_ns) / 1e6);
          insert_event.bind(5, near.columnInt(1));
          insert_event.bind(6, std::string_view(near.columnText(2)));
          insert_event.bind(7, std::string_view(near.columnText(3)));
          NT_RETURN_IF_ERROR(insert_event.run());
        }
        if (count == 0) continue;
        a.per_family[family] += count;
        a.events += count;
        if (family == "drop") a.drops += count;
      }
      NT_RETURN_IF_ERROR(db.exec("DROP TABLE temp._nt_timeline"));
    }
    NT_ASSIGN_OR_RETURN(Statement insert_alert,
                        db.prepare("INSERT INTO " + s +
                                   "monitor_alert VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    for (size_t i = 0; i < alerts.size(); ++i) {
      const Alert& a = alerts[i];
      std::string families;
      for (const auto& [family, count] : a.per_family)
        families += (families.empty() ? "" : ", ") + family + " " + std::to_string(count);
      const char* verdict = !a.in_recording ? "outside recording" : a.drops > 0 ? "drop" : "no drop";
      insert_alert.bind(1, static_cast<int64_t>(i + 1));
      insert_alert.bind(2, a.source_id);
      insert_alert.bind(3, a.time_ns);
      insert_alert.bind(4, a.realtime_ns);
      insert_alert.bind(5, std::string_view(a.kind));
      insert_alert.bind(6, std::string_view(a.subject));
      if (a.value) insert_alert.bind(7, *a.value); else insert_alert.bindNull(7);
      insert_alert.bind(8, std::string_view(a.detail));
      insert_alert.bind(9, int64_t{a.in_recording ? 1 : 0});
      insert_alert.bind(10, a.drops);
      insert_alert.bind(11, a.events);
      insert_alert.bind(12, std::string_view(families));
      insert_alert.bind(13, std::string_view(verdict));
      NT_RETURN_IF_ERROR(insert_alert.run());
    }
    return Status::ok();
  }();
  if (!status.isOk()) {
    (void)db.exec("ROLLBACK TO correlate; RELEASE correlate");
    return status.context("correlate");
  }
  NT_RETURN_IF_ERROR(db.exec("RELEASE correlate"));
  std::vector<std::string> families = summary.families;
  NT_ASSIGN_OR_RETURN(summary, readCorrelateSummary(db));
  summary.families = families;
  summary.window_ms = options.window_ms;
  return summary;
}

Result<CorrelateSummary> readCorrelateSummary(Db& db) {
  CorrelateSummary summary;
  NT_ASSIGN_OR_RETURN(Statement setting,
                      db.prepare("SELECT value FROM monitor_setting WHERE key = 'window_ms' LIMIT 1"));
  NT_ASSIGN_OR_RETURN(bool has_setting, setting.step());
  if (has_setting) summary.window_ms = std::strtod(setting.columnText(0).c_str(), nullptr);
  NT_ASSIGN_OR_RETURN(Statement alerts, db.prepare("SELECT in_recording, drops, families FROM monitor_alert"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, alerts.step());
    if (!row) break;
    ++summary.alerts;
    if (alerts.columnInt(0) == 0) {
      ++summary.outside;
    } else if (alerts.columnInt(1) > 0) {
      ++summary.with_drop;
    } else {
      ++summary.without_drop;
      // "offcpu 2, futex 1" -> family names.
      std::string families = alerts.columnText(2);
      size_t pos = 0;
      while (pos < families.size()) {
        size_t end = families.find(", ", pos);
        if (end == std::string::npos) end = families.size();
        std::string item = families.substr(pos, end - pos);
        summary.without_drop_by_family[item.substr(0, item.rfind(' '))] += 1;
        pos = end + 2;
      }
    }
  }
  return summary;
}

std::string correlationSummaryLine(const CorrelateSummary& summary) {
  const std::string window = formatNumber(summary.window_ms);
  std::string line = std::to_string(summary.alerts) + (summary.alerts == 1 ? " alert: " : " alerts: ") +
                     std::to_string(summary.with_drop) + " with a kernel drop within \u00b1" + window + " ms, " +
                     std::to_string(summary.without_drop) + " with no drop (late only)";
  if (summary.outside > 0) line += ", " + std::to_string(summary.outside) + " outside the recording";
  if (!summary.without_drop_by_family.empty()) {
    line += "; of those without a drop, with other recorded events:";
    bool first = true;
    for (const auto& [family, count] : summary.without_drop_by_family) {
      line += std::string(first ? " " : ", ") + family + " " + std::to_string(count);
      first = false;
    }
  }
  return line;
}

Status printCorrelation(Db& db, const CorrelateSummary& summary, int64_t limit, std::ostream& out) {
  out << escapeForTerminal(correlationSummaryLine(summary)) << "\n\n";
  NT_ASSIGN_OR_RETURN(Statement stmt,
                      db.prepare("SELECT alert_id AS id, strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, "
                                 "'unixepoch') AS time_utc, kind, subject, detail, verdict, families AS events "
                                 "FROM monitor_alert ORDER BY alert_id LIMIT ?"));
  stmt.bind(1, limit);
  NT_RETURN_IF_ERROR(printStatementTable(stmt, out));
  if (summary.alerts > limit) out << "(first " << limit << " of " << summary.alerts << " alerts; --limit N for more)\n";
  return Status::ok();
}

Status addMonitorReportSections(Db& db, JsonReportBuilder& report) {
  if (!tableHasRows(db, "monitor_source")) return Status::ok();
  Status computed = Status::ok();
  bool defaults = false;
  if (!tableHasRows(db, "monitor_alert")) {
    // No nettrail correlate run stored: compute with the defaults, into temp tables.
    auto result = correlateAlerts(db, CorrelateOptions{}, "temp");
    computed = result.status();
    defaults = true;
  }
  report.beginSection("monitor", "Monitoring and correlation",
                      "Alerts from imported monitoring exports (probe timeouts, RTT above the threshold, "
                      "threshold crossings) and the recorded events within the window around each. Monitor "
                      "times are mapped onto the recording's clock through its clock anchors.");
  NT_RETURN_IF_ERROR(computed);
  NT_ASSIGN_OR_RETURN(CorrelateSummary summary, readCorrelateSummary(db));
  report.headline("Monitoring alerts",
                  std::to_string(summary.alerts) + " (" + std::to_string(summary.with_drop) + " with a drop)");
  report.note(correlationSummaryLine(summary) + (defaults ? " (default settings; run nettrail correlate to choose "
                                                            "the window and thresholds)"
                                                          : ""),
              summary.with_drop == summary.alerts - summary.outside ? "info" : "warn");
  NT_RETURN_IF_ERROR(report.timeSeries("Alerts per second by verdict", db,
                                       "SELECT (time_ns / 1000000000) * 1000000000, verdict, COUNT(*) AS alerts "
                                       "FROM monitor_alert WHERE in_recording = 1 GROUP BY 1, 2 ORDER BY 1",
                                       true));
  NT_RETURN_IF_ERROR(report.table(
      "Alerts", db,
      "SELECT alert_id AS id, strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS time_utc, kind, "
      "subject, detail, verdict, drops, events, families FROM monitor_alert ORDER BY alert_id",
      1000));
  NT_RETURN_IF_ERROR(report.table(
      "Recorded events around alerts", db,
      "SELECT e.alert_id AS alert, e.family, printf('%+.3f', e.offset_ms) AS offset_ms, "
      "round(e.duration_ns / 1e6, 3) AS duration_ms, e.kind, e.detail FROM monitor_alert_event e "
      "ORDER BY e.alert_id, e.time_ns",
      1000));
  if (tableHasRows(db, "monitor_probe"))
    NT_RETURN_IF_ERROR(report.timeSeries("Probe round-trip time (ms)", db,
                                         "SELECT time_ns, target, rtt_ms FROM monitor_probe "
                                         "WHERE rtt_ms IS NOT NULL ORDER BY time_ns",
                                         false));
  if (tableHasRows(db, "monitor_sample"))
    NT_RETURN_IF_ERROR(report.timeSeries("Imported series", db,
                                         "SELECT time_ns, series, value FROM monitor_sample ORDER BY time_ns",
                                         false));
  return report.table("Imported files", db,
                      "SELECT source_id AS id, path, format, name, clock_offset_ns / 1e6 AS clock_offset_ms, rows, "
                      "outside_rows FROM monitor_source ORDER BY source_id");
}

}  // namespace nettrail
