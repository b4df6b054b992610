// Futex benchmark (root): per-call cost of the futex family. nt_workload's
// "switch" mode has two threads hand a token back and forth through a futex
// (each handoff is one FUTEX_WAKE and usually one FUTEX_WAIT), for a fixed
// time without the recorder and then under nettrail-record --families futex
// -p PID for each attach strategy and mode. Prints handoffs/s, futex calls
// recorded, details records and losses, the workload's slowdown per futex
// call, and the recorder's CPU per call. Figures only; no pass/fail.
//
//   nettrail_futex_bench [--seconds N]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/recorder_output.h"
#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"

namespace {

// The workload, started and held until go(); its stdout is read to the end.
class Switcher {
 public:
  bool start(int seconds) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      const std::string s = std::to_string(seconds);
      execl(NT_WORKLOAD_BIN, NT_WORKLOAD_BIN, "switch", s.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    go_fd_ = in[1];
    out_ = fdopen(out[0], "r");
    char line[128];
    return out_ && std::fgets(line, sizeof(line), out_) && std::strncmp(line, "pid ", 4) == 0;
  }
  // Lets it run and returns its handoff count when it exits.
  long run() {
    if (write(go_fd_, "g", 1) != 1) return -1;
    long handoffs = -1;
    char line[128];
    while (std::fgets(line, sizeof(line), out_)) std::sscanf(line, "handoffs %ld", &handoffs);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return handoffs;
  }
  pid_t pid() const { return pid_; }
  ~Switcher() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (go_fd_ >= 0) close(go_fd_);
    if (out_) fclose(out_);
  }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;
  FILE* out_ = nullptr;
};

using nettrail::bench::figure;

int64_t queryInt(nettrail::Db& db, const std::string& sql) {
  auto v = db.queryInt(sql);
  return v.isOk() ? *v : -1;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--seconds N]\n", argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "nettrail_futex_bench: needs root (BPF)\n");
    return 1;
  }
  Switcher base;
  if (!base.start(seconds)) {
    std::fprintf(stderr, "nettrail_futex_bench: cannot start %s\n", NT_WORKLOAD_BIN);
    return 1;
  }
  const long base_handoffs = base.run();
  std::printf("futex bench: two threads handing a token through a futex for %d s\n", seconds);
  std::printf("  %-30s %9.0f handoffs/s\n", "no recorder", static_cast<double>(base_handoffs) / seconds);

  struct Run {
    const char* label;
    std::vector<std::string> args;
  };
  const std::vector<Run> runs = {
      {"tracepoint, summary", {"--attach-strategy", "tracepoint", "--mode", "summary"}},
      {"tp_btf (raw_syscalls), summary", {"--attach-strategy", "tp_btf", "--mode", "summary"}},
      {"raw_tp (raw_syscalls), summary", {"--attach-strategy", "raw_tp", "--mode", "summary"}},
      {"tracepoint, both (every call)", {"--attach-strategy", "tracepoint", "--mode", "both", "--ring-size", "64M"}},
  };
  const std::string path = "/tmp/nettrail-futex-bench-" + std::to_string(getpid()) + ".ntr";
  for (const Run& run : runs) {
    Switcher work;
    if (!work.start(seconds)) return 1;
    std::vector<std::string> args = {"--families", "futex", "-p", std::to_string(work.pid()), "-o", path, "--force"};
    args.insert(args.end(), run.args.begin(), run.args.end());
    nettrail::testing::RecorderProcess recorder;
    if (!recorder.start(args)) {
      std::printf("  %-30s not measurable here: %s\n", run.label, recorder.output().c_str());
      continue;
    }
    const long handoffs = work.run();
    recorder.stop();
    const std::string out = recorder.output();
    const double user = figure(out, "recorder CPU ");
    const double system = figure(out, "s user + ");
    auto db = nettrail::Db::open(":memory:");
    if (!db.isOk() || !nettrail::ingestRecordings({path}, **db, nettrail::IngestOptions{}).isOk()) {
      std::printf("  %-30s ingest failed\n", run.label);
      continue;
    }
    const int64_t calls = queryInt(**db, "SELECT COALESCE(SUM(calls), 0) FROM futex_interval");
    const int64_t details = queryInt(**db, "SELECT COUNT(*) FROM futex_event");
    const int64_t lost = queryInt(**db, "SELECT COALESCE(SUM(value), 0) FROM counter WHERE family = 'futex' AND "
                                        "data_loss = 1 AND cpu = -1");
    const double rate = static_cast<double>(handoffs) / seconds;
    const double per_call_base = static_cast<double>(seconds) * 1e9 / (base_handoffs > 0 ? base_handoffs : 1);
    const double per_call = static_cast<double>(seconds) * 1e9 / (handoffs > 0 ? handoffs : 1);
    // Calls per handoff: measured from the recording (WAKE + WAITs of both threads).
    const double calls_per_handoff = handoffs > 0 ? static_cast<double>(calls) / handoffs : 0;
    std::printf("  %-30s %9.0f handoffs/s (%.1f%% of base), %lld futex calls recorded (%.0f/s, %.2f per handoff), "
                "%lld details, %lld lost\n",
                run.label, rate, 100.0 * rate / (base_handoffs > 0 ? base_handoffs / double(seconds) : 1),
                static_cast<long long>(calls), calls / double(seconds), calls_per_handoff,
                static_cast<long long>(details), static_cast<long long>(lost));
    if (calls > 0)
      std::printf("  %-30s workload +%.0f ns per futex call; recorder CPU %.2f s user + %.2f s system = %.0f ns "
                  "per call\n",
                  "", (per_call - per_call_base) / (calls_per_handoff > 0 ? calls_per_handoff : 1), user, system,
                  (user + system) * 1e9 / static_cast<double>(calls));
  }
  std::remove(path.c_str());
  return 0;
}
