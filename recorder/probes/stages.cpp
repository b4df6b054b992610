// Stages family, recorder side: the path of the chosen direction as a list of
// optional hooks (tracepoint stages: tp_btf -> raw_tp; function stages:
// fentry -> kprobe), filters -> rodata, the first and last attached stage of
// the path, ring records -> columnar StagesPackets (with stage stacks under
// --stage-stacks), per-pair and per-flow histogram snapshots.
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>

#include "nettrail/stages_event.h"
#include "probe.h"
#include "probe_support.h"
#include "stages.skel.h"

namespace nettrail::stages {
namespace {

constexpr size_t kBatchPackets = 16384;
constexpr uint8_t kEndToEnd = 255;
constexpr uint32_t kStackEntries = 16384;  // distinct kernel stacks over all stages (--stage-stacks)

// Names of enum nt_stage, in id order; written to the header as enum "nt_stage".
const char* const kStageNames[NT_STAGE_MAX] = {
    "ip_output",          "internal_dev_xmit", "netif_receive_skb", "netdev_frame_hook",
    "ovs_dp_process_packet", "ovs_dp_upcall",  "ovs_flow_key_extract_userspace", "ovs_vport_send",
    "nf_conntrack_in",    "net_dev_queue",     "qdisc_enqueue",     "qdisc_dequeue",
    "net_dev_start_xmit", "net_dev_xmit",      "proto_rcv",         "tun_net_xmit",
};

// One hook of a stage. Tracepoint stages name the tracepoint; function stages
// the kernel function.
struct StageHook {
  uint32_t stage;
  const char* hook;       // hook name in the attach plan
  const char* program;    // program name stem in stages.bpf.c
  const char* tracepoint; // "net:net_dev_queue", or nullptr for a function stage
  const char* function;   // kernel function for fentry/kprobe
};

const StageHook kHooks[] = {
    {NT_STAGE_IP_OUTPUT, "ip_output", "ip_output", nullptr, "ip_output"},
    {NT_STAGE_INTERNAL_DEV_XMIT, "internal_dev_xmit", "internal_dev_xmit", nullptr, "internal_dev_xmit"},
    {NT_STAGE_NETIF_RECEIVE, "netif_receive_skb", "netif_receive_skb", "net:netif_receive_skb", nullptr},
    {NT_STAGE_FRAME_HOOK, "netdev_frame_hook", "frame_hook", nullptr, "netdev_frame_hook"},
    {NT_STAGE_OVS_DP_PROCESS, "ovs_dp_process_packet", "ovs_dp_process", nullptr, "ovs_dp_process_packet"},
    {NT_STAGE_OVS_UPCALL, "ovs_dp_upcall", "ovs_upcall", nullptr, "ovs_dp_upcall"},
    {NT_STAGE_OVS_KEY_EXTRACT_USER, "ovs_flow_key_extract_userspace", "ovs_key_extract_user", nullptr,
     "ovs_flow_key_extract_userspace"},
    {NT_STAGE_CONNTRACK, "nf_conntrack_in", "conntrack", nullptr, "nf_conntrack_in"},
    {NT_STAGE_OVS_VPORT_SEND, "ovs_vport_send", "ovs_vport_send", nullptr, "ovs_vport_send"},
    {NT_STAGE_NET_DEV_QUEUE, "net_dev_queue", "net_dev_queue", "net:net_dev_queue", nullptr},
    {NT_STAGE_QDISC_ENQUEUE, "qdisc_enqueue", "qdisc_enqueue", "qdisc:qdisc_enqueue", nullptr},
    {NT_STAGE_QDISC_DEQUEUE, "qdisc_dequeue", "qdisc_dequeue", "qdisc:qdisc_dequeue", nullptr},
    {NT_STAGE_NET_DEV_START_XMIT, "net_dev_start_xmit", "net_dev_start_xmit", "net:net_dev_start_xmit", nullptr},
    {NT_STAGE_NET_DEV_XMIT, "net_dev_xmit", "net_dev_xmit", "net:net_dev_xmit", nullptr},
    {NT_STAGE_PROTO_RCV, "tcp_v4_rcv", "tcp_rcv", nullptr, "tcp_v4_rcv"},
    {NT_STAGE_PROTO_RCV, "udp_rcv", "udp_rcv", nullptr, "udp_rcv"},
    {NT_STAGE_PROTO_RCV, "icmp_rcv", "icmp_rcv", nullptr, "icmp_rcv"},
    {NT_STAGE_TUN_NET_XMIT, "tun_net_xmit", "tun_net_xmit", nullptr, "tun_net_xmit"},
};

// The stages of each path, in path order. The first stage that attached
// opens a packet's session, the last one closes it.
const uint32_t kTxLocal[] = {NT_STAGE_IP_OUTPUT,          NT_STAGE_INTERNAL_DEV_XMIT, NT_STAGE_OVS_DP_PROCESS,
                             NT_STAGE_OVS_UPCALL,         NT_STAGE_OVS_KEY_EXTRACT_USER, NT_STAGE_CONNTRACK,
                             NT_STAGE_OVS_VPORT_SEND,     NT_STAGE_NET_DEV_QUEUE,     NT_STAGE_QDISC_ENQUEUE,
                             NT_STAGE_QDISC_DEQUEUE,      NT_STAGE_NET_DEV_START_XMIT, NT_STAGE_NET_DEV_XMIT};
const uint32_t kTxVm[] = {NT_STAGE_NETIF_RECEIVE,     NT_STAGE_FRAME_HOOK,        NT_STAGE_OVS_DP_PROCESS,
                          NT_STAGE_OVS_UPCALL,        NT_STAGE_OVS_KEY_EXTRACT_USER, NT_STAGE_CONNTRACK,
                          NT_STAGE_OVS_VPORT_SEND,    NT_STAGE_NET_DEV_QUEUE,     NT_STAGE_QDISC_ENQUEUE,
                          NT_STAGE_QDISC_DEQUEUE,     NT_STAGE_NET_DEV_START_XMIT, NT_STAGE_NET_DEV_XMIT};
const uint32_t kRxLocal[] = {NT_STAGE_NETIF_RECEIVE, NT_STAGE_FRAME_HOOK,           NT_STAGE_OVS_DP_PROCESS,
                             NT_STAGE_OVS_UPCALL,    NT_STAGE_OVS_KEY_EXTRACT_USER, NT_STAGE_CONNTRACK,
                             NT_STAGE_OVS_VPORT_SEND, NT_STAGE_PROTO_RCV};
const uint32_t kRxVm[] = {NT_STAGE_NETIF_RECEIVE, NT_STAGE_FRAME_HOOK,           NT_STAGE_OVS_DP_PROCESS,
                          NT_STAGE_OVS_UPCALL,    NT_STAGE_OVS_KEY_EXTRACT_USER, NT_STAGE_CONNTRACK,
                          NT_STAGE_OVS_VPORT_SEND, NT_STAGE_TUN_NET_XMIT};

std::vector<std::string> splitComma(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    if (comma > pos) out.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

struct Columns {
  std::vector<bool> complete;
  std::vector<uint16_t> cpu, vlan_id, src_port, dst_port, ip_id, repeats;
  std::vector<uint32_t> netns, ifindex, length, tcp_seq, stage_stack;
  std::vector<uint64_t> src_hi, src_lo, dst_hi, dst_lo, stage_time;
  std::vector<uint8_t> l4_proto, stage_count, stage;
  size_t size() const { return complete.size(); }
  void clear() { *this = Columns(); }
};

class StagesProbe : public ProbeFamily {
 public:
  ~StagesProbe() override { destroyObject(); }

  void declareOptions(OptionSet& o) override {
    const std::string g = "stages";
    o.add({"direction", 0, "DIR", "stages: tx (local stack or VM to the phy interface) or rx (phy interface to "
                                  "the local stack or VM)", "tx", g});
    o.add({"phy-interface", 0, "NAMES", "stages: physical interface(s), comma list for bonds (at most 4)", "", g});
    o.add({"vm-interface", 0, "NAME", "stages: follow the VM path through this vnet/tap instead of the local stack",
           "", g});
    o.add({"protocol", 0, "PROTO", "stages: tcp, udp, icmp or all", "all", g});
    o.add({"latency-us", 0, "US", "stages: per-packet records only for packets at least this slow end to end", "0",
           g});
    o.add({"stages-sessions", 0, "N", "stages: packets followed at once (in-kernel LRU map)", "65536", g});
    o.add({"stages-flows", 0, "N",
           "stages: per-flow histogram entries in the kernel (one per flow and stage pair, about 11 per flow "
           "on a full tx path); samples of flows beyond it are counted as flow_hist_full; 0 turns per-flow "
           "histograms off",
           "8192", g});
    o.add({"stage-stacks", 0, "",
           "stages: record the kernel stack at each stage of each packet (symbolized like drop stacks; a stack "
           "walk per stage hit, so off by default)",
           "", g});
    // Shared with the drop family (OptionSet keeps the first spec of a name).
    o.add({"interval", 'i', "SECONDS", "summary snapshot interval", "1s", g});
    o.add({"src-ip", 0, "IP", "only drops with this source address (IPv4 or IPv6)", "", g});
    o.add({"dst-ip", 0, "IP", "only drops with this destination address", "", g});
    o.add({"src-port", 0, "PORT", "only TCP/UDP drops with this source port", "", g});
    o.add({"dst-port", 0, "PORT", "only TCP/UDP drops with this destination port", "", g});
    o.add({"ring-size", 0, "BYTES", "ring buffer size for details records (power of two)", "16M", g});
  }

  Status configure(const ParsedOptions& options, ProbeSetup& setup) override {
    const std::string direction = options.get("direction");
    if (direction != "tx" && direction != "rx")
      return Status::error("--direction: expected tx or rx, got '", direction, "'");
    rx_ = direction == "rx";
    if (!options.given("phy-interface") || options.get("phy-interface").empty())
      return Status::error("--phy-interface is required: the stages at the device (net_dev_xmit, "
                           "netif_receive_skb) count only on it; e.g. --phy-interface eth0 or eth0,eth1 for a bond");
    phy_names_ = splitComma(options.get("phy-interface"));
    if (phy_names_.empty() || phy_names_.size() > NT_STAGES_MAX_IFACES)
      return Status::error("--phy-interface: 1 to ", NT_STAGES_MAX_IFACES, " names, got '",
                           options.get("phy-interface"), "'");
    for (const std::string& name : phy_names_)
      if (name.size() >= NT_IFNAMSIZ) return Status::error("--phy-interface: '", name, "' is longer than 15 bytes");
    if (options.given("vm-interface")) {
      vm_name_ = options.get("vm-interface");
      if (vm_name_.empty() || vm_name_.size() >= NT_IFNAMSIZ)
        return Status::error("--vm-interface: '", vm_name_, "' is not a valid interface name (1-15 bytes)");
    }
    const std::string proto = options.get("protocol");
    if (proto == "tcp") l4_proto_ = 6;
    else if (proto == "udp") l4_proto_ = 17;
    else if (proto == "icmp") l4_proto_ = 1;
    else if (proto != "all") return Status::error("--protocol: expected tcp, udp, icmp or all, got '", proto, "'");
    for (const char* which : {"src-ip", "dst-ip"}) {
      if (!options.given(which)) continue;
      const bool src = std::string(which) == "src-ip";
      if (!parseIpAddress(options.get(which), src ? src_ip_ : dst_ip_))
        return Status::error("--", which, ": '", options.get(which), "' is not an IPv4 or IPv6 address");
      (src ? has_src_ip_ : has_dst_ip_) = true;
    }
    if (options.given("src-port")) {
      NT_ASSIGN_OR_RETURN(uint64_t port, options.getUint("src-port", 65535));
      src_port_ = static_cast<uint16_t>(port);
    }
    if (options.given("dst-port")) {
      NT_ASSIGN_OR_RETURN(uint64_t port, options.getUint("dst-port", 65535));
      dst_port_ = static_cast<uint16_t>(port);
    }
    NT_ASSIGN_OR_RETURN(uint64_t latency_us, options.getUint("latency-us", 3'600'000'000ull));
    latency_ns_ = latency_us * 1000;
    NT_ASSIGN_OR_RETURN(double interval, options.getSeconds("interval", 0.1, 86400));
    interval_ns_ = static_cast<uint64_t>(interval * 1e9);
    NT_ASSIGN_OR_RETURN(uint64_t sessions, options.getUint("stages-sessions", 64, 1u << 24));
    sessions_ = static_cast<uint32_t>(sessions);
    NT_ASSIGN_OR_RETURN(uint64_t flows, options.getUint("stages-flows", 1u << 22));
    flows_ = static_cast<uint32_t>(flows);
    stage_stacks_ = options.flag("stage-stacks");
    NT_ASSIGN_OR_RETURN(uint64_t ring, options.getPowerOfTwoBytes("ring-size", 4096, 1ull << 30));
    ring_bytes_ = static_cast<uint32_t>(ring);

    path_.clear();
    if (rx_) {
      if (vm_name_.empty()) path_.assign(std::begin(kRxLocal), std::end(kRxLocal));
      else path_.assign(std::begin(kRxVm), std::end(kRxVm));
    } else {
      if (vm_name_.empty()) path_.assign(std::begin(kTxLocal), std::end(kTxLocal));
      else path_.assign(std::begin(kTxVm), std::end(kTxVm));
    }
    enabled_mask_ = 0;
    for (uint32_t stage : path_) enabled_mask_ |= 1u << stage;
    start_stage_ = path_.front();
    end_stage_ = path_.back();
    phy_stage_mask_ = rx_ ? (1u << NT_STAGE_NETIF_RECEIVE)
                          : (1u << NT_STAGE_NET_DEV_QUEUE) | (1u << NT_STAGE_QDISC_ENQUEUE) |
                                (1u << NT_STAGE_QDISC_DEQUEUE) | (1u << NT_STAGE_NET_DEV_START_XMIT) |
                                (1u << NT_STAGE_NET_DEV_XMIT);
    vm_stage_mask_ = 0;
    if (!vm_name_.empty()) vm_stage_mask_ = rx_ ? (1u << NT_STAGE_TUN_NET_XMIT) : (1u << NT_STAGE_NETIF_RECEIVE);

    for (uint32_t i = 0; i < NT_STAGE_MAX; ++i) setup.enums.push_back({"nt_stage", i, kStageNames[i]});
    for (size_t i = 0; i < path_.size(); ++i)
      setup.enums.push_back({"nt_stages_path", static_cast<int64_t>(i), kStageNames[path_[i]]});
    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"direction", direction});
    setup.options.push_back({"path", vm_name_.empty() ? "local" : "vm"});
    setup.options.push_back({"interval_ms", std::to_string(interval_ns_ / 1'000'000)});
    setup.options.push_back({"latency_ns", std::to_string(latency_ns_)});
    setup.options.push_back({"flow_entries", std::to_string(flows_)});
    setup.options.push_back({"stage_stacks", stage_stacks_ ? "on" : "off"});
    return Status::ok();
  }

  std::vector<AttachHook> attachPlan() const override {
    std::vector<AttachHook> plan;
    for (uint32_t stage : path_) {
      for (const StageHook& h : kHooks) {
        if (h.stage != stage) continue;
        if (stage == NT_STAGE_PROTO_RCV && l4_proto_ != 0) {
          const std::string fn = h.function;
          if ((l4_proto_ == 6 && fn != "tcp_v4_rcv") || (l4_proto_ == 17 && fn != "udp_rcv") ||
              (l4_proto_ == 1 && fn != "icmp_rcv"))
            continue;
        }
        AttachHook hook;
        hook.hook = h.hook;
        hook.optional = true;
        const std::string stem = h.program;
        if (h.tracepoint) {
          const std::string tp = h.tracepoint;
          const std::string name = tp.substr(tp.find(':') + 1);
          hook.candidates.push_back({"tp_btf", stem + "_btf", name, ""});
          hook.candidates.push_back({"raw_tp", stem + "_raw", name, ""});
        } else {
          hook.candidates.push_back({"fentry", stem + "_fentry", h.function, h.function});
          hook.candidates.push_back({"kprobe", stem + "_kprobe", h.function, h.function});
        }
        plan.push_back(hook);
      }
    }
    return plan;
  }

  void attachChosen(const std::vector<AttachChoice>& choices) override {
    enabled_mask_ = 0;
    for (const AttachChoice& choice : choices) {
      if (!choice.attached) continue;
      for (const StageHook& h : kHooks)
        if (choice.hook == h.hook) enabled_mask_ |= 1u << h.stage;
    }
    std::vector<uint32_t> attached;
    for (uint32_t stage : path_)
      if (enabled_mask_ & (1u << stage)) attached.push_back(stage);
    if (attached.size() < 2) {
      std::string names;
      for (uint32_t stage : attached) names += std::string(names.empty() ? "" : ", ") + kStageNames[stage];
      plan_status_ = Status::error("fewer than two stages of the ", rx_ ? "rx" : "tx",
                                   " path could be attached on this kernel (", names.empty() ? "none" : names,
                                   "); see `nettrail-record check --families stages` for why");
      return;
    }
    start_stage_ = attached.front();
    end_stage_ = attached.back();
  }

  Result<bpf_object*> openObject() override {
    destroyObject();
    skel_ = stages_bpf__open();
    if (!skel_) return Status::error("open BPF object: ", errnoText(errno));
    auto* ro = skel_->rodata;
    ro->cfg_enabled_mask = enabled_mask_;
    ro->cfg_start_stage = start_stage_;
    ro->cfg_end_stage = end_stage_;
    ro->cfg_phy_stage_mask = phy_stage_mask_;
    ro->cfg_vm_stage_mask = vm_stage_mask_;
    ro->cfg_phy_count = static_cast<uint32_t>(phy_names_.size());
    for (size_t i = 0; i < phy_names_.size(); ++i) {
      char* dst = const_cast<char*>(ro->cfg_phy_names[i]);
      std::memset(dst, 0, NT_IFNAMSIZ);
      std::memcpy(dst, phy_names_[i].data(), phy_names_[i].size());
    }
    ro->cfg_has_vm = !vm_name_.empty();
    std::memset(const_cast<char*>(ro->cfg_vm_name), 0, NT_IFNAMSIZ);
    std::memcpy(const_cast<char*>(ro->cfg_vm_name), vm_name_.data(), vm_name_.size());
    ro->cfg_l4_proto = l4_proto_;
    ro->cfg_has_src_ip = has_src_ip_;
    ro->cfg_has_dst_ip = has_dst_ip_;
    std::memcpy(const_cast<uint8_t*>(ro->cfg_src_ip), src_ip_, 16);
    std::memcpy(const_cast<uint8_t*>(ro->cfg_dst_ip), dst_ip_, 16);
    ro->cfg_src_port = src_port_;
    ro->cfg_dst_port = dst_port_;
    ro->cfg_latency_ns = latency_ns_;
    ro->cfg_details = true;
    ro->cfg_flow_hist = flows_ > 0;
    ro->cfg_stage_stacks = stage_stacks_;
    ro->cfg_wakeup_bytes = ring_bytes_ / 8;
    bpf_map__set_max_entries(skel_->maps.stages_events, ring_bytes_);
    bpf_map__set_max_entries(skel_->maps.stages_sessions, sessions_);
    // Maps cannot have 0 entries: an unused one keeps a single slot.
    bpf_map__set_max_entries(skel_->maps.stages_flow_hist, std::max<uint32_t>(flows_, 1));
    bpf_map__set_max_entries(skel_->maps.nt_stacks, stage_stacks_ ? kStackEntries : 1);
    return skel_->obj;
  }

  void destroyObject() override {
    if (skel_) stages_bpf__destroy(skel_);
    skel_ = nullptr;
  }

  Status started(RecordingSink& sink) override {
    NT_RETURN_IF_ERROR(plan_status_);
    sink_ = &sink;
    sessions_fd_ = bpf_map__fd(skel_->maps.stages_sessions);
    devices_fd_ = bpf_map__fd(skel_->maps.stages_devices);
    flows_fd_ = bpf_map__fd(skel_->maps.stages_flow_hist);
    stacks_.reset(stage_stacks_ ? bpf_map__fd(skel_->maps.nt_stacks) : -1, &sink);
    schedule_ = FlushSchedule();
    schedule_.setSnapshotInterval(interval_ns_);
    return Status::ok();
  }

  std::vector<RingSpec> rings() override {
    return {{bpf_map__fd(skel_->maps.stages_events), &StagesProbe::onRecord, this}};
  }

  Status tick(RecordingSink& sink, uint64_t now, bool final) override {
    schedule_.begin(now);
    if (!status_.isOk()) return status_;
    if (final) NT_RETURN_IF_ERROR(collectInFlight());
    if (columns_.size() > 0 && schedule_.flushDue(now, final)) NT_RETURN_IF_ERROR(flushPackets());
    if (schedule_.snapshotDue(now, final)) NT_RETURN_IF_ERROR(snapshotSummary(sink, now));
    return Status::ok();
  }

  std::vector<CounterValue> counters() override {
    static const struct {
      const char* name;
      bool loss;
    } kNames[NT_STAGES_COUNTER_MAX] = {
        {"stage_hits", false},      {"filtered_out", false},       {"sessions_started", false},
        {"sessions_completed", false}, {"hit_without_session", false}, {"stage_repeated", false},
        {"sessions_restarted", false}, {"session_map_full", true},  {"ring_reserve_failed", true},
        {"details_submitted", false},  {"flow_hist_full", true},  {"stage_stack_missing", false},
    };
    std::vector<CounterValue> out;
    if (!readBss()) return out;
    __u64 value[NT_STAGES_COUNTER_MAX];
    for (uint32_t slot = 0; slot < NT_STAGES_COUNTER_MAX; ++slot) {
      value[slot] = bss_->stages_counters[slot];
      out.push_back({kNames[slot].name, -1, static_cast<uint64_t>(value[slot]), kNames[slot].loss});
    }
    out.push_back({"details_recorded", -1, events_, false});
    out.push_back({"details_truncated_records", -1, malformed_, true});
    if (collected_in_flight_) {
      out.push_back({"sessions_in_flight_at_end", -1, in_flight_at_end_, false});
      // Incomplete sessions that left the map before the end: replaced by a
      // packet with the same identity, or evicted by the LRU map.
      const uint64_t started = value[NT_STAGES_STARTED];
      const uint64_t accounted = value[NT_STAGES_COMPLETED] + in_flight_at_end_;
      out.push_back({"sessions_evicted_or_replaced", -1, started > accounted ? started - accounted : 0, false});
    }
    return out;
  }

  uint64_t eventsRecorded() const override { return events_; }

 private:
  // Copies the program's .bss (histograms and counters) out of the kernel:
  // the session loads the object itself, so the skeleton's mmap of it is not
  // set up and skel_->bss is only the initial image.
  bool readBss() {
    if (!skel_ || !skel_->maps.bss) return false;
    if (!bss_) bss_ = std::make_unique<stages_bpf::stages_bpf__bss>();
    const uint32_t zero = 0;
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.bss), &zero, bss_.get()) == 0;
  }

