#include "import/monitor_import.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "core/clock_map.h"
#include "core/embedded_assets.h"
#include "core/json.h"

namespace nettrail {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr size_t kMaxQuoted = 80;
constexpr int kMaxJsonDepth = 64;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// `text` quoted for a message, shortened.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  out += sanitizeUtf8(text.substr(0, kMaxQuoted));
  if (text.size() > kMaxQuoted) out += "...";
  return out + "\"";
}

std::vector<std::string_view> splitWhitespace(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// A finite or non-finite decimal number; nullopt if `text` is not one.
std::optional<double> parseNumber(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string copy(text);
  std::replace(copy.begin(), copy.end(), ',', '.');  // pidstat in locales with a decimal comma
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  if (errno == ERANGE && std::isfinite(value) && value != 0) return std::nullopt;
  return value;
}

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int64_t digitsValue(std::string_view s) {
  int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// "YYYY-MM-DD" or "MM/DD/YYYY" (pidstat's banner in the C locale) or "MM/DD/YY" -> days since the epoch.
std::optional<int64_t> parseDate(std::string_view s) {
  if (s.size() == 10 && s[4] == '-' && s[7] == '-' && allDigits(s.substr(0, 4)) && allDigits(s.substr(5, 2)) &&
      allDigits(s.substr(8, 2))) {
    const int64_t m = digitsValue(s.substr(5, 2)), d = digitsValue(s.substr(8, 2));
    if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
    return daysFromCivil(digitsValue(s.substr(0, 4)), static_cast<unsigned>(m), static_cast<unsigned>(d));
  }
  if ((s.size() == 10 || s.size() == 8) && s[2] == '/' && s[5] == '/' && allDigits(s.substr(0, 2)) &&
      allDigits(s.substr(3, 2)) && allDigits(s.substr(6))) {
    const int64_t m = digitsValue(s.substr(0, 2)), d = digitsValue(s.substr(3, 2));
    int64_t y = digitsValue(s.substr(6));
    if (s.size() == 8) y += 2000;
    if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
    return daysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  }
  return std::nullopt;
}

// "HH:MM:SS" with an optional AM/PM token -> seconds of the day.
std::optional<int64_t> parseTimeOfDay(std::string_view s, std::string_view ampm) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':' || !allDigits(s.substr(0, 2)) || !allDigits(s.substr(3, 2)) ||
      !allDigits(s.substr(6, 2)))
    return std::nullopt;
  int64_t h = digitsValue(s.substr(0, 2));
  const int64_t m = digitsValue(s.substr(3, 2)), sec = digitsValue(s.substr(6, 2));
  if (!ampm.empty()) {
    if (h < 1 || h > 12) return std::nullopt;
    if (h == 12) h = 0;
    if (ampm == "PM") h += 12;
  }
  if (h > 23 || m > 59 || sec > 60) return std::nullopt;
  return h * 3600 + m * 60 + sec;
}

// Splits a CSV line; fields may be double-quoted with "" for a quote.
std::optional<std::vector<std::string>> splitCsv(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted_field = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted_field) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted_field = false;
      } else {
        fields.back().push_back(c);
      }
    } else if (c == '"' && trim(fields.back()).empty()) {
      fields.back().clear();
      quoted_field = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back().push_back(c);
    }
  }
  if (quoted_field) return std::nullopt;
  for (std::string& f : fields) f = std::string(trim(f));
  return fields;
}

// Iterates lines (LF or CRLF) with 1-based numbers.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    *line = text_.substr(pos_, end - pos_);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    pos_ = end + 1;
    ++number_;
    return true;
  }
  int64_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t number_ = 0;
};

class Parser {
 public:
  Parser(std::string_view text, const MonitorParseOptions& options) : lines_(text), options_(options) {}

  template <typename... Args>
  Status error(const Args&... args) const {
    return Status::error(options_.file_name, ":", lines_.number(), ": ", args...);
  }

  Status parsePing(MonitorData* out);
  Status parsePidstat(MonitorData* out);
  Status parseCsv(MonitorData* out);
  Status parsePrometheusText(MonitorData* out);

  Result<int64_t> timestamp(std::string_view text) {
    auto t = parseTimestampNs(text, options_.tz_offset_s);
    if (!t.isOk()) return error(t.status().message());
    return t;
  }

  LineReader lines_;
  const MonitorParseOptions& options_;
};

// After `key` (e.g. "icmp_seq="), the digits that follow; nullopt without them.
std::optional<int64_t> numberAfter(std::string_view text, std::string_view key) {
  size_t at = text.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  size_t start = at + key.size(), end = start;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == start || end - start > 18) return std::nullopt;
  return digitsValue(text.substr(start, end - start));
}

