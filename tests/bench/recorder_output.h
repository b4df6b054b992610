#pragma once
// Figures from nettrail-record's closing lines, for benchmarks that run the
// recorder as a child process ("... 1234 events, 0 lost, ... recorder CPU
// 0.12 s user + 0.03 s system ...").
#include <chrono>
#include <cstdlib>
#include <string>

namespace nettrail::bench {

inline double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The number right after the last occurrence of `after`; -1 when absent.
inline double figure(const std::string& text, const std::string& after) {
  size_t at = text.rfind(after);
  if (at == std::string::npos) return -1;
  return std::atof(text.c_str() + at + after.size());
}

// The number right before the last occurrence of `word` ("<number> <word>"); -1 when absent.
inline double figureBefore(const std::string& text, const std::string& word) {
  size_t at = text.rfind(word);
  if (at == std::string::npos || at < 2) return -1;
  size_t start = text.rfind(' ', at - 2);
  return std::atof(text.c_str() + (start == std::string::npos ? 0 : start + 1));
}

}  // namespace nettrail::bench
