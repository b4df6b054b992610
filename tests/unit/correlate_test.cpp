// Correlation of imported monitoring alerts with recorded drops, and the
// recording diff, over synthetic recordings (canned data, host
// "synthetic-test"); tests/integration/correlate_test.cpp does the same with
// real kernel drops.
#include "analysis/correlate.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "analysis/diff.h"
#include "cli.h"
#include "core/db.h"
#include "import/monitor_import.h"
#include "ingest/ingest.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

constexpr uint64_t kBoot0 = 1'000'000'000;                   // synthetic start, boottime
constexpr int64_t kReal0 = 1'700'000'000'000'000'000;        // synthetic start, realtime

std::string ingestTo(const testing::SyntheticRecording& recording, const std::string& stem) {
  const std::string ntr = testing::tempPath(stem + ".ntr");
  const std::string db_path = testing::tempPath(stem + ".db");
  testing::writeSyntheticRecording(ntr, recording);
  auto db = Db::open(db_path);
  EXPECT_TRUE(db.isOk());
  Status status = ingestRecordings({ntr}, **db, IngestOptions{});
  EXPECT_TRUE(status.isOk()) << status.message();
  std::remove(ntr.c_str());
  return db_path;
}

int runCliCapture(const std::vector<std::string>& args, std::string* out, std::string* err) {
  std::ostringstream o, e;
  CliContext cli{o, e, false};
  const int rc = runCli(args, cli);
  *out = o.str();
  *err = e.str();
  return rc;
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(Correlate, TimeoutsWithDropsAndLateOnes) {
  testing::SyntheticRecording recording;
  // Drops at +2 s, +5 s and +9 s after the start.
  for (int second : {2, 5, 9}) {
    testing::SyntheticDrop drop;
    drop.time_ns = kBoot0 + static_cast<uint64_t>(second) * 1'000'000'000;
    recording.drops.push_back(drop);
  }
  const std::string db_path = ingestTo(recording, "corr");
  // Timeouts at +2.1 s, +5.2 s (drops within 500 ms) and +7 s (none); one slow reply at +9.3 s.
  const std::string log = testing::tempPath("ping.txt");
  auto at = [](double s) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "[%.6f]", static_cast<double>(kReal0) / 1e9 + s);
    return std::string(buf);
  };
  writeText(log, at(1) + " 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.2 ms\n" + at(2.1) +
                     " no answer yet for icmp_seq=2\n" + at(5.2) + " no answer yet for icmp_seq=5\n" + at(7) +
                     " no answer yet for icmp_seq=7\n" + at(8.8) +
                     " 64 bytes from 10.0.0.2: icmp_seq=9 ttl=64 time=300 ms\n" + at(500) +
                     " no answer yet for icmp_seq=500\n");
  std::string out, err;
  ASSERT_EQ(runCliCapture({"import", db_path, log, "--format", "ping"}, &out, &err), 0) << err;
  EXPECT_NE(err.find("imported 6 rows"), std::string::npos) << err;
  EXPECT_NE(err.find("(1 outside the recording's time span)"), std::string::npos) << err;
  ASSERT_EQ(runCliCapture({"correlate", db_path, "--window", "500"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("5 alerts: 3 with a kernel drop within \u00b1500 ms, 1 with no drop (late only), 1 outside the "
                     "recording"),
            std::string::npos)
      << out;
  auto db = Db::open(db_path, true);
  ASSERT_TRUE(db.isOk());
  auto verdicts = (*db)->prepare("SELECT kind, verdict, drops FROM monitor_alert ORDER BY alert_id");
  ASSERT_TRUE(verdicts.isOk());
  std::vector<std::string> rows;
  while (*verdicts->step()) rows.push_back(verdicts->columnText(0) + " " + verdicts->columnText(1) + " " +
                                           std::to_string(verdicts->columnInt(2)));
  EXPECT_EQ(rows, (std::vector<std::string>{"timeout drop 1", "timeout drop 1", "timeout no drop 0",
                                            "rtt drop 1", "timeout outside recording 0"}))
      << out;
  // Timeouts after the last reply carry its target.
  EXPECT_EQ(*(*db)->queryInt("SELECT COUNT(*) FROM monitor_alert WHERE subject = '10.0.0.2'"), 5);
  EXPECT_EQ(*(*db)->queryInt("SELECT COUNT(*) FROM monitor_alert_event WHERE family = 'drop'"), 3);
  // The report has the section, computed from the stored alerts.
  const std::string html = testing::tempPath("corr.html");
  ASSERT_EQ(runCliCapture({"report", db_path, "-o", html}, &out, &err), 0) << err;
  const std::string page = testing::readFile(html);
  EXPECT_NE(page.find("Monitoring and correlation"), std::string::npos);
  EXPECT_NE(page.find("with a kernel drop within"), std::string::npos);
  std::remove(html.c_str());
  std::remove(log.c_str());
  std::remove(db_path.c_str());
}

TEST(Correlate, ThresholdCrossingsAndBadInput) {
  testing::SyntheticRecording recording;
  testing::SyntheticDrop drop;
  drop.time_ns = kBoot0 + 3'000'000'000;
  recording.drops.push_back(drop);
  const std::string db_path = ingestTo(recording, "thr");
  const std::string csv = testing::tempPath("cpu.csv");
  const int64_t s0 = kReal0 / 1'000'000'000;
  std::string text = "timestamp,series,value\n";
  for (int i = 0; i < 6; ++i)
    text += std::to_string(s0 + i) + ",cpu ovs," + (i == 3 || i == 4 ? "95" : "10") + "\n";
  writeText(csv, text);
  std::string out, err;
  ASSERT_EQ(runCliCapture({"import", db_path, csv, "--format", "csv", "--clock-offset", "0"}, &out, &err), 0) << err;
  ASSERT_EQ(runCliCapture({"correlate", db_path, "--threshold", "cpu *>90"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("1 alert: 1 with a kernel drop"), std::string::npos) << out;
  EXPECT_NE(out.find("cpu ovs = 95 > 90"), std::string::npos) << out;
  EXPECT_EQ(runCliCapture({"correlate", db_path, "--threshold", "cpu ovs"}, &out, &err), 2);
  EXPECT_NE(err.find("expected SERIES>VALUE"), std::string::npos) << err;
  writeText(csv, "timestamp,series,value\n1700000000,a,1\n1700000001,a\n");
  EXPECT_EQ(runCliCapture({"import", db_path, csv, "--format", "csv"}, &out, &err), 1);
  EXPECT_NE(err.find(csv + ":3: expected \"timestamp,series,value\""), std::string::npos) << err;
  EXPECT_EQ(runCliCapture({"import", db_path, csv, "--format", "nagios"}, &out, &err), 2);
  EXPECT_EQ(runCliCapture({"import", csv, csv, "--format", "csv"}, &out, &err), 1);
  EXPECT_NE(err.find("is not a database"), std::string::npos) << err;
  std::remove(csv.c_str());
  std::remove(db_path.c_str());
}

TEST(Diff, FortyNoSocketVersusTenNetfilter) {
  testing::SyntheticRecording before, after;
  for (int i = 0; i < 40; ++i) {
    testing::SyntheticDrop d;
    d.time_ns = kBoot0 + static_cast<uint64_t>(i) * 50'000'000;
    before.drops.push_back(d);
  }
  for (int i = 0; i < 10; ++i) {
    testing::SyntheticDrop d;
    d.reason = 6;
    d.stack_id = 2;
    d.time_ns = kBoot0 + static_cast<uint64_t>(i) * 200'000'000;
    after.drops.push_back(d);
  }
  after.comm = "<script>x</script>";
  const std::string b = ingestTo(before, "before"), a = ingestTo(after, "after");
  const std::string html = testing::tempPath("diff.html");
  std::string out, err;
  ASSERT_EQ(runCliCapture({"diff", b, a, "-o", html}, &out, &err), 0) << err;
  EXPECT_NE(out.find("drops: 40 \u2192 10 (\u221275.0%)"), std::string::npos) << out;
  EXPECT_NE(out.find("Changes by reason (drop)"), std::string::npos) << out;
  EXPECT_NE(out.find("NO_SOCKET"), std::string::npos);
  EXPECT_NE(out.find("gone"), std::string::npos);
  const std::string page = testing::readFile(html);
  EXPECT_NE(page.find("compareBar"), std::string::npos);
  EXPECT_NE(page.find("drops: 40 \u2192 10 (\u221275.0%)"), std::string::npos);
  EXPECT_EQ(page.find("<script>x</script>"), std::string::npos);

  auto before_db = Db::open(b, true), after_db = Db::open(a, true), diff = Db::open(":memory:");
  ASSERT_TRUE(buildDiff(**before_db, b, **after_db, a, **diff).isOk());
  EXPECT_EQ(*(*diff)->queryInt("SELECT before FROM diff_breakdown WHERE dimension = 'reason' AND key = 'NO_SOCKET'"), 40);
  EXPECT_EQ(*(*diff)->queryInt("SELECT after FROM diff_breakdown WHERE dimension = 'reason' AND key = 'NO_SOCKET'"), 0);
  EXPECT_EQ(*(*diff)->queryInt("SELECT after FROM diff_breakdown WHERE dimension = 'reason' AND key = 'NETFILTER_DROP'"), 10);
  EXPECT_EQ(*(*diff)->queryInt("SELECT COUNT(*) FROM diff_breakdown WHERE dimension = 'stack'"), 2);
  EXPECT_EQ(*(*diff)->queryInt("SELECT max(before) FROM diff_percentile WHERE family = 'drop' AND statistic = 'max'"), 20);
  std::remove(html.c_str());
  std::remove(b.c_str());
  std::remove(a.c_str());
}

}  // namespace
}  // namespace nettrail
