// Tests of the HTML report over databases built here by hand. All rows are
// synthetic (host "synthetic-report-test"); the drop family's own sections are
// tested with its importer.
#include "report/report.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/embedded_assets.h"
#include "core/json.h"
#include "nettrail/counters.h"

namespace nettrail {
namespace json_test {
// tests/unit/json_test.cpp: strict RFC 8259 parser that collects decoded strings.
bool parseJson(std::string_view json, std::vector<std::string>* strings);
}  // namespace json_test

namespace {

const std::string kHostileProcess = "<svg onload=x>";
const std::string kHostileInterface = "</script><script>alert(1)</script>";
const std::string kHostileComm = "\x1b[31m\xff";
constexpr int64_t kStartBoottimeNs = 1'000'000'000;
constexpr int64_t kStartRealtimeNs = 1'700'000'000'000'000'000;

std::unique_ptr<Db> makeDb() {
  auto db = Db::open(":memory:");
  EXPECT_TRUE(db.isOk()) << db.status().message();
  Status status = (*db)->exec(embeddedAsset("queries/_core.sql"));
  EXPECT_TRUE(status.isOk()) << status.message();
  return std::move(db.value());
}

// Runs `sql` once with text parameters bound in order.
void insert(Db& db, const std::string& sql, const std::vector<std::string>& values) {
  auto stmt = db.prepare(sql);
  ASSERT_TRUE(stmt.isOk()) << stmt.status().message();
  for (size_t i = 0; i < values.size(); ++i) stmt->bind(static_cast<int>(i + 1), std::string_view(values[i]));
  Status status = stmt->run();
  ASSERT_TRUE(status.isOk()) << status.message();
}

void exec(Db& db, const std::string& sql) {
  Status status = db.exec(sql);
  ASSERT_TRUE(status.isOk()) << status.message();
}

// Core facts of a small synthetic recording: one host, a 30 s run, the drop
// family attached through tp_btf, and three threads/interfaces.
void fillCore(Db& db, const std::string& host = "synthetic-report-test") {
  insert(db, "INSERT INTO meta VALUES ('host_name', ?)", {host});
  exec(db,
       "INSERT INTO meta VALUES ('kernel_release', '6.1.0-synthetic'), ('kernel_version', '#1 SMP'), "
       "('machine', 'x86_64'), ('boot_id', '3f1c2d4e-0000-4000-8000-000000000001'), ('cpu_count', '8'), "
       "('command_line', 'nettrail-record --families drop --duration 30s -o host.ntr'), "
       "('recorder_version', '0.1.0'), ('start_realtime_ns', '1700000000000000000');"
       "INSERT INTO clock_anchor VALUES (1000000000, 1700000000000000000, 990000000), "
       "(31000000000, 1700000030000000000, 30990000000);"
       "INSERT INTO recording_file VALUES ('host.ntr', 0, 123456, 123456, 12, 1, 0, 0);"
       "INSERT INTO attachment VALUES ('drop', 'kfree_skb', 'tp_btf', 'kfree_skb', 1, NULL), "
       "('drop', 'kfree_skb', 'raw_tp', 'kfree_skb', 0, 'not needed: tp_btf attached');"
       "INSERT INTO probe_option VALUES ('drop', 'mode', 'details'), ('drop', 'interval_ms', '1000');"
       "INSERT INTO interface VALUES (4026531840, 1, 'lo'), (4026531840, 2, 'eth0');"
       "INSERT INTO process VALUES (1, 1, 'systemd'), (0, 0, 'swapper/0');"
       "INSERT INTO stack VALUES (1, 1, 5, 'tcp_v4_rcv+0x1a3');"
       "INSERT INTO stack_frame VALUES (1, 0, 1, 'bpf_trace_run2', 16, '', 1), "
       "(1, 1, 2, 'kfree_skb_reason', 32, '', 0), (1, 2, 3, 'tcp_v4_rcv', 419, '', 0), "
       "(1, 3, 4, NULL, 0, '', 0), (1, 4, 5, 'br_handle_frame', 8, 'bridge', 0);");
  insert(db, "INSERT INTO interface VALUES (4026531840, 3, ?)", {kHostileInterface});
  insert(db, "INSERT INTO process VALUES (100, 100, ?)", {kHostileProcess});
  insert(db, "INSERT INTO process VALUES (101, 100, ?)", {kHostileComm});
}

// Extra sections as a probe family would add them, over the core tables.
Status addHostileSections(Db& db, ReportBuilder& report) {
  report.beginSection("threads", "Threads and interfaces " + kHostileProcess, kHostileInterface);
  report.headline(kHostileProcess, kHostileComm);
  NT_RETURN_IF_ERROR(report.table("Threads", db, "SELECT tid, pid, comm FROM process ORDER BY tid"));
  NT_RETURN_IF_ERROR(report.table("Interfaces", db, "SELECT netns, ifindex, name FROM interface ORDER BY ifindex"));
  NT_RETURN_IF_ERROR(report.bar("Names", db, "SELECT comm, tid FROM process ORDER BY tid"));
  NT_RETURN_IF_ERROR(report.timeSeries("Over time", db,
                                       "SELECT 2000000000, name, ifindex FROM interface", false));
  NT_RETURN_IF_ERROR(report.stacks("Stacks", db, "SELECT 7, 1, (SELECT name FROM interface WHERE ifindex = 3)"));
  return Status::ok();
}

std::string render(Db& db, const std::vector<ReportSectionSource>& sources) {
  std::string html;
  Status status = renderHtmlReport(db, sources, &html);
  EXPECT_TRUE(status.isOk()) << status.message();
  return html;
}

const std::string kDataOpen = "<script type=\"application/json\" id=\"nt-data\">";

std::string dataBlock(const std::string& html) {
  size_t open = html.find(kDataOpen);
  if (open == std::string::npos) return "";
  open += kDataOpen.size();
  size_t close = html.find("</script>", open);
  if (close == std::string::npos) return "";
  return html.substr(open, close - open);
}

size_t countOf(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

bool contains(const std::vector<std::string>& strings, const std::string& s) {
  return std::find(strings.begin(), strings.end(), s) != strings.end();
}

JsonReportBuilder builderWithTable(Db& db, const std::string& sql, Status* status) {
  JsonReportBuilder builder;
  builder.beginSection("s", "S", "");
  *status = builder.table("T", db, sql);
  return builder;
}

TEST(Report, IsOneFileWithEChartsInlineAndNoNetworkReferences) {
  auto db = makeDb();
  fillCore(*db);
  const std::string html = render(*db, {});
  const std::string_view echarts = embeddedAsset("reports/vendor/echarts.min.js");
  EXPECT_NE(html.find(echarts), std::string::npos) << "ECharts must be inlined whole";
  EXPECT_NE(html.find(embeddedAsset("reports/report.js")), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(embeddedAsset("reports/report.css").find("url("), std::string_view::npos);
  EXPECT_EQ(embeddedAsset("reports/report.html").find("url("), std::string_view::npos);
  EXPECT_EQ(html.find("{{"), std::string::npos) << "unfilled template placeholder";
  // Every URL is either in a /* ... */ license comment of ECharts or an XML
  // namespace name, which browsers never fetch.
  for (const std::string scheme : {"http://", "https://"}) {
    for (size_t pos = html.find(scheme); pos != std::string::npos; pos = html.find(scheme, pos + 1)) {
      if (html.compare(pos, 18, "http://www.w3.org/") == 0) continue;
      size_t comment_open = html.rfind("/*", pos);
      size_t comment_close = html.rfind("*/", pos);
      bool in_comment = comment_open != std::string::npos &&
                        (comment_close == std::string::npos || comment_close < comment_open);
      bool in_echarts = html.find(echarts) <= pos && pos < html.find(echarts) + echarts.size();
      EXPECT_TRUE(in_comment && in_echarts) << "network reference at " << pos << ": " << html.substr(pos, 60);
    }
  }
  // Exactly the three script elements of the template.
  EXPECT_EQ(countOf(html, "<script"), 3u);
  EXPECT_EQ(countOf(html, "</script"), 3u);
}

// The policy names each element by its hash: sha256("abc") is the FIPS 180-2
// example, ba7816bf...15ad, in base64; sha256("x") as Python's hashlib gives it.
TEST(Report, ContentSecurityPolicyHashesExactlyTheInlineScriptsAndStyles) {
  auto policy = contentSecurityPolicy(
      "<style>abc</style><SCRIPT>abc</SCRIPT><script type=\"application/json\" id=d>{\"a\": 1}</script>"
      "<script type=\"text/javascript\">x</script><scripty>not an element</scripty>");
  ASSERT_TRUE(policy.isOk()) << policy.status().message();
  const std::string abc = "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='";
  EXPECT_EQ(*policy, "default-src 'none'; script-src " + abc + " 'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"
                     "; style-src " + abc + "; img-src data: blob:; object-src 'none'; base-uri 'none'; "
                     "form-action 'none'");
  EXPECT_FALSE(contentSecurityPolicy("<script src=\"https://example.com/x.js\"></script>").isOk());
  EXPECT_FALSE(contentSecurityPolicy("<script>never closed").isOk());
  auto none = contentSecurityPolicy("<p>no scripts</p>");
  ASSERT_TRUE(none.isOk());
  EXPECT_NE(none->find("script-src 'none'; style-src 'none'"), std::string::npos) << *none;
}

TEST(Report, DeclaresAPolicyWithoutUnsafeInlineForItsOwnElements) {
  auto db = makeDb();
  fillCore(*db);
  const std::string html = render(*db, {});
  const std::string meta = "<meta http-equiv=\"Content-Security-Policy\" content=\"";
  const size_t at = html.find(meta);
  ASSERT_NE(at, std::string::npos);
  const std::string policy = html.substr(at + meta.size(), html.find('"', at + meta.size()) - at - meta.size());
  EXPECT_LT(at, html.find("<style")) << "the policy must precede every element it governs";
  EXPECT_EQ(policy.rfind("default-src 'none'; script-src 'sha256-", 0), 0u) << policy;
  EXPECT_EQ(policy.find("unsafe"), std::string::npos) << policy;
  EXPECT_EQ(countOf(policy, "'sha256-"), 3u) << policy;  // ECharts, report.js, report.css; not the JSON data
  auto again = contentSecurityPolicy(html.substr(html.find("<style")));
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*again, policy);
}

TEST(Report, HostileNamesAppearOnlyEscaped) {
  auto db = makeDb();
  fillCore(*db, "host<b>&\"x\"\xff");
  const std::string html = render(*db, {{"hostile", addHostileSections}});
  for (const std::string& raw : {kHostileProcess, kHostileInterface, std::string("\x1b"), std::string("\xff"),
                                 std::string("<b>")}) {
    EXPECT_EQ(html.find(raw), std::string::npos) << "raw text in the HTML: " << raw;
  }
  EXPECT_EQ(countOf(html, "</script"), 3u);
  EXPECT_EQ(countOf(html, "<svg"), countOf(std::string(embeddedAsset("reports/vendor/echarts.min.js")), "<svg"));
  // The page title is HTML-escaped text.
  EXPECT_NE(html.find("<title>nettrail: host&lt;b&gt;&amp;&quot;x&quot;\xef\xbf\xbd, 2023-11-14 22:13:20 UTC"),
            std::string::npos);

  // The data parses as strict JSON and gives the script the original text back.
  std::vector<std::string> strings;
  const std::string data = dataBlock(html);
  ASSERT_FALSE(data.empty());
  ASSERT_TRUE(json_test::parseJson(data, &strings));
  EXPECT_TRUE(contains(strings, kHostileProcess));
  EXPECT_TRUE(contains(strings, kHostileInterface));
  EXPECT_TRUE(contains(strings, "\x1b[31m\xef\xbf\xbd"));
  EXPECT_TRUE(contains(strings, "Threads and interfaces " + kHostileProcess));
  // report.js never parses data as markup.
  const std::string_view script = embeddedAsset("reports/report.js");
  EXPECT_EQ(script.find("innerHTML"), std::string_view::npos);
  EXPECT_EQ(script.find("insertAdjacentHTML"), std::string_view::npos);
  EXPECT_EQ(script.find("document.write"), std::string_view::npos);
}

TEST(Report, FirstScreenHasRecordingFactsAndSaysNoDataLoss) {
  auto db = makeDb();
  fillCore(*db);
  const std::string html = render(*db, {});
  EXPECT_NE(html.find("<title>nettrail: synthetic-report-test, 2023-11-14 22:13:20 UTC to 2023-11-14 22:13:50 UTC</title>"),
            std::string::npos);
  std::vector<std::string> strings;
  ASSERT_TRUE(json_test::parseJson(dataBlock(html), &strings));
  for (const char* s : {"Host", "Kernel", "6.1.0-synthetic #1 SMP (x86_64)", "3f1c2d4e-0000-4000-8000-000000000001",
                        "8", "nettrail-record --families drop --duration 30s -o host.ntr",
                        "2023-11-14 22:13:20 UTC", "2023-11-14 22:13:50 UTC", "30.0 s", "tp_btf",
                        "not needed: tp_btf attached", "interval_ms", "recorder_version"}) {
    EXPECT_TRUE(contains(strings, s)) << s;
  }
  EXPECT_NE(dataBlock(html).find("\"kind\":\"loss\",\"lost\":false"), std::string::npos);
  EXPECT_TRUE(contains(strings, "No data loss recorded: no events lost in the kernel, no unreadable frames."));
  EXPECT_NE(dataBlock(html).find("{\"label\":\"Data loss\",\"value\":\"none\"}"), std::string::npos);
  // The first section is the recording, then data loss.
  EXPECT_LT(dataBlock(html).find("\"id\":\"recording\""), dataBlock(html).find("\"id\":\"data-loss\""));
}

TEST(Report, DataLossIsProminentWhenPresent) {
  auto db = makeDb();
  fillCore(*db);
  // The counter rows in the shape the recorder writes them: per-CPU rows and
  // their total (cpu -1); the report must count 42, not 84.
  std::vector<CounterRow> rows;
  const uint64_t reserve_failed[4] = {40, 0, 0, 2};
  appendPerCpuCounter("drop", "ring_reserve_failed", true, reserve_failed, 4, &rows);
  rows.push_back({"drop", "details_recorded", -1, 5000, false});
  ASSERT_EQ(lostTotal(rows), 42u);
  for (const CounterRow& row : rows)
    exec(*db, "INSERT INTO counter VALUES (" + sqlString(row.family) + ", " + sqlString(row.name) + ", " +
                  std::to_string(row.cpu) + ", " + std::to_string(row.value) + ", " + (row.data_loss ? "1" : "0") + ")");
  exec(*db, "INSERT INTO stats VALUES ('data_loss', 'reader', 'truncated_tail', 812, 'file ends inside a frame');");
  const std::string data = dataBlock(render(*db, {}));
  EXPECT_NE(data.find("\"kind\":\"loss\",\"lost\":true"), std::string::npos);
  EXPECT_NE(data.find("[\"recorder\",\"drop\",\"ring_reserve_failed\",42,null]"), std::string::npos) << data;
  EXPECT_NE(data.find("[\"ingest\",\"reader\",\"truncated_tail\",812,\"file ends inside a frame\"]"),
            std::string::npos);
  EXPECT_NE(data.find("{\"label\":\"Data loss\",\"value\":\"2 problems\"}"), std::string::npos);
}

TEST(ReportBuilder, EmptyTableIsRowsNotAFailure) {
  auto db = makeDb();
  Status status;
  JsonReportBuilder builder = builderWithTable(*db, "SELECT tid, comm FROM process", &status);
  ASSERT_TRUE(status.isOk()) << status.message();
  const std::string json = builder.toJson();
  EXPECT_NE(json.find("{\"kind\":\"table\",\"title\":\"T\",\"columns\":[\"tid\",\"comm\"],\"rows\":[],\"total\":0,"
                      "\"truncated\":false}"),
            std::string::npos)
      << json;
  // Every empty widget kind renders and the script has a "no rows" note for them.
  EXPECT_TRUE(builder.bar("B", *db, "SELECT comm, tid FROM process").isOk());
  EXPECT_TRUE(builder.timeSeries("TS", *db, "SELECT 1, comm, tid FROM process", true).isOk());
  EXPECT_TRUE(builder.stacks("S", *db, "SELECT 1, tid, comm FROM process").isOk());
  EXPECT_TRUE(json_test::parseJson(builder.toJson(), nullptr));
  EXPECT_NE(embeddedAsset("reports/report.js").find("'no rows'"), std::string_view::npos);
  // And a whole report over an empty database still renders.
  std::string html;
  Status rendered = renderHtmlReport(*db, {}, &html);
  EXPECT_TRUE(rendered.isOk()) << rendered.message();
  EXPECT_NE(html.find("<title>nettrail: unknown host, unknown time</title>"), std::string::npos);
}

TEST(ReportBuilder, TableTruncatesAndKeepsLargeIntegersExact) {
  auto db = makeDb();
  exec(*db, "INSERT INTO kernel_symbol VALUES (-2130706176, 0, 'a', ''), (9007199254740993, 0, 'b', ''), "
            "(3, 0, 'c', ''), (4, 0, 'd', '');");
  JsonReportBuilder builder;
  ASSERT_TRUE(builder.table("T", *db, "SELECT address, 1.5, NULL, x'00ff' FROM kernel_symbol ORDER BY rowid", 2).isOk());
  const std::string json = builder.toJson();
  EXPECT_NE(json.find("\"rows\":[[-2130706176,1.5,null,\"x'00ff'\"],[\"9007199254740993\",1.5,null,\"x'00ff'\"]],"
                      "\"total\":4,\"truncated\":true"),
            std::string::npos)
      << json;
}

TEST(ReportBuilder, TimeSeriesUsesWallClockFromAnchors) {
  auto db = makeDb();
  exec(*db, "INSERT INTO clock_anchor VALUES (1000000000, 1700000000000000000, 0), "
            "(11000000000, 1700000010500000000, 0);");  // the realtime clock stepped 0.5 s
  JsonReportBuilder builder;
  ASSERT_TRUE(builder.timeSeries("TS", *db,
                                 "SELECT 2000000000, 'a', 1 UNION ALL SELECT 12000000000, 'a', 2 "
                                 "UNION ALL SELECT 500000000, 'b', 3",
                                 true)
                  .isOk());
  const std::string json = builder.toJson();
  EXPECT_NE(json.find("\"stacked\":true,\"clock\":\"wall\""), std::string::npos) << json;
  EXPECT_NE(json.find("{\"name\":\"a\",\"points\":[[1700000001000,1],[1700000011500,2]]}"), std::string::npos) << json;
  EXPECT_NE(json.find("{\"name\":\"b\",\"points\":[[1699999999500,3]]}"), std::string::npos) << json;
}

TEST(ReportBuilder, StacksListFramesWithoutTracingMachinery) {
  auto db = makeDb();
  fillCore(*db);
  JsonReportBuilder builder;
  ASSERT_TRUE(builder.stacks("S", *db, "SELECT 12, 1, 'NO_SOCKET' UNION ALL SELECT 3, NULL, 'no stack'").isOk());
  const std::string json = builder.toJson();
  EXPECT_NE(json.find("{\"count\":12,\"label\":\"NO_SOCKET\",\"frames\":[\"kfree_skb_reason+0x20\","
                      "\"tcp_v4_rcv+0x1a3\",\"0x4\",\"br_handle_frame+0x8 [bridge]\"],\"depth\":4}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("{\"count\":3,\"label\":\"no stack\",\"frames\":[],\"depth\":0}"), std::string::npos);
}

TEST(ReportBuilder, FlameMergesPathsOutermostFirstWithoutTracingFrames) {
  auto db = makeDb();
  fillCore(*db);
  JsonReportBuilder builder;
  // Two rows of label "a" with stack 1 merge; "b" has no stack; a zero and a
  // NULL value add nothing; the second stack column continues the path.
  ASSERT_TRUE(builder
                  .flame("F", *db,
                         "SELECT 3, 'a', 1, NULL UNION ALL SELECT 2, 'a', 1, NULL UNION ALL SELECT 4, 'b', NULL, NULL "
                         "UNION ALL SELECT 0, 'c', 1, NULL UNION ALL SELECT NULL, 'd', 1, NULL "
                         "UNION ALL SELECT 1, 'b', NULL, 1",
                         "ms")
                  .isOk());
  const std::string json = builder.toJson();
  const std::string chain =
      "{\"n\":\"br_handle_frame [bridge]\",\"v\":%V,\"c\":[{\"n\":\"0x4\",\"v\":%V,\"c\":[{\"n\":\"tcp_v4_rcv\","
      "\"v\":%V,\"c\":[{\"n\":\"kfree_skb_reason\",\"v\":%V}]}]}]}";
  auto withValue = [&](const std::string& v) {
    std::string out = chain;
    for (size_t at; (at = out.find("%V")) != std::string::npos;) out.replace(at, 2, v);
    return out;
  };
  EXPECT_NE(json.find("{\"kind\":\"flame\",\"title\":\"F\",\"unit\":\"ms\",\"root\":{\"n\":\"all\",\"v\":10,\"c\":["
                      "{\"n\":\"a\",\"v\":5,\"c\":[" +
                      withValue("5") + "]},{\"n\":\"b\",\"v\":5,\"c\":[" + withValue("1") + "]}]}}"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.find("bpf_trace_run2"), std::string::npos);
  EXPECT_TRUE(json_test::parseJson(json, nullptr));
  EXPECT_FALSE(builder.flame("Two columns", *db, "SELECT 1, 'a'", "ms").isOk());
  EXPECT_NE(embeddedAsset("reports/report.js").find("flame: renderFlame"), std::string_view::npos);
}

TEST(ReportBuilder, BadQueryLeavesAnErrorWidgetAndReturnsContext) {
  auto db = makeDb();
  JsonReportBuilder builder;
  builder.beginSection("s", "S", "");
  Status status = builder.table("Broken", *db, "SELECT nope FROM missing_table");
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("report table \"Broken\""), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("missing_table"), std::string::npos);
  EXPECT_NE(builder.toJson().find("\"kind\":\"error\",\"title\":\"Broken\""), std::string::npos);
  EXPECT_FALSE(builder.bar("One column", *db, "SELECT 1").isOk());
}

TEST(Report, FailingFamilyIsListedAsAProblemAndTheRestRenders) {
  auto db = makeDb();
  fillCore(*db);
  std::vector<ReportSectionSource> sources = {
      {"broken", [](Db& d, ReportBuilder& r) {
         r.beginSection("broken", "Broken family", "");
         return r.table("Missing", d, "SELECT * FROM broken_event");
       }},
      {"hostile", addHostileSections}};
  const std::string data = dataBlock(render(*db, sources));
  std::vector<std::string> strings;
  ASSERT_TRUE(json_test::parseJson(data, &strings));
  EXPECT_NE(data.find("\"problems\":[\"broken: report table \\\"Missing\\\": sqlite: no such table: broken_event"),
            std::string::npos)
      << data;
  EXPECT_TRUE(contains(strings, "Threads"));
}

TEST(Report, NotANettrailDatabaseIsAClearError) {
  auto db = Db::open(":memory:");
  ASSERT_TRUE(db.isOk());
  std::string html;
  Status status = renderHtmlReport(**db, {}, &html);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("not a nettrail database"), std::string::npos) << status.message();
}

TEST(Report, WriteReplacesTheFileAtomically) {
  auto db = makeDb();
  fillCore(*db);
  const std::string path = ::testing::TempDir() + "nettrail_report_test.html";
  ASSERT_TRUE(writeHtmlReport(*db, {}, path).isOk());
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str().rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(content.str().find("</html>"), std::string::npos);
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());
  // An existing report is replaced only when asked (tests/unit/output_writers_test.cpp has the links).
  Status again = writeHtmlReport(*db, {}, path);
  ASSERT_FALSE(again.isOk());
  EXPECT_NE(again.message().find("the file exists"), std::string::npos) << again.message();
  OutputOptions replace;
  replace.replace = true;
  EXPECT_TRUE(writeHtmlReport(*db, {}, path, replace).isOk());
  std::remove(path.c_str());
  Status bad = writeHtmlReport(*db, {}, "/nonexistent-dir/report.html");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.message().find("/nonexistent-dir/"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("ENOENT"), std::string::npos) << bad.message();
}

// A report with every widget kind over realistic-looking synthetic drops, for
// viewing in a browser: set NT_REPORT_DEMO_PATH to keep it.
TEST(Report, SyntheticDemoReportRenders) {
  auto db = makeDb();
  fillCore(*db, "synthetic-demo-host (canned data)");
  exec(*db,
       "CREATE TABLE demo_drop(time_ns INTEGER, reason TEXT, ifindex INTEGER, tid INTEGER, stack_id INTEGER, "
       "src_ip TEXT, dst_ip TEXT, l4 TEXT, dst_port INTEGER);"
       "INSERT INTO stack VALUES (2, 1, 3, 'nf_hook_slow+0x44');"
       "INSERT INTO stack_frame VALUES (2, 0, 16, 'kfree_skb_reason', 32, '', 0), "
       "(2, 1, 17, 'nf_hook_slow', 68, '', 0), (2, 2, 18, 'ip_local_deliver', 90, '', 0);"
       "INSERT INTO counter VALUES ('drop', 'ring_reserve_failed', 2, 17, 1);"
       "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1499) "
       "INSERT INTO demo_drop SELECT 1000000000 + i * 20000000 + (i % 7) * 1000000, "
       "CASE WHEN i % 10 < 6 THEN 'NO_SOCKET' WHEN i % 10 < 9 THEN 'NETFILTER_DROP' ELSE 'TCP_CSUM' END, "
       "1 + i % 3, CASE WHEN i % 5 = 0 THEN 100 ELSE 0 END, 1 + (i % 10 >= 6), "
       "'10.0.0.' || (1 + i % 13), '10.0.1.' || (1 + i % 5), CASE WHEN i % 4 = 0 THEN 'UDP' ELSE 'TCP' END, "
       "CASE WHEN i % 4 = 0 THEN 53 ELSE 80 + i % 3 END FROM n;");
  auto demo = [](Db& d, ReportBuilder& r) -> Status {
    r.beginSection("demo", "Packet drops (synthetic demo data)",
                   "Canned rows made by report_test.cpp to exercise every widget kind.");
    r.headline("Packet drops", "1,500");
    NT_RETURN_IF_ERROR(r.bar("Drops by reason", d, "SELECT reason, COUNT(*) AS drops FROM demo_drop GROUP BY 1 ORDER BY 2 DESC"));
    NT_RETURN_IF_ERROR(r.timeSeries("Drops per second by reason", d,
                                    "SELECT (time_ns / 1000000000) * 1000000000, reason, COUNT(*) AS drops "
                                    "FROM demo_drop GROUP BY 1, 2 ORDER BY 1",
                                    true));
    NT_RETURN_IF_ERROR(r.timeSeries("Drop rate by interface", d,
                                    "SELECT (time_ns / 2000000000) * 2000000000, i.name, COUNT(*) AS drops "
                                    "FROM demo_drop x JOIN interface i ON i.ifindex = x.ifindex GROUP BY 1, 2 ORDER BY 1",
                                    false));
    NT_RETURN_IF_ERROR(r.stacks("Top drop stacks", d,
                                "SELECT COUNT(*), stack_id, reason FROM demo_drop GROUP BY stack_id, reason ORDER BY 1 DESC"));
    NT_RETURN_IF_ERROR(r.table("Drops by flow", d,
                               "SELECT src_ip, dst_ip, l4, dst_port, p.comm, COUNT(*) AS drops FROM demo_drop x "
                               "LEFT JOIN process p ON p.tid = x.tid GROUP BY 1, 2, 3, 4, 5 ORDER BY 6 DESC",
                               25));
    NT_RETURN_IF_ERROR(r.table("Drops on a device that saw none", d, "SELECT * FROM demo_drop WHERE ifindex = 99"));
    return Status::ok();
  };
  const char* keep = std::getenv("NT_REPORT_DEMO_PATH");
  const std::string path = keep ? std::string(keep) : ::testing::TempDir() + "nettrail_demo_report.html";
  Status status = writeHtmlReport(*db, {{"demo", demo}, {"hostile", addHostileSections}}, path);
  ASSERT_TRUE(status.isOk()) << status.message();
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  std::vector<std::string> strings;
  ASSERT_TRUE(json_test::parseJson(dataBlock(content.str()), &strings));
  EXPECT_TRUE(contains(strings, "Drops per second by reason"));
  if (!keep) std::remove(path.c_str());
}

}  // namespace
}  // namespace nettrail