Status Parser::parsePing(MonitorData* out) {
  std::string target;  // from the "PING host (address)" line
  std::string_view line;
  bool header_allowed = true;
  while (lines_.next(&line)) {
    line = trim(line);
    if (line.empty()) continue;
    if (startsWith(line, "PING ")) {
      const size_t open = line.find('('), close = line.find(')');
      target = open != std::string_view::npos && close > open ? std::string(line.substr(open + 1, close - open - 1))
                                                               : std::string(splitWhitespace(line)[1]);
      continue;
    }
    if (startsWith(line, "---") || line.find("packets transmitted") != std::string_view::npos ||
        startsWith(line, "rtt ") || startsWith(line, "round-trip"))
      continue;
    if (line[0] == '[') {
      header_allowed = false;
      const size_t close = line.find(']');
      if (close == std::string_view::npos) return error("expected \"[EPOCH.SECONDS]\" (ping -D), got ", quoted(line));
      NT_ASSIGN_OR_RETURN(int64_t t, timestamp(line.substr(1, close - 1)));
      std::string_view rest = trim(line.substr(close + 1));
      MonitorProbe probe;
      probe.realtime_ns = t;
      probe.target = target;
      probe.line = lines_.number();
      if (rest.find(" bytes from ") != std::string_view::npos) {
        // "64 bytes from 10.0.0.2: icmp_seq=5 ttl=64 time=0.123 ms", or "from name (10.0.0.2):".
        size_t from = rest.find(" bytes from ") + 12;
        size_t colon = rest.find(": ", from);
        if (colon == std::string_view::npos) return error("expected \"from ADDRESS:\", got ", quoted(rest));
        std::string_view who = rest.substr(from, colon - from);
        const size_t paren = who.find(" (");
        if (paren != std::string_view::npos && who.back() == ')') who = who.substr(paren + 2, who.size() - paren - 3);
        probe.target = std::string(who);
        probe.seq = numberAfter(rest, "icmp_seq=");
        if (!probe.seq) probe.seq = numberAfter(rest, "icmp_req=");
        if (!probe.seq) return error("expected \"icmp_seq=N\", got ", quoted(rest));
        const size_t at = rest.find("time=");
        if (at == std::string_view::npos) return error("expected \"time=T ms\", got ", quoted(rest));
        std::string_view value = rest.substr(at + 5);
        value = value.substr(0, value.find(' '));
        auto rtt = parseNumber(value);
        if (!rtt || !std::isfinite(*rtt) || *rtt < 0) return error("expected \"time=T ms\", got ", quoted(rest));
        probe.rtt_ms = *rtt;
        target = probe.target;  // for later timeouts when the log has no "PING" line
      } else if (startsWith(rest, "no answer yet for icmp_seq=") || startsWith(rest, "From ") ||
                 startsWith(rest, "Request timeout for icmp_seq")) {
        probe.seq = numberAfter(rest, "icmp_seq=");
        if (!probe.seq) probe.seq = numberAfter(rest, "icmp_seq ");
        if (!probe.seq) return error("expected \"icmp_seq=N\", got ", quoted(rest));
      } else {
        return error("expected a ping reply (\"64 bytes from ...\") or \"no answer yet for icmp_seq=N\", got ",
                     quoted(rest));
      }
      out->probes.push_back(std::move(probe));
      continue;
    }
    if (line.find(" bytes from ") != std::string_view::npos || startsWith(line, "no answer yet"))
      return error("ping line without a [timestamp]; record with ping -D (and -O for timeouts)");
    // CSV: timestamp,target,rtt_ms|timeout
    auto fields = splitCsv(line);
    if (!fields || fields->size() != 3)
      return error("expected a ping -D line or \"timestamp,target,rtt_ms|timeout\", got ", quoted(line));
    const std::string& first = (*fields)[0];
    if (header_allowed && !first.empty() && !std::isdigit(static_cast<unsigned char>(first[0]))) {
      header_allowed = false;  // a header line such as "timestamp,target,rtt_ms"
      continue;
    }
    header_allowed = false;
    MonitorProbe probe;
    NT_ASSIGN_OR_RETURN(probe.realtime_ns, timestamp(first));
    probe.target = (*fields)[1];
    probe.line = lines_.number();
    std::string rtt_text = (*fields)[2];
    std::transform(rtt_text.begin(), rtt_text.end(), rtt_text.begin(), [](unsigned char c) { return std::tolower(c); });
    if (rtt_text != "timeout" && rtt_text != "lost") {
      auto rtt = parseNumber(rtt_text);
      if (!rtt || !std::isfinite(*rtt) || *rtt < 0)
        return error("expected an RTT in ms or \"timeout\" in the third field, got ", quoted((*fields)[2]));
      probe.rtt_ms = *rtt;
    }
    out->probes.push_back(std::move(probe));
  }
  return Status::ok();
}

