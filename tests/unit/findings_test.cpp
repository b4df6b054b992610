// The findings engine (analyzer/analysis/findings.h) over rules written here,
// and the rule files of analyzer/findings/ checked for what every rule must
// have: a comment, a name carrying its file's prefix, and the two tests that
// prove it (one recording that triggers it and one that must not). Those
// tests record real kernel events (tests/integration/findings_test.cpp)
// wherever this kernel can produce the pattern. Databases here are canned:
// built by hand, or ingested from the labelled synthetic recordings.
#include "analysis/findings.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "analysis/diff.h"
#include "cli.h"
#include "core/embedded_assets.h"
#include "ingest/ingest.h"
#include "report/report.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

std::unique_ptr<Db> memoryDb() {
  auto db = Db::open(":memory:");
  EXPECT_TRUE(db.isOk()) << db.status().message();
  return std::move(db.value());
}

void exec(Db& db, const std::string& sql) {
  Status status = db.exec(sql);
  ASSERT_TRUE(status.isOk()) << status.message();
}

FindingsResult evaluate(Db& db, const std::vector<std::pair<std::string, std::string>>& files) {
  auto result = evaluateFindingRules(db, files);
  EXPECT_TRUE(result.isOk()) << result.status().message();
  return result.isOk() ? std::move(result.value()) : FindingsResult{};
}

std::string problems(const FindingsResult& r) { return ::testing::PrintToString(r.problems); }

// A rule over table t(name, n): one finding per row with n >= 10.
const char* kThresholdRule =
    "-- Rows of t with n >= 10.\n"
    "CREATE TEMP VIEW finding_t_big AS\n"
    "SELECT CASE WHEN n >= 100 THEN 'critical' ELSE 'warning' END AS severity, n AS score,\n"
    "       name || ' is ' || n AS title, printf('%,d', n) AS evidence, 'shrink ' || name AS next_step,\n"
    "       printf('SELECT name, n FROM t WHERE name = %Q', name) AS evidence_sql\n"
    "FROM t WHERE n >= 10;\n";

TEST(Findings, RanksBySeverityThenScoreAndKeepsTheEvidenceRows) {
  auto db = memoryDb();
  exec(*db, "CREATE TABLE t(name TEXT, n INTEGER); INSERT INTO t VALUES ('a', 5), ('b', 50), ('c', 20), ('d', 150)");
  const std::string info_rule =
      "-- Always one note.\n"
      "CREATE TEMP VIEW finding_t_note AS SELECT 'info' AS severity, 100 AS score, 'a note' AS title, "
      "'' AS evidence, '' AS next_step, NULL AS evidence_sql;\n";
  FindingsResult r = evaluate(*db, {{"_t", kThresholdRule}, {"_u", info_rule}});
  EXPECT_TRUE(r.problems.empty()) << problems(r);
  EXPECT_EQ(r.rules, 2);
  ASSERT_EQ(r.findings.size(), 4u);
  // Critical before warning before info, whatever the score; within a severity the higher score first.
  EXPECT_EQ(r.findings[0].title, "d is 150");
  EXPECT_EQ(r.findings[0].severity, "critical");
  EXPECT_EQ(r.findings[1].title, "b is 50");
  EXPECT_EQ(r.findings[2].title, "c is 20");
  EXPECT_EQ(r.findings[3].title, "a note");
  EXPECT_EQ(r.findings[3].source, "_u");
  EXPECT_EQ(r.findings[0].rule, "t_big");
  EXPECT_EQ(r.findings[0].source, "_t");
  EXPECT_EQ(r.findings[0].evidence, "150");
  EXPECT_EQ(r.findings[0].next_step, "shrink d");
  ASSERT_EQ(r.findings[0].evidence_columns, (std::vector<std::string>{"name", "n"}));
  ASSERT_EQ(r.findings[0].evidence_rows.size(), 1u);
  EXPECT_EQ(r.findings[0].evidence_rows[0][0].text, "d");
  EXPECT_EQ(r.findings[0].evidence_rows[0][1].kind, FindingCell::Kind::kInteger);
  EXPECT_EQ(r.findings[0].evidence_rows[0][1].integer, 150);
  EXPECT_TRUE(r.findings[3].evidence_rows.empty());
}

