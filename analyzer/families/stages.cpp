// Stages family, analyzer side: StagesPackets -> stages_packet/stages_time,
// StagesSummary -> stages_hist/stages_flow_hist/stages_interval, the report
// sections, and the terminal view of `nettrail stages` (BCC-style log2
// histograms per stage pair and per flow, like the seed's
// system_network_latency_summary.py, and per-packet waterfalls like its
// _details.py, with the kernel stack of each stage under --stage-stacks);
// with --per-interval, one block of histograms per recorded interval as the
// summary tools print every --interval.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/embedded_assets.h"
#include "core/net_format.h"
#include "core/text_escape.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"
#include "views/text_views.h"

namespace nettrail::stages {

// Printed by `nettrail stages FILE`: declared here, called from cli.cpp.
Status printStagesView(Db& db, int top, std::ostream& out);
// Printed by `nettrail stages --per-interval FILE`: one block per recorded
// interval, as the seed's *_latency_summary.py print every --interval.
Status printStagesIntervalView(Db& db, std::ostream& out);

namespace {

constexpr uint8_t kEndToEnd = 255;
constexpr uint16_t kUntagged = 0xffff;

class StagesImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::STAGES; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/stages.sql")));
    NT_ASSIGN_OR_RETURN(insert_packet_, db.prepare("INSERT INTO stages_packet VALUES "
                                                   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_time_, db.prepare("INSERT INTO stages_time VALUES (?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_flow_hist_,
                        db.prepare("INSERT INTO stages_flow_hist VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_hist_, db.prepare("INSERT INTO stages_hist VALUES (?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_interval_, db.prepare("INSERT INTO stages_interval VALUES (?,?,?,?,?,?)"));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    StagesBatch::Reader stages = batch.getStages();
    switch (stages.which()) {
      case StagesBatch::PACKETS:
        return importPackets(stages.getPackets(), ctx);
      case StagesBatch::SUMMARY:
        return importSummary(stages.getSummary(), ctx);
    }
    ctx.addUnknownBatchKind("stages");
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    if (short_batches_ > 0)
      ctx.addShortColumns("stages", short_batches_, short_rows_, "packets");
    insert_packet_ = Statement();
    insert_time_ = Statement();
    insert_hist_ = Statement();
    insert_flow_hist_ = Statement();
    insert_interval_ = Statement();
    return ctx.db().exec(
        "CREATE INDEX stages_time_packet ON stages_time(packet_id, position);"
        "CREATE INDEX stages_packet_total ON stages_packet(complete, total_ns);"
        "CREATE INDEX stages_flow_hist_flow ON stages_flow_hist(flow, from_stage, to_stage);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    StagesBatch::Reader stages = batch.getStages();
    if (stages.isPackets()) return stages.getPackets().getComplete().size();
    if (stages.isSummary()) return stages.getSummary().getBuckets().size();
    return 0;
  }

  Status addReportSections(Db& db, ReportBuilder& report) override;

 private:
  const std::string& stageName(uint8_t id, IngestContext& ctx) {
    auto it = names_.find(id);
    if (it != names_.end()) return it->second;
    std::string name;
    if (id == kEndToEnd) name = "end_to_end";
    else if (const std::string* n = ctx.enumName("nt_stage", id)) name = *n;
    else name = "stage_" + std::to_string(id);
    return names_.emplace(id, std::move(name)).first->second;
  }

  Status importPackets(StagesPackets::Reader p, IngestContext& ctx);
  Status importSummary(StagesSummary::Reader s, IngestContext& ctx);

  Statement insert_packet_, insert_time_, insert_hist_, insert_flow_hist_, insert_interval_;
  std::map<uint8_t, std::string> names_;
  std::map<std::tuple<uint8_t, uint8_t, uint8_t>, uint64_t> hist_last_;
  // Per-flow cumulative counts of the previous snapshot: (flow fields, from, to, bucket).
  using FlowBucketKey = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint8_t, uint16_t, uint16_t, uint8_t,
                                   uint8_t, uint8_t>;
  std::map<FlowBucketKey, uint64_t> flow_last_;
  uint64_t started_last_ = 0, completed_last_ = 0, flow_full_last_ = 0;
  int64_t next_packet_id_ = 1;
  uint64_t short_batches_ = 0, short_rows_ = 0;
};

Status StagesImporter::importPackets(StagesPackets::Reader p, IngestContext& ctx) {
  auto complete = p.getComplete();
  auto cpu = p.getCpu();
  auto netns = p.getNetns();
  auto ifindex = p.getIfindex();
  auto length = p.getLength();
  auto vlan = p.getVlanId();
  auto src_hi = p.getSrcHi();
  auto src_lo = p.getSrcLo();
  auto dst_hi = p.getDstHi();
  auto dst_lo = p.getDstLo();
  auto l4 = p.getL4Proto();
  auto src_port = p.getSrcPort();
  auto dst_port = p.getDstPort();
  auto tcp_seq = p.getTcpSeq();
  auto ip_id = p.getIpId();
  auto repeats = p.getRepeats();
  auto stage_count = p.getStageCount();
  auto stage = p.getStage();
  auto stage_time = p.getStageTime();
  // Empty when recorded without --stage-stacks (or by an older recorder).
  auto stage_stack = p.getStageStack();
  const size_t sizes[] = {cpu.size(),    netns.size(),    ifindex.size(),  length.size(),  vlan.size(),
                          src_hi.size(), src_lo.size(),   dst_hi.size(),   dst_lo.size(),  l4.size(),
                          src_port.size(), dst_port.size(), tcp_seq.size(), ip_id.size(), repeats.size(),
                          stage_count.size()};
  size_t n = complete.size();
  for (size_t s : sizes) n = std::min(n, s);
  const size_t flat = std::min(stage.size(), stage_time.size());
  size_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t count = stage_count[i];
    if (offset + count > flat) {
      n = i;
      break;
    }
    const int64_t id = next_packet_id_++;
    const uint64_t first = count ? stage_time[offset] : 0;
    const uint64_t last = count ? stage_time[offset + count - 1] : 0;
    bool upcall = false;
    uint64_t prev = first;
    for (size_t k = 0; k < count; ++k) {
      const uint8_t st = stage[offset + k];
      const uint64_t t = stage_time[offset + k];
      const std::string& name = stageName(st, ctx);
      if (name == "ovs_dp_upcall") upcall = true;
      insert_time_.bind(1, id);
      insert_time_.bind(2, static_cast<int64_t>(k));
      insert_time_.bindStatic(3, name);
      insert_time_.bind(4, static_cast<int64_t>(t));
      insert_time_.bind(5, static_cast<int64_t>(t - prev));
      insert_time_.bind(6, static_cast<int64_t>(t - first));
      const uint32_t stack = offset + k < stage_stack.size() ? stage_stack[offset + k] : 0;
      if (stack != 0) insert_time_.bind(7, static_cast<int64_t>(stack));
      else insert_time_.bindNull(7);
      NT_RETURN_IF_ERROR(insert_time_.run().context("stages: insert stages_time"));
      prev = t;
    }
    const uint8_t proto = l4[i];
    const bool icmp = proto == kIpprotoIcmp || proto == kIpprotoIcmpv6;
    const bool ipv4 = (src_hi[i] == 0 && (src_lo[i] >> 32) == 0xffff);
    Statement& s = insert_packet_;
    s.bind(1, id);
    s.bind(2, int64_t{complete[i]});
    s.bind(3, int64_t{cpu[i]});
    s.bind(4, int64_t{netns[i]});
    s.bind(5, int64_t{ifindex[i]});
    s.bind(6, int64_t{length[i]});
    if (vlan[i] != kUntagged) s.bind(7, int64_t{vlan[i]});
    else s.bindNull(7);
    s.bindStatic(8, l4ProtoName(proto));
    s.bind(9, formatIp(src_hi[i], src_lo[i]));
    s.bind(10, formatIp(dst_hi[i], dst_lo[i]));
    if (!icmp) {
      s.bind(11, int64_t{src_port[i]});
      s.bind(12, int64_t{dst_port[i]});
      s.bindNull(13);
      s.bindNull(14);
    } else {
      s.bindNull(11);
      s.bindNull(12);
      s.bind(13, int64_t{src_port[i]});
      s.bind(14, int64_t{dst_port[i]});
    }
    if (proto == kIpprotoTcp) s.bind(15, int64_t{tcp_seq[i]});
    else s.bindNull(15);
    if (!icmp && ipv4) s.bind(16, int64_t{ip_id[i]});
    else s.bindNull(16);
    s.bind(17, int64_t{repeats[i]});
    s.bind(18, static_cast<int64_t>(count));
    if (count) {
      s.bindStatic(19, stageName(stage[offset], ctx));
      s.bindStatic(20, stageName(stage[offset + count - 1], ctx));
    } else {
      s.bindNull(19);
      s.bindNull(20);
    }
    s.bind(21, static_cast<int64_t>(first));
    s.bind(22, static_cast<int64_t>(last));
    s.bind(23, static_cast<int64_t>(last - first));
    s.bind(24, int64_t{upcall});
    NT_RETURN_IF_ERROR(s.run().context("stages: insert stages_packet"));
    offset += count;
  }
  if (n < complete.size()) {
    ++short_batches_;
    short_rows_ += complete.size() - n;
  }
  ctx.addRows(n);
  return Status::ok();
}

Status StagesImporter::importSummary(StagesSummary::Reader summary, IngestContext& ctx) {
  const int64_t interval = summary.getIntervalIndex();
  const int64_t time = static_cast<int64_t>(summary.getTimeNs());
  for (StagesBucket::Reader b : summary.getBuckets()) {
    uint64_t& last = hist_last_[{b.getFromStage(), b.getToStage(), b.getLog2Ns()}];
    const uint64_t count = b.getCount();
    const uint64_t grew = count >= last ? count - last : count;
    last = count;
    if (grew == 0) continue;
    insert_hist_.bind(1, interval);
    insert_hist_.bind(2, time);
    insert_hist_.bindStatic(3, stageName(b.getFromStage(), ctx));
    insert_hist_.bindStatic(4, stageName(b.getToStage(), ctx));
    insert_hist_.bind(5, int64_t{b.getLog2Ns()});
    insert_hist_.bind(6, static_cast<int64_t>(grew));
    NT_RETURN_IF_ERROR(insert_hist_.run().context("stages: insert stages_hist"));
    ctx.addRows(1);
  }
  for (StagesFlowBucket::Reader b : summary.getFlows()) {
    const FlowBucketKey key{b.getSrcHi(),   b.getSrcLo(),     b.getDstHi(),   b.getDstLo(), b.getL4Proto(),
                            b.getSrcPort(), b.getDstPort(),   b.getFromStage(), b.getToStage(), b.getLog2Ns()};
    uint64_t& last = flow_last_[key];
    const uint64_t count = b.getCount();
    const uint64_t grew = count >= last ? count - last : count;
    last = count;
    if (grew == 0) continue;
    const uint8_t proto = b.getL4Proto();
    const bool icmp = proto == kIpprotoIcmp || proto == kIpprotoIcmpv6;
    const std::string src = formatIp(b.getSrcHi(), b.getSrcLo()), dst = formatIp(b.getDstHi(), b.getDstLo());
    const std::string l4(l4ProtoName(proto));
    const std::string flow =
        icmp ? l4 + " " + src + " > " + dst + " id " + std::to_string(b.getSrcPort())
             : l4 + " " + src + ":" + std::to_string(b.getSrcPort()) + " > " + dst + ":" + std::to_string(b.getDstPort());
    Statement& s = insert_flow_hist_;
    s.bind(1, interval);
    s.bind(2, time);
    s.bind(3, flow);
    s.bindStatic(4, l4ProtoName(proto));
    s.bind(5, src);
    s.bind(6, dst);
    if (icmp) {
      s.bindNull(7);
      s.bindNull(8);
      s.bind(9, int64_t{b.getSrcPort()});
    } else {
      s.bind(7, int64_t{b.getSrcPort()});
      s.bind(8, int64_t{b.getDstPort()});
      s.bindNull(9);
    }
    s.bindStatic(10, stageName(b.getFromStage(), ctx));
    s.bindStatic(11, stageName(b.getToStage(), ctx));
    s.bind(12, int64_t{b.getLog2Ns()});
    s.bind(13, static_cast<int64_t>(grew));
    NT_RETURN_IF_ERROR(s.run().context("stages: insert stages_flow_hist"));
    ctx.addRows(1);
  }
  const uint64_t started = summary.getStarted(), completed = summary.getCompleted();
  const uint64_t flow_full = summary.getFlowHistFull();
  insert_interval_.bind(1, interval);
  insert_interval_.bind(2, time);
  insert_interval_.bind(3, static_cast<int64_t>(started >= started_last_ ? started - started_last_ : started));
  insert_interval_.bind(4,
                        static_cast<int64_t>(completed >= completed_last_ ? completed - completed_last_ : completed));
  insert_interval_.bind(5, static_cast<int64_t>(summary.getInFlight()));
  insert_interval_.bind(6, static_cast<int64_t>(flow_full >= flow_full_last_ ? flow_full - flow_full_last_ : flow_full));
  started_last_ = started;
  completed_last_ = completed;
  flow_full_last_ = flow_full;
  return insert_interval_.run().context("stages: insert stages_interval");
}

Status StagesImporter::addReportSections(Db& db, ReportBuilder& report) {
  NT_ASSIGN_OR_RETURN(int64_t started, db.queryInt("SELECT started FROM stages_sessions"));
  NT_ASSIGN_OR_RETURN(int64_t packets, db.queryInt("SELECT COUNT(*) FROM stages_packet"));
  NT_ASSIGN_OR_RETURN(int64_t unavailable,
                      db.queryInt("SELECT COUNT(*) FROM attachment WHERE family = 'stages' AND attached = 0"));
  if (started == 0 && packets == 0 && unavailable == 0) return Status::ok();
  NT_ASSIGN_OR_RETURN(int64_t completed, db.queryInt("SELECT completed FROM stages_sessions"));
  report.headline("Packets followed through the stages", std::to_string(started));
  report.headline("Packets that completed the path", std::to_string(completed));
  report.beginSection(
      "stages", "Per-stage latency",
      "Each packet is followed by identity (5-tuple plus TCP sequence, IP id or ICMP id and sequence) from the "
      "first to the last stage of the recorded path; the time between consecutive stages it reached is one "
      "sample of that stage pair. Histograms count every packet in the kernel; percentiles and waterfalls "
      "come from the per-packet records (packets at or above --latency-us)." +
          std::string(unavailable > 0 ? " " + std::to_string(unavailable) +
                                            " stage hook(s) could not be attached on the recorded kernel; they are "
                                            "listed below with the reason."
                                      : ""));
  if (unavailable > 0)
    NT_RETURN_IF_ERROR(report.table("Stages unavailable on the recorded kernel", db,
                                    "SELECT hook AS stage, note AS reason FROM attachment "
                                    "WHERE family = 'stages' AND attached = 0",
                                    50));
  NT_RETURN_IF_ERROR(report.table("Stage attach points", db,
                                  "SELECT hook AS stage, strategy, target FROM attachment "
                                  "WHERE family = 'stages' AND attached = 1",
                                  50));
  NT_RETURN_IF_ERROR(report.table(
      "Latency per stage pair (exact, per-packet records), microseconds", db,
      "SELECT segment, packets, ROUND(p50_ns / 1000.0, 1) AS p50_us, ROUND(p90_ns / 1000.0, 1) AS p90_us, "
      "ROUND(p99_ns / 1000.0, 1) AS p99_us, ROUND(p999_ns / 1000.0, 1) AS p99_9_us, "
      "ROUND(max_ns / 1000.0, 1) AS max_us FROM stages_latency",
      100));
  NT_RETURN_IF_ERROR(report.bar("Mean time per stage pair (us)", db,
                                "SELECT segment, ROUND(avg_ns / 1000.0, 2) FROM stages_latency "
                                "WHERE from_stage IS NOT NULL"));
  NT_RETURN_IF_ERROR(report.table(
      "In-kernel log2 histograms (all packets)", db,
      "SELECT from_stage || ' -> ' || to_stage AS segment, low_ns || ' .. ' || ((1 << (log2_ns + 1)) - 1) AS ns, "
      "count FROM stages_log2 ORDER BY from_stage, to_stage, log2_ns",
      400));
  NT_RETURN_IF_ERROR(report.table(
      "Slowest packets", db,
      "SELECT packet_id, ROUND(total_us, 1) AS total_us, flow, identity, upcall, stage_count "
      "FROM stages_slowest LIMIT 50",
      50));
  NT_RETURN_IF_ERROR(report.table(
      "Waterfall of the slowest packets", db,
      "SELECT w.packet_id, w.position, w.stage, ROUND(w.at_us, 1) AS at_us, ROUND(w.step_us, 1) AS step_us "
      "FROM stages_waterfall w JOIN (SELECT packet_id FROM stages_slowest LIMIT 10) s USING (packet_id) "
      "ORDER BY w.packet_id, w.position",
      200));
  NT_RETURN_IF_ERROR(report.table(
      "Latency per flow and stage pair (in-kernel histograms; the percentile is below the value), microseconds", db,
      "SELECT flow, segment, packets, ROUND(p50_below_ns / 1000.0, 1) AS p50_below_us, "
      "ROUND(p90_below_ns / 1000.0, 1) AS p90_below_us, ROUND(p99_below_ns / 1000.0, 1) AS p99_below_us, "
      "ROUND(max_below_ns / 1000.0, 1) AS max_below_us FROM stages_flow_latency",
      300));
  NT_ASSIGN_OR_RETURN(int64_t stage_stacks, db.queryInt("SELECT COUNT(*) FROM stages_stack"));
  if (stage_stacks > 0)
    NT_RETURN_IF_ERROR(report.stacks("Kernel stacks per stage (--stage-stacks)", db,
                                     "SELECT packets, stack_id, stage FROM stages_stack ORDER BY packets DESC", 30));
  NT_RETURN_IF_ERROR(report.table("Sessions", db, "SELECT started, completed, incomplete FROM stages_sessions", 1));
  NT_RETURN_IF_ERROR(report.table("Incomplete paths by last stage reached", db,
                                  "SELECT last_stage, packets FROM stages_incomplete", 50));
  return Status::ok();
}

// One BCC-style histogram: "     ns range : count    |*****   |".
void printHistogram(const std::vector<std::pair<int64_t, int64_t>>& buckets, std::ostream& out) {
  int64_t max_count = 0;
  for (const auto& [b, c] : buckets) max_count = std::max(max_count, c);
  if (buckets.empty()) return;
  char line[160];
  std::snprintf(line, sizeof(line), "%24s : %-10s %s\n", "usecs", "count", "distribution");
  out << line;
  const int64_t lo_bucket = buckets.front().first, hi_bucket = buckets.back().first;
  std::map<int64_t, int64_t> by(buckets.begin(), buckets.end());
  for (int64_t b = lo_bucket; b <= hi_bucket; ++b) {
    const int64_t c = by.count(b) ? by[b] : 0;
    const double lo = b == 0 ? 0 : std::ldexp(1.0, static_cast<int>(b)) / 1000.0;
    const double hi = (std::ldexp(1.0, static_cast<int>(b + 1)) - 1) / 1000.0;
    const int stars = max_count ? static_cast<int>(40 * c / max_count) : 0;
    std::snprintf(line, sizeof(line), "%11.3f -> %-10.3f : %-10lld |%-40s|\n", lo, hi, static_cast<long long>(c),
                  std::string(static_cast<size_t>(stars), '*').c_str());
    out << line;
  }
}

// Per-flow in-kernel histograms: the `top` flows with the most packets, each
// with its end-to-end histogram and its stage pairs' bucket percentiles.
Status printFlowSection(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement flows, db.prepare("SELECT flow, MAX(flow_packets) FROM stages_flow_latency GROUP BY "
                                                  "flow ORDER BY MAX(flow_packets) DESC, flow LIMIT ?"));
  flows.bind(1, static_cast<int64_t>(top));
  NT_ASSIGN_OR_RETURN(int64_t flow_count, db.queryInt("SELECT COUNT(DISTINCT flow) FROM stages_flow_hist"));
  bool header = false;
  char line[256];
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, flows.step());
    if (!row) break;
    if (!header)
      out << "Per flow (in-kernel histograms; " << std::min<int64_t>(top, flow_count) << " of " << flow_count
          << " flows, most packets first):\n";
    header = true;
    const std::string flow = flows.columnText(0);
    out << "flow " << escapeForTerminal(flow) << ": " << flows.columnInt(1) << " packets end to end\n";
    NT_ASSIGN_OR_RETURN(Statement e2e, db.prepare("SELECT log2_ns, count FROM stages_flow_log2 WHERE flow = ? AND "
                                                  "from_stage = 'end_to_end' ORDER BY log2_ns"));
    e2e.bind(1, flow);
    std::vector<std::pair<int64_t, int64_t>> values;
    while (true) {
      NT_ASSIGN_OR_RETURN(bool b, e2e.step());
      if (!b) break;
      values.push_back({e2e.columnInt(0), e2e.columnInt(1)});
    }
    printHistogram(values, out);
    NT_ASSIGN_OR_RETURN(Statement pairs, db.prepare("SELECT segment, packets, p50_below_ns, p99_below_ns, "
                                                    "max_below_ns FROM stages_flow_latency WHERE flow = ?"));
    pairs.bind(1, flow);
    std::snprintf(line, sizeof(line), "  %-54s %8s %10s %10s %10s\n", "segment (us, below)", "packets", "p50",
                  "p99", "max");
    out << line;
    while (true) {
      NT_ASSIGN_OR_RETURN(bool p, pairs.step());
      if (!p) break;
      std::snprintf(line, sizeof(line), "  %-54s %8lld %10.1f %10.1f %10.1f\n",
                    escapeForTerminal(pairs.columnText(0)).c_str(), static_cast<long long>(pairs.columnInt(1)),
                    pairs.columnInt(2) / 1000.0, pairs.columnInt(3) / 1000.0, pairs.columnInt(4) / 1000.0);
      out << line;
    }
    out << "\n";
  }
  NT_ASSIGN_OR_RETURN(int64_t full, db.queryInt("SELECT COALESCE(SUM(flow_hist_full), 0) FROM stages_interval"));
  if (full > 0)
    out << "Per-flow histograms are incomplete: " << full
        << " sample(s) found the in-kernel flow map full (raise --stages-flows)\n\n";
  return Status::ok();
}

// --stage-stacks: per stage, its most frequent kernel stacks with frames.
Status printStageStacks(Db& db, int top, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement stacks, db.prepare("SELECT stage, stack_id, packets FROM stages_stack"));
  NT_ASSIGN_OR_RETURN(Statement frames, db.prepare("SELECT frame FROM stages_stack_frame WHERE stack_id = ? AND "
                                                   "stage = ? ORDER BY frame_index"));
  std::string stage;
  int shown = 0;
  bool header = false;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stacks.step());
    if (!row) break;
    if (!header) out << "\nKernel stacks per stage (--stage-stacks):\n";
    header = true;
    if (stacks.columnText(0) != stage) {
      stage = stacks.columnText(0);
      shown = 0;
    }
    if (shown++ >= top) continue;
    out << escapeForTerminal(stage) << " [stack_id: " << stacks.columnInt(1) << "] " << stacks.columnInt(2)
        << " packet(s)\n";
    frames.bind(1, stacks.columnInt(1));
    frames.bind(2, stage);
    while (true) {
      NT_ASSIGN_OR_RETURN(bool f, frames.step());
      if (!f) break;
      out << "    " << escapeForTerminal(frames.columnText(0)) << "\n";
    }
    frames.reset();
  }
  return Status::ok();
}