Status Parser::parsePidstat(MonitorData* out) {
  std::optional<int64_t> banner_day;
  std::vector<std::string> columns;  // header names after the time
  int id_column = -1, tid_column = -1, command_column = -1;
  std::vector<int> percent_columns;
  std::optional<int64_t> last_day_seconds;
  int64_t day_shift = 0;
  std::string_view line;
  while (lines_.next(&line)) {
    std::string_view t = trim(line);
    if (t.empty() || startsWith(t, "Average:")) continue;
    std::vector<std::string_view> tokens = splitWhitespace(t);
    if (startsWith(t, "Linux ")) {
      for (std::string_view tok : tokens)
        if (auto day = parseDate(tok)) banner_day = day;
      continue;
    }
    bool is_header = false;
    for (std::string_view tok : tokens)
      if (tok == "Command") is_header = true;
    if (is_header) {
      if (!tokens.empty() && tokens[0] == "#") tokens.erase(tokens.begin());
      else if (!tokens.empty() && tokens[0][0] == '#') tokens[0].remove_prefix(1);
      size_t first = 0;
      while (first < tokens.size() && tokens[first] != "UID" && tokens[first] != "USER") ++first;
      if (first == tokens.size()) return error("pidstat header without a UID or USER column: ", quoted(t));
      columns.assign(tokens.begin() + first, tokens.end());
      id_column = tid_column = command_column = -1;
      percent_columns.clear();
      for (size_t i = 0; i < columns.size(); ++i) {
        if (columns[i] == "PID" || columns[i] == "TGID") id_column = static_cast<int>(i);
        else if (columns[i] == "TID") tid_column = static_cast<int>(i);
        else if (columns[i] == "Command") command_column = static_cast<int>(i);
        else if (columns[i][0] == '%') percent_columns.push_back(static_cast<int>(i));
      }
      if (id_column < 0 || command_column < 0 || command_column + 1 != static_cast<int>(columns.size()))
        return error("pidstat header needs PID (or TGID) and a last Command column: ", quoted(t));
      if (percent_columns.empty()) return error("pidstat header has no %CPU-style column (use pidstat -u): ", quoted(t));
      continue;
    }
    if (columns.empty()) return error("pidstat row before its header line (expected \"... UID PID ... Command\"), got ",
                                      quoted(t));
    // Time: epoch seconds (-h), or HH:MM:SS with an optional AM/PM token.
    size_t time_tokens = 1;
    int64_t realtime_ns = 0;
    if (allDigits(tokens[0])) {
      NT_ASSIGN_OR_RETURN(realtime_ns, timestamp(tokens[0]));
    } else {
      std::string_view ampm;
      if (tokens.size() > 1 && (tokens[1] == "AM" || tokens[1] == "PM")) {
        ampm = tokens[1];
        time_tokens = 2;
      }
      auto seconds = parseTimeOfDay(tokens[0], ampm);
      if (!seconds) return error("expected a time (epoch seconds or HH:MM:SS) at the start of the row, got ",
                                 quoted(tokens[0]));
      std::optional<int64_t> day = banner_day;
      if (!options_.date.empty()) {
        day = parseDate(options_.date);
        if (!day) return error("--date ", quoted(options_.date), ": expected YYYY-MM-DD");
      }
      if (!day) return error("local time ", quoted(tokens[0]),
                             " with no date: the file has no \"Linux ... MM/DD/YYYY\" banner line; pass --date "
                             "YYYY-MM-DD (or record with pidstat -h for epoch times)");
      if (!options_.tz_offset_s)
        return error("local time ", quoted(tokens[0]),
                     " needs the monitor's time zone: pass --tz (e.g. --tz UTC or --tz +02:00), or record with "
                     "pidstat -h for epoch times");
      // A time of day earlier than the last by more than 12 h is the next day.
      if (last_day_seconds && *seconds + 12 * 3600 < *last_day_seconds) day_shift += 1;
      last_day_seconds = *seconds;
      realtime_ns = ((*day + day_shift) * 86400 + *seconds - *options_.tz_offset_s) * kNsPerSecond;
    }
    if (tokens.size() < time_tokens + columns.size())
      return error("pidstat row has ", tokens.size() - time_tokens, " fields after the time, header has ",
                   columns.size(), ": ", quoted(t));
    auto field = [&](int column) { return tokens[time_tokens + static_cast<size_t>(column)]; };
    std::string command;
    for (size_t i = time_tokens + static_cast<size_t>(command_column); i < tokens.size(); ++i) {
      if (!command.empty()) command += ' ';
      command += std::string(tokens[i]);
    }
    if (startsWith(command, "|__")) command.erase(0, 3);
    std::string identity;
    if (tid_column >= 0 && field(tid_column) != "-") {
      if (!allDigits(field(tid_column))) return error("expected a TID, got ", quoted(field(tid_column)));
      identity = command + " tid=" + std::string(field(tid_column));
    } else {
      if (!allDigits(field(id_column))) return error("expected a PID, got ", quoted(field(id_column)));
      identity = command + " pid=" + std::string(field(id_column));
    }
    for (int column : percent_columns) {
      auto value = parseNumber(field(column));
      if (!value) return error("expected a number in column ", columns[static_cast<size_t>(column)], ", got ",
                               quoted(field(column)));
      MonitorSample sample;
      sample.realtime_ns = realtime_ns;
      sample.series = columns[static_cast<size_t>(column)] + " " + identity;
      if (std::isfinite(*value)) sample.value = *value;
      sample.line = lines_.number();
      out->samples.push_back(std::move(sample));
    }
  }
  if (columns.empty()) return Status::error(options_.file_name, ": no pidstat header line (\"... UID PID ... Command\")");
  return Status::ok();
}

