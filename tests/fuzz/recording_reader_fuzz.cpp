// libFuzzer target for the recording reader (STYLE.md §3.5): any bytes either
// fail to open with a message, or open and walk to the end; never a crash, a
// leak or an unbounded allocation. Every field reachable from every chunk is
// read, through the dynamic API so fields added to the schema are covered too.
#include <capnp/dynamic.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "nettrail/recording.h"

namespace {

using ::Chunk;  // recording.capnp has no C++ namespace
using nettrail::RecordingReader;
using nettrail::Status;

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
  auto opened = RecordingReader::fromBytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.ntr");
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
