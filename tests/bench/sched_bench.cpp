// Scheduler-probe benchmark (root): the cost the offcpu family's
// sched_switch/sched_waking programs add to every context switch. Two threads
// pinned to one CPU bounce a byte through a pair of pipes, so every round
// trip is two wake-ups and two context switches. The round trips are timed
// without the recorder and with it in each mode; the difference per switch is
// the in-kernel cost, and the recorder's own CPU per recorded event and its
// losses come from its closing line. Figures only; no pass/fail.
//
//   nettrail_sched_bench [--rounds N]
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/recorder_output.h"
#include "integration/netns.h"

namespace {

using nettrail::bench::figure;
using nettrail::bench::figureBefore;
using nettrail::bench::nowSeconds;

void pinToCpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Seconds for `rounds` ping-pong round trips between two threads on CPU 0.
double pingPong(int rounds) {
  int ping[2], pong[2];
  if (pipe(ping) != 0 || pipe(pong) != 0) return -1;
  std::thread echo([&] {
    pinToCpu0();
    char c;
    for (int i = 0; i < rounds; ++i) {
      if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1) break;
    }
  });
  pinToCpu0();
  char c = 'x';
  const double t0 = nowSeconds();
  for (int i = 0; i < rounds; ++i) {
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) break;
  }
  const double elapsed = nowSeconds() - t0;
  echo.join();
  for (int fd : {ping[0], ping[1], pong[0], pong[1]}) close(fd);
  return elapsed;
}

double best(int rounds, int tries) {
  double t = 1e9;
  for (int i = 0; i < tries; ++i) t = std::min(t, pingPong(rounds));
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 200000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--rounds N]\n", argv[0]);
      return 2;
    }
  }
  if (rounds <= 0) {
    std::fprintf(stderr, "nettrail_sched_bench: --rounds must be positive\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "nettrail_sched_bench: needs root (BPF)\n");
    return 1;
  }
  pinToCpu0();
  pingPong(rounds / 10);  // warm up
  const double base = best(rounds, 3);
  const double switches = 2.0 * rounds;
  std::printf("sched bench: %d ping-pong round trips between two threads on CPU 0 (%.0f context switches), "
              "best of 3\n",
              rounds, switches);
  std::printf("  %-40s %7.3f s  %6.0f ns/switch\n", "no recorder", base, base * 1e9 / switches);

  struct Run {
    const char* label;
    std::vector<std::string> args;
  };
  const std::string pid = std::to_string(getpid());
  const std::vector<Run> runs = {
      {"offcpu summary, this process", {"--mode", "summary", "-p", pid, "-m", "0"}},
      {"offcpu details, this process", {"--mode", "details", "-p", pid, "-m", "0"}},
      {"offcpu details, no user stacks", {"--mode", "details", "-p", pid, "-m", "0", "--kernel-stacks-only"}},
      {"offcpu details, every process", {"--mode", "details", "-m", "0"}},
  };
  const std::string path = "/tmp/nettrail-sched-bench-" + pid + ".ntr";
  for (const Run& run : runs) {
    std::vector<std::string> args = {"--families", "offcpu", "-o", path, "--force", "--ring-size", "64M"};
    args.insert(args.end(), run.args.begin(), run.args.end());
    nettrail::testing::RecorderProcess recorder;
    if (!recorder.start(args)) {
      std::fprintf(stderr, "nettrail_sched_bench: recorder failed to start:\n%s\n", recorder.output().c_str());
      return 1;
    }
    const double t = best(rounds, 3);
    recorder.stop();
    const std::string out = recorder.output();
    const double events = figureBefore(out, "events,");
    const double lost = figureBefore(out, "lost,");
    const double user = figure(out, "recorder CPU ");
    const double system = figure(out, "s user + ");
    std::printf("  %-40s %7.3f s  %6.0f ns/switch  (+%.0f ns, %.2fx)\n", run.label, t, t * 1e9 / switches,
                (t - base) * 1e9 / switches, t / base);
    if (events > 0)
      std::printf("  %-40s %.0f events, %.0f lost; recorder CPU user %.0f ns/event, user+system %.0f ns/event\n", "",
                  events, lost, user * 1e9 / events, (user + system) * 1e9 / events);
  }
  std::remove(path.c_str());
  return 0;
}
