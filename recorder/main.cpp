// nettrail-record: record kernel network events into a recording file.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "probe_registry.h"
#include "session.h"

namespace nettrail {
namespace {

constexpr const char* kUsage =
    "usage: nettrail-record [record] [options]      record events to a file\n"
    "       nettrail-record list                    probe families and what they record\n"
    "       nettrail-record check [--json]          which attach point each hook would use here\n"
    "\n"
    "Records kernel network events with BPF into a zstd-compressed recording that\n"
    "`nettrail` analyzes on any machine. Needs root (or CAP_BPF+CAP_PERFMON).\n"
    "\n"
    "examples:\n"
    "  nettrail-record -d 5 -o drops.ntr                     5 s of drops, summary and details\n"
    "  nettrail-record --mode summary -i 10 -o host.ntr      counts only, snapshot every 10 s, until Ctrl-C\n"
    "  nettrail-record --dst-port 80 --l4-protocol tcp -n eth0 -d 30s -o web.ntr\n"
    "  nettrail-record --rotate-size 100M --max-files 10 -o long.ntr   bounded disk use\n";

void declareSessionOptions(OptionSet& o) {
  const std::string g = "recording";
  o.add({"output", 'o', "FILE", "recording file to write (rotated segments: FILE.1.ntr, ...)", "nettrail.ntr", g});
  o.add({"duration", 'd', "SECONDS", "stop after this long (5, 30s, 10m); default: until Ctrl-C", "", g});
  o.add({"families", 'f', "LIST", "comma-separated probe families (see `nettrail-record list`)", "drop", g});
  o.add({"rotate-size", 0, "BYTES", "start a new file after this many bytes, from 64K (e.g. 100M)", "", g});
  o.add({"rotate-time", 0, "SECONDS", "start a new file after this long (e.g. 1h)", "", g});
  o.add({"max-files", 0, "N", "keep at most N files, deleting the oldest (needs rotation)", "", g});
  o.add({"zstd-level", 0, "N", "compression level from 1 to 19 (1 is fastest and, on event batches, about as small)", "1", g});
  o.add({"attach-strategy", 0, "NAME", "use only this attach strategy (tp_btf, raw_tp, tracepoint, ...)", "", g});
  o.add({"force", 0, "", "replace existing output files (a symbolic link is replaced, never followed)", "", g});
  o.add({"group-readable", 0, "", "create recordings with mode 0640 instead of 0600 (the group: a setgid "
                                  "directory's, else the recorder's)", "", g});
  o.add({"json", 0, "", "machine-readable output (check, list)", "", g});
  o.add({"verbose", 'v', "", "show libbpf's messages (verifier logs on failures)", "", g});
  o.add({"quiet", 'q', "", "print nothing but errors", "", g});
  o.add({"help", 'h', "", "show this help", "", g});
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c < 0x20 || c >= 0x7f) { char buf[8]; std::snprintf(buf, sizeof(buf), "\\u%04x", c); out += buf; }
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

int run(int argc, char** argv) {
  std::vector<ProbeEntry> registry = buildProbeRegistry();
  OptionSet options;
  declareSessionOptions(options);
  std::vector<std::unique_ptr<ProbeFamily>> declared;
  for (const ProbeEntry& entry : registry) {
    declared.push_back(entry.make());
    declared.back()->declareOptions(options);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string verb = "record";
  if (!args.empty() && (args[0] == "record" || args[0] == "list" || args[0] == "check")) {
    verb = args[0];
    args.erase(args.begin());
  } else if (!args.empty() && args[0].size() > 0 && args[0][0] != '-') {
    std::string hint = closestMatch(args[0], {"record", "list", "check"});
    std::fprintf(stderr, "nettrail-record: unknown command '%s'%s\n%s", args[0].c_str(),
                 hint.empty() ? "" : ("; did you mean '" + hint + "'?").c_str(), kUsage);
    return 2;
  }
  auto parsed = parseOptions(options, args);
  if (!parsed.isOk()) {
    std::fprintf(stderr, "nettrail-record: %s\n", parsed.status().message().c_str());
    return 2;
  }
  if (parsed->flag("help")) {
    std::fputs(options.help(kUsage).c_str(), stdout);
    return 0;
  }
  if (!parsed->positional().empty()) {
    std::fprintf(stderr, "nettrail-record: unexpected argument '%s' (see --help)\n", parsed->positional()[0].c_str());
    return 2;
  }
  std::vector<std::string> families = splitList(parsed->get("families"));
  std::vector<std::string> known;
  for (const ProbeEntry& e : registry) known.push_back(e.name);
  if (families.empty()) families = known;
  for (const std::string& f : families) {
    if (std::find(known.begin(), known.end(), f) == known.end()) {
      std::string hint = closestMatch(f, known);
      std::fprintf(stderr, "nettrail-record: unknown probe family '%s'%s (see `nettrail-record list`)\n", f.c_str(),
                   hint.empty() ? "" : ("; did you mean '" + hint + "'?").c_str());
      return 2;
    }
  }

  if (verb == "list") {
    if (parsed->flag("json")) {
      std::printf("[");
      for (size_t i = 0; i < registry.size(); ++i)
        std::printf("%s{\"name\":%s,\"summary\":%s}", i ? "," : "", jsonString(registry[i].name).c_str(),
                    jsonString(registry[i].summary).c_str());
      std::printf("]\n");
    } else {
      for (const ProbeEntry& e : registry) std::printf("%-10s %s\n", e.name.c_str(), e.summary.c_str());
    }
    return 0;
  }
  if (verb == "check") {
    Status pre = checkPrivilegesAndKernel();
    if (!pre.isOk()) {
      std::fprintf(stderr, "nettrail-record: %s\n", pre.message().c_str());
      return 1;
    }
    auto plans = probeAttachPlans(registry, families, *parsed, parsed->get("attach-strategy"));
    if (!plans.isOk()) {
      std::fprintf(stderr, "nettrail-record: %s\n", plans.status().message().c_str());
      return 1;
    }
    bool all_ok = true;
    if (parsed->flag("json")) std::printf("[");
    size_t i = 0;
    for (const auto& [family, choice] : *plans) {
      all_ok = all_ok && choice.attached;
      if (parsed->flag("json")) {
        std::printf("%s{\"family\":%s,\"hook\":%s,\"strategy\":%s,\"target\":%s,\"usable\":%s,\"note\":%s}",
                    i++ ? "," : "", jsonString(family).c_str(), jsonString(choice.hook).c_str(),
                    jsonString(choice.strategy).c_str(), jsonString(choice.target).c_str(),
                    choice.attached ? "true" : "false", jsonString(choice.note).c_str());
      } else if (choice.attached) {
        std::printf("%-8s %-12s %-10s %s%s%s\n", family.c_str(), choice.hook.c_str(), choice.strategy.c_str(),
                    choice.target.c_str(), choice.note.empty() ? "" : "   (", choice.note.empty() ? "" : (choice.note + ")").c_str());
      } else {
        std::printf("%-8s %-12s UNAVAILABLE  %s\n", family.c_str(), choice.hook.c_str(), choice.note.c_str());
      }
    }
    if (parsed->flag("json")) std::printf("]\n");
    return all_ok ? 0 : 1;
  }

  SessionOptions session;
  session.output = parsed->get("output");
  session.families = families;
  session.command_line.assign(argv, argv + argc);
  session.verbose = parsed->flag("verbose");
  session.quiet = parsed->flag("quiet");
  session.force_strategy = parsed->get("attach-strategy");
  auto check = [](const Status& s) {
    if (!s.isOk()) std::fprintf(stderr, "nettrail-record: %s\n", s.message().c_str());
    return s.isOk();
  };
  if (parsed->given("duration")) {
    auto d = parsed->getSeconds("duration", 0.001, ParsedOptions::kMaxSeconds);
    if (!check(d.status())) return 2;
    session.duration_seconds = *d;
  }
  if (parsed->given("rotate-size")) {
    auto b = parsed->getBytes("rotate-size", 64 * 1024, ParsedOptions::kMaxBytes);
    if (!check(b.status())) return 2;
    session.rotation.max_bytes = *b;
  }
  if (parsed->given("rotate-time")) {
    auto t = parsed->getSeconds("rotate-time", 1, ParsedOptions::kMaxSeconds);
    if (!check(t.status())) return 2;
    session.rotation.max_seconds = *t;
  }
  if (parsed->given("max-files")) {
    auto n = parsed->getUint("max-files", 1, 1000000);
    if (!check(n.status())) return 2;
    if (session.rotation.max_bytes == 0 && session.rotation.max_seconds == 0)
      return check(Status::error("--max-files needs --rotate-size or --rotate-time")), 2;
    session.rotation.max_files = static_cast<uint32_t>(*n);
  }
  {
    auto level = parsed->getUint("zstd-level", 1, 19);
    if (!check(level.status())) return 2;
    session.zstd_level = static_cast<int>(*level);
  }
  session.output_file.mode = parsed->flag("group-readable") ? kGroupReadableFileMode : kPrivateFileMode;
  session.output_file.replace = parsed->flag("force");
  session.output_file.exists_hint = "use --force to replace it or -o another file";
  if (!parsed->flag("force")) {
    const bool rotating = session.rotation.max_bytes > 0 || session.rotation.max_seconds > 0;
    Status free = RecordingSink::checkNamesFree(session.output, rotating, session.output_file.exists_hint);
    if (!free.isOk()) {
      std::fprintf(stderr, "nettrail-record: %s\n", free.message().c_str());
      return 1;
    }
  }

  struct sigaction action = {};
  action.sa_handler = [](int sig) { Session::requestStop(sig); };
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  Session recorder(registry, session);
  auto summary = recorder.run(*parsed);
  if (!summary.isOk()) {
    std::fprintf(stderr, "nettrail-record: %s\n", summary.status().message().c_str());
    return 1;
  }
  if (!session.quiet) {
    const SessionSummary& s = *summary;
    double cpu = s.cpu_user_seconds + s.cpu_system_seconds;
    std::fprintf(stderr,
                 "nettrail-record: %.1f s, %llu events, %llu lost, %llu bytes on disk (%.1f bytes/event), "
                 "recorder CPU %.2f s user + %.2f s system",
                 s.seconds, static_cast<unsigned long long>(s.events), static_cast<unsigned long long>(s.lost),
                 static_cast<unsigned long long>(s.bytes),
                 s.events ? static_cast<double>(s.bytes) / static_cast<double>(s.events) : 0.0,
                 s.cpu_user_seconds, s.cpu_system_seconds);
    if (s.events) std::fprintf(stderr, " (%.0f ns/event)", cpu * 1e9 / static_cast<double>(s.events));
    std::fprintf(stderr, "\n");
    for (const std::string& f : s.files) std::fprintf(stderr, "nettrail-record: wrote %s\n", f.c_str());
    if (s.lost)
      std::fprintf(stderr, "nettrail-record: WARNING: %llu events lost in the kernel (ring or in-kernel map full, or "
                           "a program skipped while another BPF program or bpf() call held the CPU: "
                           "bpf_recursion_misses); see `nettrail info` for which counter, and consider --ring-size, "
                           "map sizes, filters or another --attach-strategy\n",
                   static_cast<unsigned long long>(s.lost));
  }
  return 0;
}

}  // namespace
}  // namespace nettrail

int main(int argc, char** argv) { return nettrail::run(argc, argv); }
