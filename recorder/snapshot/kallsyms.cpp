#include "snapshot/kallsyms.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace nettrail {

Kallsyms Kallsyms::parse(std::string_view text) {
  Kallsyms out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // "ffffffff81000000 T _text" or "ffffffffc0a01000 t ovs_dp_process_packet\t[openvswitch]"
    size_t s1 = line.find(' ');
    if (s1 == std::string_view::npos || s1 + 3 > line.size()) continue;
    char type = line[s1 + 1];
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    uint64_t address = 0;
    bool ok = s1 > 0;
    for (size_t i = 0; i < s1 && ok; ++i) {
      char c = line[i];
      int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (digit < 0) ok = false;
      else address = (address << 4) | static_cast<uint64_t>(digit);
    }
    if (!ok || address == 0) continue;
    std::string_view rest = line.substr(s1 + 3);
    KernelSymbolEntry entry;
    entry.address = address;
    size_t tab = rest.find('\t');
    if (tab == std::string_view::npos) {
      entry.name = std::string(rest);
    } else {
      entry.name = std::string(rest.substr(0, tab));
      std::string_view module = rest.substr(tab + 1);
      if (module.size() >= 2 && module.front() == '[' && module.back() == ']')
        entry.module = std::string(module.substr(1, module.size() - 2));
    }
    out.symbols_.push_back(std::move(entry));
  }
  std::stable_sort(out.symbols_.begin(), out.symbols_.end(),
                   [](const KernelSymbolEntry& a, const KernelSymbolEntry& b) { return a.address < b.address; });
  // A symbol's size is the gap to the next one, except across the holes
  // between kernel text, modules and JIT images, where it is unknown (0).
  for (size_t i = 0; i + 1 < out.symbols_.size(); ++i) {
    uint64_t gap = out.symbols_[i + 1].address - out.symbols_[i].address;
    out.symbols_[i].size = gap <= kMaxSymbolSize ? gap : 0;
  }
  return out;
}

Result<Kallsyms> Kallsyms::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error("read ", path, ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  Kallsyms symbols = parse(buffer.str());
  if (symbols.size() == 0)
    return Status::error("read ", path, ": no symbol addresses visible (kernel.kptr_restrict hides them; "
                         "run as root, or set sysctl kernel.kptr_restrict=1)");
  return symbols;
}

const KernelSymbolEntry* Kallsyms::find(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const KernelSymbolEntry& s) { return a < s.address; });
  if (it == symbols_.begin()) return nullptr;
  --it;
  const uint64_t size = it->size != 0 ? it->size : kUnknownSizeReach;
  if (address >= it->address + size) return nullptr;
  return &*it;
}

const KernelSymbolEntry* Kallsyms::byName(std::string_view name) const {
  for (const KernelSymbolEntry& s : symbols_)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace nettrail
