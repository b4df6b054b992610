#include <capnp/serialize.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "nettrail/recording.h"

namespace nettrail {

detail::SpareWordBuffer::SpareWordBuffer(size_t count)
    : words(static_cast<capnp::word*>(std::calloc(count, sizeof(capnp::word)))) {
  NT_CHECK(words != nullptr);
}

detail::SpareWordBuffer::~SpareWordBuffer() { std::free(words); }

FramedMessageBuilder::FramedMessageBuilder(size_t first_segment_words)
    : SpareWordBuffer(first_segment_words + 1),
      MallocMessageBuilder(kj::arrayPtr(words + 1, first_segment_words), capnp::AllocationStrategy::FIXED_SIZE),
      first_segment_words_(first_segment_words) {}

kj::ArrayPtr<const capnp::byte> FramedMessageBuilder::framed() {
  kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = getSegmentsForOutput();
  if (segments.size() != 1 || segments[0].begin() != words + 1) return nullptr;
  const uint32_t table[2] = {0, static_cast<uint32_t>(segments[0].size())};  // one segment, its size in words
  static_assert(sizeof(table) == sizeof(capnp::word));
  std::memcpy(words, table, sizeof(table));
  return kj::arrayPtr(reinterpret_cast<const capnp::byte*>(words), (1 + segments[0].size()) * sizeof(capnp::word));
}

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(const std::string& path,
                                                                 const Options& options) {
  NT_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> file,
                      OutputFile::create(path, OutputFile::Naming::kNow, options.output));
  return create(std::move(file), options);
}

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(std::unique_ptr<OutputFile> file,
                                                                 const Options& options) {
  std::unique_ptr<RecordingWriter> writer(new RecordingWriter());
  writer->path_ = file->path();
  writer->options_ = options;
  writer->fd_ = file->fd();
  writer->file_ = std::move(file);
  const std::string& path = writer->path_;
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) return Status::error("create ", path, ": zstd context allocation failed");
  writer->cctx_ = cctx;
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, options.zstd_level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);

  // Skippable frame: magic, 4-byte length, then "NETTRAIL" + format version.
  unsigned char magic[8 + sizeof(kFileMagic) + 4];
  const uint32_t skippable = kSkippableMagic;
  const uint32_t payload = sizeof(kFileMagic) + 4;
  std::memcpy(magic, &skippable, 4);  // zstd frames are little-endian; so is x86/arm64 here
  std::memcpy(magic + 4, &payload, 4);
  std::memcpy(magic + 8, kFileMagic, sizeof(kFileMagic));
  const uint32_t version = kFormatVersion;
  std::memcpy(magic + 8 + sizeof(kFileMagic), &version, 4);
  NT_RETURN_IF_ERROR(writer->writeAll(magic, sizeof(magic)));
  writer->bytes_written_ = sizeof(magic);
  return writer;
}

RecordingWriter::~RecordingWriter() {
  (void)close();
  if (cctx_) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
}

Status RecordingWriter::writeAll(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      sticky_error_ = Status::error("write ", path_, ": ", errnoText(errno));
      // Cut the torn frame off so the file ends on a whole frame.
      if (ftruncate(fd_, static_cast<off_t>(bytes_written_)) != 0) {
        // Nothing more to do: the reader stops at the torn frame anyway.
      }
      return sticky_error_;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::ok();
}

Status RecordingWriter::write(capnp::MessageBuilder& chunk_message) {
  if (!sticky_error_.isOk()) return sticky_error_;
  if (fd_ < 0) return Status::error("write ", path_, ": writer is closed");
  chunk_message.getRoot<Chunk>().setSeq(next_seq_);
  auto* cctx = static_cast<ZSTD_CCtx*>(cctx_);
  size_t raw_size = 0;
  ZSTD_outBuffer out = {nullptr, 0, 0};
  auto* framed_message = dynamic_cast<FramedMessageBuilder*>(&chunk_message);
  kj::ArrayPtr<const capnp::byte> framed = framed_message ? framed_message->framed() : nullptr;
  if (framed.size() > 0) {
    raw_size = framed.size();
    compressed_.resize(ZSTD_compressBound(raw_size));
    out.dst = compressed_.data();
    out.size = compressed_.size();
    out.pos = ZSTD_compress2(cctx, compressed_.data(), compressed_.size(), framed.begin(), raw_size);
    if (ZSTD_isError(out.pos)) return Status::error("compress chunk for ", path_, ": ", ZSTD_getErrorName(out.pos));
  } else {
    // The frame holds Cap'n Proto's stream framing (segment count - 1, each
    // segment's size in words, padded to a word) followed by the segments.
    // They are fed to zstd piece by piece instead of being flattened first:
    // zstd copies its input block by block while the block is in cache, where
    // a flat copy of a multi-megabyte batch is one more pass over cold memory.
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = chunk_message.getSegmentsForOutput();
    table_.assign((segments.size() + 2) & ~size_t{1}, 0);
    table_[0] = static_cast<uint32_t>(segments.size() - 1);
    raw_size = table_.size() * sizeof(uint32_t);
    for (size_t i = 0; i < segments.size(); ++i) {
      table_[i + 1] = static_cast<uint32_t>(segments[i].size());
      raw_size += segments[i].asBytes().size();
    }
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_setPledgedSrcSize(cctx, raw_size);  // the frame header records the size, as ZSTD_compress2 does
    compressed_.resize(ZSTD_compressBound(raw_size));
    out = {compressed_.data(), compressed_.size(), 0};
    auto feed = [&](const void* data, size_t size, ZSTD_EndDirective mode) -> Status {
      ZSTD_inBuffer in = {data, size, 0};
      size_t left;
      do {
        left = ZSTD_compressStream2(cctx, &out, &in, mode);
        if (ZSTD_isError(left)) return Status::error("compress chunk for ", path_, ": ", ZSTD_getErrorName(left));
        if (out.pos == out.size && left != 0)  // cannot happen with a compressBound-sized buffer
          return Status::error("compress chunk for ", path_, ": output buffer too small");
      } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
      return Status::ok();
    };
    NT_RETURN_IF_ERROR(feed(table_.data(), table_.size() * sizeof(uint32_t), ZSTD_e_continue));
    for (const auto& segment : segments)
      NT_RETURN_IF_ERROR(feed(segment.asBytes().begin(), segment.asBytes().size(), ZSTD_e_continue));
    NT_RETURN_IF_ERROR(feed(nullptr, 0, ZSTD_e_end));
  }
  Status status = writeAll(compressed_.data(), out.pos);
  if (!status.isOk()) return status;
  bytes_written_ += out.pos;
  uncompressed_bytes_ += raw_size;
  ++next_seq_;
  return Status::ok();
}

Status RecordingWriter::close() {
  if (fd_ < 0) return Status::ok();
  Status status = sticky_error_;
  // fsyncs file and directory when durable, and closes.
  Status committed = file_->commit();
  if (status.isOk()) status = committed;
  file_.reset();
  fd_ = -1;
  return status;
}

}  // namespace nettrail
