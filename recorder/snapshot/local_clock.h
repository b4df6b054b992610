#pragma once
// The kernel's local_clock() against CLOCK_BOOTTIME, measured from user space.
//
// Kernel log timestamps (/dev/kmsg, dmesg) are not CLOCK_MONOTONIC: printk
// stamps each record with local_clock() (kernel/printk/printk.c,
// vprintk_store()), the scheduler clock. It is not slewed by NTP and is
// per CPU where the TSC is unstable, so on a long-running host it drifts from
// CLOCK_MONOTONIC by parts per million (seconds after weeks). perf stamps its
// records with the same clock (perf_clock() is local_clock() unless an event
// asks for another clockid), so a perf record made on demand gives one
// reading of it: a software dummy event on our own thread with
// attr.comm = 1, then prctl(PR_SET_NAME) with the thread's own name, which
// makes the kernel emit a PERF_RECORD_COMM stamped (sample_id_all,
// PERF_SAMPLE_TIME) inside the call. Bracketing the call with CLOCK_BOOTTIME
// reads gives the offset local_clock - boottime, uncertain by half the
// bracket (a few microseconds).
#include <cstdint>
#include <string>

#include "nettrail/status.h"

namespace nettrail {

struct LocalClockSample {
  uint64_t boottime_ns = 0;     // midpoint of the bracket
  uint64_t local_clock_ns = 0;  // local_clock() inside the bracket
  uint64_t uncertainty_ns = 0;  // half the bracket's width
};

class LocalClockProbe {
 public:
  LocalClockProbe() = default;
  ~LocalClockProbe();
  LocalClockProbe(const LocalClockProbe&) = delete;
  LocalClockProbe& operator=(const LocalClockProbe&) = delete;

  // Opens the perf event (needs perf_event_open on the own thread; fails with
  // the reason under perf_event_paranoid 3 or a seccomp filter).
  Status open();
  bool isOpen() const { return fd_ >= 0; }
  // One reading; call from the thread that called open().
  Result<LocalClockSample> sample();

 private:
  int fd_ = -1;
  void* ring_ = nullptr;
  size_t ring_bytes_ = 0;
  size_t page_ = 0;
};

}  // namespace nettrail
