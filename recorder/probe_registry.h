#pragma once
#include <memory>
#include <string>
#include <vector>

#include "probe.h"

namespace nettrail {

struct ProbeEntry {
  std::string name;
  std::string summary;
  std::unique_ptr<ProbeFamily> (*make)();
};

// Every family of schema/families.def, in order. Built by main(), not a global.
std::vector<ProbeEntry> buildProbeRegistry();

}  // namespace nettrail
