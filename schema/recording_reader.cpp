#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader, ZSTD_decompressBound
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "nettrail/recording.h"

namespace nettrail {
namespace {

constexpr size_t kMagicFrameBytes = 8 + sizeof(kFileMagic) + 4;

// Limits for decoding an untrusted chunk of `words` words. Cap'n Proto counts
// every word a reader visits, and every element of a list of zero-sized
// elements (Void, empty structs) as one word: a chunk of a few bytes can declare
// such a list of 2^29 elements. The limit lets a caller read each part of the
// message several times over, never walk far more than the message holds.
capnp::ReaderOptions readerOptions(size_t words) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 8 * static_cast<uint64_t>(words) + (1u << 20);
  options.nestingLimit = 64;
  return options;
}

struct DecodedFrame {
  std::vector<capnp::word> owned;      // without a FrameScratch
  kj::ArrayPtr<const capnp::word> words;  // the chunk: in `owned` or in the scratch buffer
  size_t compressed_size = 0;
};

// Reused over the frames of one walk: a decompression context, and a buffer
// grown to the largest chunk so far. A fresh zero-filled buffer and context per
// frame cost more than decompressing (page faults on every large allocation).
class FrameScratch {
 public:
  FrameScratch() : dctx_(ZSTD_createDCtx()) {}
  ~FrameScratch() { ZSTD_freeDCtx(dctx_); }
  FrameScratch(const FrameScratch&) = delete;
  FrameScratch& operator=(const FrameScratch&) = delete;

  ZSTD_DCtx* dctx() const { return dctx_; }
  // Room for `words` words; contents undefined (decompression overwrites them).
  capnp::word* reserve(size_t words) {
    if (words > capacity_) {
      buffer_.reset(new capnp::word[words]);
      capacity_ = words;
    }
    return buffer_.get();
  }

