// Off-CPU family against a real sleeping thread: nt_workload's "ntsleeper"
// sleeps a known time in known functions; the recording must have those
// periods with the right duration and a user stack symbolized from the
// recording alone (the binary is deleted before ingest). Needs root, BTF, tracefs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"
#include "integration/recorded_db.h"
#include "integration/workload.h"
#include "report/report.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"
#include "views/text_views.h"

namespace nettrail {
namespace {

using testing::RecorderProcess;
using testing::Workload;

class OffcpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    path_ = testing::tempPath("offcpu.ntr");
    binary_ = testing::tempPath("nt_workload_copy");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }

  // Runs the sleeper under the recorder; the binary is gone when this returns.
  void recordSleeper(const std::vector<std::string>& extra, long ms, int count) {
    recordWorkload({"sleep", std::to_string(ms), std::to_string(count)}, extra);
  }

  void recordWorkload(const std::vector<std::string>& workload_args, const std::vector<std::string>& extra) {
    Workload workload;
    ASSERT_TRUE(workload.start(binary_, workload_args));
    pid_ = workload.pid();
    std::vector<std::string> args = {"--families", "offcpu", "-p", std::to_string(pid_), "-o", path_, "--force",
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

  std::string path_, binary_;
  pid_t pid_ = 0;
};

const char* const kSleeper = "(SELECT tid FROM process WHERE comm = 'ntsleeper')";

TEST_F(OffcpuTest, SleepingThreadHasItsPeriodsAndSymbolizedUserStack) {
  recordSleeper({"-m", "50000"}, 300, 4);
  auto db = ingest();
  // Four sleeps of 300 ms, each one off-CPU period of 300 ms plus wake-up latency
  // (generous: the test machine may be busy).
  EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM offcpu_event WHERE tid IN ") + kSleeper), 4);
  EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM offcpu_event WHERE tid IN ") + kSleeper +
                           " AND duration_ns BETWEEN 299000000 AND 500000000"),
            4);
  // Sleeping in nanosleep is TASK_INTERRUPTIBLE.
  EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM offcpu_event WHERE state = 1 AND tid IN ") + kSleeper), 4);
  // The hrtimer that ends each sleep wakes it; from interrupt context the
  // "waker" is whatever ran there, often the idle task (tid 0, stored as NULL).
  EXPECT_GE(count(*db, "SELECT value FROM counter WHERE family = 'offcpu' AND name = 'wakeups_seen' AND cpu = -1"),
            4);
  // User stack: leaf, middle, thread function, resolved after the binary was deleted.
  const std::string frames = std::string("SELECT f.frame_index, f.symbol, f.module FROM stack_frame f JOIN "
                                         "(SELECT DISTINCT user_stack_id FROM offcpu_event WHERE tid IN ") +
                             kSleeper + ") e ON f.stack_id = e.user_stack_id";
  EXPECT_EQ(text(*db, "SELECT symbol FROM (" + frames + ") WHERE frame_index = 0"), "nt_offcpu_sleep_leaf");
  EXPECT_EQ(text(*db, "SELECT symbol FROM (" + frames + ") WHERE frame_index = 1"), "nt_offcpu_sleep_middle");
  EXPECT_EQ(text(*db, "SELECT symbol FROM (" + frames + ") WHERE frame_index = 2"), "nt_sleeper_thread");
  EXPECT_EQ(text(*db, "SELECT module FROM (" + frames + ") WHERE frame_index = 0"), binary_);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM user_mapping WHERE pid = " + std::to_string(pid_) + " AND path = '" +
                           binary_ + "' AND length(build_id) = 40"),
            1);
  // Kernel stack: the sleep path.
  EXPECT_GE(count(*db, std::string("SELECT COUNT(*) FROM stack_frame f JOIN offcpu_event e ON f.stack_id = "
                                   "e.kernel_stack_id WHERE f.symbol LIKE '%nanosleep%' AND e.tid IN ") +
                           kSleeper),
            1);
  // Summary mode saw the same time.
  EXPECT_EQ(count(*db, std::string("SELECT SUM(periods) FROM offcpu_summary WHERE tid IN ") + kSleeper), 4);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
  EXPECT_EQ(text(*db, "SELECT user_top FROM offcpu_by_stack WHERE tid IN " + std::string(kSleeper) + " LIMIT 1")
                .rfind("nt_offcpu_sleep_leaf+0x", 0),
            0u);

  // The terminal view prints the pair offcputime-style: kernel frames, "--",
  // user frames innermost first, then the thread with its time.
  std::ostringstream view;
  Status printed = printOffcpuView(*db, 5, view);
  ASSERT_TRUE(printed.isOk()) << printed.message();
  const std::string out = view.str();
  const std::string sleeper_tid = text(*db, std::string("SELECT tid FROM process WHERE comm = 'ntsleeper'"));
  const size_t leaf = out.find("    nt_offcpu_sleep_leaf+0x");
  const size_t middle = out.find("    nt_offcpu_sleep_middle+0x");
  const size_t separator = out.rfind("    --\n", leaf);
  const size_t nanosleep = out.rfind("nanosleep", separator);
  ASSERT_NE(leaf, std::string::npos) << out;
  EXPECT_NE(middle, std::string::npos) << out;
  EXPECT_LT(leaf, middle);
  EXPECT_NE(separator, std::string::npos) << out;
  EXPECT_NE(nanosleep, std::string::npos) << out;
  EXPECT_NE(out.find("-                ntsleeper (" + sleeper_tid + ")", leaf), std::string::npos) << out;
  EXPECT_NE(out.find("Longest off-CPU periods:"), std::string::npos) << out;

  // The report's flame graph has the same path under the thread, outermost first.
  JsonReportBuilder report;
  report.beginSection("offcpu", "Off-CPU", "");
  Status flamed = report.flame("F", *db,
                               "SELECT SUM(total_ns) / 1e6, comm || ' (' || tid || ')', user_stack_id, "
                               "kernel_stack_id FROM offcpu_by_stack GROUP BY tid, user_stack_id, kernel_stack_id",
                               "ms");
  ASSERT_TRUE(flamed.isOk()) << flamed.message();
  const std::string json = report.toJson();
  const size_t thread = json.find("{\"n\":\"ntsleeper (" + sleeper_tid + ")\"");
  ASSERT_NE(thread, std::string::npos) << json;
  const size_t thread_fn = json.find("\"n\":\"nt_sleeper_thread [", thread);
  const size_t middle_fn = json.find("\"n\":\"nt_offcpu_sleep_middle [", thread_fn);
  const size_t leaf_fn = json.find("\"n\":\"nt_offcpu_sleep_leaf [", middle_fn);
  EXPECT_NE(thread_fn, std::string::npos);
  EXPECT_NE(middle_fn, std::string::npos);
  EXPECT_NE(leaf_fn, std::string::npos);
  EXPECT_NE(json.find("nanosleep", leaf_fn), std::string::npos);
}

