// The stages family's SQL views over hand-made rows: per-flow bucket
// percentiles (nearest rank on the log2 buckets, summed over intervals), the
// path order of the pairs, the stage -> stack -> frame join, and the
// per-interval terminal view (`nettrail stages --per-interval`) to the byte.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "core/db.h"
#include "core/embedded_assets.h"

namespace nettrail {
namespace stages {
// analyzer/families/stages.cpp: the view behind `nettrail stages --per-interval`.
Status printStagesIntervalView(Db& db, std::ostream& out);
}  // namespace stages
namespace {

class StagesViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::open(":memory:");
    ASSERT_TRUE(db.isOk()) << db.status().message();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->exec(std::string(embeddedAsset("queries/_core.sql"))).isOk());
    ASSERT_TRUE(db_->exec(std::string(embeddedAsset("queries/stages.sql"))).isOk());
  }

  void exec(const std::string& sql) {
    Status status = db_->exec(sql);
    ASSERT_TRUE(status.isOk()) << status.message() << "\n" << sql;
  }

  // One flow-histogram row: interval, flow, from, to, bucket, count.
  void flowRow(int interval, const std::string& flow, const std::string& from, const std::string& to, int log2,
               int count) {
    exec("INSERT INTO stages_flow_hist VALUES (" + std::to_string(interval) + ", 0, '" + flow +
         "', 'UDP', '10.0.0.1', '10.0.0.2', 1000, 2000, NULL, '" + from + "', '" + to + "', " +
         std::to_string(log2) + ", " + std::to_string(count) + ")");
  }

  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    auto stmt = db_->prepare(sql);
    EXPECT_TRUE(stmt.isOk()) << stmt.status().message();
    if (!stmt.isOk()) return out;
    while (true) {
      auto has = stmt->step();
      EXPECT_TRUE(has.isOk()) << has.status().message();
      if (!has.isOk() || !*has) break;
      std::vector<std::string> row;
      for (int i = 0; i < stmt->columnCount(); ++i)
        row.push_back(stmt->columnIsNull(i) ? "NULL" : stmt->columnText(i));
      out.push_back(row);
    }
    return out;
  }

  std::unique_ptr<Db> db_;
};

using Rows = std::vector<std::vector<std::string>>;

TEST_F(StagesViewsTest, FlowPercentilesAreNearestRankBucketBoundsOverAllIntervals) {
  // Flow A, end to end: 60 samples in [1024, 2048), 39 in [4096, 8192) and
  // one in [65536, 131072), split over two intervals. Nearest rank: p50 is
  // sample 50 (bucket 10), p90 sample 90 (bucket 12), p99 sample 99 (bucket
  // 12), the maximum bucket 16.
  flowRow(0, "A", "end_to_end", "end_to_end", 10, 40);
  flowRow(1, "A", "end_to_end", "end_to_end", 10, 20);
  flowRow(1, "A", "end_to_end", "end_to_end", 12, 39);
  flowRow(1, "A", "end_to_end", "end_to_end", 16, 1);
  flowRow(0, "A", "qdisc_enqueue", "qdisc_dequeue", 8, 100);
  flowRow(0, "A", "net_dev_queue", "qdisc_enqueue", 9, 100);
  // Flow B has fewer packets: it comes after A.
  flowRow(0, "B", "end_to_end", "end_to_end", 20, 3);
  flowRow(0, "B", "net_dev_queue", "qdisc_enqueue", 3, 3);
  exec("INSERT INTO enum_value VALUES ('nt_stages_path', 0, 'net_dev_queue'), ('nt_stages_path', 1, 'qdisc_enqueue'), "
       "('nt_stages_path', 2, 'qdisc_dequeue')");
  EXPECT_EQ(rows("SELECT flow, segment, packets, p50_below_ns, p90_below_ns, p99_below_ns, max_below_ns, "
                 "flow_packets FROM stages_flow_latency"),
            (Rows{{"A", "net_dev_queue -> qdisc_enqueue", "100", "1024", "1024", "1024", "1024", "100"},
                  {"A", "qdisc_enqueue -> qdisc_dequeue", "100", "512", "512", "512", "512", "100"},
                  {"A", "end to end", "100", "2048", "8192", "8192", "131072", "100"},
                  {"B", "net_dev_queue -> qdisc_enqueue", "3", "16", "16", "16", "16", "3"},
                  {"B", "end to end", "3", "2097152", "2097152", "2097152", "2097152", "3"}}));
  EXPECT_EQ(rows("SELECT log2_ns, low_ns, count FROM stages_flow_log2 WHERE flow = 'A' AND from_stage = 'end_to_end' "
                 "ORDER BY log2_ns"),
            (Rows{{"10", "1024", "60"}, {"12", "4096", "39"}, {"16", "65536", "1"}}));
}

