// Stages family on this host's kernel: ping and UDP between two namespaces
// over veth (with a tbf qdisc so the qdisc stages exist). The tracepoint
// stages (net_dev_queue, qdisc_enqueue/dequeue, net_dev_start_xmit,
// net_dev_xmit) must be hit by every packet with monotonic per-packet times
// whose steps sum to the end-to-end time; the function stages (ip_output,
// OVS, conntrack, protocol receive) need fentry or kprobes, which this kernel
// refuses, and must be reported unavailable with the reason. Per-flow
// in-kernel histograms must count each flow's packets exactly (and count, not
// drop, what a full flow map cannot hold); --stage-stacks must give every
// stage a symbolized kernel stack; `nettrail stages --per-interval` must add
// up to the whole-recording view. Needs root, BTF and tracefs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"
#include "integration/recorded_db.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::RecorderProcess;
using testing::VethPair;
using testing::runInNetns;
using testing::shell;

class StagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    net_ = std::make_unique<VethPair>();
    ASSERT_TRUE(net_->ok()) << net_->error();
    ASSERT_EQ(shell("tc -n " + net_->ns_a + " qdisc add dev " + net_->if_a + " root tbf rate 1gbit burst 64k latency 50ms"),
              0);
    path_ = testing::tempPath("stages.ntr");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }

  void record(const std::vector<std::string>& extra, const std::function<void()>& traffic) {
    std::vector<std::string> args = {"--families", "stages", "--phy-interface", net_->if_a};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const char* a : {"-o", path_.c_str(), "--force", "-i", "200ms"}) args.push_back(a);
    RecorderProcess recorder;
    ASSERT_TRUE(recorder.start(args)) << recorder.output();
    traffic();
    usleep(300 * 1000);
    int rc = recorder.stop();
    output_ = recorder.output();
    ASSERT_EQ(rc, 0) << output_;
  }

  std::unique_ptr<Db> ingest() { return testing::ingestForTest({path_}); }
  int64_t count(Db& db, const std::string& sql) { return testing::queryCount(db, sql); }

  std::unique_ptr<VethPair> net_;
  std::string path_;
  std::string output_;
};

constexpr const char* kTracepointStages[] = {"net_dev_queue", "qdisc_enqueue", "qdisc_dequeue", "net_dev_start_xmit",
                                             "net_dev_xmit"};

TEST_F(StagesTest, PingHitsEveryTracepointStageInOrder) {
  record({"--protocol", "icmp", "--src-ip", net_->ip_a}, [&] {
    EXPECT_EQ(shell("ip netns exec " + net_->ns_a + " ping -c 20 -i 0.05 -W 1 " + net_->ip_b + " >/dev/null"), 0);
  });
  auto db = ingest();
  // Every echo request completed the path, and the in-kernel summary agrees.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_packet WHERE complete = 1 AND l4 = 'ICMP' AND src_ip = '" +
                           net_->ip_a + "' AND dst_ip = '" + net_->ip_b + "'"),
            20);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT icmp_seq) FROM stages_packet WHERE complete = 1"), 20);
  EXPECT_EQ(count(*db, "SELECT completed FROM stages_sessions"), 20);
  EXPECT_EQ(count(*db, "SELECT started FROM stages_sessions"), 20);
  EXPECT_EQ(count(*db, "SELECT SUM(count) FROM stages_log2 WHERE from_stage = 'end_to_end'"), 20);
  for (const char* stage : kTracepointStages) {
    SCOPED_TRACE(stage);
    EXPECT_EQ(count(*db, std::string("SELECT COUNT(DISTINCT packet_id) FROM stages_time WHERE stage = '") + stage + "'"),
              20);
    EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM attachment WHERE family = 'stages' AND hook = '") + stage +
                             "' AND attached = 1 AND strategy = 'tp_btf'"),
              1);
  }
  // Per packet: the stages come in path order, times never go back, and the
  // steps add up to the end-to-end time.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_time a JOIN stages_time b ON a.packet_id = b.packet_id AND "
                       "b.position = a.position + 1 WHERE b.time_ns < a.time_ns"),
            0);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_packet p WHERE p.complete = 1 AND p.total_ns != "
                       "(SELECT SUM(since_prev_ns) FROM stages_time t WHERE t.packet_id = p.packet_id)"),
            0);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_packet WHERE complete = 1 AND (first_stage != 'net_dev_queue' "
                       "OR last_stage != 'net_dev_xmit' OR stage_count != 5)"),
            0);
  EXPECT_EQ(count(*db, "SELECT packets FROM stages_latency WHERE segment = 'qdisc_enqueue -> qdisc_dequeue'"), 20);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_latency WHERE p50_ns IS NULL OR max_ns < p99_ns OR p99_ns < p50_ns"),
            0);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
  // One ICMP flow (addresses and echo id) with every request; stacks are off by default.
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT flow) FROM stages_flow_hist"), 1);
  EXPECT_EQ(count(*db, "SELECT packets FROM stages_flow_latency WHERE segment = 'end to end' AND flow LIKE 'ICMP " +
                           net_->ip_a + " > " + net_->ip_b + " id %'"),
            20);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_time WHERE stack_id IS NOT NULL"), 0);
}