Status Parser::parseCsv(MonitorData* out) {
  std::string_view line;
  bool first = true;
  while (lines_.next(&line)) {
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    auto fields = splitCsv(line);
    if (!fields) return error("unterminated quoted field: ", quoted(line));
    if (fields->size() != 3) return error("expected \"timestamp,series,value\", got ", fields->size(), " fields: ",
                                          quoted(line));
    const std::string& ts = (*fields)[0];
    if (first && !ts.empty() && !std::isdigit(static_cast<unsigned char>(ts[0]))) {
      first = false;
      continue;  // header line
    }
    first = false;
    MonitorSample sample;
    NT_ASSIGN_OR_RETURN(sample.realtime_ns, timestamp(ts));
    sample.series = (*fields)[1];
    if (sample.series.empty()) return error("empty series name");
    auto value = parseNumber((*fields)[2]);
    if (!value) return error("expected a number in the value field, got ", quoted((*fields)[2]));
    if (std::isfinite(*value)) sample.value = *value;
    sample.line = lines_.number();
    out->samples.push_back(std::move(sample));
  }
  return Status::ok();
}

bool isMetricNameChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// metric{a="x",b="y"} with labels sorted, so the same series has one name.
std::string seriesName(const std::string& metric, std::vector<std::pair<std::string, std::string>> labels) {
  std::sort(labels.begin(), labels.end());
  std::string out = metric;
  if (labels.empty()) return out;
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  return out + '}';
}

Status Parser::parsePrometheusText(MonitorData* out) {
  std::string_view line;
  while (lines_.next(&line)) {
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t i = 0;
    while (i < t.size() && isMetricNameChar(t[i], i == 0)) ++i;
    if (i == 0) return error("expected a metric name, got ", quoted(t));
    std::string metric(t.substr(0, i));
    std::vector<std::pair<std::string, std::string>> labels;
    if (i < t.size() && t[i] == '{') {
      ++i;
      while (true) {
        while (i < t.size() && (t[i] == ' ' || t[i] == ',')) ++i;
        if (i < t.size() && t[i] == '}') {
          ++i;
          break;
        }
        size_t start = i;
        while (i < t.size() && isMetricNameChar(t[i], i == start)) ++i;
        if (i == start || i >= t.size() || t[i] != '=' || i + 1 >= t.size() || t[i + 1] != '"')
          return error("expected label=\"value\" in ", quoted(t));
        std::string name(t.substr(start, i - start));
        i += 2;
        std::string value;
        bool closed = false;
        for (; i < t.size(); ++i) {
          if (t[i] == '\\' && i + 1 < t.size()) {
            ++i;
            value += t[i] == 'n' ? '\n' : t[i];
          } else if (t[i] == '"') {
            closed = true;
            ++i;
            break;
          } else {
            value += t[i];
          }
        }
        if (!closed) return error("unterminated label value in ", quoted(t));
        labels.emplace_back(std::move(name), std::move(value));
      }
    }
    std::vector<std::string_view> rest = splitWhitespace(t.substr(i));
    if (rest.empty()) return error("expected a value after the metric name, got ", quoted(t));
    auto value = parseNumber(rest[0]);
    if (!value) return error("expected a sample value, got ", quoted(rest[0]));
    if (rest.size() < 2)
      return error("sample without a timestamp; export with timestamps (ms since the epoch after the value)");
    if (rest.size() > 2) return error("unexpected text after the timestamp: ", quoted(rest[2]));
    std::string_view ts = rest[1];
    if (!allDigits(ts)) return error("expected a timestamp in ms since the epoch, got ", quoted(ts));
    if (ts.size() > 15) return error("timestamp ", quoted(ts), " is too large for ms since the epoch");
    MonitorSample sample;
    sample.realtime_ns = digitsValue(ts) * 1'000'000;
    sample.series = seriesName(metric, std::move(labels));
    if (std::isfinite(*value)) sample.value = *value;
    sample.line = lines_.number();
    out->samples.push_back(std::move(sample));
  }
  return Status::ok();
}

