#include "analysis/diff.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "core/embedded_assets.h"
#include "core/text_escape.h"
#include "import/monitor_import.h"
#include "report/report.h"
#include "views/text_views.h"

namespace nettrail {
namespace {

constexpr int kHistogramBuckets = 40;

std::string formatValue(double v) {
  char buf[64];
  if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15) std::snprintf(buf, sizeof(buf), "%.0f", v);
  else if (std::fabs(v) >= 1) std::snprintf(buf, sizeof(buf), "%.1f", v);
  else std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

// "−97.1%", "+12.0%", "no change", "new", "gone".
std::string relativeChange(double before, double after) {
  if (before == after) return "no change";
  if (before == 0) return "new";
  if (after == 0 && before > 0) return "\u2212100.0%";
  const double pct = 100.0 * (after - before) / std::fabs(before);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f%%", std::fabs(pct));
  return std::string(pct < 0 ? "\u2212" : "+") + buf;
}

// Views of `db` whose names end in `suffix`, with the family name (prefix).
Result<std::vector<std::pair<std::string, std::string>>> familyViews(Db& db, const std::string& suffix) {
  std::vector<std::pair<std::string, std::string>> views;
  NT_ASSIGN_OR_RETURN(Statement stmt,
                      db.prepare("SELECT name FROM sqlite_master WHERE type = 'view' AND name GLOB ? ORDER BY name"));
  const std::string pattern = "*" + suffix;
  stmt.bind(1, std::string_view(pattern));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    const std::string name = stmt.columnText(0);
    views.emplace_back(name.substr(0, name.size() - suffix.size()), name);
  }
  return views;
}

struct Side {
  std::map<std::pair<std::string, std::string>, double> metrics;                    // (family, name)
  std::map<std::tuple<std::string, std::string, std::string>, double> breakdowns;  // (family, dimension, key)
  std::map<std::string, std::vector<double>> per_second;                            // family -> counts
  std::map<std::string, std::vector<double>> durations_ms;                          // family -> durations
  std::vector<std::string> metric_order;                                            // "family\0name" in view order
};

Status readSide(Db& db, Side* side) {
  NT_ASSIGN_OR_RETURN(auto metric_views, familyViews(db, "_metric"));
  for (const auto& [family, view] : metric_views) {
    NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT name, value FROM " + sqlIdentifier(view)));
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, stmt.step());
      if (!row) break;
      side->metrics[{family, stmt.columnText(0)}] = stmt.columnIsNull(1) ? 0 : stmt.columnDouble(1);
      side->metric_order.push_back(family + '\0' + stmt.columnText(0));
    }
  }
  NT_ASSIGN_OR_RETURN(auto breakdown_views, familyViews(db, "_breakdown"));
  for (const auto& [family, view] : breakdown_views) {
    NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT dimension, key, value FROM " + sqlIdentifier(view)));
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, stmt.step());
      if (!row) break;
      side->breakdowns[{family, stmt.columnText(0), stmt.columnIsNull(1) ? "-" : stmt.columnText(1)}] +=
          stmt.columnIsNull(2) ? 0 : stmt.columnDouble(2);
    }
  }
  int64_t first_ns = 0, last_ns = -1;
  const bool has_span = recordingBoottimeSpan(db, &first_ns, &last_ns);
  NT_ASSIGN_OR_RETURN(auto timeline_views, familyViews(db, "_timeline"));
  for (const auto& [family, view] : timeline_views) {
    NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT time_ns, duration_ns FROM " + sqlIdentifier(view)));
    std::vector<int64_t> times;
    std::vector<double>& durations = side->durations_ms[family];
    bool any_duration = false;
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, stmt.step());
      if (!row) break;
      times.push_back(stmt.columnInt(0));
      const int64_t d = stmt.columnIsNull(1) ? 0 : stmt.columnInt(1);
      if (d > 0) any_duration = true;
      durations.push_back(static_cast<double>(d) / 1e6);
    }
    if (!any_duration) durations.clear();
    int64_t lo = first_ns, hi = last_ns;
    if (!has_span) {
      if (times.empty()) continue;
      lo = *std::min_element(times.begin(), times.end());
      hi = *std::max_element(times.begin(), times.end());
    }
    const size_t seconds = static_cast<size_t>(std::max<int64_t>(1, (hi - lo + 999'999'999) / 1'000'000'000));
    std::vector<double>& counts = side->per_second[family];
    counts.assign(seconds, 0);
    for (int64_t t : times) {
      int64_t index = (t - lo) / 1'000'000'000;
      index = std::clamp<int64_t>(index, 0, static_cast<int64_t>(seconds) - 1);
      counts[static_cast<size_t>(index)] += 1;
    }
  }
  return Status::ok();
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

int log2Bucket(double v) {
  if (v < 1) return 0;
  int b = 1;
  while (v >= 2 && b < kHistogramBuckets) {
    v /= 2;
    ++b;
  }
  return b;
}

std::string bucketLabel(int b, bool integral) {
  if (b == 0) return integral ? "0" : "<1";
  const double low = std::ldexp(1.0, b - 1), high = std::ldexp(1.0, b);
  if (integral) return b == 1 ? "1" : formatValue(low) + "-" + formatValue(high - 1);
  return formatValue(low) + "-" + formatValue(high);
}

Status insertMeasure(Db& out, const std::string& family, const std::string& measure, std::vector<double> before,
                     std::vector<double> after, bool integral) {
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  NT_ASSIGN_OR_RETURN(Statement pct, out.prepare("INSERT INTO diff_percentile VALUES (?, ?, ?, ?, ?)"));
  auto mean = [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
  };
  const std::pair<const char*, double> stats[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}};
  auto add = [&](const char* name, double b, double a) {
    pct.bind(1, std::string_view(family));
    pct.bind(2, std::string_view(measure));
    pct.bind(3, std::string_view(name));
    pct.bind(4, b);
    pct.bind(5, a);
    return pct.run();
  };
  NT_RETURN_IF_ERROR(add("mean", mean(before), mean(after)));
  for (const auto& [name, p] : stats) NT_RETURN_IF_ERROR(add(name, percentile(before, p), percentile(after, p)));
  NT_RETURN_IF_ERROR(add("max", before.empty() ? 0 : before.back(), after.empty() ? 0 : after.back()));
  std::map<int, std::pair<int64_t, int64_t>> buckets;
  for (double v : before) buckets[log2Bucket(v)].first += 1;
  for (double v : after) buckets[log2Bucket(v)].second += 1;
  if (buckets.empty()) return Status::ok();
  NT_ASSIGN_OR_RETURN(Statement hist, out.prepare("INSERT INTO diff_histogram VALUES (?, ?, ?, ?, ?, ?)"));
  for (int b = buckets.begin()->first; b <= buckets.rbegin()->first; ++b) {
    const auto counts = buckets[b];
    hist.bind(1, std::string_view(family));
    hist.bind(2, std::string_view(measure));
    hist.bind(3, b == 0 ? 0.0 : std::ldexp(1.0, b - 1));
    hist.bind(4, std::string_view(bucketLabel(b, integral)));
    hist.bind(5, counts.first);
    hist.bind(6, counts.second);
    NT_RETURN_IF_ERROR(hist.run());
  }
  return Status::ok();
}

