// Locks family, recorder side: finds the libc the -p process maps, resolves
// the pthread lock functions to file offsets from its ELF symbols, plans one
// uprobe/uretprobe hook per function (timed and try variants optional), and
// turns ring records into columnar LockWaits and summary-map snapshots into
// LocksSummary. Symbols are resolved here rather than by libbpf because glibc
// 2.34+ exports them under several versions (pthread_rwlock_wrlock@@GLIBC_2.34
// and @GLIBC_2.2.5), which libbpf 1.1 rejects as an ambiguous match.
//
// --mode, -i/--interval, --ring-size and --summary-keys are shared with the
// other families (probe_support.h), and -p/--pid with offcpu, futex and cpu.
#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "locks.skel.h"
#include "nettrail/locks_event.h"
#include "probe.h"
#include "probe_support.h"
#include "snapshot/user_symbols.h"

namespace nettrail::locks {
namespace {

constexpr size_t kBatchEvents = 65536;

// One probed function: the hook name people see, the symbol, and its programs.
struct LockFunction {
  const char* hook;
  const char* symbol;
  const char* entry_program;  // uprobe at the first instruction
  bool has_return;            // plus the shared uretprobe (lock calls; not unlocks)
  bool optional;              // timed and try variants: recorded as not attached when missing
};

constexpr LockFunction kFunctions[] = {
    {"rwlock_rdlock", "pthread_rwlock_rdlock", "rdlock_enter", true, false},
    {"rwlock_wrlock", "pthread_rwlock_wrlock", "wrlock_enter", true, false},
    {"rwlock_unlock", "pthread_rwlock_unlock", "unlock_enter", false, false},
    {"mutex_lock", "pthread_mutex_lock", "mutex_enter", true, false},
    {"mutex_unlock", "pthread_mutex_unlock", "unlock_enter", false, false},
    {"rwlock_timedrdlock", "pthread_rwlock_timedrdlock", "rdlock_enter", true, true},
    {"rwlock_timedwrlock", "pthread_rwlock_timedwrlock", "wrlock_enter", true, true},
    {"rwlock_clockrdlock", "pthread_rwlock_clockrdlock", "rdlock_enter", true, true},
    {"rwlock_clockwrlock", "pthread_rwlock_clockwrlock", "wrlock_enter", true, true},
    {"mutex_timedlock", "pthread_mutex_timedlock", "mutex_enter", true, true},
    {"mutex_clocklock", "pthread_mutex_clocklock", "mutex_enter", true, true},
    {"rwlock_tryrdlock", "pthread_rwlock_tryrdlock", "tryrdlock_enter", true, true},
    {"rwlock_trywrlock", "pthread_rwlock_trywrlock", "trywrlock_enter", true, true},
    {"mutex_trylock", "pthread_mutex_trylock", "trymutex_enter", true, true},
};

// A library of the process that may define the pthread functions.
struct MappedLibrary {
  std::string path;         // as /proc/PID/maps shows it
  std::string attach_path;  // a path to the same file the kernel can resolve
  UserBinary elf;
};

bool isLibrary(const std::string& path, const char* stem) {
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string prefix = stem;
  // libc.so.6, libc-2.31.so, libpthread.so.0, libpthread-2.31.so
  return base.compare(0, prefix.size(), prefix) == 0 && base.size() > prefix.size() &&
         (base[prefix.size()] == '.' || base[prefix.size()] == '-') && base.find(".so") != std::string::npos;
}

// The libraries (libpthread first: before glibc 2.34 it held the real lock
// functions) that `pid` maps, each read for the functions of kFunctions.
Result<std::vector<MappedLibrary>> findLibraries(uint32_t pid) {
  const std::string maps_path = "/proc/" + std::to_string(pid) + "/maps";
  FILE* f = std::fopen(maps_path.c_str(), "re");
  if (!f) return Status::error("--pid ", pid, ": cannot read ", maps_path, ": ", errnoText(errno));
  struct Found {
    std::string path;
    uint64_t start, end, inode;
  };
  std::vector<Found> pthread_libs, c_libs;
  char line[4096 + 256];
  while (std::fgets(line, sizeof(line), f)) {
    ProcMapsLine m;
    if (!parseProcMapsLine(line, m) || m.inode == 0 || m.path.empty() || m.path[0] != '/') continue;
    std::vector<Found>* into =
        isLibrary(m.path, "libpthread") ? &pthread_libs : isLibrary(m.path, "libc") ? &c_libs : nullptr;
    if (!into) continue;
    bool seen = false;
    for (const Found& x : *into) seen = seen || x.inode == m.inode;
    if (!seen) into->push_back({m.path, m.start, m.end, m.inode});
  }
  std::fclose(f);
  std::vector<std::string> names;
  for (const LockFunction& fn : kFunctions) names.push_back(fn.symbol);
  std::vector<MappedLibrary> out;
  for (const auto* list : {&pthread_libs, &c_libs})
    for (const Found& found : *list) {
      MappedLibrary lib;
      lib.path = found.path;
      // Through the process's root (its mount namespace), if that is still the
      // mapped file; otherwise map_files reaches it even if it was replaced.
      lib.attach_path = "/proc/" + std::to_string(pid) + "/root" + found.path;
      struct stat st;
      if (stat(lib.attach_path.c_str(), &st) != 0 || st.st_ino != found.inode) {
        char map_file[96];
        std::snprintf(map_file, sizeof(map_file), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid, found.start,
                      found.end);
        lib.attach_path = map_file;
      }
      if (!readUserFunctions(lib.attach_path, names, lib.elf))
        return Status::error("--pid ", pid, ": ", found.path, " (", lib.attach_path, ") is not a readable ELF file");
      out.push_back(std::move(lib));
    }
  if (out.empty())
    return Status::error("--pid ", pid, ": maps no libc or libpthread (", maps_path,
                         "); statically linked programs and other C libraries cannot be traced by this family");
  return out;
}

struct Columns {
  uint64_t base_time = 0;
  uint64_t last_time = 0;
  std::vector<uint64_t> start_delta, wait, lock, holder_held, holder_hold;
  std::vector<uint32_t> tid, holder_tid, holder_readers, user_stack, holder_stack;
  std::vector<uint8_t> kind;
  std::vector<int32_t> result;