// Hooks the recorded kernel could not attach, with the reason, then a blank line.
Status printUnavailableStages(Db& db, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(Statement unavailable,
                      db.prepare("SELECT hook, note FROM attachment WHERE family = 'stages' AND attached = 0"));
  bool header = false;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, unavailable.step());
    if (!row) break;
    if (!header) out << "Stages unavailable on the recorded kernel:\n";
    header = true;
    out << "  " << escapeForTerminal(unavailable.columnText(0)) << ": " << escapeForTerminal(unavailable.columnText(1))
        << "\n";
  }
  if (header) out << "\n";
  return Status::ok();
}

// "[2026-01-02 03:04:05.250 UTC]" for an interval's end, to the millisecond
// (intervals can be shorter than a second); boottime without clock anchors.
std::string intervalStamp(const Statement& row, int realtime_column, int64_t time_ns) {
  char text[64];
  if (row.columnIsNull(realtime_column)) {
    std::snprintf(text, sizeof(text), "[boottime %.3f s]", static_cast<double>(time_ns) / 1e9);
    return text;
  }
  const int64_t realtime_ns = row.columnInt(realtime_column);
  std::string stamp = formatUtc(realtime_ns, false);  // "... HH:MM:SS UTC"
  const int64_t ms = ((realtime_ns % 1'000'000'000 + 1'000'000'000) % 1'000'000'000) / 1'000'000;
  std::snprintf(text, sizeof(text), ".%03lld", static_cast<long long>(ms));
  const size_t utc = stamp.rfind(" UTC");
  if (utc != std::string::npos) stamp.insert(utc, text);
  return "[" + stamp + "]";
}

std::string secondsText(int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f s", static_cast<double>(ns) / 1e9);
  return text;
}

std::string pairTitle(const std::string& from, const std::string& to) {
  return from == "end_to_end" ? std::string("end to end") : escapeForTerminal(from) + " -> " + escapeForTerminal(to);
}

}  // namespace

