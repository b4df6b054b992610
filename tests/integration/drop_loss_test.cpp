// Loss accounting against real overflows and failures: a ring too small for a
// burst, a recorder killed mid-storm, a full disk. Every reader (info,
// loss_summary, the report) must show the figure the recorder printed, once.
// Needs root, BTF and tracefs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/db.h"
#include "integration/netns.h"
#include "integration/recorded_db.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::RecorderProcess;
using testing::VethPair;
using testing::runInNetns;
using testing::shell;

// "<number> <word>" from the recorder's closing line "... N events, M lost, ...".
int64_t closingFigure(const std::string& output, const std::string& word) {
  const size_t line = output.rfind(" s, ");
  if (line == std::string::npos) return -1;
  const size_t at = output.find(" " + word + ",", line);
  if (at == std::string::npos) return -1;
  size_t start = output.rfind(' ', at - 1);
  return std::atoll(output.c_str() + start + 1);
}

class DropLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    net_ = std::make_unique<VethPair>();
    ASSERT_TRUE(net_->ok()) << net_->error();
    path_ = testing::tempPath("loss.ntr");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }
  int64_t count(Db& db, const std::string& sql) { return testing::queryCount(db, sql); }
  // The counter's total row (cpu -1), which the recorder always writes.
  int64_t counter(Db& db, const std::string& name) {
    return count(db, "SELECT value FROM counter WHERE family = 'drop' AND cpu = -1 AND name = '" + name + "'");
  }

  std::unique_ptr<VethPair> net_;
  std::string path_;
};

TEST_F(DropLossTest, RingOverflowIsCountedOnceEverywhereAndMatchesTheClosingLine) {
  // A 4 KiB ring holds about 28 records: a burst of 20000 drops overflows it.
  const std::string out = testing::recordWhile(
      {"--netns", testing::netnsArg(net_->ns_b), "--ring-size", "4K", "--mode", "details", "--no-stack-trace", "-o",
       path_, "--force"},
      [&] { EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7101, 20000) == 20000 ? 0 : 1; }), 0); });
  const int64_t events = closingFigure(out, "events");
  const int64_t lost = closingFigure(out, "lost");
  ASSERT_GT(events, 0) << out;
  ASSERT_GT(lost, 0) << "a 4 KiB ring did not overflow:\n" << out;

  auto db = testing::ingestForTest({path_});
  ASSERT_TRUE(db);
  // The kernel's own count: every drop that passed the filters was either
  // written to the ring (and recorded) or refused (and counted).
  const int64_t passed = counter(*db, "kfree_skb_seen") - counter(*db, "normal_free_skipped") -
                         counter(*db, "filtered_out");
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), events);
  EXPECT_EQ(counter(*db, "ring_reserve_failed"), lost) << out;
  EXPECT_EQ(events + lost, passed) << out;
  EXPECT_GE(events + lost, 20000) << out;
  // Per-CPU rows are there too, and are not added to their total.
  EXPECT_EQ(count(*db, "SELECT SUM(value) FROM counter WHERE family = 'drop' AND name = 'ring_reserve_failed' AND "
                       "cpu >= 0"),
            lost);
  EXPECT_EQ(count(*db, "SELECT SUM(value) FROM loss_summary"), lost);
  EXPECT_EQ(count(*db, "SELECT value FROM loss_summary WHERE name = 'ring_reserve_failed'"), lost);

  std::string info;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " info " + path_, &info), 0) << info;
  EXPECT_NE(info.find("drop ring_reserve_failed = " + std::to_string(lost) + " events not recorded"),
            std::string::npos)
      << info;
  const std::string html = testing::tempPath("loss.html");
  std::string report_out;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " report " + path_ + " -o " + html, &report_out), 0) << report_out;
  const std::string page = testing::readFile(html);
  EXPECT_NE(page.find("[\"recorder\",\"drop\",\"ring_reserve_failed\"," + std::to_string(lost) + ",null]"),
            std::string::npos)
      << "the report does not show " << lost << " lost";
  std::remove(html.c_str());
}

}  // namespace
}  // namespace nettrail
