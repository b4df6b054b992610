// Locks family against real contention: nt_workload's "ntholder" holds a
// pthread rwlock (or mutex) for a known time while "ntwaiter" blocks on it.
// The recording must name the lock address, waiter, holder and kind, count
// one wait per round with the hold time as its length, and resolve both
// threads' user stacks from the recording alone (the binary is deleted before
// ingest). Needs root, BTF and uprobes.
#include <gtest/gtest.h>
#include <unistd.h>

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

// Waits are the holder's HOLD_MS minus the futex wake-up of the waiter before it
// calls the lock (microseconds, but up to tens of ms on a busy 2-CPU machine,
// and once more than 60 ms at load 11 with the uprobe traps), plus the
// waiter's own wake-up after the unlock. The lower bound only has to tell a
// wait for this hold from a spurious one (which would be microseconds).
constexpr long kHoldMs = 200;
constexpr int kRounds = 4;
constexpr int64_t kMinWaitNs = (kHoldMs / 2) * 1'000'000;
constexpr int64_t kMaxWaitNs = (kHoldMs + 150) * 1'000'000;

class LocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    path_ = testing::tempPath("locks.ntr");
    binary_ = testing::tempPath("nt_workload_locks");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }

  // Runs the workload in `mode` under the recorder; the binary is gone when this returns.
  void record(const std::string& mode, const std::vector<std::string>& extra = {}) {
    Workload workload;
    ASSERT_TRUE(workload.start(binary_, {mode, std::to_string(kHoldMs), std::to_string(kRounds)}));
    pid_ = workload.pid();
    lock_ = workload.lock;
    holder_ = workload.holder_tid;
    waiter_ = workload.waiter_tid;
    ASSERT_NE(lock_, 0u);
    ASSERT_NE(holder_, 0u);
    ASSERT_NE(waiter_, 0u);
    std::vector<std::string> args = {"--families", "locks", "-p", std::to_string(pid_), "-o", path_, "--force",
                                     "-i", "200ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    RecorderProcess recorder;
    ASSERT_TRUE(recorder.start(args)) << recorder.output();
    workload.go();
    EXPECT_EQ(workload.wait(), 0);
    int rc = recorder.stop();
    ASSERT_EQ(rc, 0) << recorder.output();
    workload.removeBinary();
    ASSERT_NE(access(binary_.c_str(), F_OK), 0);
  }

  std::unique_ptr<Db> ingest() { return testing::ingestForTest({path_}); }
  int64_t count(Db& db, const std::string& sql) { return testing::queryCount(db, sql); }
  std::string text(Db& db, const std::string& sql) { return testing::queryText(db, sql); }

  // The waiter's waits on the workload's lock, with the expected holder.
  std::string waits(const std::string& extra_condition = "") const {
    return "SELECT * FROM locks_wait WHERE lock_address = " + std::to_string(lock_) +
           " AND tid = " + std::to_string(waiter_) + (extra_condition.empty() ? "" : " AND " + extra_condition);
  }

  // Innermost symbols of a stack, innermost first, joined by " <- ".
  std::string frames(Db& db, const std::string& stack_column) {
    return text(db, "SELECT group_concat(symbol, ' <- ') FROM (SELECT f.symbol FROM stack_frame f WHERE f.stack_id = "
                    "(SELECT " + stack_column + " FROM (" + waits() + ") LIMIT 1) ORDER BY f.frame_index LIMIT 2)");
  }

  std::string path_, binary_;
  pid_t pid_ = 0;
  unsigned long lock_ = 0, holder_ = 0, waiter_ = 0;
};

