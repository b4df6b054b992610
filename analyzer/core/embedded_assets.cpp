#include "core/embedded_assets.h"

#include <cstdio>
#include <cstdlib>

namespace nettrail {

std::string_view embeddedAsset(std::string_view name) {
  for (const EmbeddedAsset& asset : embeddedAssets())
    if (asset.name == name) return asset.data;
  std::fprintf(stderr, "nettrail: internal error: asset %.*s not linked in\n", static_cast<int>(name.size()),
               name.data());
  std::abort();
}

}  // namespace nettrail
