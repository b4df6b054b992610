// Drop family: header parsing and filters on real drops of less common
// packets: 802.1Q-tagged frames, ICMP echo, IPv6; plus the recorder's refusal
// to run without privileges and size rotation with a file budget.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

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

class DropPacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    net_ = std::make_unique<VethPair>();
    ASSERT_TRUE(net_->ok()) << net_->error();
    path_ = testing::tempPath("drop-packet.ntr");
  }
  void TearDown() override { std::remove(path_.c_str()); }

  void record(std::vector<std::string> args, const std::function<void()>& traffic) {
    for (const char* a : {"-o", path_.c_str(), "--force", "--mode", "details"}) args.push_back(a);
    testing::recordWhile(args, traffic);
  }

  std::unique_ptr<Db> ingest() { return testing::ingestForTest({path_}); }
  int64_t count(Db& db, const std::string& sql) { return testing::queryCount(db, sql); }
  std::string netnsArg(const std::string& ns) { return testing::netnsArg(ns); }

  std::unique_ptr<VethPair> net_;
  std::string path_;
};

// Sends `count` Ethernet frames tagged with `vlan` carrying IPv4/UDP from
// src to dst:port out of `ifname` (inside the current namespace).
int sendTaggedUdp(const std::string& ifname, uint16_t vlan, const std::string& src, const std::string& dst,
                  uint16_t port, int count) {
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) return 0;
  sockaddr_ll addr = {};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  addr.sll_halen = 6;
  unsigned char frame[64] = {};
  const unsigned char dst_mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  const unsigned char src_mac[6] = {0x02, 0x66, 0x77, 0x88, 0x99, 0xaa};
  std::memcpy(frame, dst_mac, 6);
  std::memcpy(frame + 6, src_mac, 6);
  frame[12] = 0x81, frame[13] = 0x00;
  frame[14] = static_cast<unsigned char>(vlan >> 8), frame[15] = static_cast<unsigned char>(vlan);
  frame[16] = 0x08, frame[17] = 0x00;
  unsigned char* ip = frame + 18;
  ip[0] = 0x45;
  ip[3] = 28 + 8;  // total length: IP 20 + UDP 8 + 8 payload
  ip[8] = 33;      // TTL
  ip[9] = 17;
  inet_pton(AF_INET, src.c_str(), ip + 12);
  inet_pton(AF_INET, dst.c_str(), ip + 16);
  unsigned sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  sum = ~sum & 0xffff;
  ip[10] = static_cast<unsigned char>(sum >> 8), ip[11] = static_cast<unsigned char>(sum);
  unsigned char* udp = ip + 20;
  udp[0] = 0x9c, udp[1] = 0x40;  // source port 40000
  udp[2] = static_cast<unsigned char>(port >> 8), udp[3] = static_cast<unsigned char>(port);
  udp[5] = 16;
  int sent = 0;
  for (int i = 0; i < count; ++i) {
    ip[4] = static_cast<unsigned char>(i >> 8), ip[5] = static_cast<unsigned char>(i);  // IP id
    if (sendto(fd, frame, sizeof(frame), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == sizeof(frame)) ++sent;
  }
  close(fd);
  return sent;
}

// On receive the kernel strips VLAN tags before protocol handlers run, so
// tags are seen on the transmit side: a tbf qdisc drops raw frames sent with
// the 802.1Q header in the packet (AF_PACKET; this kernel has no 8021q
// devices to put a tag in skb->vlan_tci). Only VLAN 100 passes the filter.
TEST_F(DropPacketTest, VlanTagsAreParsedAndFilteredOnTransmitDrops) {
  ASSERT_EQ(shell("ip netns exec " + net_->ns_a + " tc qdisc add dev " + net_->if_a +
                  " root tbf rate 8kbit burst 1600 limit 1600"),
            0);
  record({"--netns", netnsArg(net_->ns_a), "--vlan-id", "100"}, [&] {
    // sendto reports the qdisc's drops as errors; the drops are what counts.
    EXPECT_EQ(runInNetns(net_->ns_a, [&] {
                sendTaggedUdp(net_->if_a, 100, "10.55.0.1", "10.55.0.2", 7021, 60);
                sendTaggedUdp(net_->if_a, 200, "10.55.0.1", "10.55.0.2", 7022, 60);
                return 0;
              }),
              0);
  });
  std::string tc;
  shell("ip netns exec " + net_->ns_a + " tc -s qdisc show dev " + net_->if_a, &tc);
  size_t at = tc.find("dropped ");
  ASSERT_NE(at, std::string::npos) << tc;
  const int64_t tc_dropped = std::stoll(tc.substr(at + 8));
  auto db = ingest();
  const int64_t total = count(*db, "SELECT COUNT(*) FROM drop_event");
  EXPECT_GT(total, 0);
  EXPECT_LT(total, tc_dropped) << "VLAN 200 drops must be filtered out";
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE vlan_id = 100 AND reason = 'QDISC_DROP' "
                       "AND l3 = 'IPv4' AND l4 = 'UDP' AND src_ip = '10.55.0.1' AND dst_ip = '10.55.0.2' "
                       "AND dst_port = 7021 AND src_port = 40000 AND ttl = 33 AND eth_type = 2048 "
                       "AND eth_src = '02:66:77:88:99:aa' AND eth_dst = '02:11:22:33:44:55'"),
            total);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT ip_id) FROM drop_event"), total);
}

