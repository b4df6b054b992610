// kmsg family, recorder side: the kernel log lines logged while recording
// ("irq 25: nobody cared", "Disabling IRQ #25", Open vSwitch warnings, link
// changes), read from /dev/kmsg, each with its time mapped to the
// recording's CLOCK_BOOTTIME.
//
// Not BPF: printk already keeps every line with its sequence number and
// timestamp in the kernel's ring, /dev/kmsg gives each reader its own
// position in it, and a jump in the sequence numbers says exactly how many
// lines the ring overwrote before we read them. The attach plan is empty.
//
// Time: records carry local_clock() in microseconds (schema/kmsg.capnp).
// LocalClockProbe measures local_clock - CLOCK_BOOTTIME at the start and
// every 10 s; each line is mapped through the latest measurement. Where
// perf_event_open is refused, local_clock is taken as CLOCK_MONOTONIC (on a
// machine with a stable TSC they differ by NTP's slew only, microseconds per
// second of uptime) and the recording says so ("monotonic").
#include "probes/kmsg.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "probe.h"
#include "probe_support.h"
#include "snapshot/host.h"
#include "snapshot/local_clock.h"

namespace nettrail::kmsg {

void KmsgLines::clear() {
  time_ns.clear(); kernel_us.clear(); seq.clear(); level.clear(); facility.clear();
  continuation.clear(); caller.clear(); text.clear(); dict.clear();
}

namespace {

bool parseUint(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next < v) return false;
    v = next;
  }
  *out = v;
  return true;
}

}  // namespace

bool parseKmsgRecord(std::string_view record, KmsgRecord* out) {
  const size_t semicolon = record.find(';');
  if (semicolon == std::string_view::npos) return false;
  std::string_view prefix = record.substr(0, semicolon);
  std::string_view rest = record.substr(semicolon + 1);
  // Prefix fields: PRI, SEQ, TIMESTAMP, FLAGS, then optional KEY=VALUE fields.
  std::string_view fields[4];
  for (int i = 0; i < 4; ++i) {
    const size_t comma = prefix.find(',');
    if (comma == std::string_view::npos && i < 3) return false;
    fields[i] = prefix.substr(0, comma);
    prefix = comma == std::string_view::npos ? std::string_view() : prefix.substr(comma + 1);
  }
  uint64_t pri = 0;
  if (!parseUint(fields[0], &pri) || pri > 0xffff) return false;
  if (!parseUint(fields[1], &out->seq) || !parseUint(fields[2], &out->timestamp_us)) return false;
  if (fields[3].empty()) return false;
  out->level = static_cast<uint8_t>(pri & 7);
  out->facility = static_cast<uint8_t>(std::min<uint64_t>(pri >> 3, 255));
  out->continuation = fields[3][0] == 'c';
  out->caller.clear();
  while (!prefix.empty()) {
    const size_t comma = prefix.find(',');
    std::string_view field = prefix.substr(0, comma);
    if (field.substr(0, 7) == "caller=") out->caller.assign(field.substr(7));
    prefix = comma == std::string_view::npos ? std::string_view() : prefix.substr(comma + 1);
  }
  const size_t newline = rest.find('\n');
  out->text.assign(rest.substr(0, newline));
  out->dict.clear();
  if (newline != std::string_view::npos) {
    std::string_view dict = rest.substr(newline + 1);
    while (!dict.empty()) {
      const size_t end = dict.find('\n');
      std::string_view line = dict.substr(0, end);
      if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
      if (!line.empty()) {
        if (!out->dict.empty()) out->dict.push_back('\n');
        out->dict.append(line);
      }
      if (end == std::string_view::npos) break;
      dict.remove_prefix(end + 1);
    }
  }
  return true;
}

void KmsgAccumulator::add(std::string_view record, int64_t offset_ns) {
  KmsgRecord r;
  if (!parseKmsgRecord(record, &r)) {
    ++malformed_;
    return;
  }
  if (have_seq_ && r.seq > last_seq_ + 1) lost_ += r.seq - last_seq_ - 1;
  if (!have_seq_ || r.seq > last_seq_) last_seq_ = r.seq;
  have_seq_ = true;
  if (r.timestamp_us < limits_.min_timestamp_us) {
    ++before_start_;
    return;
  }
  if (r.level > limits_.max_level) {
    ++filtered_;
    return;
  }
  if (kept_ >= limits_.max_lines) {
    ++over_limit_;
    return;
  }
  ++kept_;
  const int64_t local_ns = static_cast<int64_t>(r.timestamp_us * 1000);
  lines_.time_ns.push_back(static_cast<uint64_t>(std::max<int64_t>(0, local_ns - offset_ns)));
  lines_.kernel_us.push_back(r.timestamp_us);
  lines_.seq.push_back(r.seq);
  lines_.level.push_back(r.level);
  lines_.facility.push_back(r.facility);
  lines_.continuation.push_back(r.continuation);
  lines_.caller.push_back(std::move(r.caller));
  lines_.text.push_back(std::move(r.text));
  lines_.dict.push_back(std::move(r.dict));
}

