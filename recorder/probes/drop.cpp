// Drop family, recorder side: options and filters -> rodata, attach plan for
// skb:kfree_skb, ring records -> columnar DropEvents, summary map snapshots.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#include <cstring>
#include <optional>
#include <unordered_map>

#include "drop.skel.h"
#include "nettrail/drop_event.h"
#include "probe.h"
#include "probe_support.h"

namespace nettrail::drop {
namespace {

// Drops per details batch. A batch's columns (kEventBytes = 114 bytes a drop,
// 1.9 MB) are still in the cache when zstd reads them back; with 65536 they
// were not, and nettrail_drop_decode_bench measured about 25% more CPU per
// drop for files about 10% smaller.
constexpr size_t kBatchEvents = 16384;

// Functions whose kfree_skb calls are ordinary frees on kernels that predate
// drop reasons (the seed tool's "normal patterns").
const char* const kNormalFreeFunctions[] = {"skb_release_data", "sk_stream_kill_queues", "icmp_rcv",
                                            "tcp_recvmsg", "tcp_recvmsg_locked"};

// Every column of DropEvents: element type, Cap'n Proto field, member below.
#define NT_DROP_COLUMNS(X)                                                                                   \
  X(uint64_t, TimeDelta, time_delta) X(uint16_t, Cpu, cpu) X(uint32_t, Tid, tid) X(uint16_t, Reason, reason)  \
  X(uint64_t, Location, location) X(uint32_t, StackId, stack_id) X(uint32_t, Netns, netns)                     \
  X(uint32_t, Ifindex, ifindex) X(uint32_t, Length, length) X(uint64_t, EthSrc, eth_src)                       \
  X(uint64_t, EthDst, eth_dst) X(uint16_t, EthType, eth_type) X(uint16_t, VlanId, vlan_id)                     \
  X(uint64_t, SrcHi, src_hi) X(uint64_t, SrcLo, src_lo) X(uint64_t, DstHi, dst_hi) X(uint64_t, DstLo, dst_lo)  \
  X(uint8_t, L4Proto, l4_proto) X(uint16_t, SrcPort, src_port) X(uint16_t, DstPort, dst_port)                  \
  X(uint8_t, Ttl, ttl) X(uint16_t, IpId, ip_id) X(uint32_t, TcpSeq, tcp_seq) X(uint8_t, TcpFlags, tcp_flags)   \
  X(uint8_t, IcmpType, icmp_type) X(uint8_t, IcmpCode, icmp_code) X(uint16_t, IcmpId, icmp_id)                 \
  X(uint16_t, IcmpSeq, icmp_seq) X(uint16_t, ArpOp, arp_op) X(uint8_t, L3Kind, l3_kind)

#define NT_COLUMN_BYTES(T, Name, member) +sizeof(T)
constexpr size_t kEventBytes = 0 NT_DROP_COLUMNS(NT_COLUMN_BYTES);
#undef NT_COLUMN_BYTES

// The details batch being filled. Its columns are the lists of one Cap'n Proto
// message, initialised once at kBatchEvents entries and written in place by
// decode(): a full batch (what a storm produces) goes to disk as it is, and
// the next one overwrites the same lists, so a batch costs no allocation, no
// zeroing and no copy. A partial batch (the once-a-second flush) is copied
// into an exactly sized message; the entries past it are overwritten before
// the lists are written again.
struct Columns {
#define NT_MEMBER(T, Name, member) T* member = nullptr;
  NT_DROP_COLUMNS(NT_MEMBER)
#undef NT_MEMBER
  DropEvents::Builder events = nullptr;
  size_t n = 0;
  uint64_t base_time = 0;
  uint64_t last_time = 0;