TEST(Findings, EvidenceIsCutAtTheLimitAndCounted) {
  auto db = memoryDb();
  exec(*db, "CREATE TABLE t(n INTEGER); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 25) "
            "INSERT INTO t SELECT i FROM c");
  FindingsResult r = evaluate(*db, {{"_t", "-- x\nCREATE TEMP VIEW finding_t_all AS SELECT 'info' AS severity, "
                                          "0 AS score, 'all' AS title, '' AS evidence, '' AS next_step, "
                                          "'SELECT n FROM t ORDER BY n' AS evidence_sql;"}});
  ASSERT_EQ(r.findings.size(), 1u) << problems(r);
  EXPECT_EQ(r.findings[0].evidence_rows.size(), static_cast<size_t>(kMaxEvidenceRows));
  EXPECT_EQ(r.findings[0].evidence_total, 25);
}

TEST(Findings, BadRulesAreProblemsAndTheOthersStillRun) {
  auto db = memoryDb();
  exec(*db, "CREATE TABLE t(name TEXT, n INTEGER); INSERT INTO t VALUES ('b', 50)");
  const std::string missing_column =
      "-- No next_step column.\n"
      "CREATE TEMP VIEW finding_x_short AS SELECT 'info' AS severity, 1 AS score, 't' AS title, '' AS evidence, "
      "NULL AS evidence_sql;\n";
  const std::string bad_severity =
      "-- Severity is not one of the three.\n"
      "CREATE TEMP VIEW finding_x_loud AS SELECT 'urgent' AS severity, 1 AS score, 't' AS title, '' AS evidence, "
      "'' AS next_step, NULL AS evidence_sql;\n";
  const std::string missing_table =
      "-- Over a table this database lacks.\n"
      "CREATE TEMP VIEW finding_x_gone AS SELECT 'info' AS severity, 1 AS score, 't' AS title, '' AS evidence, "
      "'' AS next_step, NULL AS evidence_sql FROM nosuch_table;\n";
  const std::string writing_evidence =
      "-- Evidence that would write.\n"
      "CREATE TEMP VIEW finding_x_writes AS SELECT 'info' AS severity, 1 AS score, 'w' AS title, '' AS evidence, "
      "'' AS next_step, 'DELETE FROM t' AS evidence_sql;\n";
  FindingsResult r = evaluate(*db, {{"_x", missing_column + bad_severity + missing_table + writing_evidence},
                                    {"_t", kThresholdRule}});
  ASSERT_EQ(r.problems.size(), 4u) << problems(r);
  EXPECT_NE(r.problems[0].find("rule x_short (findings/_x.sql): no column next_step"), std::string::npos) << problems(r);
  EXPECT_NE(r.problems[1].find("severity 'urgent'"), std::string::npos) << problems(r);
  EXPECT_NE(r.problems[2].find("no such table: nosuch_table"), std::string::npos) << problems(r);
  EXPECT_NE(r.problems[3].find("evidence_sql must only read"), std::string::npos) << problems(r);
  // The finding whose evidence was refused stays, without rows; the table is intact.
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(r.findings[0].title, "b is 50");
  EXPECT_EQ(r.findings[1].title, "w");
  EXPECT_EQ(*db->queryInt("SELECT COUNT(*) FROM t"), 1);
}

