// kmsg family against the real kernel log: lines the kernel logs while
// recording (a bridge port changing state in a test namespace) and a line the
// test writes to /dev/kmsg are recorded with the kernel's sequence numbers,
// levels and facilities, their times mapped onto CLOCK_BOOTTIME within
// microseconds of when they were logged; lines logged before the recording are
// not; --kmsg-max-lines bounds the count and counts the rest as lost. Needs
// root (reading and writing /dev/kmsg).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <sstream>

#include "core/db.h"
#include "integration/netns.h"
#include "integration/recorded_db.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::queryCount;
using testing::queryText;
using testing::RecorderProcess;
using testing::shell;

int64_t boottime() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Writes one line to the kernel log as a user-space program does ("<12>" =
// facility user, level warning), bracketed by CLOCK_BOOTTIME reads.
bool writeKmsg(const std::string& line, int64_t* before, int64_t* after) {
  const int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::string record = "<12>" + line + "\n";
  *before = boottime();
  const bool ok = write(fd, record.data(), record.size()) == static_cast<ssize_t>(record.size());
  *after = boottime();
  close(fd);
  return ok;
}

// Tolerance for a mapped line time: the kernel's microsecond truncation, the
// clock measurement's own uncertainty, and the scheduler clock's spread
// between CPUs (a few microseconds on this machine kind).
constexpr int64_t kToleranceNs = 100'000;

TEST(KmsgTest, KernelLinesDuringTheRecordingWithMappedTimes) {
  NT_REQUIRE(Requirement::kRoot | Requirement::kBtf);
  const std::string path = testing::tempPath("kmsg.ntr");
  const std::string tag = "nettrail-kmsg-test-" + std::to_string(getpid());
  int64_t before = 0, after = 0;
  ASSERT_TRUE(writeKmsg(tag + " before", &before, &after)) << "write /dev/kmsg";
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start({"--families", "kmsg", "-o", path, "--force"})) << recorder.output();
  int64_t during_before = 0, during_after = 0;
  ASSERT_TRUE(writeKmsg(tag + " during \x1b[31mred", &during_before, &during_after));
  // A bridge port going through its states makes the kernel log real lines
  // (net/bridge/br_stp.c: "port 1(...) entered blocking state").
  const std::string ns = "ntkmsg" + std::to_string(getpid() % 100000);
  const int64_t bridge_before = boottime();
  const int rc = shell("ip netns add " + ns + " && ip -n " + ns + " link add ntkbr0 type bridge && ip -n " + ns +
                       " link add ntkv0 type veth peer name ntkv1 && ip -n " + ns +
                       " link set ntkv0 master ntkbr0 && ip -n " + ns + " link set ntkv0 up && ip -n " + ns +
                       " link set ntkv1 up && ip -n " + ns + " link set ntkbr0 up");
  usleep(300 * 1000);
  shell("ip netns del " + ns);
  usleep(200 * 1000);
  const int64_t bridge_after = boottime();
  ASSERT_EQ(rc, 0) << "bridge set-up in " << ns;
  ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  ASSERT_TRUE(writeKmsg(tag + " after", &before, &after));

  auto db = testing::ingestForTest({path});
  ASSERT_TRUE(db);
  // Only the line written while recording, with its facility and level.
  EXPECT_EQ(queryCount(*db, "SELECT COUNT(*) FROM kmsg_line WHERE text LIKE '" + tag + "%'"), 1);
  EXPECT_EQ(queryCount(*db, "SELECT COUNT(*) FROM kmsg_event WHERE text LIKE '" + tag +
                                " during%' AND facility_name = 'user' AND level_name = 'warning'"),
            1);
  // The kernel escaped the escape character; the database keeps its \xNN form.
  EXPECT_EQ(queryCount(*db, "SELECT COUNT(*) FROM kmsg_line WHERE text LIKE '%during \\x1b[31mred'"), 1);
  const int64_t during = queryCount(*db, "SELECT time_ns FROM kmsg_line WHERE text LIKE '" + tag + " during%'");
  const int64_t uncertainty = queryCount(*db, "SELECT MAX(uncertainty_ns) FROM kmsg_clock");
  EXPECT_EQ(queryText(*db, "SELECT DISTINCT method FROM kmsg_clock"), "perf");
  EXPECT_GE(during, during_before - kToleranceNs - uncertainty);
  EXPECT_LE(during, during_after + kToleranceNs + uncertainty);
  // The bridge's own lines: logged by the kernel, in order, inside the window.
  const std::string bridge_lines =
      "FROM kmsg_event WHERE facility_name = 'kern' AND text LIKE 'ntkbr0: port 1(ntkv0) entered %'";
  EXPECT_GE(queryCount(*db, "SELECT COUNT(*) " + bridge_lines), 2);
  EXPECT_GE(queryCount(*db, "SELECT MIN(time_ns) " + bridge_lines), bridge_before - kToleranceNs - uncertainty);
  EXPECT_LE(queryCount(*db, "SELECT MAX(time_ns) " + bridge_lines), bridge_after + kToleranceNs + uncertainty);
  // Sequence numbers increase with time, and nothing was overwritten.
  EXPECT_EQ(queryCount(*db, "SELECT COUNT(*) FROM kmsg_line a JOIN kmsg_line b ON b.seq > a.seq "
                            "WHERE b.time_ns < a.time_ns - 1000"),
            0);
  EXPECT_EQ(queryCount(*db, "SELECT COALESCE(SUM(value), 0) FROM counter WHERE family = 'kmsg' AND "
                            "name = 'lines_overwritten'"),
            0);
  EXPECT_EQ(queryCount(*db, "SELECT COALESCE(SUM(value), 0) FROM counter WHERE family = 'kmsg' AND "
                            "name = 'lines' AND cpu = -1"),
            queryCount(*db, "SELECT COUNT(*) FROM kmsg_line"));
  // The terminal view escapes what the kernel gave.
  std::ostringstream view;
  std::string out;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " kmsg " + path, &out), 0) << out;
  EXPECT_NE(out.find(tag + " during \\x5cx1b[31mred"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  std::remove(path.c_str());
}

TEST(KmsgTest, MaxLinesBoundsTheRecordingAndCountsTheRest) {
  NT_REQUIRE(Requirement::kRoot | Requirement::kBtf);
  const std::string path = testing::tempPath("kmsg-max.ntr");
  const std::string tag = "nettrail-kmsg-limit-" + std::to_string(getpid());
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start({"--families", "kmsg", "--kmsg-max-lines", "3", "-o", path, "--force"}))
      << recorder.output();
  for (int i = 0; i < 6; ++i) {
    int64_t before = 0, after = 0;
    ASSERT_TRUE(writeKmsg(tag + " " + std::to_string(i), &before, &after));
  }
  usleep(300 * 1000);
  ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  auto db = testing::ingestForTest({path});
  ASSERT_TRUE(db);
  // Other lines the machine logs meanwhile count against the same limit.
  EXPECT_EQ(queryCount(*db, "SELECT COUNT(*) FROM kmsg_line"), 3);
  EXPECT_GE(queryCount(*db, "SELECT value FROM counter WHERE family = 'kmsg' AND name = 'lines_over_limit' "
                            "AND cpu = -1 ORDER BY rowid DESC LIMIT 1"),
            3);
  // Data loss is on the first screen.
  EXPECT_GE(queryCount(*db, "SELECT COUNT(*) FROM loss_summary WHERE name = 'lines_over_limit'"), 1);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nettrail
