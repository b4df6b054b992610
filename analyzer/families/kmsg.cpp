// kmsg family, analyzer side: KmsgLines -> kmsg_line, KmsgClock -> kmsg_clock,
// the report section (lines per second by class, the IRQs the kernel switched
// off, the lines themselves) and the terminal view of `nettrail kmsg`.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>

#include "core/embedded_assets.h"
#include "core/text_escape.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"
#include "views/text_views.h"

namespace nettrail::kmsg {

// Printed by `nettrail kmsg FILE`: declared here, called from cli.cpp.
Status printKmsgView(Db& db, int top, std::ostream& out);

namespace {

class KmsgImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::KMSG; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/kmsg.sql")));
    NT_ASSIGN_OR_RETURN(insert_line_, db.prepare("INSERT INTO kmsg_line VALUES (?,?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_clock_, db.prepare("INSERT INTO kmsg_clock VALUES (?,?,?,?,?)"));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    KmsgBatch::Reader kmsg = batch.getKmsg();
    switch (kmsg.which()) {
      case KmsgBatch::LINES:
        return importLines(kmsg.getLines(), ctx);
      case KmsgBatch::CLOCK: {
        KmsgClock::Reader c = kmsg.getClock();
        Statement& s = insert_clock_;
        s.bind(1, static_cast<int64_t>(c.getBoottimeNs()));
        s.bind(2, static_cast<int64_t>(c.getLocalClockNs()));
        s.bind(3, static_cast<int64_t>(c.getLocalClockNs()) - static_cast<int64_t>(c.getBoottimeNs()));
        s.bind(4, static_cast<int64_t>(c.getUncertaintyNs()));
        s.bind(5, std::string_view(c.getMethod().cStr(), c.getMethod().size()));
        return s.run().context("kmsg: insert kmsg_clock");
      }
    }
    ctx.addUnknownBatchKind("kmsg");
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    if (short_batches_ > 0) ctx.addShortColumns("kmsg", short_batches_, short_rows_, "lines");
    insert_line_ = Statement();
    insert_clock_ = Statement();
    return ctx.db().exec("CREATE INDEX kmsg_line_time ON kmsg_line(time_ns);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    KmsgBatch::Reader kmsg = batch.getKmsg();
    return kmsg.isLines() ? kmsg.getLines().getSeq().size() : 0;
  }

  Status addReportSections(Db& db, ReportBuilder& report) override;

 private:
  Status importLines(KmsgLines::Reader lines, IngestContext& ctx) {
    auto time = lines.getTimeNs();
    auto kernel_us = lines.getKernelUs();
    auto seq = lines.getSeq();
    auto level = lines.getLevel();
    auto facility = lines.getFacility();
    auto continuation = lines.getContinuation();
    auto caller = lines.getCaller();
    auto text = lines.getText();
    auto dict = lines.getDict();
    size_t n = seq.size();
    const size_t sizes[] = {time.size(),         kernel_us.size(), level.size(), facility.size(),
                            continuation.size(), caller.size(),    text.size(),  dict.size()};
    for (size_t s : sizes) n = std::min(n, s);
    if (n < seq.size()) {
      ++short_batches_;
      short_rows_ += seq.size() - n;
    }
    Statement& s = insert_line_;
    for (size_t i = 0; i < n; ++i) {
      s.bind(1, static_cast<int64_t>(time[i]));
      s.bind(2, static_cast<int64_t>(kernel_us[i]));
      s.bind(3, static_cast<int64_t>(seq[i]));
      s.bind(4, int64_t{level[i]});
      s.bind(5, int64_t{facility[i]});
      s.bind(6, int64_t{continuation[i] ? 1 : 0});
      s.bind(7, std::string_view(caller[i].cStr(), caller[i].size()));
      s.bind(8, std::string_view(text[i].cStr(), text[i].size()));
      s.bind(9, std::string_view(dict[i].cStr(), dict[i].size()));
      NT_RETURN_IF_ERROR(s.run().context("kmsg: insert kmsg_line"));
    }
    ctx.addRows(n);
    return Status::ok();
  }

  Statement insert_line_, insert_clock_;
  uint64_t short_batches_ = 0, short_rows_ = 0;
};

constexpr char kLinesSql[] =
    "SELECT strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS time_utc, "
    "printf('%.6f', kernel_us / 1e6) AS kernel_s, facility_name || '.' || level_name AS priority, class, text "
    "FROM kmsg_event";

Status KmsgImporter::addReportSections(Db& db, ReportBuilder& report) {
  NT_ASSIGN_OR_RETURN(int64_t lines, db.queryInt("SELECT COUNT(*) FROM kmsg_line"));
  NT_ASSIGN_OR_RETURN(int64_t clocks, db.queryInt("SELECT COUNT(*) FROM kmsg_clock"));
  if (lines == 0 && clocks == 0) return Status::ok();  // not recorded
  NT_ASSIGN_OR_RETURN(int64_t errors, db.queryInt("SELECT COUNT(*) FROM kmsg_line WHERE level <= 3"));
  NT_ASSIGN_OR_RETURN(int64_t disabled,
                      db.queryInt("SELECT COUNT(*) FROM kmsg_irq WHERE disabled_ns IS NOT NULL"));
  report.headline("Kernel log lines", std::to_string(lines) + (errors > 0 ? " (" + std::to_string(errors) +
                                                                                 " errors)"
                                                                           : ""));
  if (disabled > 0) report.headline("IRQs disabled by the kernel (nobody cared)", std::to_string(disabled));
  report.beginSection("kmsg", "Kernel log",
                      "Lines the kernel logged while recording (/dev/kmsg), at their times on the recording's "
                      "clock: the kernel stamps log lines with its scheduler clock (local_clock), which the "
                      "recorder measured against CLOCK_BOOTTIME. Spurious-interrupt reports (\"irq N: nobody "
                      "cared\", \"Disabling IRQ #N\") and Open vSwitch lines are classed separately.");
  if (lines == 0) {
    return report.table("Clock", db,
                        "SELECT method, ROUND(offset_ns / 1e6, 3) AS offset_ms, uncertainty_ns FROM kmsg_clock "
                        "ORDER BY boottime_ns LIMIT 1");
  }
  NT_RETURN_IF_ERROR(report.timeSeries("Kernel log lines per second, by class", db,
                                       "SELECT (time_ns / 1000000000) * 1000000000, class, COUNT(*) AS lines "
                                       "FROM kmsg_event GROUP BY 1, 2 ORDER BY 1",
                                       true));
  NT_ASSIGN_OR_RETURN(int64_t reported, db.queryInt("SELECT COUNT(*) FROM kmsg_irq"));
  if (reported > 0) {
    NT_RETURN_IF_ERROR(report.table(
        "IRQs the kernel's spurious-interrupt detector reported (99 900 of 100 000 unhandled)", db,
        "SELECT irq, strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS first_utc, "
        "CASE WHEN nobody_cared_ns IS NULL THEN '' ELSE 'yes' END AS nobody_cared, "
        "CASE WHEN disabled_ns IS NULL THEN 'no' ELSE 'yes' END AS disabled, lines FROM kmsg_irq"));
  }
  NT_RETURN_IF_ERROR(report.table("Errors, warnings and classed lines", db,
                                  std::string(kLinesSql) + " WHERE class != 'other' ORDER BY time_ns, seq", 500));
  NT_RETURN_IF_ERROR(report.table("Every line", db, std::string(kLinesSql) + " ORDER BY time_ns, seq", 2000));
  return report.table("Clock measurements (local_clock - CLOCK_BOOTTIME)", db,
                      "SELECT boottime_ns, method, ROUND(offset_ns / 1e6, 6) AS offset_ms, uncertainty_ns "
                      "FROM kmsg_clock ORDER BY boottime_ns",
                      100);
}

}  // namespace

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<KmsgImporter>(); }

Status printKmsgView(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(int64_t clocks, db.queryInt("SELECT COUNT(*) FROM kmsg_clock"));
  if (clocks == 0) {
    out << "No kernel log recorded (record with --families kmsg).\n";
    return Status::ok();
  }
  NT_ASSIGN_OR_RETURN(int64_t lines, db.queryInt("SELECT COUNT(*) FROM kmsg_line"));
  NT_ASSIGN_OR_RETURN(int64_t errors, db.queryInt("SELECT COUNT(*) FROM kmsg_line WHERE level <= 3"));
  NT_ASSIGN_OR_RETURN(int64_t warnings, db.queryInt("SELECT COUNT(*) FROM kmsg_line WHERE level = 4"));
  NT_ASSIGN_OR_RETURN(Statement clock, db.prepare("SELECT method, offset_ns, uncertainty_ns FROM kmsg_clock "
                                                  "ORDER BY boottime_ns LIMIT 1"));
  NT_ASSIGN_OR_RETURN(bool has_clock, clock.step());
  char buf[160];
  out << "Kernel log: " << lines << " lines (" << errors << " errors, " << warnings << " warnings)";
  if (has_clock) {
    std::snprintf(buf, sizeof(buf), "; log clock %s, local_clock - boottime %+.3f ms (+/- %.1f us)",
                  clock.columnText(0).c_str(), static_cast<double>(clock.columnInt(1)) / 1e6,
                  static_cast<double>(clock.columnInt(2)) / 1e3);
    out << escapeForTerminal(buf);
  }
  out << "\n";
  NT_ASSIGN_OR_RETURN(Statement irqs,
                      db.prepare("SELECT irq, nobody_cared_ns IS NOT NULL, disabled_ns IS NOT NULL, realtime_ns "
                                 "FROM kmsg_irq"));
  bool first_irq = true;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, irqs.step());
    if (!row) break;
    if (first_irq) out << "\nIRQs reported by the spurious-interrupt detector:\n";
    first_irq = false;
    out << "  irq " << irqs.columnInt(0) << ": " << (irqs.columnInt(1) ? "nobody cared" : "reported")
        << (irqs.columnInt(2) ? ", DISABLED" : "") << " at " << formatUtc(irqs.columnInt(3), false) << "\n";
  }
  if (lines == 0) return Status::ok();
  out << "\n";
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT realtime_ns, kernel_us, facility_name, level_name, text "
                                                 "FROM kmsg_event ORDER BY time_ns, seq LIMIT ?"));
  stmt.bind(1, int64_t{top});
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    std::snprintf(buf, sizeof(buf), " [%12.6f] %-12s ", static_cast<double>(stmt.columnInt(1)) / 1e6,
                  (stmt.columnText(2) + "." + stmt.columnText(3)).c_str());
    std::string when = formatUtc(stmt.columnInt(0), true);
    if (when.size() > 7) when.erase(when.size() - 7, 3);  // microseconds, as the kernel stamps
    out << when << escapeForTerminal(buf) << escapeForTerminal(stmt.columnText(4))
        << "\n";
  }
  if (lines > top)
    out << "... " << (lines - top)
        << " more lines (-t N shows more; all: nettrail query FILE 'SELECT * FROM kmsg_event')\n";
  return Status::ok();
}

}  // namespace nettrail::kmsg
