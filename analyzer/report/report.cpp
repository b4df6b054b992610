#include "report/report.h"

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>

#include "analysis/correlate.h"
#include "core/embedded_assets.h"

namespace nettrail {
namespace {

// JavaScript numbers are exact up to 2^53.
constexpr int64_t kMaxExactJsInteger = int64_t{1} << 53;
// Frames shown per stack; deeper stacks say how many were cut.
constexpr int kMaxFramesPerStack = 64;
// Points per time series; more than this makes the file heavy without showing more.
constexpr int kMaxSeriesPoints = 20000;
constexpr int kMaxSeries = 30;

// "2026-11-26 01:27:13 UTC" for ms since the epoch.
std::string formatUtc(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (!gmtime_r(&seconds, &tm)) return "?";
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string formatDuration(int64_t ms) {
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof(buf), "%lld ms", static_cast<long long>(ms));
  } else if (ms < 120'000) {
    std::snprintf(buf, sizeof(buf), "%.1f s", ms / 1000.0);
  } else if (ms < 7'200'000) {
    std::snprintf(buf, sizeof(buf), "%.1f min", ms / 60'000.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f h", ms / 3'600'000.0);
  }
  return buf;
}

bool tableExists(Db& db, const std::string& name) {
  auto stmt = db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?");
  if (!stmt) return false;
  stmt->bind(1, std::string_view(name));
  auto row = stmt->step();
  return row.isOk() && *row;
}

Result<std::map<std::string, std::string>> readMeta(Db& db) {
  std::map<std::string, std::string> meta;
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT key, value FROM meta"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    meta[stmt.columnText(0)] = stmt.columnText(1);
  }
  return meta;
}

bool parseInt(const std::string& text, int64_t* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0') return false;
  *value = parsed;
  return true;
}

// Start and end of the recording in ms since the epoch (-1 when unknown): the
// header's start time when present, else the first clock anchor; the end from
// an explicit fact or the last re-sampled anchor.
void recordingSpan(Db& db, const std::map<std::string, std::string>& meta, int64_t* start_ms,
                   int64_t* end_ms) {
  *start_ms = -1;
  *end_ms = -1;
  int64_t ns = 0;
  auto it = meta.find("start_realtime_ns");
  if (it != meta.end() && parseInt(it->second, &ns) && ns > 0) *start_ms = ns / 1'000'000;
  it = meta.find("end_realtime_ns");
  if (it != meta.end() && parseInt(it->second, &ns) && ns > 0) *end_ms = ns / 1'000'000;
  auto stmt = db.prepare("SELECT MIN(realtime_ns), MAX(realtime_ns) FROM clock_anchor");
  if (!stmt) return;
  auto row = stmt->step();
  if (!row.isOk() || !*row || stmt->columnIsNull(0)) return;
  if (*start_ms < 0) *start_ms = stmt->columnInt(0) / 1'000'000;
  int64_t last = stmt->columnInt(1) / 1'000'000;
  if (*end_ms < 0 && last > *start_ms) *end_ms = last;
}

// Replaces each {{name}} of the template in one pass, so text that comes from
// the inserted parts is never itself scanned for placeholders.
Status fillTemplate(std::string_view tmpl, const std::map<std::string, std::string_view>& parts,
                    std::string* out) {
  size_t pos = 0;
  while (true) {
    size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = tmpl.find("}}", open);
    if (close == std::string_view::npos) return Status::error("report template: unterminated {{ at offset ", open);
    std::string name(tmpl.substr(open + 2, close - open - 2));
    auto part = parts.find(name);
    if (part == parts.end()) return Status::error("report template: unknown placeholder {{", name, "}}");
    out->append(tmpl.substr(pos, open - pos));
    out->append(part->second);
    pos = close + 2;
  }
  out->append(tmpl.substr(pos));
  return Status::ok();
}

// Inlined code must not end its element early, and must reach the browser
// byte for byte: the HTML parser turns CR into LF and NUL into U+FFFD, which
// would change the text its CSP hash covers.
Status checkInlinable(std::string_view name, std::string_view text, std::string_view end_tag) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.find(end_tag) != std::string::npos || lower.find("<!--") != std::string::npos)
    return Status::error("report: asset ", name, " contains ", end_tag, " or <!-- and cannot be inlined");
  if (text.find('\r') != std::string_view::npos || text.find('\0') != std::string_view::npos)
    return Status::error("report: asset ", name, " contains a CR or NUL byte and cannot be inlined");
  return Status::ok();
}

