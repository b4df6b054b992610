// Off-CPU family, recorder side: options and filters -> rodata, attach plan for
// sched_switch and sched_waking, ring records -> columnar OffcpuEvents, summary
// map snapshots. Stacks are interned in the sink (user stacks per process, and
// symbolized there while the process is alive).
//
// Options follow offcputime(-ts).py: -p/--pid, --tid, -m/--min-block-time,
// -M/--max-block-time, --state, --stack-storage-size. --mode, -i/--interval,
// --ring-size and --summary-keys mean the same here as in the drop family
// (details vs summary, snapshot period, ring and map capacity), so they are
// declared with the drop family's exact spec and one value drives both
// families (OptionSet::add keeps the first spec of a name). -p/--pid is shared
// the same way with the futex and cpu families, --tid with the futex family.
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

#include "nettrail/offcpu_event.h"
#include "offcpu.skel.h"
#include "probe.h"
#include "probe_support.h"

namespace nettrail::offcpu {
namespace {

constexpr size_t kBatchEvents = 65536;

struct Columns {
  uint64_t base_time = 0;
  uint64_t last_time = 0;
  std::vector<uint64_t> start_delta, duration;
  std::vector<uint32_t> tid, state, waker_tid, kernel_stack, user_stack;
  std::vector<uint16_t> cpu;

  size_t size() const { return start_delta.size(); }
  void clear() {
    start_delta.clear(); duration.clear(); tid.clear(); state.clear(); waker_tid.clear();
    kernel_stack.clear(); user_stack.clear(); cpu.clear();
  }
};

class OffcpuProbe : public ProbeFamily {
 public:
  ~OffcpuProbe() override { destroyObject(); }

  void declareOptions(OptionSet& o) override {
    declareRecordingModeOptions(o);  // shared with the other families (see the top of this file)
    declareProcessOptions(o);
    const std::string g = "offcpu";
    o.add({"min-block-time", 'm', "US", "off-CPU: only periods of at least this many microseconds", "1", g});
    o.add({"max-block-time", 'M', "US", "off-CPU: only periods of at most this many microseconds", "", g});
    o.add({"state", 0, "STATE", "off-CPU: only this task state bitmask at switch-out (0 preempted, 1 sleeping, "
                                "2 uninterruptible)", "", g});
    o.add({"kernel-stacks-only", 0, "", "off-CPU: no user stacks", "", g});
    o.add({"user-stacks-only", 0, "", "off-CPU: no kernel stacks", "", g});
    o.add({"stack-storage-size", 0, "N", "off-CPU: stack store capacity (kernel and user stacks)", "16384", g});
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
    NT_ASSIGN_OR_RETURN(uint64_t min_us, options.getUint("min-block-time", UINT64_MAX / 1000));
    cfg_.min_ns = min_us * 1000;
    if (options.given("max-block-time")) {
      NT_ASSIGN_OR_RETURN(uint64_t max_us, options.getUint("max-block-time", UINT64_MAX / 1000));
      cfg_.max_ns = max_us * 1000;
      if (cfg_.max_ns < cfg_.min_ns)
        return Status::error("--max-block-time ", max_us, " us is below --min-block-time ", min_us, " us");
    }
    if (options.given("state")) {
      NT_ASSIGN_OR_RETURN(uint64_t state, options.getUint("state", UINT32_MAX));
      cfg_.has_state = true;
      cfg_.state = static_cast<uint32_t>(state);
    }
    if (options.flag("kernel-stacks-only") && options.flag("user-stacks-only"))
      return Status::error("--kernel-stacks-only and --user-stacks-only exclude each other");
    cfg_.user_stacks = !options.flag("kernel-stacks-only");
    cfg_.kernel_stacks = !options.flag("user-stacks-only");
    NT_ASSIGN_OR_RETURN(uint64_t stacks, options.getUint("stack-storage-size", 16, 1u << 22));
    stack_entries_ = static_cast<uint32_t>(stacks);
    if (cfg_.pid == 0 && cfg_.tid == 0)
      setup.warnings.push_back("no -p/--pid or --tid: tracing every thread of the host (the recorder excepted)");

    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"mode", mode});
    setup.options.push_back({"interval_ms", std::to_string(interval_ns_ / 1'000'000)});
    setup.options.push_back({"min_block_ns", std::to_string(cfg_.min_ns)});
    if (cfg_.max_ns != ~0ull) setup.options.push_back({"max_block_ns", std::to_string(cfg_.max_ns)});
    setup.options.push_back({"kernel_stacks", cfg_.kernel_stacks ? "on" : "off"});
    setup.options.push_back({"user_stacks", cfg_.user_stacks ? "on" : "off"});
    return Status::ok();
  }