TEST(Findings, AFamilysRulesAreSkippedWhenTheDatabaseHasNoneOfItsTables) {
  auto db = memoryDb();
  exec(*db, "CREATE TABLE t_rows(name TEXT, n INTEGER); CREATE TABLE t(name TEXT, n INTEGER); "
            "INSERT INTO t VALUES ('b', 50)");
  const std::string rule = std::string(kThresholdRule);
  FindingsResult r = evaluate(*db, {{"tun", "-- r\nCREATE TEMP VIEW finding_tun_x AS SELECT * FROM tun_queue;"},
                                    {"_t", rule}});
  EXPECT_TRUE(r.problems.empty()) << problems(r);
  EXPECT_EQ(r.skipped_files, std::vector<std::string>{"tun"});
  EXPECT_EQ(r.rules, 1);
  EXPECT_EQ(r.findings.size(), 1u);
}

TEST(Findings, RuleFilesMayOnlyCreateTempFindingViews) {
  auto db = memoryDb();
  exec(*db, "CREATE TABLE t(name TEXT, n INTEGER); INSERT INTO t VALUES ('b', 50)");
  for (const std::string& sql : {std::string("CREATE VIEW finding_x_main AS SELECT 1;"),
                                 std::string("CREATE TEMP VIEW other_name AS SELECT 1;"),
                                 std::string("DELETE FROM t;"), std::string("CREATE TEMP TABLE finding_x AS SELECT 1;")}) {
    SCOPED_TRACE(sql);
    FindingsResult r = evaluate(*db, {{"_x", sql}, {"_t", kThresholdRule}});
    ASSERT_EQ(r.problems.size(), 1u) << problems(r);
    EXPECT_EQ(r.problems[0].rfind("findings/_x.sql: ", 0), 0u) << problems(r);
    EXPECT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(*db->queryInt("SELECT COUNT(*) FROM t"), 1);
    EXPECT_EQ(*db->queryInt("SELECT COUNT(*) FROM sqlite_master WHERE type = 'view'"), 0);
  }
}

TEST(Findings, RunsTwiceOnOneConnectionAndOnReadOnlyDatabases) {
  const std::string path = testing::tempPath("findings.db");
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.isOk()) << db.status().message();
    exec(**db, "CREATE TABLE t(name TEXT, n INTEGER); INSERT INTO t VALUES ('b', 50)");
  }
  auto db = Db::open(path, /*read_only=*/true);
  ASSERT_TRUE(db.isOk()) << db.status().message();
  for (int run = 0; run < 2; ++run) {
    FindingsResult r = evaluate(**db, {{"_t", kThresholdRule}});
    EXPECT_TRUE(r.problems.empty()) << problems(r);
    EXPECT_EQ(r.findings.size(), 1u);
  }
  db->reset();
  std::remove(path.c_str());
}