// ------------------------------------------------------------ minimal JSON reader
// Enough for a Prometheus query export: objects, arrays, strings, numbers,
// true/false/null; depth-limited; errors carry the line.
struct JsonNode {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  double number = 0;
  std::string text;  // string value, or the number's literal
  std::vector<JsonNode> items;
  std::vector<std::pair<std::string, JsonNode>> members;
  const JsonNode* find(std::string_view key) const {
    for (const auto& [k, v] : members)
      if (k == key) return &v;
    return nullptr;
  }
};

class JsonReader {
 public:
  JsonReader(std::string_view text, const std::string& file) : text_(text), file_(file) {}
  Result<JsonNode> document() {
    JsonNode node;
    NT_RETURN_IF_ERROR(value(&node, 0));
    skipSpace();
    if (pos_ != text_.size()) return error("unexpected text after the JSON document");
    return node;
  }

 private:
  Status error(const std::string& what) const {
    const int64_t line = 1 + std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(pos_), '\n');
    return Status::error(file_, ":", line, ": JSON: ", what);
  }
  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  Status string(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in a string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out->push_back(e); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          auto hex4 = [&](uint32_t* v) {
            if (pos_ + 4 > text_.size()) return false;
            *v = 0;
            for (int k = 0; k < 4; ++k) {
              const char h = text_[pos_++];
              *v <<= 4;
              if (h >= '0' && h <= '9') *v |= static_cast<uint32_t>(h - '0');
              else if (h >= 'a' && h <= 'f') *v |= static_cast<uint32_t>(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F') *v |= static_cast<uint32_t>(h - 'A' + 10);
              else return false;
            }
            return true;
          };
          uint32_t cp = 0;
          if (!hex4(&cp)) return error("bad \\u escape");
          if (cp >= 0xD800 && cp < 0xDC00 && literal("\\u")) {
            uint32_t low = 0;
            if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) return error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
          }
          appendUtf8(out, cp);
          break;
        }
        default: return error("bad escape in a string");
      }
    }
    return error("unterminated string");
  }
  Status value(JsonNode* node, int depth) {
    if (depth > kMaxJsonDepth) return error("nested too deeply");
    skipSpace();
    if (pos_ >= text_.size()) return error("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{') {
      node->kind = JsonNode::kObject;
      ++pos_;
      skipSpace();
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return Status::ok();
      }
      while (true) {
        skipSpace();
        if (pos_ >= text_.size() || text_[pos_] != '"') return error("expected a member name");
        std::string key;
        NT_RETURN_IF_ERROR(string(&key));
        skipSpace();
        if (pos_ >= text_.size() || text_[pos_] != ':') return error("expected ':'");
        ++pos_;
        JsonNode member;
        NT_RETURN_IF_ERROR(value(&member, depth + 1));
        node->members.emplace_back(std::move(key), std::move(member));
        skipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; return Status::ok(); }
        return error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      node->kind = JsonNode::kArray;
      ++pos_;
      skipSpace();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return Status::ok();
      }
      while (true) {
        JsonNode item;
        NT_RETURN_IF_ERROR(value(&item, depth + 1));
        node->items.push_back(std::move(item));
        skipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; return Status::ok(); }
        return error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      node->kind = JsonNode::kString;
      return string(&node->text);
    }
    if (literal("true")) { node->kind = JsonNode::kBool; node->number = 1; return Status::ok(); }
    if (literal("false")) { node->kind = JsonNode::kBool; return Status::ok(); }
    if (literal("null")) return Status::ok();
    const size_t start = pos_;
    while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '-' ||
                                   text_[pos_] == '+' || text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      ++pos_;
    auto number = parseNumber(text_.substr(start, pos_ - start));
    if (pos_ == start || !number) return error("expected a value");
    node->kind = JsonNode::kNumber;
    node->number = *number;
    node->text = std::string(text_.substr(start, pos_ - start));
    return Status::ok();
  }

  std::string_view text_;
  const std::string& file_;
  size_t pos_ = 0;
};

