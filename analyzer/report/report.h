#pragma once
// The self-contained HTML report (`nettrail report`): one file with the CSS,
// ECharts, the data as JSON, and reports/report.js inlined, so it opens from
// file:// with no network and can be attached to a ticket.
//
// report.cpp writes the core sections (recording facts, data loss, probes)
// from the core tables of analyzer/queries/_core.sql; each probe family then
// adds its sections through the generic ReportBuilder widgets. The widgets run
// SQL and turn the rows into JSON; report.js draws each widget kind.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/findings.h"
#include "core/clock_map.h"
#include "core/db.h"
#include "core/json.h"
#include "ingest/family.h"
#include "nettrail/output_file.h"
#include "nettrail/status.h"
#include "report/report_builder.h"

namespace nettrail {

// Collects widgets as JSON. Widget calls that fail (a bad query) leave an error
// widget in the report, so the reader sees the section is incomplete, and return
// the Status to the caller too.
class JsonReportBuilder : public ReportBuilder {
 public:
  void beginSection(const std::string& id, const std::string& title, const std::string& intro) override;
  Status table(const std::string& title, Db& db, const std::string& sql, int max_rows = 200) override;
  Status bar(const std::string& title, Db& db, const std::string& sql) override;
  Status timeSeries(const std::string& title, Db& db, const std::string& sql, bool stacked) override;
  Status stacks(const std::string& title, Db& db, const std::string& sql, int max_stacks = 20) override;
  Status flame(const std::string& title, Db& db, const std::string& sql, const std::string& unit) override;
  void headline(const std::string& label, const std::string& value) override;

  // Bars of several series side by side: first column labels, each further
  // column one series named by its column (e.g. label, before, after).
  Status compareBar(const std::string& title, Db& db, const std::string& sql);

  // Core widgets, used by report.cpp only.
  // A definition list of facts (label, value).
  void facts(const std::string& title, const std::vector<std::pair<std::string, std::string>>& items);
  // A short paragraph; `tone` is "info", "ok", "warn" or "error".
  void note(const std::string& text, const std::string& tone);
  // The data-loss panel from loss_summary: red with the rows, or an explicit
  // "no data loss recorded".
  Status lossPanel(Db& db);
  // Records a problem met while building the report; shown on the first screen.
  void problem(const std::string& message);
  // The ranked findings (analysis/findings.h) as one widget, plus a "Findings"
  // headline; rules that could not run become problems. Every report puts it
  // first (addFindingsSection).
  void findings(const FindingsResult& result);

  // Sets the page-level facts that go into the JSON document.
  void setDocumentInfo(const std::string& title, int64_t start_ms, int64_t end_ms);
  // The whole document: {"format":1,"title":...,"headlines":[...],"sections":[...],"problems":[...]}.
  std::string toJson() const;
  size_t problemCount() const { return problems_.size(); }

 private:
  struct Section {
    std::string id;
    std::string title;
    std::string intro;
    std::vector<std::string> widgets;  // serialized JSON objects
  };
  Section& currentSection();
  void addWidget(std::string json) { currentSection().widgets.push_back(std::move(json)); }
  Status failed(const std::string& kind, const std::string& title, const Status& status);
  Status loadClockAnchors(Db& db);
  // CLOCK_BOOTTIME ns -> ms since the Unix epoch through the closest earlier anchor.
  double toWallMs(int64_t boottime_ns) const;

  std::vector<Section> sections_;
  std::vector<std::pair<std::string, std::string>> headlines_;
  std::vector<std::string> problems_;
  ClockMap clock_;
  bool anchors_loaded_ = false;
  std::string title_;
  int64_t start_ms_ = -1;
  int64_t end_ms_ = -1;
};

// Appends one SQLite column value as JSON: integers beyond 2^53 become strings
// (kernel addresses would lose digits as JavaScript numbers), blobs become hex.
void appendSqlValue(JsonWriter& out, const Statement& stmt, int column);

// `text` escaped for HTML text and attribute values, invalid UTF-8 replaced.
std::string htmlEscape(std::string_view text);

// Something that adds sections to the report: a probe family, or a test.
struct ReportSectionSource {
  std::string name;  // family name, used in problem messages
  std::function<Status(Db&, ReportBuilder&)> add_sections;
};

// One source per family, in registry order, calling its importer's
// addReportSections().
std::vector<ReportSectionSource> familyReportSources(const std::vector<FamilyEntry>& families);

// Runs the rules of `scope` over `db` and adds the "Findings" section: the
// first screen of every report (recording and diff).
Status addFindingsSection(Db& db, FindingScope scope, JsonReportBuilder& report);

// Builds the report: findings, core sections, then each source's sections in order.
Status renderHtmlReport(Db& db, const std::vector<ReportSectionSource>& sources, std::string* html);
// The Content-Security-Policy of a page whose inline scripts and styles are
// those of `html`: no network, and only those elements, by SHA-256.
Result<std::string> contentSecurityPolicy(std::string_view html);
// The HTML page for an already built document (the report, or the diff report),
// with that policy for its own inline elements.
Status renderHtmlDocument(const JsonReportBuilder& report, const std::string& title, std::string* html);
// Writes it to `out_path` as an OutputFile (nettrail/output_file.h): the name
// appears with the whole report or not at all, never through a link.
Status writeHtmlReport(Db& db, const std::vector<ReportSectionSource>& sources, const std::string& out_path,
                       const OutputOptions& output = {});

// The report with the sections of every family of families.def.
inline Status renderHtmlReport(Db& db, std::string* html) {
  return renderHtmlReport(db, familyReportSources(buildFamilyRegistry()), html);
}
inline Status writeHtmlReport(Db& db, const std::string& out_path, const OutputOptions& output = {}) {
  return writeHtmlReport(db, familyReportSources(buildFamilyRegistry()), out_path, output);
}

}  // namespace nettrail
