// Drop family against real kernel drops: traffic between two network
// namespaces produces known drops; the recording, the ingested database and
// the report must show exactly them. Needs root, BTF and tracefs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/db.h"
#include "ingest/ingest.h"
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

#define NT_REQUIRE_BPF() \
  NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs)

class DropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE_BPF();
    net_ = std::make_unique<VethPair>();
    ASSERT_TRUE(net_->ok()) << net_->error();
    path_ = testing::tempPath("drop.ntr");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }

  // Records while `traffic` runs; extra recorder args come first.
  void record(const std::vector<std::string>& extra, const std::function<void()>& traffic) {
    std::vector<std::string> args = extra;
    for (const char* a : {"-o", path_.c_str(), "--force", "-i", "200ms"}) args.push_back(a);
    recorder_output_ = testing::recordWhile(args, traffic);
  }

  std::unique_ptr<Db> ingest() { return testing::ingestForTest({path_}); }
  int64_t count(Db& db, const std::string& sql) { return testing::queryCount(db, sql); }
  std::string text(Db& db, const std::string& sql) { return testing::queryText(db, sql); }
  std::string netnsArg(const std::string& ns) { return testing::netnsArg(ns); }

  std::unique_ptr<VethPair> net_;
  std::string path_;
  std::string recorder_output_;
};

TEST_F(DropTest, TcpSynToClosedPortIsNoSocketInTcpV4Rcv) {
  record({"--netns", netnsArg(net_->ns_b)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::tcpConnectRefused(net_->ip_b, 7001, 25) == 25 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  const std::string flow = " FROM drop_event WHERE dst_port = 7001 AND l4 = 'TCP'";
  EXPECT_EQ(count(*db, "SELECT COUNT(*)" + flow), 25);
  EXPECT_EQ(count(*db, "SELECT COUNT(*)" + flow + " AND reason = 'NO_SOCKET'"), 25);
  EXPECT_EQ(count(*db, "SELECT COUNT(*)" + flow + " AND src_ip = '" + net_->ip_a + "' AND dst_ip = '" +
                           net_->ip_b + "' AND tcp_flags = 'S'"),
            25);
  EXPECT_EQ(text(*db, "SELECT i.name FROM drop_event d JOIN interface i USING (netns, ifindex) WHERE d.dst_port = 7001 LIMIT 1"),
            net_->if_b);
  EXPECT_EQ(text(*db, "SELECT location_text FROM drop_by_location LIMIT 1").rfind("tcp_v4_rcv+0x", 0), 0u)
      << text(*db, "SELECT location_text FROM drop_by_location LIMIT 1");
  // The kernel stack of these drops passes through tcp_v4_rcv and the veth receive path.
  EXPECT_GE(count(*db, "SELECT COUNT(DISTINCT f.stack_id) FROM stack_frame f JOIN drop_event d USING (stack_id) "
                       "WHERE d.dst_port = 7001 AND f.symbol = 'tcp_v4_rcv'"),
            1);
  // Summary mode counted the same drops in the kernel.
  EXPECT_EQ(count(*db, "SELECT SUM(drops) FROM drop_summary WHERE dst_port = 7001 AND reason = 'NO_SOCKET'"), 25);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
}

TEST_F(DropTest, UdpToClosedPortIsNoSocket) {
  record({"--netns", netnsArg(net_->ns_b)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7002, 30) == 30 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7002 AND l4 = 'UDP' AND reason = 'NO_SOCKET' "
                       "AND src_ip = '" + net_->ip_a + "'"),
            30);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7002 AND length = 40"), 30);
  EXPECT_EQ(text(*db, "SELECT location_text FROM drop_by_location WHERE drops = 30").rfind("__udp4_lib_rcv+0x", 0), 0u)
      << text(*db, "SELECT location_text FROM drop_by_location WHERE drops = 30");
}

TEST_F(DropTest, NftablesDropRuleIsNetfilterDrop) {
  ASSERT_EQ(shell("ip netns exec " + net_->ns_b +
                  " nft 'add table inet nttest; add chain inet nttest in { type filter hook input priority 0; }; "
                  "add rule inet nttest in udp dport 7003 drop'"),
            0);
  record({"--netns", netnsArg(net_->ns_b)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7003, 40) == 40 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7003 AND reason = 'NETFILTER_DROP'"), 40);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7003"), 40);
  EXPECT_GE(count(*db, "SELECT COUNT(*) FROM stack_frame f JOIN (SELECT DISTINCT stack_id FROM drop_event "
                       "WHERE dst_port = 7003) USING (stack_id) WHERE f.symbol = 'nf_hook_slow'"),
            1);
}

