#include "options.h"

#include <algorithm>
#include <cmath>
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

Result<uint64_t> ParsedOptions::getUint(const std::string& name, uint64_t max) const {
  std::string text = get(name);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return Status::error("--", name, ": expected a whole number, got '", text, "'");
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || v > max) return Status::error("--", name, ": ", text, " is out of range (0..", max, ")");
  return static_cast<uint64_t>(v);
}

Result<double> ParsedOptions::getSeconds(const std::string& name) const {
  std::string text = get(name);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || !std::isfinite(v) || v < 0)
    return Status::error("--", name, ": expected a duration like 5, 5s, 500ms, 2m or 1h, got '", text, "'");
  std::string unit(end);
  if (unit.empty() || unit == "s") return v;
  if (unit == "ms") return v / 1000.0;
  if (unit == "m" || unit == "min") return v * 60.0;
  if (unit == "h") return v * 3600.0;
  return Status::error("--", name, ": unknown unit '", unit, "' in '", text, "' (use ms, s, m or h)");
}

Result<uint64_t> ParsedOptions::getBytes(const std::string& name) const {
  std::string text = get(name);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || !std::isfinite(v) || v < 0)
    return Status::error("--", name, ": expected a size like 64K, 100M or 2G, got '", text, "'");
  std::string unit(end);
  double scale = 1;
  if (unit == "" || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else return Status::error("--", name, ": unknown unit '", unit, "' in '", text, "' (use K, M or G)");
  return static_cast<uint64_t>(v * scale);
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
