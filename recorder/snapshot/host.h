#pragma once
// Facts about the recorded host and its clocks, for the recording header.
#include <cstdint>
#include <string>
#include <vector>

namespace nettrail {

struct HostFacts {
  std::string host_name;
  std::string kernel_release;
  std::string kernel_version;
  std::string machine;
  std::string boot_id;
  uint32_t cpu_count = 0;  // possible CPUs, as per-CPU maps are sized
  std::vector<std::pair<std::string, std::string>> kernel_facts;
};

HostFacts readHostFacts();

struct ClockSample {
  uint64_t boottime_ns = 0;
  uint64_t realtime_ns = 0;
  uint64_t monotonic_ns = 0;
};

// Reads the three clocks as close together as possible (the boottime reading
// is bracketed by two realtime readings; their midpoint is used).
ClockSample sampleClocks();
uint64_t boottimeNs();

}  // namespace nettrail