  static int onRecord(void* ctx, void* data, size_t size) {
    auto* self = static_cast<StagesProbe*>(ctx);
    if (size < sizeof(nt_stages_event)) {
      ++self->malformed_;
      return 0;
    }
    const auto* e = static_cast<const nt_stages_event*>(data);
    self->addPacket(e->key, e->session, e->cpu, true);
    return 0;
  }

  void addPacket(const nt_stages_key& k, const nt_stages_session& s, uint32_t cpu, bool complete) {
    Columns& c = columns_;
    c.complete.push_back(complete);
    c.cpu.push_back(static_cast<uint16_t>(cpu));
    c.netns.push_back(s.netns);
    c.ifindex.push_back(s.ifindex);
    c.length.push_back(s.len);
    c.vlan_id.push_back(s.vlan_id);
    c.src_hi.push_back(bigEndian64(k.saddr));
    c.src_lo.push_back(bigEndian64(k.saddr + 8));
    c.dst_hi.push_back(bigEndian64(k.daddr));
    c.dst_lo.push_back(bigEndian64(k.daddr + 8));
    c.l4_proto.push_back(k.l4_proto);
    c.src_port.push_back(k.sport);
    c.dst_port.push_back(k.dport);
    c.tcp_seq.push_back(k.seq);
    c.ip_id.push_back(k.ip_id);
    c.repeats.push_back(s.repeats);
    std::pair<uint64_t, uint8_t> hits[NT_STAGE_MAX];
    uint8_t n = 0;
    for (uint8_t stage = 0; stage < NT_STAGE_MAX; ++stage)
      if ((s.hit_mask & (1u << stage)) && s.ts[stage]) hits[n++] = {s.ts[stage], stage};
    std::sort(hits, hits + n);
    c.stage_count.push_back(n);
    for (uint8_t i = 0; i < n; ++i) {
      c.stage.push_back(hits[i].second);
      c.stage_time.push_back(hits[i].first);
      if (stage_stacks_) c.stage_stack.push_back(stacks_.kernelStack(s.stack[hits[i].second]));
    }
    noteDevice(s.netns, s.ifindex);
    ++events_;
    if (c.size() >= kBatchPackets && status_.isOk()) status_ = flushPackets();
  }

