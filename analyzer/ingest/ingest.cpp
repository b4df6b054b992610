#include "ingest/ingest.h"

#include <capnp/schema.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_set>

#include "core/embedded_assets.h"
#include "nettrail/counters.h"
#include "nettrail/recording.h"

namespace nettrail {
namespace {

using Clock = std::chrono::steady_clock;

struct SymbolEntry {
  uint64_t address;
  uint64_t size;
  std::string name;
  std::string module;
};

struct StackEntry {
  bool kernel;
  std::vector<uint64_t> frames;
  uint32_t pid = 0;  // user stacks: whose address space
};

// A file mapping of a recorded process (user stacks resolve through it).
struct UserMappingEntry {
  uint64_t start, end, elf_address;
  uint32_t binary_id;
  std::string path;
};

struct UserSymbolEntry {
  uint64_t value, size;
  std::string name;
};

std::string joinCommandLine(capnp::List<capnp::Text>::Reader argv) {
  std::string out;
  for (capnp::Text::Reader arg : argv) {
    if (!out.empty()) out += ' ';
    std::string_view text(arg.cStr(), arg.size());
    const bool plain = !text.empty() && text.find_first_of(" \t\n'\"\\$") == std::string_view::npos;
    if (plain) {
      out += text;
    } else {
      out += '\'';
      for (char c : text) {
        if (c == '\'') out += "'\\''";
        else out += c;
      }
      out += '\'';
    }
  }
  return out;
}

std::string hex(uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

// Walks the files and writes core tables; family batches go to `by_tag`.
class Ingester {
 public:
  Ingester(Db& db, const IngestOptions& options) : db_(db), options_(options), ctx_(db) {}

  Status run(const std::vector<std::string>& files, IngestSummary* summary);

 private:
  Status prepareStatements();
  Status ingestFile(const std::string& path);
  Status importHeader(Header::Reader header, const std::string& path);
  Status importChunk(Chunk::Reader chunk);
  Status writeStacks();
  Status writeUserFrames(uint32_t id, const StackEntry& stack, Statement& insert_frame, std::string* top_frame,
                         uint64_t* unresolved);
  Status writeCountersAndStats();
  void maybeProgress(uint64_t file_bytes_used, bool final_line);

  Db& db_;
  const IngestOptions& options_;
  IngestContext ctx_;
  std::vector<std::unique_ptr<FamilyImporter>> importers_;
  std::vector<FamilyImporter*> by_tag_;  // indexed by Batch::Which

  Statement insert_meta_, replace_meta_, insert_option_, insert_attachment_, insert_enum_, insert_anchor_,
      insert_interface_, insert_process_, insert_symbol_, insert_file_, insert_user_mapping_, insert_user_symbol_;

  std::unordered_set<std::string> recordings_seen_;  // recordingId: header tables once per recording
  std::set<std::pair<std::string, uint32_t>> segments_seen_;
  std::unordered_set<uint64_t> symbol_addresses_;
  std::vector<SymbolEntry> symbols_;
  std::map<uint32_t, StackEntry> stacks_;
  // User-stack symbolization from the recording alone.
  std::map<std::pair<uint32_t, uint64_t>, UserMappingEntry> user_mappings_;  // (pid, start)
  std::map<uint32_t, std::vector<UserSymbolEntry>> user_symbols_;            // binary id -> symbols
  std::set<std::pair<uint32_t, uint64_t>> user_symbol_keys_;                 // (binary id, value)
  std::map<std::string, std::vector<CounterRow>> counters_;  // last Stats chunk per recording
  std::string current_recording_;
  std::string first_recording_;

  Clock::time_point start_ = Clock::now();
  Clock::time_point last_progress_ = Clock::now();
  Clock::time_point load_done_ = Clock::now();
  uint64_t bytes_done_ = 0;  // bytes of files already finished
  uint64_t chunks_since_check_ = 0;
  bool progress_printed_ = false;
};

Status Ingester::prepareStatements() {
  NT_ASSIGN_OR_RETURN(insert_meta_, db_.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)"));
  NT_ASSIGN_OR_RETURN(replace_meta_, db_.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_option_, db_.prepare("INSERT INTO probe_option VALUES (?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_attachment_, db_.prepare("INSERT INTO attachment VALUES (?, ?, ?, ?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_enum_, db_.prepare("INSERT INTO enum_value VALUES (?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_anchor_, db_.prepare("INSERT INTO clock_anchor VALUES (?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_interface_, db_.prepare("INSERT OR REPLACE INTO interface VALUES (?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_process_, db_.prepare("INSERT OR REPLACE INTO process VALUES (?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_symbol_, db_.prepare("INSERT INTO kernel_symbol VALUES (?, ?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_file_, db_.prepare("INSERT INTO recording_file VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_user_mapping_,
                      db_.prepare("INSERT INTO user_mapping VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(insert_user_symbol_, db_.prepare("INSERT INTO user_symbol VALUES (?, ?, ?, ?)"));
  return Status::ok();
}

Status Ingester::run(const std::vector<std::string>& files, IngestSummary* summary) {
  if (files.empty()) return Status::error("ingest: no recording files given");
  // Open every file first so a foreign file fails before any work is done.
  for (const std::string& path : files) {
    auto reader = RecordingReader::open(path);
    if (!reader.isOk()) return reader.status();
  }
  NT_ASSIGN_OR_RETURN(int64_t objects, db_.queryInt("SELECT COUNT(*) FROM sqlite_master"));
  if (objects != 0) return Status::error("ingest: database ", db_.path(), " is not empty; ingest into a new file");

  // Loading is all or nothing (the output is renamed into place by the caller),
  // so the rollback journal and fsyncs only cost time.
  // Large pages mean fewer B-tree splits for the wide event rows (new databases only).
  NT_RETURN_IF_ERROR(db_.exec("PRAGMA page_size=65536; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;"
                              "PRAGMA cache_size=-262144; PRAGMA locking_mode=EXCLUSIVE;"));
  NT_RETURN_IF_ERROR(db_.exec("BEGIN"));
  Status status = [&]() -> Status {
    NT_RETURN_IF_ERROR(db_.exec(embeddedAsset("queries/_core.sql")).context("ingest: create core tables"));
    NT_RETURN_IF_ERROR(prepareStatements());
    const size_t tags = capnp::Schema::from<Batch>().getUnionFields().size();
    by_tag_.assign(tags, nullptr);
    for (FamilyEntry& family : buildFamilyRegistry()) {
      std::unique_ptr<FamilyImporter> importer = family.make();
      NT_RETURN_IF_ERROR(importer->createTables(db_).context("ingest: create " + family.name + " tables"));
      const size_t tag = static_cast<size_t>(importer->batchTag());
      NT_CHECK(tag < by_tag_.size() && by_tag_[tag] == nullptr);
      by_tag_[tag] = importer.get();
      importers_.push_back(std::move(importer));
    }
    for (const std::string& path : files) NT_RETURN_IF_ERROR(ingestFile(path));
    load_done_ = Clock::now();
    NT_RETURN_IF_ERROR(writeStacks());
    for (auto& importer : importers_) NT_RETURN_IF_ERROR(importer->finish(ctx_));
    NT_RETURN_IF_ERROR(writeCountersAndStats());
    NT_RETURN_IF_ERROR(db_.exec("CREATE INDEX kernel_symbol_address ON kernel_symbol(address);"
                                "CREATE INDEX stack_frame_stack ON stack_frame(stack_id, frame_index);"));
    return Status::ok();
  }();
  // Statements must be finalized before the transaction ends cleanly.
  insert_meta_ = Statement();
  replace_meta_ = Statement();
  insert_option_ = Statement();
  insert_attachment_ = Statement();
  insert_enum_ = Statement();
  insert_anchor_ = Statement();
  insert_interface_ = Statement();
  insert_process_ = Statement();
  insert_symbol_ = Statement();
  insert_file_ = Statement();
  insert_user_mapping_ = Statement();
  insert_user_symbol_ = Statement();
  importers_.clear();
  if (!status.isOk()) {
    (void)db_.exec("ROLLBACK");
    return status;
  }
  NT_RETURN_IF_ERROR(db_.exec("COMMIT"));
  (void)db_.exec("PRAGMA journal_mode=DELETE; PRAGMA locking_mode=NORMAL;");
  maybeProgress(0, true);
  if (summary) {
    summary->rows = ctx_.rows();
    summary->bytes = bytes_done_;
    summary->seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    summary->index_seconds = std::chrono::duration<double>(Clock::now() - load_done_).count();
  }
  return Status::ok();
}

Status Ingester::ingestFile(const std::string& path) {
  NT_ASSIGN_OR_RETURN(std::unique_ptr<RecordingReader> reader, RecordingReader::open(path));
  ctx_.setCurrentFile(path);
  Header::Reader header = reader->header();
  NT_RETURN_IF_ERROR(importHeader(header, path));
  RecordingReader* r = reader.get();
  Status walk = reader->forEachChunk([&](Chunk::Reader chunk) -> Status {
    if (options_.progress && ++chunks_since_check_ >= 16) {
      chunks_since_check_ = 0;
      maybeProgress(r->report().bytes_used, false);
    }
    return importChunk(chunk);
  });
  NT_RETURN_IF_ERROR(walk.context("ingest " + path));
  const ReadReport& report = reader->report();
  bytes_done_ += report.file_bytes;

  insert_file_.bind(1, path);
  insert_file_.bind(2, static_cast<int64_t>(header.getSegment()));
  insert_file_.bind(3, static_cast<int64_t>(report.file_bytes));
  insert_file_.bind(4, static_cast<int64_t>(report.bytes_used));
  insert_file_.bind(5, static_cast<int64_t>(report.frames_read));
  insert_file_.bind(6, int64_t{report.has_trailer});
  insert_file_.bind(7, int64_t{report.truncated});
  insert_file_.bind(8, int64_t{report.corrupt});
  NT_RETURN_IF_ERROR(insert_file_.run());

  const std::string problems = [&] {
    std::string text;
    for (const std::string& p : report.problems) text += (text.empty() ? "" : "; ") + p;
    return text;
  }();
  const int64_t unread = static_cast<int64_t>(report.file_bytes - report.bytes_used);
  if (report.truncated)
    ctx_.addStat("data_loss", "reader", "truncated_tail", unread,
                 path + ": file cut off inside a frame; events in the last " + std::to_string(unread) +
                     " bytes are lost (" + problems + ")");
  if (report.corrupt)
    ctx_.addStat("data_loss", "reader", "corrupt_frame", unread,
                 path + ": a frame did not decode; reading stopped there and " + std::to_string(unread) +
                     " bytes were not read (" + problems + ")");
  if (report.missing_chunks > 0)
    ctx_.addStat("data_loss", "reader", "missing_chunks", static_cast<int64_t>(report.missing_chunks),
                 path + ": " + std::to_string(report.missing_chunks) +
                     " chunk(s) missing from the sequence; their events are lost");
  if (!report.has_trailer)
    ctx_.addStat("error", "reader", "no_trailer", 1,
                 path + ": no trailer, the recorder did not close this file cleanly (killed, crashed, "
                        "or still running); events still buffered in the recorder are not in the file");
  if (report.unknown_batches > 0)
    ctx_.addStat("data_loss", "reader", "unknown_family_batches", static_cast<int64_t>(report.unknown_batches),
                 path + ": " + std::to_string(report.unknown_batches) +
                     " batch(es) of a probe family this nettrail does not know were skipped; "
                     "upgrade nettrail to read them");
  return Status::ok();
}

Status Ingester::importHeader(Header::Reader header, const std::string& path) {
  current_recording_ = header.getRecordingId().cStr();
  if (recordings_seen_.empty()) first_recording_ = current_recording_;
  const bool first_of_recording = recordings_seen_.insert(current_recording_).second;
  if (!segments_seen_.insert({current_recording_, header.getSegment()}).second)
    ctx_.addStat("error", "ingest", "duplicate_segment", header.getSegment(),
                 path + ": segment " + std::to_string(header.getSegment()) + " of recording " + current_recording_ +
                     " was already ingested from another file; its events are counted twice");
  if (first_of_recording && recordings_seen_.size() > 1)
    ctx_.addStat("error", "ingest", "mixed_recordings", static_cast<int64_t>(recordings_seen_.size()),
                 path + ": recording id " + current_recording_ + " differs from " + first_recording_ +
                     "; files of different recordings were ingested into one database");
  auto meta = [&](const char* key, const std::string& value) -> Status {
    insert_meta_.bind(1, std::string_view(key));
    insert_meta_.bind(2, value);
    return insert_meta_.run();
  };
  NT_RETURN_IF_ERROR(meta("format_version", std::to_string(header.getFormatVersion())));
  NT_RETURN_IF_ERROR(meta("recorder_version", header.getRecorderVersion().cStr()));
  NT_RETURN_IF_ERROR(meta("host_name", header.getHostName().cStr()));
  NT_RETURN_IF_ERROR(meta("kernel_release", header.getKernelRelease().cStr()));
  NT_RETURN_IF_ERROR(meta("kernel_version", header.getKernelVersion().cStr()));
  NT_RETURN_IF_ERROR(meta("machine", header.getMachine().cStr()));
  NT_RETURN_IF_ERROR(meta("boot_id", header.getBootId().cStr()));
  NT_RETURN_IF_ERROR(meta("cpu_count", std::to_string(header.getCpuCount())));
  NT_RETURN_IF_ERROR(meta("command_line", joinCommandLine(header.getCommandLine())));
  NT_RETURN_IF_ERROR(meta("start_realtime_ns", std::to_string(header.getStartRealtimeNs())));
  NT_RETURN_IF_ERROR(meta("start_boottime_ns", std::to_string(header.getStartBoottimeNs())));
  NT_RETURN_IF_ERROR(meta("recording_id", header.getRecordingId().cStr()));
  for (KeyValue::Reader fact : header.getKernelFacts())
    NT_RETURN_IF_ERROR(meta(("kernel_fact." + std::string(fact.getKey().cStr())).c_str(), fact.getValue().cStr()));
  if (!first_of_recording) return Status::ok();  // a later segment repeats the probes
  for (Probe::Reader probe : header.getProbes()) {
    const std::string family = probe.getFamily().cStr();
    for (KeyValue::Reader option : probe.getOptions()) {
      insert_option_.bind(1, family);
      insert_option_.bind(2, std::string_view(option.getKey().cStr()));
      insert_option_.bind(3, std::string_view(option.getValue().cStr()));
      NT_RETURN_IF_ERROR(insert_option_.run());
    }
    for (Attachment::Reader a : probe.getAttachments()) {
      insert_attachment_.bind(1, family);
      insert_attachment_.bind(2, std::string_view(a.getHook().cStr()));
      insert_attachment_.bind(3, std::string_view(a.getStrategy().cStr()));
      insert_attachment_.bind(4, std::string_view(a.getTarget().cStr()));
      insert_attachment_.bind(5, int64_t{a.getAttached()});
      insert_attachment_.bind(6, std::string_view(a.getNote().cStr()));
      NT_RETURN_IF_ERROR(insert_attachment_.run());
    }
    for (EnumValue::Reader e : probe.getEnums()) {
      const std::string enum_name = e.getEnumName().cStr();
      if (ctx_.enumName(enum_name, e.getValue())) continue;  // families may share an enum
      ctx_.addEnum(enum_name, e.getValue(), e.getName().cStr());
      insert_enum_.bind(1, enum_name);
      insert_enum_.bind(2, static_cast<int64_t>(e.getValue()));
      insert_enum_.bind(3, std::string_view(e.getName().cStr()));
      NT_RETURN_IF_ERROR(insert_enum_.run());
    }
  }
  return Status::ok();
}

Status Ingester::importChunk(Chunk::Reader chunk) {
  switch (chunk.which()) {
    case Chunk::BATCH: {
      Batch::Reader batch = chunk.getBatch();
      const size_t tag = static_cast<size_t>(batch.which());
      // Unknown tags are counted by the reader (unknown_family_batches).
      if (tag >= by_tag_.size() || by_tag_[tag] == nullptr) return Status::ok();
      return by_tag_[tag]->importBatch(batch, ctx_);
    }
    case Chunk::CLOCK_ANCHOR: {
      ClockAnchor::Reader a = chunk.getClockAnchor();
      insert_anchor_.bind(1, static_cast<int64_t>(a.getBoottimeNs()));
      insert_anchor_.bind(2, static_cast<int64_t>(a.getRealtimeNs()));
      insert_anchor_.bind(3, static_cast<int64_t>(a.getMonotonicNs()));
      return insert_anchor_.run();
    }
    case Chunk::INTERFACES:
      for (Interface::Reader i : chunk.getInterfaces()) {
        insert_interface_.bind(1, int64_t{i.getNetns()});
        insert_interface_.bind(2, int64_t{i.getIfindex()});
        insert_interface_.bind(3, std::string_view(i.getName().cStr(), i.getName().size()));
        NT_RETURN_IF_ERROR(insert_interface_.run());
      }
      return Status::ok();
    case Chunk::PROCESSES:
      for (Process::Reader p : chunk.getProcesses()) {
        insert_process_.bind(1, int64_t{p.getTid()});
        insert_process_.bind(2, int64_t{p.getPid()});
        insert_process_.bind(3, std::string_view(p.getComm().cStr(), p.getComm().size()));
        NT_RETURN_IF_ERROR(insert_process_.run());
      }
      return Status::ok();
    case Chunk::STACKS:
      for (Stack::Reader s : chunk.getStacks()) {
        StackEntry entry{s.getKernel(), {}, s.getPid()};
        entry.frames.reserve(s.getFrames().size());
        for (uint64_t address : s.getFrames()) entry.frames.push_back(address);
        stacks_.emplace(s.getId(), std::move(entry));  // first definition wins across segments
      }
      return Status::ok();
    case Chunk::KERNEL_SYMBOLS:
      for (KernelSymbol::Reader s : chunk.getKernelSymbols()) {
        if (!symbol_addresses_.insert(s.getAddress()).second) continue;
        symbols_.push_back({s.getAddress(), s.getSize(), s.getName().cStr(), s.getModule().cStr()});
        insert_symbol_.bind(1, static_cast<int64_t>(s.getAddress()));
        insert_symbol_.bind(2, static_cast<int64_t>(s.getSize()));
        insert_symbol_.bind(3, std::string_view(s.getName().cStr(), s.getName().size()));
        insert_symbol_.bind(4, std::string_view(s.getModule().cStr(), s.getModule().size()));
        NT_RETURN_IF_ERROR(insert_symbol_.run());
      }
      return Status::ok();
    case Chunk::USER_MAPPINGS:
      for (UserMapping::Reader m : chunk.getUserMappings()) {
        const std::pair<uint32_t, uint64_t> key{m.getPid(), m.getStart()};
        if (user_mappings_.count(key)) continue;  // repeated in every segment
        user_mappings_[key] = {m.getStart(), m.getEnd(), m.getElfAddress(), m.getBinaryId(), m.getPath().cStr()};
        std::string build_id;
        for (capnp::byte b : m.getBuildId()) {
          char hex_byte[3];
          std::snprintf(hex_byte, sizeof(hex_byte), "%02x", b);
          build_id += hex_byte;
        }
        insert_user_mapping_.bind(1, int64_t{m.getPid()});
        insert_user_mapping_.bind(2, static_cast<int64_t>(m.getStart()));
        insert_user_mapping_.bind(3, static_cast<int64_t>(m.getEnd()));
        insert_user_mapping_.bind(4, static_cast<int64_t>(m.getFileOffset()));
        insert_user_mapping_.bind(5, static_cast<int64_t>(m.getElfAddress()));
        insert_user_mapping_.bind(6, int64_t{m.getBinaryId()});
        insert_user_mapping_.bind(7, std::string_view(m.getPath().cStr(), m.getPath().size()));
        insert_user_mapping_.bind(8, build_id);
        NT_RETURN_IF_ERROR(insert_user_mapping_.run());
      }
      return Status::ok();
    case Chunk::USER_SYMBOLS:
      for (UserSymbol::Reader u : chunk.getUserSymbols()) {
        if (!user_symbol_keys_.insert({u.getBinaryId(), u.getValue()}).second) continue;
        user_symbols_[u.getBinaryId()].push_back({u.getValue(), u.getSize(), u.getName().cStr()});
        insert_user_symbol_.bind(1, int64_t{u.getBinaryId()});
        insert_user_symbol_.bind(2, static_cast<int64_t>(u.getValue()));
        insert_user_symbol_.bind(3, static_cast<int64_t>(u.getSize()));
        insert_user_symbol_.bind(4, std::string_view(u.getName().cStr(), u.getName().size()));
        NT_RETURN_IF_ERROR(insert_user_symbol_.run());
      }
      return Status::ok();
    case Chunk::STATS: {
      counters_[current_recording_] = readStats(chunk.getStats());
      return Status::ok();
    }
    case Chunk::TRAILER: {
      Trailer::Reader t = chunk.getTrailer();
      auto meta = [&](const char* key, const std::string& value) -> Status {
        replace_meta_.bind(1, std::string_view(key));
        replace_meta_.bind(2, value);
        return replace_meta_.run();
      };
      NT_RETURN_IF_ERROR(meta("end_realtime_ns", std::to_string(t.getEndRealtimeNs())));
      NT_RETURN_IF_ERROR(meta("end_boottime_ns", std::to_string(t.getEndBoottimeNs())));
      return meta("stop_reason", t.getReason().cStr());
    }
    case Chunk::HEADER:
      ctx_.addStat("error", "reader", "extra_header", 1, ctx_.currentFile() + ": a second header chunk was ignored");
      return Status::ok();
  }
  return Status::ok();
}

Status Ingester::writeStacks() {
  std::sort(symbols_.begin(), symbols_.end(),
            [](const SymbolEntry& a, const SymbolEntry& b) { return a.address < b.address; });
  for (auto& [binary, symbols] : user_symbols_)
    std::sort(symbols.begin(), symbols.end(),
              [](const UserSymbolEntry& a, const UserSymbolEntry& b) { return a.value < b.value; });
  NT_ASSIGN_OR_RETURN(Statement insert_stack, db_.prepare("INSERT INTO stack VALUES (?, ?, ?, ?)"));
  NT_ASSIGN_OR_RETURN(Statement insert_frame, db_.prepare("INSERT INTO stack_frame VALUES (?, ?, ?, ?, ?, ?, ?)"));
  uint64_t unresolved = 0, user_unresolved = 0;
  for (const auto& [id, stack] : stacks_) {
    std::string top_frame;
    if (!stack.kernel) {
      NT_RETURN_IF_ERROR(writeUserFrames(id, stack, insert_frame, &top_frame, &user_unresolved));
      insert_stack.bind(1, int64_t{id});
      insert_stack.bind(2, int64_t{0});
      insert_stack.bind(3, static_cast<int64_t>(stack.frames.size()));
      if (top_frame.empty()) insert_stack.bindNull(4);
      else insert_stack.bind(4, top_frame);
      NT_RETURN_IF_ERROR(insert_stack.run());
      continue;
    }
    for (size_t i = 0; i < stack.frames.size(); ++i) {
      const uint64_t address = stack.frames[i];
      const SymbolEntry* symbol = nullptr;
      auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                                 [](uint64_t a, const SymbolEntry& s) { return a < s.address; });
      if (it != symbols_.begin()) {
        const SymbolEntry& candidate = *(it - 1);
        if (candidate.size == 0 || address - candidate.address < candidate.size) symbol = &candidate;
      }
      insert_frame.bind(1, int64_t{id});
      insert_frame.bind(2, static_cast<int64_t>(i));
      insert_frame.bind(3, static_cast<int64_t>(address));
      bool tracing = false;
      if (symbol) {
        tracing = isTracingFrame(symbol->name);
        insert_frame.bindStatic(4, symbol->name);
        insert_frame.bind(5, static_cast<int64_t>(address - symbol->address));
        insert_frame.bindStatic(6, symbol->module);
        if (!tracing && top_frame.empty()) top_frame = symbol->name + "+" + hex(address - symbol->address);
      } else {
        ++unresolved;
        insert_frame.bindNull(4);
        insert_frame.bindNull(5);
        insert_frame.bindNull(6);
        if (top_frame.empty()) top_frame = hex(address);
      }
      insert_frame.bind(7, int64_t{tracing});
      NT_RETURN_IF_ERROR(insert_frame.run());
    }
    insert_stack.bind(1, int64_t{id});
    insert_stack.bind(2, int64_t{stack.kernel});
    insert_stack.bind(3, static_cast<int64_t>(stack.frames.size()));
    if (top_frame.empty()) insert_stack.bindNull(4);
    else insert_stack.bind(4, top_frame);
    NT_RETURN_IF_ERROR(insert_stack.run());
  }
  if (user_unresolved > 0)
    ctx_.addStat("info", "ingest", "unresolved_user_frames", static_cast<int64_t>(user_unresolved),
                 "user stack frames no recorded mapping or ELF symbol covers (the process exited before the "
                 "recorder read its maps, or code without symbols); shown as raw addresses");
  if (unresolved > 0)
    ctx_.addStat("info", "ingest", "unresolved_frames", static_cast<int64_t>(unresolved),
                 "stack frames no kernel symbol in the recording covers; shown as raw addresses");
  return Status::ok();
}

// A user stack's frames: address -> the process's recorded mapping -> ELF
// address in the file -> the recorded function symbol of that file.
Status Ingester::writeUserFrames(uint32_t id, const StackEntry& stack, Statement& insert_frame, std::string* top_frame,
                                 uint64_t* unresolved) {
  for (size_t i = 0; i < stack.frames.size(); ++i) {
    const uint64_t address = stack.frames[i];
    // Return addresses point after the call: look up the call itself.
    const uint64_t lookup = i == 0 ? address : address - 1;
    const UserMappingEntry* mapping = nullptr;
    auto m = user_mappings_.upper_bound({stack.pid, lookup});
    if (m != user_mappings_.begin()) {
      --m;
      if (m->first.first == stack.pid && lookup < m->second.end) mapping = &m->second;
    }
    const UserSymbolEntry* symbol = nullptr;
    uint64_t elf_address = 0;
    if (mapping) {
      elf_address = lookup - mapping->start + mapping->elf_address;
      auto binary = user_symbols_.find(mapping->binary_id);
      if (binary != user_symbols_.end()) {
        const auto& symbols = binary->second;
        auto it = std::upper_bound(symbols.begin(), symbols.end(), elf_address,
                                   [](uint64_t a, const UserSymbolEntry& s) { return a < s.value; });
        if (it != symbols.begin()) {
          const UserSymbolEntry& candidate = *(it - 1);
          if (candidate.size == 0 || elf_address - candidate.value < candidate.size) symbol = &candidate;
        }
      }
    }
    insert_frame.bind(1, int64_t{id});
    insert_frame.bind(2, static_cast<int64_t>(i));
    insert_frame.bind(3, static_cast<int64_t>(address));
    if (symbol) {
      const uint64_t offset = elf_address + (i == 0 ? 0 : 1) - symbol->value;
      insert_frame.bindStatic(4, symbol->name);
      insert_frame.bind(5, static_cast<int64_t>(offset));
      insert_frame.bindStatic(6, mapping->path);
      if (top_frame->empty()) *top_frame = symbol->name + "+" + hex(offset);
    } else {
      ++*unresolved;
      insert_frame.bindNull(4);
      insert_frame.bindNull(5);
      if (mapping) insert_frame.bindStatic(6, mapping->path);
      else insert_frame.bindNull(6);
      if (top_frame->empty()) *top_frame = hex(address);
    }
    insert_frame.bind(7, int64_t{0});
    NT_RETURN_IF_ERROR(insert_frame.run());
  }
  return Status::ok();
}

Status Ingester::writeCountersAndStats() {
  NT_ASSIGN_OR_RETURN(Statement insert_counter, db_.prepare("INSERT INTO counter VALUES (?, ?, ?, ?, ?)"));
  for (const auto& [recording, counters] : counters_) {
    for (const CounterRow& c : counters) {
      insert_counter.bind(1, c.family);
      insert_counter.bind(2, c.name);
      insert_counter.bind(3, int64_t{c.cpu});
      insert_counter.bind(4, static_cast<int64_t>(c.value));
      insert_counter.bind(5, int64_t{c.data_loss});
      NT_RETURN_IF_ERROR(insert_counter.run());
    }
  }
  NT_ASSIGN_OR_RETURN(Statement insert_stat, db_.prepare("INSERT INTO stats VALUES (?, ?, ?, ?, ?)"));
  for (const IngestContext::StatRow& row : ctx_.statRows()) {
    insert_stat.bind(1, row.severity);
    insert_stat.bind(2, row.source);
    insert_stat.bind(3, row.name);
    insert_stat.bind(4, row.value);
    insert_stat.bind(5, row.detail);
    NT_RETURN_IF_ERROR(insert_stat.run());
  }
  return Status::ok();
}

void Ingester::maybeProgress(uint64_t file_bytes_used, bool final_line) {
  if (!options_.progress || !options_.progress_out) return;
  const Clock::time_point now = Clock::now();
  if (final_line) {
    if (progress_printed_) std::fputc('\n', options_.progress_out);
    return;
  }
  if (now - last_progress_ < std::chrono::seconds(1)) return;
  last_progress_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double mb = static_cast<double>(bytes_done_ + file_bytes_used) / 1e6;
  std::fprintf(options_.progress_out, "\ringest: %llu rows, %.1f MB read, %.1f MB/s, %.0f rows/s   ",
               static_cast<unsigned long long>(ctx_.rows()), mb, seconds > 0 ? mb / seconds : 0.0,
               seconds > 0 ? static_cast<double>(ctx_.rows()) / seconds : 0.0);
  std::fflush(options_.progress_out);
  progress_printed_ = true;
}

}  // namespace

const std::string* IngestContext::enumName(const std::string& enum_name, int64_t value) const {
  auto type = enums_.find(enum_name);
  if (type == enums_.end()) return nullptr;
  auto it = type->second.find(value);
  return it == type->second.end() ? nullptr : &it->second;
}

void IngestContext::addEnum(const std::string& enum_name, int64_t value, const std::string& name) {
  enums_[enum_name].emplace(value, name);
}

void IngestContext::addStat(std::string severity, std::string source, std::string name, int64_t value,
                            std::string detail) {
  stats_.push_back({std::move(severity), std::move(source), std::move(name), value, std::move(detail)});
}

void IngestContext::addUnknownBatchKind(const std::string& family) {
  const bool vowel = !family.empty() && std::string_view("aeiou").find(family[0]) != std::string_view::npos;
  addStat("data_loss", family, "unknown_batch_kind", 1,
          current_file_ + ": " + (vowel ? "an " : "a ") + family +
              " batch of a kind this nettrail does not know was skipped");
}

void IngestContext::addShortColumns(const std::string& family, uint64_t batches, uint64_t rows,
                                    const std::string& what) {
  addStat("data_loss", family, "short_columns", static_cast<int64_t>(rows),
          std::to_string(batches) + " " + family + " batch(es) had columns of unequal length; " + what +
              " beyond the shortest were skipped");
}

bool isTracingFrame(std::string_view symbol) {
  static constexpr std::string_view kPrefixes[] = {"bpf_prog_",   "bpf_trace_run",          "__bpf_trace_",
                                                   "__traceiter_", "trace_event_raw_event_", "perf_trace_",
                                                   "bpf_get_stack"};
  for (std::string_view prefix : kPrefixes)
    if (symbol.substr(0, prefix.size()) == prefix) return true;
  return false;
}

Status ingestRecordings(const std::vector<std::string>& files, Db& db, const IngestOptions& options,
                        IngestSummary* summary) {
  Ingester ingester(db, options);
  return ingester.run(files, summary);
}

}  // namespace nettrail
