#include "session.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <random>

#include "nettrail/counters.h"
#include "snapshot/host.h"

namespace nettrail {
namespace {

std::atomic<int> g_stop_signal{0};
bool g_verbose = false;

int libbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_verbose) return 0;
  if (level == LIBBPF_INFO && !g_verbose) return 0;
  if (level == LIBBPF_WARN && !g_verbose) return 0;  // failures come back as Status with context
  std::fputs("libbpf: ", stderr);
  return std::vfprintf(stderr, format, args);
}

bool hasCapability(int cap) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

bool pathExists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

std::string randomId() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

}  // namespace

Status checkPrivilegesAndKernel() {
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
  bool privileged = geteuid() == 0 || (hasCapability(CAP_BPF) && hasCapability(CAP_PERFMON));
  if (!privileged)
    return Status::error("loading BPF programs needs root or CAP_BPF+CAP_PERFMON; run with sudo, or grant "
                         "them: setcap cap_bpf,cap_perfmon+ep nettrail-record");
  if (!pathExists("/sys/kernel/btf/vmlinux"))
    return Status::error("this kernel has no BTF (/sys/kernel/btf/vmlinux missing): nettrail-record's CO-RE "
                         "programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y");
  // Classic tracepoints need tracefs; mount it where distributions expect it.
  if (!pathExists("/sys/kernel/tracing/events") && !pathExists("/sys/kernel/debug/tracing/events")) {
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 && g_verbose)
      std::fprintf(stderr, "nettrail-record: could not mount tracefs on /sys/kernel/tracing: %s\n",
                   errnoText(errno).c_str());
  }
  // Not needed on kernels with memcg accounting of BPF memory (5.11+); harmless to try.
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  (void)setrlimit(RLIMIT_MEMLOCK, &unlimited);
  return Status::ok();
}

namespace {

bool isFunctionStrategy(const std::string& strategy) {
  return strategy == "fentry" || strategy == "fexit" || strategy == "kprobe" || strategy == "kretprobe";
}

// "isra.0", "constprop.3.isra.0", "part.1": compiler clone suffixes, each a
// word and a number. "cold" (and anything else) is not a callable copy.
bool isCloneSuffix(std::string_view suffix) {
  while (!suffix.empty()) {
    size_t dot = suffix.find('.');
    if (dot == std::string_view::npos) return false;
    std::string_view word = suffix.substr(0, dot);
    if (word != "isra" && word != "constprop" && word != "part" && word != "llvm") return false;
    suffix.remove_prefix(dot + 1);
    size_t digits = 0;
    while (digits < suffix.size() && suffix[digits] >= '0' && suffix[digits] <= '9') ++digits;
    if (digits == 0) return false;
    suffix.remove_prefix(digits);
    if (suffix.empty()) return true;
    if (suffix.front() != '.') return false;
    suffix.remove_prefix(1);
  }
  return false;
}

// A candidate after resolution: the program plus what to attach it to.
struct ResolvedCandidate {
  const AttachCandidate* candidate = nullptr;
  std::string function;  // resolved kallsyms name, for function strategies
};

// Prepares `program` for loading as `r` (fentry/fexit: attach target).
int prepareProgram(bpf_program* program, const ResolvedCandidate& r) {
  const std::string& strategy = r.candidate->strategy;
  if (strategy == "fentry" || strategy == "fexit")
    return bpf_program__set_attach_target(program, 0, r.function.c_str());
  return 0;
}

// Attaches a loaded program as `r`; nullptr with errno set on failure.
bpf_link* attachProgram(bpf_program* program, const ResolvedCandidate& r) {
  const std::string& strategy = r.candidate->strategy;
  if (strategy == "kprobe" || strategy == "kretprobe") {
    LIBBPF_OPTS(bpf_kprobe_opts, opts, .retprobe = strategy == "kretprobe");
    return bpf_program__attach_kprobe_opts(program, r.function.c_str(), &opts);
  }
  if (strategy == "uprobe" || strategy == "uretprobe")
    return bpf_program__attach_uprobe(program, strategy == "uretprobe", r.candidate->pid,
                                      r.candidate->binary.c_str(), r.candidate->offset);
  return bpf_program__attach(program);
}

// Resolves a function candidate's symbol; false with `why` when it cannot be used.
bool resolveCandidate(const AttachCandidate& candidate, const Kallsyms* kallsyms, ResolvedCandidate* out,
                      std::string* why) {
  out->candidate = &candidate;
  if (!candidate.unavailable.empty()) {
    *why = candidate.unavailable;
    return false;
  }
  if (!isFunctionStrategy(candidate.strategy) || candidate.function.empty()) return true;
  if (!kallsyms) {
    *why = "/proc/kallsyms unreadable, cannot resolve " + candidate.function;
    return false;
  }
  std::vector<std::string> others;
  std::string resolved = resolveKernelFunction(*kallsyms, candidate.function, &others);
  if (resolved.empty()) {
    *why = candidate.function + " not in /proc/kallsyms (not built, inlined, or its module is not loaded)";
    return false;
  }
  if (resolved != candidate.function && (candidate.strategy == "fentry" || candidate.strategy == "fexit")) {
    // BTF names functions by their source name and has no entry for clones.
    *why = "only the renamed copy " + resolved + " exists and BTF has no type for it";
    return false;
  }
  out->function = resolved;
  return true;
}

}  // namespace