TEST_F(StagesViewsTest, StageStacksJoinToTheirNonTracingFrames) {
  exec("INSERT INTO stages_time VALUES (1, 0, 'net_dev_queue', 100, 0, 0, 7), (1, 1, 'net_dev_xmit', 300, 200, 200, 8), "
       "(2, 0, 'net_dev_queue', 400, 0, 0, 7), (2, 1, 'net_dev_xmit', 500, 100, 100, NULL)");
  exec("INSERT INTO stack_frame VALUES (8, 0, 4096, 'bpf_trace_run3', 16, '', 1), "
       "(8, 1, 8192, 'dev_hard_start_xmit', 158, '', 0), (8, 2, 12288, 'sch_direct_xmit', 32, '', 0), "
       "(7, 0, 16384, '__dev_queue_xmit', 4, '', 0)");
  EXPECT_EQ(rows("SELECT stage, stack_id, packets, top_frame FROM stages_stack"),
            (Rows{{"net_dev_queue", "7", "2", "__dev_queue_xmit+0x4"}, {"net_dev_xmit", "8", "1", "dev_hard_start_xmit+0x9e"}}));
  EXPECT_EQ(rows("SELECT stage, frame_index, frame FROM stages_stack_frame WHERE stack_id = 8"),
            (Rows{{"net_dev_xmit", "1", "dev_hard_start_xmit+0x9e"}, {"net_dev_xmit", "2", "sch_direct_xmit+0x20"}}));
}

TEST_F(StagesViewsTest, IntervalSessionsCountWhatEndedIncompleteAndWhen) {
  // Recording started at boottime 10 s; anchors 5 s apart, the second after a
  // clock step of +2 s. Interval 1: 2 in flight before, 4 started, 5
  // completed, 0 in flight after: 1 ended without completing.
  exec("INSERT INTO meta VALUES ('start_boottime_ns', '10000000000')");
  exec("INSERT INTO clock_anchor VALUES (10000000000, 1000000000000000000, 0), "
       "(15000000000, 1000000007000000000, 0)");
  exec("INSERT INTO stages_interval VALUES (0, 12000000000, 3, 1, 2, 0), (1, 16000000000, 4, 5, 0, 1), "
       "(2, 16500000000, 0, 0, 0, 0)");
  EXPECT_EQ(rows("SELECT interval_index, time_ns, realtime_ns, duration_ns, started, completed, incomplete, "
                 "in_flight, flow_hist_full FROM stages_interval_sessions"),
            (Rows{{"0", "12000000000", "1000000002000000000", "2000000000", "3", "1", "0", "2", "0"},
                  {"1", "16000000000", "1000000008000000000", "4000000000", "4", "5", "1", "0", "1"},
                  {"2", "16500000000", "1000000008500000000", "500000000", "0", "0", "0", "0", "0"}}));
  // Summed, with the last interval's in-flight sessions, they are the whole
  // recording's accounting.
  EXPECT_EQ(rows("SELECT SUM(started), SUM(completed), SUM(incomplete) FROM stages_interval_sessions"),
            (Rows{{"7", "6", "1"}}));
  EXPECT_EQ(rows("SELECT started, completed, incomplete FROM stages_sessions"), (Rows{{"7", "6", "1"}}));
  // Without clock anchors or a known start: no wall clock, no first length.
  exec("DELETE FROM clock_anchor");
  exec("DELETE FROM meta");
  EXPECT_EQ(rows("SELECT realtime_ns, duration_ns FROM stages_interval_sessions WHERE interval_index = 0"),
            (Rows{{"NULL", "NULL"}}));
}