// Sum of the per-flow histogram of one UDP flow (by destination port) on one segment.
std::string flowSum(uint16_t port, const std::string& from, const std::string& to) {
  return "SELECT COALESCE(SUM(count), 0) FROM stages_flow_hist WHERE dst_port = " + std::to_string(port) +
         " AND from_stage = '" + from + "' AND to_stage = '" + to + "'";
}

TEST_F(StagesTest, PerFlowHistogramsCountEachFlowAndStageStacksAreSymbolized) {
  record({"--protocol", "udp", "--src-ip", net_->ip_a, "--stage-stacks"}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7311, 15) == 15 ? 0 : 1; }), 0);
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7312, 25) == 25 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT flow) FROM stages_flow_hist"), 2);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT src_port) FROM stages_flow_hist"), 2);
  const std::pair<uint16_t, int> flows[] = {{7311, 15}, {7312, 25}};
  for (const auto& [port, packets] : flows) {
    SCOPED_TRACE(port);
    EXPECT_EQ(count(*db, flowSum(port, "end_to_end", "end_to_end")), packets);
    for (size_t i = 0; i + 1 < std::size(kTracepointStages); ++i)
      EXPECT_EQ(count(*db, flowSum(port, kTracepointStages[i], kTracepointStages[i + 1])), packets)
          << kTracepointStages[i];
    // The bucket bound is above every exact per-packet time of the flow.
    EXPECT_EQ(count(*db, "SELECT (SELECT max_below_ns FROM stages_flow_latency WHERE segment = 'end to end' AND "
                         "flow LIKE '% > " + net_->ip_b + ":" + std::to_string(port) + "') > MAX(total_ns) "
                         "FROM stages_packet WHERE complete = 1 AND dst_port = " + std::to_string(port)),
              1);
  }
  // Per flow adds up to the per-pair histograms: nothing lost between them.
  EXPECT_EQ(count(*db, "SELECT SUM(count) FROM stages_flow_hist"), count(*db, "SELECT SUM(count) FROM stages_hist"));
  EXPECT_EQ(count(*db, "SELECT SUM(flow_hist_full) FROM stages_interval"), 0);

  // Every stage of every packet has a kernel stack, symbolized; the device
  // transmit happens inside dev_hard_start_xmit.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_time"), 40 * 5);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_time WHERE stack_id IS NULL"), 0);
  EXPECT_EQ(count(*db, "SELECT SUM(packets) FROM stages_stack WHERE stage = 'net_dev_xmit'"), 40);
  EXPECT_GE(count(*db, "SELECT COUNT(*) FROM stages_stack_frame WHERE stage = 'net_dev_xmit' AND "
                       "frame LIKE 'dev_hard_start_xmit+0x%'"),
            1);
  EXPECT_GE(count(*db, "SELECT COUNT(*) FROM stages_stack_frame WHERE stage = 'net_dev_queue' AND "
                       "frame LIKE '%dev_queue_xmit+0x%'"),
            1);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);

  // The terminal view shows both flows and the stacks.
  std::string view;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " stages " + path_, &view), 0) << view;
  EXPECT_NE(view.find("flow UDP " + net_->ip_a), std::string::npos) << view;
  EXPECT_NE(view.find(net_->ip_b + ":7312: 25 packets end to end"), std::string::npos) << view;
  EXPECT_NE(view.find(net_->ip_b + ":7311: 15 packets end to end"), std::string::npos) << view;
  EXPECT_NE(view.find("Kernel stacks per stage"), std::string::npos) << view;
  EXPECT_NE(view.find("dev_hard_start_xmit+0x"), std::string::npos) << view;
}

