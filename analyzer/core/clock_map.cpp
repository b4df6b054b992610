#include "core/clock_map.h"

#include <algorithm>
#include <climits>

namespace nettrail {
namespace {

// `b` of the pair at or before `a` in a list sorted by `a`, applied to `t`.
int64_t through(const std::vector<std::pair<int64_t, int64_t>>& sorted, int64_t t) {
  if (sorted.empty()) return t;
  auto it = std::upper_bound(sorted.begin(), sorted.end(), std::make_pair(t, INT64_MAX));
  const auto& anchor = it == sorted.begin() ? sorted.front() : *(it - 1);
  return t - anchor.first + anchor.second;
}

}  // namespace

ClockMap::ClockMap(std::vector<std::pair<int64_t, int64_t>> anchors) : by_boottime_(std::move(anchors)) {
  std::sort(by_boottime_.begin(), by_boottime_.end());
  for (const auto& [boottime, realtime] : by_boottime_) by_realtime_.emplace_back(realtime, boottime);
  std::sort(by_realtime_.begin(), by_realtime_.end());
}

Result<ClockMap> ClockMap::load(Db& db) {
  std::vector<std::pair<int64_t, int64_t>> anchors;
  NT_ASSIGN_OR_RETURN(Statement stmt,
                      db.prepare("SELECT boottime_ns, realtime_ns FROM clock_anchor ORDER BY boottime_ns"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    anchors.emplace_back(stmt.columnInt(0), stmt.columnInt(1));
  }
  return ClockMap(std::move(anchors));
}

int64_t ClockMap::toRealtimeNs(int64_t boottime_ns) const { return through(by_boottime_, boottime_ns); }

int64_t ClockMap::toBoottimeNs(int64_t realtime_ns) const { return through(by_realtime_, realtime_ns); }

}  // namespace nettrail
