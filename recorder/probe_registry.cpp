#include "probe_registry.h"

// A family missing its recorder module fails at link time, naming it.
#define NT_FAMILY(name, summary) \
  namespace nettrail::name {     \
  std::unique_ptr<ProbeFamily> makeProbe(); \
  }
#include "families.def"
#undef NT_FAMILY

namespace nettrail {

std::vector<ProbeEntry> buildProbeRegistry() {
  std::vector<ProbeEntry> registry;
#define NT_FAMILY(name, summary) registry.push_back({#name, summary, &name::makeProbe});
#include "families.def"
#undef NT_FAMILY
  return registry;
}

}  // namespace nettrail