TEST_F(OffcpuTest, BlockTimeRangeFiltersInTheKernel) {
  // -M below the sleep: the sleeps are filtered out in the kernel and counted.
  recordSleeper({"-m", "1000", "-M", "100000"}, 200, 2);
  auto db = ingest();
  EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM offcpu_event WHERE duration_ns >= 150000000 AND tid IN ") +
                           kSleeper),
            0);
  EXPECT_GE(count(*db, "SELECT value FROM counter WHERE family = 'offcpu' AND name = 'outside_block_time_range' "
                       "AND cpu = -1"),
            2);
}

TEST_F(OffcpuTest, EveryAttachStrategyRecordsTheSleeps) {
  for (const char* strategy : {"tp_btf", "raw_tp", "tracepoint"}) {
    SCOPED_TRACE(strategy);
    recordSleeper({"-m", "50000", "--attach-strategy", strategy, "--mode", "details"}, 100, 2);
    auto db = ingest();
    // Every sleep is recorded, or its switch was one the kernel skipped and
    // counted: a classic tracepoint's program does not run while a bpf() map
    // call (the recorder's own counter reads among them) holds the CPU's BPF
    // guard, and a CI run once lost one sleep that way.
    const int64_t sleeps = count(
        *db, std::string("SELECT COUNT(*) FROM offcpu_event WHERE duration_ns >= 99000000 AND tid IN ") + kSleeper);
    const int64_t misses = count(*db, "SELECT COALESCE(SUM(value), 0) FROM counter WHERE family = 'offcpu' AND "
                                      "name = 'bpf_recursion_misses' AND cpu = -1");
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM counter WHERE family = 'offcpu' AND name = 'bpf_recursion_misses'"), 1);
    EXPECT_LE(sleeps, 2);
    EXPECT_GE(sleeps + misses, 2) << sleeps << " sleeps recorded, " << misses << " runs skipped by the kernel";
    EXPECT_EQ(text(*db, "SELECT strategy FROM attachment WHERE family = 'offcpu' AND hook = 'sched_switch' AND "
                        "attached = 1"),
              strategy);
  }
}

TEST_F(OffcpuTest, EveryDistinctStackIsKept) {
  // 2048 sleeps, each from a different user stack. A stack map hashed by
  // bucket (BPF_MAP_TYPE_STACK_TRACE, 16384 buckets) refuses about a hundred
  // of them (a stack whose bucket another one holds); the stack store
  // (nettrail/stack.h) keeps every one.
  constexpr int kBits = 11;
  recordWorkload({"paths", std::to_string(kBits)}, {"-m", "500", "--mode", "details"});
  auto db = ingest();
  const std::string paths = "(SELECT tid FROM process WHERE comm = 'ntpaths')";
  const int64_t sleeps = count(*db, "SELECT COUNT(*) FROM offcpu_event WHERE tid IN " + paths);
  // A 1 ms sleep whose timer fires before the thread has left the CPU (a
  // busy host can hold a vCPU back that long) has no off-CPU period: a few
  // may be missing, not a hundred.
  EXPECT_LE(sleeps, 1 << kBits);
  EXPECT_GE(sleeps, (1 << kBits) - 16);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM offcpu_event WHERE user_stack_id IS NULL AND tid IN " + paths), 0);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT user_stack_id) FROM offcpu_event WHERE tid IN " + paths), sleeps);
  // Each stack is its own path: one frame per level, left or right.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (SELECT e.user_stack_id FROM offcpu_event e JOIN stack_frame f ON "
                       "f.stack_id = e.user_stack_id WHERE e.tid IN " + paths + " AND f.symbol IN "
                       "('nt_paths_left', 'nt_paths_right') GROUP BY e.user_stack_id HAVING COUNT(*) = " +
                       std::to_string(kBits) + ")"),
            sleeps);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
}

}  // namespace
}  // namespace nettrail