// 'sha256-<base64>': a CSP hash source for an inline element's text.
std::string cspHashSource(std::string_view text) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, text.size(), reinterpret_cast<const uint8_t*>(text.data()));
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof(digest), digest);
  char base64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE)];
  base64_encode_raw(base64, sizeof(digest), digest);
  return "'sha256-" + std::string(base64, sizeof(base64)) + "'";
}

// Position of `needle` (lower case) in `text` from `from`, ignoring ASCII case.
size_t findNoCase(std::string_view text, std::string_view needle, size_t from) {
  for (size_t at = text.find('<', from); at != std::string_view::npos; at = text.find('<', at + 1)) {
    if (text.size() - at < needle.size()) return std::string_view::npos;
    size_t i = 0;
    while (i < needle.size() && std::tolower(static_cast<unsigned char>(text[at + i])) == needle[i]) ++i;
    if (i == needle.size()) return at;
  }
  return std::string_view::npos;
}

}  // namespace

// The page's Content-Security-Policy: nothing from the network, no plugins,
// no base or form targets, images only from data: and blob: (what ECharts
// renders to), and only the inline scripts and style sheets of `html` by
// their SHA-256, so markup that escaped the escaping could run nothing. A
// <script> of another type (the JSON data) is not run and needs no hash;
// one with src= is refused.
Result<std::string> contentSecurityPolicy(std::string_view html) {
  std::string scripts, styles;
  for (const std::string_view tag : {std::string_view("<script"), std::string_view("<style")}) {
    const std::string end = "</" + std::string(tag.substr(1));
    for (size_t at = findNoCase(html, tag, 0); at != std::string_view::npos; at = findNoCase(html, tag, at + 1)) {
      const size_t after = at + tag.size();
      if (after >= html.size() || !(html[after] == '>' || std::isspace(static_cast<unsigned char>(html[after]))))
        continue;  // <scripts..., <styleX...: another name
      const size_t open_end = html.find('>', after);
      if (open_end == std::string_view::npos) return Status::error("report: unterminated ", tag, " tag");
      std::string attributes(html.substr(after, open_end - after));
      std::transform(attributes.begin(), attributes.end(), attributes.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (attributes.find("src=") != std::string::npos)
        return Status::error("report: a <script src=...> would need the network; everything is inline");
      const size_t body = open_end + 1;
      const size_t close = findNoCase(html, end, body);
      if (close == std::string_view::npos) return Status::error("report: ", tag, " without ", end);
      const bool data_block = tag == "<script" && attributes.find("type=") != std::string::npos &&
                              attributes.find("javascript") == std::string::npos &&
                              attributes.find("module") == std::string::npos;
      if (!data_block) (tag == "<script" ? scripts : styles) += " " + cspHashSource(html.substr(body, close - body));
      at = close;
    }
  }
  if (scripts.empty()) scripts = " 'none'";
  if (styles.empty()) styles = " 'none'";
  return "default-src 'none'; script-src" + scripts + "; style-src" + styles +
         "; img-src data: blob:; object-src 'none'; base-uri 'none'; form-action 'none'";
}

void appendSqlValue(JsonWriter& out, const Statement& stmt, int column) {
  switch (stmt.columnType(column)) {
    case SQLITE_INTEGER: {
      int64_t value = stmt.columnInt(column);
      if (value > kMaxExactJsInteger || value < -kMaxExactJsInteger) {
        out.string(std::to_string(value));
      } else {
        out.integer(value);
      }
      return;
    }
    case SQLITE_FLOAT:
      out.number(stmt.columnDouble(column));
      return;
    case SQLITE_TEXT:
      out.string(stmt.columnText(column));
      return;
    case SQLITE_BLOB: {
      const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(stmt.raw(), column));
      int size = sqlite3_column_bytes(stmt.raw(), column);
      std::string hex = "x'";
      static constexpr char kDigits[] = "0123456789abcdef";
      for (int i = 0; i < size && i < 256; ++i) {
        hex.push_back(kDigits[bytes[i] >> 4]);
        hex.push_back(kDigits[bytes[i] & 15]);
      }
      hex.append(size > 256 ? "...'" : "'");
      out.string(hex);
      return;
    }
    default:
      out.null();
      return;
  }
}

