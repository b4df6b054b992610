// Locks benchmark (root): what the locks family's uprobes cost an
// uncontended pthread lock. nt_workload's "ntlockloop" thread takes and
// releases a mutex COUNT times, then an rwlock (for writing) COUNT times; each
// lock/unlock pair hits three probes (the lock's uprobe and uretprobe, the
// unlock's uprobe). The loop's ns per pair is measured without the recorder and
// with it in several configurations; the difference is the probes' cost. With
// --lock-min-wait 0 every acquisition is a details record, which gives the
// records/s the recorder drains and whether any were lost. Figures only; no
// pass/fail.
//
//   nettrail_locks_bench [--count N]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"
#include "integration/workload.h"

namespace {

using nettrail::testing::RecorderProcess;
using nettrail::testing::Workload;

// Runs the loop, under a recorder with `args` unless `args` is empty; ns per pair, or -1.
double loopOnce(long count, const std::vector<std::string>* args, const std::string& out, std::string* error) {
  Workload workload;
  if (!workload.start("/tmp/nettrail-locks-bench-workload", {"lockloop", std::to_string(count)})) {
    *error = "workload did not start";
    return -1;
  }
  RecorderProcess recorder;
  if (args) {
    std::vector<std::string> full = {"--families", "locks", "-p", std::to_string(workload.pid()), "-o", out,
                                     "--force"};
    full.insert(full.end(), args->begin(), args->end());
    if (!recorder.start(full)) {
      *error = recorder.output();
      return -1;
    }
  }
  workload.go();
  double ns = -1;
  for (std::string line = workload.readLine(); !line.empty(); line = workload.readLine())
    if (std::sscanf(line.c_str(), "ns_per_pair %lf", &ns) == 1) break;
  workload.wait();
  if (args) recorder.stop();
  return ns;
}

int64_t counter(nettrail::Db& db, const std::string& name) {
  auto v = db.queryInt("SELECT COALESCE(SUM(value), 0) FROM counter WHERE family = 'locks' AND cpu = -1 AND name = '" +
                       name + "'");
  return v.isOk() ? *v : -1;
}

}  // namespace

int main(int argc, char** argv) {
  long count = 1000000;
  for (int i = 1; i + 1 < argc; i += 2)
    if (!std::strcmp(argv[i], "--count")) count = std::atol(argv[i + 1]);
  if (geteuid() != 0) {
    std::fprintf(stderr, "nettrail_locks_bench: needs root\n");
    return 1;
  }
  const std::string out = "/tmp/nettrail-locks-bench.ntr";
  std::string error;
  double base = 1e18;
  for (int r = 0; r < 3; ++r) {
    const double ns = loopOnce(count, nullptr, out, &error);
    if (ns > 0 && ns < base) base = ns;
  }
  std::printf("locks bench: %ld mutex + %ld rwlock uncontended lock/unlock pairs (3 probe hits per pair), best of 3\n",
              count, count);
  std::printf("  %-46s %8.1f ns/pair\n", "no recorder", base);
  struct Run {
    const char* label;
    std::vector<std::string> args;
  };
  const std::vector<Run> runs = {
      {"default (waits >= 50 us recorded; holder stacks)", {}},
      {"--lock-no-holder-stacks", {"--lock-no-holder-stacks"}},
      {"--lock-min-wait 0 --mode details (every call)", {"--lock-min-wait", "0", "--mode", "details"}},
  };
  for (const Run& run : runs) {
    double best = 1e18;
    for (int r = 0; r < 3; ++r) {
      const double ns = loopOnce(count, &run.args, out, &error);
      if (ns < 0) {
        std::printf("  %-46s not measurable here: %s\n", run.label, error.c_str());
        break;
      }
      if (ns < best) best = ns;
    }
    if (best >= 1e18) continue;
    std::printf("  %-46s %8.1f ns/pair  (+%.0f ns/pair, +%.0f ns per probe hit)\n", run.label, best, best - base,
                (best - base) / 3);
    // The last run's recording: records, their rate over the loop, and losses.
    auto db = nettrail::Db::open(":memory:");
    if (!db.isOk() || !nettrail::ingestRecordings({out}, **db, nettrail::IngestOptions{}).isOk()) continue;
    const int64_t recorded = counter(**db, "details_recorded");
    const int64_t lost = counter(**db, "ring_reserve_failed") + counter(**db, "start_map_full");
    const double seconds = best * 2.0 * static_cast<double>(count) / 1e9;
    std::printf("  %-46s %8lld records, %.0f records/s, %lld lost\n", "", static_cast<long long>(recorded),
                recorded / seconds, static_cast<long long>(lost));
  }
  std::remove(out.c_str());
  return 0;
}
