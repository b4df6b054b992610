// CPU family against a real spinning thread: nt_workload's "ntspinner" spins
// 1.5 s between idle stretches at real-time priority; the 0.5 s samples must
// show it as bursts, and nothing else of the process. Needs root (to read another process's /proc
// entries in every case) and the recorder's usual requirements.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"
#include "integration/workload.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"
#include "views/text_views.h"

namespace nettrail {
namespace {

using testing::RecorderProcess;
using testing::Workload;

TEST(CpuTest, SpinningThreadShowsAsABurst) {
  NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
  const std::string path = testing::tempPath("cpu.ntr");
  Workload workload;
  ASSERT_TRUE(workload.start(testing::tempPath("nt_workload_cpu"), {"spin", "1500"}));
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start({"--families", "cpu", "-p", std::to_string(workload.pid()), "--cpu-interval", "500ms", "-o", path,
                               "--force"}))
      << recorder.output();
  const pid_t pid = workload.pid();
  workload.go();
  EXPECT_EQ(workload.wait(), 0);
  ASSERT_EQ(recorder.stop(), 0) << recorder.output();

  auto db = Db::open(":memory:");
  ASSERT_TRUE(db.isOk());
  Status status = ingestRecordings({path}, **db, IngestOptions{});
  ASSERT_TRUE(status.isOk()) << status.message();
  auto count = [&](const std::string& sql) {
    auto v = (*db)->queryInt(sql);
    EXPECT_TRUE(v.isOk()) << v.status().message();
    return v.isOk() ? *v : -1;
  };
  // At least two whole 0.5 s intervals fall inside the 1.5 s spin, and the
  // spinner runs at real-time priority (nt_workload), so both are bursts
  // (>= 80% of a CPU) however busy the machine is.
  EXPECT_GE(count("SELECT COUNT(*) FROM cpu_burst WHERE comm = 'ntspinner'"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM cpu_burst WHERE comm != 'ntspinner'"), 0);
  // Its CPU time over the recording is the spin, less real-time throttling
  // (5%) and less what it used after its last sample (up to one interval: a
  // thread that exits has no sample at its end).
  EXPECT_GE(count("SELECT cpu_ns FROM cpu_by_thread WHERE comm = 'ntspinner'"), 900'000'000);
  EXPECT_LE(count("SELECT cpu_ns FROM cpu_by_thread WHERE comm = 'ntspinner'"), 1'700'000'000);
  // The main thread idled around it.
  EXPECT_EQ(count("SELECT COUNT(*) FROM cpu_usage WHERE tid = " + std::to_string(pid) +
                  " AND percent > 20"),
            0);
  // The terminal view names the spinner among the busiest threads with its
  // bursts drawn as 8, 9 or X.
  std::ostringstream view;
  Status printed = printCpuView(**db, 3, view);
  ASSERT_TRUE(printed.isOk()) << printed.message();
  const std::string out = view.str();
  const std::string spinner = "  ntspinner (";
  const size_t row = out.find(spinner, out.find("Busiest 3 threads"));
  ASSERT_NE(row, std::string::npos) << out;
  const size_t digits = out.find('\n', row) + 1;
  const std::string line = out.substr(digits, out.find('\n', digits) - digits);
  EXPECT_NE(line.find_first_of("89X"), std::string::npos) << out;
  EXPECT_NE(out.find("Bursts (>= 80% of one CPU in an interval):"), std::string::npos) << out;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nettrail