std::string htmlEscape(std::string_view text) {
  std::string clean = sanitizeUtf8(text);
  std::string out;
  out.reserve(clean.size());
  for (char c : clean) {
    switch (c) {
      case '&': out.append("&amp;"); break;
      case '<': out.append("&lt;"); break;
      case '>': out.append("&gt;"); break;
      case '"': out.append("&quot;"); break;
      case '\'': out.append("&#39;"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
          out.push_back(' ');  // control characters have no place in a title
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

JsonReportBuilder::Section& JsonReportBuilder::currentSection() {
  if (sections_.empty()) sections_.push_back({"other", "Other", "", {}});
  return sections_.back();
}

void JsonReportBuilder::beginSection(const std::string& id, const std::string& title,
                                     const std::string& intro) {
  sections_.push_back({id, title, intro, {}});
}

Status JsonReportBuilder::failed(const std::string& kind, const std::string& title, const Status& status) {
  Status error = status.context("report " + kind + " \"" + title + "\"");
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("error");
  w.key("title");
  w.string(title);
  w.key("message");
  w.string(error.message());
  w.endObject();
  addWidget(w.str());
  return error;
}

Status JsonReportBuilder::table(const std::string& title, Db& db, const std::string& sql, int max_rows) {
  auto prepared = db.prepare(sql);
  if (!prepared) return failed("table", title, prepared.status());
  Statement& stmt = *prepared;
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("table");
  w.key("title");
  w.string(title);
  w.key("columns");
  w.beginArray();
  for (int i = 0; i < stmt.columnCount(); ++i) w.string(stmt.columnName(i));
  w.endArray();
  w.key("rows");
  w.beginArray();
  int64_t total = 0;
  while (true) {
    auto row = stmt.step();
    if (!row) return failed("table", title, row.status());
    if (!*row) break;
    if (total < max_rows) {
      w.beginArray();
      for (int i = 0; i < stmt.columnCount(); ++i) appendSqlValue(w, stmt, i);
      w.endArray();
    }
    ++total;
  }
  w.endArray();
  w.key("total");
  w.integer(total);
  w.key("truncated");
  w.boolean(total > max_rows);
  w.endObject();
  addWidget(w.str());
  return Status::ok();
}

Status JsonReportBuilder::bar(const std::string& title, Db& db, const std::string& sql) {
  auto prepared = db.prepare(sql);
  if (!prepared) return failed("bar", title, prepared.status());
  Statement& stmt = *prepared;
  if (stmt.columnCount() < 2)
    return failed("bar", title, Status::error("query needs (label, value) columns, has ", stmt.columnCount()));
  JsonWriter labels;
  JsonWriter values;
  labels.beginArray();
  values.beginArray();
  while (true) {
    auto row = stmt.step();
    if (!row) return failed("bar", title, row.status());
    if (!*row) break;
    labels.string(stmt.columnIsNull(0) ? std::string("(null)") : stmt.columnText(0));
    if (stmt.columnIsNull(1)) {
      values.null();
    } else {
      values.number(stmt.columnDouble(1));
    }
  }
  labels.endArray();
  values.endArray();
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("bar");
  w.key("title");
  w.string(title);
  w.key("valueName");
  w.string(stmt.columnName(1));
  w.key("labels");
  w.raw(labels.str());
  w.key("values");
  w.raw(values.str());
  w.endObject();
  addWidget(w.str());
  return Status::ok();
}

Status JsonReportBuilder::compareBar(const std::string& title, Db& db, const std::string& sql) {
  auto prepared = db.prepare(sql);
  if (!prepared) return failed("compareBar", title, prepared.status());
  Statement& stmt = *prepared;
  if (stmt.columnCount() < 3)
    return failed("compareBar", title, Status::error("query needs (label, value, value...) columns, has ",
                                                     stmt.columnCount()));
  const int series = stmt.columnCount() - 1;
  JsonWriter labels;
  std::vector<JsonWriter> values(static_cast<size_t>(series));
  labels.beginArray();
  for (JsonWriter& v : values) v.beginArray();
  while (true) {
    auto row = stmt.step();
    if (!row) return failed("compareBar", title, row.status());
    if (!*row) break;
    labels.string(stmt.columnIsNull(0) ? std::string("(null)") : stmt.columnText(0));
    for (int i = 0; i < series; ++i) {
      if (stmt.columnIsNull(i + 1)) values[static_cast<size_t>(i)].null();
      else values[static_cast<size_t>(i)].number(stmt.columnDouble(i + 1));
    }
  }
  labels.endArray();
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("compareBar");
  w.key("title");
  w.string(title);
  w.key("labels");
  w.raw(labels.str());
  w.key("series");
  w.beginArray();
  for (int i = 0; i < series; ++i) {
    values[static_cast<size_t>(i)].endArray();
    w.beginObject();
    w.key("name");
    w.string(stmt.columnName(i + 1));
    w.key("values");
    w.raw(values[static_cast<size_t>(i)].str());
    w.endObject();
  }
  w.endArray();
  w.endObject();
  addWidget(w.str());
  return Status::ok();
}

Status JsonReportBuilder::loadClockAnchors(Db& db) {
  if (anchors_loaded_) return Status::ok();
  anchors_loaded_ = true;
  NT_ASSIGN_OR_RETURN(clock_, ClockMap::load(db));
  return Status::ok();
}

double JsonReportBuilder::toWallMs(int64_t boottime_ns) const {
  return static_cast<double>(clock_.toRealtimeNs(boottime_ns)) / 1e6;
}

Status JsonReportBuilder::timeSeries(const std::string& title, Db& db, const std::string& sql, bool stacked) {
  Status anchors = loadClockAnchors(db);
  if (!anchors) return failed("timeSeries", title, anchors);
  auto prepared = db.prepare(sql);
  if (!prepared) return failed("timeSeries", title, prepared.status());
  Statement& stmt = *prepared;
  if (stmt.columnCount() < 3)
    return failed("timeSeries", title,
                  Status::error("query needs (time_ns, series, value) columns, has ", stmt.columnCount()));
  const bool wall = !clock_.empty();
  std::vector<std::string> names;
  std::map<std::string, size_t> index;
  std::vector<JsonWriter> points;
  int64_t total = 0;
  bool truncated = false;
  while (true) {
    auto row = stmt.step();
    if (!row) return failed("timeSeries", title, row.status());
    if (!*row) break;
    std::string name = stmt.columnIsNull(1) ? std::string("(null)") : stmt.columnText(1);
    auto found = index.find(name);
    if (found == index.end()) {
      if (names.size() >= static_cast<size_t>(kMaxSeries)) {
        truncated = true;
        continue;
      }
      found = index.emplace(name, names.size()).first;
      names.push_back(name);
      points.emplace_back();
      points.back().beginArray();
    }
    if (++total > kMaxSeriesPoints) {
      truncated = true;
      continue;
    }
    JsonWriter& p = points[found->second];
    p.beginArray();
    int64_t t = stmt.columnInt(0);
    p.number(wall ? toWallMs(t) : static_cast<double>(t) / 1e6);
    if (stmt.columnIsNull(2)) {
      p.null();
    } else {
      p.number(stmt.columnDouble(2));
    }
    p.endArray();
  }
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("timeSeries");
  w.key("title");
  w.string(title);
  w.key("stacked");
  w.boolean(stacked);
  // "wall": ms since the epoch (UTC); "boottime": ms of CLOCK_BOOTTIME when the
  // recording has no clock anchor.
  w.key("clock");
  w.string(wall ? "wall" : "boottime");
  w.key("valueName");
  w.string(stmt.columnName(2));
  w.key("truncated");
  w.boolean(truncated);
  w.key("series");
  w.beginArray();
  for (size_t i = 0; i < names.size(); ++i) {
    points[i].endArray();
    w.beginObject();
    w.key("name");
    w.string(names[i]);
    w.key("points");
    w.raw(points[i].str());
    w.endObject();
  }
  w.endArray();
  w.endObject();
  addWidget(w.str());
  return Status::ok();
}

namespace {

// One frame of a flame graph; children merge by name.
struct FlameNode {
  std::string name;
  double value = 0;
  std::map<std::string, size_t> index;  // child name -> position in children
  std::vector<FlameNode> children;

  FlameNode& child(const std::string& child_name) {
    auto [it, inserted] = index.emplace(child_name, children.size());
    if (inserted) {
      children.emplace_back();
      children.back().name = child_name;
    }
    return children[it->second];
  }
};

// Frames narrower than this share of the root are left out (their time stays
// in the parent's width); they would be under a pixel wide.
constexpr double kFlameMinShare = 0.001;
constexpr int kFlameMaxDepth = 160;

void writeFlameNode(const FlameNode& node, double min_value, int depth, JsonWriter& w) {
  w.beginObject();
  w.key("n");
  w.string(node.name);
  w.key("v");
  w.number(node.value);
  std::vector<const FlameNode*> shown;
  if (depth < kFlameMaxDepth) {
    for (const FlameNode& c : node.children)
      if (c.value >= min_value) shown.push_back(&c);
  }
  if (!shown.empty()) {
    std::sort(shown.begin(), shown.end(), [](const FlameNode* a, const FlameNode* b) { return a->name < b->name; });
    w.key("c");
    w.beginArray();
    for (const FlameNode* c : shown) writeFlameNode(*c, min_value, depth + 1, w);
    w.endArray();
  }
  w.endObject();
}

// "symbol [module basename]" for a stack_frame row; the raw address when unresolved.
std::string flameFrameName(Statement& frame) {
  std::string name;
  if (frame.columnIsNull(0)) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(frame.columnInt(1)));
    name = buf;
  } else {
    name = frame.columnText(0);
  }
  std::string module = frame.columnIsNull(2) ? std::string() : frame.columnText(2);
  if (!module.empty()) {
    size_t slash = module.rfind('/');
    name += " [" + (slash == std::string::npos ? module : module.substr(slash + 1)) + "]";
  }
  return name;
}

}  // namespace

Status JsonReportBuilder::flame(const std::string& title, Db& db, const std::string& sql, const std::string& unit) {
  auto prepared = db.prepare(sql);
  if (!prepared) return failed("flame", title, prepared.status());
  Statement& stmt = *prepared;
  if (stmt.columnCount() < 3)
    return failed("flame", title,
                  Status::error("query needs (value, label, stack_id...) columns, has ", stmt.columnCount()));
  // Outermost frame first; frames of the tracing machinery are hidden as in every stack view.
  auto frames_prepared = db.prepare(
      "SELECT symbol, address, module FROM stack_frame WHERE stack_id = ? AND tracing = 0 "
      "ORDER BY frame_index DESC");
  if (!frames_prepared) return failed("flame", title, frames_prepared.status());
  Statement& frames = *frames_prepared;
  FlameNode root;
  root.name = "all";
  std::map<int64_t, std::vector<std::string>> stack_cache;
  while (true) {
    auto row = stmt.step();
    if (!row) return failed("flame", title, row.status());
    if (!*row) break;
    if (stmt.columnIsNull(0)) continue;
    const double value = stmt.columnDouble(0);
    if (!(value > 0)) continue;
    root.value += value;
    FlameNode* node = &root.child(stmt.columnIsNull(1) ? std::string("?") : stmt.columnText(1));
    node->value += value;
    for (int column = 2; column < stmt.columnCount(); ++column) {
      if (stmt.columnIsNull(column)) continue;
      const int64_t stack_id = stmt.columnInt(column);
      auto cached = stack_cache.find(stack_id);
      if (cached == stack_cache.end()) {
        std::vector<std::string> names;
        frames.reset();
        frames.bind(1, stack_id);
        while (true) {
          auto frame = frames.step();
          if (!frame) return failed("flame", title, frame.status());
          if (!*frame) break;
          names.push_back(flameFrameName(frames));
        }
        cached = stack_cache.emplace(stack_id, std::move(names)).first;
      }
      for (const std::string& name : cached->second) {
        node = &node->child(name);
        node->value += value;
      }
    }
  }
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("flame");
  w.key("title");
  w.string(title);
  w.key("unit");
  w.string(unit);
  w.key("root");
  writeFlameNode(root, root.value * kFlameMinShare, 0, w);
  w.endObject();
  addWidget(w.str());
  return Status::ok();
}

Status JsonReportBuilder::stacks(const std::string& title, Db& db, const std::string& sql, int max_stacks) {
  auto prepared = db.prepare(sql);
  if (!prepared) return failed("stacks", title, prepared.status());
  Statement& stmt = *prepared;
  if (stmt.columnCount() < 3)
    return failed("stacks", title,
                  Status::error("query needs (count, stack_id, label) columns, has ", stmt.columnCount()));
  auto frames_prepared = db.prepare(
      "SELECT frame FROM stack_frame_text WHERE stack_id = ? AND tracing = 0 ORDER BY frame_index");
  if (!frames_prepared) return failed("stacks", title, frames_prepared.status());
  Statement& frames = *frames_prepared;
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("stacks");
  w.key("title");
  w.string(title);
  w.key("stacks");
  w.beginArray();
  int64_t total = 0;
  while (true) {
    auto row = stmt.step();
    if (!row) return failed("stacks", title, row.status());
    if (!*row) break;
    if (total++ >= max_stacks) continue;
    w.beginObject();
    w.key("count");
    appendSqlValue(w, stmt, 0);
    w.key("label");
    w.string(stmt.columnText(2));
    w.key("frames");
    w.beginArray();
    int depth = 0;
    if (!stmt.columnIsNull(1)) {
      frames.reset();
      frames.bind(1, stmt.columnInt(1));
      while (true) {
        auto frame = frames.step();
        if (!frame) return failed("stacks", title, frame.status());
        if (!*frame) break;
        if (depth++ < kMaxFramesPerStack) w.string(frames.columnText(0));
      }
    }
    w.endArray();
    w.key("depth");
    w.integer(depth);
    w.endObject();
  }
  w.endArray();
  w.key("total");
  w.integer(total);
  w.key("truncated");
  w.boolean(total > max_stacks);
  w.endObject();
  addWidget(w.str());
  return Status::ok();
}

void JsonReportBuilder::headline(const std::string& label, const std::string& value) {
  headlines_.emplace_back(label, value);
}

void JsonReportBuilder::facts(const std::string& title,
                              const std::vector<std::pair<std::string, std::string>>& items) {
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("facts");
  w.key("title");
  w.string(title);
  w.key("items");
  w.beginArray();
  for (const auto& [label, value] : items) {
    w.beginArray();
    w.string(label);
    w.string(value);
    w.endArray();
  }
  w.endArray();
  w.endObject();
  addWidget(w.str());
}

void JsonReportBuilder::note(const std::string& text, const std::string& tone) {
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("note");
  w.key("text");
  w.string(text);
  w.key("tone");
  w.string(tone);
  w.endObject();
  addWidget(w.str());
}

Status JsonReportBuilder::lossPanel(Db& db) {
  NT_ASSIGN_OR_RETURN(int64_t rows, db.queryInt("SELECT COUNT(*) FROM loss_summary"));
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("loss");
  w.key("lost");
  w.boolean(rows > 0);
  w.key("text");
  w.string(rows > 0 ? "Data was lost: the recording is incomplete. Counts below are lower bounds."
                    : "No data loss recorded: no events lost in the kernel, no unreadable frames.");
  w.endObject();
  addWidget(w.str());
  if (rows > 0) {
    NT_RETURN_IF_ERROR(table("Lost or unreadable data", db,
                             "SELECT origin, source, name, value, detail FROM loss_summary "
                             "ORDER BY origin, source, name",
                             1000));
  }
  headline("Data loss", rows > 0 ? std::to_string(rows) + (rows == 1 ? " problem" : " problems") : "none");
  return Status::ok();
}

void JsonReportBuilder::problem(const std::string& message) { problems_.push_back(message); }

void JsonReportBuilder::findings(const FindingsResult& result) {
  JsonWriter w;
  w.beginObject();
  w.key("kind");
  w.string("findings");
  w.key("rules");
  w.integer(result.rules);
  w.key("items");
  w.beginArray();
  int counts[3] = {0, 0, 0};
  for (const Finding& f : result.findings) {
    ++counts[findingSeverityRank(f.severity)];
    w.beginObject();
    w.key("rule");
    w.string(f.rule);
    w.key("severity");
    w.string(f.severity);
    w.key("title");
    w.string(f.title);
    w.key("evidence");
    w.string(f.evidence);
    w.key("next");
    w.string(f.next_step);
    w.key("columns");
    w.beginArray();
    for (const std::string& c : f.evidence_columns) w.string(c);
    w.endArray();
    w.key("rows");
    w.beginArray();
    for (const auto& row : f.evidence_rows) {
      w.beginArray();
      for (const FindingCell& cell : row) {
        switch (cell.kind) {
          case FindingCell::Kind::kNull: w.null(); break;
          case FindingCell::Kind::kInteger:
            if (cell.integer > kMaxExactJsInteger || cell.integer < -kMaxExactJsInteger) w.string(std::to_string(cell.integer));
            else w.integer(cell.integer);
            break;
          case FindingCell::Kind::kReal: w.number(cell.real); break;
          case FindingCell::Kind::kText: w.string(cell.text); break;
        }
      }
      w.endArray();
    }
    w.endArray();
    w.key("total");
    w.integer(f.evidence_total);
    w.endObject();
  }
  w.endArray();
  w.endObject();
  addWidget(w.str());
  for (const std::string& p : result.problems) problem("findings: " + p);
  std::string summary;
  static const char* const kNames[] = {"critical", "warning", "info"};
  for (int i = 0; i < 3; ++i)
    if (counts[i] > 0) summary += (summary.empty() ? "" : ", ") + std::to_string(counts[i]) + " " + kNames[i];
  headline("Findings", summary.empty() ? "none" : summary);
}

Status addFindingsSection(Db& db, FindingScope scope, JsonReportBuilder& report) {
  report.beginSection("findings", "Findings",
                      "What stands out, most important first: each finding with the numbers behind it, the rows "
                      "they come from and the next step. The rules are analyzer/findings/*.sql.");
  NT_ASSIGN_OR_RETURN(FindingsResult result, evaluateFindings(db, scope));
  report.findings(result);
  return Status::ok();
}

void JsonReportBuilder::setDocumentInfo(const std::string& title, int64_t start_ms, int64_t end_ms) {
  title_ = title;
  start_ms_ = start_ms;
  end_ms_ = end_ms;
}

std::string JsonReportBuilder::toJson() const {
  JsonWriter w;
  w.beginObject();
  w.key("format");
  w.integer(1);
  w.key("title");
  w.string(title_);
  w.key("startMs");
  if (start_ms_ >= 0) w.integer(start_ms_); else w.null();
  w.key("endMs");
  if (end_ms_ >= 0) w.integer(end_ms_); else w.null();
  w.key("headlines");
  w.beginArray();
  for (const auto& [label, value] : headlines_) {
    w.beginObject();
    w.key("label");
    w.string(label);
    w.key("value");
    w.string(value);
    w.endObject();
  }
  w.endArray();
  w.key("problems");
  w.beginArray();
  for (const std::string& p : problems_) w.string(p);
  w.endArray();
  w.key("sections");
  w.beginArray();
  for (const Section& s : sections_) {
    w.beginObject();
    w.key("id");
    w.string(s.id);
    w.key("title");
    w.string(s.title);
    w.key("intro");
    w.string(s.intro);
    w.key("widgets");
    w.beginArray();
    for (const std::string& widget : s.widgets) w.raw(widget);
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return w.str();
}

std::vector<ReportSectionSource> familyReportSources(const std::vector<FamilyEntry>& families) {
  std::vector<ReportSectionSource> sources;
  for (const FamilyEntry& entry : families) {
    auto make = entry.make;
    sources.push_back({entry.name, [make](Db& db, ReportBuilder& report) {
                         std::unique_ptr<FamilyImporter> importer = make();
                         return importer->addReportSections(db, report);
                       }});
  }
  return sources;
}

Status renderHtmlReport(Db& db, const std::vector<ReportSectionSource>& sources, std::string* html) {
  if (!tableExists(db, "meta") || !tableExists(db, "loss_summary"))
    return Status::error("report: ", db.path(), " is not a nettrail database (no meta or loss_summary table); ",
                         "run nettrail ingest first");
  NT_ASSIGN_OR_RETURN(auto meta, readMeta(db));
  const auto fact = [&](const char* key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  int64_t start_ms = -1;
  int64_t end_ms = -1;
  recordingSpan(db, meta, &start_ms, &end_ms);

  std::string host = fact("host_name").empty() ? std::string("unknown host") : fact("host_name");
  std::string span = start_ms < 0 ? std::string("unknown time")
                                  : formatUtc(start_ms) + (end_ms < 0 ? "" : " to " + formatUtc(end_ms));
  std::string title = "nettrail: " + host + ", " + span;

  JsonReportBuilder report;
  report.setDocumentInfo(title, start_ms, end_ms);
  report.headline("Host", host);

  // First screen: the findings; then what was recorded, where, when, and
  // whether anything is missing.
  Status findings = addFindingsSection(db, FindingScope::kRecording, report);
  if (!findings) report.problem(findings.message());
  report.beginSection("recording", "Recording", "");
  std::vector<std::pair<std::string, std::string>> items;
  items.emplace_back("Host", host);
  std::string kernel = fact("kernel_release");
  if (!fact("kernel_version").empty()) kernel += " " + fact("kernel_version");
  if (!fact("machine").empty()) kernel += " (" + fact("machine") + ")";
  items.emplace_back("Kernel", kernel);
  items.emplace_back("Boot id", fact("boot_id"));
  items.emplace_back("CPUs", fact("cpu_count"));
  items.emplace_back("Command line", fact("command_line"));
  items.emplace_back("Start", start_ms < 0 ? std::string("unknown") : formatUtc(start_ms));
  items.emplace_back("End", end_ms < 0 ? std::string("unknown") : formatUtc(end_ms));
  if (start_ms >= 0 && end_ms >= 0) {
    items.emplace_back("Duration", formatDuration(end_ms - start_ms));
    report.headline("Duration", formatDuration(end_ms - start_ms));
  }
  static const char* const kShown[] = {"host_name", "kernel_release", "kernel_version", "machine",
                                       "boot_id", "cpu_count", "command_line", "start_realtime_ns",
                                       "end_realtime_ns"};
  for (const auto& [key, value] : meta) {
    if (std::find(std::begin(kShown), std::end(kShown), key) == std::end(kShown)) items.emplace_back(key, value);
  }
  report.facts("Recording facts", items);

  report.beginSection("data-loss", "Data loss",
                      "Events lost in the kernel (ring buffer full), and frames the reader could not "
                      "decode. Nothing is dropped silently: when nothing was lost, the panel says so.");
  NT_RETURN_IF_ERROR(report.lossPanel(db).context("report: data-loss panel"));
  NT_RETURN_IF_ERROR(report.table("Recording files", db,
                                  "SELECT path, segment, bytes, bytes_used, frames, has_trailer, truncated, "
                                  "corrupt FROM recording_file ORDER BY segment, path"));

  report.beginSection("probes", "Probes",
                      "Each probe family's attach candidates in order of preference, which one was "
                      "attached, and the options and filters in effect.");
  NT_RETURN_IF_ERROR(report.table("Attach choices", db,
                                  "SELECT family, hook, strategy, target, "
                                  "CASE attached WHEN 1 THEN 'yes' ELSE 'no' END AS attached, note "
                                  "FROM attachment ORDER BY family, hook, rowid",
                                  1000));
  NT_RETURN_IF_ERROR(report.table("Options and filters", db,
                                  "SELECT family, key, value FROM probe_option ORDER BY family, rowid", 1000));

  // Family sections, in families.def order. A family whose sections fail still
  // leaves the rest of the report; the failure is listed on the first screen.
  for (const ReportSectionSource& source : sources) {
    Status status = source.add_sections(db, report);
    if (!status) report.problem(source.name + ": " + status.message());
  }

  // Monitoring exports and their correlation with the recording (nettrail import).
  Status monitor = addMonitorReportSections(db, report);
  if (!monitor) report.problem("monitor: " + monitor.message());

  return renderHtmlDocument(report, title, html);
}

Status renderHtmlDocument(const JsonReportBuilder& report, const std::string& title, std::string* html) {
  std::string data = report.toJson();
  std::string_view css = embeddedAsset("reports/report.css");
  std::string_view script = embeddedAsset("reports/report.js");
  std::string_view echarts = embeddedAsset("reports/vendor/echarts.min.js");
  NT_RETURN_IF_ERROR(checkInlinable("reports/report.css", css, "</style"));
  NT_RETURN_IF_ERROR(checkInlinable("reports/report.js", script, "</script"));
  NT_RETURN_IF_ERROR(checkInlinable("reports/vendor/echarts.min.js", echarts, "</script"));
  std::string escaped_title = htmlEscape(title);
  std::map<std::string, std::string_view> parts = {
      {"title", escaped_title}, {"css", css}, {"echarts", echarts}, {"data", data}, {"script", script}};
  // The policy hashes what follows its placeholder, so that part is filled
  // first; the part before may hold no script or style of its own.
  const std::string_view tmpl = embeddedAsset("reports/report.html");
  const size_t at = tmpl.find("{{csp}}");
  if (at == std::string_view::npos) return Status::error("report template: no {{csp}} placeholder");
  const std::string_view head = tmpl.substr(0, at + 7);
  if (findNoCase(head, "<script", 0) != std::string_view::npos || findNoCase(head, "<style", 0) != std::string_view::npos)
    return Status::error("report template: a script or style before the Content-Security-Policy");
  std::string rest;
  rest.reserve(echarts.size() + data.size() + 65536);
  NT_RETURN_IF_ERROR(fillTemplate(tmpl.substr(at + 7), parts, &rest));
  NT_ASSIGN_OR_RETURN(std::string policy, contentSecurityPolicy(rest));
  parts["csp"] = policy;
  html->clear();
  html->reserve(rest.size() + 4096);
  NT_RETURN_IF_ERROR(fillTemplate(head, parts, html));
  html->append(rest);
  return Status::ok();
}

Status writeHtmlReport(Db& db, const std::vector<ReportSectionSource>& sources, const std::string& out_path,
                       const OutputOptions& output) {
  std::string html;
  NT_RETURN_IF_ERROR(renderHtmlReport(db, sources, &html));
  return writeFileAtomically(out_path, html, output);
}

}  // namespace nettrail
