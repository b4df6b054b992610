#pragma once
// Where the recorder's chunks go: the current file segment, the append-only
// tables (interfaces, processes, stacks, kernel symbols) that batches refer
// to, rotation by size/time with a bounded number of files, and counters.
// Tables are emitted before the first batch that refers to them, and again in
// every new segment, so each file stands alone.
#include <capnp/message.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "nettrail/recording.h"
#include "snapshot/kallsyms.h"

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

  RecordingSink(std::string base_path, RotationPolicy policy, int zstd_level, const Kallsyms* kallsyms);
  ~RecordingSink();

  Status open(HeaderFiller header_filler);
  // Writes a batch chunk; pending table entries go first. May rotate after it.
  Status writeBatch(capnp::MallocMessageBuilder& message);
  // Writes a non-batch chunk (clock anchor, stats).
  Status writeChunk(capnp::MallocMessageBuilder& message);
  Status close(const std::string& reason);

  // Hot-path table interning: cheap when already known.
  void noteProcess(uint32_t tid, uint32_t pid, const char* comm, size_t comm_len);
  void noteInterface(uint32_t netns, uint32_t ifindex, const std::string& name);
  bool knowsInterface(uint32_t netns, uint32_t ifindex) const {
    return interfaces_.count(interfaceKey(netns, ifindex)) != 0;
  }
  // Records a kernel stack under `stack_id` (recording-wide, nonzero), with the
  // symbols of its frames. Call once per id.
  void noteKernelStack(uint32_t stack_id, const uint64_t* frames, size_t depth);
  bool knowsStack(uint32_t stack_id) const { return stacks_.count(stack_id) != 0; }
  // Ensures the symbol covering `address` (e.g. a drop location) is recorded.
  void noteKernelAddress(uint64_t address);

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
  };
  // Everything known (re-emitted in each segment) and what is pending.
  std::unordered_map<uint32_t, ProcessInfo> processes_;
  std::unordered_map<uint64_t, std::string> interfaces_;
  std::unordered_map<uint32_t, StackInfo> stacks_;
  std::unordered_set<size_t> symbols_;  // Kallsyms indexes
  std::vector<uint32_t> pending_processes_;
  std::vector<uint64_t> pending_interfaces_;
  std::vector<uint32_t> pending_stacks_;
  std::vector<size_t> pending_symbols_;
};

}  // namespace nettrail