Status insertInput(Db& in, Db& out, const char* side, const std::string& path) {
  NT_ASSIGN_OR_RETURN(Statement stmt, out.prepare("INSERT INTO diff_input VALUES (?, ?, ?, ?, ?)"));
  stmt.bind(1, std::string_view(side));
  stmt.bind(2, std::string_view(path));
  auto host = in.prepare("SELECT value FROM meta WHERE key = 'host_name'");
  std::string host_name;
  if (host.isOk()) {
    auto row = host->step();
    if (row.isOk() && *row) host_name = host->columnText(0);
  }
  stmt.bind(3, std::string_view(host_name));
  auto span = in.prepare(
      "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'start_realtime_ns' AND "
      "CAST(value AS INTEGER) > 0), (SELECT MIN(realtime_ns) FROM clock_anchor)), "
      "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'end_realtime_ns' AND "
      "CAST(value AS INTEGER) > 0), (SELECT MAX(realtime_ns) FROM clock_anchor))");
  stmt.bindNull(4);
  stmt.bindNull(5);
  if (span.isOk()) {
    auto row = span->step();
    if (row.isOk() && *row && !span->columnIsNull(0)) {
      stmt.bind(4, span->columnInt(0));
      if (!span->columnIsNull(1))
        stmt.bind(5, static_cast<double>(span->columnInt(1) - span->columnInt(0)) / 1e9);
    }
  }
  return stmt.run();
}

}  // namespace