  size_t size() const { return start_delta.size(); }
  void clear() {
    start_delta.clear(); wait.clear(); lock.clear(); holder_held.clear(); holder_hold.clear(); tid.clear();
    holder_tid.clear(); holder_readers.clear(); user_stack.clear(); holder_stack.clear(); kind.clear(); result.clear();
  }
};

class LocksProbe : public ProbeFamily {
 public:
  ~LocksProbe() override { destroyObject(); }

  void declareOptions(OptionSet& o) override {
    declareRecordingModeOptions(o);  // shared with the other families (see the top of this file)
    declareProcessOptions(o);
    const std::string g = "locks";
    // The probes' own cost is inside every measured wait: about 6 us median and
    // 15-20 us at p99 per uncontended call on the 2-CPU development VM.
    o.add({"lock-min-wait", 0, "US",
           "locks: waits shorter than this many microseconds are only counted (each measured wait includes the "
           "uprobes' own cost, several us)",
           "50", g});
    o.add({"lock-no-holder-stacks", 0, "",
           "locks: do not take the holder's user stack at every acquisition (cheaper uncontended locks)", "", g});
    o.add({"lock-no-user-stacks", 0, "", "locks: no waiter user stacks either", "", g});
    o.add({"lock-stack-storage-size", 0, "N", "locks: stack store capacity (waiter and holder stacks)", "16384", g});
  }