  std::vector<AttachHook> attachPlan() const override {
    return {{"sched_switch",
             {{"tp_btf", "sched_switch_btf", "sched_switch"},
              {"raw_tp", "sched_switch_raw", "sched_switch"},
              {"tracepoint", "sched_switch_tp", "sched:sched_switch"}}},
            {"sched_wakeup",
             {{"tp_btf", "sched_waking_btf", "sched_waking"},
              {"raw_tp", "sched_waking_raw", "sched_waking"},
              {"tracepoint", "sched_waking_tp", "sched:sched_waking"},
              {"tracepoint", "sched_wakeup_tp", "sched:sched_wakeup"}}}};
  }

  Result<bpf_object*> openObject() override {
    destroyObject();
    skel_ = offcpu_bpf__open();
    if (!skel_) return Status::error("open BPF object: ", errnoText(errno));
    auto* ro = skel_->rodata;
    ro->cfg_details = cfg_.details;
    ro->cfg_summary = cfg_.summary;
    ro->cfg_user_stacks = cfg_.user_stacks;
    ro->cfg_kernel_stacks = cfg_.kernel_stacks;
    ro->cfg_pid = cfg_.pid;
    ro->cfg_tid = cfg_.tid;
    ro->cfg_self_pid = static_cast<uint32_t>(getpid());
    ro->cfg_has_state = cfg_.has_state;
    ro->cfg_state = cfg_.state;
    ro->cfg_min_ns = cfg_.min_ns;
    ro->cfg_max_ns = cfg_.max_ns;
    ro->cfg_wakeup_bytes = ring_bytes_ / 8;
    bpf_map__set_max_entries(skel_->maps.offcpu_events, ring_bytes_);
    bpf_map__set_max_entries(skel_->maps.offcpu_summary, summary_keys_);
    bpf_map__set_max_entries(skel_->maps.nt_stacks, stack_entries_);
    return skel_->obj;
  }

  void destroyObject() override {
    if (skel_) offcpu_bpf__destroy(skel_);
    skel_ = nullptr;
  }

  Status started(RecordingSink& sink) override {
    sink_ = &sink;
    stacks_.reset(bpf_map__fd(skel_->maps.nt_stacks), &sink);
    summary_fd_ = bpf_map__fd(skel_->maps.offcpu_summary);
    counters_fd_ = bpf_map__fd(skel_->maps.offcpu_counters);
    cpus_ = libbpf_num_possible_cpus();
    schedule_ = FlushSchedule();
    schedule_.setSnapshotInterval(interval_ns_);
    return Status::ok();
  }

  std::vector<RingSpec> rings() override {
    if (!cfg_.details) return {};
    return {{bpf_map__fd(skel_->maps.offcpu_events), &OffcpuProbe::onRecord, this}};
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
    static const CounterName kNames[NT_OFFCPU_COUNTER_MAX] = {
        {"sched_switch_seen", false}, {"switch_outs_tracked", false}, {"start_map_full", true},
        {"outside_block_time_range", false}, {"kernel_stack_missing", false}, {"user_stack_missing", false},
        {"summary_map_full", true}, {"ring_reserve_failed", true}, {"wakeups_seen", false},
        {"offcpu_periods", false}, {"offcpu_total_ns", false},
    };
    std::vector<CounterValue> out;
    readPerCpuCounters(counters_fd_, cpus_, kNames, NT_OFFCPU_COUNTER_MAX, &out);
    out.push_back({"details_recorded", -1, events_, false});
    out.push_back({"details_truncated_records", -1, malformed_, true});
    return out;
  }

  uint64_t eventsRecorded() const override { return events_; }

 private:
  static int onRecord(void* ctx, void* data, size_t size) {
    static_cast<OffcpuProbe*>(ctx)->decode(data, size);
    return 0;
  }