Status parsePrometheusJson(std::string_view text, const MonitorParseOptions& options, MonitorData* out) {
  JsonReader reader(text, options.file_name);
  NT_ASSIGN_OR_RETURN(JsonNode doc, reader.document());
  auto fail = [&](const std::string& where, const std::string& what) {
    return Status::error(options.file_name, ": ", where, ": ", what);
  };
  if (const JsonNode* status = doc.find("status"); status && status->kind == JsonNode::kString &&
                                                   status->text != "success")
    return fail("status", "the query export says \"" + sanitizeUtf8(status->text) + "\", not success");
  const JsonNode* data = doc.find("data");
  if (!data || data->kind != JsonNode::kObject) return fail("data", "expected an object (a Prometheus query export)");
  const JsonNode* result = data->find("result");
  if (!result || result->kind != JsonNode::kArray) return fail("data.result", "expected an array");
  for (size_t r = 0; r < result->items.size(); ++r) {
    const JsonNode& series = result->items[r];
    const std::string where = "data.result[" + std::to_string(r) + "]";
    if (series.kind != JsonNode::kObject) return fail(where, "expected an object");
    const JsonNode* metric = series.find("metric");
    if (!metric || metric->kind != JsonNode::kObject) return fail(where + ".metric", "expected an object");
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    for (const auto& [k, v] : metric->members) {
      if (v.kind != JsonNode::kString) return fail(where + ".metric." + k, "expected a string");
      if (k == "__name__") name = v.text;
      else labels.emplace_back(k, v.text);
    }
    const std::string series_name = seriesName(name.empty() ? "series" : name, labels);
    std::vector<const JsonNode*> points;
    std::string points_key = "values";
    if (const JsonNode* values = series.find("values")) {
      if (values->kind != JsonNode::kArray) return fail(where + ".values", "expected an array");
      for (const JsonNode& p : values->items) points.push_back(&p);
    } else if (const JsonNode* value = series.find("value")) {
      points.push_back(value);
      points_key = "value";
    } else {
      return fail(where, "expected \"values\" (range query) or \"value\" (instant query)");
    }
    for (size_t i = 0; i < points.size(); ++i) {
      const JsonNode& p = *points[i];
      const std::string at = where + "." + points_key + (points_key == "values" ? "[" + std::to_string(i) + "]" : "");
      if (p.kind != JsonNode::kArray || p.items.size() != 2 || p.items[0].kind != JsonNode::kNumber ||
          p.items[1].kind != JsonNode::kString)
        return fail(at, "expected [unix_seconds, \"value\"]");
      auto t = parseTimestampNs(p.items[0].text);
      if (!t.isOk()) return fail(at, t.status().message());
      auto v = parseNumber(p.items[1].text);
      if (!v) return fail(at, "expected a number in quotes, got " + quoted(p.items[1].text));
      MonitorSample sample;
      sample.realtime_ns = *t;
      sample.series = series_name;
      if (std::isfinite(*v)) sample.value = *v;
      out->samples.push_back(std::move(sample));
    }
  }
  return Status::ok();
}

}  // namespace

Result<MonitorFormat> parseMonitorFormat(std::string_view name) {
  if (name == "ping") return MonitorFormat::kPing;
  if (name == "pidstat") return MonitorFormat::kPidstat;
  if (name == "csv") return MonitorFormat::kCsv;
  if (name == "prometheus") return MonitorFormat::kPrometheus;
  return Status::error("unknown format ", quoted(name), "; expected ping, pidstat, csv or prometheus");
}

const char* monitorFormatName(MonitorFormat format) {
  switch (format) {
    case MonitorFormat::kPing: return "ping";
    case MonitorFormat::kPidstat: return "pidstat";
    case MonitorFormat::kCsv: return "csv";
    case MonitorFormat::kPrometheus: return "prometheus";
  }
  return "?";
}

