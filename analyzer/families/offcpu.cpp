// Off-CPU family, analyzer side: OffcpuEvents -> offcpu_event, OffcpuSummary ->
// offcpu_summary/offcpu_interval, and the report sections over them.
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "core/embedded_assets.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"

namespace nettrail::offcpu {
namespace {

// Periods at least this long are "long" in the report's timeline.
constexpr int64_t kLongEventNs = 10'000'000;

using SummaryKey = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>;  // pid, tid, kernel stack, user stack

class OffcpuImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::OFFCPU; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/offcpu.sql")));
    NT_ASSIGN_OR_RETURN(insert_event_, db.prepare("INSERT INTO offcpu_event VALUES (?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_summary_, db.prepare("INSERT INTO offcpu_summary VALUES (?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_interval_, db.prepare("INSERT INTO offcpu_interval VALUES (?,?,?,?)"));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    OffcpuBatch::Reader offcpu = batch.getOffcpu();
    switch (offcpu.which()) {
      case OffcpuBatch::EVENTS:
        return importEvents(offcpu.getEvents(), ctx);
      case OffcpuBatch::SUMMARY:
        return importSummary(offcpu.getSummary(), ctx);
    }
    ctx.addUnknownBatchKind("offcpu");
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    if (short_batches_ > 0)
      ctx.addShortColumns("offcpu", short_batches_, short_rows_, "periods");
    insert_event_ = Statement();
    insert_summary_ = Statement();
    insert_interval_ = Statement();
    return ctx.db().exec(
        "CREATE INDEX offcpu_event_tid ON offcpu_event(tid);"
        "CREATE INDEX offcpu_summary_tid ON offcpu_summary(tid);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    OffcpuBatch::Reader offcpu = batch.getOffcpu();
    if (offcpu.isEvents()) return offcpu.getEvents().getStartDelta().size();
    if (offcpu.isSummary()) return offcpu.getSummary().getEntries().size();
    return 0;
  }

  Status addReportSections(Db& db, ReportBuilder& report) override;

 private:
  Status importEvents(OffcpuEvents::Reader events, IngestContext& ctx) {
    auto start_delta = events.getStartDelta();
    auto duration = events.getDurationNs();
    auto tid = events.getTid();
    auto state = events.getState();
    auto waker = events.getWakerTid();
    auto kernel_stack = events.getKernelStackId();
    auto user_stack = events.getUserStackId();
    auto cpu = events.getCpu();
    size_t n = start_delta.size();
    const size_t sizes[] = {duration.size(),     tid.size(),        state.size(), waker.size(),
                            kernel_stack.size(), user_stack.size(), cpu.size()};
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
      s.bind(4, int64_t{state[i]});
      if (waker[i]) s.bind(5, int64_t{waker[i]});
      else s.bindNull(5);
      if (kernel_stack[i]) s.bind(6, int64_t{kernel_stack[i]});
      else s.bindNull(6);
      if (user_stack[i]) s.bind(7, int64_t{user_stack[i]});
      else s.bindNull(7);
      s.bind(8, int64_t{cpu[i]});
      NT_RETURN_IF_ERROR(s.run().context("offcpu: insert offcpu_event"));
    }
    ctx.addRows(n);
    return Status::ok();
  }

  Status importSummary(OffcpuSummary::Reader summary, IngestContext& ctx) {
    const int64_t interval = summary.getIntervalIndex();
    const int64_t time = static_cast<int64_t>(summary.getTimeNs());
    for (OffcpuSummaryEntry::Reader e : summary.getEntries()) {
      SummaryKey key{e.getPid(), e.getTid(), e.getKernelStackId(), e.getUserStackId()};
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
      s.bind(4, int64_t{e.getTid()});
      if (e.getKernelStackId()) s.bind(5, int64_t{e.getKernelStackId()});
      else s.bindNull(5);
      if (e.getUserStackId()) s.bind(6, int64_t{e.getUserStackId()});
      else s.bindNull(6);
      s.bind(7, static_cast<int64_t>(grew_ns));
      s.bind(8, static_cast<int64_t>(grew_count));
      NT_RETURN_IF_ERROR(s.run().context("offcpu: insert offcpu_summary"));
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
    return insert_interval_.run().context("offcpu: insert offcpu_interval");
  }

  Statement insert_event_, insert_summary_, insert_interval_;
  std::map<SummaryKey, std::pair<uint64_t, uint64_t>> last_;
  uint64_t total_ns_last_ = 0, total_count_last_ = 0;
  uint64_t short_batches_ = 0, short_rows_ = 0;
};

Status OffcpuImporter::addReportSections(Db& db, ReportBuilder& report) {
  NT_ASSIGN_OR_RETURN(int64_t periods, db.queryInt("SELECT COALESCE(SUM(periods), 0) FROM offcpu_period"));
  if (periods == 0) return Status::ok();
  NT_ASSIGN_OR_RETURN(int64_t total_ns, db.queryInt("SELECT COALESCE(SUM(total_ns), 0) FROM offcpu_period"));
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f s", static_cast<double>(total_ns) / 1e9);
  report.headline("Off-CPU time", seconds);
  report.headline("Off-CPU periods", std::to_string(periods));
  report.beginSection("offcpu", "Off-CPU time",
                      "Time threads spent off CPU, from the sched_switch that took them off to the one that put "
                      "them back, with the kernel and user stacks where they stopped (sched:sched_switch, "
                      "sched:sched_waking). User frames are symbolized from the recording alone.");
  NT_RETURN_IF_ERROR(report.table("Off-CPU time per thread", db,
                                  "SELECT pid, tid, comm, ROUND(total_ns / 1e6, 3) AS total_ms, periods, "
                                  "ROUND(max_ns / 1e6, 3) AS longest_ms FROM offcpu_by_thread",
                                  100));
  NT_RETURN_IF_ERROR(report.table("Top stacks per thread (blocked time)", db,
                                  "SELECT tid, comm, rank_in_thread AS rank, ROUND(total_ns / 1e6, 3) AS total_ms, "
                                  "periods, user_top, kernel_top FROM offcpu_by_stack WHERE rank_in_thread <= 5 "
                                  "ORDER BY total_ns DESC",
                                  200));
  NT_RETURN_IF_ERROR(report.stacks("Top user stacks by blocked time (ms)", db,
                                   "SELECT CAST(SUM(total_ns) / 1000000 AS INTEGER) AS count, user_stack_id AS "
                                   "stack_id, comm || ' (' || tid || ')' AS label FROM offcpu_by_stack "
                                   "WHERE user_stack_id IS NOT NULL GROUP BY user_stack_id ORDER BY SUM(total_ns) DESC",
                                   20));
  NT_RETURN_IF_ERROR(report.stacks("Top kernel stacks by blocked time (ms)", db,
                                   "SELECT CAST(SUM(total_ns) / 1000000 AS INTEGER) AS count, kernel_stack_id AS "
                                   "stack_id, comm || ' (' || tid || ')' AS label FROM offcpu_by_stack "
                                   "WHERE kernel_stack_id IS NOT NULL GROUP BY kernel_stack_id "
                                   "ORDER BY SUM(total_ns) DESC",
                                   20));
  NT_RETURN_IF_ERROR(report.flame("Off-CPU flame graph (thread, then user frames, then kernel frames)", db,
                                  "SELECT SUM(total_ns) / 1e6, COALESCE(comm, '?') || ' (' || tid || ')', "
                                  "user_stack_id, kernel_stack_id FROM offcpu_by_stack "
                                  "GROUP BY tid, user_stack_id, kernel_stack_id",
                                  "ms off CPU"));
  NT_RETURN_IF_ERROR(report.table("Folded stacks (flame-graph input: comm;user frames;kernel frames)", db,
                                  "SELECT ROUND(total_ns / 1e6, 3) AS total_ms, folded FROM offcpu_folded", 100));
  const std::string long_filter = " WHERE duration_ns >= " + std::to_string(kLongEventNs);
  NT_ASSIGN_OR_RETURN(int64_t long_events, db.queryInt("SELECT COUNT(*) FROM offcpu_event" + long_filter));
  if (long_events > 0) {
    NT_RETURN_IF_ERROR(report.timeSeries(
        "Long off-CPU periods (>= 10 ms): blocked ms per second by thread", db,
        "SELECT (e.start_ns / 1000000000) * 1000000000 AS time_ns, COALESCE(p.comm, '?') || ' (' || e.tid || ')', "
        "SUM(e.duration_ns) / 1e6 FROM offcpu_event e LEFT JOIN process p ON p.tid = e.tid" +
            std::string(" WHERE e.duration_ns >= ") + std::to_string(kLongEventNs) + " GROUP BY 1, 2 ORDER BY 1",
        true));
    NT_RETURN_IF_ERROR(report.table(
        "Longest off-CPU periods", db,
        "SELECT strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS start_utc, "
        "ROUND(duration_ns / 1e6, 3) AS ms, tid, comm, state, waker_tid, waker_comm, user_top, kernel_top "
        "FROM offcpu_detail ORDER BY duration_ns DESC LIMIT 200",
        200));
  }
  return Status::ok();
}

}  // namespace

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<OffcpuImporter>(); }

}  // namespace nettrail::offcpu
