#pragma once
// Kernel text symbols from /proc/kallsyms, so the recorder can ship, for each
// address it sees, the function that covers it (the analyzer has no kallsyms).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nettrail/status.h"

namespace nettrail {

struct KernelSymbolEntry {
  uint64_t address = 0;
  uint64_t size = 0;  // to the next symbol
  std::string name;
  std::string module;  // empty for vmlinux
};

class Kallsyms {
 public:
  // Gaps larger than this are holes in the address space, not functions.
  static constexpr uint64_t kMaxSymbolSize = 1ull << 20;
  // How far past a symbol of unknown size an address may still be its.
  static constexpr uint64_t kUnknownSizeReach = 1ull << 16;

  // Parses kallsyms text (the contents of /proc/kallsyms).
  static Kallsyms parse(std::string_view text);
  // Reads /proc/kallsyms (or `path`). Fails when addresses are hidden (kptr_restrict).
  static Result<Kallsyms> load(const std::string& path = "/proc/kallsyms");

  // The symbol covering `address`, or nullptr. The index is stable.
  const KernelSymbolEntry* find(uint64_t address) const;
  size_t indexOf(const KernelSymbolEntry* entry) const { return static_cast<size_t>(entry - symbols_.data()); }
  const KernelSymbolEntry& at(size_t index) const { return symbols_[index]; }
  // First symbol with this exact name (text symbols only), or nullptr.
  const KernelSymbolEntry* byName(std::string_view name) const;
  size_t size() const { return symbols_.size(); }

 private:
  std::vector<KernelSymbolEntry> symbols_;  // sorted by address
};

}  // namespace nettrail
