#include "testing/offline_probe.h"

#include "probe_registry.h"

namespace nettrail::testing {

Result<std::unique_ptr<OfflineProbe>> startOfflineProbe(const std::string& family,
                                                         const std::vector<std::string>& args,
                                                         const std::string& path, int zstd_level) {
  auto offline = std::make_unique<OfflineProbe>();
  OutputOptions output;
  output.replace = true;  // tests and benches reuse their scratch paths
  offline->sink = std::make_unique<RecordingSink>(path, RotationPolicy{}, zstd_level, nullptr, output);
  NT_RETURN_IF_ERROR(offline->sink->open([](Header::Builder header, uint32_t) {
    header.setFormatVersion(kFormatVersion);
    header.setHostName("offline");
  }));
  for (const ProbeEntry& entry : buildProbeRegistry())
    if (entry.name == family) offline->probe = entry.make();
  if (!offline->probe) return Status::error("no family '", family, "' in this build");
  OptionSet set;
  offline->probe->declareOptions(set);
  NT_ASSIGN_OR_RETURN(ParsedOptions parsed, parseOptions(set, args));
  NT_RETURN_IF_ERROR(offline->probe->configure(parsed, offline->setup));
  NT_RETURN_IF_ERROR(offline->probe->openObject().status());
  NT_RETURN_IF_ERROR(offline->probe->started(*offline->sink));
  std::vector<RingSpec> rings = offline->probe->rings();
  if (rings.size() != 1) return Status::error(family, ": expected one ring, got ", rings.size());
  offline->ring = rings[0];
  return offline;
}

}  // namespace nettrail::testing
