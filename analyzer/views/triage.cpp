#include "views/triage.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "core/text_escape.h"
#include "views/text_views.h"

namespace nettrail {
namespace {

constexpr size_t kWrapColumn = 100;

// `text` (already escaped) wrapped at word boundaries to kWrapColumn, the
// first line after `lead`, the others indented to the same column.
std::string wrap(const std::string& lead, const std::string& text) {
  const std::string indent(lead.size(), ' ');
  std::string out = lead;
  size_t column = lead.size();
  size_t pos = 0;
  bool first_word = true;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    if (!first_word && column + 1 + word.size() > kWrapColumn) {
      out += "\n" + indent;
      column = indent.size();
    } else if (!first_word) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    first_word = false;
  }
  return out + "\n";
}

std::string metaValue(Db& db, const char* key) {
  auto stmt = db.prepare("SELECT value FROM meta WHERE key = ?");
  if (!stmt) return "";
  stmt->bind(1, std::string_view(key));
  auto row = stmt->step();
  return row.isOk() && *row ? stmt->columnText(0) : "";
}

// "host vm, 2026-11-26 01:27:13 UTC, 30.0 s" from the header facts.
std::string recordingLine(Db& db) {
  std::string host = metaValue(db, "host_name");
  std::string line = "host " + escapeForTerminal(host.empty() ? "unknown" : host);
  const std::string start = metaValue(db, "start_realtime_ns");
  if (!start.empty()) line += ", " + formatUtc(std::strtoll(start.c_str(), nullptr, 10), false);
  const std::string start_boot = metaValue(db, "start_boottime_ns"), end_boot = metaValue(db, "end_boottime_ns");
  if (!start_boot.empty() && !end_boot.empty()) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), ", %.1f s",
                  static_cast<double>(std::strtoll(end_boot.c_str(), nullptr, 10) -
                                      std::strtoll(start_boot.c_str(), nullptr, 10)) / 1e9);
    line += buf;
  }
  return line;
}

void writeCell(JsonWriter& w, const FindingCell& cell) {
  switch (cell.kind) {
    case FindingCell::Kind::kNull: w.null(); break;
    case FindingCell::Kind::kInteger: w.integer(cell.integer); break;
    case FindingCell::Kind::kReal: w.number(cell.real); break;
    case FindingCell::Kind::kText: w.string(cell.text); break;
  }
}

}  // namespace

Status printTriage(Db& db, const std::string& input, const FindingsResult& result, std::ostream& out) {
  out << escapeForTerminal(input) << ": " << recordingLine(db) << "\n";
  printFindingList(result, out);
  return Status::ok();
}

void printFindingList(const FindingsResult& result, std::ostream& out) {
  const size_t n = result.findings.size();
  if (n == 0) {
    out << "No findings: none of the " << result.rules << " rules matched.\n";
  } else {
    out << n << (n == 1 ? " finding" : " findings") << " from " << result.rules << " rules, most important first:\n";
  }
  for (size_t i = 0; i < n; ++i) {
    const Finding& f = result.findings[i];
    std::string severity = f.severity;
    for (char& c : severity) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out << "\n" << wrap(std::to_string(i + 1) + ". " + severity + "  ", escapeForTerminal(f.title));
    if (!f.evidence.empty()) out << wrap("   evidence: ", escapeForTerminal(f.evidence));
    if (!f.next_step.empty()) out << wrap("   next:     ", escapeForTerminal(f.next_step));
    if (!f.evidence_rows.empty()) {
      std::vector<std::string> headers;
      for (const std::string& c : f.evidence_columns) headers.push_back(escapeForTerminal(c));
      std::vector<std::vector<std::string>> rows;
      for (const auto& row : f.evidence_rows) {
        rows.emplace_back();
        for (const FindingCell& cell : row) rows.back().push_back(escapeForTerminal(findingCellText(cell)));
      }
      out << "\n";
      printAlignedTable(headers, rows, out, "     ");
      if (f.evidence_total > static_cast<int64_t>(f.evidence_rows.size()))
        out << "     (first " << f.evidence_rows.size() << " of " << f.evidence_total << " rows)\n";
    }
  }
  if (!result.problems.empty()) {
    out << "\nRules that could not run (these findings may be incomplete):\n";
    for (const std::string& p : result.problems) out << wrap("  - ", escapeForTerminal(p));
  }
}

void writeTriageJson(Db& db, const std::string& input, const FindingsResult& result, JsonWriter& w) {
  w.beginObject();
  w.key("input");
  w.string(input);
  w.key("host");
  w.string(metaValue(db, "host_name"));
  w.key("rules");
  w.integer(result.rules);
  w.key("findings");
  w.beginArray();
  for (const Finding& f : result.findings) {
    w.beginObject();
    w.key("rule");
    w.string(f.rule);
    w.key("source");
    w.string(f.source);
    w.key("severity");
    w.string(f.severity);
    w.key("score");
    w.number(f.score);
    w.key("title");
    w.string(f.title);
    w.key("evidence");
    w.string(f.evidence);
    w.key("next_step");
    w.string(f.next_step);
    w.key("evidence_rows");
    w.beginObject();
    w.key("columns");
    w.beginArray();
    for (const std::string& c : f.evidence_columns) w.string(c);
    w.endArray();
    w.key("rows");
    w.beginArray();
    for (const auto& row : f.evidence_rows) {
      w.beginArray();
      for (const FindingCell& cell : row) writeCell(w, cell);
      w.endArray();
    }
    w.endArray();
    w.key("total");
    w.integer(f.evidence_total);
    w.endObject();
    w.endObject();
  }
  w.endArray();
  w.key("problems");
  w.beginArray();
  for (const std::string& p : result.problems) w.string(p);
  w.endArray();
  w.endObject();
}

}  // namespace nettrail