namespace {

constexpr uint64_t kClockPeriodNs = 10'000'000'000ull;
constexpr size_t kBatchLines = 4096;

class KmsgProbe : public ProbeFamily {
 public:
  ~KmsgProbe() override {
    if (fd_ >= 0) close(fd_);
  }

  void declareOptions(OptionSet& o) override {
    o.add({"kmsg-level", 0, "LEVEL",
           "kmsg: keep kernel log lines up to this syslog level (0 emerg, 3 err, 4 warning, 6 info, 7 debug)", "7",
           "kmsg"});
    o.add({"kmsg-max-lines", 0, "N", "kmsg: at most this many lines per recording; the rest are counted as lost",
           "100000", "kmsg"});
    o.add({"kmsg-backlog", 0, "SECONDS",
           "kmsg: also keep the lines the kernel logged this long before the recording started", "0", "kmsg"});
  }

  Status configure(const ParsedOptions& options, ProbeSetup& setup) override {
    NT_ASSIGN_OR_RETURN(uint64_t level, options.getUint("kmsg-level", 7));
    NT_ASSIGN_OR_RETURN(uint64_t max_lines, options.getUint("kmsg-max-lines", 1, UINT32_MAX));
    NT_ASSIGN_OR_RETURN(double backlog, options.getSeconds("kmsg-backlog"));
    limits_.max_level = static_cast<uint8_t>(level);
    limits_.max_lines = max_lines;
    backlog_ns_ = static_cast<uint64_t>(backlog * 1e9);
    // Opened now, before anything else is loaded: reading the log needs
    // CAP_SYSLOG under kernel.dmesg_restrict, checked at open only.
    fd_ = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0)
      return Status::error("open /dev/kmsg: ", errnoText(errno),
                           errno == EPERM || errno == EACCES
                               ? " (needs root or CAP_SYSLOG when kernel.dmesg_restrict is 1)"
                               : "");
    // Only lines from now on, unless a backlog is asked for; SEEK_SET is the
    // oldest record the ring still holds.
    if (lseek(fd_, 0, backlog_ns_ > 0 ? SEEK_SET : SEEK_END) < 0)
      return Status::error("seek /dev/kmsg: ", errnoText(errno));
    Status perf = clock_.open();
    if (!perf.isOk())
      setup.warnings.push_back("kmsg: cannot measure the kernel log clock (" + perf.message() +
                               "); line times assume it equals CLOCK_MONOTONIC");
    NT_RETURN_IF_ERROR(measureClock());
    const uint64_t local_now = static_cast<uint64_t>(static_cast<int64_t>(boottimeNs()) + offset_ns_);
    limits_.min_timestamp_us = backlog_ns_ > 0 && local_now > backlog_ns_ ? (local_now - backlog_ns_) / 1000 : 0;
    accumulator_ = std::make_unique<KmsgAccumulator>(limits_);
    for (const auto& [key, value] : options.values()) setup.options.push_back({key, value});
    setup.options.push_back({"kmsg_max_level", std::to_string(limits_.max_level)});
    setup.options.push_back({"kmsg_max_lines", std::to_string(limits_.max_lines)});
    setup.options.push_back({"kmsg_backlog_ms", std::to_string(backlog_ns_ / 1'000'000)});
    setup.options.push_back({"kmsg_clock", clock_method_});
    return Status::ok();
  }

  std::vector<AttachHook> attachPlan() const override { return {}; }
  Result<bpf_object*> openObject() override { return Status::error("kmsg: reads /dev/kmsg, has no BPF object"); }
  void destroyObject() override {}

  Status started(RecordingSink& sink) override {
    sink_ = &sink;
    NT_RETURN_IF_ERROR(writeClock());
    return Status::ok();
  }
  std::vector<RingSpec> rings() override { return {}; }

  Status tick(RecordingSink& sink, uint64_t now, bool final) override {
    readAvailable();
    if (!final && now - last_clock_ns_ >= kClockPeriodNs) {
      NT_RETURN_IF_ERROR(flushLines());
      NT_RETURN_IF_ERROR(measureClock());
      NT_RETURN_IF_ERROR(writeClock());
    }
    // Lines are few; a batch a second keeps the file current without many frames.
    if (final || now - last_flush_ns_ >= 1'000'000'000ull || accumulator_->lines().size() >= kBatchLines) {
      last_flush_ns_ = now;
      NT_RETURN_IF_ERROR(flushLines());
    }
    return Status::ok();
  }

