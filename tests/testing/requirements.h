#pragma once
// What privileged tests need, and one way to skip or fail when it is missing
// (STYLE.md §3.5): a missing requirement skips the test with the reason, unless
// NETTRAIL_TEST_REQUIRE_ALL=1 is set (CI sets it), in which case the test fails.
//
//   TEST(Foo, Bar) {
//     NT_REQUIRE(Requirement::kRoot | Requirement::kBtf);
//     ...
//   }
#include <gtest/gtest.h>

#include <string>

namespace nettrail::testing {

enum class Requirement : unsigned {
  kRoot = 1u << 0,     // effective uid 0
  kBtf = 1u << 1,      // kernel BTF at /sys/kernel/btf/vmlinux
  kTracefs = 1u << 2,  // tracefs mounted (/sys/kernel/tracing or /sys/kernel/debug/tracing); mounted if absent
};
constexpr Requirement operator|(Requirement a, Requirement b) {
  return static_cast<Requirement>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}

// "" when every requirement in `mask` holds; otherwise one reason per missing
// requirement, e.g. "needs root: running as uid 1000".
std::string missingRequirements(Requirement mask);

// NETTRAIL_TEST_REQUIRE_ALL=1: missing requirements fail instead of skipping.
bool requireAll();

}  // namespace nettrail::testing

// Skips (or, with NETTRAIL_TEST_REQUIRE_ALL=1, fails) the current test with
// `reason` and returns from the calling function (a TEST body or SetUp).
#define NT_SKIP_OR_FAIL(reason)                                                     \
  do {                                                                              \
    const std::string nt_reason_ = (reason);                                        \
    if (::nettrail::testing::requireAll())                                          \
      GTEST_FAIL() << nt_reason_ << " (NETTRAIL_TEST_REQUIRE_ALL=1: not skipping)"; \
    else                                                                            \
      GTEST_SKIP() << nt_reason_;                                                   \
  } while (0)

#define NT_REQUIRE(mask)                                                                  \
  do {                                                                                    \
    using ::nettrail::testing::Requirement;                                               \
    const std::string nt_missing_ = ::nettrail::testing::missingRequirements(mask);       \
    if (!nt_missing_.empty()) NT_SKIP_OR_FAIL(nt_missing_);                               \
  } while (0)

#define NT_REQUIRE_ROOT() NT_REQUIRE(::nettrail::testing::Requirement::kRoot)