std::string changeStatement(const std::string& name, double before, double after) {
  return name + ": " + formatValue(before) + " \u2192 " + formatValue(after) + " (" + relativeChange(before, after) +
         ")";
}

Status buildDiff(Db& before, const std::string& before_path, Db& after, const std::string& after_path, Db& out) {
  NT_RETURN_IF_ERROR(out.exec(embeddedAsset("queries/_diff.sql")).context("diff: create tables"));
  NT_RETURN_IF_ERROR(insertInput(before, out, "before", before_path));
  NT_RETURN_IF_ERROR(insertInput(after, out, "after", after_path));
  Side b, a;
  NT_RETURN_IF_ERROR(readSide(before, &b).context("diff: read " + before_path));
  NT_RETURN_IF_ERROR(readSide(after, &a).context("diff: read " + after_path));

  // Metrics in the order the views list them (before's, then any only after has).
  std::vector<std::pair<std::string, std::string>> order;
  std::set<std::pair<std::string, std::string>> seen;
  for (const Side* side : {&b, &a}) {
    for (const std::string& key : side->metric_order) {
      const size_t nul = key.find('\0');
      std::pair<std::string, std::string> k{key.substr(0, nul), key.substr(nul + 1)};
      if (seen.insert(k).second) order.push_back(k);
    }
  }
  NT_ASSIGN_OR_RETURN(Statement metric, out.prepare("INSERT INTO diff_metric VALUES (?, ?, ?, ?, ?)"));
  for (const auto& key : order) {
    auto bi = b.metrics.find(key), ai = a.metrics.find(key);
    const double bv = bi == b.metrics.end() ? 0 : bi->second, av = ai == a.metrics.end() ? 0 : ai->second;
    metric.bind(1, std::string_view(key.first));
    metric.bind(2, std::string_view(key.second));
    if (bi == b.metrics.end()) metric.bindNull(3); else metric.bind(3, bv);
    if (ai == a.metrics.end()) metric.bindNull(4); else metric.bind(4, av);
    metric.bind(5, std::string_view(changeStatement(key.second, bv, av)));
    NT_RETURN_IF_ERROR(metric.run());
  }

  std::set<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& [k, v] : b.breakdowns) keys.insert(k);
  for (const auto& [k, v] : a.breakdowns) keys.insert(k);
  NT_ASSIGN_OR_RETURN(Statement breakdown, out.prepare("INSERT INTO diff_breakdown VALUES (?, ?, ?, ?, ?, ?, ?)"));
  for (const auto& k : keys) {
    auto bi = b.breakdowns.find(k), ai = a.breakdowns.find(k);
    const double bv = bi == b.breakdowns.end() ? 0 : bi->second, av = ai == a.breakdowns.end() ? 0 : ai->second;
    breakdown.bind(1, std::string_view(std::get<0>(k)));
    breakdown.bind(2, std::string_view(std::get<1>(k)));
    breakdown.bind(3, std::string_view(std::get<2>(k)));
    breakdown.bind(4, bv);
    breakdown.bind(5, av);
    breakdown.bind(6, av - bv);
    breakdown.bind(7, std::string_view(bv > 0 && av == 0 ? std::string("gone") : relativeChange(bv, av)));
    NT_RETURN_IF_ERROR(breakdown.run());
  }

  std::set<std::string> families;
  for (const auto& [f, v] : b.per_second) families.insert(f);
  for (const auto& [f, v] : a.per_second) families.insert(f);
  for (const std::string& f : families) {
    NT_RETURN_IF_ERROR(insertMeasure(out, f, "events/s", b.per_second[f], a.per_second[f], true));
    if (!b.durations_ms[f].empty() || !a.durations_ms[f].empty())
      NT_RETURN_IF_ERROR(insertMeasure(out, f, "duration_ms", b.durations_ms[f], a.durations_ms[f], false));
  }
  return Status::ok();
}