 private:
  ZSTD_DCtx* dctx_;
  std::unique_ptr<capnp::word[]> buffer_;
  size_t capacity_ = 0;
};

constexpr uint32_t kZstdFrameMagic = 0xFD2FB528;

// Whether the `available` bytes at `frame`, which run to the end of the file,
// are the start of an undamaged frame: the file was cut off inside it. Bytes
// that could not begin a nettrail frame, or that fail to decode before they run
// out, are damage instead.
bool isTornFrame(const uint8_t* frame, size_t available) {
  uint8_t magic[4];
  std::memcpy(magic, &kZstdFrameMagic, 4);
  if (std::memcmp(frame, magic, std::min<size_t>(available, 4)) != 0) return false;
  ZSTD_frameHeader fh;
  size_t need = ZSTD_getFrameHeader(&fh, frame, available);
  if (ZSTD_isError(need)) return false;
  if (need > 0) return true;  // the cut is inside the frame header
  if (fh.frameType != ZSTD_frame || !fh.checksumFlag ||
      fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN)
    return false;
  // Decode what is there: a cut asks for more input, damage is an error.
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) return true;
  std::vector<char> sink(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{frame, available, 0};
  bool torn = true;
  while (in.pos < in.size) {
    ZSTD_outBuffer out{sink.data(), sink.size(), 0};
    const size_t before = in.pos;
    size_t r = ZSTD_decompressStream(dctx, &out, &in);
    // An error is damage; r == 0 means a whole frame ended, so it was not cut off;
    // no progress with input left should not happen and is not trusted either.
    if (ZSTD_isError(r) || r == 0 || (in.pos == before && out.pos == 0)) {
      torn = false;
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  if (!torn) return false;
  // A cut leaves nothing after the torn frame. A damaged block size can also run
  // a frame past the end of the file, but then whole frames still follow it.
  for (size_t at = 1; at + 4 <= available; ++at) {
    const void* hit = memmem(frame + at, available - at, magic, 4);
    if (!hit) break;
    at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - frame);
    if (!ZSTD_isError(ZSTD_findFrameCompressedSize(frame + at, available - at))) return false;
  }
  return true;
}

// Decodes the zstd frame at `offset`, into `scratch` when given (valid until its
// next use), else into memory the result owns. On failure returns a message and
// sets `torn` when the file simply ends inside the frame.
Result<DecodedFrame> decodeFrame(const uint8_t* data, size_t size, size_t offset, bool* torn,
                                 FrameScratch* scratch = nullptr) {
  *torn = false;
  const uint8_t* frame = data + offset;
  const size_t available = size - offset;
  size_t compressed = ZSTD_findFrameCompressedSize(frame, available);
  if (ZSTD_isError(compressed)) {
    // Distinguish "the bytes stop here" from "these bytes are not a frame".
    *torn = isTornFrame(frame, available);
    return Status::error("frame at byte ", offset, ": ", ZSTD_getErrorName(compressed));
  }
  ZSTD_frameHeader fh;
  if (ZSTD_isError(ZSTD_getFrameHeader(&fh, frame, compressed)) || fh.frameType != ZSTD_frame)
    return Status::error("frame at byte ", offset, ": not a zstd data frame");
  if (!fh.checksumFlag)
    return Status::error("frame at byte ", offset, ": no checksum (not written by nettrail-record)");
  unsigned long long content = fh.frameContentSize;
  if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR)
    return Status::error("frame at byte ", offset, ": no content size (not written by nettrail-record)");
  if (content > kMaxChunkBytes || content % sizeof(capnp::word) != 0 || content == 0)
    return Status::error("frame at byte ", offset, ": implausible chunk size ", content);
  // A forged content size must not make us allocate more than the blocks can produce.
  unsigned long long bound = ZSTD_decompressBound(frame, compressed);
  if (bound == ZSTD_CONTENTSIZE_ERROR || content > bound)
    return Status::error("frame at byte ", offset, ": content size ", content,
                         " is more than its blocks can hold");
  DecodedFrame out;
  out.compressed_size = compressed;
  const size_t words = content / sizeof(capnp::word);
  capnp::word* target;
  size_t n;
  if (scratch && scratch->dctx()) {
    target = scratch->reserve(words);
    n = ZSTD_decompressDCtx(scratch->dctx(), target, content, frame, compressed);
  } else {
    // Sized at construction: capnp::word cannot be copied or moved, so resize()
    // is not allowed on it (GCC accepts it, clang with libstdc++ does not).
    out.owned = std::vector<capnp::word>(words);
    target = out.owned.data();
    n = ZSTD_decompress(target, content, frame, compressed);
  }
  out.words = kj::ArrayPtr<const capnp::word>(target, words);
  if (ZSTD_isError(n)) return Status::error("frame at byte ", offset, ": ", ZSTD_getErrorName(n));
  if (n != content) return Status::error("frame at byte ", offset, ": short decompression");
  return out;
}

// Reads every field reachable from `value` so that a malformed pointer, a list
// of the wrong kind or unterminated text throws here, inside the decoder's
// boundary, instead of later in a caller.
void touchAll(const capnp::DynamicValue::Reader& value) {
  switch (value.getType()) {
    case capnp::DynamicValue::TEXT:
      value.as<capnp::Text>();
      break;
    case capnp::DynamicValue::DATA:
      value.as<capnp::Data>();
      break;
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) touchAll(element);
      break;
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      for (auto field : s.getSchema().getNonUnionFields()) touchAll(s.get(field));
      KJ_IF_MAYBE(field, s.which()) { touchAll(s.get(*field)); }
      break;
    }
    default:
      break;
  }
}

uint32_t knownBatchMembers() {
  static const uint32_t count = capnp::Schema::from<Batch>().getUnionFields().size();
  return count;
}

bool isSkippable(const uint8_t* p, size_t available) {
  if (available < 8) return false;
  uint32_t magic;
  std::memcpy(&magic, p, 4);
  return (magic & 0xFFFFFFF0u) == 0x184D2A50u;
}

}  // namespace