// What `nettrail stages` prints, added up: the session counts and, per
// histogram title ("a -> b" or "end to end"), its "Total packets" lines.
struct ViewTotals {
  int64_t started = 0, completed = 0, incomplete = -1;
  int64_t blocks = 0, idle_lines = 0, intervals = 0;
  std::map<std::string, int64_t> packets;
};

ViewTotals addUpView(const std::string& view) {
  ViewTotals totals;
  std::istringstream in(view);
  std::string line, title;
  long long a = 0, b = 0, c = 0, d = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == ':') title = line.substr(0, line.size() - 1);
    if (std::sscanf(line.c_str(), "Sessions: %lld started, %lld completed, %lld incomplete", &a, &b, &c) == 3) {
      totals.started += a;
      totals.completed += b;
      // The whole-recording view's line; an interval block's also has "in flight".
      if (line.find("in flight") == std::string::npos) totals.incomplete = c;
    }
    // The per-interval view's last line, its sum over the intervals.
    if (std::sscanf(line.c_str(), "All %lld interval(s): %lld started, %lld completed, %lld incomplete", &a, &b, &c,
                    &d) == 4)
      totals.incomplete = d;
    if (std::sscanf(line.c_str(), "Total packets: %lld", &a) == 1) totals.packets[title] += a;
    const size_t block = line.find("] === Interval");
    if (block != std::string::npos) {
      if (std::sscanf(line.c_str() + block, "] === Intervals %lld-%lld", &a, &b) == 2) totals.intervals += b - a + 1;
      else ++totals.intervals;
      if (line.find(": no packets") != std::string::npos) ++totals.idle_lines;
      else ++totals.blocks;
    }
  }
  return totals;
}

TEST_F(StagesTest, PerIntervalViewAddsUpToTheWholeRecording) {
  // Two bursts a second apart, snapshotted every 200 ms: packets in at least
  // two intervals, and idle intervals between and around them.
  record({"--protocol", "udp", "--src-ip", net_->ip_a}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7331, 15) == 15 ? 0 : 1; }), 0);
    usleep(1000 * 1000);
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7332, 25) == 25 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  const int64_t intervals = count(*db, "SELECT COUNT(*) FROM stages_interval");
  EXPECT_GE(intervals, 3);
  EXPECT_GE(count(*db, "SELECT COUNT(DISTINCT interval_index) FROM stages_hist"), 2);
  EXPECT_EQ(count(*db, "SELECT started FROM stages_sessions"), 40);

  std::string whole_text, per_interval_text;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " stages " + path_, &whole_text), 0) << whole_text;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " stages --per-interval " + path_, &per_interval_text), 0)
      << per_interval_text;
  const ViewTotals whole = addUpView(whole_text);
  const ViewTotals per_interval = addUpView(per_interval_text);
  SCOPED_TRACE(per_interval_text);
  // Every recorded interval is shown, as a block or within an idle line.
  EXPECT_EQ(per_interval.intervals, intervals);
  EXPECT_GE(per_interval.blocks, 2);
  EXPECT_GE(per_interval.idle_lines, 1);
  // The intervals add up to the whole recording.
  EXPECT_EQ(whole.started, 40);
  EXPECT_EQ(per_interval.started, whole.started);
  EXPECT_EQ(per_interval.completed, whole.completed);
  EXPECT_GE(whole.incomplete, 0);
  EXPECT_EQ(per_interval.incomplete, whole.incomplete);
  // Four adjacent pairs of the tracepoint stages and end to end, 40 packets each.
  EXPECT_EQ(whole.packets.size(), std::size(kTracepointStages));
  EXPECT_EQ(whole.packets.count("end to end"), 1u);
  for (const auto& [title, packets] : whole.packets) {
    SCOPED_TRACE(title);
    EXPECT_EQ(packets, 40);
  }
  EXPECT_EQ(per_interval.packets, whole.packets);
  // Headers carry the wall clock of the interval's end.
  EXPECT_NE(per_interval_text.find(" UTC] === Interval "), std::string::npos);
}

