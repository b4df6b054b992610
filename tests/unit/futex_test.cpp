// Futex family without a kernel: the op decoding the BPF program applies
// (shared header), and the analyzer's views over hand-written rows.
#include <gtest/gtest.h>
#include <linux/futex.h>

#include "core/db.h"
#include "ingest/ingest.h"
#include "testing/test_recordings.h"

#ifdef NT_HAVE_RECORDER
#include "nettrail/futex_event.h"
#endif

namespace nettrail {
namespace {

#ifdef NT_HAVE_RECORDER
TEST(FutexOpTest, StripsPrivateAndRealtimeFlags) {
  EXPECT_EQ(nt_futex_cmd(FUTEX_WAIT), FUTEX_WAIT);
  EXPECT_EQ(nt_futex_cmd(FUTEX_WAIT_PRIVATE), FUTEX_WAIT);
  EXPECT_EQ(nt_futex_cmd(FUTEX_WAKE_PRIVATE), FUTEX_WAKE);
  EXPECT_EQ(nt_futex_cmd(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME), FUTEX_WAIT_BITSET);
  EXPECT_EQ(nt_futex_cmd(FUTEX_LOCK_PI_PRIVATE), FUTEX_LOCK_PI);
  // The same mask as the kernel's for every command it knows.
  for (int cmd = FUTEX_WAIT; cmd <= 13; ++cmd)
    for (int flags : {0, FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME, FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME})
      EXPECT_EQ(nt_futex_cmd(cmd | flags), (cmd | flags) & FUTEX_CMD_MASK) << cmd << " " << flags;
  // Commands the byte cannot hold, and garbage, are "unknown", never truncated into a real command.
  EXPECT_EQ(nt_futex_cmd(1000), NT_FUTEX_CMD_UNKNOWN);
  EXPECT_EQ(nt_futex_cmd(256 + 512), NT_FUTEX_CMD_UNKNOWN);
  EXPECT_EQ(nt_futex_cmd(-1), NT_FUTEX_CMD_UNKNOWN);
}
#endif

// An ingested recording without futex data, plus rows written by hand.
class FutexViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::tempPath("futex-views.ntr");
    testing::writeSyntheticRecording(path_, testing::SyntheticRecording{});
    auto db = Db::open(":memory:");
    ASSERT_TRUE(db.isOk());
    db_ = std::move(*db);
    ASSERT_TRUE(ingestRecordings({path_}, *db_, IngestOptions{}).isOk());
    ASSERT_TRUE(db_->exec("DELETE FROM process;"
                          "INSERT INTO process VALUES (11, 10, 'waiter-a'), (12, 10, 'waiter-b'), (13, 10, 'waker');")
                    .isOk());
  }
  void TearDown() override { std::remove(path_.c_str()); }
  int64_t value(const std::string& sql) {
    auto v = db_->queryInt(sql);
    EXPECT_TRUE(v.isOk()) << v.status().message() << " in " << sql;
    return v.isOk() ? *v : -1;
  }
  std::string path_;
  std::unique_ptr<Db> db_;
};

TEST_F(FutexViewsTest, OpNamesFollowTheKernelNumbers) {
  EXPECT_EQ(value("SELECT op FROM futex_op WHERE name = 'WAIT'"), FUTEX_WAIT);
  EXPECT_EQ(value("SELECT op FROM futex_op WHERE name = 'WAKE'"), FUTEX_WAKE);
  EXPECT_EQ(value("SELECT op FROM futex_op WHERE name = 'WAIT_BITSET'"), FUTEX_WAIT_BITSET);
  EXPECT_EQ(value("SELECT op FROM futex_op WHERE name = 'WAKE_BITSET'"), FUTEX_WAKE_BITSET);
  EXPECT_EQ(value("SELECT op FROM futex_op WHERE name = 'CMP_REQUEUE_PI'"), FUTEX_CMP_REQUEUE_PI);
  EXPECT_EQ(value("SELECT SUM(waits) FROM futex_op"), 5);
}