TEST(Findings, DurationsReadTheSameInEveryRule) {
  EXPECT_EQ(formatFindingDuration(850), "850 ns");
  EXPECT_EQ(formatFindingDuration(12'500), "12 \u00b5s");
  EXPECT_EQ(formatFindingDuration(3'400), "3.4 \u00b5s");
  EXPECT_EQ(formatFindingDuration(3'400'000), "3.40 ms");
  EXPECT_EQ(formatFindingDuration(240'000'000), "240.0 ms");
  EXPECT_EQ(formatFindingDuration(2'500'000'000), "2.50 s");
  auto db = memoryDb();
  FindingsResult r = evaluate(*db, {{"_x", "-- d\nCREATE TEMP VIEW finding_x_d AS SELECT 'info' AS severity, 0 AS "
                                          "score, 'waited ' || nt_duration(3400000) AS title, '' AS evidence, '' "
                                          "AS next_step, NULL AS evidence_sql;"}});
  ASSERT_EQ(r.findings.size(), 1u) << problems(r);
  EXPECT_EQ(r.findings[0].title, "waited 3.40 ms");
}

// Every shipped rule runs without a problem on an ingested recording that has
// nothing to find (no events in any family), and finds nothing there.
TEST(FindingRules, EveryRuleRunsCleanlyAndIsQuietOnAnEmptyRecording) {
  const std::string path = testing::tempPath("empty.ntr");
  testing::SyntheticRecording recording;
  testing::writeSyntheticRecording(path, recording);
  auto db = memoryDb();
  Status status = ingestRecordings({path}, *db, IngestOptions{});
  ASSERT_TRUE(status.isOk()) << status.message();
  auto result = evaluateFindings(*db, FindingScope::kRecording);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_TRUE(result->problems.empty()) << problems(*result);
  EXPECT_GE(result->rules, 2);
  for (const Finding& f : result->findings) ADD_FAILURE() << f.rule << ": " << f.title;
  std::remove(path.c_str());
}

// What every rule file of analyzer/findings must hold (docs/architecture.md, "Findings").
std::vector<std::string> checkRuleFile(const std::string& stem, const std::string& text,
                                       const std::set<std::string>& test_names) {
  std::vector<std::string> problems;
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::string prefix = "finding_" + (stem[0] == '_' ? stem.substr(1) : stem) + "_";
  const std::regex create(R"(^\s*CREATE\s+(TEMP\s+)?VIEW\s+([A-Za-z0-9_]+))", std::regex::icase);
  // Suite.Test, or the path of a rig scenario's check under tests/ (rules only the QEMU rig's kernels can trigger).
  const std::regex triggered(R"(^--\s*Triggered by:\s*([A-Za-z0-9_]+\.[A-Za-z0-9_]+|tests/[A-Za-z0-9_./-]+)\s*$)");
  const std::regex quiet(R"(^--\s*Quiet in:\s*([A-Za-z0-9_]+\.[A-Za-z0-9_]+|tests/[A-Za-z0-9_./-]+)\s*$)");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(lines[i], m, create)) continue;
    const std::string name = m[2];
    const std::string where = stem + ".sql:" + std::to_string(i + 1) + ": " + name + ": ";
    if (name.rfind("_finding_", 0) == 0) {
      if (i == 0 || lines[i - 1].rfind("--", 0) != 0) problems.push_back(where + "helper without a -- comment above");
      continue;
    }
    if (name.rfind(prefix, 0) != 0) problems.push_back(where + "a rule's name starts with " + prefix);
    // The comment block right above the view.
    size_t first = i;
    while (first > 0 && lines[first - 1].rfind("--", 0) == 0) --first;
    std::string trigger_test, quiet_test;
    int prose = 0;
    for (size_t j = first; j < i; ++j) {
      std::smatch t;
      if (std::regex_match(lines[j], t, triggered)) trigger_test = t[1];
      else if (std::regex_match(lines[j], t, quiet)) quiet_test = t[1];
      else ++prose;
    }
    if (prose == 0) problems.push_back(where + "no comment saying what the rule finds");
    if (trigger_test.empty()) problems.push_back(where + "no '-- Triggered by: Suite.Test' line");
    if (quiet_test.empty()) problems.push_back(where + "no '-- Quiet in: Suite.Test' line");
    for (const std::string& test : {trigger_test, quiet_test}) {
      if (test.empty()) continue;
      const bool exists = test.rfind("tests/", 0) == 0
                              ? std::filesystem::is_regular_file(std::filesystem::path(NT_SOURCE_DIR) / test)
                              : test_names.count(test) > 0;
      if (!exists) problems.push_back(where + "names test " + test + ", which does not exist");
    }
  }
  return problems;
}

// Suite.Name of every TEST/TEST_F under tests/.
std::set<std::string> testNames() {
  std::set<std::string> names;
  const std::regex test(R"(\bTEST(_F)?\(\s*([A-Za-z0-9_]+)\s*,\s*([A-Za-z0-9_]+)\s*\))");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::filesystem::path(NT_SOURCE_DIR) / "tests")) {
    if (entry.path().extension() != ".cpp") continue;
    const std::string text = testing::readFile(entry.path().string());
    for (std::sregex_iterator it(text.begin(), text.end(), test), end; it != end; ++it)
      names.insert((*it)[2].str() + "." + (*it)[3].str());
  }
  return names;
}

TEST(FindingRules, EveryRuleSaysWhatItFindsAndNamesTheTestsThatTriggerItAndNot) {
  const std::set<std::string> names = testNames();
  ASSERT_TRUE(names.count("FindingRules.EveryRuleSaysWhatItFindsAndNamesTheTestsThatTriggerItAndNot"));
  int files = 0;
  for (FindingScope scope : {FindingScope::kRecording, FindingScope::kDiff}) {
    for (const std::string& stem : findingRuleFiles(scope)) {
      ++files;
      for (const std::string& problem : checkRuleFile(stem, std::string(embeddedAsset("findings/" + stem + ".sql")), names))
        ADD_FAILURE() << "analyzer/findings/" << problem;
    }
  }
  EXPECT_GE(files, 2);
  // Every file of the source directory is embedded (CMake globs it).
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(NT_SOURCE_DIR) / "analyzer" / "findings"))
    if (entry.path().extension() == ".sql") --files;
  EXPECT_EQ(files, 0) << "analyzer/findings/*.sql and the embedded rule files differ: re-run cmake";
}

