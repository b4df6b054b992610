#include "views/text_views.h"

#include <time.h>

#include <cctype>
#include <ctime>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "core/text_escape.h"

namespace nettrail {
namespace {

// Realtime minus boottime at the first clock anchor (0 without anchors).
Result<int64_t> clockOffset(Db& db) {
  return db.queryInt("SELECT COALESCE((SELECT realtime_ns - boottime_ns FROM clock_anchor ORDER BY boottime_ns "
                     "LIMIT 1), 0)");
}

std::string flowText(const Statement& row, int src_ip, int dst_ip, int src_port, int dst_port, int l4) {
  auto endpoint = [&](int ip, int port) {
    std::string text = row.columnIsNull(ip) ? "?" : escapeForTerminal(row.columnText(ip));
    if (text.find(':') != std::string::npos && !row.columnIsNull(port)) text = "[" + text + "]";
    if (!row.columnIsNull(port)) text += ":" + std::to_string(row.columnInt(port));
    return text;
  };
  return endpoint(src_ip, src_port) + " -> " + endpoint(dst_ip, dst_port) + " (" +
         (row.columnIsNull(l4) ? std::string("-") : escapeForTerminal(row.columnText(l4))) + ")";
}

// Non-tracing frames of a stack as text, innermost first.
class StackCache {
 public:
  explicit StackCache(Db& db) : db_(db) {}
  Result<const std::vector<std::string>*> frames(int64_t stack_id) {
    auto it = cache_.find(stack_id);
    if (it != cache_.end()) return &it->second;
    if (!query_.raw()) {
      NT_ASSIGN_OR_RETURN(query_, db_.prepare("SELECT frame FROM stack_frame_text WHERE stack_id = ? AND tracing = 0 "
                                              "ORDER BY frame_index"));
    }
    std::vector<std::string> frames;
    query_.bind(1, stack_id);
    while (true) {
      NT_ASSIGN_OR_RETURN(bool row, query_.step());
      if (!row) break;
      frames.push_back(escapeForTerminal(query_.columnText(0)));
    }
    query_.reset();
    return &cache_.emplace(stack_id, std::move(frames)).first->second;
  }

 private:
  Db& db_;
  Statement query_;
  std::map<int64_t, std::vector<std::string>> cache_;
};

bool looksNumeric(const std::string& text) {
  if (text.empty()) return false;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size()) return false;
  for (; i < text.size(); ++i)
    if (!(std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) return false;
  return true;
}

std::string cellText(const Statement& stmt, int i) {
  switch (stmt.columnType(i)) {
    case SQLITE_NULL: return "";
    case SQLITE_INTEGER: return std::to_string(stmt.columnInt(i));
    case SQLITE_FLOAT: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.6g", stmt.columnDouble(i));
      return buf;
    }
    case SQLITE_BLOB: return "<blob " + std::to_string(sqlite3_column_bytes(stmt.raw(), i)) + " bytes>";
    default: return stmt.columnText(i);
  }
}

size_t displayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text)
    if ((c & 0xc0) != 0x80) ++width;  // count code points, not bytes
  return width;
}

}  // namespace

std::string formatUtc(int64_t realtime_ns, bool with_nanoseconds) {
  const int64_t kBillion = 1'000'000'000;
  int64_t seconds = realtime_ns / kBillion;
  int64_t nanos = realtime_ns % kBillion;
  if (nanos < 0) {
    nanos += kBillion;
    --seconds;
  }
  const time_t t = static_cast<time_t>(seconds);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return std::to_string(realtime_ns) + " ns";
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = buf;
  if (with_nanoseconds) {
    char frac[16];
    std::snprintf(frac, sizeof(frac), ".%09lld", static_cast<long long>(nanos));
    out += frac;
  }
  return out + " UTC";
}

Status printStatementTable(Statement& stmt, std::ostream& out) {
  const int columns = stmt.columnCount();
  std::vector<std::string> headers;
  for (int i = 0; i < columns; ++i) headers.push_back(escapeForTerminal(stmt.columnName(i)));
  std::vector<std::vector<std::string>> rows;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    std::vector<std::string> row;
    for (int i = 0; i < columns; ++i) row.push_back(escapeForTerminal(cellText(stmt, i)));
    rows.push_back(std::move(row));
  }
  printAlignedTable(headers, rows, out);
  out << "(" << rows.size() << " row" << (rows.size() == 1 ? "" : "s") << ")\n";
  return Status::ok();
}

void printAlignedTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                       std::ostream& out, const std::string& indent) {
  const size_t columns = headers.size();
  std::vector<bool> numeric(columns, true);
  for (const auto& row : rows)
    for (size_t i = 0; i < columns; ++i)
      if (!row[i].empty() && !looksNumeric(row[i])) numeric[i] = false;
  std::vector<size_t> widths(columns);
  for (size_t i = 0; i < columns; ++i) {
    widths[i] = displayWidth(headers[i]);
    for (const auto& row : rows) widths[i] = std::max(widths[i], displayWidth(row[i]));
  }
  auto printRow = [&](const std::vector<std::string>& row) {
    std::string line = indent;
    for (size_t i = 0; i < columns; ++i) {
      const size_t pad = widths[i] - displayWidth(row[i]);
      if (i > 0) line += "  ";
      if (numeric[i]) line += std::string(pad, ' ') + row[i];
      else line += row[i] + (i + 1 < columns ? std::string(pad, ' ') : "");
    }
    out << line << '\n';
  };
  printRow(headers);
  std::vector<std::string> rule;
  for (size_t i = 0; i < columns; ++i) rule.push_back(std::string(widths[i], '-'));
  printRow(rule);
  for (const auto& row : rows) printRow(row);
}

Status printQuery(Db& db, const std::string& sql, QueryFormat format, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare(sql));
  if (!stmt.raw()) return Status::error("empty SQL: nothing to run");
  if (format == QueryFormat::kTable) return printStatementTable(stmt, out);
  const int columns = stmt.columnCount();
  if (format == QueryFormat::kCsv) {
    for (int i = 0; i < columns; ++i) out << (i ? "," : "") << csvField(stmt.columnName(i));
    out << '\n';
    while (true) {
      NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
      if (!has_row) break;
      for (int i = 0; i < columns; ++i) out << (i ? "," : "") << csvField(cellText(stmt, i));
      out << '\n';
    }
    return Status::ok();
  }
  out << "[";
  bool first = true;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    out << (first ? "\n  {" : ",\n  {");
    first = false;
    for (int i = 0; i < columns; ++i) {
      out << (i ? ", " : "") << jsonQuote(stmt.columnName(i)) << ": ";
      switch (stmt.columnType(i)) {
        case SQLITE_NULL: out << "null"; break;
        case SQLITE_INTEGER: out << stmt.columnInt(i); break;
        case SQLITE_FLOAT: {
          const double value = stmt.columnDouble(i);
          if (std::isfinite(value)) out << cellText(stmt, i);
          else out << "null";
          break;
        }
        default: out << jsonQuote(cellText(stmt, i)); break;
      }
    }
    out << "}";
  }
  out << (first ? "]\n" : "\n]\n");
  return Status::ok();
}

Status printDropTable(Db& db, const std::string& by, std::ostream& out) {
  std::string sql;
  if (by == "reason") sql = "SELECT reason, drops FROM drop_by_reason";
  else if (by == "device") sql = "SELECT device, ifindex, netns, drops FROM drop_by_device";
  else if (by == "location") sql = "SELECT location_text AS location, drops FROM drop_by_location";
  else if (by == "stack") sql = "SELECT stack_id, drops, reason, top_flow FROM drop_by_stack";
  else return Status::error("drops: --by ", by, ": expected reason, device, location or stack");
  NT_ASSIGN_OR_RETURN(int64_t total, db.queryInt("SELECT COALESCE(SUM(drops), 0) FROM drop_by_reason"));
  out << "Total drops: " << total << "\n\n";
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare(sql));
  return printStatementTable(stmt, out);
}

