#include "core/text_escape.h"

#include <cstdint>
#include <cstdio>

namespace nettrail {
namespace {

void appendHexEscape(std::string& out, unsigned char byte) {
  char buf[5];
  std::snprintf(buf, sizeof(buf), "\\x%02x", byte);
  out += buf;
}

// Length of the valid UTF-8 sequence at text[i] (1..4), or 0 if invalid;
// `code_point` receives its value. Overlong forms and surrogates are invalid.
size_t utf8Sequence(std::string_view text, size_t i, uint32_t* code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length;
  uint32_t value;
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2;
    value = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    value = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    value = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    value = (value << 6) | (byte(i + k) & 0x3f);
  }
  static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (value < kMinimum[length] || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return 0;
  *code_point = value;
  return length;
}

}  // namespace

std::string escapeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t code_point = 0;
    const size_t length = utf8Sequence(text, i, &code_point);
    if (length == 0) {
      appendHexEscape(out, static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    const bool control = code_point < 0x20 || code_point == 0x7f || (code_point >= 0x80 && code_point <= 0x9f);
    if (control || code_point == '\\') {
      for (size_t k = 0; k < length; ++k) appendHexEscape(out, static_cast<unsigned char>(text[i + k]));
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

std::string jsonQuote(std::string_view text) {
  std::string out = "\"";
  size_t i = 0;
  while (i < text.size()) {
    uint32_t code_point = 0;
    const size_t length = utf8Sequence(text, i, &code_point);
    if (length == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (code_point == '"') {
      out += "\\\"";
    } else if (code_point == '\\') {
      out += "\\\\";
    } else if (code_point == '\n') {
      out += "\\n";
    } else if (code_point == '\t') {
      out += "\\t";
    } else if (code_point < 0x20 || code_point == 0x7f || (code_point >= 0x80 && code_point <= 0x9f) ||
               code_point == 0x2028 || code_point == 0x2029) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", code_point);
      out += buf;
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  out += '"';
  return out;
}

std::string csvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace nettrail
