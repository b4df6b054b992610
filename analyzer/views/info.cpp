#include "views/info.h"

#include <capnp/schema.h>

#include <map>
#include <vector>

#include "core/text_escape.h"
#include "ingest/family.h"
#include "nettrail/counters.h"
#include "nettrail/recording.h"
#include "views/text_views.h"

namespace nettrail {
namespace {

struct FamilyCounts {
  uint64_t batches = 0;
  uint64_t events = 0;
};

std::string text(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

std::string bytesText(uint64_t bytes) {
  char buf[64];
  if (bytes >= 10'000'000) std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  else if (bytes >= 10'000) std::snprintf(buf, sizeof(buf), "%.1f kB", static_cast<double>(bytes) / 1e3);
  else std::snprintf(buf, sizeof(buf), "%llu bytes", static_cast<unsigned long long>(bytes));
  return buf;
}

}  // namespace

Status printRecordingInfo(const std::string& path, bool json, std::ostream& out) {
  NT_ASSIGN_OR_RETURN(std::unique_ptr<RecordingReader> reader, RecordingReader::open(path));
  std::vector<FamilyEntry> registry = buildFamilyRegistry();
  std::vector<std::unique_ptr<FamilyImporter>> importers;
  const size_t tags = capnp::Schema::from<Batch>().getUnionFields().size();
  std::vector<std::pair<FamilyImporter*, std::string>> by_tag(tags, {nullptr, ""});
  for (FamilyEntry& family : registry) {
    importers.push_back(family.make());
    by_tag[static_cast<size_t>(importers.back()->batchTag())] = {importers.back().get(), family.name};
  }
  std::map<std::string, uint64_t> chunk_kinds;
  std::map<std::string, FamilyCounts> families;
  std::vector<CounterRow> counters;
  uint64_t total_events = 0;
  std::string stop_reason;
  uint64_t end_realtime = 0;
  const auto fields = capnp::Schema::from<Chunk>().getUnionFields();
  Status walk = reader->forEachChunk([&](Chunk::Reader chunk) -> Status {
    const auto which = static_cast<size_t>(chunk.which());
    ++chunk_kinds[which < fields.size() ? std::string(fields[which].getProto().getName().cStr()) : "unknown"];
    if (chunk.isBatch()) {
      const auto tag = static_cast<size_t>(chunk.getBatch().which());
      if (tag < by_tag.size() && by_tag[tag].first) {
        FamilyCounts& counts = families[by_tag[tag].second];
        ++counts.batches;
        const uint64_t events = by_tag[tag].first->eventCount(chunk.getBatch());
        counts.events += events;
        total_events += events;
      }
    } else if (chunk.isStats()) {
      counters = readStats(chunk.getStats());
    } else if (chunk.isTrailer()) {
      stop_reason = text(chunk.getTrailer().getReason());
      end_realtime = chunk.getTrailer().getEndRealtimeNs();
    }
    return Status::ok();
  });
  NT_RETURN_IF_ERROR(walk.context("info " + path));
  const ReadReport& report = reader->report();
  Header::Reader header = reader->header();

  // Loss per family and counter, each counted once (nettrail/counters.h).
  const std::map<std::pair<std::string, std::string>, uint64_t> loss = lossByCounter(counters);
  std::string command_line;
  for (capnp::Text::Reader arg : header.getCommandLine()) command_line += (command_line.empty() ? "" : " ") + text(arg);
  const double bytes_per_event =
      total_events ? static_cast<double>(report.file_bytes) / static_cast<double>(total_events) : 0.0;

  if (json) {
    out << "{\n  \"path\": " << jsonQuote(path) << ",\n";
    out << "  \"data_loss\": {\"problems\": [";
    for (size_t i = 0; i < report.problems.size(); ++i) out << (i ? ", " : "") << jsonQuote(report.problems[i]);
    out << "], \"truncated\": " << (report.truncated ? "true" : "false")
        << ", \"corrupt\": " << (report.corrupt ? "true" : "false")
        << ", \"has_trailer\": " << (report.has_trailer ? "true" : "false")
        << ", \"missing_chunks\": " << report.missing_chunks << ", \"unknown_batches\": " << report.unknown_batches
        << ", \"recorder_counters\": [";
    bool first = true;
    for (const auto& [key, value] : loss) {
      out << (first ? "" : ", ") << "{\"family\": " << jsonQuote(key.first) << ", \"name\": " << jsonQuote(key.second)
          << ", \"value\": " << value << "}";
      first = false;
    }
    out << "]},\n";
    out << "  \"header\": {\"host_name\": " << jsonQuote(text(header.getHostName()))
        << ", \"kernel_release\": " << jsonQuote(text(header.getKernelRelease()))
        << ", \"kernel_version\": " << jsonQuote(text(header.getKernelVersion()))
        << ", \"machine\": " << jsonQuote(text(header.getMachine()))
        << ", \"boot_id\": " << jsonQuote(text(header.getBootId())) << ", \"cpu_count\": " << header.getCpuCount()
        << ", \"command_line\": [";
    first = true;
    for (capnp::Text::Reader arg : header.getCommandLine()) {
      out << (first ? "" : ", ") << jsonQuote(text(arg));
      first = false;
    }
    out << "], \"start_realtime_ns\": " << header.getStartRealtimeNs()
        << ", \"start_utc\": " << jsonQuote(formatUtc(static_cast<int64_t>(header.getStartRealtimeNs())))
        << ", \"recorder_version\": " << jsonQuote(text(header.getRecorderVersion()))
        << ", \"recording_id\": " << jsonQuote(text(header.getRecordingId())) << ", \"segment\": " << header.getSegment()
        << ", \"stop_reason\": " << jsonQuote(stop_reason) << "},\n";
    out << "  \"probes\": [";
    first = true;
    for (Probe::Reader probe : header.getProbes()) {
      out << (first ? "\n    " : ",\n    ") << "{\"family\": " << jsonQuote(text(probe.getFamily())) << ", \"options\": {";
      first = false;
      bool first_option = true;
      for (KeyValue::Reader kv : probe.getOptions()) {
        out << (first_option ? "" : ", ") << jsonQuote(text(kv.getKey())) << ": " << jsonQuote(text(kv.getValue()));
        first_option = false;
      }
      out << "}, \"attachments\": [";
      bool first_attach = true;
      for (Attachment::Reader a : probe.getAttachments()) {
        out << (first_attach ? "" : ", ") << "{\"hook\": " << jsonQuote(text(a.getHook()))
            << ", \"strategy\": " << jsonQuote(text(a.getStrategy())) << ", \"target\": " << jsonQuote(text(a.getTarget()))
            << ", \"attached\": " << (a.getAttached() ? "true" : "false") << ", \"note\": " << jsonQuote(text(a.getNote()))
            << "}";
        first_attach = false;
      }
      out << "]}";
    }
    out << "],\n  \"chunks\": {";
    first = true;
    for (const auto& [kind, count] : chunk_kinds) {
      out << (first ? "" : ", ") << jsonQuote(kind) << ": " << count;
      first = false;
    }
    out << "},\n  \"families\": {";
    first = true;
    for (const auto& [name, counts] : families) {
      out << (first ? "" : ", ") << jsonQuote(name) << ": {\"batches\": " << counts.batches
          << ", \"events\": " << counts.events << "}";
      first = false;
    }
    out << "},\n  \"file_bytes\": " << report.file_bytes << ",\n  \"bytes_used\": " << report.bytes_used
        << ",\n  \"events\": " << total_events << ",\n  \"bytes_per_event\": " << bytes_per_event << "\n}\n";
    return Status::ok();
  }

  auto t = [](const std::string& s) { return escapeForTerminal(s); };
  out << "Recording " << t(path) << "\n\n";
  out << "Data loss\n";
  if (report.problems.empty() && loss.empty()) out << "  none: the file is complete and the recorder lost nothing\n";
  for (const std::string& problem : report.problems) out << "  file: " << t(problem) << "\n";
  for (const auto& [key, value] : loss)
    out << "  recorder: " << t(key.first) << " " << t(key.second) << " = " << value << " events not recorded\n";
  if (report.unknown_batches > 0)
    out << "  file: " << report.unknown_batches
        << " batch(es) of a probe family this nettrail does not know; upgrade nettrail\n";
  out << "\nHeader\n";
  out << "  host:         " << t(text(header.getHostName())) << "\n";
  out << "  kernel:       " << t(text(header.getKernelRelease())) << " " << t(text(header.getKernelVersion())) << " ("
      << t(text(header.getMachine())) << ")\n";
  out << "  boot id:      " << t(text(header.getBootId())) << "\n";
  out << "  CPUs:         " << header.getCpuCount() << "\n";
  out << "  command line: " << t(command_line) << "\n";
  out << "  started:      " << formatUtc(static_cast<int64_t>(header.getStartRealtimeNs())) << "\n";
  if (end_realtime) out << "  ended:        " << formatUtc(static_cast<int64_t>(end_realtime)) << " (" << t(stop_reason) << ")\n";
  out << "  recorder:     " << t(text(header.getRecorderVersion())) << ", recording id " << t(text(header.getRecordingId()))
      << ", segment " << header.getSegment() << "\n";
  for (KeyValue::Reader fact : header.getKernelFacts())
    out << "  kernel fact:  " << t(text(fact.getKey())) << " = " << t(text(fact.getValue())) << "\n";
  out << "\nProbes\n";
  for (Probe::Reader probe : header.getProbes()) {
    out << "  " << t(text(probe.getFamily())) << "\n";
    for (KeyValue::Reader kv : probe.getOptions())
      out << "    option " << t(text(kv.getKey())) << " = " << t(text(kv.getValue())) << "\n";
    for (Attachment::Reader a : probe.getAttachments()) {
      out << "    " << t(text(a.getHook())) << " via " << t(text(a.getStrategy())) << " " << t(text(a.getTarget())) << ": "
          << (a.getAttached() ? "attached" : "not attached");
      if (a.getNote().size() > 0) out << " (" << t(text(a.getNote())) << ")";
      out << "\n";
    }
  }
  out << "\nChunks\n";
  for (const auto& [kind, count] : chunk_kinds) out << "  " << kind << ": " << count << "\n";
  out << "\nEvents per family\n";
  if (families.empty()) out << "  (none)\n";
  for (const auto& [name, counts] : families)
    out << "  " << name << ": " << counts.events << " events in " << counts.batches << " batches\n";
  char per_event[32];
  std::snprintf(per_event, sizeof(per_event), "%.2f", bytes_per_event);
  out << "\nSize\n  " << report.file_bytes << " bytes on disk (" << bytesText(report.file_bytes) << "), "
      << report.bytes_used << " readable";
  if (total_events) out << ", " << per_event << " bytes per event";
  out << "\n";
  return Status::ok();
}

}  // namespace nettrail
