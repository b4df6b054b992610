#pragma once
// Command-line options declared as data: families and the session add specs,
// help text is generated from them, and parsing checks every value's form.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nettrail/status.h"

namespace nettrail {

struct OptionSpec {
  std::string name;        // long name without dashes, e.g. "src-ip"
  char short_name = 0;     // e.g. 'n' for -n, 0 for none
  std::string value_name;  // e.g. "IP"; empty for a flag
  std::string help;
  std::string default_value;  // shown in help and returned when not given
  std::string group;       // help section, e.g. "drop" or "recording"
};

class OptionSet {
 public:
  // Adds a spec; a second family declaring the same name shares the first spec.
  void add(const OptionSpec& spec);
  const std::vector<OptionSpec>& specs() const { return specs_; }
  const OptionSpec* find(const std::string& name) const;
  const OptionSpec* findShort(char short_name) const;
  std::string help(const std::string& usage) const;

 private:
  std::vector<OptionSpec> specs_;
};

class ParsedOptions {
 public:
  bool given(const std::string& name) const { return values_.count(name) != 0; }
  // The given value, else the spec's default.
  std::string get(const std::string& name) const;
  bool flag(const std::string& name) const { return given(name); }
  // Numeric values are range-checked before they are converted, and every
  // refusal has one form: "--NAME: expected KIND from MIN to MAX, got 'TEXT'".
  // A whole number from `min` to `max`.
  Result<uint64_t> getUint(const std::string& name, uint64_t min, uint64_t max) const;
  Result<uint64_t> getUint(const std::string& name, uint64_t max) const { return getUint(name, 0, max); }
  // Seconds with an optional unit (5, 5s, 500ms, 2m, 1h), from `min` to `max` seconds.
  Result<double> getSeconds(const std::string& name, double min, double max) const;
  Result<double> getSeconds(const std::string& name) const { return getSeconds(name, 0, kMaxSeconds); }
  // Bytes with an optional unit (100, 64K, 100M, 2G, 1T), from `min` to `max`.
  Result<uint64_t> getBytes(const std::string& name, uint64_t min, uint64_t max) const;
  Result<uint64_t> getBytes(const std::string& name) const { return getBytes(name, 0, kMaxBytes); }
  // The same, and a power of two (ring buffer sizes).
  Result<uint64_t> getPowerOfTwoBytes(const std::string& name, uint64_t min, uint64_t max) const;
  // Ten years, and 1 PiB: beyond any recording, far within what converts exactly.
  static constexpr double kMaxSeconds = 10 * 365 * 86400.0;
  static constexpr uint64_t kMaxBytes = 1ull << 50;
  const std::vector<std::string>& positional() const { return positional_; }
  // Every option given, for the recording header.
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  friend Result<ParsedOptions> parseOptions(const OptionSet&, const std::vector<std::string>&);
  const OptionSet* set_ = nullptr;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Parses `args` (without the program name). Unknown options fail with a
// "did you mean" hint.
Result<ParsedOptions> parseOptions(const OptionSet& set, const std::vector<std::string>& args);

// Closest candidate by edit distance, or "" when nothing is close.
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace nettrail
