#pragma once
// Pieces every recorder-side family needs: byte-order helpers for raw records,
// filling Cap'n Proto columns, reading per-CPU counter arrays, and turning a
// family's stack-map ids into recording stack ids.
#include <capnp/any.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "probe.h"
#include "recording_sink.h"

namespace nettrail {

// 8 bytes in network order as a number (IPv6 halves, as the schemas store them).
// Inline: called several times per event on the drain path.
inline uint64_t bigEndian64(const uint8_t* bytes) {
  uint64_t v;
  __builtin_memcpy(&v, bytes, 8);
  return __builtin_bswap64(v);
}
// A 6-byte MAC in the low 48 bits, aa:bb:.. = 0xaabb..
inline uint64_t macToU64(const uint8_t mac[6]) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | mac[i];
  return v;
}
// IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), IPv6 as is. False if neither.
bool parseIpAddress(const std::string& text, uint8_t out[16]);

// The elements of a Cap'n Proto list of primitives, writable in place. Such a
// list is a little-endian array in the message's own segment; Cap'n Proto
// shows its bytes only through a reader, but they are the builder's memory.
template <typename T, typename ListBuilder>
T* listData(ListBuilder list) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "Cap'n Proto lists are little-endian");
  static_assert(std::is_arithmetic_v<T>, "only lists of primitives are plain arrays");
  static_assert(std::is_same_v<typename ListBuilder::Builds, capnp::List<T>>, "column and list element types differ");
  kj::ArrayPtr<const capnp::byte> bytes = capnp::AnyList::Reader(list.asReader()).getRawBytes();
  NT_CHECK(bytes.size() == list.size() * sizeof(T));
  return reinterpret_cast<T*>(const_cast<capnp::byte*>(bytes.begin()));
}

// Copies `n` values into a Cap'n Proto list of primitives of the same length:
// one memcpy instead of n bounds-computed set() calls.
template <typename T, typename ListBuilder>
void fillList(ListBuilder list, const T* values, size_t n) {
  NT_CHECK(list.size() == n);
  if (n > 0) std::memcpy(listData<T>(list), values, n * sizeof(T));
}
template <typename T, typename ListBuilder>
void fillList(ListBuilder list, const std::vector<T>& values) {
  fillList(list, values.data(), values.size());
}

// --mode, -i/--interval, --summary-keys and --ring-size mean the same in every
// family with summary and details modes; one value drives them all.
void declareRecordingModeOptions(OptionSet& options);

// -p/--pid and --tid: the process (and thread) the host-side families watch;
// one declaration so every family shows the same help.
void declareProcessOptions(OptionSet& options);

struct RecordingMode {
  std::string mode;           // summary, details or both
  bool details = true;
  bool summary = true;
  uint64_t interval_ns = 0;   // summary snapshot period
  uint32_t summary_keys = 0;  // in-kernel summary map capacity
  uint32_t ring_bytes = 0;    // details ring buffer size (power of two)
};
Result<RecordingMode> parseRecordingMode(const ParsedOptions& options);

// When a family writes its pending details batch (every second) and snapshots
// its summary maps (every --interval); the final tick does both.
class FlushSchedule {
 public:
  static constexpr uint64_t kDetailsFlushNs = 1'000'000'000ull;
  void setSnapshotInterval(uint64_t interval_ns) { snapshot_interval_ns_ = interval_ns; }
  // Call at the top of each tick: the first tick starts both clocks.
  void begin(uint64_t now) {
    if (last_flush_ns_ == 0) last_flush_ns_ = last_snapshot_ns_ = now;
  }
  bool flushDue(uint64_t now, bool final) { return due(now, final, kDetailsFlushNs, &last_flush_ns_); }
  bool snapshotDue(uint64_t now, bool final) { return due(now, final, snapshot_interval_ns_, &last_snapshot_ns_); }

 private:
  static bool due(uint64_t now, bool final, uint64_t period, uint64_t* last) {
    if (!final && now - *last < period) return false;
    *last = now;
    return true;
  }
  uint64_t snapshot_interval_ns_ = 1'000'000'000ull;
  uint64_t last_flush_ns_ = 0;
  uint64_t last_snapshot_ns_ = 0;
};

struct CounterName {
  const char* name;
  bool data_loss;  // the count is events missing from the recording
};

// Reads a BPF per-CPU array of `count` counters in the shape every reader
// expects (nettrail/counters.h): per-CPU rows for data-loss counters that are
// nonzero on that CPU, then one total (cpu -1) per slot.
void readPerCpuCounters(int fd, int cpus, const CounterName* names, uint32_t count, std::vector<CounterValue>* out);
// Sum over CPUs of one slot; 0 if it cannot be read.
uint64_t perCpuCounterTotal(int fd, int cpus, uint32_t slot);

// Recording stack ids for a family's stack store (nettrail/stack.h). Each (pid, map id) is read
// from the map once and interned in the sink, which records its frames with
// their symbols (user stacks are symbolized while the process lives).
class StackInterner {
 public:
  void reset(int stack_map_fd, RecordingSink* sink) {
    fd_ = stack_map_fd;
    sink_ = sink;
    ids_.clear();
  }
  // 0 when the program had no stack (negative id) or the map entry is gone.
  uint32_t kernelStack(int32_t map_id) { return map_id < 0 ? 0 : intern(map_id, 0, true); }
  uint32_t userStack(int32_t map_id, uint32_t pid) { return map_id < 0 ? 0 : intern(map_id, pid, false); }

 private:
  uint32_t intern(int32_t map_id, uint32_t pid, bool kernel);
  int fd_ = -1;
  RecordingSink* sink_ = nullptr;
  std::unordered_map<uint64_t, uint32_t> ids_;
};

}  // namespace nettrail
