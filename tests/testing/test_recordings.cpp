#include "testing/test_recordings.h"

#include <capnp/message.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "nettrail/counters.h"
#include "nettrail/recording.h"

namespace nettrail::testing {
namespace {

void writeOrThrow(RecordingWriter& writer, capnp::MallocMessageBuilder& message) {
  Status status = writer.write(message);
  if (!status.isOk()) throw std::runtime_error(status.message());
}

}  // namespace

std::string tempPath(const std::string& stem) {
  static std::atomic<int> counter{0};
  const char* dir = std::getenv("TMPDIR");
  std::string base = dir && *dir ? dir : "/tmp";
  return base + "/nettrail-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" + stem;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void writeSyntheticRecording(const std::string& path, const SyntheticRecording& recording) {
  auto created = RecordingWriter::create(path);
  if (!created.isOk()) throw std::runtime_error(created.status().message());
  RecordingWriter& writer = **created;
  {
    capnp::MallocMessageBuilder message;
    Header::Builder header = message.initRoot<Chunk>().initHeader();
    header.setFormatVersion(kFormatVersion);
    header.setRecorderVersion("test");
    header.setHostName("synthetic-test");
    header.setKernelRelease("0.0.0-synthetic");
    header.setMachine("x86_64");
    header.setBootId("00000000-0000-0000-0000-000000000000");
    header.setCpuCount(2);
    auto argv = header.initCommandLine(2);
    argv.set(0, "nettrail-record");
    argv.set(1, "--synthetic");
    header.setStartBoottimeNs(recording.start_boottime_ns);
    header.setStartRealtimeNs(recording.start_realtime_ns);
    header.setRecordingId(recording.recording_id);
    header.setSegment(recording.segment);
    auto probes = header.initProbes(1);
    probes[0].setFamily("drop");
    auto options = probes[0].initOptions(1);
    options[0].setKey("mode");
    options[0].setValue("details");
    auto attach = probes[0].initAttachments(1);
    attach[0].setHook("kfree_skb");
    attach[0].setStrategy("tp_btf");
    attach[0].setTarget("kfree_skb");
    attach[0].setAttached(true);
    auto enums = probes[0].initEnums(3);
    const std::pair<int, const char*> reasons[] = {
        {2, "SKB_DROP_REASON_NOT_SPECIFIED"}, {3, "SKB_DROP_REASON_NO_SOCKET"}, {6, "SKB_DROP_REASON_NETFILTER_DROP"}};
    for (unsigned i = 0; i < 3; ++i) {
      enums[i].setEnumName("skb_drop_reason");
      enums[i].setValue(reasons[i].first);
      enums[i].setName(reasons[i].second);
    }
    writeOrThrow(writer, message);
  }
  {
    capnp::MallocMessageBuilder message;
    auto anchor = message.initRoot<Chunk>().initClockAnchor();
    anchor.setBoottimeNs(recording.start_boottime_ns);
    anchor.setRealtimeNs(recording.start_realtime_ns);
    anchor.setMonotonicNs(recording.start_boottime_ns);
    writeOrThrow(writer, message);
  }
  {
    capnp::MallocMessageBuilder message;
    auto interfaces = message.initRoot<Chunk>().initInterfaces(1);
    interfaces[0].setNetns(4026531840u);
    interfaces[0].setIfindex(2);
    interfaces[0].setName(recording.ifname);
    writeOrThrow(writer, message);
  }
  {
    capnp::MallocMessageBuilder message;
    auto processes = message.initRoot<Chunk>().initProcesses(1);
    processes[0].setTid(100);
    processes[0].setPid(100);
    processes[0].setComm(recording.comm);
    writeOrThrow(writer, message);
  }
  {
    capnp::MallocMessageBuilder message;
    auto symbols = message.initRoot<Chunk>().initKernelSymbols(4);
    const char* names[] = {"kfree_skb_reason", "tcp_v4_rcv", "ip_local_deliver", "bpf_trace_run2"};
    for (unsigned i = 0; i < 4; ++i) {
      symbols[i].setAddress(0xffffffff81000000ull + i * 0x1000);
      symbols[i].setSize(0x1000);
      symbols[i].setName(names[i]);
    }
    writeOrThrow(writer, message);
  }
  {
    capnp::MallocMessageBuilder message;
    auto stacks = message.initRoot<Chunk>().initStacks(2);
    stacks[0].setId(1);
    stacks[0].setKernel(true);
    auto frames = stacks[0].initFrames(3);
    frames.set(0, 0xffffffff81000010ull);
    frames.set(1, 0xffffffff81001234ull);
    frames.set(2, 0xffffffff81002050ull);
    stacks[1].setId(2);
    stacks[1].setKernel(true);
    auto frames2 = stacks[1].initFrames(3);
    frames2.set(0, 0xffffffff81003020ull);
    frames2.set(1, 0xffffffff81000010ull);
    frames2.set(2, 0xffffffff90000000ull);
    writeOrThrow(writer, message);
  }
  for (size_t start = 0; start < recording.drops.size(); start += recording.drops_per_batch) {
    const size_t n = std::min(recording.drops_per_batch, recording.drops.size() - start);
    capnp::MallocMessageBuilder message;
    auto events = message.initRoot<Chunk>().initBatch().initDrop().initEvents();
    const uint64_t base = recording.drops[start].time_ns;
    events.setBaseTimeNs(base);
    auto delta = events.initTimeDelta(n);
    auto cpu = events.initCpu(n);
    auto tid = events.initTid(n);
    auto reason = events.initReason(n);
    auto location = events.initLocation(n);
    auto stack = events.initStackId(n);
    auto netns = events.initNetns(n);
    auto ifindex = events.initIfindex(n);
    auto length = events.initLength(n);
    auto eth_src = events.initEthSrc(n);
    auto eth_dst = events.initEthDst(n);
    auto eth_type = events.initEthType(n);
    auto vlan = events.initVlanId(n);
    auto src_hi = events.initSrcHi(n);
    auto src_lo = events.initSrcLo(n);
    auto dst_hi = events.initDstHi(n);
    auto dst_lo = events.initDstLo(n);
    auto l4 = events.initL4Proto(n);
    auto sport = events.initSrcPort(n);
    auto dport = events.initDstPort(n);
    auto ttl = events.initTtl(n);
    auto ip_id = events.initIpId(n);
    auto seq = events.initTcpSeq(n);
    auto flags = events.initTcpFlags(n);
    auto icmp_type = events.initIcmpType(n);
    auto icmp_code = events.initIcmpCode(n);
    auto icmp_id = events.initIcmpId(n);
    auto icmp_seq = events.initIcmpSeq(n);
    auto arp = events.initArpOp(n);
    auto l3 = events.initL3Kind(n);
    uint64_t previous = base;
    for (size_t i = 0; i < n; ++i) {
      const SyntheticDrop& d = recording.drops[start + i];
      delta.set(i, d.time_ns - previous);
      previous = d.time_ns;
      cpu.set(i, 0);
      tid.set(i, d.tid);
      reason.set(i, d.reason);
      location.set(i, d.location);
      stack.set(i, d.stack_id);
      netns.set(i, d.netns);
      ifindex.set(i, d.ifindex);
      length.set(i, 60);
      eth_src.set(i, d.eth_src);
      eth_dst.set(i, d.eth_dst);
      eth_type.set(i, d.l3_kind == 6 ? 0x86dd : d.l3_kind == 1 ? 0x0806 : d.l3_kind == 4 ? 0x0800 : 0);
      vlan.set(i, d.vlan_id);
      if (d.l3_kind == 6) {
        src_hi.set(i, d.src_hi);
        src_lo.set(i, d.src_lo);
        dst_hi.set(i, d.dst_hi);
        dst_lo.set(i, d.dst_lo);
      } else {
        src_hi.set(i, 0);
        src_lo.set(i, 0x0000ffff00000000ull | d.src_v4);
        dst_hi.set(i, 0);
        dst_lo.set(i, 0x0000ffff00000000ull | d.dst_v4);
      }
      l4.set(i, d.l4_proto);
      sport.set(i, d.src_port);
      dport.set(i, d.dst_port);
      ttl.set(i, 64);
      ip_id.set(i, static_cast<uint16_t>(i));
      seq.set(i, d.tcp_seq + static_cast<uint32_t>(i));
      flags.set(i, d.tcp_flags);
      icmp_type.set(i, 0);
      icmp_code.set(i, 0);
      icmp_id.set(i, 0);
      icmp_seq.set(i, 0);
      arp.set(i, d.l3_kind == 1 ? 1 : 0);
      l3.set(i, d.l3_kind);
    }
    writeOrThrow(writer, message);
  }
  for (const SyntheticSummary& snapshot : recording.summaries) {
    capnp::MallocMessageBuilder message;
    auto summary = message.initRoot<Chunk>().initBatch().initDrop().initSummary();
    summary.setTimeNs(snapshot.time_ns);
    summary.setIntervalIndex(snapshot.interval_index);
    summary.setTotalDrops(snapshot.total_drops);
    auto entries = summary.initEntries(static_cast<unsigned>(snapshot.entries.size()));
    for (unsigned i = 0; i < snapshot.entries.size(); ++i) {
      const SyntheticSummaryEntry& e = snapshot.entries[i];
      entries[i].setStackId(e.stack_id);
      entries[i].setReason(e.reason);
      entries[i].setNetns(4026531840u);
      entries[i].setIfindex(e.ifindex);
      entries[i].setL3Kind(4);
      entries[i].setL4Proto(e.l4_proto);
      entries[i].setSrcLo(0x0000ffff00000000ull | e.src_v4);
      entries[i].setDstLo(0x0000ffff00000000ull | e.dst_v4);
      entries[i].setSrcPort(e.src_port);
      entries[i].setDstPort(e.dst_port);
      entries[i].setLocation(0xffffffff81000100ull);
      entries[i].setCount(e.count);
    }
    writeOrThrow(writer, message);
  }
  {
    capnp::MallocMessageBuilder message;
    auto stats = message.initRoot<Chunk>().initStats();
    std::vector<CounterRow> rows;
    bool has_ring_counter = false;
    for (const SyntheticRecording::Counter& c : recording.counters) {
      appendPerCpuCounter("drop", c.name, c.data_loss, c.per_cpu.data(), static_cast<int>(c.per_cpu.size()), &rows);
      has_ring_counter = has_ring_counter || c.name == "ring_reserve_failed";
    }
    if (!has_ring_counter) {
      const uint64_t none[2] = {0, 0};
      appendPerCpuCounter("drop", "ring_reserve_failed", true, none, 2, &rows);
    }
    fillStats(stats, recording.start_boottime_ns, rows);
    writeOrThrow(writer, message);
  }
  if (recording.trailer) {
    capnp::MallocMessageBuilder message;
    auto trailer = message.initRoot<Chunk>().initTrailer();
    trailer.setReason("synthetic");
    trailer.setDataChunks(writer.chunksWritten());
    writeOrThrow(writer, message);
  }
  Status status = writer.close();
  if (!status.isOk()) throw std::runtime_error(status.message());
}

}  // namespace nettrail::testing