  // Packets still in the session map after the last drain: incomplete paths.
  Status collectInFlight() {
    if (collected_in_flight_ || sessions_fd_ < 0) return Status::ok();
    collected_in_flight_ = true;
    nt_stages_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(sessions_fd_, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      nt_stages_session session{};
      if (bpf_map_lookup_elem(sessions_fd_, &key, &session) != 0) continue;
      addPacket(key, session, 0, false);
      ++in_flight_at_end_;
    }
    return Status::ok();
  }

  void noteDevice(uint32_t netns, uint32_t ifindex) {
    if (ifindex == 0 || sink_->knowsInterface(netns, ifindex)) return;
    nt_device_key key = {netns, ifindex};
    nt_device_name name = {};
    if (bpf_map_lookup_elem(devices_fd_, &key, &name) != 0) return;
    sink_->noteInterface(netns, ifindex, std::string(name.name, strnlen(name.name, sizeof(name.name))));
  }

  Status flushPackets() {
    Columns& c = columns_;
    const unsigned n = static_cast<unsigned>(c.size());
    if (n == 0) return Status::ok();
    capnp::MallocMessageBuilder message(n * 24 + 1024);
    auto p = message.initRoot<Chunk>().initBatch().initStages().initPackets();
    auto complete = p.initComplete(n);
    for (unsigned i = 0; i < n; ++i) complete.set(i, c.complete[i]);
    fillList(p.initCpu(n), c.cpu);
    fillList(p.initNetns(n), c.netns);
    fillList(p.initIfindex(n), c.ifindex);
    fillList(p.initLength(n), c.length);
    fillList(p.initVlanId(n), c.vlan_id);
    fillList(p.initSrcHi(n), c.src_hi);
    fillList(p.initSrcLo(n), c.src_lo);
    fillList(p.initDstHi(n), c.dst_hi);
    fillList(p.initDstLo(n), c.dst_lo);
    fillList(p.initL4Proto(n), c.l4_proto);
    fillList(p.initSrcPort(n), c.src_port);
    fillList(p.initDstPort(n), c.dst_port);
    fillList(p.initTcpSeq(n), c.tcp_seq);
    fillList(p.initIpId(n), c.ip_id);
    fillList(p.initRepeats(n), c.repeats);
    fillList(p.initStageCount(n), c.stage_count);
    fillList(p.initStage(static_cast<unsigned>(c.stage.size())), c.stage);
    fillList(p.initStageTime(static_cast<unsigned>(c.stage_time.size())), c.stage_time);
    if (stage_stacks_) fillList(p.initStageStack(static_cast<unsigned>(c.stage_stack.size())), c.stage_stack);
    c.clear();
    return sink_->writeBatch(message);
  }

