#pragma once
// A small JSON writer for the HTML report's data block. Strings from the kernel
// (interface names, comms) are arbitrary bytes, so every string is re-encoded:
// invalid UTF-8 becomes U+FFFD, and the output never contains a raw '<', '>',
// '&', control character, U+2028 or U+2029. That makes it safe to place inside
// an HTML <script> element (no "</script>" or "<!--" can appear) and to feed to
// JSON.parse.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nettrail {

// Decodes one code point of `text` at `*pos` and advances `*pos`. Returns false
// (and advances one byte) for an invalid sequence: a stray continuation byte, a
// truncated sequence, an overlong form, a surrogate or a value above U+10FFFF.
bool decodeUtf8(std::string_view text, size_t* pos, uint32_t* code_point);

// Appends the UTF-8 encoding of `code_point` to `out`.
void appendUtf8(std::string* out, uint32_t code_point);

// `text` with each invalid UTF-8 sequence replaced by U+FFFD.
std::string sanitizeUtf8(std::string_view text);

// Appends `text` as a quoted JSON string literal with the escaping above.
void appendJsonString(std::string* out, std::string_view text);
std::string jsonString(std::string_view text);

// Builds one JSON document; commas and nesting are tracked so callers only say
// what comes next. Misuse (a value where a key is due) is a bug and aborts.
class JsonWriter {
 public:
  void beginObject();
  void endObject();
  void beginArray();
  void endArray();
  void key(std::string_view name);
  void string(std::string_view text);
  void integer(int64_t value);
  // Non-finite values become null (JSON has no NaN or Infinity).
  void number(double value);
  void boolean(bool value);
  void null();
  // Inserts an already-serialized JSON value (from another JsonWriter).
  void raw(std::string_view json);
  // The document; complete once every begin has its end.
  const std::string& str() const { return out_; }
  bool complete() const { return levels_.empty() && !out_.empty(); }

 private:
  struct Level {
    bool object = false;
    bool empty = true;
  };
  void beforeValue();
  std::string out_;
  std::vector<Level> levels_;
  bool key_pending_ = false;
};

}  // namespace nettrail