TEST_F(DropTest, QdiscOverflowMatchesTcCounters) {
  ASSERT_EQ(shell("ip netns exec " + net_->ns_a + " tc qdisc add dev " + net_->if_a +
                  " root tbf rate 1mbit burst 1600 limit 3200"),
            0);
  record({"--netns", netnsArg(net_->ns_a)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7004, 300, 1000) > 0 ? 0 : 1; }), 0);
    usleep(500 * 1000);
  });
  std::string tc;
  shell("ip netns exec " + net_->ns_a + " tc -s qdisc show dev " + net_->if_a, &tc);
  size_t at = tc.find("dropped ");
  ASSERT_NE(at, std::string::npos) << tc;
  const int64_t tc_dropped = std::stoll(tc.substr(at + 8));
  ASSERT_GT(tc_dropped, 0) << tc;
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE reason = 'QDISC_DROP' AND dst_port = 7004"), tc_dropped);
  EXPECT_EQ(text(*db, "SELECT device FROM drop_by_device LIMIT 1"), net_->if_a);
}

// A multi-queue tap whose queue is open but never read: tun_net_xmit drops
// with FULL_RING once the ring (txqueuelen) is full, as a stalled VM would.
TEST_F(DropTest, TapNeverReadIsFullRingInTunNetXmit) {
  const std::string tap = "tp" + net_->if_b.substr(2);
  int tap_fd = -1;
  ASSERT_EQ(runInNetns(net_->ns_b, [&] { return 0; }), 0);
  // The tap is created and opened inside B by a child that then waits.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t holder = fork();
  if (holder == 0) {
    int fd = open(("/run/netns/" + net_->ns_b).c_str(), O_RDONLY);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(1);
    int tun = open("/dev/net/tun", O_RDWR);
    struct ifreq ifr = {};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    std::strncpy(ifr.ifr_name, tap.c_str(), IFNAMSIZ - 1);
    if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr) != 0) _exit(2);
    if (write(ready[1], "x", 1) != 1) _exit(3);
    pause();  // hold the queue open, never read
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  (void)tap_fd;
  ASSERT_EQ(shell("ip -n " + net_->ns_b + " link set " + tap + " txqueuelen 16 up && ip -n " + net_->ns_b +
                  " addr add 10.78.0.1/24 dev " + tap + " && ip -n " + net_->ns_b +
                  " neigh add 10.78.0.2 lladdr 02:00:00:00:00:02 dev " + tap),
            0);
  record({"--netns", netnsArg(net_->ns_b), "-n", tap}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_b, [&] { return testing::udpSend("10.78.0.2", 7005, 200, 100) > 0 ? 0 : 1; }), 0);
  });
  std::string tx_dropped;
  shell("ip netns exec " + net_->ns_b + " cat /sys/class/net/" + tap + "/statistics/tx_dropped", &tx_dropped);
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  const int64_t expected = std::stoll(tx_dropped);
  ASSERT_GT(expected, 0);
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE reason = 'FULL_RING' AND dst_port = 7005"), expected);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7005 AND dst_ip = '10.78.0.2' "
                       "AND eth_dst = '02:00:00:00:00:02'"),
            expected);
  EXPECT_EQ(text(*db, "SELECT location_text FROM drop_by_location LIMIT 1").rfind("tun_net_xmit+0x", 0), 0u)
      << text(*db, "SELECT location_text FROM drop_by_location LIMIT 1");
}

TEST_F(DropTest, InKernelFiltersKeepOnlyMatchingDrops) {
  record({"--netns", netnsArg(net_->ns_b), "--dst-port", "7006", "--l4-protocol", "udp", "--src-ip", net_->ip_a,
          "-n", net_->if_b},
         [&] {
           EXPECT_EQ(runInNetns(net_->ns_a, [&] {
                       int ok = testing::udpSend(net_->ip_b, 7006, 10) == 10;
                       ok &= testing::udpSend(net_->ip_b, 7007, 10) == 10;
                       ok &= testing::tcpConnectRefused(net_->ip_b, 7006, 5) == 5;
                       return ok ? 0 : 1;
                     }),
                     0);
         });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 10);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7006 AND l4 = 'UDP'"), 10);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM counter WHERE family = 'drop' AND name = 'filtered_out' AND cpu = -1 "
                       "AND value >= 15"),
            1);
  EXPECT_EQ(text(*db, "SELECT value FROM probe_option WHERE family = 'drop' AND key = 'dst-port'"), "7006");
}