TEST_F(FutexViewsTest, SummaryRowsAggregatePerThreadOpAndAddress) {
  // Two threads wait on one word, a third wakes it; interval rows are growth.
  ASSERT_TRUE(db_->exec("INSERT INTO futex_summary VALUES "
                        "(0, 1000, 10, 11, 0, 4096, 3, 30000000, 20000000, 1),"
                        "(1, 2000, 10, 11, 0, 4096, 2, 10000000, 20000000, 0),"
                        "(0, 1000, 10, 12, 9, 4096, 1, 5000000, 5000000, 1),"
                        "(0, 1000, 10, 13, 1, 4096, 4, 40000, 20000, 0),"
                        "(0, 1000, 10, 13, 1, 8192, 1, 1000, 1000, 0);")
                  .isOk());
  EXPECT_EQ(value("SELECT calls FROM futex_by_thread_op WHERE tid = 11 AND op_name = 'WAIT'"), 5);
  EXPECT_EQ(value("SELECT total_ns FROM futex_by_thread_op WHERE tid = 11"), 40000000);
  EXPECT_EQ(value("SELECT max_ns FROM futex_by_thread_op WHERE tid = 11"), 20000000);
  EXPECT_EQ(value("SELECT errors FROM futex_by_thread_op WHERE tid = 11"), 1);
  EXPECT_EQ(value("SELECT threads FROM futex_by_address WHERE uaddr = 4096"), 3);
  EXPECT_EQ(value("SELECT waiters FROM futex_by_address WHERE uaddr = 4096"), 2);
  EXPECT_EQ(value("SELECT wait_calls FROM futex_by_address WHERE uaddr = 4096"), 6);
  EXPECT_EQ(value("SELECT wait_ns FROM futex_by_address WHERE uaddr = 4096"), 45000000);
  EXPECT_EQ(value("SELECT wake_calls FROM futex_by_address WHERE uaddr = 4096"), 4);
  // The word two threads wait on comes first.
  EXPECT_EQ(value("SELECT uaddr FROM futex_by_address LIMIT 1"), 4096);
  EXPECT_EQ(value("SELECT value FROM futex_metric WHERE name = 'futex calls'"), 11);
  EXPECT_EQ(value("SELECT value FROM futex_metric WHERE name = 'futex words waited on'"), 1);
  EXPECT_EQ(value("SELECT value FROM futex_breakdown WHERE dimension = 'op' AND key = 'WAKE'"), 5);
  EXPECT_EQ(value("SELECT value FROM futex_breakdown WHERE dimension = 'thread wait ms' AND key = 'waiter-a'"), 40);
  // Summary rows have no per-call time: no timeline rows.
  EXPECT_EQ(value("SELECT COUNT(*) FROM futex_timeline"), 0);
}

TEST_F(FutexViewsTest, DetailsAloneFeedTheViewsAndTheTimeline) {
  ASSERT_TRUE(db_->exec("INSERT INTO futex_event VALUES "
                        "(1000, 100000000, 11, 0, 4096, -110),"
                        "(2000, 500, 11, 0, 4096, -11),"
                        "(3000, 700, 13, 1, 4096, 1);")
                  .isOk());
  EXPECT_EQ(value("SELECT calls FROM futex_by_thread_op WHERE tid = 11"), 2);
  EXPECT_EQ(value("SELECT errors FROM futex_by_thread_op WHERE tid = 11"), 2);
  EXPECT_EQ(value("SELECT pid FROM futex_by_thread_op WHERE tid = 11"), 10);
  EXPECT_EQ(value("SELECT max_wait_ns FROM futex_by_address WHERE uaddr = 4096"), 100000000);
  EXPECT_EQ(value("SELECT COUNT(*) FROM futex_timeline WHERE kind = 'WAIT' AND detail = "
                  "'waiter-a (11) 0x1000 -> ETIMEDOUT'"),
            1);
  EXPECT_EQ(value("SELECT COUNT(*) FROM futex_timeline WHERE kind = 'WAKE' AND detail LIKE '%-> 1'"), 1);
}

}  // namespace
}  // namespace nettrail
