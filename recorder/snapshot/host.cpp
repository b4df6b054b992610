#include "snapshot/host.h"

#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <fstream>

namespace nettrail {
namespace {

uint64_t clockNs(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string firstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

}  // namespace

HostFacts readHostFacts() {
  HostFacts facts;
  struct utsname u;
  if (uname(&u) == 0) {
    facts.host_name = u.nodename;
    facts.kernel_release = u.release;
    facts.kernel_version = u.version;
    facts.machine = u.machine;
  }
  facts.boot_id = firstLine("/proc/sys/kernel/random/boot_id");
  int cpus = libbpf_num_possible_cpus();
  facts.cpu_count = cpus > 0 ? static_cast<uint32_t>(cpus) : 0;
  facts.kernel_facts.push_back({"btf_vmlinux", exists("/sys/kernel/btf/vmlinux") ? "yes" : "no"});
  facts.kernel_facts.push_back({"kprobes", exists("/sys/kernel/tracing/kprobe_events") ||
                                                   exists("/sys/kernel/debug/tracing/kprobe_events")
                                               ? "yes"
                                               : "no"});
  facts.kernel_facts.push_back({"kptr_restrict", firstLine("/proc/sys/kernel/kptr_restrict")});
  facts.kernel_facts.push_back({"online_cpus", std::to_string(sysconf(_SC_NPROCESSORS_ONLN))});
  return facts;
}

ClockSample sampleClocks() {
  ClockSample s;
  uint64_t r1 = clockNs(CLOCK_REALTIME);
  s.boottime_ns = clockNs(CLOCK_BOOTTIME);
  s.monotonic_ns = clockNs(CLOCK_MONOTONIC);
  uint64_t r2 = clockNs(CLOCK_REALTIME);
  s.realtime_ns = r1 + (r2 - r1) / 2;
  return s;
}

uint64_t boottimeNs() { return clockNs(CLOCK_BOOTTIME); }

}  // namespace nettrail