Status printStagesIntervalView(Db& db, std::ostream& out) {
  NT_RETURN_IF_ERROR(printUnavailableStages(db, out));
  // Every pair of the recording in path order (by the recorded path's stage
  // positions, end to end last), so the blocks list their pairs alike.
  NT_ASSIGN_OR_RETURN(
      auto pairs,
      db.queryTextPairs("SELECT from_stage, to_stage FROM stages_hist GROUP BY from_stage, to_stage "
                        "ORDER BY from_stage = 'end_to_end', "
                        "COALESCE((SELECT MIN(e.value) FROM enum_value e WHERE e.enum_name = 'nt_stages_path' "
                        "AND e.name = to_stage), 1000), "
                        "COALESCE((SELECT MIN(e.value) FROM enum_value e WHERE e.enum_name = 'nt_stages_path' "
                        "AND e.name = from_stage), 1000), from_stage, to_stage"));
  NT_ASSIGN_OR_RETURN(Statement intervals,
                      db.prepare("SELECT interval_index, time_ns, realtime_ns, duration_ns, started, completed, "
                                 "incomplete, in_flight FROM stages_interval_sessions"));
  // Both in interval order: the histogram rows are consumed as the intervals pass.
  NT_ASSIGN_OR_RETURN(Statement hist,
                      db.prepare("SELECT interval_index, from_stage, to_stage, log2_ns, SUM(count) FROM stages_hist "
                                 "GROUP BY interval_index, from_stage, to_stage, log2_ns "
                                 "ORDER BY interval_index, from_stage, to_stage, log2_ns"));
  NT_ASSIGN_OR_RETURN(bool hist_row, hist.step());

  // A run of consecutive intervals without packets, printed as one line.
  struct EmptyRun {
    int64_t first = -1, last = -1, duration_ns = 0, in_flight = 0;
    bool duration_known = true;
    std::string stamp;
  } empty;
  auto flushEmpty = [&]() {
    if (empty.first < 0) return;
    out << empty.stamp << " === ";
    if (empty.first == empty.last) out << "Interval " << empty.first;
    else out << "Intervals " << empty.first << "-" << empty.last;
    if (empty.duration_known) out << " (" << secondsText(empty.duration_ns) << ")";
    out << ": no packets";
    if (empty.in_flight > 0) out << ", " << empty.in_flight << " still in flight";
    out << " ===\n\n";
    empty = EmptyRun();
  };

  int64_t count = 0, started = 0, completed = 0, incomplete = 0, in_flight = 0;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, intervals.step());
    if (!row) break;
    const int64_t index = intervals.columnInt(0);
    ++count;
    started += intervals.columnInt(4);
    completed += intervals.columnInt(5);
    incomplete += intervals.columnInt(6);
    in_flight = intervals.columnInt(7);
    std::map<std::pair<std::string, std::string>, std::vector<std::pair<int64_t, int64_t>>> buckets;
    while (hist_row && hist.columnInt(0) <= index) {
      if (hist.columnInt(0) == index)
        buckets[{hist.columnText(1), hist.columnText(2)}].push_back({hist.columnInt(3), hist.columnInt(4)});
      NT_ASSIGN_OR_RETURN(hist_row, hist.step());
    }
    const std::string stamp = intervalStamp(intervals, 2, intervals.columnInt(1));
    const bool no_packets = buckets.empty() && intervals.columnInt(4) == 0 && intervals.columnInt(5) == 0 &&
                            intervals.columnInt(6) == 0;
    if (no_packets) {
      if (empty.first >= 0 && empty.in_flight != in_flight) flushEmpty();
      if (empty.first < 0) empty.first = index;
      empty.last = index;
      empty.stamp = stamp;
      empty.in_flight = in_flight;
      if (intervals.columnIsNull(3)) empty.duration_known = false;
      else empty.duration_ns += intervals.columnInt(3);
      continue;
    }
    flushEmpty();
    out << stamp << " === Interval " << index;
    if (!intervals.columnIsNull(3)) out << " (" << secondsText(intervals.columnInt(3)) << ")";
    out << " ===\n";
    out << "Sessions: " << intervals.columnInt(4) << " started, " << intervals.columnInt(5) << " completed, "
        << intervals.columnInt(6) << " incomplete, " << in_flight << " in flight at the end\n\n";
    for (const auto& pair : pairs) {
      auto it = buckets.find(pair);
      if (it == buckets.end()) continue;
      out << pairTitle(pair.first, pair.second) << ":\n";
      printHistogram(it->second, out);
      int64_t total = 0;
      for (const auto& [b, c] : it->second) total += c;
      out << "Total packets: " << total << "\n\n";
    }
  }
  flushEmpty();
  if (count == 0) {
    out << "No stages summaries in this recording (record with --families stages).\n";
    return Status::ok();
  }
  out << "All " << count << " interval(s): " << started << " started, " << completed << " completed, "
      << incomplete + in_flight << " incomplete (" << incomplete << " ended without completing, " << in_flight
      << " still in flight at the end)\n";
  return Status::ok();
}