  void bind(DropEvents::Builder in, unsigned capacity) {
    events = in;
    n = 0;
#define NT_BIND(T, Name, member) member = listData<T>(in.init##Name(capacity));
    NT_DROP_COLUMNS(NT_BIND)
#undef NT_BIND
  }
  void copyTo(DropEvents::Builder out) const {
    out.setBaseTimeNs(base_time);
    const unsigned count = static_cast<unsigned>(n);
#define NT_COPY(T, Name, member) fillList(out.init##Name(count), member, n);
    NT_DROP_COLUMNS(NT_COPY)
#undef NT_COPY
  }
};

class DropProbe : public ProbeFamily {
 public:
  ~DropProbe() override { destroyObject(); }

  void declareOptions(OptionSet& o) override {
    const std::string g = "drop";
    declareRecordingModeOptions(o);
    o.add({"src-ip", 0, "IP", "only drops with this source address (IPv4 or IPv6)", "", g});
    o.add({"dst-ip", 0, "IP", "only drops with this destination address", "", g});
    o.add({"src-port", 0, "PORT", "only TCP/UDP drops with this source port", "", g});
    o.add({"dst-port", 0, "PORT", "only TCP/UDP drops with this destination port", "", g});
    o.add({"l4-protocol", 0, "PROTO", "tcp, udp, icmp, icmpv6 or all", "all", g});
    o.add({"type", 0, "TYPE", "EtherType: arp, rarp, ipv4, ipv6, lldp or all", "all", g});
    o.add({"interface", 'n', "NAME", "only drops whose skb->dev has this name (any netns)", "", g});
    o.add({"vlan-id", 0, "ID", "only drops tagged with this 802.1Q VLAN id (0-4095)", "", g});
    o.add({"netns", 0, "INODE", "only drops in this network namespace (inode from ls -L /proc/PID/ns/net)", "", g});
    o.add({"no-stack-trace", 0, "", "do not capture kernel stacks (cheaper)", "", g});
    o.add({"disable-normal-filter", 0, "", "also record ordinary frees (SKB_CONSUMED and normal-path callers)", "", g});
  }