TEST_F(StagesViewsTest, PerIntervalViewPrintsOneBlockPerIntervalAndFoldsIdleRuns) {
  // Recording started at boottime 1 s = 2026-01-01 00:00:00 UTC. Interval 0
  // ends 1 s later with 3 packets through; intervals 1 and 2 are idle; the
  // last, a partial 0.25 s, has 5 started, 3 completed, 1 still queued and 1
  // that left the path (0 in flight before + 5 - 3 - 1 in flight after).
  exec("INSERT INTO meta VALUES ('start_boottime_ns', '1000000000')");
  exec("INSERT INTO clock_anchor VALUES (1000000000, 1767225600000000000, 1000000000)");
  exec("INSERT INTO enum_value VALUES ('nt_stages_path', 0, 'net_dev_queue'), ('nt_stages_path', 1, 'qdisc_enqueue'), "
       "('nt_stages_path', 2, 'qdisc_dequeue')");
  exec("INSERT INTO stages_interval VALUES (0, 2000000000, 3, 3, 0, 0), (1, 3000000000, 0, 0, 0, 0), "
       "(2, 4000000000, 0, 0, 0, 0), (3, 4250000000, 5, 3, 1, 0)");
  // Rows in no particular order; one stage name carries a terminal escape.
  exec("INSERT INTO stages_hist VALUES "
       "(0, 2000000000, 'end_to_end', 'end_to_end', 12, 3), "
       "(0, 2000000000, 'qdisc_enqueue', 'qdisc_dequeue', 11, 2), "
       "(0, 2000000000, 'net_dev_queue', 'qdisc_enqueue', 10, 3), "
       "(0, 2000000000, 'qdisc_enqueue', 'qdisc_dequeue', 9, 1), "
       "(3, 4250000000, 'qdisc_enqueue', 'qdisc_dequeue', 9, 3), "
       "(3, 4250000000, 'net_dev_queue', 'qdisc_enqueue', 10, 5), "
       "(3, 4250000000, 'qdisc_dequeue', 'evil' || char(27) || '[2J', 0, 3), "
       "(3, 4250000000, 'end_to_end', 'end_to_end', 13, 3)");
  std::ostringstream out;
  Status status = stages::printStagesIntervalView(*db_, out);
  ASSERT_TRUE(status.isOk()) << status.message();
  EXPECT_EQ(out.str(),
            "[2026-01-01 00:00:01.000 UTC] === Interval 0 (1.000 s) ===\n"
            "Sessions: 3 started, 3 completed, 0 incomplete, 0 in flight at the end\n"
            "\n"
            "net_dev_queue -> qdisc_enqueue:\n"
            "                   usecs : count      distribution\n"
            "      1.024 -> 2.047      : 3          |****************************************|\n"
            "Total packets: 3\n"
            "\n"
            "qdisc_enqueue -> qdisc_dequeue:\n"
            "                   usecs : count      distribution\n"
            "      0.512 -> 1.023      : 1          |********************                    |\n"
            "      1.024 -> 2.047      : 0          |                                        |\n"
            "      2.048 -> 4.095      : 2          |****************************************|\n"
            "Total packets: 3\n"
            "\n"
            "end to end:\n"
            "                   usecs : count      distribution\n"
            "      4.096 -> 8.191      : 3          |****************************************|\n"
            "Total packets: 3\n"
            "\n"
            "[2026-01-01 00:00:03.000 UTC] === Intervals 1-2 (2.000 s): no packets ===\n"
            "\n"
            "[2026-01-01 00:00:03.250 UTC] === Interval 3 (0.250 s) ===\n"
            "Sessions: 5 started, 3 completed, 1 incomplete, 1 in flight at the end\n"
            "\n"
            "net_dev_queue -> qdisc_enqueue:\n"
            "                   usecs : count      distribution\n"
            "      1.024 -> 2.047      : 5          |****************************************|\n"
            "Total packets: 5\n"
            "\n"
            "qdisc_enqueue -> qdisc_dequeue:\n"
            "                   usecs : count      distribution\n"
            "      0.512 -> 1.023      : 3          |****************************************|\n"
            "Total packets: 3\n"
            "\n"
            "qdisc_dequeue -> evil\\x1b[2J:\n"
            "                   usecs : count      distribution\n"
            "      0.000 -> 0.001      : 3          |****************************************|\n"
            "Total packets: 3\n"
            "\n"
            "end to end:\n"
            "                   usecs : count      distribution\n"
            "      8.192 -> 16.383     : 3          |****************************************|\n"
            "Total packets: 3\n"
            "\n"
            "All 4 interval(s): 8 started, 6 completed, 2 incomplete (1 ended without completing, 1 still in "
            "flight at the end)\n");
  // The interval view's sums are the whole recording's session counts.
  EXPECT_EQ(rows("SELECT started, completed, incomplete FROM stages_sessions"), (Rows{{"8", "6", "2"}}));
  EXPECT_EQ(rows("SELECT interval_index, duration_ns, incomplete FROM stages_interval_sessions"),
            (Rows{{"0", "1000000000", "0"}, {"1", "1000000000", "0"}, {"2", "1000000000", "0"},
                  {"3", "250000000", "1"}}));
}

TEST_F(StagesViewsTest, PerIntervalViewWithoutClockAnchorsOrSummaries) {
  std::ostringstream empty;
  ASSERT_TRUE(stages::printStagesIntervalView(*db_, empty).isOk());
  EXPECT_EQ(empty.str(), "No stages summaries in this recording (record with --families stages).\n");
  // No anchors and no recording start: boottime stamps, no length for the
  // first interval; an idle interval still in flight says so.
  exec("INSERT INTO stages_interval VALUES (0, 1500000000, 1, 0, 1, 0), (1, 2500000000, 0, 0, 1, 0)");
  exec("INSERT INTO stages_hist VALUES (0, 1500000000, 'net_dev_queue', 'qdisc_enqueue', 10, 1)");
  std::ostringstream out;
  ASSERT_TRUE(stages::printStagesIntervalView(*db_, out).isOk());
  EXPECT_EQ(out.str(),
            "[boottime 1.500 s] === Interval 0 ===\n"
            "Sessions: 1 started, 0 completed, 0 incomplete, 1 in flight at the end\n"
            "\n"
            "net_dev_queue -> qdisc_enqueue:\n"
            "                   usecs : count      distribution\n"
            "      1.024 -> 2.047      : 1          |****************************************|\n"
            "Total packets: 1\n"
            "\n"
            "[boottime 2.500 s] === Interval 1 (1.000 s): no packets, 1 still in flight ===\n"
            "\n"
            "All 2 interval(s): 1 started, 0 completed, 1 incomplete (0 ended without completing, 1 still in "
            "flight at the end)\n");
}

}  // namespace
}  // namespace nettrail
