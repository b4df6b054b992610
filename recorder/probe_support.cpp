#include "probe_support.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <cstring>

#include "nettrail/common.h"
#include "nettrail/counters.h"
#include "nettrail/stack.h"

namespace nettrail {

bool parseIpAddress(const std::string& text, uint8_t out[16]) {
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, &v4, 4);
    return true;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(out, &v6, 16);
    return true;
  }
  return false;
}

void declareRecordingModeOptions(OptionSet& o) {
  const std::string g = "summary and details";
  o.add({"mode", 0, "MODE", "summary (in-kernel counts per interval), details (one record per event) or both", "both", g});
  o.add({"interval", 'i', "SECONDS", "summary snapshot interval, from 100ms to 24h", "1s", g});
  o.add({"summary-keys", 0, "N", "capacity of each in-kernel summary map, from 16 to 16777216", "16384", g});
  o.add({"ring-size", 0, "BYTES", "ring buffer size for details records: a power of two from 4K to 1G", "16M", g});
}

void declareProcessOptions(OptionSet& o) {
  o.add({"pid", 'p', "PID", "only this process (offcpu, futex; required by cpu and locks)", "", "process"});
  o.add({"tid", 0, "TID", "only this thread (offcpu, futex)", "", "process"});
}

Result<RecordingMode> parseRecordingMode(const ParsedOptions& options) {
  RecordingMode m;
  m.mode = options.get("mode");
  if (m.mode != "summary" && m.mode != "details" && m.mode != "both")
    return Status::error("--mode: expected summary, details or both, got '", m.mode, "'");
  m.details = m.mode != "summary";
  m.summary = m.mode != "details";
  NT_ASSIGN_OR_RETURN(double interval, options.getSeconds("interval", 0.1, 86400));
  m.interval_ns = static_cast<uint64_t>(interval * 1e9);
  NT_ASSIGN_OR_RETURN(uint64_t keys, options.getUint("summary-keys", 16, 1u << 24));
  m.summary_keys = static_cast<uint32_t>(keys);
  NT_ASSIGN_OR_RETURN(uint64_t ring, options.getPowerOfTwoBytes("ring-size", 4096, 1ull << 30));
  m.ring_bytes = static_cast<uint32_t>(ring);
  return m;
}

void readPerCpuCounters(int fd, int cpus, const CounterName* names, uint32_t count, std::vector<CounterValue>* out) {
  if (fd < 0 || cpus <= 0) return;
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  std::vector<CounterRow> rows;
  for (uint32_t slot = 0; slot < count; ++slot) {
    if (bpf_map_lookup_elem(fd, &slot, values.data()) != 0) continue;
    appendPerCpuCounter("", names[slot].name, names[slot].data_loss, values.data(), cpus, &rows);
  }
  for (const CounterRow& row : rows) out->push_back({row.name, row.cpu, row.value, row.data_loss});
}

uint64_t perCpuCounterTotal(int fd, int cpus, uint32_t slot) {
  if (fd < 0 || cpus <= 0) return 0;
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  uint64_t total = 0;
  if (bpf_map_lookup_elem(fd, &slot, values.data()) == 0)
    for (uint64_t v : values) total += v;
  return total;
}

uint32_t StackInterner::intern(int32_t map_id, uint32_t pid, bool kernel) {
  if (fd_ < 0) return 0;  // negative map ids never get here (kernelStack, userStack)
  if (kernel) pid = 0;
  // Kernel stacks are shared by all tasks; a user stack's addresses mean
  // something only in its own address space, so the key has the pid.
  const uint64_t key = (static_cast<uint64_t>(pid) << 32) | static_cast<uint32_t>(map_id);
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  nt_stack_value value = {};
  uint32_t map_key = static_cast<uint32_t>(map_id);
  if (bpf_map_lookup_elem(fd_, &map_key, &value) != 0) return 0;
  uint64_t frames[NT_MAX_STACK_DEPTH];
  size_t depth = 0;
  for (; depth < NT_MAX_STACK_DEPTH && value.ips[depth]; ++depth) frames[depth] = value.ips[depth];
  const uint32_t id = sink_->internStack(kernel, pid, frames, depth);
  ids_.emplace(key, id);
  return id;
}

}  // namespace nettrail