TEST_F(LocksTest, RwlockWaitsNameWaiterHolderLockAndStacks) {
  record("rwlock");
  auto db = ingest();
  // One wait per round: rdlock in even rounds, wrlock in odd ones, each blocked
  // by the holder's write lock and about as long as the hold.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits() + ")"), kRounds);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits("kind = 'read'") + ")"), kRounds / 2);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits("kind = 'write'") + ")"), kRounds / 2);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits("holder_tid = " + std::to_string(holder_) + " AND result = 0") +
                           ")"),
            kRounds);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits("wait_ns BETWEEN " + std::to_string(kMinWaitNs) + " AND " +
                                                        std::to_string(kMaxWaitNs)) +
                           ")"),
            kRounds);
  // The holder released during each wait: its whole hold is at least HOLD_MS.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits("holder_hold_ns BETWEEN " +
                                                        std::to_string(kHoldMs * 1'000'000) + " AND " +
                                                        std::to_string(kMaxWaitNs)) +
                           ")"),
            kRounds);
  // The holder's own locks are uncontended: at most the probes' first-hit cost
  // (tens of microseconds under load), never a real wait.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM locks_wait WHERE wait_ns >= 1000000 AND tid = " + std::to_string(holder_)),
            0);
  // Stacks from the recording alone: the waiter's innermost frame is the
  // function that called the lock; the holder's is where it acquired.
  EXPECT_EQ(frames(*db, "user_stack_id"), "nt_lock_waiter_leaf <- nt_lock_waiter_thread");
  EXPECT_EQ(frames(*db, "holder_user_stack_id"), "nt_lock_holder_leaf <- nt_lock_holder_thread");
  EXPECT_EQ(text(*db, "SELECT module FROM stack_frame f WHERE f.stack_id = (SELECT user_stack_id FROM (" + waits() +
                          ") LIMIT 1) AND frame_index = 0"),
            binary_);
  // Names and the views people read.
  EXPECT_EQ(text(*db, "SELECT waiter_comm || '<-' || holder_comm FROM locks_pairs WHERE waiter_tid = " +
                          std::to_string(waiter_) + " LIMIT 1"),
            "ntwaiter<-ntholder");
  char lock_text[32];
  std::snprintf(lock_text, sizeof(lock_text), "0x%lx", lock_);
  // (>=: the holder's uncontended calls may add a first-hit wait of some microseconds.)
  EXPECT_GE(count(*db, std::string("SELECT SUM(waits) FROM locks_by_lock WHERE lock = '") + lock_text + "'"), kRounds);
  EXPECT_GE(count(*db, std::string("SELECT MAX(max_ns) FROM locks_by_lock WHERE lock = '") + lock_text + "'"),
            kMinWaitNs);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM locks_timeline WHERE detail LIKE '%ntwaiter%held by ntholder%'"), kRounds);
  EXPECT_GE(count(*db, "SELECT value FROM locks_metric WHERE name = 'lock waits'"), kRounds);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM locks_breakdown WHERE dimension = 'waiter stack' AND key LIKE "
                       "'nt_lock_waiter_leaf <- nt_lock_waiter_thread%'"),
            1);
  // Summary mode saw the same waits as details.
  EXPECT_EQ(count(*db, "SELECT SUM(waits) FROM locks_summary WHERE lock_address = " + std::to_string(lock_)),
            count(*db, "SELECT COUNT(*) FROM locks_wait WHERE lock_address = " + std::to_string(lock_)));
  // Every core function attached by offset in the process's own libc.
  for (const char* hook : {"rwlock_rdlock", "rwlock_rdlock_return", "rwlock_wrlock", "rwlock_wrlock_return",
                           "rwlock_unlock", "mutex_lock", "mutex_lock_return", "mutex_unlock"}) {
    SCOPED_TRACE(hook);
    EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM attachment WHERE family = 'locks' AND attached = 1 AND "
                                     "hook = '") + hook + "' AND target LIKE '%libc.so%'"),
              1);
  }
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
}

TEST_F(LocksTest, MutexWaitsNameWaiterHolderLockAndStacks) {
  record("mutex", {"--mode", "details"});
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits("kind = 'mutex' AND holder_tid = " + std::to_string(holder_) +
                                                        " AND wait_ns BETWEEN " + std::to_string(kMinWaitNs) +
                                                        " AND " + std::to_string(kMaxWaitNs)) +
                           ")"),
            kRounds);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (" + waits() + ")"), kRounds);
  EXPECT_EQ(frames(*db, "user_stack_id"), "nt_lock_waiter_leaf <- nt_lock_waiter_thread");
  EXPECT_EQ(frames(*db, "holder_user_stack_id"), "nt_lock_holder_leaf <- nt_lock_holder_thread");
  // Details only: no summary rows.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM locks_summary"), 0);
}

TEST_F(LocksTest, MinimumWaitFiltersInTheKernel) {
  // A threshold above the hold: every wait is counted, none recorded.
  record("mutex", {"--lock-min-wait", std::to_string((kHoldMs + 500) * 1000)});
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM locks_wait"), 0);
  EXPECT_GE(count(*db, "SELECT value FROM counter WHERE family = 'locks' AND name = 'below_min_wait' AND cpu = -1"),
            kRounds);
  EXPECT_GE(count(*db, "SELECT value FROM counter WHERE family = 'locks' AND name = 'unlocks' AND cpu = -1"),
            2 * kRounds);
}

TEST_F(LocksTest, RecorderNeedsAPid) {
  RecorderProcess recorder;
  // Without -p the family refuses to start, naming what is missing.
  EXPECT_FALSE(recorder.start({"--families", "locks", "-o", path_, "--force", "-d", "1s"}));
  recorder.stop();
  EXPECT_NE(recorder.output().find("needs -p/--pid"), std::string::npos) << recorder.output();
}

}  // namespace
}  // namespace nettrail