  Status configure(const ParsedOptions& options, ProbeSetup& setup) override {
    setup_ = &setup;
    NT_ASSIGN_OR_RETURN(RecordingMode recording_mode, parseRecordingMode(options));
    const std::string mode = recording_mode.mode;
    cfg_.details = recording_mode.details;
    cfg_.summary = recording_mode.summary;
    interval_ns_ = recording_mode.interval_ns;
    summary_keys_ = recording_mode.summary_keys;
    ring_bytes_ = recording_mode.ring_bytes;
    cfg_.stacks = !options.flag("no-stack-trace");
    cfg_.normal_filter = !options.flag("disable-normal-filter");
    for (const char* which : {"src-ip", "dst-ip"}) {
      if (!options.given(which)) continue;
      uint8_t* out = std::string(which) == "src-ip" ? cfg_.src_ip : cfg_.dst_ip;
      if (!parseIpAddress(options.get(which), out))
        return Status::error("--", which, ": '", options.get(which), "' is not an IPv4 or IPv6 address");
      (std::string(which) == "src-ip" ? cfg_.has_src_ip : cfg_.has_dst_ip) = true;
    }
    if (options.given("src-port")) {
      NT_ASSIGN_OR_RETURN(uint64_t port, options.getUint("src-port", 65535));
      cfg_.src_port = static_cast<uint16_t>(port);
    }
    if (options.given("dst-port")) {
      NT_ASSIGN_OR_RETURN(uint64_t port, options.getUint("dst-port", 65535));
      cfg_.dst_port = static_cast<uint16_t>(port);
    }
    const std::string l4 = options.get("l4-protocol");
    if (l4 == "tcp") cfg_.l4_proto = 6;
    else if (l4 == "udp") cfg_.l4_proto = 17;
    else if (l4 == "icmp") cfg_.l4_proto = 1;
    else if (l4 == "icmpv6") cfg_.l4_proto = 58;
    else if (l4 != "all") return Status::error("--l4-protocol: expected tcp, udp, icmp, icmpv6 or all, got '", l4, "'");
    const std::string type = options.get("type");
    if (type == "arp") cfg_.eth_type = 0x0806;
    else if (type == "rarp") cfg_.eth_type = 0x8035;
    else if (type == "ipv4") cfg_.eth_type = 0x0800;
    else if (type == "ipv6") cfg_.eth_type = 0x86DD;
    else if (type == "lldp") cfg_.eth_type = 0x88CC;
    else if (type != "all") return Status::error("--type: expected arp, rarp, ipv4, ipv6, lldp or all, got '", type, "'");
    if (options.given("interface")) {
      std::string name = options.get("interface");
      if (name.empty() || name.size() >= NT_IFNAMSIZ)
        return Status::error("--interface: '", name, "' is not a valid interface name (1-15 bytes)");
      cfg_.has_ifname = true;
      std::memset(cfg_.ifname, 0, sizeof(cfg_.ifname));
      std::memcpy(cfg_.ifname, name.data(), name.size());
    }
    if (options.given("vlan-id")) {
      NT_ASSIGN_OR_RETURN(uint64_t vlan, options.getUint("vlan-id", 4095));
      cfg_.vlan_id = static_cast<uint16_t>(vlan);
    }
    if (options.given("netns")) {
      NT_ASSIGN_OR_RETURN(uint64_t netns, options.getUint("netns", UINT32_MAX));
      cfg_.netns = static_cast<uint32_t>(netns);
    }

    // Reason names and SKB_CONSUMED come from this kernel's BTF: values differ
    // between kernels, so never hard-code them.
    if (setup.vmlinux_btf) {
      int id = btf__find_by_name_kind(setup.vmlinux_btf, "skb_drop_reason", BTF_KIND_ENUM);
      if (id > 0) {
        const struct btf_type* t = btf__type_by_id(setup.vmlinux_btf, id);
        const struct btf_enum* e = btf_enum(t);
        for (int i = 0; i < btf_vlen(t); ++i) {
          std::string name = btf__name_by_offset(setup.vmlinux_btf, e[i].name_off);
          setup.enums.push_back({"skb_drop_reason", e[i].val, name});
          if (name == "SKB_CONSUMED") cfg_.consumed_reason = static_cast<uint32_t>(e[i].val);
        }
      } else {
        setup.warnings.push_back("this kernel has no enum skb_drop_reason (before 5.17): reasons will read 0");
      }
    }
    if (setup.kallsyms && cfg_.normal_filter) {
      for (const char* fn : kNormalFreeFunctions) {
        const KernelSymbolEntry* symbol = setup.kallsyms->byName(fn);
        if (!symbol || cfg_.normal_ranges >= NT_DROP_MAX_NORMAL_RANGES) continue;
        cfg_.normal_start[cfg_.normal_ranges] = symbol->address;
        cfg_.normal_end[cfg_.normal_ranges] = symbol->address + symbol->size;
        ++cfg_.normal_ranges;
      }
    }
    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"mode", mode});
    setup.options.push_back({"interval_ms", std::to_string(interval_ns_ / 1'000'000)});
    setup.options.push_back({"stacks", cfg_.stacks ? "on" : "off"});
    setup.options.push_back({"normal_filter", cfg_.normal_filter ? "on" : "off"});
    return Status::ok();
  }

  std::vector<AttachHook> attachPlan() const override {
    return {{"kfree_skb",
             {{"tp_btf", "kfree_skb_btf", "kfree_skb"},
              {"raw_tp", "kfree_skb_raw", "kfree_skb"},
              {"tracepoint", "kfree_skb_tp", "skb:kfree_skb"}}}};
  }