Status printDiff(Db& diff, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement inputs, diff.prepare("SELECT side, path, host, seconds FROM diff_input"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, inputs.step());
    if (!row) break;
    out << inputs.columnText(0) << ": " << escapeForTerminal(inputs.columnText(1)) << " ("
        << escapeForTerminal(inputs.columnText(2));
    if (!inputs.columnIsNull(3)) out << ", " << formatValue(inputs.columnDouble(3)) << " s";
    out << ")\n";
  }
  out << "\n";
  NT_ASSIGN_OR_RETURN(Statement metrics, diff.prepare("SELECT change FROM diff_metric ORDER BY rowid"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, metrics.step());
    if (!row) break;
    out << "  " << escapeForTerminal(metrics.columnText(0)) << "\n";
  }
  NT_ASSIGN_OR_RETURN(int64_t percentiles, diff.queryInt("SELECT COUNT(*) FROM diff_percentile"));
  if (percentiles > 0) {
    out << "\nPer-second events and durations (percentiles):\n";
    NT_ASSIGN_OR_RETURN(Statement stmt, diff.prepare("SELECT family, measure, statistic, before, after FROM "
                                                     "diff_percentile ORDER BY family, measure, rowid"));
    NT_RETURN_IF_ERROR(printStatementTable(stmt, out));
  }
  NT_ASSIGN_OR_RETURN(auto dimensions,
                      diff.queryTextPairs("SELECT DISTINCT family, dimension FROM diff_breakdown ORDER BY "
                                          "family, MIN(rowid) OVER (PARTITION BY family, dimension)"));
  for (const auto& [family, dimension] : dimensions) {
    out << "\nChanges by " << escapeForTerminal(dimension) << " (" << escapeForTerminal(family) << "):\n";
    NT_ASSIGN_OR_RETURN(Statement stmt, diff.prepare("SELECT key AS " + sqlIdentifier(dimension) +
                                                     ", before, after, delta, change FROM diff_breakdown WHERE "
                                                     "family = ? AND dimension = ? ORDER BY abs(delta) DESC, key"));
    stmt.bind(1, std::string_view(family));
    stmt.bind(2, std::string_view(dimension));
    NT_RETURN_IF_ERROR(printStatementTable(stmt, out));
  }
  return Status::ok();
}