std::string resolveKernelFunction(const Kallsyms& kallsyms, const std::string& name, std::vector<std::string>* others) {
  if (kallsyms.byName(name)) return name;
  std::string found;
  for (size_t i = 0; i < kallsyms.size(); ++i) {
    const std::string& symbol = kallsyms.at(i).name;
    if (symbol.size() <= name.size() + 1 || symbol.compare(0, name.size(), name) != 0 || symbol[name.size()] != '.')
      continue;
    if (!isCloneSuffix(std::string_view(symbol).substr(name.size() + 1))) continue;
    if (found.empty()) found = symbol;
    else if (others && symbol != found) others->push_back(symbol);
  }
  return found;
}

Result<std::vector<AttachChoice>> attachFamily(ProbeFamily& family, const std::string& force_strategy,
                                               const Kallsyms* kallsyms, std::vector<bpf_link*>* links) {
  std::vector<AttachHook> plan = family.attachPlan();
  std::vector<AttachChoice> choices;
  // A family without hooks (it samples /proc, say) has no BPF object at all.
  if (plan.empty()) return choices;
  std::vector<ResolvedCandidate> chosen;
  for (const AttachHook& hook : plan) {
    AttachChoice choice;
    choice.hook = hook.hook;
    std::string notes;
    ResolvedCandidate picked;
    const bool offers_forced =
        !force_strategy.empty() && std::any_of(hook.candidates.begin(), hook.candidates.end(),
                                               [&](const AttachCandidate& c) { return c.strategy == force_strategy; });
    if (!force_strategy.empty() && !offers_forced)
      notes += "no " + force_strategy + " candidate for this hook, --attach-strategy ignored; ";
    for (const AttachCandidate& candidate : hook.candidates) {
      if (offers_forced && candidate.strategy != force_strategy) {
        notes += candidate.strategy + ": skipped (--attach-strategy " + force_strategy + "); ";
        continue;
      }
      ResolvedCandidate resolved;
      std::string why;
      if (!resolveCandidate(candidate, kallsyms, &resolved, &why)) {
        notes += candidate.strategy + " " + candidate.target + ": " + why + "; ";
        continue;
      }
      NT_ASSIGN_OR_RETURN(bpf_object * object, family.openObject());
      bpf_program* program = nullptr;
      bpf_program* p = nullptr;
      bpf_object__for_each_program(p, object) {
        bool wanted = candidate.program == bpf_program__name(p);
        bpf_program__set_autoload(p, wanted);
        if (wanted) program = p;
      }
      if (!program) {
        family.destroyObject();
        return Status::error("internal: attach plan names program ", candidate.program, " that the object lacks");
      }
      int err = prepareProgram(program, resolved);
      if (!err) err = bpf_object__load(object);
      if (err) {
        notes += candidate.strategy + " " + candidate.target + ": load failed: " + errnoText(err) + "; ";
        family.destroyObject();
        continue;
      }
      bpf_link* link = attachProgram(program, resolved);
      if (!link) {
        const int attach_errno = errno;
        std::string hint;
        if ((candidate.strategy == "kprobe" || candidate.strategy == "kretprobe") &&
            !pathExists("/sys/kernel/tracing/kprobe_events") && !pathExists("/sys/kernel/debug/tracing/kprobe_events"))
          hint = " (this kernel has no kprobe support: no kprobe_events in tracefs)";
        notes += candidate.strategy + " " + candidate.target + ": attach failed: " + errnoText(attach_errno) + hint +
                 "; ";
        family.destroyObject();
        continue;
      }
      bpf_link__destroy(link);
      family.destroyObject();
      picked = resolved;
      break;
    }
    if (notes.size() >= 2) notes.resize(notes.size() - 2);
    if (!picked.candidate) {
      if (!hook.optional) return Status::error("no way to attach ", hook.hook, " on this kernel: ", notes);
      choice.attached = false;
      choice.note = "unavailable: " + notes;
      choices.push_back(choice);
      continue;
    }
    choice.strategy = picked.candidate->strategy;
    choice.target = picked.function.empty() || picked.function == picked.candidate->function
                        ? picked.candidate->target
                        : picked.candidate->target + " (" + picked.function + ")";
    choice.attached = true;
    choice.note = notes;
    choices.push_back(choice);
    chosen.push_back(picked);
  }
  family.attachChosen(choices);
  // Final load with exactly the chosen programs.
  NT_ASSIGN_OR_RETURN(bpf_object * object, family.openObject());
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, object) {
    const ResolvedCandidate* match = nullptr;
    for (const ResolvedCandidate& r : chosen)
      if (r.candidate->program == bpf_program__name(p)) match = &r;
    bpf_program__set_autoload(p, match != nullptr);
    if (match) {
      int err = prepareProgram(p, *match);
      if (err) return Status::error("set attach target of ", match->candidate->program, ": ", errnoText(err));
    }
  }
  int err = bpf_object__load(object);
  if (err) return Status::error("load BPF object: ", errnoText(err));
  for (const ResolvedCandidate& r : chosen) {
    bpf_program* program = bpf_object__find_program_by_name(object, r.candidate->program.c_str());
    bpf_link* link = attachProgram(program, r);
    if (!link)
      return Status::error("attach ", r.candidate->strategy, " ", r.candidate->target, ": ", errnoText(errno));
    if (links) links->push_back(link);
    else bpf_link__destroy(link);
  }
  return choices;
}