Status printTopDrops(Db& db, const TopOptions& options, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(int64_t events, db.queryInt("SELECT COUNT(*) FROM drop_event"));
  NT_ASSIGN_OR_RETURN(int64_t offset, clockOffset(db));
  NT_ASSIGN_OR_RETURN(int64_t start, db.queryInt("SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE "
                                                 "key = 'start_boottime_ns'), (SELECT MIN(time_ns) FROM drop_count), 0)"));
  const bool recorded_intervals = events == 0 && options.interval_seconds <= 0;
  const int64_t interval_ns = static_cast<int64_t>(options.interval_seconds * 1e9);
  std::string bucket;
  if (recorded_intervals) bucket = "interval_index";
  else if (interval_ns > 0) bucket = "MAX(0, (time_ns - " + std::to_string(start) + ") / " + std::to_string(interval_ns) + ")";
  else bucket = "0";
  const bool by_stack = options.group_by != TopGroupBy::kFiveTuple;
  const bool by_flow = options.group_by != TopGroupBy::kStack;
  std::string key = "netns, ifindex, reason";
  if (by_stack) key += ", stack_id";
  if (by_flow) key += ", src_ip, dst_ip, src_port, dst_port, l4";
  const std::string sql =
      "SELECT " + bucket + " AS bucket, MIN(time_ns), MAX(time_ns), SUM(drops), " +
      "COALESCE((SELECT name FROM interface i WHERE i.netns = c.netns AND i.ifindex = c.ifindex), "
      "CASE WHEN ifindex = 0 THEN '-' ELSE 'if' || ifindex END), reason, " +
      (by_stack ? "stack_id" : "NULL") + ", " +
      (by_flow ? "src_ip, dst_ip, src_port, dst_port, l4" : "NULL, NULL, NULL, NULL, NULL") +
      " FROM drop_count c GROUP BY bucket, " + key + " ORDER BY bucket, SUM(drops) DESC";
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare(sql));

  // Per-bucket totals first, for the interval headers.
  NT_ASSIGN_OR_RETURN(Statement totals,
                      db.prepare("SELECT " + bucket + " AS bucket, SUM(drops), MAX(time_ns) FROM drop_count GROUP BY bucket"));
  std::map<int64_t, std::pair<int64_t, int64_t>> bucket_totals;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, totals.step());
    if (!row) break;
    bucket_totals[totals.columnInt(0)] = {totals.columnInt(1), totals.columnInt(2)};
  }
  if (bucket_totals.empty()) {
    out << "No drops recorded.\n";
    return Status::ok();
  }

  StackCache stacks(db);
  int64_t current = -1;
  bool first_bucket = true;
  int rank = 0;
  int interval_number = 0;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    const int64_t b = stmt.columnInt(0);
    if (first_bucket || b != current) {
      current = b;
      first_bucket = false;
      rank = 0;
      ++interval_number;
      const auto& [total, last_time] = bucket_totals[b];
      std::string when;
      if (recorded_intervals) when = "ending " + formatUtc(last_time + offset, false);
      else if (interval_ns > 0) when = "from " + formatUtc(start + b * interval_ns + offset, false);
      else when = "whole recording";
      out << (interval_number > 1 ? "\n" : "") << "=== Interval " << interval_number << " (" << when << "): "
          << total << " drops ===\n";
    }
    if (++rank > options.top) continue;
    out << "#" << rank << " Count: " << stmt.columnInt(3) << " calls [device: " << escapeForTerminal(stmt.columnText(4))
        << "]";
    if (by_stack) out << " [stack_id: " << (stmt.columnIsNull(6) ? std::string("-") : std::to_string(stmt.columnInt(6))) << "]";
    out << " [reason: " << (stmt.columnIsNull(5) ? std::string("-") : escapeForTerminal(stmt.columnText(5))) << "]\n";
    if (by_flow) out << "   Flow: " << flowText(stmt, 7, 8, 9, 10, 11) << "\n";
    if (by_stack) {
      out << "Stack trace:\n";
      if (stmt.columnIsNull(6)) {
        out << "  (no stack recorded)\n";
      } else {
        NT_ASSIGN_OR_RETURN(const std::vector<std::string>* frames, stacks.frames(stmt.columnInt(6)));
        if (frames->empty()) out << "  (stack has no frames outside the tracing machinery)\n";
        for (const std::string& frame : *frames) out << "  " << frame << "\n";
      }
    }
  }
  return Status::ok();
}

