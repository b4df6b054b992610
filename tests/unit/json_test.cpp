#include "core/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace nettrail::json_test {

// A strict JSON checker for tests: accepts exactly RFC 8259 documents and
// collects every decoded string (keys included), so tests can see what
// JSON.parse would give the report script.
class StrictJsonParser {
 public:
  explicit StrictJsonParser(std::string_view text) : text_(text) {}
  bool parse(std::vector<std::string>* strings) {
    strings_ = strings;
    skipSpace();
    if (!value(0)) return false;
    skipSpace();
    return pos_ == text_.size();
  }
  size_t errorOffset() const { return pos_; }

 private:
  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool hex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return false;
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      *out <<= 4;
      if (c >= '0' && c <= '9') *out |= c - '0';
      else if (c >= 'a' && c <= 'f') *out |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') *out |= c - 'A' + 10;
      else return false;
    }
    return true;
  }
  bool string() {
    if (text_[pos_] != '"') return false;
    ++pos_;
    std::string decoded;
    while (pos_ < text_.size()) {
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        if (strings_) strings_->push_back(decoded);
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        size_t start = pos_;
        uint32_t cp = 0;
        if (!decodeUtf8(text_, &pos_, &cp)) return false;  // JSON text must be valid UTF-8
        decoded.append(text_.substr(start, pos_ - start));
        continue;
      }
      ++pos_;
      if (pos_ >= text_.size()) return false;
      char e = text_[pos_++];
      switch (e) {
        case '"': decoded.push_back('"'); break;
        case '\\': decoded.push_back('\\'); break;
        case '/': decoded.push_back('/'); break;
        case 'b': decoded.push_back('\b'); break;
        case 'f': decoded.push_back('\f'); break;
        case 'n': decoded.push_back('\n'); break;
        case 'r': decoded.push_back('\r'); break;
        case 't': decoded.push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t low = 0;
            if (!literal("\\u") || !hex4(&low) || low < 0xdc00 || low > 0xdfff) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return false;
          }
          appendUtf8(&decoded, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool number() {
    size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t s = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > s;
    };
    if (pos_ < text_.size() && text_[pos_] == '0') ++pos_;
    else if (!digits()) return false;
    if (pos_ < text_.size() && text_[pos_] == '.') { ++pos_; if (!digits()) return false; }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return false;
    }
    return pos_ > start;
  }
  bool value(int depth) {
    if (depth > 64 || pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    if (c == '[' || c == '{') {
      const bool object = c == '{';
      const char close = object ? '}' : ']';
      ++pos_;
      skipSpace();
      if (pos_ < text_.size() && text_[pos_] == close) { ++pos_; return true; }
      while (true) {
        skipSpace();
        if (object) {
          if (pos_ >= text_.size() || !string()) return false;
          skipSpace();
          if (!literal(":")) return false;
          skipSpace();
        }
        if (!value(depth + 1)) return false;
        skipSpace();
        if (pos_ >= text_.size()) return false;
        if (text_[pos_] == close) { ++pos_; return true; }
        if (text_[pos_] != ',') return false;
        ++pos_;
      }
    }
    return number();
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<std::string>* strings_ = nullptr;
};

// Parses `json` strictly and appends its decoded strings; false on malformed input.
bool parseJson(std::string_view json, std::vector<std::string>* strings) {
  StrictJsonParser parser(json);
  return parser.parse(strings);
}

namespace {

std::string decodeOne(const std::string& json) {
  std::vector<std::string> strings;
  EXPECT_TRUE(parseJson(json, &strings)) << json;
  return strings.size() == 1 ? strings[0] : std::string("<parse failed>");
}

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(jsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(jsonString("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(jsonString(std::string("\x00\x01\x1b\x1f\x7f", 5)), "\"\\u0000\\u0001\\u001b\\u001f\\u007f\"");
  EXPECT_EQ(jsonString("\xc2\x85"), "\"\\u0085\"");  // C1 NEL
}

TEST(JsonString, EscapesLineSeparatorsForJavaScript) {
  EXPECT_EQ(jsonString("\xe2\x80\xa8|\xe2\x80\xa9"), "\"\\u2028|\\u2029\"");
}

TEST(JsonString, CannotCloseAScriptElementOrOpenAComment) {
  const std::string out = jsonString("</script><script>alert(1)</script><!-- -->&");
  EXPECT_EQ(out.find('<'), std::string::npos) << out;
  EXPECT_EQ(out.find('>'), std::string::npos) << out;
  EXPECT_EQ(out.find('&'), std::string::npos) << out;
  EXPECT_EQ(decodeOne(out), "</script><script>alert(1)</script><!-- -->&");
}

TEST(JsonString, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string replacement = "\xef\xbf\xbd";
  // Stray continuation, 0xff, overlong '/', UTF-8-encoded surrogate, above U+10FFFF, truncated.
  EXPECT_EQ(sanitizeUtf8("a\x80z"), "a" + replacement + "z");
  EXPECT_EQ(sanitizeUtf8("\xff"), replacement);
  EXPECT_EQ(sanitizeUtf8("\xc0\xaf"), replacement + replacement);
  EXPECT_EQ(sanitizeUtf8("\xed\xa0\x80"), replacement + replacement + replacement);
  EXPECT_EQ(sanitizeUtf8("\xf4\x90\x80\x80"), replacement + replacement + replacement + replacement);
  EXPECT_EQ(sanitizeUtf8("ab\xe2\x82"), "ab" + replacement + replacement);
  // Valid text passes through unchanged, including 4-byte sequences.
  EXPECT_EQ(sanitizeUtf8("eth0 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "eth0 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  const std::string out = jsonString("\x1b[31m\xff");
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\xff'), std::string::npos);
  EXPECT_EQ(decodeOne(out), "\x1b[31m" + replacement);
}

TEST(JsonString, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(decodeOne(jsonString(all)), sanitizeUtf8(all));
  std::string valid = "x\xe2\x80\xa8y\xf0\x9f\x98\x80z\"\\/";
  EXPECT_EQ(decodeOne(jsonString(valid)), valid);
}

TEST(JsonWriter, WritesNestedValuesWithCommas) {
  JsonWriter w;
  w.beginObject();
  w.key("a");
  w.beginArray();
  w.integer(1);
  w.integer(-2);
  w.beginObject();
  w.endObject();
  w.beginArray();
  w.endArray();
  w.endArray();
  w.key("b");
  w.boolean(true);
  w.key("c");
  w.null();
  w.key("d");
  w.number(0.1);
  w.key("e");
  w.number(std::nan(""));
  w.key("f");
  w.number(std::numeric_limits<double>::infinity());
  w.key("g");
  w.raw("[3]");
  w.endObject();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(w.str(), "{\"a\":[1,-2,{},[]],\"b\":true,\"c\":null,\"d\":0.1,\"e\":null,\"f\":null,\"g\":[3]}");
  EXPECT_TRUE(parseJson(w.str(), nullptr));
}

TEST(JsonWriter, NumbersReadBackExactly) {
  for (double v : {1.0 / 3.0, 1e300, -2.5e-10, 123456789.125}) {
    JsonWriter w;
    w.number(v);
    EXPECT_EQ(std::strtod(w.str().c_str(), nullptr), v) << w.str();
  }
}

TEST(StrictJsonParser, RejectsMalformedDocuments) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\"}", "\"\x01\"", "\"\\ud800\"", "01", "[1] x", "'a'", "\"\xff\""}) {
    EXPECT_FALSE(parseJson(bad, nullptr)) << bad;
  }
}

}  // namespace
}  // namespace nettrail::json_test
