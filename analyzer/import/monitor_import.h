#pragma once
// Monitoring exports -> the monitor_* tables of analyzer/queries/_monitor.sql
// (`nettrail import`). Formats:
//   ping        `ping -D [-O]` output (replies, "no answer yet for icmp_seq=N",
//               "From ... icmp_seq=N Destination Host Unreachable"), or CSV
//               lines `timestamp,target,rtt_ms|timeout`
//   pidstat     `pidstat -u [-t] [-h]` output; columns found from its header
//               line; local HH:MM:SS times (without -h) need a date (the banner
//               line's, or --date) and --tz
//   csv         `timestamp,series,value`, an optional header line
//   prometheus  text exposition format with timestamps, or the JSON of a
//               range (or instant) query: {"data":{"result":[{"metric":{..},"values":[[t,"v"],..]}]}}
// Timestamps: epoch seconds, ms, µs or ns (told apart by magnitude, fraction
// allowed) or RFC 3339. Every parse error names the file and line.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"

namespace nettrail {

enum class MonitorFormat { kPing, kPidstat, kCsv, kPrometheus };

// "ping", "pidstat", "csv" or "prometheus".
Result<MonitorFormat> parseMonitorFormat(std::string_view name);
const char* monitorFormatName(MonitorFormat format);

struct MonitorParseOptions {
  std::string file_name;                  // prefix of every message
  std::optional<int64_t> tz_offset_s;     // --tz: local time = UTC + offset
  std::string date;                       // --date YYYY-MM-DD for pidstat without -h
};

struct MonitorProbe {
  int64_t realtime_ns = 0;
  std::string target;
  std::optional<int64_t> seq;
  std::optional<double> rtt_ms;  // nullopt: no answer
  int64_t line = 0;
};

struct MonitorSample {
  int64_t realtime_ns = 0;
  std::string series;
  std::optional<double> value;  // nullopt: NaN
  int64_t line = 0;
};

struct MonitorData {
  std::vector<MonitorProbe> probes;
  std::vector<MonitorSample> samples;
};

Result<MonitorData> parseMonitorText(std::string_view text, MonitorFormat format,
                                     const MonitorParseOptions& options);

// Epoch seconds/ms/µs/ns (by magnitude: up to 11 integer digits are seconds,
// 12-14 ms, 15-17 µs, more ns) or RFC 3339 ("2023-11-14T22:13:20.5Z",
// "+01:00" offsets; without a zone, `tz_offset_s` or an error).
Result<int64_t> parseTimestampNs(std::string_view text, std::optional<int64_t> tz_offset_s = std::nullopt);

// "UTC", "Z", "+02:00", "-0530" -> seconds east of UTC.
Result<int64_t> parseTzOffset(std::string_view text);

struct MonitorImportOptions {
  MonitorFormat format = MonitorFormat::kPing;
  std::string name;              // empty: the file name
  int64_t clock_offset_ns = 0;   // monitor clock minus recorded host clock
  MonitorParseOptions parse;
};

struct MonitorImportSummary {
  int64_t source_id = 0;
  int64_t rows = 0;
  int64_t outside_rows = 0;
};

// Parses `path` and adds its rows to `db` (a database from nettrail ingest,
// opened writable), in one transaction.
Status importMonitorFile(Db& db, const std::string& path, const MonitorImportOptions& options,
                         MonitorImportSummary* summary);

// The recording's span as CLOCK_BOOTTIME ns [first, last], from the header's
// start/end times or the clock anchors; false when unknown.
bool recordingBoottimeSpan(Db& db, int64_t* first_ns, int64_t* last_ns);

}  // namespace nettrail