  Result<bpf_object*> openObject() override {
    destroyObject();
    skel_ = drop_bpf__open();
    if (!skel_) return Status::error("open BPF object: ", errnoText(errno));
    auto* ro = skel_->rodata;
    ro->cfg_details = cfg_.details;
    ro->cfg_summary = cfg_.summary;
    ro->cfg_stacks = cfg_.stacks;
    ro->cfg_normal_filter = cfg_.normal_filter;
    ro->cfg_wakeup_bytes = ring_bytes_ / 8;
    ro->cfg_has_src_ip = cfg_.has_src_ip;
    ro->cfg_has_dst_ip = cfg_.has_dst_ip;
    std::memcpy(const_cast<uint8_t*>(ro->cfg_src_ip), cfg_.src_ip, 16);
    std::memcpy(const_cast<uint8_t*>(ro->cfg_dst_ip), cfg_.dst_ip, 16);
    ro->cfg_src_port = cfg_.src_port;
    ro->cfg_dst_port = cfg_.dst_port;
    ro->cfg_l4_proto = cfg_.l4_proto;
    ro->cfg_eth_type = cfg_.eth_type;
    ro->cfg_vlan_id = cfg_.vlan_id;
    ro->cfg_has_ifname = cfg_.has_ifname;
    std::memcpy(const_cast<char*>(ro->cfg_ifname), cfg_.ifname, sizeof(cfg_.ifname));
    ro->cfg_netns = cfg_.netns;
    ro->cfg_consumed_reason = cfg_.consumed_reason;
    ro->cfg_normal_ranges = cfg_.normal_ranges;
    for (uint32_t i = 0; i < NT_DROP_MAX_NORMAL_RANGES; ++i) {
      ro->cfg_normal_start[i] = cfg_.normal_start[i];
      ro->cfg_normal_end[i] = cfg_.normal_end[i];
    }
    bpf_map__set_max_entries(skel_->maps.drop_events, ring_bytes_);
    bpf_map__set_max_entries(skel_->maps.drop_summary, summary_keys_);
    return skel_->obj;
  }

  void destroyObject() override {
    if (skel_) drop_bpf__destroy(skel_);
    skel_ = nullptr;
  }

  Status started(RecordingSink& sink) override {
    sink_ = &sink;
    stacks_.reset(bpf_map__fd(skel_->maps.nt_stacks), &sink);
    devices_fd_ = bpf_map__fd(skel_->maps.drop_devices);
    summary_fd_ = bpf_map__fd(skel_->maps.drop_summary);
    counters_fd_ = bpf_map__fd(skel_->maps.drop_counters);
    cpus_ = libbpf_num_possible_cpus();
    schedule_ = FlushSchedule();
    schedule_.setSnapshotInterval(interval_ns_);
    if (cfg_.details && !batch_) {
      // Room for the lists plus the few structs around them, in one segment.
      batch_.emplace(kBatchEvents * kEventBytes / sizeof(capnp::word) + 256);
      columns_.bind(batch_->initRoot<Chunk>().initBatch().initDrop().initEvents(), kBatchEvents);
    }
    return Status::ok();
  }

  std::vector<RingSpec> rings() override {
    if (!cfg_.details) return {};
    return {{bpf_map__fd(skel_->maps.drop_events), &DropProbe::onRecord, this}};
  }

  Status tick(RecordingSink& sink, uint64_t now, bool final) override {
    schedule_.begin(now);
    if (!status_.isOk()) return status_;
    if (columns_.n > 0 && schedule_.flushDue(now, final)) {
      NT_RETURN_IF_ERROR(flushEvents());
    }
    if (cfg_.summary && schedule_.snapshotDue(now, final)) {
      NT_RETURN_IF_ERROR(snapshotSummary(sink, now));
    }
    return Status::ok();
  }

  std::vector<CounterValue> counters() override {
    static const CounterName kNames[NT_DROP_COUNTER_MAX] = {
        {"kfree_skb_seen", false},   {"normal_free_skipped", false}, {"filtered_out", false},
        {"ring_reserve_failed", true}, {"stack_missing", false},     {"summary_map_full", true},
        {"summary_counted", false},
    };
    std::vector<CounterValue> out;
    readPerCpuCounters(counters_fd_, cpus_, kNames, NT_DROP_COUNTER_MAX, &out);
    out.push_back({"details_recorded", -1, events_, false});
    out.push_back({"details_truncated_records", -1, malformed_, true});
    return out;
  }