Result<std::unique_ptr<RecordingReader>> RecordingReader::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error("open ", path, ": ", errnoText(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::error("stat ", path, ": ", errnoText(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(path, ": not a regular file");
  }
  std::unique_ptr<RecordingReader> reader(new RecordingReader());
  reader->name_ = path;
  reader->size_ = static_cast<size_t>(st.st_size);
  if (reader->size_ > 0) {
    void* map = mmap(nullptr, reader->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Status::error("mmap ", path, ": ", errnoText(err));
    }
    reader->mapping_ = map;
    reader->data_ = static_cast<const uint8_t*>(map);
  }
  ::close(fd);
  NT_RETURN_IF_ERROR(reader->parseHeader());
  return reader;
}

Result<std::unique_ptr<RecordingReader>> RecordingReader::fromBytes(std::string bytes,
                                                                    const std::string& name) {
  std::unique_ptr<RecordingReader> reader(new RecordingReader());
  reader->name_ = name;
  reader->owned_bytes_ = std::move(bytes);
  reader->data_ = reinterpret_cast<const uint8_t*>(reader->owned_bytes_.data());
  reader->size_ = reader->owned_bytes_.size();
  NT_RETURN_IF_ERROR(reader->parseHeader());
  return reader;
}

RecordingReader::~RecordingReader() {
  header_message_.reset();
  if (mapping_) munmap(mapping_, size_);
}

Status RecordingReader::parseHeader() {
  report_.file_bytes = size_;
  if (size_ == 0) return Status::error(name_, ": empty file, not a nettrail recording");
  uint32_t magic = 0;
  if (size_ >= 4) std::memcpy(&magic, data_, 4);
  if (size_ < kMagicFrameBytes) {
    // A file cut off inside the magic still starts with the bytes the writer put there.
    unsigned char expected[8 + sizeof(kFileMagic)];
    const uint32_t payload = sizeof(kFileMagic) + 4;
    std::memcpy(expected, &kSkippableMagic, 4);
    std::memcpy(expected + 4, &payload, 4);
    std::memcpy(expected + 8, kFileMagic, sizeof(kFileMagic));
    if (std::memcmp(data_, expected, std::min(size_, sizeof(expected))) == 0)
      return Status::error(name_, ": truncated inside the file magic (", size_, " of ", kMagicFrameBytes,
                           " bytes); not a usable nettrail recording");
  }
  if (size_ < kMagicFrameBytes || magic != kSkippableMagic ||
      std::memcmp(data_ + 8, kFileMagic, sizeof(kFileMagic)) != 0)
    return Status::error(name_, ": not a nettrail recording (no NETTRAIL magic at the start)");
  uint32_t version = 0;
  std::memcpy(&version, data_ + 8 + sizeof(kFileMagic), 4);
  if (version != kFormatVersion)
    return Status::error(name_, ": recording format version ", version, ", this nettrail reads version ",
                         kFormatVersion, version > kFormatVersion ? "; upgrade nettrail" : "");
  uint32_t skip_len = 0;
  std::memcpy(&skip_len, data_ + 4, 4);
  size_t offset = 8 + static_cast<size_t>(skip_len);
  if (offset > size_) return Status::error(name_, ": truncated inside the file magic");
  bool torn = false;
  auto frame = decodeFrame(data_, size_, offset, &torn);
  if (!frame.isOk())
    return Status::error(name_, ": header unreadable: ", frame.status().message(),
                         torn ? " (file cut off before the header was complete)" : "");
  header_words_ = std::move(frame->owned);
  const kj::ArrayPtr<const capnp::word> header_words(header_words_.data(), header_words_.size());
  try {
    // Validate with a reader of its own: the traversal limit is spent over a
    // reader's whole life, and header() is read again and again by callers.
    capnp::FlatArrayMessageReader check(header_words, readerOptions(header_words_.size()));
    Chunk::Reader chunk = check.getRoot<Chunk>();
    if (chunk.which() != Chunk::HEADER || chunk.getSeq() != 0)
      return Status::error(name_, ": first chunk is not a header");
    Header::Reader header = chunk.getHeader();
    if (header.getFormatVersion() != kFormatVersion)
      return Status::error(name_, ": header says format version ", header.getFormatVersion());
    // Read the whole header now: header() is used outside any decoder boundary.
    touchAll(capnp::toDynamic(header));
    // Every pointer is in bounds and one full read stays within the limit, so
    // the reader kept for header() needs no limit of its own (a cumulative one
    // would make a later header() read throw outside any decoder boundary).
    capnp::ReaderOptions unlimited = readerOptions(header_words_.size());
    unlimited.traversalLimitInWords = std::numeric_limits<uint64_t>::max();
    header_message_ = std::make_unique<capnp::FlatArrayMessageReader>(header_words, unlimited);
  } catch (const kj::Exception& e) {
    return Status::error(name_, ": header does not decode: ", e.getDescription().cStr());
  }
  data_start_ = offset + frame->compressed_size;
  report_.frames_read = 1;
  report_.bytes_used = data_start_;
  return Status::ok();
}

Header::Reader RecordingReader::header() const {
  return header_message_->getRoot<Chunk>().getHeader();
}

Status RecordingReader::forEachChunk(const std::function<Status(Chunk::Reader)>& visit) {
  report_ = ReadReport{};
  report_.file_bytes = size_;
  report_.frames_read = 1;
  report_.bytes_used = data_start_;
  size_t offset = data_start_;
  uint64_t expected_seq = 1;
  FrameScratch scratch;
  while (offset < size_) {
    if (isSkippable(data_ + offset, size_ - offset)) {  // reserved for future use: skip
      uint32_t len;
      std::memcpy(&len, data_ + offset + 4, 4);
      if (offset + 8 + len > size_) {
        report_.truncated = true;
        report_.problems.push_back("file ends inside a skippable frame at byte " + std::to_string(offset));
        break;
      }
      offset += 8 + len;
      report_.bytes_used = offset;
      continue;
    }
    bool torn = false;
    auto frame = decodeFrame(data_, size_, offset, &torn, &scratch);
    if (!frame.isOk()) {
      if (torn) {
        report_.truncated = true;
        report_.problems.push_back("file cut off inside the frame at byte " + std::to_string(offset) +
                                   "; the last " + std::to_string(size_ - offset) +
                                   " bytes were not readable");
      } else {
        report_.corrupt = true;
        report_.problems.push_back("corrupt data: " + frame.status().message() + "; " +
                                   std::to_string(size_ - offset) + " bytes from there on not read");
      }
      break;
    }
    Status visit_status;
    bool decoded = true;
    std::string decode_error;
    try {
      capnp::FlatArrayMessageReader message(frame->words, readerOptions(frame->words.size()));
      Chunk::Reader chunk = message.getRoot<Chunk>();
      uint64_t seq = chunk.getSeq();
      if (seq > expected_seq) {
        report_.missing_chunks += seq - expected_seq;
        report_.problems.push_back(std::to_string(seq - expected_seq) + " chunk(s) missing before byte " +
                                   std::to_string(offset));
      }
      expected_seq = seq + 1;
      if (chunk.which() == Chunk::TRAILER) report_.has_trailer = true;
      if (chunk.which() == Chunk::BATCH &&
          static_cast<uint32_t>(chunk.getBatch().which()) >= knownBatchMembers())
        ++report_.unknown_batches;
      visit_status = visit(chunk);
    } catch (const kj::Exception& e) {
      decoded = false;
      decode_error = e.getDescription().cStr();
    }
    if (!decoded) {
      report_.corrupt = true;
      report_.problems.push_back("chunk at byte " + std::to_string(offset) +
                                 " does not decode: " + decode_error);
      break;
    }
    offset += frame->compressed_size;
    report_.bytes_used = offset;
    ++report_.frames_read;
    if (!visit_status.isOk()) return visit_status;
  }
  if (!report_.has_trailer && !report_.truncated && !report_.corrupt)
    report_.problems.push_back("no trailer: the recorder did not close this file cleanly "
                               "(killed, crashed or still running); all whole frames were read");
  return Status::ok();
}

}  // namespace nettrail
