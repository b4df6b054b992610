#pragma once
// The `nettrail` command line: verb first (bpftool, ninja), help generated from
// the same table that dispatches. Exit codes: 0 ok, 1 error, 2 usage.
#include <ostream>
#include <string>
#include <vector>

namespace nettrail {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct CliContext {
  std::ostream& out;
  std::ostream& err;
  bool stderr_is_tty = false;  // ingest progress defaults on for a terminal
};

// Runs one command; `args` excludes the program name.
int runCli(const std::vector<std::string>& args, CliContext& cli);

// Edit distance counting an adjacent swap as one edit, for "did you mean".
size_t editDistance(const std::string& a, const std::string& b);

}  // namespace nettrail