TEST(FindingRules, TheCheckFindsRulesWithoutTheirTests) {
  const std::string bad =
      "-- Finds x.\n"
      "-- Triggered by: A.B\n"
      "CREATE TEMP VIEW finding_drop_x AS SELECT 1;\n"
      "CREATE TEMP VIEW finding_other_y AS SELECT 1;\n";
  const std::vector<std::string> p = checkRuleFile("drop", bad, {"A.B"});
  ASSERT_EQ(p.size(), 5u) << ::testing::PrintToString(p);
  EXPECT_NE(p[0].find("no '-- Quiet in"), std::string::npos);
  EXPECT_NE(p[1].find("starts with finding_drop_"), std::string::npos);
  EXPECT_NE(p[2].find("no comment"), std::string::npos);
  EXPECT_EQ(checkRuleFile("drop", "-- Finds x.\n-- Triggered by: A.B\n-- Quiet in: A.C\nCREATE TEMP VIEW finding_drop_x AS "
                                  "SELECT 1;\n", {"A.B"}).size(), 1u);
  // A rig scenario's check counts when the file exists.
  EXPECT_EQ(checkRuleFile("drop", "-- Finds x.\n-- Triggered by: tests/vm/run.sh\n-- Quiet in: tests/vm/nosuch.sh\n"
                                  "CREATE TEMP VIEW finding_drop_x AS SELECT 1;\n", {}).size(), 1u);
}

