#pragma once
// A recorder family driven without the kernel: configured from command-line
// arguments, its BPF object opened (not loaded, so no privileges are needed)
// and started on a real RecordingSink writing a real file; the caller feeds its
// ring callback with records built by hand. For tests and benchmarks of the user-space half
// (decoding, batching, writing).
#include <memory>
#include <string>
#include <vector>

#include "nettrail/status.h"
#include "probe.h"
#include "recording_sink.h"

namespace nettrail::testing {

struct OfflineProbe {
  std::unique_ptr<RecordingSink> sink;
  std::unique_ptr<ProbeFamily> probe;
  ProbeSetup setup;
  RingSpec ring;  // the family's only details ring

  // Hands one record to the family as libbpf's ring drain would.
  void feed(const void* record, size_t size) { ring.callback(ring.ctx, const_cast<void*>(record), size); }
};

// Opens the recording at `path` (header: format version, host "offline") and
// starts the family on it. Fails if the family is unknown, rejects `args`, or
// does not have exactly one ring with these options.
Result<std::unique_ptr<OfflineProbe>> startOfflineProbe(const std::string& family,
                                                         const std::vector<std::string>& args,
                                                         const std::string& path, int zstd_level = 1);

}  // namespace nettrail::testing