  std::vector<CounterValue> counters() override {
    const KmsgAccumulator& a = *accumulator_;
    return {{"lines", -1, a.kept(), false},
            {"lines_overwritten", -1, a.lost(), true},
            {"lines_over_limit", -1, a.overLimit(), true},
            {"lines_malformed", -1, a.malformed(), true},
            {"lines_above_level", -1, a.filtered(), false},
            {"lines_before_start", -1, a.beforeStart(), false},
            {"read_errors", -1, read_errors_, true}};
  }
  uint64_t eventsRecorded() const override { return accumulator_ ? accumulator_->kept() : 0; }

 private:
  // Reads every record available now. Each read() returns one record.
  void readAvailable() {
    if (fd_ < 0) return;
    // 8 KiB is the kernel's largest record (CONSOLE_EXT_LOG_MAX).
    char buf[8192 + 1];
    for (int i = 0; i < 100000; ++i) {
      const ssize_t n = read(fd_, buf, sizeof(buf) - 1);
      if (n > 0) {
        accumulator_->add(std::string_view(buf, static_cast<size_t>(n)), offset_ns_);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EPIPE) {
        accumulator_->noteOverrun();  // the next read starts at the oldest record left
        continue;
      }
      if (n < 0 && errno != EAGAIN) ++read_errors_;
      return;
    }
  }

  Status measureClock() {
    last_clock_ns_ = boottimeNs();
    if (clock_.isOpen()) {
      // A reading preempted inside its bracket is as uncertain as the bracket
      // is wide: keep the narrowest of a few.
      LocalClockSample best;
      for (int i = 0; i < 5; ++i) {
        auto s = clock_.sample();
        if (!s.isOk()) return s.status().context("kmsg: measure local_clock");
        if (i == 0 || s->uncertainty_ns < best.uncertainty_ns) best = *s;
      }
      clock_sample_ = best;
      clock_method_ = "perf";
      offset_ns_ = static_cast<int64_t>(best.local_clock_ns) - static_cast<int64_t>(best.boottime_ns);
      return Status::ok();
    }
    const ClockSample c = sampleClocks();
    clock_sample_ = {c.boottime_ns, c.monotonic_ns, 0};
    clock_method_ = "monotonic";
    offset_ns_ = static_cast<int64_t>(c.monotonic_ns) - static_cast<int64_t>(c.boottime_ns);
    return Status::ok();
  }

  Status writeClock() {
    capnp::MallocMessageBuilder message;
    auto clock = message.initRoot<Chunk>().initBatch().initKmsg().initClock();
    clock.setBoottimeNs(clock_sample_.boottime_ns);
    clock.setLocalClockNs(clock_sample_.local_clock_ns);
    clock.setUncertaintyNs(clock_sample_.uncertainty_ns);
    clock.setMethod(clock_method_);
    return sink_->writeBatch(message);
  }

  Status flushLines() {
    KmsgLines& l = accumulator_->lines();
    const unsigned n = static_cast<unsigned>(l.size());
    if (n == 0) return Status::ok();
    capnp::MallocMessageBuilder message;
    auto lines = message.initRoot<Chunk>().initBatch().initKmsg().initLines();
    fillList(lines.initTimeNs(n), l.time_ns);
    fillList(lines.initKernelUs(n), l.kernel_us);
    fillList(lines.initSeq(n), l.seq);
    fillList(lines.initLevel(n), l.level);
    fillList(lines.initFacility(n), l.facility);
    auto continuation = lines.initContinuation(n);
    auto caller = lines.initCaller(n);
    auto text = lines.initText(n);
    auto dict = lines.initDict(n);
    for (unsigned i = 0; i < n; ++i) {
      continuation.set(i, l.continuation[i]);
      caller.set(i, l.caller[i]);
      text.set(i, l.text[i]);
      dict.set(i, l.dict[i]);
    }
    l.clear();
    return sink_->writeBatch(message);
  }

  KmsgLimits limits_;
  uint64_t backlog_ns_ = 0;
  int fd_ = -1;
  std::unique_ptr<KmsgAccumulator> accumulator_;
  LocalClockProbe clock_;
  LocalClockSample clock_sample_;
  std::string clock_method_ = "monotonic";
  int64_t offset_ns_ = 0;  // local_clock - CLOCK_BOOTTIME
  uint64_t last_clock_ns_ = 0, last_flush_ns_ = 0, read_errors_ = 0;
  RecordingSink* sink_ = nullptr;
};

}  // namespace

std::unique_ptr<ProbeFamily> makeProbe() { return std::make_unique<KmsgProbe>(); }

}  // namespace nettrail::kmsg
