#pragma once
// Where the recorder's chunks go: the current file segment, the append-only
// tables (interfaces, processes, stacks, kernel symbols) that batches refer
// to, rotation by size/time with a bounded number of files, and counters.
// Tables are emitted before the first batch that refers to them, and again in
// every new segment, so each file stands alone.
#include <capnp/message.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "nettrail/recording.h"
#include "snapshot/kallsyms.h"
#include "snapshot/user_symbols.h"

namespace nettrail {

struct RotationPolicy {
  uint64_t max_bytes = 0;       // 0 = no size rotation
  double max_seconds = 0;       // 0 = no time rotation
  uint32_t max_files = 0;       // 0 = keep all; else delete the oldest beyond this
};

class RecordingSink {
 public:
  // `header_builder` fills a Header for segment N (called at start and on rotation).
  using HeaderFiller = std::function<void(Header::Builder, uint32_t segment)>;

  // Every segment is an OutputFile named at creation, with `output`'s mode
  // and replace policy, in the directory of `base_path` opened once by open().
  RecordingSink(std::string base_path, RotationPolicy policy, int zstd_level, const Kallsyms* kallsyms,
                OutputOptions output = {});
  ~RecordingSink();

  // Before anything is loaded: an error naming the first file that has the
  // name of `base_path` or, when `rotating`, of one of its segments (a
  // symbolic link counts, even one pointing nowhere).
  static Status checkNamesFree(const std::string& base_path, bool rotating, const std::string& hint);

  Status open(HeaderFiller header_filler);
  // Writes a batch chunk; pending table entries go first. May rotate after it.
  Status writeBatch(capnp::MallocMessageBuilder& message);
  // Writes a non-batch chunk (stats).
  Status writeChunk(capnp::MallocMessageBuilder& message);
  // Samples the clocks now and writes them as a ClockAnchor chunk.
  Status writeClockAnchor();
  Status close(const std::string& reason);

  // Hot-path table interning: cheap when already known.
  void noteProcess(uint32_t tid, uint32_t pid, const char* comm, size_t comm_len);
  void noteInterface(uint32_t netns, uint32_t ifindex, const std::string& name);
  bool knowsInterface(uint32_t netns, uint32_t ifindex) const {
    return interfaces_.count(interfaceKey(netns, ifindex)) != 0;
  }
  // Ensures the symbol covering `address` (e.g. a drop location) is recorded.
  void noteKernelAddress(uint64_t address);
  // Records a stack under an id the sink assigns, the same for the same frames
  // in the same address space (kernel: pid 0); 0 is never an id ("no stack").
  // A user stack is symbolized now, while the process lives: the mapping of each
  // frame (once per pid and mapping) and the ELF function covering it go into
  // the UserMappings/UserSymbols tables. Call from the thread that drains rings.
  uint32_t internStack(bool kernel, uint32_t pid, const uint64_t* frames, size_t depth);
  // User-stack symbolization that could not be done: the process had exited or
  // the address was in no executable mapping (counted per stack and per frame).
  uint64_t userStacksUnsymbolized() const { return user_stacks_unsymbolized_; }
  uint64_t userFramesUnsymbolized() const { return user_frames_unsymbolized_; }
  // A process exited: forget its maps so a reused pid is read afresh.
  void forgetProcessMaps(uint32_t pid) { user_symbolizer_.forget(pid); }

  uint64_t bytesWritten() const { return bytes_total_ + (writer_ ? writer_->bytesWritten() : 0); }
  uint64_t uncompressedBytes() const { return raw_total_ + (writer_ ? writer_->uncompressedBytes() : 0); }
  const std::vector<std::string>& files() const { return files_; }

 private:
  static uint64_t interfaceKey(uint32_t netns, uint32_t ifindex) {
    return (static_cast<uint64_t>(netns) << 32) | ifindex;
  }
  Status startSegment();
  Status flushTables();
  Status maybeRotate();
  std::string segmentPath(uint32_t segment) const;

  std::string base_path_;
  RotationPolicy policy_;
  int zstd_level_;
  OutputOptions output_;
  std::shared_ptr<const OutputDirectory> dir_;  // base_path_'s, opened once
  const Kallsyms* kallsyms_;
  HeaderFiller header_filler_;
  std::unique_ptr<RecordingWriter> writer_;
  uint32_t segment_ = 0;
  uint64_t segment_start_ns_ = 0;
  uint64_t bytes_total_ = 0;
  uint64_t raw_total_ = 0;
  std::vector<std::string> files_;

  struct ProcessInfo {
    uint32_t pid;
    std::string comm;
  };
  struct StackInfo {
    std::vector<uint64_t> frames;
    bool kernel = true;
    uint32_t pid = 0;
  };
  struct MappingRecord {
    uint32_t pid;
    uint64_t start, end, offset, elf_address;
    uint32_t binary_id;
    std::string path, build_id;
  };
  struct UserSymbolRecord {
    uint32_t binary_id;
    uint64_t value, size;
    std::string name;
  };
  void noteUserFrames(uint32_t pid, const uint64_t* frames, size_t depth);
  // Everything known (re-emitted in each segment) and what is pending.
  std::unordered_map<uint32_t, ProcessInfo> processes_;
  // noteProcess fast path: recently seen (tid, comm) pairs, one slot per tid
  // modulo the size. A storm's senders interleave in the ring, so one slot
  // (the last thread seen) would miss on every other event.
  struct RecentProcess {
    bool valid = false;
    uint32_t tid = 0;
    char comm[16] = {};
  };
  RecentProcess recent_processes_[64];
  std::unordered_map<uint64_t, std::string> interfaces_;
  std::unordered_map<uint32_t, StackInfo> stacks_;
  std::unordered_set<size_t> symbols_;  // Kallsyms indexes
  std::vector<uint32_t> pending_processes_;
  std::vector<uint64_t> pending_interfaces_;
  std::vector<uint32_t> pending_stacks_;
  std::vector<size_t> pending_symbols_;
  // Interned stacks and user symbolization (re-emitted in each segment too).
  std::map<std::string, uint32_t> interned_;  // (kernel, pid, frames) bytes -> id
  uint32_t next_interned_id_ = 1;
  UserSymbolizer user_symbolizer_;
  std::map<std::pair<uint32_t, uint64_t>, MappingRecord> mappings_;  // (pid, start)
  std::map<std::pair<uint32_t, uint64_t>, UserSymbolRecord> user_symbols_;  // (binary, value)
  std::vector<std::pair<uint32_t, uint64_t>> pending_mappings_, pending_user_symbols_;
  uint64_t user_stacks_unsymbolized_ = 0, user_frames_unsymbolized_ = 0;
};

}  // namespace nettrail
