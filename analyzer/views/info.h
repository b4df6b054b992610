#pragma once
// `nettrail info`: what a recording holds, read straight from the file (no
// database): header, probes and attach choices, chunk and event counts per
// family, and everything that was lost, listed first.
#include <ostream>
#include <string>

#include "nettrail/status.h"

namespace nettrail {

Status printRecordingInfo(const std::string& path, bool json, std::ostream& out);

}  // namespace nettrail