Status writeDiffHtml(Db& diff, const std::string& out_path, const OutputOptions& output) {
  JsonReportBuilder report;
  std::string before_path, after_path;
  std::vector<std::pair<std::string, std::string>> facts;
  {
    NT_ASSIGN_OR_RETURN(Statement inputs, diff.prepare("SELECT side, path, host, start_realtime_ns, seconds FROM "
                                                       "diff_input"));
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, inputs.step());
      if (!row) break;
      const std::string side = inputs.columnText(0);
      (side == "before" ? before_path : after_path) = inputs.columnText(1);
      std::string text = inputs.columnText(1) + " (host " + inputs.columnText(2);
      if (!inputs.columnIsNull(3)) text += ", from " + formatUtc(inputs.columnInt(3), false);
      if (!inputs.columnIsNull(4)) text += ", " + formatValue(inputs.columnDouble(4)) + " s";
      facts.emplace_back(side == "before" ? "Before" : "After", text + ")");
    }
  }
  const std::string title = "nettrail diff: " + before_path + " \u2192 " + after_path;
  report.setDocumentInfo(title, -1, -1);
  Status findings = addFindingsSection(diff, FindingScope::kDiff, report);
  if (!findings) report.problem(findings.message());
  report.beginSection("diff", "Before and after",
                      "Each headline figure of the first recording next to the second, with the change. "
                      "Figures come from the probe families' _metric views.");
  report.facts("Inputs", facts);
  {
    NT_ASSIGN_OR_RETURN(Statement metrics, diff.prepare("SELECT name, change FROM diff_metric ORDER BY rowid"));
    std::string all;
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, metrics.step());
      if (!row) break;
      const std::string name = metrics.columnText(0), change = metrics.columnText(1);
      report.headline(name, change.substr(std::min(change.size(), name.size() + 2)));
      all += (all.empty() ? "" : "; ") + change;
    }
    if (!all.empty()) report.note(all, "info");
  }
  NT_RETURN_IF_ERROR(report.table("Headline figures", diff,
                                  "SELECT family, name, before, after, change FROM diff_metric ORDER BY rowid"));
  NT_ASSIGN_OR_RETURN(int64_t percentiles, diff.queryInt("SELECT COUNT(*) FROM diff_percentile"));
  if (percentiles > 0) {
    report.beginSection("distributions", "Distributions",
                        "Events per one-second bucket over each recording (seconds without events count as 0), "
                        "and event durations where the family records them: percentiles and log2 histograms.");
    NT_RETURN_IF_ERROR(report.table("Percentiles", diff,
                                    "SELECT family, measure, statistic, before, after FROM diff_percentile "
                                    "ORDER BY family, measure, rowid"));
    NT_ASSIGN_OR_RETURN(auto list, diff.queryTextPairs("SELECT DISTINCT family, measure FROM diff_histogram "
                                                       "ORDER BY family, measure"));
    for (const auto& [family, measure] : list) {
      const std::string sql = "SELECT bucket, before, after FROM diff_histogram WHERE family = " +
                              sqlString(family) + " AND measure = " + sqlString(measure) + " ORDER BY bucket_low";
      NT_RETURN_IF_ERROR(report.compareBar(family + ": " + measure + " histogram", diff, sql));
    }
  }
  NT_ASSIGN_OR_RETURN(auto dimensions, diff.queryTextPairs("SELECT family, dimension FROM diff_breakdown GROUP BY "
                                                            "family, dimension ORDER BY family, MIN(rowid)"));
  if (!dimensions.empty())
    report.beginSection("changes", "Changes by key",
                        "Per reason, device, location and stack (from the families' _breakdown views), largest "
                        "change first. Stacks are compared by their innermost function names.");
  for (const auto& [family, dimension] : dimensions) {
    const std::string where =
        " FROM diff_breakdown WHERE family = " + sqlString(family) + " AND dimension = " + sqlString(dimension);
    if (dimension != "stack")
      NT_RETURN_IF_ERROR(report.compareBar(family + " by " + dimension, diff,
                                           "SELECT key, before, after" + where + " ORDER BY max(before, after) DESC "
                                           "LIMIT 20"));
    NT_RETURN_IF_ERROR(report.table(family + ": changes by " + dimension, diff,
                                    "SELECT key AS " + sqlIdentifier(dimension) + ", before, after, delta, change" + where +
                                        " ORDER BY abs(delta) DESC, key",
                                    500));
  }
  std::string html;
  NT_RETURN_IF_ERROR(renderHtmlDocument(report, title, &html));
  return writeFileAtomically(out_path, html, output);
}

}  // namespace nettrail
