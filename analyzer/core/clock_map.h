#pragma once
// CLOCK_BOOTTIME <-> CLOCK_REALTIME of the recorded host through the
// recording's clock anchors (clock_anchor table). Events carry boottime;
// reports and monitoring exports speak wall clock. Each conversion uses the
// nearest anchor at or before the time, because re-sampled anchors track clock
// steps (NTP, settimeofday); times before the first anchor use the first.
#include <cstdint>
#include <utility>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"

namespace nettrail {

class ClockMap {
 public:
  ClockMap() = default;
  // Reads clock_anchor; an empty map when the table has no rows.
  static Result<ClockMap> load(Db& db);
  // From (boottime_ns, realtime_ns) pairs in any order.
  explicit ClockMap(std::vector<std::pair<int64_t, int64_t>> anchors);

  bool empty() const { return by_boottime_.empty(); }
  // Wall clock (ns since the Unix epoch) of a boottime; the boottime itself when empty.
  int64_t toRealtimeNs(int64_t boottime_ns) const;
  // Boottime of a wall-clock time, through the nearest anchor whose realtime is
  // at or before it; the time itself when empty.
  int64_t toBoottimeNs(int64_t realtime_ns) const;

 private:
  std::vector<std::pair<int64_t, int64_t>> by_boottime_;  // (boottime, realtime)
  std::vector<std::pair<int64_t, int64_t>> by_realtime_;  // (realtime, boottime)
};

}  // namespace nettrail