  Status snapshotSummary(RecordingSink& sink, uint64_t now) {
    struct Bucket {
      uint8_t from, to, log2;
      uint64_t count;
    };
    std::vector<Bucket> buckets;
    if (!readBss()) return Status::error("read the stages program's histograms: ", errnoText(errno));
    const __u64* hist = bss_->stages_hist;
    for (uint32_t from = 0; from < NT_STAGES_SLOTS; ++from)
      for (uint32_t to = 0; to < NT_STAGES_SLOTS; ++to)
        for (uint32_t b = 0; b < NT_STAGES_BUCKETS; ++b) {
          const uint64_t v = hist[(from * NT_STAGES_SLOTS + to) * NT_STAGES_BUCKETS + b];
          if (v == 0) continue;
          const uint8_t f = from == NT_STAGE_MAX ? kEndToEnd : static_cast<uint8_t>(from);
          const uint8_t t = to == NT_STAGE_MAX ? kEndToEnd : static_cast<uint8_t>(to);
          buckets.push_back({f, t, static_cast<uint8_t>(b), v});
        }
    uint64_t in_flight = 0;
    {
      nt_stages_key key{}, next{};
      bool first = true;
      while (bpf_map_get_next_key(sessions_fd_, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        ++in_flight;
      }
    }
    std::vector<std::pair<nt_stages_flow_key, nt_stages_flow_hist>> flows;
    if (flows_ > 0) {
      nt_stages_flow_key key{}, next{};
      bool first = true;
      while (bpf_map_get_next_key(flows_fd_, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        nt_stages_flow_hist hist{};
        if (bpf_map_lookup_elem(flows_fd_, &key, &hist) == 0) flows.push_back({key, hist});
      }
    }
    unsigned flow_buckets = 0;
    for (const auto& [key, hist] : flows)
      for (uint64_t v : hist.buckets) flow_buckets += v != 0;
    capnp::MallocMessageBuilder message;
    auto summary = message.initRoot<Chunk>().initBatch().initStages().initSummary();
    summary.setFlowHistFull(bss_->stages_counters[NT_STAGES_FLOW_FULL]);
    auto flow_list = summary.initFlows(flow_buckets);
    unsigned at = 0;
    for (const auto& [key, hist] : flows)
      for (uint8_t b = 0; b < NT_STAGES_BUCKETS; ++b) {
        if (hist.buckets[b] == 0) continue;
        auto out = flow_list[at++];
        out.setSrcHi(bigEndian64(key.saddr));
        out.setSrcLo(bigEndian64(key.saddr + 8));
        out.setDstHi(bigEndian64(key.daddr));
        out.setDstLo(bigEndian64(key.daddr + 8));
        out.setL4Proto(key.l4_proto);
        out.setSrcPort(key.sport);
        out.setDstPort(key.dport);
        out.setFromStage(key.from_stage == NT_STAGE_MAX ? kEndToEnd : key.from_stage);
        out.setToStage(key.to_stage == NT_STAGE_MAX ? kEndToEnd : key.to_stage);
        out.setLog2Ns(b);
        out.setCount(hist.buckets[b]);
      }
    summary.setTimeNs(now);
    summary.setIntervalIndex(interval_index_++);
    summary.setStarted(bss_->stages_counters[NT_STAGES_STARTED]);
    summary.setCompleted(bss_->stages_counters[NT_STAGES_COMPLETED]);
    summary.setInFlight(in_flight);
    auto list = summary.initBuckets(static_cast<unsigned>(buckets.size()));
    for (unsigned i = 0; i < buckets.size(); ++i) {
      list[i].setFromStage(buckets[i].from);
      list[i].setToStage(buckets[i].to);
      list[i].setLog2Ns(buckets[i].log2);
      list[i].setCount(buckets[i].count);
    }
    return sink.writeBatch(message);
  }

  bool rx_ = false;
  std::vector<std::string> phy_names_;
  std::string vm_name_;
  uint8_t l4_proto_ = 0;
  bool has_src_ip_ = false, has_dst_ip_ = false;
  uint8_t src_ip_[16] = {}, dst_ip_[16] = {};
  uint16_t src_port_ = 0, dst_port_ = 0;
  uint64_t latency_ns_ = 0, interval_ns_ = 1'000'000'000ull;
  uint32_t sessions_ = 65536, ring_bytes_ = 16u << 20, flows_ = 8192;
  bool stage_stacks_ = false;
  std::vector<uint32_t> path_;
  uint32_t enabled_mask_ = 0, start_stage_ = 0, end_stage_ = 0, phy_stage_mask_ = 0, vm_stage_mask_ = 0;
  Status plan_status_;
  stages_bpf* skel_ = nullptr;
  std::unique_ptr<stages_bpf::stages_bpf__bss> bss_;
  RecordingSink* sink_ = nullptr;
  int sessions_fd_ = -1, devices_fd_ = -1, flows_fd_ = -1;
  StackInterner stacks_;
  Columns columns_;
  uint64_t events_ = 0, malformed_ = 0, in_flight_at_end_ = 0;
  bool collected_in_flight_ = false;
  FlushSchedule schedule_;
  uint32_t interval_index_ = 0;
  Status status_;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<StagesProbe>(); }

}  // namespace nettrail::stages