Result<std::vector<std::pair<std::string, AttachChoice>>> probeAttachPlans(
    const std::vector<ProbeEntry>& registry, const std::vector<std::string>& families,
    const ParsedOptions& options, const std::string& force_strategy) {
  libbpf_set_print(libbpfPrint);
  std::vector<std::pair<std::string, AttachChoice>> out;
  auto kallsyms = Kallsyms::load();
  for (const ProbeEntry& entry : registry) {
    if (std::find(families.begin(), families.end(), entry.name) == families.end()) continue;
    std::unique_ptr<ProbeFamily> family = entry.make();
    ProbeSetup setup;
    setup.kallsyms = kallsyms.isOk() ? &*kallsyms : nullptr;
    NT_RETURN_IF_ERROR(family->configure(options, setup).context(entry.name));
    auto choices = attachFamily(*family, force_strategy, setup.kallsyms, nullptr);
    family->destroyObject();
    if (!choices.isOk()) {
      AttachChoice failed;
      failed.hook = "*";
      failed.note = choices.status().message();
      out.push_back({entry.name, failed});
      continue;
    }
    for (const AttachChoice& c : *choices) out.push_back({entry.name, c});
  }
  return out;
}

struct Session::Family {
  std::string name;
  std::unique_ptr<ProbeFamily> probe;
  ProbeSetup setup;
  std::vector<AttachChoice> choices;
  std::vector<bpf_link*> links;
  ~Family() {
    for (bpf_link* link : links) bpf_link__destroy(link);
    if (probe) probe->destroyObject();
  }
  // Times the kernel skipped one of this family's attached programs because
  // a BPF program was already running on that CPU (bpf_prog_info's
  // recursion_misses): events the recording does not have. Classic
  // tracepoints and kprobes share one per-CPU guard with every such program
  // and with the bpf() map syscalls, which raise it and can be preempted
  // while they do; a context switch there is not seen by sched_switch.
  // Read while attached (the final read happens just before detaching).
  uint64_t recursion_misses = 0;
  bool has_programs = false;
  void readRecursionMisses() {
    if (links.empty()) return;
    has_programs = true;
    uint64_t misses = 0;
    for (bpf_link* link : links) {
      bpf_link_info link_info = {};
      uint32_t link_len = sizeof(link_info);
      if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &link_info, &link_len) != 0) continue;
      const int prog_fd = bpf_prog_get_fd_by_id(link_info.prog_id);
      if (prog_fd < 0) continue;
      bpf_prog_info prog_info = {};
      uint32_t prog_len = sizeof(prog_info);
      if (bpf_obj_get_info_by_fd(prog_fd, &prog_info, &prog_len) == 0) misses += prog_info.recursion_misses;
      close(prog_fd);
    }
    recursion_misses = misses;
  }
};

