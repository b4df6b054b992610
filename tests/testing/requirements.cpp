#include "testing/requirements.h"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace nettrail::testing {
namespace {

constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC

bool has(Requirement mask, Requirement r) {
  return (static_cast<unsigned>(mask) & static_cast<unsigned>(r)) != 0;
}

void add(std::string* out, const std::string& reason) {
  if (!out->empty()) *out += "; ";
  *out += reason;
}

bool isTracefs(const char* dir) {
  struct statfs st;
  return statfs(dir, &st) == 0 && st.f_type == kTracefsMagic;
}

}  // namespace

std::string missingRequirements(Requirement mask) {
  std::string missing;
  if (has(mask, Requirement::kRoot) && geteuid() != 0)
    add(&missing, "needs root: running as uid " + std::to_string(geteuid()));
  if (has(mask, Requirement::kBtf)) {
    struct stat st;
    if (stat("/sys/kernel/btf/vmlinux", &st) != 0)
      add(&missing, std::string("needs kernel BTF: /sys/kernel/btf/vmlinux: ") + std::strerror(errno));
  }
  if (has(mask, Requirement::kTracefs) && !isTracefs("/sys/kernel/tracing") &&
      !isTracefs("/sys/kernel/debug/tracing"))
    add(&missing, "needs tracefs: not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing");
  return missing;
}

bool requireAll() {
  const char* value = std::getenv("NETTRAIL_TEST_REQUIRE_ALL");
  return value && std::strcmp(value, "1") == 0;
}

}  // namespace nettrail::testing
