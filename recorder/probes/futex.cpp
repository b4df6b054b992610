// Futex family, recorder side: options and filters -> rodata, attach plan for
// the futex syscall's entry and exit, ring records -> columnar FutexEvents,
// summary map snapshots -> FutexSummary.
//
// Options follow futex.bt and the offcpu family: -p/--pid and --tid are shared
// with offcpu (one value filters both), --futex-min-wait is this family's
// details threshold. --mode, -i/--interval, --ring-size and --summary-keys
// are the shared recording-mode options (probe_support.h).
#include <bpf/bpf.h>
#include <unistd.h>

#include <vector>

#include "futex.skel.h"
#include "nettrail/futex_event.h"
#include "probe.h"
#include "probe_support.h"

namespace nettrail::futex {
namespace {

constexpr size_t kBatchEvents = 65536;

struct Columns {
  uint64_t base_time = 0;
  uint64_t last_time = 0;
  std::vector<uint64_t> start_delta, duration, uaddr;
  std::vector<uint32_t> tid;
  std::vector<uint8_t> op;
  std::vector<int64_t> result;

  size_t size() const { return start_delta.size(); }
  void clear() {
    start_delta.clear(); duration.clear(); uaddr.clear(); tid.clear(); op.clear(); result.clear();
  }
};

class FutexProbe : public ProbeFamily {
 public:
  ~FutexProbe() override { destroyObject(); }

  void declareOptions(OptionSet& o) override {
    declareRecordingModeOptions(o);
    // Same specs as the offcpu family: the first declaration is kept.
    declareProcessOptions(o);
    o.add({"futex-min-wait", 0, "US",
           "futex: details only for calls that spent at least this many microseconds in the kernel "
           "(the summary counts every call)",
           "0", "futex"});
  }

  Status configure(const ParsedOptions& options, ProbeSetup& setup) override {
    NT_ASSIGN_OR_RETURN(RecordingMode recording_mode, parseRecordingMode(options));
    const std::string mode = recording_mode.mode;
    cfg_.details = recording_mode.details;
    cfg_.summary = recording_mode.summary;
    interval_ns_ = recording_mode.interval_ns;
    summary_keys_ = recording_mode.summary_keys;
    ring_bytes_ = recording_mode.ring_bytes;
    if (options.given("pid")) {
      NT_ASSIGN_OR_RETURN(uint64_t pid, options.getUint("pid", 1, INT32_MAX));
      cfg_.pid = static_cast<uint32_t>(pid);
    }
    if (options.given("tid")) {
      NT_ASSIGN_OR_RETURN(uint64_t tid, options.getUint("tid", 1, INT32_MAX));
      cfg_.tid = static_cast<uint32_t>(tid);
    }
    NT_ASSIGN_OR_RETURN(uint64_t min_us, options.getUint("futex-min-wait", UINT64_MAX / 1000));
    cfg_.min_ns = min_us * 1000;
    if (cfg_.pid == 0 && cfg_.tid == 0)
      setup.warnings.push_back("futex: no -p/--pid or --tid: tracing every thread of the host (the recorder excepted)");

    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"mode", mode});
    setup.options.push_back({"interval_ms", std::to_string(interval_ns_ / 1'000'000)});
    setup.options.push_back({"min_wait_ns", std::to_string(cfg_.min_ns)});
    return Status::ok();
  }

  // Syscall tracepoints have no tp_btf/raw_tp form of their own: those
  // strategies attach to raw_syscalls (every syscall) and filter on the
  // number, so the futex-only classic tracepoints are cheapest here.
  std::vector<AttachHook> attachPlan() const override {
    return {{"futex_enter",
             {{"tracepoint", "sys_enter_futex_tp", "syscalls:sys_enter_futex"},
              {"tp_btf", "sys_enter_btf", "sys_enter (raw_syscalls, futex only)"},
              {"raw_tp", "sys_enter_raw", "sys_enter (raw_syscalls, futex only)"}}},
            {"futex_exit",
             {{"tracepoint", "sys_exit_futex_tp", "syscalls:sys_exit_futex"},
              {"tp_btf", "sys_exit_btf", "sys_exit (raw_syscalls, futex only)"},
              {"raw_tp", "sys_exit_raw", "sys_exit (raw_syscalls, futex only)"}}}};
  }

  Result<bpf_object*> openObject() override {
    destroyObject();
    skel_ = futex_bpf__open();
    if (!skel_) return Status::error("futex: open BPF object: ", errnoText(errno));
    auto* ro = skel_->rodata;
    ro->cfg_details = cfg_.details;
    ro->cfg_summary = cfg_.summary;
    ro->cfg_pid = cfg_.pid;
    ro->cfg_tid = cfg_.tid;
    ro->cfg_self_pid = static_cast<uint32_t>(getpid());
    ro->cfg_min_ns = cfg_.min_ns;
    ro->cfg_wakeup_bytes = ring_bytes_ / 8;
    bpf_map__set_max_entries(skel_->maps.futex_events, ring_bytes_);
    bpf_map__set_max_entries(skel_->maps.futex_summary, summary_keys_);
    return skel_->obj;
  }

  void destroyObject() override {
    if (skel_) futex_bpf__destroy(skel_);
    skel_ = nullptr;
  }

