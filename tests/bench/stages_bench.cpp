// Stages benchmark (root): per-packet cost of following packets through the
// stages, per attach strategy this kernel offers. UDP packets go from one
// network namespace to another over veth (with a tbf qdisc, so five
// tracepoint stages fire per packet); the sender's wall time per packet is
// measured without the recorder and with it for each strategy, and the
// difference is the cost the probes add per packet (all five stages plus the
// session map). The per-flow histogram map and --stage-stacks are measured by
// turning them off and on for tp_btf: the differences between those rows are
// their cost per packet. Wall time on a busy 2-core machine varies by more
// than these costs, so each row also prints the kernel's own accounting
// (kernel.bpf_stats_enabled: run_time_ns of the stage programs the recorder
// loaded, divided by the packets sent), which does not depend on the sender's
// scheduling. Figures only; no pass/fail. On kernels with kprobes and fentry
// (tests/vm) the same binary measures those strategies.
//
//   nettrail_stages_bench [--packets N] [--rounds R]
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "integration/netns.h"

namespace {

using nettrail::testing::RecorderProcess;
using nettrail::testing::VethPair;

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Wall seconds to send `packets` UDP datagrams from A to B.
double sendTime(const VethPair& net, int packets) {
  const double t0 = nowSeconds();
  nettrail::testing::runInNetns(net.ns_a, [&] {
    return nettrail::testing::udpSend(net.ip_b, 7401, packets, 64) == packets ? 0 : 1;
  });
  return nowSeconds() - t0;
}

double best(const VethPair& net, int packets, int rounds) {
  double t = 1e9;
  for (int r = 0; r < rounds; ++r) t = std::min(t, sendTime(net, packets));
  return t;
}

long bpfCall(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

std::set<uint32_t> programIds() {
  std::set<uint32_t> ids;
  bpf_attr attr{};
  while (bpfCall(BPF_PROG_GET_NEXT_ID, &attr) == 0) {
    ids.insert(attr.next_id);
    attr.start_id = attr.next_id;
  }
  return ids;
}

// Sum of run_time_ns over programs that are not in `before` and whose name
// starts like a stages tracepoint program (names are cut to 15 bytes).
uint64_t stageProgramNs(const std::set<uint32_t>& before) {
  uint64_t total = 0;
  for (uint32_t id : programIds()) {
    if (before.count(id)) continue;
    bpf_attr attr{};
    attr.prog_id = id;
    const int fd = static_cast<int>(bpfCall(BPF_PROG_GET_FD_BY_ID, &attr));
    if (fd < 0) continue;
    bpf_prog_info info{};
    bpf_attr get{};
    get.info.bpf_fd = static_cast<uint32_t>(fd);
    get.info.info_len = sizeof(info);
    get.info.info = reinterpret_cast<uint64_t>(&info);
    if (bpfCall(BPF_OBJ_GET_INFO_BY_FD, &get) == 0) {
      const std::string name = info.name;
      for (const char* stem : {"net_dev_", "qdisc_", "netif_receive"})
        if (name.rfind(stem, 0) == 0) total += info.run_time_ns;
    }
    close(fd);
  }
  return total;
}

// kernel.bpf_stats_enabled on for the bench, restored after.
class BpfStats {
 public:
  BpfStats() {
    std::ifstream in(kPath);
    in >> old_;
    std::ofstream(kPath) << 1;
  }
  ~BpfStats() { std::ofstream(kPath) << old_; }

 private:
  static constexpr const char* kPath = "/proc/sys/kernel/bpf_stats_enabled";
  int old_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int packets = 100000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--packets")) packets = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "nettrail_stages_bench: needs root\n");
    return 1;
  }
  VethPair net;
  if (!net.ok()) {
    std::fprintf(stderr, "nettrail_stages_bench: %s\n", net.error().c_str());
    return 1;
  }
  nettrail::testing::shell("tc -n " + net.ns_a + " qdisc add dev " + net.if_a +
                           " root tbf rate 10gbit burst 1m latency 100ms");
  sendTime(net, packets / 10);  // warm up
  const double base = best(net, packets, rounds);
  std::printf("stages bench: %d UDP packets over veth+tbf, best of %d rounds\n", packets, rounds);
  std::printf("  %-34s %8.3f s  %7.0f ns/packet\n", "no recorder", base, base * 1e9 / packets);
  struct Run {
    const char* label;
    std::vector<std::string> args;
  };
  const std::string out = "/tmp/nettrail-stages-bench.ntr";
  BpfStats stats;
  const std::vector<Run> runs = {
      {"tp_btf, summary, no per-flow map",
       {"--attach-strategy", "tp_btf", "--latency-us", "1000000000", "--stages-flows", "0"}},
      {"tp_btf, summary only", {"--attach-strategy", "tp_btf", "--latency-us", "1000000000"}},
      {"tp_btf, summary + stage stacks",
       {"--attach-strategy", "tp_btf", "--latency-us", "1000000000", "--stage-stacks"}},
      {"raw_tp, summary only", {"--attach-strategy", "raw_tp", "--latency-us", "1000000000"}},
      {"fentry, summary only", {"--attach-strategy", "fentry", "--latency-us", "1000000000"}},
      {"kprobe, summary only", {"--attach-strategy", "kprobe", "--latency-us", "1000000000"}},
      {"default, every packet in details", {}},
  };
  for (const Run& run : runs) {
    std::vector<std::string> args = {"--families", "stages", "--phy-interface", net.if_a, "--protocol", "udp",
                                     "--dst-port", "7401", "-o", out, "--force"};
    args.insert(args.end(), run.args.begin(), run.args.end());
    const std::set<uint32_t> before = programIds();
    RecorderProcess recorder;
    if (!recorder.start(args)) {
      std::printf("  %-34s not measurable here: %s\n", run.label, recorder.output().c_str());
      continue;
    }
    // A forced strategy that no stage of this path could use is not measured.
    if (run.args.size() >= 2 && run.args[0] == "--attach-strategy" &&
        recorder.output().find(" via " + run.args[1] + " ") == std::string::npos) {
      recorder.stop();
      std::printf("  %-34s not measurable here: no stage attached via %s\n", run.label, run.args[1].c_str());
      continue;
    }
    const double t = best(net, packets, rounds);
    const uint64_t bpf_ns = stageProgramNs(before);
    recorder.stop();
    std::printf("  %-34s %8.3f s  %7.0f ns/packet  (+%.0f ns/packet for the stages; in BPF %.0f ns/packet)\n",
                run.label, t, t * 1e9 / packets, (t - base) * 1e9 / packets,
                static_cast<double>(bpf_ns) / (static_cast<double>(packets) * rounds));
  }
  std::remove(out.c_str());
  return 0;
}
