// Correlation and diff against real kernel drops: UDP bursts to a closed port
// in a network namespace at known wall-clock times, a generated ping log whose
// timeouts sit at those times (and at times with no drop), and two recordings
// with known differences for nettrail diff. Needs root, BTF and tracefs.
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "integration/netns.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::RecorderProcess;
using testing::VethPair;
using testing::runInNetns;
using testing::shell;

double wallSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string analyzer(const std::string& args, int* rc) {
  std::string out;
  *rc = shell(std::string(NT_ANALYZER_BIN) + " " + args + " 2>&1", &out);
  return out;
}

class CorrelateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    net_ = std::make_unique<VethPair>();
    ASSERT_TRUE(net_->ok()) << net_->error();
  }
  std::string netnsArg() { return std::to_string(testing::netnsInode(net_->ns_b)); }
  std::unique_ptr<VethPair> net_;
};

TEST_F(CorrelateTest, PingTimeoutsAreAttributedToRealDropsOrLateness) {
  const std::string ntr = testing::tempPath("corr.ntr"), db = testing::tempPath("corr.db");
  const std::string log = testing::tempPath("ping.txt");
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start({"--netns", netnsArg(), "-o", ntr, "--force", "-i", "200ms"})) << recorder.output();
  std::vector<double> bursts;
  for (int i = 0; i < 3; ++i) {
    usleep(800 * 1000);
    bursts.push_back(wallSeconds());
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7201, 5) == 5 ? 0 : 1; }), 0);
  }
  usleep(800 * 1000);
  ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  int rc = 0;
  std::string out = analyzer("ingest " + ntr + " -o " + db + " --force", &rc);
  ASSERT_EQ(rc, 0) << out;

  // k = 3 timeouts 50 ms after each burst; m = 2 timeouts 400 ms after the
  // first two bursts, where nothing was dropped (window 200 ms).
  std::string text = "PING " + net_->ip_b + " (" + net_->ip_b + ") 56(84) bytes of data.\n";
  int seq = 1;
  auto line = [&](double t, const std::string& rest) {
    char stamp[64];
    std::snprintf(stamp, sizeof(stamp), "[%.6f] ", t);
    text += stamp + rest + "\n";
  };
  line(bursts[0] - 0.3, "64 bytes from " + net_->ip_b + ": icmp_seq=" + std::to_string(seq++) + " ttl=64 time=0.05 ms");
  for (size_t i = 0; i < bursts.size(); ++i) {
    line(bursts[i] + 0.05, "no answer yet for icmp_seq=" + std::to_string(seq++));
    if (i < 2) line(bursts[i] + 0.4, "no answer yet for icmp_seq=" + std::to_string(seq++));
  }
  std::ofstream(log) << text;
  out = analyzer("import " + db + " " + log + " --format ping", &rc);
  ASSERT_EQ(rc, 0) << out;
  out = analyzer("correlate " + db + " --window 200", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("5 alerts: 3 with a kernel drop within \u00b1200 ms, 2 with no drop (late only)"),
            std::string::npos)
      << out;
  out = analyzer("query " + db + " \"SELECT group_concat(verdict || ':' || drops, ' ') FROM (SELECT * FROM "
                 "monitor_alert ORDER BY alert_id)\" --format csv", &rc);
  EXPECT_NE(out.find("drop:5 no drop:0 drop:5 no drop:0 drop:5"), std::string::npos) << out;
  for (const std::string& f : {ntr, db, log}) std::remove(f.c_str());
}

TEST_F(CorrelateTest, DiffOfFortyNoSocketAgainstTenNetfilterDrops) {
  const std::string before = testing::tempPath("before.ntr"), after = testing::tempPath("after.ntr");
  const std::string html = testing::tempPath("diff.html");
  {
    RecorderProcess recorder;
    ASSERT_TRUE(recorder.start({"--netns", netnsArg(), "-o", before, "--force", "-i", "200ms"})) << recorder.output();
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7202, 40) == 40 ? 0 : 1; }), 0);
    usleep(300 * 1000);
    ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  }
  ASSERT_EQ(shell("ip netns exec " + net_->ns_b +
                  " nft 'add table inet ntdiff; add chain inet ntdiff in { type filter hook input priority 0; }; "
                  "add rule inet ntdiff in udp dport 7203 drop'"),
            0);
  {
    RecorderProcess recorder;
    ASSERT_TRUE(recorder.start({"--netns", netnsArg(), "-o", after, "--force", "-i", "200ms"})) << recorder.output();
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7203, 10) == 10 ? 0 : 1; }), 0);
    usleep(300 * 1000);
    ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  }
  int rc = 0;
  std::string out = analyzer("diff " + before + " " + after + " -o " + html, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("drops: 40 \u2192 10 (\u221275.0%)"), std::string::npos) << out;
  EXPECT_NE(out.find("Changes by reason (drop)"), std::string::npos) << out;
  // The per-reason table: NO_SOCKET 40 -> 0 (gone), NETFILTER_DROP 0 -> 10 (new).
  EXPECT_NE(out.find("NO_SOCKET"), std::string::npos) << out;
  EXPECT_NE(out.find("gone"), std::string::npos) << out;
  EXPECT_NE(out.find("NETFILTER_DROP"), std::string::npos) << out;
  EXPECT_NE(out.find("new"), std::string::npos) << out;
  const std::string page = testing::readFile(html);
  EXPECT_NE(page.find("drops: 40 \u2192 10 (\u221275.0%)"), std::string::npos);
  EXPECT_NE(page.find("NETFILTER_DROP"), std::string::npos);
  for (const std::string& f : {before, after, html}) std::remove(f.c_str());
}

}  // namespace
}  // namespace nettrail
