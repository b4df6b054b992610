// CPU family, recorder side: per-thread CPU time of one process, read from
// /proc/PID/task/TID/stat (utime, stime) and .../schedstat (ns on CPU) every
// --cpu-interval. Not BPF, on purpose: the kernel already keeps exact
// per-thread totals, so one read per thread and interval costs a few
// microseconds and nothing per context switch, whereas summing sched_switch
// run times in BPF would add work to every switch on the host to rebuild the
// same numbers. The attach plan is empty; the session then loads no object.
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "probe.h"
#include "probe_support.h"
#include "snapshot/host.h"

namespace nettrail::cpu {
namespace {

class CpuProbe : public ProbeFamily {
 public:
  void declareOptions(OptionSet& o) override {
    // Same spec as the offcpu and futex families: one -p for all of them.
    declareProcessOptions(o);
    o.add({"cpu-interval", 0, "SECONDS", "cpu: per-thread CPU sampling period", "1s", "cpu"});
  }

  Status configure(const ParsedOptions& options, ProbeSetup& setup) override {
    if (!options.given("pid")) return Status::error("needs -p/--pid: the process whose threads to sample");
    NT_ASSIGN_OR_RETURN(uint64_t pid, options.getUint("pid", 1, INT32_MAX));
    pid_ = static_cast<uint32_t>(pid);
    NT_ASSIGN_OR_RETURN(double interval, options.getSeconds("cpu-interval", 0.05, 86400));
    interval_ns_ = static_cast<uint64_t>(interval * 1e9);
    if (access(("/proc/" + std::to_string(pid_) + "/task").c_str(), R_OK) != 0)
      return Status::error("--pid ", pid_, ": no such process (/proc/", pid_, "/task: ", errnoText(errno), ")");
    tick_ns_ = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"cpu_interval_ms", std::to_string(interval_ns_ / 1'000'000)});
    setup.options.push_back({"clock_tick_ns", std::to_string(static_cast<uint64_t>(tick_ns_))});
    return Status::ok();
  }

  std::vector<AttachHook> attachPlan() const override { return {}; }
  Result<bpf_object*> openObject() override { return Status::error("cpu: samples /proc, has no BPF object"); }
  void destroyObject() override {}

  Status started(RecordingSink& sink) override {
    last_sample_ns_ = 0;
    return Status::ok();
  }
  std::vector<RingSpec> rings() override { return {}; }

  Status tick(RecordingSink& sink, uint64_t now, bool final) override {
    if (!final && last_sample_ns_ != 0 && now - last_sample_ns_ < interval_ns_) return Status::ok();
    if (process_gone_) return Status::ok();
    last_sample_ns_ = now;
    return sample(sink);
  }

  std::vector<CounterValue> counters() override {
    return {{"samples", -1, samples_, false},
            {"thread_reads_failed", -1, failed_reads_, false},
            {"process_exited", -1, process_gone_ ? 1u : 0u, false}};
  }
  uint64_t eventsRecorded() const override { return rows_; }

 private:
  Status sample(RecordingSink& sink) {
    const std::string task_dir = "/proc/" + std::to_string(pid_) + "/task";
    DIR* dir = opendir(task_dir.c_str());
    if (!dir) {
      process_gone_ = true;  // exited: the recording ends its series here
      return Status::ok();
    }
    const uint64_t time = boottimeNs();
    std::vector<uint32_t> tids;
    std::vector<uint64_t> user, system, run;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      const uint32_t tid = static_cast<uint32_t>(std::strtoul(entry->d_name, nullptr, 10));
      uint64_t utime = 0, stime = 0, run_ns = 0;
      char comm[64] = {};
      if (!readStat(task_dir + "/" + entry->d_name, comm, &utime, &stime)) {
        ++failed_reads_;  // the thread exited between readdir and read
        continue;
      }
      readSchedstat(task_dir + "/" + entry->d_name, &run_ns);
      sink.noteProcess(tid, pid_, comm, std::strlen(comm));
      tids.push_back(tid);
      user.push_back(static_cast<uint64_t>(static_cast<double>(utime) * tick_ns_));
      system.push_back(static_cast<uint64_t>(static_cast<double>(stime) * tick_ns_));
      run.push_back(run_ns);
    }
    closedir(dir);
    capnp::MallocMessageBuilder message;
    auto samples = message.initRoot<Chunk>().initBatch().initCpu().initSamples();
    samples.setTimeNs(time);
    samples.setPid(pid_);
    const unsigned n = static_cast<unsigned>(tids.size());
    auto tid_list = samples.initTid(n);
    auto user_list = samples.initUserNs(n);
    auto system_list = samples.initSystemNs(n);
    auto run_list = samples.initRunNs(n);
    for (unsigned i = 0; i < n; ++i) {
      tid_list.set(i, tids[i]);
      user_list.set(i, user[i]);
      system_list.set(i, system[i]);
      run_list.set(i, run[i]);
    }
    ++samples_;
    rows_ += n;
    return sink.writeBatch(message);
  }

  // utime and stime (fields 14 and 15) and comm from .../stat. comm may hold
  // spaces and parentheses, so fields are counted from its last ')'.
  static bool readStat(const std::string& dir, char* comm, uint64_t* utime, uint64_t* stime) {
    FILE* f = std::fopen((dir + "/stat").c_str(), "re");
    if (!f) return false;
    char buf[1024];
    size_t len = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[len] = 0;
    char* open = std::strchr(buf, '(');
    char* close = std::strrchr(buf, ')');
    if (!open || !close || close < open) return false;
    const size_t comm_len = std::min<size_t>(static_cast<size_t>(close - open - 1), 15);
    std::memcpy(comm, open + 1, comm_len);
    comm[comm_len] = 0;
    // After ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
    unsigned long long u = 0, s = 0;
    if (std::sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &s) != 2) return false;
    *utime = u;
    *stime = s;
    return true;
  }

  static void readSchedstat(const std::string& dir, uint64_t* run_ns) {
    FILE* f = std::fopen((dir + "/schedstat").c_str(), "re");
    if (!f) return;
    unsigned long long value = 0;
    if (std::fscanf(f, "%llu", &value) == 1) *run_ns = value;
    std::fclose(f);
  }

  uint32_t pid_ = 0;
  uint64_t interval_ns_ = 1'000'000'000ull;
  double tick_ns_ = 1e7;
  uint64_t last_sample_ns_ = 0, samples_ = 0, rows_ = 0, failed_reads_ = 0;
  bool process_gone_ = false;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<CpuProbe>(); }

}  // namespace nettrail::cpu
