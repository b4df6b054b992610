#pragma once
// One recording run: preflight checks, attach with fallback, drain, rotate,
// detach. The only place that loads, attaches, drains and detaches BPF.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "probe.h"
#include "probe_registry.h"

namespace nettrail {

struct SessionOptions {
  std::string output;
  OutputOptions output_file;  // mode (--group-readable), replace (--force)
  double duration_seconds = 0;  // 0 = until SIGINT/SIGTERM
  std::vector<std::string> families;
  RotationPolicy rotation;
  int zstd_level = 1;
  std::string force_strategy;   // tests: use only this attach strategy
  std::vector<std::string> command_line;
  bool verbose = false;
  bool quiet = false;
};

struct SessionSummary {
  uint64_t events = 0;
  uint64_t lost = 0;
  uint64_t bytes = 0;
  uint64_t raw_bytes = 0;
  double seconds = 0;
  double cpu_user_seconds = 0;
  double cpu_system_seconds = 0;
  std::vector<std::string> files;
  std::vector<std::pair<std::string, AttachChoice>> attachments;
};

// Checks the process may load BPF (root or CAP_BPF+CAP_PERFMON) and that the
// kernel offers BTF; mounts tracefs where it is missing.
Status checkPrivilegesAndKernel();

// For `nettrail-record check`: which candidate each hook would use here.
Result<std::vector<std::pair<std::string, AttachChoice>>> probeAttachPlans(
    const std::vector<ProbeEntry>& registry, const std::vector<std::string>& families,
    const ParsedOptions& options, const std::string& force_strategy);

class Session {
 public:
  Session(const std::vector<ProbeEntry>& registry, SessionOptions options);
  ~Session();
  // Runs to the end of the duration or until requestStop().
  Result<SessionSummary> run(const ParsedOptions& parsed);
  static void requestStop(int signal_number);

 private:
  struct Family;
  const std::vector<ProbeEntry>& registry_;
  SessionOptions options_;
  std::vector<std::unique_ptr<Family>> families_;
};

// Chooses and attaches one candidate per hook; exposed for `check` and tests.
// A forced strategy applies to the hooks that offer it; the others keep their
// own order (and say so in their note). Hooks marked optional that cannot be
// attached come back with attached=false and the reasons.
Result<std::vector<AttachChoice>> attachFamily(ProbeFamily& family, const std::string& force_strategy,
                                               const Kallsyms* kallsyms, std::vector<bpf_link*>* links);

// The kallsyms name to attach to for kernel function `name`: the name itself
// when the kernel has it, else a compiler-renamed copy (name.isra.N,
// name.constprop.N, name.part.N, and combinations; never name.cold, the
// outlined unlikely path). `others` gets further renamed copies. Empty when
// the kernel has neither (not built in, inlined everywhere, module not loaded).
std::string resolveKernelFunction(const Kallsyms& kallsyms, const std::string& name,
                                  std::vector<std::string>* others = nullptr);

}  // namespace nettrail
