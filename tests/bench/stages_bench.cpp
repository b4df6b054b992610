// Stages benchmark (root): per-packet cost of following packets through the
// stages, per attach strategy this kernel offers. UDP packets go from one
// network namespace to another over veth (with a tbf qdisc, so five
// tracepoint stages fire per packet); the sender's wall time per packet is
// measured without the recorder and with it for each strategy, and the
// difference is the cost the probes add per packet (all five stages plus the
// session map). The per-flow histogram map and --stage-stacks are measured by
// turning them off and on for tp_btf: the differences between those rows are
// their cost per packet. Figures only; no pass/fail. On kernels with kprobes
// and fentry (tests/vm) the same binary measures those strategies.
//
//   nettrail_stages_bench [--packets N] [--rounds R]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
    recorder.stop();
    std::printf("  %-34s %8.3f s  %7.0f ns/packet  (+%.0f ns/packet for the stages)\n", run.label, t,
                t * 1e9 / packets, (t - base) * 1e9 / packets);
  }
  std::remove(out.c_str());
  return 0;
}
