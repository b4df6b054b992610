// The nettrail command line, run in-process: verbs, help, and a clear message
// with the right exit code for each kind of bad input.
#include "cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "testing/test_recordings.h"

namespace nettrail {
namespace {

struct CliRun {
  int rc;
  std::string out;
  std::string err;
};

CliRun run(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  CliContext cli{out, err, false};
  const int rc = runCli(args, cli);
  return {rc, out.str(), err.str()};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SyntheticRecording rec;
    for (int i = 0; i < 3; ++i) rec.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull});
    testing::SyntheticDrop other;
    other.time_ns = 2'000'100'000;
    other.reason = 6;
    other.dst_port = 443;
    rec.drops.push_back(other);
    rec.comm = "evil\x1b]0;title\x07";
    rec.ifname = "\x1b[31meth0";
    recording_ = path("cli.ntr");
    testing::writeSyntheticRecording(recording_, rec);
  }
  void TearDown() override {
    for (const std::string& p : paths_) std::remove(p.c_str());
  }
  std::string path(const std::string& stem) {
    paths_.push_back(testing::tempPath(stem));
    return paths_.back();
  }
  std::string recording_;
  std::vector<std::string> paths_;
};

TEST_F(CliTest, HelpComesFromTheVerbTable) {
  CliRun r = run({"--help"});
  EXPECT_EQ(r.rc, kExitOk);
  for (const char* verb : {"info", "ingest", "query", "top", "drops", "events", "report"})
    EXPECT_TRUE(contains(r.out, std::string("  ") + verb)) << verb;
  r = run({"help", "top"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_TRUE(contains(r.out, "--group-by"));
  r = run({"top", "--help"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_TRUE(contains(r.out, "usage: nettrail top"));
  r = run({"help", "sql"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_TRUE(contains(r.out, "usage: nettrail query"));
  EXPECT_EQ(run({}).rc, kExitUsage);
}

TEST_F(CliTest, MistypedVerbSuggestsTheClosestOne) {
  CliRun r = run({"tpo", recording_});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "nettrail: unknown verb 'tpo'; did you mean 'top'?")) << r.err;
  r = run({"ingets"});
  EXPECT_TRUE(contains(r.err, "did you mean 'ingest'")) << r.err;
  r = run({"frobnicate"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_FALSE(contains(r.err, "did you mean")) << r.err;
}

TEST_F(CliTest, BadOptionValuesAreUsageErrors) {
  CliRun r = run({"top", recording_, "-t", "many"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "nettrail: top: --top many: expected a whole number")) << r.err;
  r = run({"top", recording_, "--group-by", "color"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "expected stack, fivetuple or all")) << r.err;
  r = run({"top", recording_, "-i", "-1"});
  EXPECT_EQ(r.rc, kExitUsage);
  r = run({"top", recording_, "--grup-by", "stack"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "did you mean --group-by?")) << r.err;
  r = run({"query", recording_, "SELECT 1", "--format", "xml"});
  EXPECT_EQ(r.rc, kExitUsage);
  r = run({"drops", recording_, "--by", "color"});
  EXPECT_EQ(r.rc, kExitUsage);
  r = run({"top"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "missing argument")) << r.err;
  r = run({"top", recording_, "-t"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "needs a value")) << r.err;
  // -t picks rows of the whole-recording view; every interval is printed.
  r = run({"stages", recording_, "--per-interval", "-t", "3"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(r.err, "stages: --top is for the whole-recording view")) << r.err;
}

TEST_F(CliTest, StagesPerIntervalIsDocumentedAndSaysWhenThereIsNothing) {
  CliRun r = run({"help", "stages"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_TRUE(contains(r.out, "-I, --per-interval")) << r.out;
  EXPECT_TRUE(contains(r.out, "$ nettrail stages lat.ntr --per-interval")) << r.out;
  // A drops-only recording has no stages intervals.
  r = run({"stages", recording_, "-I"});
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "No stages summaries in this recording (record with --families stages).\n");
}

TEST_F(CliTest, MissingForeignAndCorruptInputsGiveClearErrors) {
  CliRun r = run({"info", "/nonexistent/file.ntr"});
  EXPECT_EQ(r.rc, kExitError);
  EXPECT_TRUE(contains(r.err, "nettrail: open /nonexistent/file.ntr: ENOENT")) << r.err;

  const std::string foreign = path("foreign.ntr");
  std::ofstream(foreign) << "#!/bin/sh\necho not a recording\n";
  r = run({"top", foreign});
  EXPECT_EQ(r.rc, kExitError);
  EXPECT_TRUE(contains(r.err, "not a nettrail recording")) << r.err;

  const std::string corrupt = path("corrupt.db");
  {
    std::ofstream out(corrupt, std::ios::binary);
    out.write("SQLite format 3\0", 16);
    out << std::string(4000, 'x');
  }
  r = run({"query", corrupt, "SELECT 1"});
  EXPECT_EQ(r.rc, kExitError);
  EXPECT_TRUE(contains(r.err, "nettrail: " + corrupt + ": database unreadable")) << r.err;

  const std::string other_db = path("other.db");
  r = run({"ingest", recording_, "-o", other_db});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  r = run({"query", other_db, "SELECT nosuchcolumn FROM drop_event"});
  EXPECT_EQ(r.rc, kExitError);
  EXPECT_TRUE(contains(r.err, "no such column: nosuchcolumn")) << r.err;
}

TEST_F(CliTest, IngestRefusesToOverwriteWithoutForce) {
  const std::string db = path("out.db");
  CliRun r = run({"ingest", recording_, "-o", db});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  r = run({"ingest", recording_, "-o", db});
  EXPECT_EQ(r.rc, kExitError);
  EXPECT_TRUE(contains(r.err, "exists; use --force")) << r.err;
  r = run({"ingest", recording_, "-o", db, "--force"});
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  r = run({"query", db, "SELECT COUNT(*) AS n FROM drop_event", "--format", "csv"});
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "n\n4\n");
  r = run({"sql", db, "SELECT reason, drops FROM drop_by_reason", "--format", "json"});
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "{\"reason\": \"NO_SOCKET\", \"drops\": 3}")) << r.out;
}

TEST_F(CliTest, ViewsEscapeRecordedStrings) {
  CliRun r = run({"top", recording_, "-t", "1"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "#1 Count: 3 calls [device: \\x1b[31meth0] [stack_id: 1] [reason: NO_SOCKET]")) << r.out;
  EXPECT_TRUE(contains(r.out, "   Flow: 10.0.0.1:40000 -> 10.0.0.2:80 (TCP)")) << r.out;
  EXPECT_TRUE(contains(r.out, "Stack trace:\n  kfree_skb_reason+0x10\n  tcp_v4_rcv+0x234\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "#2 ")) << r.out;
  EXPECT_FALSE(contains(r.out, "\x1b"));

  r = run({"events", recording_, "--limit", "1"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "2023-11-14 22:13:21.000000000 UTC")) << r.out;
  EXPECT_TRUE(contains(r.out, "evil\\x1b]0;title\\x07[100]")) << r.out;
  EXPECT_TRUE(contains(r.out, "(1 of 4 drops shown")) << r.out;
  EXPECT_FALSE(contains(r.out, "\x1b"));

  r = run({"drops", recording_, "--by", "device"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "Total drops: 4")) << r.out;
  EXPECT_FALSE(contains(r.out, "\x1b"));

  r = run({"info", recording_});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "drop: 4 events in 1 batches")) << r.out;
  EXPECT_TRUE(contains(r.out, "none: the file is complete")) << r.out;
  r = run({"info", recording_, "--json"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "\"host_name\": \"synthetic-test\"")) << r.out;
}

TEST_F(CliTest, TopGroupsByFiveTupleWithoutStacks) {
  CliRun r = run({"top", recording_, "--group-by", "fivetuple"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "#2 Count: 1 calls")) << r.out;
  EXPECT_TRUE(contains(r.out, "10.0.0.1:40000 -> 10.0.0.2:443 (TCP)")) << r.out;
  EXPECT_FALSE(contains(r.out, "Stack trace")) << r.out;
}

TEST_F(CliTest, TopHidesTracingFramesAndShowsUnresolvedAddresses) {
  testing::SyntheticRecording rec;
  testing::SyntheticDrop drop;
  drop.time_ns = 2'000'000'000;
  drop.stack_id = 2;  // bpf_trace_run2 <- kfree_skb_reason <- unresolved
  rec.drops = {drop};
  const std::string file = path("tracing.ntr");
  testing::writeSyntheticRecording(file, rec);
  CliRun r = run({"top", file, "--group-by", "stack"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "Stack trace:\n  kfree_skb_reason+0x10\n  0xffffffff90000000\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "bpf_trace_run2")) << r.out;
  EXPECT_FALSE(contains(r.out, "Flow:")) << r.out;
}

TEST_F(CliTest, TopOnASummaryRecordingUsesItsIntervals) {
  testing::SyntheticRecording rec;
  testing::SyntheticSummaryEntry entry;
  testing::SyntheticSummary first;
  first.interval_index = 0;
  first.time_ns = 3'000'000'000;
  entry.count = 4;
  first.entries = {entry};
  first.total_drops = 4;
  testing::SyntheticSummary second = first;
  second.interval_index = 1;
  second.time_ns = 4'000'000'000;
  second.entries[0].count = 10;
  second.total_drops = 10;
  rec.summaries = {first, second};
  const std::string file = path("summary.ntr");
  testing::writeSyntheticRecording(file, rec);
  CliRun r = run({"top", file});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "=== Interval 1 (ending 2023-11-14 22:13:22 UTC): 4 drops ===\n#1 Count: 4 calls")) << r.out;
  EXPECT_TRUE(contains(r.out, "=== Interval 2 (ending 2023-11-14 22:13:23 UTC): 6 drops ===\n#1 Count: 6 calls")) << r.out;
  r = run({"events", file});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_TRUE(contains(r.out, "summary counts only")) << r.out;
}

TEST_F(CliTest, ReportFromARecording) {
  const std::string html = path("report.html");
  CliRun r = run({"report", recording_, "-o", html});
  EXPECT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_FALSE(testing::readFile(html).empty());
  r = run({"report", recording_});
  EXPECT_EQ(r.rc, kExitUsage);
}

TEST(EditDistance, Basics) {
  EXPECT_EQ(editDistance("top", "top"), 0u);
  EXPECT_EQ(editDistance("tpo", "top"), 1u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("ingets", "ingest"), 1u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace nettrail