  uint64_t eventsRecorded() const override { return events_; }

 private:
  static int onRecord(void* ctx, void* data, size_t size) {
    static_cast<DropProbe*>(ctx)->decode(data, size);
    return 0;
  }

  void decode(const void* data, size_t size) {
    if (size < sizeof(nt_drop_event)) {
      ++malformed_;
      return;
    }
    const auto* e = static_cast<const nt_drop_event*>(data);
    Columns& c = columns_;
    const size_t i = c.n;
    if (i == 0) c.base_time = c.last_time = e->ts_ns;
    // Ring order is reservation order, so times can step back a little across
    // CPUs: deltas are modulo 2^64 and the reader's wrapping sum is exact.
    c.time_delta[i] = e->ts_ns - c.last_time;
    c.last_time = e->ts_ns;
    c.cpu[i] = e->cpu;
    c.tid[i] = e->tid;
    c.reason[i] = e->reason;
    c.location[i] = e->location;
    c.stack_id[i] = stacks_.kernelStack(e->stack_id);
    c.netns[i] = e->netns;
    c.ifindex[i] = e->ifindex;
    c.length[i] = e->len;
    const nt_packet& p = e->pkt;
    c.eth_src[i] = macToU64(p.eth_src);
    c.eth_dst[i] = macToU64(p.eth_dst);
    c.eth_type[i] = p.eth_type;
    c.vlan_id[i] = p.vlan_id;
    c.src_hi[i] = bigEndian64(p.saddr);
    c.src_lo[i] = bigEndian64(p.saddr + 8);
    c.dst_hi[i] = bigEndian64(p.daddr);
    c.dst_lo[i] = bigEndian64(p.daddr + 8);
    c.l4_proto[i] = p.l4_proto;
    c.src_port[i] = p.sport;
    c.dst_port[i] = p.dport;
    c.ttl[i] = p.ttl;
    c.ip_id[i] = p.ip_id;
    c.tcp_seq[i] = p.tcp_seq;
    c.tcp_flags[i] = p.tcp_flags;
    c.icmp_type[i] = p.icmp_type;
    c.icmp_code[i] = p.icmp_code;
    c.icmp_id[i] = p.icmp_id;
    c.icmp_seq[i] = p.icmp_seq;
    c.arp_op[i] = p.arp_op;
    c.l3_kind[i] = p.l3_kind;
    c.n = i + 1;
    sink_->noteProcess(e->tid, e->pid, e->comm, sizeof(e->comm));
    noteDevice(e->netns, e->ifindex);
    if (e->location != last_location_) {
      last_location_ = e->location;
      sink_->noteKernelAddress(e->location);
    }
    ++events_;
    if (c.n == kBatchEvents) {  // flush even after an error: the lists have no more room
      Status status = flushEvents();
      if (status_.isOk()) status_ = status;
    }
  }

  void noteDevice(uint32_t netns, uint32_t ifindex) {
    const uint64_t cache_key = (static_cast<uint64_t>(netns) << 32) | ifindex;
    if (cache_key == last_device_) return;  // bursts hit one device
    if (ifindex == 0 || sink_->knowsInterface(netns, ifindex)) {
      last_device_ = cache_key;
      return;
    }
    nt_device_key key = {netns, ifindex};
    nt_device_name name = {};
    if (bpf_map_lookup_elem(devices_fd_, &key, &name) != 0) return;
    sink_->noteInterface(netns, ifindex, std::string(name.name, strnlen(name.name, sizeof(name.name))));
  }

