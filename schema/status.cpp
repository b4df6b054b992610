#include "nettrail/status.h"

#include <cerrno>
#include <cstring>

namespace nettrail {

std::string errnoText(int err) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  std::string out = name ? name : ("errno " + std::to_string(err));
  out += " (";
  out += std::strerror(err);
  out += ")";
  return out;
}

}  // namespace nettrail
