// Futex family against a real program: nt_workload's "ntfutex" thread makes a
// known number of FUTEX_WAKE calls, non-blocking FUTEX_WAITs (EAGAIN) and
// FUTEX_WAITs that block 100 ms until their timeout, all on one word whose
// address it prints. Counts are filtered by that thread and address, so glibc's
// own futex calls (pthread_join, stdio locks) and other processes cannot change
// them; on that word they must match exactly. Needs root, BTF, tracefs.
#include <gtest/gtest.h>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"
#include "integration/recorded_db.h"
#include "integration/workload.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::RecorderProcess;
using testing::Workload;

constexpr int kWakes = 37, kWaits = 23, kTimed = 3;

class FutexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    path_ = testing::tempPath("futex.ntr");
    binary_ = testing::tempPath("nt_workload_futex");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }

  void recordFutexWorkload(const std::vector<std::string>& extra) {
    Workload workload;
    ASSERT_TRUE(workload.start(binary_, {"futex", std::to_string(kWakes), std::to_string(kWaits),
                                         std::to_string(kTimed)}));
    ASSERT_NE(workload.uaddr, 0u);
    uaddr_ = std::to_string(workload.uaddr);
    std::vector<std::string> args = {"--families", "futex", "-p", std::to_string(workload.pid()), "-o", path_,
                                     "--force", "-i", "200ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    RecorderProcess recorder;
    ASSERT_TRUE(recorder.start(args)) << recorder.output();
    workload.go();
    EXPECT_EQ(workload.wait(), 0);
    ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  }

  std::unique_ptr<Db> ingest() { return testing::ingestForTest({path_}); }
  int64_t count(Db& db, const std::string& sql) { return testing::queryCount(db, sql); }
  std::string text(Db& db, const std::string& sql) { return testing::queryText(db, sql); }
  // Rows of the futex thread on the workload's word.
  std::string onWord() const {
    return " uaddr = " + uaddr_ + " AND tid IN (SELECT tid FROM process WHERE comm = 'ntfutex')";
  }

  std::string path_, binary_, uaddr_;
};