  Status configure(const ParsedOptions& options, ProbeSetup& setup) override {
    NT_ASSIGN_OR_RETURN(RecordingMode recording_mode, parseRecordingMode(options));
    cfg_.details = recording_mode.details;
    cfg_.summary = recording_mode.summary;
    interval_ns_ = recording_mode.interval_ns;
    summary_keys_ = recording_mode.summary_keys;
    ring_bytes_ = recording_mode.ring_bytes;
    if (!options.given("pid"))
      return Status::error("needs -p/--pid: uprobes go on the libc that process maps, and only its threads are traced");
    NT_ASSIGN_OR_RETURN(uint64_t pid, options.getUint("pid", 1, INT32_MAX));
    cfg_.pid = static_cast<uint32_t>(pid);
    if (access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0)
      return Status::error("--pid ", pid, ": no such process (/proc/", pid, ": ", errnoText(errno), ")");
    NT_ASSIGN_OR_RETURN(uint64_t min_us, options.getUint("lock-min-wait", UINT64_MAX / 1000));
    cfg_.min_ns = min_us * 1000;
    cfg_.user_stacks = !options.flag("lock-no-user-stacks");
    cfg_.holder_stacks = cfg_.user_stacks && !options.flag("lock-no-holder-stacks");
    NT_ASSIGN_OR_RETURN(uint64_t stacks, options.getUint("lock-stack-storage-size", 16, 1u << 22));
    stack_entries_ = static_cast<uint32_t>(stacks);

    NT_ASSIGN_OR_RETURN(std::vector<MappedLibrary> libraries, findLibraries(cfg_.pid));
    plan_.clear();
    trial_ = true;
    std::vector<std::pair<std::string, uint64_t>> attached_offsets;  // (file, offset) already probed
    for (const LockFunction& fn : kFunctions) {
      AttachCandidate entry{"uprobe", fn.entry_program, std::string(fn.symbol)};
      std::string unavailable;
      const MappedLibrary* where = nullptr;
      uint64_t offset = UINT64_MAX;
      for (const MappedLibrary& lib : libraries) {
        for (const UserElfSymbol& sym : lib.elf.symbols)
          if (sym.name == fn.symbol) offset = lib.elf.fileOffsetOfElfAddress(sym.value);
        if (offset != UINT64_MAX) {
          where = &lib;
          break;
        }
      }
      if (!where) {
        unavailable = std::string(fn.symbol) + " is not defined by " + libraries.front().path +
                      (libraries.size() > 1 ? " or the other mapped C libraries" : "");
      } else {
        // Some variants are aliases of others (same code): probing one address
        // twice would count every call twice.
        for (const auto& [file, off] : attached_offsets)
          if (file == where->attach_path && off == offset)
            unavailable = std::string(fn.symbol) + " is an alias of a function already probed";
        if (unavailable.empty()) attached_offsets.push_back({where->attach_path, offset});
      }
      const std::string shown = (where ? where->path : libraries.front().path) + ":" + fn.symbol;
      char at[32];
      std::snprintf(at, sizeof(at), " (+0x%" PRIx64 ")", offset);
      entry.target = where ? shown + at : shown;
      entry.binary = where ? where->attach_path : "";
      entry.offset = where ? offset : 0;
      entry.pid = static_cast<int>(cfg_.pid);
      entry.unavailable = unavailable;
      plan_.push_back({fn.hook, {entry}, fn.optional});
      if (fn.has_return) {
        AttachCandidate ret = entry;
        ret.strategy = "uretprobe";
        ret.program = "lock_exit";
        plan_.push_back({std::string(fn.hook) + "_return", {ret}, fn.optional});
      }
    }
    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"mode", recording_mode.mode});
    setup.options.push_back({"interval_ms", std::to_string(interval_ns_ / 1'000'000)});
    setup.options.push_back({"min_wait_ns", std::to_string(cfg_.min_ns)});
    setup.options.push_back({"user_stacks", cfg_.user_stacks ? "on" : "off"});
    setup.options.push_back({"holder_stacks", cfg_.holder_stacks ? "on" : "off"});
    for (const MappedLibrary& lib : libraries) setup.options.push_back({"library", lib.path + " via " + lib.attach_path});
    return Status::ok();
  }

  std::vector<AttachHook> attachPlan() const override { return plan_; }

  // The session trial-loads one program per hook (two dozen here) before the
  // final load; minimal maps keep those trials cheap.
  void attachChosen(const std::vector<AttachChoice>&) override { trial_ = false; }

