// CPU family, analyzer side: CpuSamples -> cpu_sample, and the report sections
// (CPU per thread over time, bursts) over the cpu_usage views.
#include <algorithm>
#include <memory>
#include <string>

#include "core/embedded_assets.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"

namespace nettrail::cpu {
namespace {

class CpuImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::CPU; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/cpu.sql")));
    NT_ASSIGN_OR_RETURN(insert_, db.prepare("INSERT INTO cpu_sample VALUES (?,?,?,?,?,?)"));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    CpuSamples::Reader samples = batch.getCpu().getSamples();
    auto tid = samples.getTid();
    auto user = samples.getUserNs();
    auto system = samples.getSystemNs();
    auto run = samples.getRunNs();
    const size_t n = std::min<size_t>({tid.size(), user.size(), system.size(), run.size()});
    if (n < tid.size())
      ctx.addStat("data_loss", "cpu", "short_columns", static_cast<int64_t>(tid.size() - n),
                  "a cpu sample had columns of unequal length; threads beyond the shortest were skipped");
    for (size_t i = 0; i < n; ++i) {
      insert_.bind(1, static_cast<int64_t>(samples.getTimeNs()));
      insert_.bind(2, int64_t{samples.getPid()});
      insert_.bind(3, int64_t{tid[i]});
      insert_.bind(4, static_cast<int64_t>(user[i]));
      insert_.bind(5, static_cast<int64_t>(system[i]));
      insert_.bind(6, static_cast<int64_t>(run[i]));
      NT_RETURN_IF_ERROR(insert_.run().context("cpu: insert cpu_sample"));
    }
    ctx.addRows(n);
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    insert_ = Statement();
    return ctx.db().exec("CREATE INDEX cpu_sample_tid ON cpu_sample(tid, time_ns);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    return batch.getCpu().getSamples().getTid().size();
  }

  Status addReportSections(Db& db, ReportBuilder& report) override {
    NT_ASSIGN_OR_RETURN(int64_t rows, db.queryInt("SELECT COUNT(*) FROM cpu_usage"));
    if (rows == 0) return Status::ok();
    NT_ASSIGN_OR_RETURN(int64_t bursts, db.queryInt("SELECT COUNT(*) FROM cpu_burst"));
    report.headline("CPU bursts (>= 80% of a CPU in an interval)", std::to_string(bursts));
    report.beginSection("cpu", "CPU per thread",
                        "CPU time of each thread of the recorded process per sampling interval "
                        "(/proc/PID/task/TID/schedstat, else stat), as a share of one CPU.");
    NT_RETURN_IF_ERROR(report.timeSeries("CPU per thread (% of one CPU)", db,
                                         "SELECT time_ns, COALESCE(comm, '?') || ' (' || tid || ')', "
                                         "ROUND(percent, 1) FROM cpu_usage ORDER BY time_ns",
                                         false));
    NT_RETURN_IF_ERROR(report.table("Bursts: intervals at or above 80% of one CPU", db,
                                    "SELECT strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS end_utc, "
                                    "tid, comm, ROUND(percent, 1) AS percent FROM cpu_burst",
                                    500));
    return report.table("CPU per thread over the recording", db,
                        "SELECT tid, comm, ROUND(cpu_ns / 1e9, 3) AS cpu_s, ROUND(max_percent, 1) AS max_percent, "
                        "bursts FROM cpu_by_thread",
                        200);
  }

 private:
  Statement insert_;
};

}  // namespace

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<CpuImporter>(); }

}  // namespace nettrail::cpu
