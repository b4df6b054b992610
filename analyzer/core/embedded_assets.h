#pragma once
// Files linked into the analyzer (SQL, report template, ECharts); see cmake/embed.cmake.
#include <string_view>
#include <vector>

namespace nettrail {

struct EmbeddedAsset {
  std::string_view name;  // e.g. "queries/drop.sql", "reports/vendor/echarts.min.js"
  std::string_view data;
};

const std::vector<EmbeddedAsset>& embeddedAssets();

// The asset called `name`; aborts if it is missing (a build error, not user input).
std::string_view embeddedAsset(std::string_view name);

}  // namespace nettrail