  Result<bpf_object*> openObject() override {
    destroyObject();
    skel_ = locks_bpf__open();
    if (!skel_) return Status::error("open BPF object: ", errnoText(errno));
    auto* ro = skel_->rodata;
    ro->cfg_details = cfg_.details;
    ro->cfg_summary = cfg_.summary;
    ro->cfg_user_stacks = cfg_.user_stacks;
    ro->cfg_holder_stacks = cfg_.holder_stacks;
    ro->cfg_pid = cfg_.pid;
    ro->cfg_min_ns = cfg_.min_ns;
    ro->cfg_wakeup_bytes = ring_bytes_ / 8;
    bpf_map__set_max_entries(skel_->maps.locks_events, trial_ ? 4096 : ring_bytes_);
    bpf_map__set_max_entries(skel_->maps.locks_summary, trial_ ? 16 : summary_keys_);
    bpf_map__set_max_entries(skel_->maps.nt_stacks, trial_ ? 16 : stack_entries_);
    bpf_map__set_max_entries(skel_->maps.locks_start, trial_ ? 16 : 65536);
    bpf_map__set_max_entries(skel_->maps.locks_holders, trial_ ? 16 : 65536);
    return skel_->obj;
  }

  void destroyObject() override {
    if (skel_) locks_bpf__destroy(skel_);
    skel_ = nullptr;
  }

  Status started(RecordingSink& sink) override {
    sink_ = &sink;
    stacks_.reset(bpf_map__fd(skel_->maps.nt_stacks), &sink);
    summary_fd_ = bpf_map__fd(skel_->maps.locks_summary);
    counters_fd_ = bpf_map__fd(skel_->maps.locks_counters);
    cpus_ = libbpf_num_possible_cpus();
    schedule_ = FlushSchedule();
    schedule_.setSnapshotInterval(interval_ns_);
    return Status::ok();
  }

  std::vector<RingSpec> rings() override {
    if (!cfg_.details) return {};
    return {{bpf_map__fd(skel_->maps.locks_events), &LocksProbe::onRecord, this}};
  }

  Status tick(RecordingSink& sink, uint64_t now, bool final) override {
    schedule_.begin(now);
    if (!status_.isOk()) return status_;
    if (columns_.size() > 0 && schedule_.flushDue(now, final)) {
      NT_RETURN_IF_ERROR(flushEvents());
    }
    if (cfg_.summary && schedule_.snapshotDue(now, final)) {
      NT_RETURN_IF_ERROR(snapshotSummary(sink, now));
    }
    return Status::ok();
  }

  std::vector<CounterValue> counters() override {
    static const CounterName kNames[NT_LOCKS_COUNTER_MAX] = {
        {"lock_calls", false},       {"acquired", false},          {"lock_errors", false},
        {"unlocks", false},          {"below_min_wait", false},    {"start_map_full", true},
        {"return_without_entry", false}, {"holder_map_full", false}, {"user_stack_missing", false},
        {"summary_map_full", true},  {"ring_reserve_failed", true}, {"waits", false},
        {"wait_total_ns", false},
    };
    std::vector<CounterValue> out;
    readPerCpuCounters(counters_fd_, cpus_, kNames, NT_LOCKS_COUNTER_MAX, &out);
    out.push_back({"details_recorded", -1, events_, false});
    out.push_back({"details_truncated_records", -1, malformed_, true});
    return out;
  }

  uint64_t eventsRecorded() const override { return events_; }

 private:
  static int onRecord(void* ctx, void* data, size_t size) {
    static_cast<LocksProbe*>(ctx)->decode(data, size);
    return 0;
  }

  // The holder's name, read once per thread while it lives (it need not have
  // waited itself, so no record carries its comm).
  void noteHolder(uint32_t tid) {
    if (!holders_seen_.insert(tid).second) return;
    std::ifstream in("/proc/" + std::to_string(cfg_.pid) + "/task/" + std::to_string(tid) + "/comm");
    std::string comm;
    if (in && std::getline(in, comm)) sink_->noteProcess(tid, cfg_.pid, comm.data(), comm.size());
  }

  void decode(const void* data, size_t size) {
    if (size < sizeof(nt_locks_event)) {
      ++malformed_;
      return;
    }
    const auto* e = static_cast<const nt_locks_event*>(data);
    Columns& c = columns_;
    if (c.size() == 0) c.base_time = c.last_time = e->start_ns;
    // Ring order is return order: start times step back; deltas wrap (see the schema).
    c.start_delta.push_back(e->start_ns - c.last_time);
    c.last_time = e->start_ns;
    c.wait.push_back(e->wait_ns);
    c.lock.push_back(e->lock);
    c.holder_held.push_back(e->holder_held_ns);
    c.holder_hold.push_back(e->holder_hold_ns);
    c.tid.push_back(e->tid);
    c.holder_tid.push_back(e->holder_tid);
    c.holder_readers.push_back(e->holder_readers);
    c.user_stack.push_back(stacks_.userStack(e->ustack_id, e->pid));
    c.holder_stack.push_back(stacks_.userStack(e->holder_ustack_id, e->pid));
    c.kind.push_back(static_cast<uint8_t>(e->kind));
    c.result.push_back(e->result);
    sink_->noteProcess(e->tid, e->pid, e->comm, sizeof(e->comm));
    if (e->holder_tid) noteHolder(e->holder_tid);
    ++events_;
    if (c.size() >= kBatchEvents && status_.isOk()) status_ = flushEvents();
  }