  Status started(RecordingSink& sink) override {
    sink_ = &sink;
    summary_fd_ = bpf_map__fd(skel_->maps.futex_summary);
    counters_fd_ = bpf_map__fd(skel_->maps.futex_counters);
    cpus_ = libbpf_num_possible_cpus();
    schedule_ = FlushSchedule();
    schedule_.setSnapshotInterval(interval_ns_);
    return Status::ok();
  }

  std::vector<RingSpec> rings() override {
    if (!cfg_.details) return {};
    return {{bpf_map__fd(skel_->maps.futex_events), &FutexProbe::onRecord, this}};
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
    static const CounterName kNames[NT_FUTEX_COUNTER_MAX] = {
        {"futex_enters", false},       {"start_map_full", true},     {"unmatched_exits", false},
        {"below_min_wait", false},     {"summary_map_full", true},   {"ring_reserve_failed", true},
        {"futex_calls", false},        {"futex_total_ns", false},
    };
    std::vector<CounterValue> out;
    readPerCpuCounters(counters_fd_, cpus_, kNames, NT_FUTEX_COUNTER_MAX, &out);
    out.push_back({"details_recorded", -1, events_, false});
    out.push_back({"details_truncated_records", -1, malformed_, true});
    return out;
  }

  uint64_t eventsRecorded() const override { return events_; }

 private:
  static int onRecord(void* ctx, void* data, size_t size) {
    static_cast<FutexProbe*>(ctx)->decode(data, size);
    return 0;
  }

  void decode(const void* data, size_t size) {
    if (size < sizeof(nt_futex_event)) {
      ++malformed_;
      return;
    }
    const auto* e = static_cast<const nt_futex_event*>(data);
    Columns& c = columns_;
    if (c.size() == 0) c.base_time = c.last_time = e->start_ns;
    // Ring order is exit order: deltas are modulo 2^64 (see futex.capnp).
    c.start_delta.push_back(e->start_ns - c.last_time);
    c.last_time = e->start_ns;
    c.duration.push_back(e->duration_ns);
    c.tid.push_back(e->tid);
    c.op.push_back(e->op);
    c.uaddr.push_back(e->uaddr);
    c.result.push_back(e->result);
    sink_->noteProcess(e->tid, e->pid, e->comm, sizeof(e->comm));
    ++events_;
    if (c.size() >= kBatchEvents && status_.isOk()) status_ = flushEvents();
  }

  Status flushEvents() {
    Columns& c = columns_;
    const unsigned n = static_cast<unsigned>(c.size());
    if (n == 0) return Status::ok();
    capnp::MallocMessageBuilder message(n * 6 + 1024);
    auto ev = message.initRoot<Chunk>().initBatch().initFutex().initEvents();
    ev.setBaseTimeNs(c.base_time);
    fillList(ev.initStartDelta(n), c.start_delta);
    fillList(ev.initDurationNs(n), c.duration);
    fillList(ev.initTid(n), c.tid);
    fillList(ev.initOp(n), c.op);
    fillList(ev.initUaddr(n), c.uaddr);
    fillList(ev.initResult(n), c.result);
    c.clear();
    return sink_->writeBatch(message);
  }

  Status snapshotSummary(RecordingSink& sink, uint64_t now) {
    struct Entry {
      nt_futex_key key;
      nt_futex_total total;
    };
    std::vector<Entry> entries;
    nt_futex_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(summary_fd_, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      nt_futex_total total{};
      if (bpf_map_lookup_elem(summary_fd_, &key, &total) != 0) continue;
      entries.push_back({key, total});
    }
    capnp::MallocMessageBuilder message;
    auto summary = message.initRoot<Chunk>().initBatch().initFutex().initSummary();
    summary.setTimeNs(now);
    summary.setIntervalIndex(interval_index_++);
    summary.setTotalCalls(perCpuCounterTotal(counters_fd_, cpus_, NT_FUTEX_TOTAL_CALLS));
    summary.setTotalNs(perCpuCounterTotal(counters_fd_, cpus_, NT_FUTEX_TOTAL_NS));
    auto list = summary.initEntries(static_cast<unsigned>(entries.size()));
    for (unsigned i = 0; i < entries.size(); ++i) {
      const nt_futex_key& k = entries[i].key;
      const nt_futex_total& t = entries[i].total;
      auto out = list[i];
      out.setPid(k.pid);
      out.setTid(k.tid);
      out.setOp(k.op);
      out.setUaddr(k.uaddr);
      out.setCalls(t.calls);
      out.setTotalNs(t.total_ns);
      out.setMaxNs(t.max_ns);
      out.setErrors(t.errors);
      sink.noteProcess(k.tid, k.pid, t.comm, sizeof(t.comm));
    }
    return sink.writeBatch(message);
  }

  struct Config {
    bool details = true, summary = true;
    uint32_t pid = 0, tid = 0;
    uint64_t min_ns = 0;
  } cfg_;
  uint64_t interval_ns_ = 1'000'000'000ull;
  uint32_t summary_keys_ = 16384;
  uint32_t ring_bytes_ = 16u << 20;
  futex_bpf* skel_ = nullptr;
  RecordingSink* sink_ = nullptr;
  int summary_fd_ = -1, counters_fd_ = -1, cpus_ = 0;
  Columns columns_;
  uint64_t events_ = 0, malformed_ = 0;
  FlushSchedule schedule_;
  uint32_t interval_index_ = 0;
  Status status_;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<FutexProbe>(); }

}  // namespace nettrail::futex