Status printDropEvents(Db& db, int64_t limit, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(int64_t events, db.queryInt("SELECT COUNT(*) FROM drop_event"));
  if (events == 0) {
    NT_ASSIGN_OR_RETURN(int64_t summary, db.queryInt("SELECT COUNT(*) FROM drop_summary"));
    out << (summary > 0 ? "This recording holds summary counts only (no per-drop records); "
                          "try `nettrail top` or `nettrail drops`.\n"
                        : "No drops recorded.\n");
    return Status::ok();
  }
  NT_ASSIGN_OR_RETURN(Statement stmt,
                      db.prepare("SELECT realtime_ns, cpu, tid, comm, device, reason, location, stack_id, eth_src, "
                                 "eth_dst, vlan_id, l3, src_ip, dst_ip, l4, src_port, dst_port, length, ttl, ip_id, "
                                 "tcp_flags, tcp_seq, icmp_type, icmp_id, icmp_seq "
                                 "FROM drop_detail ORDER BY time_ns LIMIT ?"));
  stmt.bind(1, limit);
  StackCache stacks(db);
  auto text = [&](int i) { return stmt.columnIsNull(i) ? std::string("-") : escapeForTerminal(stmt.columnText(i)); };
  int64_t shown = 0;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    ++shown;
    out << formatUtc(stmt.columnInt(0)) << "  cpu " << stmt.columnInt(1) << "  " << text(3) << "[" << stmt.columnInt(2)
        << "]  dev " << text(4) << "  reason " << text(5) << "  at " << text(6) << "\n";
    out << "    ";
    if (!stmt.columnIsNull(8)) out << text(8) << " > " << text(9) << "  ";
    if (!stmt.columnIsNull(10)) out << "vlan " << stmt.columnInt(10) << "  ";
    out << text(11);
    if (!stmt.columnIsNull(12)) out << "  " << flowText(stmt, 12, 13, 15, 16, 14);
    out << "  len " << stmt.columnInt(17);
    if (!stmt.columnIsNull(18)) out << "  ttl " << stmt.columnInt(18);
    if (!stmt.columnIsNull(19)) out << "  id " << stmt.columnInt(19);
    if (!stmt.columnIsNull(20)) out << "  flags " << text(20) << "  seq " << stmt.columnInt(21);
    if (!stmt.columnIsNull(22))
      out << "  icmp type " << stmt.columnInt(22) << " id " << stmt.columnInt(23) << " seq " << stmt.columnInt(24);
    out << "\n";
    if (!stmt.columnIsNull(7)) {
      NT_ASSIGN_OR_RETURN(const std::vector<std::string>* frames, stacks.frames(stmt.columnInt(7)));
      out << "    stack:";
      for (size_t i = 0; i < frames->size() && i < 4; ++i) out << (i ? " <- " : " ") << (*frames)[i];
      if (frames->size() > 4) out << " <- ...";
      out << "\n";
    }
  }
  if (events > shown) out << "(" << shown << " of " << events << " drops shown; --limit N for more)\n";
  return Status::ok();
}

Status printOffcpuView(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(int64_t periods, db.queryInt("SELECT COUNT(*) FROM offcpu_period"));
  if (periods == 0) {
    out << "No off-CPU periods recorded.\n";
    return Status::ok();
  }
  out << "Off-CPU time by thread:\n";
  NT_ASSIGN_OR_RETURN(Statement threads,
                      db.prepare("SELECT pid, tid, comm, ROUND(total_ns / 1e6, 3) AS total_ms, periods, "
                                 "ROUND(max_ns / 1e6, 3) AS max_ms FROM offcpu_by_thread LIMIT 50"));
  NT_RETURN_IF_ERROR(printStatementTable(threads, out));

  NT_ASSIGN_OR_RETURN(Statement pairs,
                      db.prepare("SELECT tid, comm, kernel_stack_id, user_stack_id, total_ns, periods "
                                 "FROM offcpu_by_stack LIMIT ?"));
  pairs.bind(1, static_cast<int64_t>(top));
  out << "\nTop " << top << " stack pairs by off-CPU time (kernel frames innermost first, then user frames):\n";
  StackCache stacks(db);
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, pairs.step());
    if (!row) break;
    out << "\n";
    if (pairs.columnIsNull(2)) {
      out << "    [no kernel stack]\n";
    } else {
      NT_ASSIGN_OR_RETURN(const std::vector<std::string>* frames, stacks.frames(pairs.columnInt(2)));
      for (const std::string& f : *frames) out << "    " << f << "\n";
    }
    out << "    --\n";
    if (pairs.columnIsNull(3)) {
      out << "    [no user stack]\n";
    } else {
      NT_ASSIGN_OR_RETURN(const std::vector<std::string>* frames, stacks.frames(pairs.columnInt(3)));
      for (const std::string& f : *frames) out << "    " << f << "\n";
    }
    const std::string comm = pairs.columnIsNull(1) ? "?" : escapeForTerminal(pairs.columnText(1));
    char total[64];
    std::snprintf(total, sizeof(total), "%.3f ms", pairs.columnDouble(4) / 1e6);
    out << "    -                " << comm << " (" << pairs.columnInt(0) << ")\n";
    out << "        " << total << " in " << pairs.columnInt(5) << " period" << (pairs.columnInt(5) == 1 ? "" : "s")
        << "\n";
  }

  NT_ASSIGN_OR_RETURN(int64_t details, db.queryInt("SELECT COUNT(*) FROM offcpu_event"));
  if (details == 0) {
    out << "\nThis recording holds in-kernel totals only; record with details for per-period times.\n";
    return Status::ok();
  }
  out << "\nLongest off-CPU periods:\n";
  NT_ASSIGN_OR_RETURN(Statement longest,
                      db.prepare("SELECT realtime_ns, ROUND(duration_ns / 1e6, 3) AS ms, tid, comm, state, "
                                 "waker_tid, waker_comm, user_top, kernel_top FROM offcpu_detail "
                                 "ORDER BY duration_ns DESC LIMIT ?"));
  longest.bind(1, static_cast<int64_t>(top));
  auto text = [&](int i) { return longest.columnIsNull(i) ? std::string("-") : escapeForTerminal(longest.columnText(i)); };
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, longest.step());
    if (!row) break;
    out << "  " << formatUtc(longest.columnInt(0)) << "  " << text(1) << " ms  " << text(3) << "[" << text(2)
        << "]  state " << text(4) << "  woken by " << text(6) << "[" << text(5) << "]\n"
        << "      at " << text(7) << "  /  " << text(8) << "\n";
  }
  return Status::ok();
}

