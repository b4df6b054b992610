#include "recording_sink.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "snapshot/host.h"

namespace nettrail {

RecordingSink::RecordingSink(std::string base_path, RotationPolicy policy, int zstd_level,
                             const Kallsyms* kallsyms, OutputOptions output)
    : base_path_(std::move(base_path)),
      policy_(policy),
      zstd_level_(zstd_level),
      output_(std::move(output)),
      kallsyms_(kallsyms) {}

RecordingSink::~RecordingSink() = default;

namespace {

// host.ntr -> host.1.ntr; names without the extension just get .N
std::string segmentPathOf(const std::string& base_path, uint32_t segment) {
  if (segment == 0) return base_path;
  std::string path = base_path;
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  std::string suffix = "." + std::to_string(segment);
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) return path.insert(dot, suffix);
  return path + suffix;
}

std::string fileNameOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::string RecordingSink::segmentPath(uint32_t segment) const { return segmentPathOf(base_path_, segment); }

Status RecordingSink::checkNamesFree(const std::string& base_path, bool rotating, const std::string& hint) {
  std::string name;
  NT_ASSIGN_OR_RETURN(std::shared_ptr<const OutputDirectory> dir, OutputDirectory::openFor(base_path, &name));
  auto taken = [&](const std::string& what) {
    return Status::error(dir->pathOf(what), dir->isSymlink(what) ? " exists (a symbolic link)" : " exists", "; ", hint);
  };
  if (dir->has(name)) return taken(name);
  if (!rotating) return Status::ok();
  // Segment N is named like segmentPathOf(name, N): the part before and after
  // its number are fixed.
  const std::string pattern = segmentPathOf(name, 4242);
  const size_t at = pattern.find(".4242");
  const std::string before = pattern.substr(0, at + 1), after = pattern.substr(at + 5);
  DIR* listing = fdopendir(dup(dir->fd()));
  if (!listing) return Status::error("list ", dir->pathOf("."), ": ", errnoText(errno));
  std::string found;
  while (dirent* entry = readdir(listing)) {
    const std::string entry_name = entry->d_name;
    if (entry_name.size() <= before.size() + after.size() || entry_name.compare(0, before.size(), before) != 0 ||
        entry_name.compare(entry_name.size() - after.size(), after.size(), after) != 0)
      continue;
    const std::string number = entry_name.substr(before.size(), entry_name.size() - before.size() - after.size());
    if (number.find_first_not_of("0123456789") == std::string::npos && number[0] != '0') {
      found = entry_name;
      break;
    }
  }
  closedir(listing);
  return found.empty() ? Status::ok() : taken(found);
}

Status RecordingSink::open(HeaderFiller header_filler) {
  header_filler_ = std::move(header_filler);
  // The directory is opened once: segments are created and removed relative
  // to it, also after the recorder has given up the privileges it opened with.
  std::string name;
  NT_ASSIGN_OR_RETURN(dir_, OutputDirectory::openFor(base_path_, &name));
  return startSegment();
}

Status RecordingSink::startSegment() {
  RecordingWriter::Options options;
  options.zstd_level = zstd_level_;
  options.output = output_;
  std::string path = segmentPath(segment_);
  NT_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> file,
                      OutputFile::create(dir_, fileNameOf(path), OutputFile::Naming::kNow, output_));
  NT_ASSIGN_OR_RETURN(writer_, RecordingWriter::create(std::move(file), options));
  files_.push_back(path);
  if (policy_.max_files > 0) {
    while (files_.size() > policy_.max_files) {
      (void)dir_->remove(fileNameOf(files_.front()));
      files_.erase(files_.begin());
    }
  }
  segment_start_ns_ = boottimeNs();
  {
    capnp::MallocMessageBuilder message;
    header_filler_(message.initRoot<Chunk>().initHeader(), segment_);
    NT_RETURN_IF_ERROR(writer_->write(message));
  }
  NT_RETURN_IF_ERROR(writeClockAnchor());
  // A new segment repeats every table entry so it can be read alone.
  pending_processes_.clear();
  pending_interfaces_.clear();
  pending_stacks_.clear();
  pending_symbols_.clear();
  pending_mappings_.clear();
  pending_user_symbols_.clear();
  for (const auto& [key, mapping] : mappings_) pending_mappings_.push_back(key);
  for (const auto& [key, symbol] : user_symbols_) pending_user_symbols_.push_back(key);
  for (const auto& [tid, info] : processes_) pending_processes_.push_back(tid);
  for (const auto& [key, name] : interfaces_) pending_interfaces_.push_back(key);
  for (const auto& [id, info] : stacks_) pending_stacks_.push_back(id);
  for (size_t index : symbols_) pending_symbols_.push_back(index);
  return Status::ok();
}

