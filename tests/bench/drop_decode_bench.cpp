// Recorder user-space cost per drop, without the kernel: feeds ring records
// shaped like the drop storm's (one EtherType, two sender threads on two CPUs,
// no stacks) straight into the drop family's ring callback, with a real
// RecordingSink writing a real file, and times the thread's CPU. What the
// storm bench's "recorder CPU per event" also contains, and this does not:
// libbpf's ring consumption, the epoll wake-ups, and the machine's other load.
// That makes it the figure to compare two builds with on a busy machine.
// Figures only; no pass/fail. No root needed (the BPF object is opened, not
// loaded).
//
//   nettrail_drop_decode_bench [--events N] [--rounds N] [--zstd-level N] [--keep FILE.ntr]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nettrail/drop_event.h"
#include "testing/offline_probe.h"

namespace {

double threadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

nt_drop_event stormRecord(uint64_t i) {
  nt_drop_event e;
  std::memset(&e, 0, sizeof(e));
  e.location = 0xffffffff81a2b3c4ull;
  e.pid = e.tid = 4242 + static_cast<uint32_t>(i & 1);  // two senders
  e.cpu = static_cast<uint16_t>(i & 1);
  e.stack_id = -1;
  e.netns = 4026532000u;
  e.ifindex = 3;
  e.len = 46;
  e.reason = 12;
  std::memcpy(e.comm, "nettrail_drop_b", 15);
  const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01}, dst[6] = {0x02, 0, 0, 0, 0, 0x02};
  std::memcpy(e.pkt.eth_src, src, 6);
  std::memcpy(e.pkt.eth_dst, dst, 6);
  e.pkt.eth_type = 0x88b5;
  e.pkt.vlan_id = NT_VLAN_NONE;
  e.pkt.l3_kind = 2;
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t events = 2'000'000;
  int rounds = 5;
  int zstd_level = 1;  // nettrail-record's default
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) events = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--zstd-level" && i + 1 < argc) zstd_level = std::max(1, std::atoi(argv[++i]));
    else if (a == "--keep" && i + 1 < argc) keep = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--events N] [--rounds N] [--zstd-level N] [--keep FILE.ntr]\n", argv[0]);
      return 2;
    }
  }
  using namespace nettrail;
  const std::string path = keep.empty() ? "/tmp/nettrail-decode-bench-" + std::to_string(getpid()) + ".ntr" : keep;
  auto offline = testing::startOfflineProbe("drop", {"--mode", "details", "--no-stack-trace"}, path, zstd_level);
  if (!offline.isOk()) {
    std::fprintf(stderr, "nettrail_drop_decode_bench: %s\n", offline.status().message().c_str());
    return 1;
  }
  ProbeFamily& probe = *(*offline)->probe;
  RecordingSink& sink = *(*offline)->sink;
  sink.noteInterface(4026532000u, 3, "ntstorm1");  // as the first real drop would have looked it up

  // Records are built beforehand so only the recorder's work is timed.
  std::vector<nt_drop_event> records(65536);
  for (size_t i = 0; i < records.size(); ++i) records[i] = stormRecord(i);

  std::printf("drop decode: %llu storm-shaped records per round, %d rounds, details mode, no stacks, zstd level %d\n",
              static_cast<unsigned long long>(events), rounds, zstd_level);
  std::vector<double> per_event;
  uint64_t fed = 0, time_base = 0;
  for (int round = 0; round < rounds; ++round) {
    const double t0 = threadCpuSeconds();
    for (uint64_t i = 0; i < events; ++i) {
      nt_drop_event& e = records[i % records.size()];
      e.ts_ns = 1'000'000'000ull + (time_base + i) * 1900 + ((time_base + i) * 7919) % 400;  // ~500 k/s, jittered
      (*offline)->feed(&e, sizeof(e));
    }
    time_base += events;
    Status status = probe.tick(sink, 1'000'000'000ull + time_base * 1900, /*final=*/true);
    const double t1 = threadCpuSeconds();
    if (!status.isOk()) {
      std::fprintf(stderr, "nettrail_drop_decode_bench: %s\n", status.message().c_str());
      return 1;
    }
    fed += events;
    per_event.push_back((t1 - t0) * 1e9 / static_cast<double>(events));
    std::printf("  round %d: %.1f ns/event\n", round + 1, per_event.back());
  }
  Status status = sink.close("end of benchmark");
  if (!status.isOk()) {
    std::fprintf(stderr, "nettrail_drop_decode_bench: %s\n", status.message().c_str());
    return 1;
  }
  std::sort(per_event.begin(), per_event.end());
  std::printf("  recorder user-space CPU: min %.1f, median %.1f ns/event; %llu events recorded of %llu fed\n",
              per_event.front(), per_event[per_event.size() / 2],
              static_cast<unsigned long long>(probe.eventsRecorded()), static_cast<unsigned long long>(fed));
  std::printf("  disk: %llu bytes, %.2f bytes/event\n", static_cast<unsigned long long>(sink.bytesWritten()),
              static_cast<double>(sink.bytesWritten()) / static_cast<double>(fed));
  if (keep.empty()) unlink(path.c_str());
  return 0;
}
