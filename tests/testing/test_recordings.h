#pragma once
// Synthetic recordings for unit tests of the reader and analyzer. These are
// canned data, labelled as such in their header (hostName "synthetic-test");
// tests that need kernel truth use tests/integration with real BPF instead.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nettrail::testing {

struct SyntheticDrop {
  uint64_t time_ns = 0;        // CLOCK_BOOTTIME
  uint16_t reason = 3;         // value in the synthetic enum below
  uint32_t ifindex = 2;
  uint32_t netns = 4026531840;
  uint32_t tid = 100;
  uint32_t stack_id = 1;
  uint64_t location = 0xffffffff81000100ull;
  uint8_t l4_proto = 6;
  uint32_t src_v4 = 0x0a000001;  // 10.0.0.1
  uint32_t dst_v4 = 0x0a000002;
  uint16_t src_port = 40000;
  uint16_t dst_port = 80;
  uint8_t l3_kind = 4;           // 4 IPv4 (src_v4/dst_v4), 6 IPv6 (the *_hi/*_lo halves), 1 ARP, 0 none
  uint64_t src_hi = 0, src_lo = 0, dst_hi = 0, dst_lo = 0;
  uint64_t eth_src = 0x020000000001ull;
  uint64_t eth_dst = 0x020000000002ull;
  uint16_t vlan_id = 0xffff;     // untagged
  uint8_t tcp_flags = 0x02;      // SYN
  uint32_t tcp_seq = 1000;
};

// One key of an in-kernel summary snapshot (counts are cumulative).
struct SyntheticSummaryEntry {
  uint32_t stack_id = 1;
  uint16_t reason = 3;
  uint32_t ifindex = 2;
  uint32_t src_v4 = 0x0a000001;
  uint32_t dst_v4 = 0x0a000002;
  uint16_t src_port = 40000;
  uint16_t dst_port = 80;
  uint8_t l4_proto = 6;
  uint64_t count = 0;
};

struct SyntheticSummary {
  uint64_t time_ns = 0;
  uint32_t interval_index = 0;
  uint64_t total_drops = 0;
  std::vector<SyntheticSummaryEntry> entries;
};

struct SyntheticRecording {
  std::vector<SyntheticDrop> drops;
  std::vector<SyntheticSummary> summaries;  // written after the drops
  size_t drops_per_batch = 1000;
  std::string comm = "synthetic";   // comm of every tid (tests put hostile names here)
  std::string ifname = "eth0";
  bool trailer = true;
  // Per-CPU counters of the drop family, one value per CPU, written as the
  // recorder writes them (nettrail/counters.h: per-CPU rows where a data-loss
  // counter is non-zero, then the total); ring_reserve_failed is always there.
  struct Counter {
    std::string name;
    bool data_loss = true;
    std::vector<uint64_t> per_cpu;
  };
  std::vector<Counter> counters;
  std::string recording_id = "synthetic";
  uint32_t segment = 0;
  uint64_t start_boottime_ns = 1'000'000'000;
  uint64_t start_realtime_ns = 1'700'000'000'000'000'000ull;
};

// Writes the recording to `path`. Reason enum: 2 NOT_SPECIFIED, 3 NO_SOCKET,
// 6 NETFILTER_DROP. Symbols (0x1000 bytes each from 0xffffffff81000000):
// kfree_skb_reason, tcp_v4_rcv, ip_local_deliver, bpf_trace_run2.
// Stack 1: kfree_skb_reason+0x10 <- tcp_v4_rcv+0x234 <- ip_local_deliver+0x50.
// Stack 2: bpf_trace_run2+0x20 (tracing) <- kfree_skb_reason+0x10 <- 0xffffffff90000000 (no symbol).
void writeSyntheticRecording(const std::string& path, const SyntheticRecording& recording);

// A fresh path under $TMPDIR (or /tmp) that does not exist yet.
std::string tempPath(const std::string& stem);

// Whole file contents.
std::string readFile(const std::string& path);

}  // namespace nettrail::testing