void RecordingSink::noteProcess(uint32_t tid, uint32_t pid, const char* comm, size_t comm_len) {
  RecentProcess& recent = recent_processes_[tid % (sizeof(recent_processes_) / sizeof(recent_processes_[0]))];
  const bool cacheable = comm_len == sizeof(recent.comm);
  if (cacheable && recent.valid && recent.tid == tid && std::memcmp(comm, recent.comm, sizeof(recent.comm)) == 0)
    return;
  if (cacheable) {
    recent.valid = true;
    recent.tid = tid;
    std::memcpy(recent.comm, comm, sizeof(recent.comm));
  }
  size_t len = strnlen(comm, comm_len);
  auto it = processes_.find(tid);
  if (it != processes_.end() && it->second.comm.size() == len &&
      std::memcmp(it->second.comm.data(), comm, len) == 0)
    return;
  processes_[tid] = ProcessInfo{pid, std::string(comm, len)};
  pending_processes_.push_back(tid);
}

void RecordingSink::noteInterface(uint32_t netns, uint32_t ifindex, const std::string& name) {
  uint64_t key = interfaceKey(netns, ifindex);
  auto it = interfaces_.find(key);
  if (it != interfaces_.end() && it->second == name) return;
  interfaces_[key] = name;
  pending_interfaces_.push_back(key);
}

void RecordingSink::noteKernelAddress(uint64_t address) {
  if (!kallsyms_) return;
  const KernelSymbolEntry* symbol = kallsyms_->find(address);
  if (!symbol) return;
  size_t index = kallsyms_->indexOf(symbol);
  if (symbols_.insert(index).second) pending_symbols_.push_back(index);
}

uint32_t RecordingSink::internStack(bool kernel, uint32_t pid, const uint64_t* frames, size_t depth) {
  if (kernel) pid = 0;
  std::string key(1, kernel ? 'k' : 'u');
  key.append(reinterpret_cast<const char*>(&pid), sizeof(pid));
  key.append(reinterpret_cast<const char*>(frames), depth * sizeof(uint64_t));
  auto it = interned_.find(key);
  if (it != interned_.end()) return it->second;
  const uint32_t id = next_interned_id_++;
  interned_.emplace(std::move(key), id);
  StackInfo info;
  info.frames.assign(frames, frames + depth);
  info.kernel = kernel;
  info.pid = pid;
  if (kernel) {
    for (size_t i = 0; i < depth; ++i) noteKernelAddress(frames[i]);
  } else {
    noteUserFrames(pid, frames, depth);
  }
  stacks_[id] = std::move(info);
  pending_stacks_.push_back(id);
  return id;
}

void RecordingSink::noteUserFrames(uint32_t pid, const uint64_t* frames, size_t depth) {
  uint64_t missing = 0;
  for (size_t i = 0; i < depth; ++i) {
    // Return addresses point after the call; look up the call itself.
    const uint64_t address = i == 0 ? frames[i] : frames[i] - 1;
    const UserMappingEntry* mapping = user_symbolizer_.find(pid, address);
    if (!mapping) {
      ++missing;
      continue;
    }
    const std::pair<uint32_t, uint64_t> mapping_key{pid, mapping->start};
    if (!mappings_.count(mapping_key)) {
      mappings_[mapping_key] = MappingRecord{pid,
                                             mapping->start,
                                             mapping->end,
                                             mapping->offset,
                                             mapping->elf_address,
                                             mapping->binary ? mapping->binary->id : 0,
                                             mapping->path,
                                             mapping->binary ? mapping->binary->build_id : std::string()};
      pending_mappings_.push_back(mapping_key);
    }
    if (!mapping->binary) continue;
    const long index = mapping->binary->symbolAt(address - mapping->start + mapping->elf_address);
    if (index < 0) continue;
    const UserElfSymbol& symbol = mapping->binary->symbols[static_cast<size_t>(index)];
    const std::pair<uint32_t, uint64_t> symbol_key{mapping->binary->id, symbol.value};
    if (user_symbols_.count(symbol_key)) continue;
    user_symbols_[symbol_key] = UserSymbolRecord{mapping->binary->id, symbol.value, symbol.size, symbol.name};
    pending_user_symbols_.push_back(symbol_key);
  }
  if (missing > 0) {
    ++user_stacks_unsymbolized_;
    user_frames_unsymbolized_ += missing;
  }
}

