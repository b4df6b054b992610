#pragma once
// Synthetic recordings for unit tests of the reader and analyzer. These are
// canned data, labelled as such in their header (hostName "synthetic-test");
// tests that need kernel truth use tests/integration with real BPF instead.
#include <cstdint>
#include <string>
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
};

struct SyntheticRecording {
  std::vector<SyntheticDrop> drops;
  size_t drops_per_batch = 1000;
  std::string comm = "synthetic";   // comm of every tid (tests put hostile names here)
  std::string ifname = "eth0";
  bool trailer = true;
  uint64_t start_boottime_ns = 1'000'000'000;
  uint64_t start_realtime_ns = 1'700'000'000'000'000'000ull;
};

// Writes the recording to `path`. Reason enum: 2 NOT_SPECIFIED, 3 NO_SOCKET,
// 6 NETFILTER_DROP. Stack 1: kfree_skb_reason <- tcp_v4_rcv <- ip_local_deliver.
void writeSyntheticRecording(const std::string& path, const SyntheticRecording& recording);

// A fresh path under $TMPDIR (or /tmp) that does not exist yet.
std::string tempPath(const std::string& stem);

// Whole file contents.
std::string readFile(const std::string& path);

}  // namespace nettrail::testing
