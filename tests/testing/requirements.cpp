#include "testing/requirements.h"

#include <sys/mount.h>
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

// A fresh machine has tracefs unmounted until something mounts it (PLATFORM.md).
// The recorder mounts it itself (Session preflight); a test that needs it before
// any recorder ran, or reads it directly, mounts it the same way, so the suite
// passes in any order on a new machine. "" when mounted, else why not.
std::string ensureTracefs() {
  if (isTracefs("/sys/kernel/tracing") || isTracefs("/sys/kernel/debug/tracing")) return "";
  if (geteuid() != 0) return "needs tracefs: not mounted at /sys/kernel/tracing, and mounting it needs root";
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return std::string("needs tracefs: mount -t tracefs nodev /sys/kernel/tracing: ") + std::strerror(errno);
  return isTracefs("/sys/kernel/tracing") ? "" : "needs tracefs: mounted /sys/kernel/tracing but it is not tracefs";
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
  if (has(mask, Requirement::kTracefs)) {
    const std::string why = ensureTracefs();
    if (!why.empty()) add(&missing, why);
  }
  return missing;
}

bool requireAll() {
  const char* value = std::getenv("NETTRAIL_TEST_REQUIRE_ALL");
  return value && std::strcmp(value, "1") == 0;
}

}  // namespace nettrail::testing