TEST_F(DropPacketTest, IcmpEchoDropsCarryIdAndSequence) {
  ASSERT_EQ(shell("ip netns exec " + net_->ns_b +
                  " nft 'add table inet ntping; add chain inet ntping in { type filter hook input priority 0; }; "
                  "add rule inet ntping in icmp type echo-request drop'"),
            0);
  record({"--netns", netnsArg(net_->ns_b), "--l4-protocol", "icmp"}, [&] {
    shell("ip netns exec " + net_->ns_a + " ping -c 6 -i 0.05 -W 1 " + net_->ip_b);
  });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE reason = 'NETFILTER_DROP' AND l4 = 'ICMP' "
                       "AND icmp_type = 8 AND icmp_code = 0"),
            6);
  EXPECT_EQ(count(*db, "SELECT MIN(icmp_seq) FROM drop_event"), 1);
  EXPECT_EQ(count(*db, "SELECT MAX(icmp_seq) FROM drop_event"), 6);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT icmp_id) FROM drop_event"), 1);
}

TEST_F(DropPacketTest, Ipv6UdpToClosedPortIsParsed) {
  ASSERT_EQ(shell("ip netns exec " + net_->ns_b + " sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 "
                  "net.ipv6.conf.all.disable_ipv6=0"),
            0);
  record({"--netns", netnsArg(net_->ns_b), "--dst-ip", "::1"}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_b, [&] {
                int fd = socket(AF_INET6, SOCK_DGRAM, 0);
                sockaddr_in6 addr = {};
                addr.sin6_family = AF_INET6;
                addr.sin6_port = htons(7021);
                addr.sin6_addr = in6addr_loopback;
                int sent = 0;
                for (int i = 0; i < 9; ++i)
                  if (sendto(fd, "v6", 2, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 2) ++sent;
                close(fd);
                return sent == 9 ? 0 : 1;
              }),
              0);
  });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE l3 = 'IPv6' AND l4 = 'UDP' AND src_ip = '::1' "
                       "AND dst_ip = '::1' AND dst_port = 7021 AND reason = 'NO_SOCKET'"),
            9);
}

TEST(DropRecorderTest, RefusesToRunWithoutPrivilegesAndSaysWhy) {
  NT_REQUIRE(Requirement::kRoot);
  std::string out;
  const std::string path = testing::tempPath("unpriv.ntr");
  // setpriv drops to nobody with no capabilities.
  int rc = shell("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all " + std::string(NT_RECORD_BIN) +
                     " -d 1 -o " + path,
                 &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("needs root or CAP_BPF+CAP_PERFMON"), std::string::npos) << out;
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "no file should be created";
}

TEST(DropRecorderTest, RejectsBadOptionsWithAClearMessage) {
  std::string out;
  EXPECT_EQ(shell(std::string(NT_RECORD_BIN) + " --src-ip 300.1.2.3 -d 1", &out), 1) << out;
  EXPECT_NE(out.find("--src-ip: '300.1.2.3' is not an IPv4 or IPv6 address"), std::string::npos) << out;
  EXPECT_EQ(shell(std::string(NT_RECORD_BIN) + " --dst-prot 80", &out), 2) << out;
  EXPECT_NE(out.find("did you mean --dst-port?"), std::string::npos) << out;
  EXPECT_EQ(shell(std::string(NT_RECORD_BIN) + " --duration 5q", &out), 2) << out;
  EXPECT_NE(out.find("--duration: expected a duration (ms, s, m, h) from 1ms to 87600h, got '5q'"), std::string::npos)
      << out;
  EXPECT_EQ(shell(std::string(NT_RECORD_BIN) + " --families drpo", &out), 2) << out;
  EXPECT_NE(out.find("did you mean 'drop'?"), std::string::npos) << out;
}

TEST_F(DropPacketTest, SizeRotationKeepsAFileBudget) {
  const std::string base = testing::tempPath("budget.ntr");
  RecorderProcess recorder;
  ASSERT_TRUE(recorder.start({"--netns", netnsArg(net_->ns_b), "-o", base, "--force", "--rotate-size", "64K",
                              "--max-files", "2", "--zstd-level", "19"}))
      << recorder.output();
  // Distinct ports and sequence numbers compress poorly: several segments' worth.
  for (int round = 0; round < 8; ++round) {
    runInNetns(net_->ns_a, [&] {
      for (int p = 0; p < 2000; ++p) testing::udpSend(net_->ip_b, static_cast<uint16_t>(20000 + round * 2000 + p), 2);
      return 0;
    });
    usleep(1100 * 1000);
  }
  ASSERT_EQ(recorder.stop(), 0) << recorder.output();
  // The recorder lists what it wrote last; at most two segment files remain.
  int remaining = 0;
  int highest = 0;
  for (int i = 0; i < 200; ++i) {
    std::string seg = base;
    if (i > 0) seg.insert(seg.rfind('.'), "." + std::to_string(i));
    if (access(seg.c_str(), F_OK) == 0) {
      ++remaining;
      highest = i;
      EXPECT_TRUE(testing::ingestForTest({seg})) << seg;
      std::remove(seg.c_str());
    }
  }
  EXPECT_GE(highest, 2) << "expected at least three segments to have been written\n" << recorder.output();
  EXPECT_LE(remaining, 2);
  EXPECT_GE(remaining, 1);
}

}  // namespace
}  // namespace nettrail
