// Locks family, analyzer side: LockWaits -> locks_wait, LocksSummary ->
// locks_summary/locks_interval, the report section, and the terminal view of
// `nettrail locks` (waits per lock, waiter/holder pairs, longest waits).
#include <algorithm>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>

#include "core/embedded_assets.h"
#include "core/text_escape.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"
#include "views/text_views.h"

namespace nettrail::locks {

// Printed by `nettrail locks FILE`: declared here, called from cli.cpp.
Status printLocksView(Db& db, int top, std::ostream& out);

namespace {

// Waits at least this long are drawn in the report's timeline.
constexpr int64_t kLongWaitNs = 1'000'000;

// LockWaits.kind / LocksSummaryEntry.kind (schema/locks.capnp) as stored in SQL.
std::string_view kindName(uint8_t kind) {
  switch (kind) {
    case 1: return "read";
    case 2: return "write";
    case 3: return "mutex";
  }
  return "unknown";
}

using SummaryKey = std::tuple<uint32_t, uint64_t, uint8_t>;  // pid, lock, kind

class LocksImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::LOCKS; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/locks.sql")));
    NT_ASSIGN_OR_RETURN(insert_wait_, db.prepare("INSERT INTO locks_wait VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_summary_, db.prepare("INSERT INTO locks_summary VALUES (?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_interval_, db.prepare("INSERT INTO locks_interval VALUES (?,?,?,?)"));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    LocksBatch::Reader locks = batch.getLocks();
    switch (locks.which()) {
      case LocksBatch::WAITS:
        return importWaits(locks.getWaits(), ctx);
      case LocksBatch::SUMMARY:
        return importSummary(locks.getSummary(), ctx);
    }
    ctx.addUnknownBatchKind("locks");
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    if (short_batches_ > 0)
      ctx.addShortColumns("locks", short_batches_, short_rows_, "waits");
    insert_wait_ = Statement();
    insert_summary_ = Statement();
    insert_interval_ = Statement();
    return ctx.db().exec(
        "CREATE INDEX locks_wait_lock ON locks_wait(lock_address, kind);"
        "CREATE INDEX locks_wait_tid ON locks_wait(tid);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    LocksBatch::Reader locks = batch.getLocks();
    if (locks.isWaits()) return locks.getWaits().getStartDelta().size();
    if (locks.isSummary()) return locks.getSummary().getEntries().size();
    return 0;
  }

  Status addReportSections(Db& db, ReportBuilder& report) override;

 private:
  Status importWaits(LockWaits::Reader waits, IngestContext& ctx) {
    auto start_delta = waits.getStartDelta();
    auto wait = waits.getWaitNs();
    auto tid = waits.getTid();
    auto lock = waits.getLockAddress();
    auto kind = waits.getKind();
    auto result = waits.getResult();
    auto holder = waits.getHolderTid();
    auto readers = waits.getHolderReaders();
    auto held = waits.getHolderHeldNs();
    auto hold = waits.getHolderHoldNs();
    auto user_stack = waits.getUserStackId();
    auto holder_stack = waits.getHolderUserStackId();
    size_t n = start_delta.size();
    const size_t sizes[] = {wait.size(),    tid.size(),     lock.size(), kind.size(),       result.size(),
                            holder.size(),  readers.size(), held.size(), hold.size(),       user_stack.size(),
                            holder_stack.size()};
    for (size_t s : sizes) n = std::min(n, s);
    if (n < start_delta.size()) {
      ++short_batches_;
      short_rows_ += start_delta.size() - n;
    }
    uint64_t time = waits.getBaseTimeNs();
    Statement& s = insert_wait_;
    auto bindOrNull = [&s](int index, uint64_t value) {
      if (value) s.bind(index, static_cast<int64_t>(value));
      else s.bindNull(index);
    };
    for (size_t i = 0; i < n; ++i) {
      time += start_delta[i];
      s.bind(1, static_cast<int64_t>(time));
      s.bind(2, static_cast<int64_t>(wait[i]));
      s.bind(3, int64_t{tid[i]});
      s.bind(4, static_cast<int64_t>(lock[i]));
      s.bindStatic(5, kindName(kind[i]));
      s.bind(6, int64_t{result[i]});
      bindOrNull(7, holder[i]);
      s.bind(8, int64_t{readers[i]});
      bindOrNull(9, held[i]);
      bindOrNull(10, hold[i]);
      bindOrNull(11, user_stack[i]);
      bindOrNull(12, holder_stack[i]);
      NT_RETURN_IF_ERROR(s.run().context("locks: insert locks_wait"));
    }
    ctx.addRows(n);
    return Status::ok();
  }

  Status importSummary(LocksSummary::Reader summary, IngestContext& ctx) {
    const int64_t interval = summary.getIntervalIndex();
    const int64_t time = static_cast<int64_t>(summary.getTimeNs());
    for (LocksSummaryEntry::Reader e : summary.getEntries()) {
      SummaryKey key{e.getPid(), e.getLockAddress(), e.getKind()};
      auto& last = last_[key];
      // Cumulative in the kernel: the interval's share is the growth.
      const uint64_t grew_ns = e.getTotalNs() >= last.first ? e.getTotalNs() - last.first : e.getTotalNs();
      const uint64_t grew_count = e.getCount() >= last.second ? e.getCount() - last.second : e.getCount();
      last = {e.getTotalNs(), e.getCount()};
      if (grew_count == 0 && grew_ns == 0) continue;
      Statement& s = insert_summary_;
      s.bind(1, interval);
      s.bind(2, time);
      s.bind(3, int64_t{e.getPid()});
      s.bind(4, static_cast<int64_t>(e.getLockAddress()));
      s.bindStatic(5, kindName(e.getKind()));
      s.bind(6, static_cast<int64_t>(grew_ns));
      s.bind(7, static_cast<int64_t>(grew_count));
      s.bind(8, static_cast<int64_t>(e.getMaxNs()));
      NT_RETURN_IF_ERROR(s.run().context("locks: insert locks_summary"));
      ctx.addRows(1);
    }
    const uint64_t total_ns = summary.getTotalNs(), total_count = summary.getTotalCount();
    insert_interval_.bind(1, interval);
    insert_interval_.bind(2, time);
    insert_interval_.bind(3, static_cast<int64_t>(total_ns >= total_ns_last_ ? total_ns - total_ns_last_ : total_ns));
    insert_interval_.bind(4, static_cast<int64_t>(total_count >= total_count_last_ ? total_count - total_count_last_
                                                                                    : total_count));
    total_ns_last_ = total_ns;
    total_count_last_ = total_count;
    return insert_interval_.run().context("locks: insert locks_interval");
  }

  Statement insert_wait_, insert_summary_, insert_interval_;
  std::map<SummaryKey, std::pair<uint64_t, uint64_t>> last_;
  uint64_t total_ns_last_ = 0, total_count_last_ = 0;
  uint64_t short_batches_ = 0, short_rows_ = 0;
};

Status LocksImporter::addReportSections(Db& db, ReportBuilder& report) {
  NT_ASSIGN_OR_RETURN(int64_t waits, db.queryInt("SELECT COALESCE(SUM(waits), 0) FROM locks_by_lock"));
  NT_ASSIGN_OR_RETURN(int64_t hooks_missing,
                      db.queryInt("SELECT COUNT(*) FROM attachment WHERE family = 'locks' AND attached = 0"));
  NT_ASSIGN_OR_RETURN(int64_t hooks, db.queryInt("SELECT COUNT(*) FROM attachment WHERE family = 'locks'"));
  if (waits == 0 && hooks == 0) return Status::ok();
  NT_ASSIGN_OR_RETURN(int64_t total_ns, db.queryInt("SELECT COALESCE(SUM(total_ns), 0) FROM locks_by_lock"));
  char ms[32];
  std::snprintf(ms, sizeof(ms), "%.3f ms", static_cast<double>(total_ns) / 1e6);
  report.headline("Lock waits", std::to_string(waits));
  report.headline("Lock wait time", ms);
  report.beginSection("locks", "Lock waits",
                      "Waits in pthread rwlocks and mutexes of the traced process, from each lock call's entry to "
                      "its return (uprobes on the libc it maps), with the thread that held the lock when the wait "
                      "began and both threads' user stacks: the waiter's where it called, the holder's where it "
                      "acquired. Waits shorter than --lock-min-wait are only counted.");
  if (hooks_missing > 0)
    NT_RETURN_IF_ERROR(report.table("Lock functions not probed", db,
                                    "SELECT hook, note FROM attachment WHERE family = 'locks' AND attached = 0",
                                    50));
  if (waits == 0) return Status::ok();
  NT_RETURN_IF_ERROR(report.table("Waits per lock", db,
                                  "SELECT lock, kind, waits, ROUND(total_ns / 1e6, 3) AS total_ms, "
                                  "ROUND(max_ns / 1e6, 3) AS max_ms, ROUND(p50_ns / 1e6, 3) AS p50_ms, "
                                  "ROUND(p99_ns / 1e6, 3) AS p99_ms FROM locks_by_lock",
                                  100));
  NT_RETURN_IF_ERROR(report.table("Waiter and holder pairs", db,
                                  "SELECT lock, kind, waiter_tid, waiter_comm, holder_tid, holder_comm, waits, "
                                  "ROUND(total_ns / 1e6, 3) AS total_ms, ROUND(max_ns / 1e6, 3) AS max_ms, "
                                  "waiter_top, holder_top FROM locks_pairs",
                                  100));
  NT_RETURN_IF_ERROR(report.stacks("Waiter user stacks by wait time (ms)", db,
                                   "SELECT CAST(SUM(wait_ns) / 1000000 AS INTEGER) AS count, user_stack_id AS "
                                   "stack_id, kind || ' ' || printf('0x%x', lock_address) AS label FROM locks_wait "
                                   "WHERE user_stack_id IS NOT NULL GROUP BY user_stack_id ORDER BY SUM(wait_ns) DESC",
                                   20));
  NT_RETURN_IF_ERROR(report.stacks("Holder user stacks (at acquisition) by the wait they caused (ms)", db,
                                   "SELECT CAST(SUM(wait_ns) / 1000000 AS INTEGER) AS count, holder_user_stack_id AS "
                                   "stack_id, kind || ' ' || printf('0x%x', lock_address) AS label FROM locks_wait "
                                   "WHERE holder_user_stack_id IS NOT NULL GROUP BY holder_user_stack_id "
                                   "ORDER BY SUM(wait_ns) DESC",
                                   20));
  NT_ASSIGN_OR_RETURN(int64_t long_waits,
                      db.queryInt("SELECT COUNT(*) FROM locks_wait WHERE wait_ns >= " + std::to_string(kLongWaitNs)));
  if (long_waits > 0)
    NT_RETURN_IF_ERROR(report.timeSeries(
        "Lock waits >= 1 ms: wait ms per second by lock", db,
        "SELECT (start_ns / 1000000000) * 1000000000 AS time_ns, kind || ' ' || printf('0x%x', lock_address), "
        "SUM(wait_ns) / 1e6 FROM locks_wait WHERE wait_ns >= " + std::to_string(kLongWaitNs) +
            " GROUP BY 1, 2 ORDER BY 1",
        true));
  return report.table("Longest waits", db,
                      "SELECT strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS start_utc, "
                      "ROUND(wait_ns / 1e6, 3) AS ms, tid, comm, lock, kind, result, holder_tid, holder_comm, "
                      "ROUND(holder_hold_ns / 1e6, 3) AS holder_hold_ms, waiter_top, holder_top "
                      "FROM locks_detail ORDER BY wait_ns DESC LIMIT 200",
                      200);
}

Status printTable(Db& db, const char* title, const std::string& sql, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare(sql));
  out << title << ":\n";
  NT_RETURN_IF_ERROR(printStatementTable(stmt, out));
  out << "\n";
  return Status::ok();
}

}  // namespace

Status printLocksView(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement missing,
                      db.prepare("SELECT hook, note FROM attachment WHERE family = 'locks' AND attached = 0"));
  bool header = false;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, missing.step());
    if (!row) break;
    if (!header) out << "Lock functions not probed:\n";
    header = true;
    out << "  " << escapeForTerminal(missing.columnText(0)) << ": " << escapeForTerminal(missing.columnText(1)) << "\n";
  }
  if (header) out << "\n";
  NT_ASSIGN_OR_RETURN(int64_t waits, db.queryInt("SELECT COALESCE(SUM(waits), 0) FROM locks_by_lock"));
  if (waits == 0) {
    out << "No lock waits recorded (was the locks family recorded, and did any wait reach --lock-min-wait?)\n";
    return Status::ok();
  }
  const std::string limit = " LIMIT " + std::to_string(top);
  NT_RETURN_IF_ERROR(printTable(db, "Waits per lock",
                                "SELECT lock, kind, waits, ROUND(total_ns / 1e6, 3) AS total_ms, "
                                "ROUND(max_ns / 1e6, 3) AS max_ms, ROUND(p50_ns / 1e6, 3) AS p50_ms, "
                                "ROUND(p99_ns / 1e6, 3) AS p99_ms FROM locks_by_lock" + limit,
                                out));
  NT_RETURN_IF_ERROR(printTable(db, "Waiter <- holder",
                                "SELECT lock, kind, waiter_comm || ' (' || waiter_tid || ')' AS waiter, "
                                "COALESCE(holder_comm || ' (' || holder_tid || ')', '?') AS holder, waits, "
                                "ROUND(total_ns / 1e6, 3) AS total_ms, ROUND(max_ns / 1e6, 3) AS max_ms, "
                                "waiter_top, holder_top FROM locks_pairs" + limit,
                                out));
  return printTable(db, "Longest waits",
                    "SELECT ROUND(wait_ns / 1e6, 3) AS ms, comm || ' (' || tid || ')' AS waiter, lock, kind, "
                    "COALESCE(holder_comm || ' (' || holder_tid || ')', '?') AS holder, "
                    "ROUND(holder_hold_ns / 1e6, 3) AS holder_hold_ms, waiter_top FROM locks_detail "
                    "ORDER BY wait_ns DESC" + limit,
                    out);
}

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<LocksImporter>(); }

}  // namespace nettrail::locks
