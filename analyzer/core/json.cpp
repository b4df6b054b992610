#include "core/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "nettrail/status.h"

namespace nettrail {

bool decodeUtf8(std::string_view text, size_t* pos, uint32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  size_t i = *pos;
  unsigned char lead = byte(i);
  if (lead < 0x80) {
    *code_point = lead;
    *pos = i + 1;
    return true;
  }
  size_t length = 0;
  uint32_t value = 0;
  uint32_t minimum = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    value = lead & 0x1f;
    minimum = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    value = lead & 0x0f;
    minimum = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    value = lead & 0x07;
    minimum = 0x10000;
  } else {
    *pos = i + 1;  // continuation byte, 0xc0/0xc1 (always overlong) or 0xf5..0xff
    return false;
  }
  if (i + length > text.size()) {
    *pos = i + 1;
    return false;
  }
  for (size_t k = 1; k < length; ++k) {
    unsigned char c = byte(i + k);
    if ((c & 0xc0) != 0x80) {
      *pos = i + 1;
      return false;
    }
    value = (value << 6) | (c & 0x3f);
  }
  if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) {
    *pos = i + 1;
    return false;
  }
  *code_point = value;
  *pos = i + length;
  return true;
}

void appendUtf8(std::string* out, uint32_t code_point) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

std::string sanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t code_point = 0;
    if (!decodeUtf8(text, &pos, &code_point)) code_point = 0xfffd;
    appendUtf8(&out, code_point);
  }
  return out;
}

void appendJsonString(std::string* out, std::string_view text) {
  out->push_back('"');
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t c = 0;
    if (!decodeUtf8(text, &pos, &c)) c = 0xfffd;
    switch (c) {
      case '"': out->append("\\\""); continue;
      case '\\': out->append("\\\\"); continue;
      case '\n': out->append("\\n"); continue;
      case '\r': out->append("\\r"); continue;
      case '\t': out->append("\\t"); continue;
      default: break;
    }
    // Control characters (C0, DEL, C1), the JavaScript line terminators, and the
    // HTML-significant '<', '>', '&' travel as \u escapes.
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == '<' ||
        c == '>' || c == '&') {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out->append(buf);
      continue;
    }
    appendUtf8(out, c);
  }
  out->push_back('"');
}

std::string jsonString(std::string_view text) {
  std::string out;
  appendJsonString(&out, text);
  return out;
}

void JsonWriter::beforeValue() {
  if (levels_.empty()) {
    NT_CHECK(out_.empty());  // one top-level value per document
    return;
  }
  Level& level = levels_.back();
  if (level.object) {
    NT_CHECK(key_pending_);
    key_pending_ = false;
    return;
  }
  if (!level.empty) out_.push_back(',');
  level.empty = false;
}

void JsonWriter::beginObject() {
  beforeValue();
  out_.push_back('{');
  levels_.push_back({.object = true});
}

void JsonWriter::endObject() {
  NT_CHECK(!levels_.empty() && levels_.back().object && !key_pending_);
  levels_.pop_back();
  out_.push_back('}');
}

void JsonWriter::beginArray() {
  beforeValue();
  out_.push_back('[');
  levels_.push_back({.object = false});
}

void JsonWriter::endArray() {
  NT_CHECK(!levels_.empty() && !levels_.back().object);
  levels_.pop_back();
  out_.push_back(']');
}

void JsonWriter::key(std::string_view name) {
  NT_CHECK(!levels_.empty() && levels_.back().object && !key_pending_);
  Level& level = levels_.back();
  if (!level.empty) out_.push_back(',');
  level.empty = false;
  appendJsonString(&out_, name);
  out_.push_back(':');
  key_pending_ = true;
}

void JsonWriter::string(std::string_view text) {
  beforeValue();
  appendJsonString(&out_, text);
}

void JsonWriter::integer(int64_t value) {
  beforeValue();
  out_.append(std::to_string(value));
}

void JsonWriter::number(double value) {
  beforeValue();
  if (!std::isfinite(value)) {
    out_.append("null");
    return;
  }
  // The shortest of %.15g / %.17g that reads back as the same double.
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", value);
  if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof(buf), "%.17g", value);
  out_.append(buf);
}

void JsonWriter::boolean(bool value) {
  beforeValue();
  out_.append(value ? "true" : "false");
}

void JsonWriter::null() {
  beforeValue();
  out_.append("null");
}

void JsonWriter::raw(std::string_view json) {
  beforeValue();
  out_.append(json);
}

}  // namespace nettrail