// `nettrail triage` over a synthetic recording (labelled canned data: 12
// drops of one cause on an interface with a hostile name): the finding in the
// terminal with every recorded string escaped, and the same as JSON.
TEST(TriageCli, PrintsRankedFindingsWithRecordedTextEscaped) {
  const std::string path = testing::tempPath("triage.ntr");
  testing::SyntheticRecording rec;
  for (int i = 0; i < 12; ++i)
    rec.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull, .location = 0xffffffff81001234ull});
  rec.ifname = "\x1b[31meth0";
  testing::writeSyntheticRecording(path, rec);
  std::ostringstream out, err;
  CliContext cli{out, err, false};
  EXPECT_EQ(runCli({"triage", path}, cli), kExitOk) << err.str();
  const std::string text = out.str();
  EXPECT_NE(text.find("1 finding from "), std::string::npos) << text;
  EXPECT_NE(text.find("1. CRITICAL  100% of drops are NO_SOCKET at tcp_v4_rcv on \\x1b[31meth0"), std::string::npos)
      << text;
  EXPECT_NE(text.find("evidence: 12 of 12 drops"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "raw escape byte in the terminal output";
  std::ostringstream json_out, json_err;
  CliContext json_cli{json_out, json_err, false};
  EXPECT_EQ(runCli({"triage", "--json", path}, json_cli), kExitOk) << json_err.str();
  EXPECT_NE(json_out.str().find("\"rule\":\"drop_concentrated\""), std::string::npos) << json_out.str();
  EXPECT_NE(json_out.str().find("\"device\""), std::string::npos) << json_out.str();
  // No file: a usage error; one missing file among others: the others are still triaged, exit 1.
  std::ostringstream o2, e2;
  CliContext c2{o2, e2, false};
  EXPECT_EQ(runCli({"triage"}, c2), kExitUsage);
  EXPECT_EQ(runCli({"triage", "/nonexistent/x.ntr", path}, c2), kExitError);
  EXPECT_NE(o2.str().find("NO_SOCKET"), std::string::npos) << o2.str();
  EXPECT_NE(e2.str().find("/nonexistent/x.ntr"), std::string::npos) << e2.str();
  std::remove(path.c_str());
}

// The JSON data block of a report page.
std::string reportData(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"nt-data\">";
  const size_t at = html.find(open);
  if (at == std::string::npos) return "";
  const size_t end = html.find("</script>", at);
  return html.substr(at + open.size(), end - at - open.size());
}

std::unique_ptr<Db> ingestSynthetic(const testing::SyntheticRecording& rec, const std::string& stem) {
  const std::string path = testing::tempPath(stem);
  testing::writeSyntheticRecording(path, rec);
  auto db = memoryDb();
  Status status = ingestRecordings({path}, *db, IngestOptions{});
  EXPECT_TRUE(status.isOk()) << status.message();
  std::remove(path.c_str());
  return db;
}

// The first section of the report is the findings list, before the
// recording's facts; the headline strip counts them (canned recording).
TEST(FindingsReport, FindingsAreTheFirstSectionOfTheReportAndOfTheDiff) {
  testing::SyntheticRecording rec;
  for (int i = 0; i < 12; ++i) rec.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull});
  auto db = ingestSynthetic(rec, "report.ntr");
  std::string html;
  Status status = renderHtmlReport(*db, &html);
  ASSERT_TRUE(status.isOk()) << status.message();
  const std::string data = reportData(html);
  const size_t findings = data.find("\"sections\":[{\"id\":\"findings\"");
  ASSERT_NE(findings, std::string::npos) << data.substr(0, 2000);
  EXPECT_LT(findings, data.find("\"id\":\"recording\""));
  EXPECT_NE(data.find("{\"kind\":\"findings\",\"rules\":"), std::string::npos);
  EXPECT_NE(data.find("\"rule\":\"drop_concentrated\",\"severity\":\"critical\",\"title\":\"100% of drops are "
                      "NO_SOCKET"),
            std::string::npos)
      << data.substr(0, 3000);
  EXPECT_NE(data.find("{\"label\":\"Findings\",\"value\":\"1 critical\"}"), std::string::npos);
  EXPECT_NE(std::string(embeddedAsset("reports/report.js")).find("findings: renderFindings"), std::string::npos);

  // The diff report too: the second recording has 12 drops more of a new reason.
  testing::SyntheticRecording more = rec;
  for (int i = 0; i < 12; ++i) more.drops.push_back({.time_ns = 2'100'000'000ull + i * 1000ull, .reason = 6});
  auto after = ingestSynthetic(more, "after.ntr");
  auto diff = memoryDb();
  ASSERT_TRUE(buildDiff(*db, "before.ntr", *after, "after.ntr", *diff).isOk());
  const std::string out = testing::tempPath("diff.html");
  status = writeDiffHtml(*diff, out);
  ASSERT_TRUE(status.isOk()) << status.message();
  const std::string diff_data = reportData(testing::readFile(out));
  std::remove(out.c_str());
  EXPECT_NE(diff_data.find("\"sections\":[{\"id\":\"findings\""), std::string::npos) << diff_data.substr(0, 2000);
  EXPECT_NE(diff_data.find("New in the second recording: drop reason NETFILTER_DROP (12)"), std::string::npos)
      << diff_data.substr(0, 3000);
}

}  // namespace
}  // namespace nettrail
