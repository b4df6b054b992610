#pragma once
// The kmsg family's record parsing and bookkeeping, apart from the device so
// unit tests can feed it records (recorder/probes/kmsg.cpp reads /dev/kmsg).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nettrail::kmsg {

// One /dev/kmsg record (Documentation/ABI/testing/dev-kmsg):
//   "PRI,SEQ,TIMESTAMP_US,FLAGS[,KEY=VALUE...];MESSAGE\n" then zero or more
//   " KEY=VALUE\n" dictionary lines. PRI = facility * 8 + level; FLAGS '-' or
//   'c' (continuation, kernels before 4.9). Unprintable bytes of the message
//   arrive escaped as \xNN by the kernel.
struct KmsgRecord {
  uint64_t seq = 0;
  uint64_t timestamp_us = 0;
  uint8_t level = 0;
  uint8_t facility = 0;
  bool continuation = false;
  std::string caller;  // "T123" / "C1" from a caller= field, else empty
  std::string text;
  std::string dict;    // dictionary lines without their leading space, '\n'-separated
};

// False when `record` is not in that form.
bool parseKmsgRecord(std::string_view record, KmsgRecord* out);

// Columns of the lines kept so far, and what was not kept.
struct KmsgLines {
  std::vector<uint64_t> time_ns, kernel_us, seq;
  std::vector<uint8_t> level, facility;
  std::vector<bool> continuation;
  std::vector<std::string> caller, text, dict;
  size_t size() const { return seq.size(); }
  void clear();
};

struct KmsgLimits {
  uint8_t max_level = 7;       // keep levels 0..max_level
  uint64_t max_lines = 100000; // per recording
  uint64_t min_timestamp_us = 0;  // older records are before the recording (or its backlog)
};

// Turns records into kept lines and counts: a jump in the kernel's sequence
// numbers is records the kernel overwrote before they were read (lost).
class KmsgAccumulator {
 public:
  explicit KmsgAccumulator(KmsgLimits limits) : limits_(limits) {}
  // `offset_ns` = local_clock - CLOCK_BOOTTIME, maps the record's time.
  void add(std::string_view record, int64_t offset_ns);
  // The device said records were overwritten (read() gave EPIPE); the next
  // record's sequence number tells how many.
  void noteOverrun() { ++overruns_; }
  KmsgLines& lines() { return lines_; }

  uint64_t kept() const { return kept_; }
  uint64_t lost() const { return lost_; }               // overwritten in the kernel before read
  uint64_t overLimit() const { return over_limit_; }    // beyond max_lines
  uint64_t filtered() const { return filtered_; }       // above max_level
  uint64_t beforeStart() const { return before_start_; }
  uint64_t malformed() const { return malformed_; }
  uint64_t overruns() const { return overruns_; }

 private:
  KmsgLimits limits_;
  KmsgLines lines_;
  bool have_seq_ = false;
  uint64_t last_seq_ = 0;
  uint64_t kept_ = 0, lost_ = 0, over_limit_ = 0, filtered_ = 0, before_start_ = 0, malformed_ = 0, overruns_ = 0;
};

}  // namespace nettrail::kmsg
