#pragma once
// The recorder side of a probe family: options, attach plan, BPF object,
// decoding. The lifecycle (load, attach, drain, detach) lives once in
// session.cpp; a family only configures, plans, decodes and snapshots.
#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nettrail/status.h"
#include "options.h"
#include "recording_sink.h"
#include "snapshot/kallsyms.h"

struct btf;

namespace nettrail {

// One way to attach a hook: tp_btf, raw_tp, tracepoint, fentry, fexit,
// kprobe, kretprobe, uprobe or uretprobe.
struct AttachCandidate {
  std::string strategy;
  std::string program;  // BPF program name in the family's object
  std::string target;   // what it attaches to, for people: "skb:kfree_skb"
  // fentry/fexit/kprobe/kretprobe: the kernel function, resolved by the
  // session against /proc/kallsyms (compiler-renamed copies such as
  // name.isra.0 count; name.cold does not). The program's SEC() then carries
  // no target: SEC("fentry"), SEC("kprobe").
  std::string function = {};  // empty for tracepoints
  // uprobe/uretprobe: the file to probe (a path the recorder can open, such as
  // /proc/PID/root/...), the file offset of the probed instruction (families
  // resolve symbols themselves: libbpf cannot attach by glibc's versioned
  // names), and the only process to trace (-1: every process mapping it).
  std::string binary = {};
  uint64_t offset = 0;
  int pid = -1;
  // Non-empty when the family already knows this candidate cannot work here
  // (e.g. the symbol is not in the library): the reason, recorded as is.
  std::string unavailable = {};
};

// A logical hook and its candidates, cheapest first.
struct AttachHook {
  std::string hook;
  std::vector<AttachCandidate> candidates;
  // When no candidate works here, the hook is recorded as not attached (with
  // the reasons) and the family runs without it, instead of failing.
  bool optional = false;
};

struct AttachChoice {
  std::string hook;
  std::string strategy;
  std::string target;
  bool attached = false;
  std::string note;  // why earlier candidates were skipped, or why all failed
};

struct CounterValue {
  std::string name;
  int cpu = -1;
  uint64_t value = 0;
  bool data_loss = false;
};

struct RingSpec {
  int map_fd = -1;
  ring_buffer_sample_fn callback = nullptr;
  void* ctx = nullptr;
};

// What a family learns and records while it is configured.
struct ProbeSetup {
  const Kallsyms* kallsyms = nullptr;   // null if unavailable
  const struct btf* vmlinux_btf = nullptr;
  std::vector<std::pair<std::string, std::string>> options;  // effective options, for the header
  struct Enum {
    std::string enum_name;
    int64_t value;
    std::string name;
  };
  std::vector<Enum> enums;
  std::vector<std::string> warnings;  // printed once at start
};

class ProbeFamily {
 public:
  virtual ~ProbeFamily() = default;
  virtual void declareOptions(OptionSet& options) = 0;
  // Validates options and resolves names before anything is loaded.
  virtual Status configure(const ParsedOptions& options, ProbeSetup& setup) = 0;
  virtual std::vector<AttachHook> attachPlan() const = 0;
  // After the trial loads and before the final openObject(): what each hook
  // of attachPlan() got, for families whose rodata depends on which optional
  // hooks attached (e.g. the first and last stage of a path).
  virtual void attachChosen(const std::vector<AttachChoice>& choices) {}
  // Opens a fresh BPF object with rodata and map sizes set (not loaded). The
  // family owns it until destroyObject().
  virtual Result<bpf_object*> openObject() = 0;
  virtual void destroyObject() = 0;
  // After load and attach: locate maps; the rings to drain.
  virtual Status started(RecordingSink& sink) = 0;
  virtual std::vector<RingSpec> rings() = 0;
  // About every 100 ms, and once with final=true after the last drain: flush
  // batches, take interval snapshots.
  virtual Status tick(RecordingSink& sink, uint64_t now_boottime_ns, bool final) = 0;
  virtual std::vector<CounterValue> counters() = 0;
  virtual uint64_t eventsRecorded() const = 0;
};

}  // namespace nettrail
