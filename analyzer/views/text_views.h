#pragma once
// Terminal views over an ingested database, for people who work over SSH.
// They mirror the seed tools' output (kernel_drop_stack_stats_summary.py) and
// escape every string that came from the recording.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"

namespace nettrail {

enum class TopGroupBy { kStack, kFiveTuple, kAll };

struct TopOptions {
  int top = 5;                 // rows per interval
  TopGroupBy group_by = TopGroupBy::kAll;
  double interval_seconds = 0; // 0: recorded summary intervals, or the whole recording for per-drop data
};

// Top drop keys per interval with device, flow and stack trace.
Status printTopDrops(Db& db, const TopOptions& options, std::ostream& out);

// Drop totals by "reason", "device", "location" or "stack".
Status printDropTable(Db& db, const std::string& by, std::ostream& out);

// One block per recorded drop, in time order.
Status printDropEvents(Db& db, int64_t limit, std::ostream& out);

// Off-CPU time per thread, the top stack pairs in offcputime's layout (kernel
// frames innermost first, "--", user frames, then "-  comm (tid)" and the
// time), and the longest periods with their waker (details recordings).
Status printOffcpuView(Db& db, int top, std::ostream& out);

// CPU per thread over the recording, each of the `top` busiest threads as one
// digit per interval (tenths of a CPU: 0-9, X for a full CPU or more; 8 and up
// are bursts), and the list of bursts with wall-clock times.
Status printCpuView(Db& db, int top, std::ostream& out);

enum class QueryFormat { kTable, kCsv, kJson };

// Runs `sql` (one statement) and prints its rows.
Status printQuery(Db& db, const std::string& sql, QueryFormat format, std::ostream& out);

// Prints a prepared statement's rows as an aligned table with escaped cells.
Status printStatementTable(Statement& stmt, std::ostream& out);

// Prints cells that are already escaped as an aligned table (numeric columns
// right-aligned), each line starting with `indent`.
void printAlignedTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                       std::ostream& out, const std::string& indent = "");

// "2026-01-02 03:04:05.123456789 UTC" for CLOCK_REALTIME ns.
std::string formatUtc(int64_t realtime_ns, bool with_nanoseconds = true);

}  // namespace nettrail