Session::Session(const std::vector<ProbeEntry>& registry, SessionOptions options)
    : registry_(registry), options_(std::move(options)) {}

Session::~Session() = default;

void Session::requestStop(int signal_number) { g_stop_signal.store(signal_number); }

Result<SessionSummary> Session::run(const ParsedOptions& parsed) {
  g_verbose = options_.verbose;
  libbpf_set_print(libbpfPrint);
  NT_RETURN_IF_ERROR(checkPrivilegesAndKernel());

  auto kallsyms_result = Kallsyms::load();
  if (!kallsyms_result.isOk())
    return Status::error("kernel symbols are needed to symbolize stacks elsewhere: ",
                         kallsyms_result.status().message());
  Kallsyms kallsyms = std::move(*kallsyms_result);
  struct btf* vmlinux_btf = btf__load_vmlinux_btf();
  if (!vmlinux_btf) return Status::error("read kernel BTF: ", errnoText(errno));
  struct BtfOwner {
    struct btf* btf;
    ~BtfOwner() { btf__free(btf); }
  } btf_owner{vmlinux_btf};

  for (const std::string& name : options_.families) {
    auto it = std::find_if(registry_.begin(), registry_.end(), [&](const ProbeEntry& e) { return e.name == name; });
    NT_CHECK(it != registry_.end());
    auto family = std::make_unique<Family>();
    family->name = name;
    family->probe = it->make();
    family->setup.kallsyms = &kallsyms;
    family->setup.vmlinux_btf = vmlinux_btf;
    NT_RETURN_IF_ERROR(family->probe->configure(parsed, family->setup).context(name));
    for (const std::string& warning : family->setup.warnings)
      std::fprintf(stderr, "nettrail-record: %s: %s\n", name.c_str(), warning.c_str());
    auto choices = attachFamily(*family->probe, options_.force_strategy, &kallsyms, &family->links);
    if (!choices.isOk()) return choices.status().context(name);
    family->choices = std::move(*choices);
    families_.push_back(std::move(family));
  }

  // Again, now that our programs are loaded: their JIT images (bpf_prog_*)
  // appear in stacks and are named only in the new kallsyms.
  if (auto reloaded = Kallsyms::load(); reloaded.isOk()) kallsyms = std::move(*reloaded);

  HostFacts host = readHostFacts();
  const std::string recording_id = randomId();
  const ClockSample start = sampleClocks();
  RecordingSink sink(options_.output, options_.rotation, options_.zstd_level, &kallsyms, options_.output_file);
  auto fill_header = [&](Header::Builder header, uint32_t segment) {
    header.setFormatVersion(kFormatVersion);
    header.setRecorderVersion(NT_VERSION);
    header.setHostName(host.host_name);
    header.setKernelRelease(host.kernel_release);
    header.setKernelVersion(host.kernel_version);
    header.setMachine(host.machine);
    header.setBootId(host.boot_id);
    header.setCpuCount(host.cpu_count);
    auto argv = header.initCommandLine(static_cast<unsigned>(options_.command_line.size()));
    for (unsigned i = 0; i < options_.command_line.size(); ++i) argv.set(i, options_.command_line[i]);
    header.setStartRealtimeNs(start.realtime_ns);
    header.setStartBoottimeNs(start.boottime_ns);
    auto facts = header.initKernelFacts(static_cast<unsigned>(host.kernel_facts.size()));
    for (unsigned i = 0; i < host.kernel_facts.size(); ++i) {
      facts[i].setKey(host.kernel_facts[i].first);
      facts[i].setValue(host.kernel_facts[i].second);
    }
    auto probes = header.initProbes(static_cast<unsigned>(families_.size()));
    for (unsigned f = 0; f < families_.size(); ++f) {
      const Family& family = *families_[f];
      probes[f].setFamily(family.name);
      auto opts = probes[f].initOptions(static_cast<unsigned>(family.setup.options.size()));
      for (unsigned i = 0; i < family.setup.options.size(); ++i) {
        opts[i].setKey(family.setup.options[i].first);
        opts[i].setValue(family.setup.options[i].second);
      }
      auto attach = probes[f].initAttachments(static_cast<unsigned>(family.choices.size()));
      for (unsigned i = 0; i < family.choices.size(); ++i) {
        attach[i].setHook(family.choices[i].hook);
        attach[i].setStrategy(family.choices[i].strategy);
        attach[i].setTarget(family.choices[i].target);
        attach[i].setAttached(family.choices[i].attached);
        attach[i].setNote(family.choices[i].note);
      }
      auto enums = probes[f].initEnums(static_cast<unsigned>(family.setup.enums.size()));
      for (unsigned i = 0; i < family.setup.enums.size(); ++i) {
        enums[i].setEnumName(family.setup.enums[i].enum_name);
        enums[i].setValue(family.setup.enums[i].value);
        enums[i].setName(family.setup.enums[i].name);
      }
    }
    header.setSegment(segment);
    header.setRecordingId(recording_id);
  };
  NT_RETURN_IF_ERROR(sink.open(fill_header));

  struct RingOwner {
    ring_buffer* rb = nullptr;
    ~RingOwner() { if (rb) ring_buffer__free(rb); }
  } ring;
  for (auto& family : families_) {
    NT_RETURN_IF_ERROR(family->probe->started(sink).context(family->name));
    for (const RingSpec& spec : family->probe->rings()) {
      if (!ring.rb) {
        ring.rb = ring_buffer__new(spec.map_fd, spec.callback, spec.ctx, nullptr);
        if (!ring.rb) return Status::error(family->name, ": ring buffer setup: ", errnoText(errno));
      } else if (ring_buffer__add(ring.rb, spec.map_fd, spec.callback, spec.ctx) != 0) {
        return Status::error(family->name, ": ring buffer setup: ", errnoText(errno));
      }
    }
  }

  if (!options_.quiet) {
    std::fprintf(stderr, "nettrail-record: recording to %s", options_.output.c_str());
    if (options_.duration_seconds > 0) std::fprintf(stderr, " for %.1f s", options_.duration_seconds);
    std::fprintf(stderr, " (Ctrl-C to stop)\n");
    for (auto& family : families_)
      for (const AttachChoice& c : family->choices) {
        if (c.attached)
          std::fprintf(stderr, "nettrail-record: %s: %s via %s %s\n", family->name.c_str(), c.hook.c_str(),
                       c.strategy.c_str(), c.target.c_str());
        else
          std::fprintf(stderr, "nettrail-record: %s: %s %s\n", family->name.c_str(), c.hook.c_str(),
                       c.note.c_str());
      }
    for (auto& family : families_)
      if (family->choices.empty())
        std::fprintf(stderr, "nettrail-record: %s: samples via procfs (no BPF hooks)\n", family->name.c_str());
  }

  struct rusage usage_start;
  getrusage(RUSAGE_SELF, &usage_start);
  const uint64_t start_ns = boottimeNs();
  const uint64_t end_ns =
      options_.duration_seconds > 0 ? start_ns + static_cast<uint64_t>(options_.duration_seconds * 1e9) : 0;
  uint64_t last_tick = start_ns, last_anchor = start_ns, last_stats = start_ns;
  std::string stop_reason = "duration";

  // Every counter of every family, in the shape readers expect (nettrail/counters.h).
  auto collect_counters = [&]() {
    std::vector<CounterRow> rows;
    for (auto& family : families_) {
      for (const CounterValue& c : family->probe->counters())
        rows.push_back({family->name, c.name, c.cpu, c.value, c.data_loss});
      family->readRecursionMisses();
      if (family->has_programs) rows.push_back({family->name, "bpf_recursion_misses", -1, family->recursion_misses, true});
    }
    // The sink's own: user stacks it could not symbolize (the process was gone).
    rows.push_back({"recorder", "user_stacks_unsymbolized", -1, sink.userStacksUnsymbolized(), false});
    rows.push_back({"recorder", "user_frames_unsymbolized", -1, sink.userFramesUnsymbolized(), false});
    return rows;
  };
  std::vector<CounterRow> last_counters;
  auto write_stats = [&](uint64_t now) -> Status {
    capnp::MallocMessageBuilder message;
    last_counters = collect_counters();
    fillStats(message.initRoot<Chunk>().initStats(), now, last_counters);
    return sink.writeChunk(message);
  };

  Status loop_status;
  while (true) {
    int stop = g_stop_signal.load();
    if (stop) {
      stop_reason = std::string("signal ") + sigabbrev_np(stop);
      break;
    }
    int n = ring.rb ? ring_buffer__poll(ring.rb, 100) : (usleep(100000), 0);
    // Programs submit with BPF_RB_NO_WAKEUP below their wake-up threshold, so
    // a quiet ring never signals epoll: consume it on every timeout too.
    if (n == 0 && ring.rb) n = ring_buffer__consume(ring.rb);
    if (n < 0 && n != -EINTR) {
      loop_status = Status::error("ring buffer poll: ", errnoText(n));
      break;
    }
    uint64_t now = boottimeNs();
    if (end_ns && now >= end_ns) break;
    if (now - last_tick >= 100'000'000ull) {
      last_tick = now;
      for (auto& family : families_) {
        loop_status = family->probe->tick(sink, now, false).context(family->name);
        if (!loop_status.isOk()) break;
      }
      if (!loop_status.isOk()) break;
    }
    if (now - last_stats >= 1'000'000'000ull) {
      last_stats = now;
      loop_status = write_stats(now);
      if (!loop_status.isOk()) break;
    }
    if (now - last_anchor >= 10'000'000'000ull) {
      last_anchor = now;
      loop_status = sink.writeClockAnchor();
      if (!loop_status.isOk()) break;
    }
  }
  // Detach first so the final drain sees everything that was ever submitted.
  for (auto& family : families_) {
    family->readRecursionMisses();
    for (bpf_link* link : family->links) bpf_link__destroy(link);
    family->links.clear();
  }
  if (ring.rb) ring_buffer__consume(ring.rb);
  uint64_t now = boottimeNs();
  Status final_status = loop_status;
  for (auto& family : families_) {
    Status s = family->probe->tick(sink, now, true).context(family->name);
    if (final_status.isOk()) final_status = s;
  }
  if (final_status.isOk()) final_status = write_stats(now);
  if (!loop_status.isOk()) stop_reason = "error: " + loop_status.message();
  Status close_status = sink.close(stop_reason);
  if (final_status.isOk()) final_status = close_status;

  struct rusage usage_end;
  getrusage(RUSAGE_SELF, &usage_end);
  auto seconds = [](const timeval& a, const timeval& b) {
    return static_cast<double>(b.tv_sec - a.tv_sec) + static_cast<double>(b.tv_usec - a.tv_usec) / 1e6;
  };
  SessionSummary summary;
  summary.seconds = static_cast<double>(now - start_ns) / 1e9;
  summary.cpu_user_seconds = seconds(usage_start.ru_utime, usage_end.ru_utime);
  summary.cpu_system_seconds = seconds(usage_start.ru_stime, usage_end.ru_stime);
  summary.bytes = sink.bytesWritten();
  summary.raw_bytes = sink.uncompressedBytes();
  summary.files = sink.files();
  // The same rows as the file's last Stats chunk, so the closing line and
  // every reader of the file show one figure.
  if (last_counters.empty()) last_counters = collect_counters();
  summary.lost = lostTotal(last_counters);
  for (auto& family : families_) {
    summary.events += family->probe->eventsRecorded();
    for (const AttachChoice& c : family->choices) summary.attachments.push_back({family->name, c});
  }
  if (!final_status.isOk()) return final_status;
  return summary;
}

}  // namespace nettrail