  Status flushEvents() {
    Columns& c = columns_;
    if (c.n == 0) return Status::ok();
    Status status;
    if (c.n == kBatchEvents) {
      c.events.setBaseTimeNs(c.base_time);
      status = sink_->writeBatch(*batch_);
    } else {
      capnp::MallocMessageBuilder message(static_cast<unsigned>(c.n * ((kEventBytes + 7) / 8 + 1) + 1024));
      c.copyTo(message.initRoot<Chunk>().initBatch().initDrop().initEvents());
      status = sink_->writeBatch(message);
    }
    c.n = 0;
    return status;
  }

  Status snapshotSummary(RecordingSink& sink, uint64_t now) {
    struct Entry {
      nt_drop_key key;
      uint64_t count;
    };
    std::vector<Entry> entries;
    std::vector<uint64_t> values(static_cast<size_t>(cpus_));
    nt_drop_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(summary_fd_, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      if (bpf_map_lookup_elem(summary_fd_, &key, values.data()) != 0) continue;
      uint64_t total = 0;
      for (uint64_t v : values) total += v;
      entries.push_back({key, total});
    }
    const uint64_t counted = perCpuCounterTotal(counters_fd_, cpus_, NT_DROP_SUMMARY_TOTAL);
    capnp::MallocMessageBuilder message;
    auto summary = message.initRoot<Chunk>().initBatch().initDrop().initSummary();
    summary.setTimeNs(now);
    summary.setIntervalIndex(interval_index_++);
    summary.setTotalDrops(counted);
    auto list = summary.initEntries(static_cast<unsigned>(entries.size()));
    for (unsigned i = 0; i < entries.size(); ++i) {
      const nt_drop_key& k = entries[i].key;
      auto out = list[i];
      out.setStackId(stacks_.kernelStack(k.stack_id));
      out.setReason(k.reason);
      out.setNetns(k.netns);
      out.setIfindex(k.ifindex);
      out.setL3Kind(k.l3_kind);
      out.setL4Proto(k.l4_proto);
      out.setSrcHi(bigEndian64(k.saddr));
      out.setSrcLo(bigEndian64(k.saddr + 8));
      out.setDstHi(bigEndian64(k.daddr));
      out.setDstLo(bigEndian64(k.daddr + 8));
      out.setSrcPort(k.sport);
      out.setDstPort(k.dport);
      out.setLocation(k.location);
      out.setCount(entries[i].count);
      noteDevice(k.netns, k.ifindex);
      sink.noteKernelAddress(k.location);
    }
    return sink.writeBatch(message);
  }

  struct Config {
    bool details = true, summary = true, stacks = true, normal_filter = true;
    bool has_src_ip = false, has_dst_ip = false, has_ifname = false;
    uint8_t src_ip[16] = {}, dst_ip[16] = {};
    uint16_t src_port = 0, dst_port = 0, eth_type = 0, vlan_id = NT_VLAN_NONE;
    uint8_t l4_proto = 0;
    char ifname[NT_IFNAMSIZ] = {};
    uint32_t netns = 0, consumed_reason = 0xffffffff, normal_ranges = 0;
    uint64_t normal_start[NT_DROP_MAX_NORMAL_RANGES] = {}, normal_end[NT_DROP_MAX_NORMAL_RANGES] = {};
  } cfg_;
  ProbeSetup* setup_ = nullptr;
  uint64_t interval_ns_ = 1'000'000'000ull;
  uint32_t summary_keys_ = 16384;
  uint32_t ring_bytes_ = 16u << 20;
  drop_bpf* skel_ = nullptr;
  RecordingSink* sink_ = nullptr;
  StackInterner stacks_;
  int devices_fd_ = -1, summary_fd_ = -1, counters_fd_ = -1, cpus_ = 0;
  std::optional<FramedMessageBuilder> batch_;  // holds columns_' lists
  Columns columns_;
  uint64_t events_ = 0, malformed_ = 0, last_location_ = 0, last_device_ = ~0ull;
  FlushSchedule schedule_;
  uint32_t interval_index_ = 0;
  Status status_;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<DropProbe>(); }

}  // namespace nettrail::drop
