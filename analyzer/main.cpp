// nettrail: the analyzer. main() only hands argv to the verb table (cli.cpp)
// and returns its exit code.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  nettrail::CliContext cli{std::cout, std::cerr, isatty(STDERR_FILENO) == 1};
  const int rc = nettrail::runCli(args, cli);
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "nettrail: writing to standard output failed\n";
    return nettrail::kExitError;
  }
  return rc;
}
