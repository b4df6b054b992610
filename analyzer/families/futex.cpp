// Futex family, analyzer side: FutexEvents -> futex_event, FutexSummary ->
// futex_summary/futex_interval, the report section, and the terminal view of
// `nettrail futex`.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>

#include "core/embedded_assets.h"
#include "core/text_escape.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"
#include "views/text_views.h"

namespace nettrail::futex {

// Printed by `nettrail futex FILE`: declared here, called from cli.cpp.
Status printFutexView(Db& db, int top, std::ostream& out);

namespace {

using SummaryKey = std::tuple<uint32_t, uint32_t, uint8_t, uint64_t>;  // pid, tid, op, uaddr

struct Cumulative {
  uint64_t calls = 0, total_ns = 0, errors = 0;
};

// The interval's share of a cumulative kernel counter (a restart counts from 0).
uint64_t growth(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

class FutexImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::FUTEX; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/futex.sql")));
    NT_ASSIGN_OR_RETURN(insert_event_, db.prepare("INSERT INTO futex_event VALUES (?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_summary_, db.prepare("INSERT INTO futex_summary VALUES (?,?,?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_interval_, db.prepare("INSERT INTO futex_interval VALUES (?,?,?,?)"));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    FutexBatch::Reader futex = batch.getFutex();
    switch (futex.which()) {
      case FutexBatch::EVENTS:
        return importEvents(futex.getEvents(), ctx);
      case FutexBatch::SUMMARY:
        return importSummary(futex.getSummary(), ctx);
    }
    ctx.addUnknownBatchKind("futex");
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    if (short_batches_ > 0)
      ctx.addShortColumns("futex", short_batches_, short_rows_, "calls");
    insert_event_ = Statement();
    insert_summary_ = Statement();
    insert_interval_ = Statement();
    return ctx.db().exec(
        "CREATE INDEX futex_event_tid ON futex_event(tid);"
        "CREATE INDEX futex_summary_tid ON futex_summary(tid);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    FutexBatch::Reader futex = batch.getFutex();
    if (futex.isEvents()) return futex.getEvents().getStartDelta().size();
    if (futex.isSummary()) return futex.getSummary().getEntries().size();
    return 0;
  }

  Status addReportSections(Db& db, ReportBuilder& report) override;

 private:
  Status importEvents(FutexEvents::Reader events, IngestContext& ctx) {
    auto start_delta = events.getStartDelta();
    auto duration = events.getDurationNs();
    auto tid = events.getTid();
    auto op = events.getOp();
    auto uaddr = events.getUaddr();
    auto result = events.getResult();
    size_t n = start_delta.size();
    const size_t sizes[] = {duration.size(), tid.size(), op.size(), uaddr.size(), result.size()};
    for (size_t s : sizes) n = std::min(n, s);
    if (n < start_delta.size()) {
      ++short_batches_;
      short_rows_ += start_delta.size() - n;
    }
    uint64_t time = events.getBaseTimeNs();
    Statement& s = insert_event_;
    for (size_t i = 0; i < n; ++i) {
      time += start_delta[i];
      s.bind(1, static_cast<int64_t>(time));
      s.bind(2, static_cast<int64_t>(duration[i]));
      s.bind(3, int64_t{tid[i]});
      s.bind(4, int64_t{op[i]});
      s.bind(5, static_cast<int64_t>(uaddr[i]));
      s.bind(6, result[i]);
      NT_RETURN_IF_ERROR(s.run().context("futex: insert futex_event"));
    }
    ctx.addRows(n);
    return Status::ok();
  }

  Status importSummary(FutexSummary::Reader summary, IngestContext& ctx) {
    const int64_t interval = summary.getIntervalIndex();
    const int64_t time = static_cast<int64_t>(summary.getTimeNs());
    for (FutexSummaryEntry::Reader e : summary.getEntries()) {
      SummaryKey key{e.getPid(), e.getTid(), e.getOp(), e.getUaddr()};
      Cumulative& last = last_[key];
      // Cumulative in the kernel: the interval's share is the growth.
      const uint64_t calls = growth(e.getCalls(), last.calls);
      const uint64_t total_ns = growth(e.getTotalNs(), last.total_ns);
      const uint64_t errors = growth(e.getErrors(), last.errors);
      last = {e.getCalls(), e.getTotalNs(), e.getErrors()};
      if (calls == 0 && total_ns == 0) continue;
      Statement& s = insert_summary_;
      s.bind(1, interval);
      s.bind(2, time);
      s.bind(3, int64_t{e.getPid()});
      s.bind(4, int64_t{e.getTid()});
      s.bind(5, int64_t{e.getOp()});
      s.bind(6, static_cast<int64_t>(e.getUaddr()));
      s.bind(7, static_cast<int64_t>(calls));
      s.bind(8, static_cast<int64_t>(total_ns));
      s.bind(9, static_cast<int64_t>(e.getMaxNs()));
      s.bind(10, static_cast<int64_t>(errors));
      NT_RETURN_IF_ERROR(s.run().context("futex: insert futex_summary"));
      ctx.addRows(1);
    }
    insert_interval_.bind(1, interval);
    insert_interval_.bind(2, time);
    insert_interval_.bind(3, static_cast<int64_t>(growth(summary.getTotalCalls(), total_calls_last_)));
    insert_interval_.bind(4, static_cast<int64_t>(growth(summary.getTotalNs(), total_ns_last_)));
    total_calls_last_ = summary.getTotalCalls();
    total_ns_last_ = summary.getTotalNs();
    return insert_interval_.run().context("futex: insert futex_interval");
  }

  Statement insert_event_, insert_summary_, insert_interval_;
  std::map<SummaryKey, Cumulative> last_;
  uint64_t total_calls_last_ = 0, total_ns_last_ = 0;
  uint64_t short_batches_ = 0, short_rows_ = 0;
};

// Columns shared by the report and the terminal view.
constexpr char kByThreadOpSql[] =
    "SELECT pid, tid, comm, op_name AS op, calls, ROUND(total_ns / 1e6, 3) AS total_ms, "
    "ROUND(max_ns / 1e6, 3) AS max_ms, errors FROM futex_by_thread_op";
constexpr char kByAddressSql[] =
    "SELECT pid, uaddr_hex AS uaddr, threads, waiters, calls, wait_calls, ROUND(wait_ns / 1e6, 3) AS wait_ms, "
    "ROUND(max_wait_ns / 1e6, 3) AS max_wait_ms, wake_calls, errors FROM futex_by_address";

Status FutexImporter::addReportSections(Db& db, ReportBuilder& report) {
  NT_ASSIGN_OR_RETURN(int64_t calls, db.queryInt("SELECT COALESCE(SUM(calls), 0) FROM futex_call"));
  if (calls == 0) return Status::ok();
  NT_ASSIGN_OR_RETURN(int64_t wait_ns, db.queryInt("SELECT COALESCE(SUM(c.total_ns), 0) FROM futex_call c JOIN "
                                                   "futex_op o ON o.op = c.op WHERE o.waits = 1"));
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f s", static_cast<double>(wait_ns) / 1e9);
  report.headline("Futex calls", std::to_string(calls));
  report.headline("Futex wait time", seconds);
  report.beginSection("futex", "Futex waits",
                      "futex(2) calls timed from syscall entry to exit (syscalls:sys_enter_futex and "
                      "sys_exit_futex): which threads call and wait, on which futex words, and for how long. "
                      "Totals come from the in-kernel summary, which counts every call; per-call rows only hold "
                      "calls of at least --futex-min-wait. futex_waitv(2) is not recorded.");
  NT_RETURN_IF_ERROR(report.table("Futex calls per thread and command", db, kByThreadOpSql, 200));
  NT_RETURN_IF_ERROR(report.table("Futex words (the ones most threads wait on first)", db, kByAddressSql, 100));
  NT_ASSIGN_OR_RETURN(int64_t events, db.queryInt("SELECT COUNT(*) FROM futex_event"));
  if (events > 0) {
    NT_RETURN_IF_ERROR(report.table(
        "Longest futex calls", db,
        "SELECT strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS start_utc, "
        "ROUND(duration_ns / 1e6, 3) AS ms, pid, tid, comm, op_name AS op, uaddr_hex AS uaddr, result, error "
        "FROM futex_detail ORDER BY duration_ns DESC LIMIT 200",
        200));
  }
  return Status::ok();
}

}  // namespace

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<FutexImporter>(); }

Status printFutexView(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(int64_t calls, db.queryInt("SELECT COALESCE(SUM(calls), 0) FROM futex_call"));
  if (calls == 0) {
    out << "No futex calls recorded (record with --families futex).\n";
    return Status::ok();
  }
  NT_ASSIGN_OR_RETURN(int64_t summary, db.queryInt("SELECT COUNT(*) FROM futex_summary"));
  out << "Futex calls: " << calls
      << (summary > 0 ? " (in-kernel summary: every call)\n\n"
                      : " (per-call records only: calls shorter than --futex-min-wait are missing)\n\n");
  const std::string limit = " LIMIT " + std::to_string(top);
  out << "Per thread and command (by time in the kernel):\n";
  NT_ASSIGN_OR_RETURN(Statement by_thread, db.prepare(std::string(kByThreadOpSql) + limit));
  NT_RETURN_IF_ERROR(printStatementTable(by_thread, out));
  out << "\nTop futex words (by threads waiting, then wait time):\n";
  NT_ASSIGN_OR_RETURN(Statement by_address, db.prepare(std::string(kByAddressSql) + limit));
  return printStatementTable(by_address, out);
}

}  // namespace nettrail::futex
