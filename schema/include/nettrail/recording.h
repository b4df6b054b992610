#pragma once
// Writing and reading recording files: zstd-framed Cap'n Proto chunks
// (format described at the top of schema/recording.capnp).
#include <capnp/message.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nettrail/output_file.h"
#include "nettrail/status.h"
#include "recording.capnp.h"

namespace nettrail {

// Magic of the leading zstd skippable frame (0x184D2A50..5F is the skippable range).
constexpr uint32_t kSkippableMagic = 0x184D2A5E;
constexpr char kFileMagic[8] = {'N', 'E', 'T', 'T', 'R', 'A', 'I', 'L'};
constexpr uint32_t kFormatVersion = 1;
// A data frame larger than this is treated as corrupt rather than allocated.
constexpr uint64_t kMaxChunkBytes = 1ull << 30;

namespace detail {
// The memory of a FramedMessageBuilder, allocated (zeroed) before its Cap'n
// Proto base is constructed on it.
struct SpareWordBuffer {
  explicit SpareWordBuffer(size_t words);
  ~SpareWordBuffer();
  SpareWordBuffer(const SpareWordBuffer&) = delete;
  SpareWordBuffer& operator=(const SpareWordBuffer&) = delete;
  capnp::word* words;
};
}  // namespace detail

// A message built in one fixed first segment with one spare word in front of
// it. While the message fits in that segment, the spare word takes Cap'n
// Proto's segment table and the framed message is a single array, which the
// writer compresses in place instead of feeding zstd piece by piece (zstd
// then copies nothing). For a batch initialised once at full size and refilled
// in place, as the drop family's details are.
class FramedMessageBuilder : private detail::SpareWordBuffer, public capnp::MallocMessageBuilder {
 public:
  explicit FramedMessageBuilder(size_t first_segment_words);
  // The segment table and the segment, contiguous; empty if the message has
  // grown past its first segment.
  kj::ArrayPtr<const capnp::byte> framed();

 private:
  size_t first_segment_words_;
};

class RecordingWriter {
 public:
  struct Options {
    int zstd_level = 3;
    // Mode, replace, and durable: fsync file and directory on close.
    OutputOptions output;
  };
  // Creates `path` (an OutputFile named at once, so the file is readable while
  // it grows) and writes the file magic. The header chunk must be the first
  // chunk written.
  static Result<std::unique_ptr<RecordingWriter>> create(const std::string& path,
                                                         const Options& options);
  static Result<std::unique_ptr<RecordingWriter>> create(const std::string& path) {
    return create(path, Options());
  }
  // The same into a file already created (kNow), e.g. relative to a directory fd.
  static Result<std::unique_ptr<RecordingWriter>> create(std::unique_ptr<OutputFile> file, const Options& options);
  ~RecordingWriter();
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  // Compresses and appends one message whose root is a Chunk as one zstd frame.
  // The writer sets Chunk.seq. A failed write (ENOSPC...) leaves the file
  // readable up to the previous frame; later writes fail with the same error.
  Status write(capnp::MessageBuilder& chunk_message);
  // Flushes, optionally fsyncs, closes. Idempotent.
  Status close();

  const std::string& path() const { return path_; }
  uint64_t bytesWritten() const { return bytes_written_; }
  uint64_t chunksWritten() const { return next_seq_; }
  uint64_t uncompressedBytes() const { return uncompressed_bytes_; }

 private:
  RecordingWriter() = default;
  Status writeAll(const void* data, size_t size);

  std::string path_;
  Options options_;
  std::unique_ptr<OutputFile> file_;
  int fd_ = -1;  // file_'s, while open
  void* cctx_ = nullptr;  // ZSTD_CCtx
  std::vector<char> compressed_;
  std::vector<uint32_t> table_;  // Cap'n Proto segment table of the chunk being written
  uint64_t next_seq_ = 0;
  uint64_t bytes_written_ = 0;
  uint64_t uncompressed_bytes_ = 0;
  Status sticky_error_;
};

// What a reader could and could not use; every field is shown by `nettrail info`.
struct ReadReport {
  uint64_t file_bytes = 0;
  uint64_t frames_read = 0;        // data frames decoded, header included
  uint64_t bytes_used = 0;         // up to the end of the last whole frame
  bool has_trailer = false;
  bool truncated = false;          // the file ends inside a frame
  bool corrupt = false;            // a frame failed its checksum or did not decode
  uint64_t missing_chunks = 0;     // gaps in Chunk.seq
  uint64_t unknown_batches = 0;    // Batch members this reader does not know
  std::vector<std::string> problems;  // human-readable, one per issue, with byte offsets
};

class RecordingReader {
 public:
  // Opens and validates the magic, version and header chunk. A foreign file, a
  // newer format version or a file without a readable header is an error.
  static Result<std::unique_ptr<RecordingReader>> open(const std::string& path);
  // Same, over bytes in memory (copied). `name` is used in messages.
  static Result<std::unique_ptr<RecordingReader>> fromBytes(std::string bytes,
                                                            const std::string& name);
  ~RecordingReader();
  RecordingReader(const RecordingReader&) = delete;
  RecordingReader& operator=(const RecordingReader&) = delete;

  Header::Reader header() const;
  const std::string& name() const { return name_; }

  // Calls `visit` for every chunk after the header, in file order. Stops at the
  // first torn or corrupt frame and records it in report(); that is not an error
  // return. An error returned by `visit` stops the walk and is returned.
  Status forEachChunk(const std::function<Status(Chunk::Reader)>& visit);
  const ReadReport& report() const { return report_; }

 private:
  RecordingReader() = default;
  Status parseHeader();

  std::string name_;
  std::string owned_bytes_;           // fromBytes()
  void* mapping_ = nullptr;           // open(): read-only mmap of the file
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t data_start_ = 0;  // first byte after the header frame
  std::unique_ptr<capnp::MessageReader> header_message_;
  std::vector<capnp::word> header_words_;
  ReadReport report_;
};

}  // namespace nettrail