TEST_F(FutexTest, SummaryAndDetailsCountEveryCallOnTheWord) {
  recordFutexWorkload({});
  auto db = ingest();
  // In-kernel summary: every call, per (pid, tid, op, uaddr).
  EXPECT_EQ(count(*db, "SELECT SUM(calls) FROM futex_summary WHERE op = 1 AND" + onWord()), kWakes);
  EXPECT_EQ(count(*db, "SELECT SUM(calls) FROM futex_summary WHERE op = 0 AND" + onWord()), kWaits + kTimed);
  EXPECT_EQ(count(*db, "SELECT SUM(errors) FROM futex_summary WHERE op = 0 AND" + onWord()), kWaits + kTimed);
  EXPECT_EQ(count(*db, "SELECT SUM(errors) FROM futex_summary WHERE op = 1 AND" + onWord()), 0);
  // The summary's longest WAIT is one of the 100 ms timeouts.
  EXPECT_EQ(count(*db, "SELECT MAX(max_ns) BETWEEN 99000000 AND 400000000 FROM futex_summary WHERE op = 0 AND" +
                           onWord()),
            1);
  // Details (default --futex-min-wait 0): one row per call, with its result.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM futex_event WHERE op = 1 AND result = 0 AND" + onWord()), kWakes);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM futex_event WHERE op = 0 AND result = -11 AND" + onWord()), kWaits);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM futex_event WHERE op = 0 AND result = -110 AND" + onWord()), kTimed);
  // Durations: the timed waits slept their 100 ms (generous upper bound: the
  // machine may be busy); a wait that returns EAGAIN never sleeps.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM futex_event WHERE result = -110 AND duration_ns BETWEEN 99000000 AND "
                       "400000000 AND" + onWord()),
            kTimed);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM futex_event WHERE result = -11 AND duration_ns < 50000000 AND" +
                           onWord()),
            kWaits);
  // Per-address aggregation: one thread, waiting and waking on this word.
  const std::string word = " FROM futex_by_address WHERE uaddr = " + uaddr_;
  EXPECT_EQ(count(*db, "SELECT threads" + word), 1);
  EXPECT_EQ(count(*db, "SELECT waiters" + word), 1);
  EXPECT_EQ(count(*db, "SELECT wait_calls" + word), kWaits + kTimed);
  EXPECT_EQ(count(*db, "SELECT wake_calls" + word), kWakes);
  EXPECT_EQ(count(*db, "SELECT wait_ns >= " + std::to_string(kTimed * 99000000LL) + word), 1);
  EXPECT_EQ(count(*db, "SELECT errors" + word), kWaits + kTimed);
  // Per thread and op, and the diff/correlate contracts.
  EXPECT_EQ(count(*db, "SELECT calls FROM futex_by_thread_op WHERE comm = 'ntfutex' AND op_name = 'WAKE'"), kWakes);
  EXPECT_GE(count(*db, "SELECT COUNT(*) FROM futex_timeline WHERE kind = 'WAIT' AND detail LIKE 'ntfutex (%ETIMEDOUT'"),
            kTimed);
  EXPECT_GE(count(*db, "SELECT value FROM futex_breakdown WHERE dimension = 'op' AND key = 'WAKE'"), kWakes);
  EXPECT_GE(count(*db, "SELECT value FROM futex_metric WHERE name = 'futex calls'"), kWakes + kWaits + kTimed);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
  EXPECT_EQ(text(*db, "SELECT strategy FROM attachment WHERE family = 'futex' AND hook = 'futex_enter' AND "
                      "attached = 1"),
            "tracepoint");
  // The terminal view shows the thread and its commands.
  std::string out;
  ASSERT_EQ(testing::shell(std::string(NT_ANALYZER_BIN) + " futex " + path_ + " 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("ntfutex"), std::string::npos) << out;
  EXPECT_NE(out.find("WAIT"), std::string::npos) << out;
  // The report has the family's section.
  const std::string html = testing::tempPath("futex.html");
  ASSERT_EQ(testing::shell(std::string(NT_ANALYZER_BIN) + " report " + path_ + " -o " + html + " 2>&1", &out), 0)
      << out;
  const std::string page = testing::readFile(html);
  EXPECT_NE(page.find("Futex calls per thread and command"), std::string::npos);
  EXPECT_NE(page.find("ntfutex"), std::string::npos);
  std::remove(html.c_str());
}

TEST_F(FutexTest, MinWaitKeepsOnlyLongCallsInDetails) {
  recordFutexWorkload({"--futex-min-wait", "50000"});
  auto db = ingest();
  // Only the 100 ms waits are over 50 ms; the summary still counts every call.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM futex_event WHERE" + onWord()), kTimed);
  EXPECT_EQ(count(*db, "SELECT SUM(calls) FROM futex_summary WHERE" + onWord()), kWakes + kWaits + kTimed);
  EXPECT_GE(count(*db, "SELECT value FROM counter WHERE family = 'futex' AND name = 'below_min_wait' AND cpu = -1"),
            kWakes + kWaits);
}

TEST_F(FutexTest, EveryAttachStrategyCountsTheCalls) {
  for (const char* strategy : {"tracepoint", "tp_btf", "raw_tp"}) {
    SCOPED_TRACE(strategy);
    recordFutexWorkload({"--attach-strategy", strategy, "--mode", "summary"});
    auto db = ingest();
    EXPECT_EQ(count(*db, "SELECT SUM(calls) FROM futex_summary WHERE op = 1 AND" + onWord()), kWakes);
    EXPECT_EQ(count(*db, "SELECT SUM(calls) FROM futex_summary WHERE op = 0 AND" + onWord()), kWaits + kTimed);
    EXPECT_EQ(text(*db, "SELECT strategy FROM attachment WHERE family = 'futex' AND hook = 'futex_exit' AND "
                        "attached = 1"),
              strategy);
  }
}

}  // namespace
}  // namespace nettrail