  Status flushEvents() {
    Columns& c = columns_;
    const unsigned n = static_cast<unsigned>(c.size());
    if (n == 0) return Status::ok();
    capnp::MallocMessageBuilder message(n * 12 + 1024);
    auto w = message.initRoot<Chunk>().initBatch().initLocks().initWaits();
    w.setBaseTimeNs(c.base_time);
    fillList(w.initStartDelta(n), c.start_delta);
    fillList(w.initWaitNs(n), c.wait);
    fillList(w.initTid(n), c.tid);
    fillList(w.initLockAddress(n), c.lock);
    fillList(w.initKind(n), c.kind);
    fillList(w.initResult(n), c.result);
    fillList(w.initHolderTid(n), c.holder_tid);
    fillList(w.initHolderReaders(n), c.holder_readers);
    fillList(w.initHolderHeldNs(n), c.holder_held);
    fillList(w.initHolderHoldNs(n), c.holder_hold);
    fillList(w.initUserStackId(n), c.user_stack);
    fillList(w.initHolderUserStackId(n), c.holder_stack);
    c.clear();
    return sink_->writeBatch(message);
  }

  Status snapshotSummary(RecordingSink& sink, uint64_t now) {
    struct Entry {
      nt_locks_key key;
      nt_locks_total total;
    };
    std::vector<Entry> entries;
    nt_locks_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(summary_fd_, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      nt_locks_total total{};
      if (bpf_map_lookup_elem(summary_fd_, &key, &total) != 0) continue;
      entries.push_back({key, total});
    }
    capnp::MallocMessageBuilder message;
    auto summary = message.initRoot<Chunk>().initBatch().initLocks().initSummary();
    summary.setTimeNs(now);
    summary.setIntervalIndex(interval_index_++);
    summary.setTotalNs(perCpuCounterTotal(counters_fd_, cpus_, NT_LOCKS_TOTAL_NS));
    summary.setTotalCount(perCpuCounterTotal(counters_fd_, cpus_, NT_LOCKS_TOTAL_COUNT));
    auto list = summary.initEntries(static_cast<unsigned>(entries.size()));
    for (unsigned i = 0; i < entries.size(); ++i) {
      auto out = list[i];
      out.setPid(cfg_.pid);
      out.setLockAddress(entries[i].key.lock);
      out.setKind(static_cast<uint8_t>(entries[i].key.kind));
      out.setTotalNs(entries[i].total.total_ns);
      out.setCount(entries[i].total.count);
      out.setMaxNs(entries[i].total.max_ns);
    }
    return sink.writeBatch(message);
  }

  struct Config {
    bool details = true, summary = true, user_stacks = true, holder_stacks = true;
    uint32_t pid = 0;
    uint64_t min_ns = 50000;
  } cfg_;
  std::vector<AttachHook> plan_;
  bool trial_ = true;  // until attachChosen(): openObject() is for a trial load
  uint64_t interval_ns_ = 1'000'000'000ull;
  uint32_t summary_keys_ = 16384, stack_entries_ = 16384;
  uint32_t ring_bytes_ = 16u << 20;
  locks_bpf* skel_ = nullptr;
  RecordingSink* sink_ = nullptr;
  StackInterner stacks_;
  int summary_fd_ = -1, counters_fd_ = -1, cpus_ = 0;
  Columns columns_;
  std::unordered_set<uint32_t> holders_seen_;
  uint64_t events_ = 0, malformed_ = 0;
  FlushSchedule schedule_;
  uint32_t interval_index_ = 0;
  Status status_;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<LocksProbe>(); }

}  // namespace nettrail::locks
