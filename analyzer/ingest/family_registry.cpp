// The analyzer's family registry, built from schema/families.def. A family
// listed there without analyzer/families/<name>.cpp fails at link time, naming
// the missing makeImporter().
#include "ingest/family.h"

namespace nettrail {

#define NT_FAMILY(name, summary) \
  namespace name {               \
  std::unique_ptr<FamilyImporter> makeImporter(); \
  }
#include "families.def"
#undef NT_FAMILY

std::vector<FamilyEntry> buildFamilyRegistry() {
  std::vector<FamilyEntry> registry;
#define NT_FAMILY(name, summary) registry.push_back({#name, summary, &name::makeImporter});
#include "families.def"
#undef NT_FAMILY
  return registry;
}

}  // namespace nettrail
