#pragma once
// Every string that comes from a recording (comm, interface names, symbols,
// options) is untrusted: a thread can name itself "\x1b]0;pwned\x07". These
// helpers make such text safe for a terminal, CSV and JSON.
#include <string>
#include <string_view>

namespace nettrail {

// Control bytes (C0, DEL, and the C1 range U+0080..U+009F), ESC, backslash and
// bytes that are not valid UTF-8 are shown as \xNN; valid printable UTF-8 is
// kept so interface names in other scripts still read.
std::string escapeForTerminal(std::string_view text);

// A JSON string literal, quotes included; invalid UTF-8 bytes become U+FFFD.
std::string jsonQuote(std::string_view text);

// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
std::string csvField(std::string_view text);

}  // namespace nettrail