TEST_F(DropTest, EveryAttachStrategyRecordsTheSameDrops) {
  for (const char* strategy : {"tp_btf", "raw_tp", "tracepoint"}) {
    SCOPED_TRACE(strategy);
    record({"--netns", netnsArg(net_->ns_b), "--attach-strategy", strategy}, [&] {
      EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7008, 12) == 12 ? 0 : 1; }), 0);
    });
    auto db = ingest();
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7008 AND reason = 'NO_SOCKET'"), 12);
    EXPECT_EQ(text(*db, "SELECT strategy FROM attachment WHERE family = 'drop' AND attached = 1"), strategy);
  }
}

TEST_F(DropTest, HostileProcessNameIsStoredExactlyAndEscapedInTheReport) {
  const std::string hostile = "<svg onload=x>";
  record({"--netns", netnsArg(net_->ns_b)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7009, 5) == 5 ? 0 : 1; }, hostile), 0);
  });
  auto db = ingest();
  EXPECT_GE(count(*db, "SELECT COUNT(*) FROM drop_event d JOIN process p USING (tid) WHERE d.dst_port = 7009 "
                       "AND p.comm = '" + hostile + "'"),
            1);
  const std::string html = testing::tempPath("hostile.html");
  std::string out;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " report " + path_ + " -o " + html, &out), 0) << out;
  std::string page = testing::readFile(html);
  EXPECT_EQ(page.find(hostile), std::string::npos) << "raw process name in the report";
  EXPECT_NE(page.find("\\u003csvg onload=x\\u003e"), std::string::npos) << "escaped process name missing";
  std::remove(html.c_str());
}

TEST_F(DropTest, KilledRecorderLeavesAReadableRecording) {
  std::vector<std::string> args = {"--netns", netnsArg(net_->ns_b), "-o", path_, "--force"};
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start(args)) << recorder.output();
  EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7010, 20) == 20 ? 0 : 1; }), 0);
  usleep(2500 * 1000);  // past the 1 s batch flush
  EXPECT_EQ(recorder.stop(SIGKILL), -SIGKILL);
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7010"), 20);
  EXPECT_EQ(count(*db, "SELECT has_trailer FROM recording_file"), 0);
  EXPECT_GE(count(*db, "SELECT COUNT(*) FROM stats WHERE name LIKE '%trailer%'"), 1);
}

TEST_F(DropTest, RotationWritesSelfContainedSegments) {
  const std::string base = testing::tempPath("rot.ntr");
  std::vector<std::string> args = {"--netns", netnsArg(net_->ns_b), "-o", base, "--force", "--rotate-time", "1s"};
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start(args)) << recorder.output();
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7011, 10) == 10 ? 0 : 1; }), 0);
    usleep(1200 * 1000);
  }
  ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  std::vector<std::string> files = {base};
  for (int i = 1; i < 20; ++i) {
    std::string seg = base;
    seg.insert(seg.rfind('.'), "." + std::to_string(i));
    if (access(seg.c_str(), F_OK) == 0) files.push_back(seg);
  }
  ASSERT_GE(files.size(), 3u) << recorder.output();
  int64_t total = 0;
  for (const std::string& f : files) {
    auto db = testing::ingestForTest({f});
    ASSERT_TRUE(db) << f;
    total += count(*db, "SELECT COUNT(*) FROM drop_event WHERE dst_port = 7011");
    // Each segment carries the tables its events refer to.
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event d WHERE d.stack_id IS NOT NULL AND NOT EXISTS "
                          "(SELECT 1 FROM stack s WHERE s.stack_id = d.stack_id)"),
              0)
        << f;
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event d WHERE d.ifindex <> 0 AND NOT EXISTS "
                          "(SELECT 1 FROM interface i WHERE i.netns = d.netns AND i.ifindex = d.ifindex)"),
              0)
        << f;
    std::remove(f.c_str());
  }
  EXPECT_EQ(total, 30);
}

}  // namespace
}  // namespace nettrail