Status printCpuView(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(int64_t intervals, db.queryInt("SELECT COUNT(*) FROM cpu_usage"));
  if (intervals == 0) {
    out << "No CPU samples recorded (the cpu family needs at least two samples of a thread).\n";
    return Status::ok();
  }
  out << "CPU per thread:\n";
  NT_ASSIGN_OR_RETURN(Statement threads,
                      db.prepare("SELECT tid, comm, ROUND(cpu_ns / 1e9, 3) AS cpu_s, ROUND(max_percent, 1) AS "
                                 "max_percent, bursts FROM cpu_by_thread LIMIT 50"));
  NT_RETURN_IF_ERROR(printStatementTable(threads, out));

  // Interval ends shared by every thread, so the digit rows line up.
  NT_ASSIGN_OR_RETURN(Statement times, db.prepare("SELECT DISTINCT time_ns FROM cpu_usage ORDER BY time_ns"));
  std::vector<int64_t> columns;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, times.step());
    if (!row) break;
    columns.push_back(times.columnInt(0));
  }
  NT_ASSIGN_OR_RETURN(int64_t offset, clockOffset(db));
  out << "\nBusiest " << top << " threads over time, one digit per interval (tenths of a CPU; X = a full CPU or "
      << "more; 8 and up is a burst); starts " << formatUtc(columns.front() + offset, false) << ":\n";
  NT_ASSIGN_OR_RETURN(Statement busiest, db.prepare("SELECT tid, comm FROM cpu_by_thread LIMIT ?"));
  busiest.bind(1, static_cast<int64_t>(top));
  NT_ASSIGN_OR_RETURN(Statement usage, db.prepare("SELECT time_ns, percent FROM cpu_usage WHERE tid = ?"));
  constexpr size_t kDigitsPerLine = 60;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, busiest.step());
    if (!row) break;
    std::string digits(columns.size(), ' ');
    usage.reset();
    usage.bind(1, busiest.columnInt(0));
    while (true) {
      NT_ASSIGN_OR_RETURN(bool sample, usage.step());
      if (!sample) break;
      auto at = std::lower_bound(columns.begin(), columns.end(), usage.columnInt(0));
      if (at == columns.end()) continue;
      const double percent = usage.columnDouble(1);
      const int tenths = static_cast<int>(percent / 10.0);
      digits[static_cast<size_t>(at - columns.begin())] = tenths >= 10 ? 'X' : static_cast<char>('0' + std::max(0, tenths));
    }
    const std::string label = (busiest.columnIsNull(1) ? std::string("?") : escapeForTerminal(busiest.columnText(1))) +
                              " (" + std::to_string(busiest.columnInt(0)) + ")";
    out << "  " << label << "\n";
    for (size_t i = 0; i < digits.size(); i += kDigitsPerLine) out << "    " << digits.substr(i, kDigitsPerLine) << "\n";
  }

  NT_ASSIGN_OR_RETURN(int64_t bursts, db.queryInt("SELECT COUNT(*) FROM cpu_burst"));
  out << "\nBursts (>= 80% of one CPU in an interval): " << bursts << "\n";
  NT_ASSIGN_OR_RETURN(Statement list, db.prepare("SELECT realtime_ns, tid, comm, percent FROM cpu_burst LIMIT 200"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, list.step());
    if (!row) break;
    char percent[32];
    std::snprintf(percent, sizeof(percent), "%5.1f%%", list.columnDouble(3));
    out << "  " << formatUtc(list.columnInt(0), false) << "  " << percent << "  "
        << (list.columnIsNull(2) ? std::string("?") : escapeForTerminal(list.columnText(2))) << " ("
        << list.columnInt(1) << ")\n";
  }
  if (bursts > 200) out << "  (first 200 of " << bursts << ")\n";
  return Status::ok();
}

}  // namespace nettrail
