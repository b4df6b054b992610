// The drop family's details batches, user-space half only: records fed to its
// ring callback by hand (no kernel, no privileges) must come back from the
// recording field for field, across full batches (written in place, then
// overwritten by the next batch) and partial ones (copied out at a flush).
#include <gtest/gtest.h>

#ifdef NT_HAVE_RECORDER
#include <cstdio>
#include <cstring>

#include "nettrail/drop_event.h"
#include "nettrail/recording.h"
#include "testing/offline_probe.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

// Every field depends on the record's index, differently, so a value landing
// in the wrong column or the wrong row is seen.
nt_drop_event record(uint64_t i) {
  nt_drop_event e;
  std::memset(&e, 0, sizeof(e));
  e.ts_ns = 5'000'000'000ull + i * 1000 - (i % 3) * 700;  // steps back now and then, as across CPUs
  e.location = 0xffffffff81000000ull + (i % 97);
  e.pid = 100 + static_cast<uint32_t>(i % 5);
  e.tid = e.pid + 1000;
  e.stack_id = -1;
  e.netns = 4026531000u + static_cast<uint32_t>(i % 2);
  e.ifindex = 0;  // no device lookup (it would need the BPF map)
  e.len = static_cast<uint32_t>(i % 1500);
  e.reason = static_cast<uint16_t>(i % 60);
  e.cpu = static_cast<uint16_t>(i % 4);
  std::snprintf(e.comm, sizeof(e.comm), "worker-%u", e.pid);
  nt_packet& p = e.pkt;
  for (int b = 0; b < 16; ++b) {
    p.saddr[b] = static_cast<uint8_t>(i >> (b % 8) * 3);
    p.daddr[b] = static_cast<uint8_t>(i * 7 + b);
  }
  for (int b = 0; b < 6; ++b) {
    p.eth_src[b] = static_cast<uint8_t>(i + b);
    p.eth_dst[b] = static_cast<uint8_t>(i * 3 + b);
  }
  p.eth_type = static_cast<uint16_t>(0x0800 + i % 3);
  p.vlan_id = static_cast<uint16_t>(i % 4096);
  p.sport = static_cast<uint16_t>(i * 11);
  p.dport = static_cast<uint16_t>(i * 13);
  p.ip_id = static_cast<uint16_t>(i * 17);
  p.icmp_id = static_cast<uint16_t>(i * 19);
  p.icmp_seq = static_cast<uint16_t>(i * 23);
  p.arp_op = static_cast<uint16_t>(i % 3);
  p.tcp_seq = static_cast<uint32_t>(i * 2654435761u);
  p.l3_kind = static_cast<uint8_t>(i % 7);
  p.l4_proto = static_cast<uint8_t>(i % 251);
  p.ttl = static_cast<uint8_t>(i % 255);
  p.tcp_flags = static_cast<uint8_t>(i * 5);
  p.icmp_type = static_cast<uint8_t>(i % 41);
  p.icmp_code = static_cast<uint8_t>(i % 43);
  return e;
}

uint64_t be64(const uint8_t* bytes) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v = (v << 8) | bytes[b];
  return v;
}
uint64_t mac(const uint8_t* bytes) {
  uint64_t v = 0;
  for (int b = 0; b < 6; ++b) v = (v << 8) | bytes[b];
  return v;
}