Status printStagesView(Db& db, int top, std::ostream& out) {
  NT_RETURN_IF_ERROR(printUnavailableStages(db, out));
  NT_ASSIGN_OR_RETURN(Statement sessions, db.prepare("SELECT started, completed, incomplete FROM stages_sessions"));
  NT_ASSIGN_OR_RETURN(bool has_sessions, sessions.step());
  if (has_sessions)
    out << "Sessions: " << sessions.columnInt(0) << " started, " << sessions.columnInt(1) << " completed, "
        << sessions.columnInt(2) << " incomplete\n";
  NT_ASSIGN_OR_RETURN(Statement incomplete, db.prepare("SELECT last_stage, packets FROM stages_incomplete"));
  bool incomplete_header = false;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, incomplete.step());
    if (!row) break;
    if (!incomplete_header) out << "Recorded incomplete packets by last stage reached:\n";
    incomplete_header = true;
    out << "  " << escapeForTerminal(incomplete.columnText(0)) << ": " << incomplete.columnInt(1) << "\n";
  }
  out << "\n";

  // Pairs in the order packets reach them (first position seen), end to end last.
  NT_ASSIGN_OR_RETURN(Statement pairs,
                      db.prepare("SELECT from_stage, to_stage FROM stages_log2 GROUP BY from_stage, to_stage "
                                 "ORDER BY from_stage = 'end_to_end', "
                                 "(SELECT MIN(sort_key) FROM stages_latency l WHERE l.from_stage = stages_log2.from_stage "
                                 "AND l.to_stage = stages_log2.to_stage), SUM(count) DESC"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, pairs.step());
    if (!row) break;
    const std::string from = pairs.columnText(0), to = pairs.columnText(1);
    out << pairTitle(from, to) << ":\n";
    NT_ASSIGN_OR_RETURN(Statement buckets, db.prepare("SELECT log2_ns, count FROM stages_log2 WHERE from_stage = ? "
                                                      "AND to_stage = ? ORDER BY log2_ns"));
    buckets.bind(1, from);
    buckets.bind(2, to);
    std::vector<std::pair<int64_t, int64_t>> values;
    while (true) {
      NT_ASSIGN_OR_RETURN(bool b, buckets.step());
      if (!b) break;
      values.push_back({buckets.columnInt(0), buckets.columnInt(1)});
    }
    printHistogram(values, out);
    int64_t total = 0;
    for (const auto& [b, c] : values) total += c;
    out << "Total packets: " << total << "\n\n";
  }

  NT_ASSIGN_OR_RETURN(Statement pct, db.prepare("SELECT segment, packets, p50_ns, p90_ns, p99_ns, p999_ns, max_ns "
                                                "FROM stages_latency"));
  bool pct_header = false;
  char line[256];
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, pct.step());
    if (!row) break;
    if (!pct_header) {
      std::snprintf(line, sizeof(line), "%-56s %8s %10s %10s %10s %10s %10s\n", "segment (us, exact)", "packets",
                    "p50", "p90", "p99", "p99.9", "max");
      out << line;
      pct_header = true;
    }
    std::snprintf(line, sizeof(line), "%-56s %8lld %10.1f %10.1f %10.1f %10.1f %10.1f\n",
                  escapeForTerminal(pct.columnText(0)).c_str(), static_cast<long long>(pct.columnInt(1)),
                  pct.columnInt(2) / 1000.0, pct.columnInt(3) / 1000.0, pct.columnInt(4) / 1000.0,
                  pct.columnInt(5) / 1000.0, pct.columnInt(6) / 1000.0);
    out << line;
  }
  if (pct_header) out << "\n";

  NT_RETURN_IF_ERROR(printFlowSection(db, top, out));

  NT_ASSIGN_OR_RETURN(Statement slow, db.prepare("SELECT packet_id, total_us, flow, identity, upcall FROM "
                                                 "stages_slowest LIMIT ?"));
  slow.bind(1, static_cast<int64_t>(top));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, slow.step());
    if (!row) break;
    const int64_t id = slow.columnInt(0);
    std::snprintf(line, sizeof(line), "packet %lld: %.1f us %s", static_cast<long long>(id), slow.columnDouble(1),
                  slow.columnInt(4) ? "(upcall) " : "");
    out << line << escapeForTerminal(slow.columnText(2)) << " " << escapeForTerminal(slow.columnText(3)) << "\n";
    NT_ASSIGN_OR_RETURN(Statement steps,
                        db.prepare("SELECT w.stage, w.at_us, w.step_us, (SELECT f.frame FROM stack_frame_text f "
                                   "WHERE f.stack_id = t.stack_id AND f.tracing = 0 ORDER BY f.frame_index LIMIT 1) "
                                   "FROM stages_waterfall w "
                                   "JOIN stages_time t USING (packet_id, position) WHERE w.packet_id = ? "
                                   "ORDER BY w.position"));
    steps.bind(1, id);
    while (true) {
      NT_ASSIGN_OR_RETURN(bool s, steps.step());
      if (!s) break;
      std::snprintf(line, sizeof(line), "    %-34s +%10.1f us  (step %8.1f us)",
                    escapeForTerminal(steps.columnText(0)).c_str(), steps.columnDouble(1), steps.columnDouble(2));
      out << line;
      if (!steps.columnIsNull(3)) out << "  at " << escapeForTerminal(steps.columnText(3));
      out << "\n";
    }
  }
  return printStageStacks(db, top, out);
}

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<StagesImporter>(); }

}  // namespace nettrail::stages