Status RecordingSink::flushTables() {
  if (!pending_mappings_.empty()) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<Chunk>().initUserMappings(static_cast<unsigned>(pending_mappings_.size()));
    unsigned i = 0;
    for (const auto& key : pending_mappings_) {
      const MappingRecord& m = mappings_.at(key);
      list[i].setPid(m.pid);
      list[i].setStart(m.start);
      list[i].setEnd(m.end);
      list[i].setFileOffset(m.offset);
      list[i].setElfAddress(m.elf_address);
      list[i].setBinaryId(m.binary_id);
      list[i].setPath(m.path);
      list[i].setBuildId(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(m.build_id.data()),
                                             m.build_id.size()));
      ++i;
    }
    NT_RETURN_IF_ERROR(writer_->write(message));
    pending_mappings_.clear();
  }
  if (!pending_user_symbols_.empty()) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<Chunk>().initUserSymbols(static_cast<unsigned>(pending_user_symbols_.size()));
    unsigned i = 0;
    for (const auto& key : pending_user_symbols_) {
      const UserSymbolRecord& s = user_symbols_.at(key);
      list[i].setBinaryId(s.binary_id);
      list[i].setValue(s.value);
      list[i].setSize(s.size);
      list[i].setName(s.name);
      ++i;
    }
    NT_RETURN_IF_ERROR(writer_->write(message));
    pending_user_symbols_.clear();
  }
  if (!pending_symbols_.empty()) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<Chunk>().initKernelSymbols(static_cast<unsigned>(pending_symbols_.size()));
    unsigned i = 0;
    for (size_t index : pending_symbols_) {
      const KernelSymbolEntry& symbol = kallsyms_->at(index);
      list[i].setAddress(symbol.address);
      list[i].setSize(symbol.size);
      list[i].setName(symbol.name);
      list[i].setModule(symbol.module);
      ++i;
    }
    NT_RETURN_IF_ERROR(writer_->write(message));
    pending_symbols_.clear();
  }
  if (!pending_stacks_.empty()) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<Chunk>().initStacks(static_cast<unsigned>(pending_stacks_.size()));
    unsigned i = 0;
    for (uint32_t id : pending_stacks_) {
      const StackInfo& info = stacks_.at(id);
      list[i].setId(id);
      list[i].setKernel(info.kernel);
      list[i].setPid(info.pid);
      auto frames = list[i].initFrames(static_cast<unsigned>(info.frames.size()));
      for (unsigned f = 0; f < info.frames.size(); ++f) frames.set(f, info.frames[f]);
      ++i;
    }
    NT_RETURN_IF_ERROR(writer_->write(message));
    pending_stacks_.clear();
  }
  if (!pending_interfaces_.empty()) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<Chunk>().initInterfaces(static_cast<unsigned>(pending_interfaces_.size()));
    unsigned i = 0;
    for (uint64_t key : pending_interfaces_) {
      list[i].setNetns(static_cast<uint32_t>(key >> 32));
      list[i].setIfindex(static_cast<uint32_t>(key));
      list[i].setName(interfaces_.at(key));
      ++i;
    }
    NT_RETURN_IF_ERROR(writer_->write(message));
    pending_interfaces_.clear();
  }
  if (!pending_processes_.empty()) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<Chunk>().initProcesses(static_cast<unsigned>(pending_processes_.size()));
    unsigned i = 0;
    for (uint32_t tid : pending_processes_) {
      const ProcessInfo& info = processes_.at(tid);
      list[i].setTid(tid);
      list[i].setPid(info.pid);
      list[i].setComm(info.comm);
      ++i;
    }
    NT_RETURN_IF_ERROR(writer_->write(message));
    pending_processes_.clear();
  }
  return Status::ok();
}

Status RecordingSink::writeBatch(capnp::MallocMessageBuilder& message) {
  if (!writer_) return Status::error("recording is not open");
  NT_RETURN_IF_ERROR(flushTables());
  NT_RETURN_IF_ERROR(writer_->write(message));
  return maybeRotate();
}

Status RecordingSink::writeClockAnchor() {
  if (!writer_) return Status::error("recording is not open");
  ClockSample clocks = sampleClocks();
  capnp::MallocMessageBuilder message;
  auto anchor = message.initRoot<Chunk>().initClockAnchor();
  anchor.setBoottimeNs(clocks.boottime_ns);
  anchor.setRealtimeNs(clocks.realtime_ns);
  anchor.setMonotonicNs(clocks.monotonic_ns);
  return writer_->write(message);
}

Status RecordingSink::writeChunk(capnp::MallocMessageBuilder& message) {
  if (!writer_) return Status::error("recording is not open");
  return writer_->write(message);
}

Status RecordingSink::maybeRotate() {
  bool by_size = policy_.max_bytes > 0 && writer_->bytesWritten() >= policy_.max_bytes;
  bool by_time = policy_.max_seconds > 0 &&
                 static_cast<double>(boottimeNs() - segment_start_ns_) / 1e9 >= policy_.max_seconds;
  if (!by_size && !by_time) return Status::ok();
  NT_RETURN_IF_ERROR(close(by_size ? "rotation (size)" : "rotation (time)"));
  ++segment_;
  return startSegment();
}

Status RecordingSink::close(const std::string& reason) {
  if (!writer_) return Status::ok();
  Status status = flushTables();
  if (status.isOk()) {
    ClockSample clocks = sampleClocks();
    capnp::MallocMessageBuilder message;
    auto trailer = message.initRoot<Chunk>().initTrailer();
    trailer.setEndRealtimeNs(clocks.realtime_ns);
    trailer.setEndBoottimeNs(clocks.boottime_ns);
    trailer.setDataChunks(writer_->chunksWritten());
    trailer.setReason(reason);
    if (reason.rfind("rotation", 0) == 0) trailer.setNextSegment(segmentPath(segment_ + 1));
    status = writer_->write(message);
  }
  Status close_status = writer_->close();
  bytes_total_ += writer_->bytesWritten();
  raw_total_ += writer_->uncompressedBytes();
  writer_.reset();
  return status.isOk() ? close_status : status;
}

}  // namespace nettrail