  void decode(const void* data, size_t size) {
    if (size < sizeof(nt_offcpu_event)) {
      ++malformed_;
      return;
    }
    const auto* e = static_cast<const nt_offcpu_event*>(data);
    Columns& c = columns_;
    if (c.size() == 0) c.base_time = c.last_time = e->start_ns;
    // Ring order is switch-in order, so start times step back often: deltas
    // are modulo 2^64 and the reader's wrapping sum is exact.
    c.start_delta.push_back(e->start_ns - c.last_time);
    c.last_time = e->start_ns;
    c.duration.push_back(e->duration_ns);
    c.tid.push_back(e->tid);
    c.state.push_back(e->state);
    c.waker_tid.push_back(e->waker_tid);
    c.kernel_stack.push_back(stacks_.kernelStack(e->kstack_id));
    c.user_stack.push_back(stacks_.userStack(e->ustack_id, e->pid));
    c.cpu.push_back(e->cpu);
    sink_->noteProcess(e->tid, e->pid, e->comm, sizeof(e->comm));
    if (e->waker_tid) sink_->noteProcess(e->waker_tid, e->waker_pid, e->waker_comm, sizeof(e->waker_comm));
    ++events_;
    if (c.size() >= kBatchEvents && status_.isOk()) status_ = flushEvents();
  }

  Status flushEvents() {
    Columns& c = columns_;
    const unsigned n = static_cast<unsigned>(c.size());
    if (n == 0) return Status::ok();
    capnp::MallocMessageBuilder message(n * 8 + 1024);
    auto ev = message.initRoot<Chunk>().initBatch().initOffcpu().initEvents();
    ev.setBaseTimeNs(c.base_time);
    fillList(ev.initStartDelta(n), c.start_delta);
    fillList(ev.initDurationNs(n), c.duration);
    fillList(ev.initTid(n), c.tid);
    fillList(ev.initState(n), c.state);
    fillList(ev.initWakerTid(n), c.waker_tid);
    fillList(ev.initKernelStackId(n), c.kernel_stack);
    fillList(ev.initUserStackId(n), c.user_stack);
    fillList(ev.initCpu(n), c.cpu);
    c.clear();
    return sink_->writeBatch(message);
  }

  Status snapshotSummary(RecordingSink& sink, uint64_t now) {
    struct Entry {
      nt_offcpu_key key;
      nt_offcpu_total total;
    };
    std::vector<Entry> entries;
    nt_offcpu_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(summary_fd_, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      nt_offcpu_total total{};
      if (bpf_map_lookup_elem(summary_fd_, &key, &total) != 0) continue;
      entries.push_back({key, total});
    }
    capnp::MallocMessageBuilder message;
    auto summary = message.initRoot<Chunk>().initBatch().initOffcpu().initSummary();
    summary.setTimeNs(now);
    summary.setIntervalIndex(interval_index_++);
    summary.setTotalNs(perCpuCounterTotal(counters_fd_, cpus_, NT_OFFCPU_TOTAL_NS));
    summary.setTotalCount(perCpuCounterTotal(counters_fd_, cpus_, NT_OFFCPU_TOTAL_COUNT));
    auto list = summary.initEntries(static_cast<unsigned>(entries.size()));
    for (unsigned i = 0; i < entries.size(); ++i) {
      const nt_offcpu_key& k = entries[i].key;
      auto out = list[i];
      out.setPid(k.pid);
      out.setTid(k.tid);
      out.setKernelStackId(stacks_.kernelStack(k.kstack_id));
      out.setUserStackId(stacks_.userStack(k.ustack_id, k.pid));
      out.setTotalNs(entries[i].total.total_ns);
      out.setCount(entries[i].total.count);
    }
    return sink.writeBatch(message);
  }

  struct Config {
    bool details = true, summary = true, user_stacks = true, kernel_stacks = true, has_state = false;
    uint32_t pid = 0, tid = 0, state = 0;
    uint64_t min_ns = 1000, max_ns = ~0ull;
  } cfg_;
  uint64_t interval_ns_ = 1'000'000'000ull;
  uint32_t summary_keys_ = 16384, stack_entries_ = 16384;
  uint32_t ring_bytes_ = 16u << 20;
  offcpu_bpf* skel_ = nullptr;
  RecordingSink* sink_ = nullptr;
  StackInterner stacks_;
  int summary_fd_ = -1, counters_fd_ = -1, cpus_ = 0;
  Columns columns_;
  uint64_t events_ = 0, malformed_ = 0;
  FlushSchedule schedule_;
  uint32_t interval_index_ = 0;
  Status status_;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<OffcpuProbe>(); }

}  // namespace nettrail::offcpu
