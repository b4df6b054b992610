#include "options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace nettrail {

void OptionSet::add(const OptionSpec& spec) {
  if (find(spec.name)) return;
  specs_.push_back(spec);
}

const OptionSpec* OptionSet::find(const std::string& name) const {
  for (const OptionSpec& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

const OptionSpec* OptionSet::findShort(char short_name) const {
  for (const OptionSpec& s : specs_)
    if (s.short_name && s.short_name == short_name) return &s;
  return nullptr;
}

std::string OptionSet::help(const std::string& usage) const {
  std::ostringstream out;
  out << usage << "\n";
  std::vector<std::string> groups;
  for (const OptionSpec& s : specs_)
    if (std::find(groups.begin(), groups.end(), s.group) == groups.end()) groups.push_back(s.group);
  for (const std::string& group : groups) {
    out << "\n" << group << " options:\n";
    for (const OptionSpec& s : specs_) {
      if (s.group != group) continue;
      std::string left = "  ";
      left += s.short_name ? std::string("-") + s.short_name + ", " : "    ";
      left += "--" + s.name;
      if (!s.value_name.empty()) left += " " + s.value_name;
      out << left;
      if (left.size() < 32) out << std::string(32 - left.size(), ' ');
      else out << "\n" << std::string(32, ' ');
      out << s.help;
      if (!s.default_value.empty()) out << " (default " << s.default_value << ")";
      out << "\n";
    }
  }
  return out.str();
}

std::string ParsedOptions::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  const OptionSpec* spec = set_ ? set_->find(name) : nullptr;
  return spec ? spec->default_value : std::string();
}

namespace {

// "expected KIND from MIN to MAX, got 'TEXT'": the one form of every refusal.
Status rangeError(const std::string& name, const std::string& kind, const std::string& min, const std::string& max,
                  const std::string& text) {
  return Status::error("--", name, ": expected ", kind, " from ", min, " to ", max, ", got '", text, "'");
}

std::string numberText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  return buf;
}

// 100ms, 1s, 10m, 24h: the largest unit that shows the value whole.
std::string durationText(double seconds) {
  if (seconds == 0) return "0";
  if (seconds < 1) return numberText(seconds * 1000) + "ms";
  if (std::fmod(seconds, 3600) == 0) return numberText(seconds / 3600) + "h";
  if (std::fmod(seconds, 60) == 0) return numberText(seconds / 60) + "m";
  return numberText(seconds) + "s";
}

// 4K, 64M, 1G: the largest unit that shows the value whole.
std::string sizeText(uint64_t bytes) {
  const char* units[] = {"", "K", "M", "G", "T", "P"};
  int unit = 0;
  while (unit < 5 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + units[unit];
}

// A number with an optional unit suffix; false when the text is not one.
bool parseScaled(const std::string& text, double* value, std::string* unit) {
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v) || v < 0) return false;
  // Decimal only: strtod would also take hexadecimal ("0x10").
  if (std::string(text.c_str(), static_cast<size_t>(end - text.c_str())).find_first_not_of("0123456789.eE+-") != std::string::npos) return false;
  *value = v;
  *unit = end;
  return true;
}

}  // namespace

Result<uint64_t> ParsedOptions::getUint(const std::string& name, uint64_t min, uint64_t max) const {
  const std::string text = get(name);
  auto refuse = [&] { return rangeError(name, "a whole number", std::to_string(min), std::to_string(max), text); };
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos) return refuse();
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || v < min || v > max) return refuse();
  return static_cast<uint64_t>(v);
}

Result<double> ParsedOptions::getSeconds(const std::string& name, double min, double max) const {
  const std::string text = get(name);
  auto refuse = [&] { return rangeError(name, "a duration (ms, s, m, h)", durationText(min), durationText(max), text); };
  double v = 0;
  std::string unit;
  if (!parseScaled(text, &v, &unit)) return refuse();
  double seconds;
  if (unit.empty() || unit == "s") seconds = v;
  else if (unit == "ms") seconds = v / 1000.0;
  else if (unit == "m" || unit == "min") seconds = v * 60.0;
  else if (unit == "h") seconds = v * 3600.0;
  else return refuse();
  if (!(seconds >= min && seconds <= max)) return refuse();
  return seconds;
}

Result<uint64_t> ParsedOptions::getBytes(const std::string& name, uint64_t min, uint64_t max) const {
  const std::string text = get(name);
  auto refuse = [&] { return rangeError(name, "a size (K, M, G, T)", sizeText(min), sizeText(max), text); };
  double v = 0;
  std::string unit;
  if (!parseScaled(text, &v, &unit)) return refuse();
  double scale = 1;
  if (unit == "" || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else return refuse();
  // Checked as a double first: converting a value beyond uint64_t is undefined.
  const double bytes = v * scale;
  if (!(bytes >= static_cast<double>(min) && bytes <= static_cast<double>(max))) return refuse();
  return static_cast<uint64_t>(bytes);
}

Result<uint64_t> ParsedOptions::getPowerOfTwoBytes(const std::string& name, uint64_t min, uint64_t max) const {
  auto bytes = getBytes(name, min, max);
  if (bytes.isOk() && (*bytes & (*bytes - 1)) == 0) return bytes;
  return rangeError(name, "a power of two", sizeText(min), sizeText(max), get(name));
}

std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;  // suggest only close matches
  for (const std::string& c : candidates) {
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        size_t next = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] == c[j - 1] ? 0 : 1)});
        diagonal = row[j];
        row[j] = next;
      }
    }
    if (row[c.size()] < best_distance) {
      best_distance = row[c.size()];
      best = c;
    }
  }
  return best;
}

Result<ParsedOptions> parseOptions(const OptionSet& set, const std::vector<std::string>& args) {
  ParsedOptions parsed;
  parsed.set_ = &set;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      for (++i; i < args.size(); ++i) parsed.positional_.push_back(args[i]);
      break;
    }
    const OptionSpec* spec = nullptr;
    std::string inline_value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline = true;
      }
      spec = set.find(name);
      if (!spec) {
        std::vector<std::string> names;
        for (const OptionSpec& s : set.specs()) names.push_back(s.name);
        std::string hint = closestMatch(name, names);
        return Status::error("unknown option --", name, hint.empty() ? "" : "; did you mean --" + hint + "?",
                             " (see --help)");
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' && !std::isdigit(static_cast<unsigned char>(arg[1]))) {
      spec = set.findShort(arg[1]);
      if (!spec) return Status::error("unknown option ", arg.substr(0, 2), " (see --help)");
      if (arg.size() > 2) {
        inline_value = arg.substr(2);
        has_inline = true;
      }
    } else {
      parsed.positional_.push_back(arg);
      continue;
    }
    if (spec->value_name.empty()) {
      if (has_inline) return Status::error("--", spec->name, " takes no value");
      parsed.values_[spec->name] = "1";
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) return Status::error("--", spec->name, " needs a value (", spec->value_name, ")");
      inline_value = args[++i];
    }
    parsed.values_[spec->name] = inline_value;
  }
  return parsed;
}

}  // namespace nettrail