TEST_F(StagesTest, AFullFlowMapIsCountedAsDataLoss) {
  // Two flows need 2 x 5 entries (four pairs and end to end); 4 fit.
  record({"--protocol", "udp", "--src-ip", net_->ip_a, "--stages-flows", "4"}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7321, 10) == 10 ? 0 : 1; }), 0);
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7322, 10) == 10 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  // Every sample is either in a per-flow histogram or counted as missing.
  const int64_t samples = count(*db, "SELECT SUM(count) FROM stages_hist");
  EXPECT_EQ(samples, 20 * 5);
  const int64_t kept = count(*db, "SELECT SUM(count) FROM stages_flow_hist");
  const int64_t full = count(*db, "SELECT SUM(flow_hist_full) FROM stages_interval");
  EXPECT_GT(full, 0);
  EXPECT_EQ(kept + full, samples);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (SELECT DISTINCT flow, from_stage, to_stage FROM stages_flow_hist)"), 4);
  EXPECT_EQ(count(*db, "SELECT value FROM loss_summary WHERE source = 'stages' AND name = 'flow_hist_full'"), full);
}

TEST_F(StagesTest, FunctionStagesAreReportedUnavailableWithTheReason) {
  record({"--protocol", "udp", "--dst-port", "7301"}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7301, 15) == 15 ? 0 : 1; }), 0);
  });
  auto db = ingest();
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stages_packet WHERE complete = 1 AND l4 = 'UDP' AND dst_port = 7301 "
                       "AND ip_id IS NOT NULL"),
            15);
  // This kernel: fentry is refused and there are no kprobes; OVS is not loaded.
  for (const char* hook : {"ip_output", "ovs_dp_process_packet", "ovs_dp_upcall", "ovs_vport_send", "nf_conntrack_in"}) {
    SCOPED_TRACE(hook);
    EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM attachment WHERE family = 'stages' AND hook = '") + hook +
                             "' AND attached = 0 AND note LIKE 'unavailable: fentry %' AND note LIKE '%kprobe %'"),
              1);
  }
  EXPECT_NE(output_.find("ip_output unavailable: fentry ip_output:"), std::string::npos) << output_;
  // `check` says the same, and the report lists them.
  std::string check;
  shell(std::string(NT_RECORD_BIN) + " check --families stages --phy-interface " + net_->if_a, &check);
  EXPECT_NE(check.find("ip_output"), std::string::npos) << check;
  EXPECT_NE(check.find("UNAVAILABLE"), std::string::npos) << check;
  EXPECT_NE(check.find("net_dev_xmit tp_btf"), std::string::npos) << check;
  const std::string html = testing::tempPath("stages.html");
  std::string out;
  ASSERT_EQ(shell(std::string(NT_ANALYZER_BIN) + " report " + path_ + " -o " + html, &out), 0) << out;
  std::string text;
  shell("grep -c 'Stages unavailable on the recorded kernel' " + html, &text);
  EXPECT_NE(text.find('1'), std::string::npos) << text;
  std::remove(html.c_str());
}

TEST_F(StagesTest, RxNeedsTwoStagesAndSaysWhy) {
  RecorderProcess recorder;
  EXPECT_FALSE(recorder.start({"--families", "stages", "--phy-interface", net_->if_b, "--direction", "rx", "-o", path_,
                               "--force"},
                              10));
  EXPECT_NE(recorder.output().find("fewer than two stages of the rx path"), std::string::npos) << recorder.output();
  recorder.stop();
}

}  // namespace
}  // namespace nettrail
