// nettrail-record's numeric options: every value is range-checked before it
// is converted, and every refusal has one form,
// "--NAME: expected KIND from MIN to MAX, got 'TEXT'", whose range is the
// help's. Runs without privileges: options are checked before anything loads.
#ifdef NT_HAVE_RECORDER
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "options.h"

namespace nettrail {
namespace {

ParsedOptions parse(const std::vector<std::string>& args) {
  static OptionSet set;
  if (set.specs().empty())
    for (const char* name : {"n", "d", "size", "ring"}) set.add({name, 0, "V", "", "", "test"});
  auto parsed = parseOptions(set, args);
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  return *parsed;
}

std::string refusal(const Status& status) { return status.isOk() ? "accepted" : status.message(); }

TEST(RecorderOptions, WholeNumbersAreRangeCheckedInOneForm) {
  EXPECT_EQ(refusal(parse({"--n", "0"}).getUint("n", 1, 19).status()), "--n: expected a whole number from 1 to 19, got '0'");
  EXPECT_EQ(refusal(parse({"--n", "99"}).getUint("n", 1, 19).status()),
            "--n: expected a whole number from 1 to 19, got '99'");
  EXPECT_EQ(refusal(parse({"--n", "-3"}).getUint("n", 1, 19).status()),
            "--n: expected a whole number from 1 to 19, got '-3'");
  EXPECT_EQ(refusal(parse({"--n", "99999999999999999999999"}).getUint("n", 0, UINT64_MAX).status()),
            "--n: expected a whole number from 0 to 18446744073709551615, got '99999999999999999999999'");
  EXPECT_EQ(*parse({"--n", "19"}).getUint("n", 1, 19), 19u);
  EXPECT_EQ(*parse({"--n", "18446744073709551615"}).getUint("n", 0, UINT64_MAX), UINT64_MAX);
}

TEST(RecorderOptions, DurationsAreCheckedBeforeConversion) {
  const double ten_years = ParsedOptions::kMaxSeconds;
  EXPECT_EQ(refusal(parse({"--d", "1e20"}).getSeconds("d", 0.001, ten_years).status()),
            "--d: expected a duration (ms, s, m, h) from 1ms to 87600h, got '1e20'");
  EXPECT_EQ(refusal(parse({"--d", "0"}).getSeconds("d", 0.001, ten_years).status()),
            "--d: expected a duration (ms, s, m, h) from 1ms to 87600h, got '0'");
  EXPECT_EQ(refusal(parse({"--d", "5x"}).getSeconds("d", 0.1, 86400).status()),
            "--d: expected a duration (ms, s, m, h) from 100ms to 24h, got '5x'");
  EXPECT_EQ(refusal(parse({"--d", "0x10"}).getSeconds("d", 0.1, 86400).status()),
            "--d: expected a duration (ms, s, m, h) from 100ms to 24h, got '0x10'");
  EXPECT_EQ(refusal(parse({"--d", "nan"}).getSeconds("d", 0.1, 86400).status()),
            "--d: expected a duration (ms, s, m, h) from 100ms to 24h, got 'nan'");
  EXPECT_DOUBLE_EQ(*parse({"--d", "1.5m"}).getSeconds("d", 0.1, 86400), 90.0);
  EXPECT_DOUBLE_EQ(*parse({"--d", "250ms"}).getSeconds("d", 0.1, 86400), 0.25);
}

TEST(RecorderOptions, SizesAreCheckedBeforeConversion) {
  EXPECT_EQ(refusal(parse({"--size", "1e30G"}).getBytes("size", 64 * 1024, ParsedOptions::kMaxBytes).status()),
            "--size: expected a size (K, M, G, T) from 64K to 1P, got '1e30G'");
  EXPECT_EQ(refusal(parse({"--size", "1K"}).getBytes("size", 64 * 1024, ParsedOptions::kMaxBytes).status()),
            "--size: expected a size (K, M, G, T) from 64K to 1P, got '1K'");
  EXPECT_EQ(*parse({"--size", "100M"}).getBytes("size", 64 * 1024, ParsedOptions::kMaxBytes), 100u << 20);
  EXPECT_EQ(refusal(parse({"--ring", "3000"}).getPowerOfTwoBytes("ring", 4096, 1u << 30).status()),
            "--ring: expected a power of two from 4K to 1G, got '3000'");
  EXPECT_EQ(refusal(parse({"--ring", "2G"}).getPowerOfTwoBytes("ring", 4096, 1u << 30).status()),
            "--ring: expected a power of two from 4K to 1G, got '2G'");
  EXPECT_EQ(*parse({"--ring", "4K"}).getPowerOfTwoBytes("ring", 4096, 1u << 30), 4096u);
}

#ifdef NT_RECORD_BIN
// The recorder itself, on the values that once misbehaved: each one is refused
// with exit code 2 before anything is loaded, in the help's range.
TEST(RecorderOptions, TheRecorderRefusesOutOfRangeValuesWithTheHelpsRange) {
  auto run = [](const std::string& args, std::string* out) {
    FILE* pipe = popen((std::string(NT_RECORD_BIN) + " " + args + " -o /nonexistent/x.ntr 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    out->clear();
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out->append(buf, n);
    const int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::string out, help;
  ASSERT_EQ(run("--help", &help), 0);
  EXPECT_NE(help.find("compression level from 1 to 19"), std::string::npos) << help;
  struct Case {
    const char* args;
    const char* message;
  } cases[] = {
      {"-d 1e20", "nettrail-record: --duration: expected a duration (ms, s, m, h) from 1ms to 87600h, got '1e20'\n"},
      {"--rotate-size 1e30G", "nettrail-record: --rotate-size: expected a size (K, M, G, T) from 64K to 1P, got '1e30G'\n"},
      {"--zstd-level 0", "nettrail-record: --zstd-level: expected a whole number from 1 to 19, got '0'\n"},
      {"--zstd-level 99", "nettrail-record: --zstd-level: expected a whole number from 1 to 19, got '99'\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    EXPECT_EQ(run(c.args, &out), 2) << out;
    EXPECT_EQ(out, c.message);
  }
}
#endif

}  // namespace
}  // namespace nettrail
#endif  // NT_HAVE_RECORDER
