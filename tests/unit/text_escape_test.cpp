#include "core/text_escape.h"

#include <gtest/gtest.h>

namespace nettrail {
namespace {

TEST(EscapeForTerminal, KeepsPrintableText) {
  EXPECT_EQ(escapeForTerminal("eth0"), "eth0");
  EXPECT_EQ(escapeForTerminal("kworker/0:1H"), "kworker/0:1H");
  EXPECT_EQ(escapeForTerminal("网卡0"), "网卡0");  // valid UTF-8 stays readable
  EXPECT_EQ(escapeForTerminal(""), "");
}

TEST(EscapeForTerminal, EscapesControlBytesAndEsc) {
  EXPECT_EQ(escapeForTerminal("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(escapeForTerminal("a\nb\tc\rd"), "a\\x0ab\\x09c\\x0dd");
  EXPECT_EQ(escapeForTerminal(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(escapeForTerminal("\x7f"), "\\x7f");
  EXPECT_EQ(escapeForTerminal("\x1b[2J"), "\\x1b[2J");
}

TEST(EscapeForTerminal, EscapesBackslashSoOutputIsUnambiguous) {
  EXPECT_EQ(escapeForTerminal("a\\x41"), "a\\x5cx41");
}

TEST(EscapeForTerminal, EscapesC1ControlsAndInvalidUtf8) {
  EXPECT_EQ(escapeForTerminal("\xc2\x9b" "31m"), "\\xc2\\x9b31m");   // U+009B CSI
  EXPECT_EQ(escapeForTerminal("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escapeForTerminal("\xc0\xaf"), "\\xc0\\xaf");             // overlong '/'
  EXPECT_EQ(escapeForTerminal("ab\xe4\xb8"), "ab\\xe4\\xb8");          // cut sequence
  EXPECT_EQ(escapeForTerminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");    // surrogate
}

TEST(JsonQuote, EscapesQuotesControlsAndInvalidBytes) {
  EXPECT_EQ(jsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(jsonQuote("\x1b\n"), "\"\\u001b\\n\"");
  EXPECT_EQ(jsonQuote("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(jsonQuote("é"), "\"é\"");
}

TEST(CsvField, QuotesWhenNeeded) {
  EXPECT_EQ(csvField("plain"), "plain");
  EXPECT_EQ(csvField("a,b"), "\"a,b\"");
  EXPECT_EQ(csvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csvField("two\nlines"), "\"two\nlines\"");
}

}  // namespace
}  // namespace nettrail
