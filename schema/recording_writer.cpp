#include <capnp/serialize.h>
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "nettrail/recording.h"

namespace nettrail {

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(const std::string& path,
                                                                 const Options& options) {
  std::unique_ptr<RecordingWriter> writer(new RecordingWriter());
  writer->path_ = path;
  writer->options_ = options;
  writer->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (writer->fd_ < 0) return Status::error("create ", path, ": ", errnoText(errno));
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
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(chunk_message);
  const size_t raw_size = flat.asBytes().size();
  compressed_.resize(ZSTD_compressBound(raw_size));
  size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(), compressed_.size(),
                            flat.asBytes().begin(), raw_size);
  if (ZSTD_isError(n)) return Status::error("compress chunk for ", path_, ": ", ZSTD_getErrorName(n));
  Status status = writeAll(compressed_.data(), n);
  if (!status.isOk()) return status;
  bytes_written_ += n;
  uncompressed_bytes_ += raw_size;
  ++next_seq_;
  return Status::ok();
}

Status RecordingWriter::close() {
  if (fd_ < 0) return Status::ok();
  Status status = sticky_error_;
  if (options_.sync_on_close && fsync(fd_) != 0 && status.isOk() && errno != EINVAL)
    status = Status::error("fsync ", path_, ": ", errnoText(errno));
  if (::close(fd_) != 0 && status.isOk()) status = Status::error("close ", path_, ": ", errnoText(errno));
  fd_ = -1;
  return status;
}

}  // namespace nettrail
