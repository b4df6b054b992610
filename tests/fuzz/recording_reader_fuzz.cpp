// libFuzzer target for the recording reader (STYLE.md §3.5): any bytes either
// fail to open with a message, or open and walk to the end; never a crash, a
// leak or an unbounded allocation. Every field reachable from every chunk is
// read, through the dynamic API so fields added to the schema are covered too.
//
// Two input forms. Plain bytes are a recording file as is. Bytes starting with
// "NTFZ" are a list of records (u32 little-endian length, then that many bytes,
// the last one may be short); each record becomes the content of one chunk frame
// of an otherwise well-formed file (magic, zstd frames with content size and
// checksum). The fuzzer cannot forge zstd checksums, so without this form it
// would never get past them into Cap'n Proto decoding.
#include <capnp/dynamic.h>
#include <kj/exception.h>
#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "nettrail/recording.h"

namespace {

using ::Chunk;  // recording.capnp has no C++ namespace
using nettrail::RecordingReader;
using nettrail::Status;

constexpr char kStructuredTag[4] = {'N', 'T', 'F', 'Z'};

std::string assembleRecording(const uint8_t* data, size_t size) {
  static ZSTD_CCtx* cctx = [] {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    return c;
  }();
  std::string file(8 + sizeof(nettrail::kFileMagic) + 4, '\0');
  const uint32_t payload = sizeof(nettrail::kFileMagic) + 4;
  std::memcpy(&file[0], &nettrail::kSkippableMagic, 4);
  std::memcpy(&file[4], &payload, 4);
  std::memcpy(&file[8], nettrail::kFileMagic, sizeof(nettrail::kFileMagic));
  std::memcpy(&file[8 + sizeof(nettrail::kFileMagic)], &nettrail::kFormatVersion, 4);
  size_t at = sizeof(kStructuredTag);
  while (at < size) {
    uint32_t length = 0;
    std::memcpy(&length, data + at, std::min<size_t>(4, size - at));
    at += std::min<size_t>(4, size - at);
    std::string content(reinterpret_cast<const char*>(data + at), std::min<size_t>(length, size - at));
    at += content.size();
    content.resize((content.size() + 7) / 8 * 8, '\0');  // whole words, as the writer makes them
    std::string frame(ZSTD_compressBound(content.size()), '\0');
    size_t n = ZSTD_compress2(cctx, frame.data(), frame.size(), content.data(), content.size());
    if (ZSTD_isError(n)) std::abort();
    file.append(frame.data(), n);
  }
  return file;
}

uint64_t touchAll(const capnp::DynamicValue::Reader& value) {
  uint64_t sum = 0;
  switch (value.getType()) {
    case capnp::DynamicValue::BOOL:
      sum += value.as<bool>();
      break;
    case capnp::DynamicValue::INT:
      sum += static_cast<uint64_t>(value.as<int64_t>());
      break;
    case capnp::DynamicValue::UINT:
      sum += value.as<uint64_t>();
      break;
    case capnp::DynamicValue::FLOAT:
      sum += static_cast<uint64_t>(value.as<double>() != 0);
      break;
    case capnp::DynamicValue::TEXT:
      sum += value.as<capnp::Text>().size();
      break;
    case capnp::DynamicValue::DATA:
      sum += value.as<capnp::Data>().size();
      break;
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) sum += touchAll(element);
      break;
    case capnp::DynamicValue::ENUM:
      sum += value.as<capnp::DynamicEnum>().getRaw();
      break;
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      for (auto field : s.getSchema().getNonUnionFields()) sum += touchAll(s.get(field));
      KJ_IF_MAYBE(field, s.which()) { sum += touchAll(s.get(*field)); }
      break;
    }
    default:
      break;
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes = size >= sizeof(kStructuredTag) && std::memcmp(data, kStructuredTag, 4) == 0
                          ? assembleRecording(data, size)
                          : std::string(reinterpret_cast<const char*>(data), size);
  size = bytes.size();
  auto opened = RecordingReader::fromBytes(std::move(bytes), "fuzz.ntr");
  if (!opened.isOk()) {
    if (opened.status().message().empty()) std::abort();  // an error always says what went wrong
    return 0;
  }
  RecordingReader& reader = **opened;
  // The header was validated by open: reading it must not throw.
  volatile uint64_t sink = touchAll(capnp::toDynamic(reader.header()));
  Status walked = reader.forEachChunk([&](Chunk::Reader chunk) {
    sink = sink + touchAll(capnp::toDynamic(chunk));
    return Status::ok();
  });
  const nettrail::ReadReport& report = reader.report();
  if (!walked.isOk() || report.bytes_used > size || report.frames_read == 0 || report.file_bytes != size)
    std::abort();
  if ((report.truncated || report.corrupt) && report.problems.empty()) std::abort();
  return 0;
}