TEST(DropBatch, FullAndPartialBatchesKeepEveryFieldOfEveryRecord) {
  const std::string path = testing::tempPath("drop-batches.ntr");
  auto offline = testing::startOfflineProbe("drop", {"--mode", "details", "--no-stack-trace"}, path);
  ASSERT_TRUE(offline.isOk()) << offline.status().message();
  ProbeFamily& probe = *(*offline)->probe;
  RecordingSink& sink = *(*offline)->sink;

  // A flush with 1000 pending (copied out), then full batches written in
  // place over the same lists, then 234 left for the final flush.
  constexpr uint64_t kFirst = 1000, kTotal = 1000 + 2 * 65536 + 234;
  uint64_t fed = 0;
  auto feedUpTo = [&](uint64_t end) {
    for (; fed < end; ++fed) {
      nt_drop_event e = record(fed);
      (*offline)->feed(&e, sizeof(e));
    }
  };
  feedUpTo(kFirst);
  ASSERT_TRUE(probe.tick(sink, 6'000'000'000ull, /*final=*/true).isOk());
  feedUpTo(kTotal);
  ASSERT_TRUE(probe.tick(sink, 7'000'000'000ull, /*final=*/true).isOk());
  ASSERT_TRUE(sink.close("end of test").isOk());
  EXPECT_EQ(probe.eventsRecorded(), kTotal);

  auto reader = RecordingReader::open(path);
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  std::vector<size_t> batch_sizes;
  uint64_t i = 0, mismatches = 0;
  Status status = (*reader)->forEachChunk([&](Chunk::Reader chunk) {
    if (chunk.which() != Chunk::BATCH || chunk.getBatch().which() != Batch::DROP) return Status::ok();
    auto ev = chunk.getBatch().getDrop().getEvents();
    // Each list once per batch: every get counts against the reader's traversal limit.
    auto time_delta = ev.getTimeDelta(), location = ev.getLocation(), eth_src = ev.getEthSrc(),
         eth_dst = ev.getEthDst(), src_hi = ev.getSrcHi(), src_lo = ev.getSrcLo(), dst_hi = ev.getDstHi(),
         dst_lo = ev.getDstLo();
    auto tid = ev.getTid(), stack_id = ev.getStackId(), netns = ev.getNetns(), ifindex = ev.getIfindex(),
         length = ev.getLength(), tcp_seq = ev.getTcpSeq();
    auto cpu = ev.getCpu(), reason = ev.getReason(), eth_type = ev.getEthType(), vlan_id = ev.getVlanId(),
         src_port = ev.getSrcPort(), dst_port = ev.getDstPort(), ip_id = ev.getIpId(), icmp_id = ev.getIcmpId(),
         icmp_seq = ev.getIcmpSeq(), arp_op = ev.getArpOp();
    auto l4_proto = ev.getL4Proto(), ttl = ev.getTtl(), tcp_flags = ev.getTcpFlags(), icmp_type = ev.getIcmpType(),
         icmp_code = ev.getIcmpCode(), l3_kind = ev.getL3Kind();
    const size_t n = time_delta.size();
    batch_sizes.push_back(n);
    uint64_t t = ev.getBaseTimeNs();
    for (size_t k = 0; k < n; ++k, ++i) {
      const nt_drop_event e = record(i);
      const nt_packet& p = e.pkt;
      t += time_delta[k];
      const bool same =
          t == e.ts_ns && cpu[k] == e.cpu && tid[k] == e.tid && reason[k] == e.reason && location[k] == e.location &&
          stack_id[k] == 0 && netns[k] == e.netns && ifindex[k] == e.ifindex && length[k] == e.len &&
          eth_src[k] == mac(p.eth_src) && eth_dst[k] == mac(p.eth_dst) && eth_type[k] == p.eth_type &&
          vlan_id[k] == p.vlan_id && src_hi[k] == be64(p.saddr) && src_lo[k] == be64(p.saddr + 8) &&
          dst_hi[k] == be64(p.daddr) && dst_lo[k] == be64(p.daddr + 8) && l4_proto[k] == p.l4_proto &&
          src_port[k] == p.sport && dst_port[k] == p.dport && ttl[k] == p.ttl && ip_id[k] == p.ip_id &&
          tcp_seq[k] == p.tcp_seq && tcp_flags[k] == p.tcp_flags && icmp_type[k] == p.icmp_type &&
          icmp_code[k] == p.icmp_code && icmp_id[k] == p.icmp_id && icmp_seq[k] == p.icmp_seq &&
          arp_op[k] == p.arp_op && l3_kind[k] == p.l3_kind;
      if (!same && ++mismatches <= 3) ADD_FAILURE() << "record " << i << " differs";
    }
    return Status::ok();
  });
  ASSERT_TRUE(status.isOk()) << status.message();
  EXPECT_EQ(i, kTotal);
  EXPECT_EQ(mismatches, 0u);
  // 1000 copied out, then full batches (the family's batch size, a power of
  // two up to 65536, so 2 * 65536 is a whole number of them), then 234.
  ASSERT_GE(batch_sizes.size(), 4u);
  EXPECT_EQ(batch_sizes.front(), kFirst);
  EXPECT_EQ(batch_sizes.back(), 234u);
  const std::vector<size_t> full(batch_sizes.begin() + 1, batch_sizes.end() - 1);
  EXPECT_EQ(full, std::vector<size_t>(full.size(), 2 * 65536 / full.size())) << "full batches differ in size";
  for (const auto& problem : (*reader)->report().problems) ADD_FAILURE() << problem;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nettrail
#endif