Result<int64_t> parseTzOffset(std::string_view text) {
  if (text == "UTC" || text == "Z" || text == "utc") return int64_t{0};
  if (text.size() >= 3 && (text[0] == '+' || text[0] == '-')) {
    std::string digits;
    for (char c : text.substr(1))
      if (c != ':') digits.push_back(c);
    if (allDigits(digits) && (digits.size() == 2 || digits.size() == 4)) {
      const int64_t h = digitsValue(std::string_view(digits).substr(0, 2));
      const int64_t m = digits.size() == 4 ? digitsValue(std::string_view(digits).substr(2)) : 0;
      if (h <= 23 && m <= 59) return (text[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    }
  }
  return Status::error("time zone ", quoted(text), ": expected UTC or an offset such as +02:00 or -0530");
}

Result<int64_t> parseTimestampNs(std::string_view text, std::optional<int64_t> tz_offset_s) {
  text = trim(text);
  if (text.empty()) return Status::error("expected a timestamp, got an empty field");
  if (std::isdigit(static_cast<unsigned char>(text[0])) && text.size() >= 10 && text[4] == '-') {
    // RFC 3339: YYYY-MM-DD[T ]HH:MM:SS[.frac](Z|±HH:MM)
    auto day = parseDate(text.substr(0, 10));
    if (!day || text.size() < 19 || (text[10] != 'T' && text[10] != 't' && text[10] != ' '))
      return Status::error("expected an RFC 3339 time such as 2023-11-14T22:13:20Z, got ", quoted(text));
    auto seconds = parseTimeOfDay(text.substr(11, 8), "");
    if (!seconds) return Status::error("expected HH:MM:SS in ", quoted(text));
    size_t i = 19;
    int64_t frac_ns = 0;
    if (i < text.size() && text[i] == '.') {
      ++i;
      int64_t scale = 100'000'000;
      size_t start = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        frac_ns += (text[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == start) return Status::error("expected digits after '.' in ", quoted(text));
    }
    std::optional<int64_t> offset = tz_offset_s;
    if (i < text.size()) {
      auto zone = parseTzOffset(text.substr(i));
      if (!zone.isOk()) return Status::error("bad time zone in ", quoted(text));
      offset = *zone;
    } else if (!offset) {
      return Status::error("time ", quoted(text), " has no zone; add Z or an offset, or pass --tz");
    }
    return ((*day * 86400) + *seconds - *offset) * kNsPerSecond + frac_ns;
  }
  const size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (!allDigits(whole) || (dot != std::string_view::npos && !allDigits(frac)))
    return Status::error("expected a timestamp (epoch seconds, ms or ns, or RFC 3339), got ", quoted(text));
  if (whole.size() > 19) return Status::error("timestamp ", quoted(text), " is too large");
  // Unit by magnitude: 10-11 digits are seconds (years 2001-5138), then ms, µs, ns.
  int64_t unit_ns;
  if (whole.size() <= 11) unit_ns = kNsPerSecond;
  else if (whole.size() <= 14) unit_ns = 1'000'000;
  else if (whole.size() <= 17) unit_ns = 1'000;
  else unit_ns = 1;
  if (whole.size() == 19 && whole > std::string_view("9223372036854775807"))
    return Status::error("timestamp ", quoted(text), " is too large");
  int64_t ns = digitsValue(whole) * unit_ns;
  int64_t scale = unit_ns / 10;
  for (char c : frac) {
    if (scale == 0) break;
    ns += (c - '0') * scale;
    scale /= 10;
  }
  return ns;
}

Result<MonitorData> parseMonitorText(std::string_view text, MonitorFormat format, const MonitorParseOptions& options) {
  MonitorData data;
  if (text.find('\0') != std::string_view::npos)
    return Status::error(options.file_name, ": binary data (a NUL byte); expected a text export");
  Parser parser(text, options);
  switch (format) {
    case MonitorFormat::kPing: NT_RETURN_IF_ERROR(parser.parsePing(&data)); break;
    case MonitorFormat::kPidstat: NT_RETURN_IF_ERROR(parser.parsePidstat(&data)); break;
    case MonitorFormat::kCsv: NT_RETURN_IF_ERROR(parser.parseCsv(&data)); break;
    case MonitorFormat::kPrometheus: {
      std::string_view t = trim(text);
      if (!t.empty() && t[0] == '{') NT_RETURN_IF_ERROR(parsePrometheusJson(text, options, &data));
      else NT_RETURN_IF_ERROR(parser.parsePrometheusText(&data));
      break;
    }
  }
  if (data.probes.empty() && data.samples.empty())
    return Status::error(options.file_name, ": no ", monitorFormatName(format), " rows found");
  return data;
}

bool recordingBoottimeSpan(Db& db, int64_t* first_ns, int64_t* last_ns) {
  auto clock = ClockMap::load(db);
  if (!clock.isOk() || clock->empty()) return false;
  auto stmt = db.prepare(
      "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'start_realtime_ns' AND "
      "CAST(value AS INTEGER) > 0), (SELECT MIN(realtime_ns) FROM clock_anchor)), "
      "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'end_realtime_ns' AND "
      "CAST(value AS INTEGER) > 0), (SELECT MAX(realtime_ns) FROM clock_anchor))");
  if (!stmt.isOk()) return false;
  auto row = stmt->step();
  if (!row.isOk() || !*row || stmt->columnIsNull(0) || stmt->columnIsNull(1)) return false;
  *first_ns = clock->toBoottimeNs(stmt->columnInt(0));
  *last_ns = clock->toBoottimeNs(stmt->columnInt(1));
  // A recording cut short has no end time: widen to the last anchor and the
  // last timeline event (contract in _monitor.sql).
  auto anchor = db.queryInt("SELECT COALESCE(MAX(boottime_ns), 0) FROM clock_anchor");
  if (anchor.isOk() && *anchor > *last_ns) *last_ns = *anchor;
  auto views = db.prepare("SELECT name FROM sqlite_master WHERE type = 'view' AND name GLOB '*_timeline'");
  std::vector<std::string> names;
  while (views.isOk()) {
    auto view = views->step();
    if (!view.isOk() || !*view) break;
    names.push_back(views->columnText(0));
  }
  for (const std::string& name : names) {
    if (name.find('"') != std::string::npos) continue;
    auto last = db.queryInt("SELECT COALESCE(MAX(time_ns), 0) FROM \"" + name + "\"");
    if (last.isOk() && *last > *last_ns) *last_ns = *last;
  }
  return *last_ns >= *first_ns;
}

Status importMonitorFile(Db& db, const std::string& path, const MonitorImportOptions& options,
                         MonitorImportSummary* summary) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("import: open ", path, ": ", errnoText(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  MonitorParseOptions parse = options.parse;
  if (parse.file_name.empty()) parse.file_name = path;
  NT_ASSIGN_OR_RETURN(MonitorData data, parseMonitorText(text, options.format, parse));

  NT_ASSIGN_OR_RETURN(int64_t core, db.queryInt("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('meta', "
                                                "'clock_anchor')"));
  if (core < 2) return Status::error("import: ", db.path(), " is not a database from nettrail ingest");
  NT_ASSIGN_OR_RETURN(ClockMap clock, ClockMap::load(db));
  if (clock.empty())
    return Status::error("import: ", db.path(), " has no clock anchors, so wall-clock times of ", path,
                         " cannot be placed on the recording's clock");
  int64_t first_ns = 0, last_ns = -1;
  const bool has_span = recordingBoottimeSpan(db, &first_ns, &last_ns);

  NT_RETURN_IF_ERROR(db.exec("BEGIN"));
  int64_t rows = 0, outside = 0, source_id = 0;
  Status status = [&]() -> Status {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/_monitor.sql")).context("import: create monitor tables"));
    NT_ASSIGN_OR_RETURN(Statement source,
                        db.prepare("INSERT INTO monitor_source(path, format, name, clock_offset_ns, rows, "
                                   "outside_rows) VALUES (?, ?, ?, ?, 0, 0)"));
    source.bind(1, std::string_view(path));
    source.bind(2, std::string_view(monitorFormatName(options.format)));
    std::string name = options.name;
    if (name.empty()) name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    source.bind(3, std::string_view(name));
    source.bind(4, options.clock_offset_ns);
    NT_RETURN_IF_ERROR(source.run());
    source_id = sqlite3_last_insert_rowid(db.raw());
    auto place = [&](int64_t realtime_ns, int64_t* corrected, int64_t* boottime) {
      *corrected = realtime_ns - options.clock_offset_ns;
      *boottime = clock.toBoottimeNs(*corrected);
      if (has_span && (*boottime < first_ns || *boottime > last_ns)) ++outside;
      ++rows;
    };
    NT_ASSIGN_OR_RETURN(Statement probe, db.prepare("INSERT INTO monitor_probe VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    for (const MonitorProbe& p : data.probes) {
      int64_t realtime = 0, boottime = 0;
      place(p.realtime_ns, &realtime, &boottime);
      probe.bind(1, source_id);
      probe.bind(2, realtime);
      probe.bind(3, boottime);
      probe.bind(4, std::string_view(p.target));
      if (p.seq) probe.bind(5, *p.seq); else probe.bindNull(5);
      if (p.rtt_ms) probe.bind(6, *p.rtt_ms); else probe.bindNull(6);
      probe.bind(7, int64_t{p.rtt_ms ? 0 : 1});
      probe.bind(8, p.line);
      NT_RETURN_IF_ERROR(probe.run().context("import: insert monitor_probe"));
    }
    NT_ASSIGN_OR_RETURN(Statement sample, db.prepare("INSERT INTO monitor_sample VALUES (?, ?, ?, ?, ?, ?)"));
    for (const MonitorSample& s : data.samples) {
      int64_t realtime = 0, boottime = 0;
      place(s.realtime_ns, &realtime, &boottime);
      sample.bind(1, source_id);
      sample.bind(2, realtime);
      sample.bind(3, boottime);
      sample.bind(4, std::string_view(s.series));
      if (s.value) sample.bind(5, *s.value); else sample.bindNull(5);
      sample.bind(6, s.line);
      NT_RETURN_IF_ERROR(sample.run().context("import: insert monitor_sample"));
    }
    NT_ASSIGN_OR_RETURN(Statement update,
                        db.prepare("UPDATE monitor_source SET rows = ?, outside_rows = ? WHERE source_id = ?"));
    update.bind(1, rows);
    update.bind(2, outside);
    update.bind(3, source_id);
    NT_RETURN_IF_ERROR(update.run());
    // Alerts of an earlier nettrail correlate run no longer cover every source.
    return db.exec("DELETE FROM monitor_alert; DELETE FROM monitor_alert_event;");
  }();
  if (!status.isOk()) {
    (void)db.exec("ROLLBACK");
    return status;
  }
  NT_RETURN_IF_ERROR(db.exec("COMMIT"));
  if (summary) {
    summary->source_id = source_id;
    summary->rows = rows;
    summary->outside_rows = outside;
  }
  return Status::ok();
}

}  // namespace nettrail
