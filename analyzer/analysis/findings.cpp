#include "analysis/findings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/embedded_assets.h"

namespace nettrail {
namespace {

constexpr std::string_view kAssetPrefix = "findings/";
constexpr std::string_view kViewPrefix = "finding_";
// Helper views shared by rules (e.g. _finding_span in _core.sql): not rules.
constexpr std::string_view kHelperPrefix = "_finding_";
constexpr const char* kColumns[] = {"severity", "score", "title", "evidence", "next_step", "evidence_sql"};

// While a rule file runs, it may create TEMP views named finding_* and read;
// nothing else. A rule file that writes to the user's database, or creates a
// view in it (CREATE VIEW without TEMP works on a writable database and fails
// on a read-only one), is refused with a message naming the statement.
int ruleFileAuthorizer(void* data, int action, const char* a, const char*, const char* database, const char*) {
  auto* refusal = static_cast<std::string*>(data);
  const std::string_view db = database ? database : "";
  switch (action) {
    case SQLITE_CREATE_TEMP_VIEW: {
      const std::string_view name = a ? a : "";
      if (name.substr(0, kViewPrefix.size()) == kViewPrefix || name.substr(0, kHelperPrefix.size()) == kHelperPrefix)
        return SQLITE_OK;
      *refusal = "a rule view's name starts with finding_, a helper's with _finding_ (got " + std::string(name) + ")";
      return SQLITE_DENY;
    }
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
      // Creating a temp view writes its row into sqlite_temp_master.
      if (db == "temp") return SQLITE_OK;
      *refusal = "rule files may not change the database (" + std::string(a ? a : "?") + ")";
      return SQLITE_DENY;
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    default:
      *refusal = "rule files may only hold CREATE TEMP VIEW finding_... statements";
      return SQLITE_DENY;
  }
}

// Names of the temp views called finding_* (rules) or, with `helpers`, also
// _finding_*, in creation order.
Result<std::vector<std::string>> ruleViews(Db& db, bool helpers = false) {
  NT_ASSIGN_OR_RETURN(Statement stmt,
                      db.prepare(std::string("SELECT name FROM sqlite_temp_master WHERE type = 'view' AND "
                                             "(name LIKE 'finding\\_%' ESCAPE '\\'") +
                                 (helpers ? " OR name LIKE '\\_finding\\_%' ESCAPE '\\'" : "") +
                                 ") ORDER BY rowid"));
  std::vector<std::string> names;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    names.push_back(stmt.columnText(0));
  }
  return names;
}

FindingCell cellOf(const Statement& stmt, int column) {
  FindingCell cell;
  switch (stmt.columnType(column)) {
    case SQLITE_INTEGER:
      cell.kind = FindingCell::Kind::kInteger;
      cell.integer = stmt.columnInt(column);
      break;
    case SQLITE_FLOAT:
      cell.kind = FindingCell::Kind::kReal;
      cell.real = stmt.columnDouble(column);
      break;
    case SQLITE_NULL:
      break;
    default:  // text, and blobs shown as text
      cell.kind = FindingCell::Kind::kText;
      cell.text = stmt.columnText(column);
      break;
  }
  return cell;
}

// Runs a rule's evidence_sql into `finding`. Only statements that read.
Status runEvidence(Db& db, const std::string& sql, Finding& finding) {
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare(sql));
  if (!stmt.raw()) return Status::error("evidence_sql is empty");
  if (!sqlite3_stmt_readonly(stmt.raw())) return Status::error("evidence_sql must only read: ", sql);
  for (int i = 0; i < stmt.columnCount(); ++i) finding.evidence_columns.push_back(stmt.columnName(i));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    if (finding.evidence_total++ >= kMaxEvidenceRows) continue;
    std::vector<FindingCell> cells;
    for (int i = 0; i < stmt.columnCount(); ++i) cells.push_back(cellOf(stmt, i));
    finding.evidence_rows.push_back(std::move(cells));
  }
  return Status::ok();
}

// Runs one rule view; its findings go to `out`, its problems to `problems`.
void runRule(Db& db, const std::string& view, const std::string& source, std::vector<Finding>& out,
             std::vector<std::string>& problems) {
  const std::string rule = view.substr(kViewPrefix.size());
  const std::string where = "rule " + rule + " (findings/" + source + ".sql)";
  auto prepared = db.prepare("SELECT * FROM temp." + sqlIdentifier(view));
  if (!prepared) {
    problems.push_back(where + ": " + prepared.status().message());
    return;
  }
  Statement& stmt = *prepared;
  int column[std::size(kColumns)];
  for (size_t c = 0; c < std::size(kColumns); ++c) {
    column[c] = -1;
    for (int i = 0; i < stmt.columnCount(); ++i)
      if (stmt.columnName(i) == kColumns[c]) column[c] = i;
    if (column[c] < 0) {
      problems.push_back(where + ": no column " + kColumns[c] +
                         " (a rule view has severity, score, title, evidence, next_step, evidence_sql)");
      return;
    }
  }
  const auto text = [&](int c) { return stmt.columnIsNull(column[c]) ? std::string() : stmt.columnText(column[c]); };
  int rows = 0;
  while (true) {
    auto row = stmt.step();
    if (!row) {
      problems.push_back(where + ": " + row.status().message());
      return;
    }
    if (!*row) break;
    if (++rows > kMaxFindingsPerRule) continue;
    Finding finding;
    finding.rule = rule;
    finding.source = source;
    finding.severity = text(0);
    finding.score = stmt.columnIsNull(column[1]) ? 0 : stmt.columnDouble(column[1]);
    finding.title = text(2);
    finding.evidence = text(3);
    finding.next_step = text(4);
    if (findingSeverityRank(finding.severity) < 0) {
      problems.push_back(where + ": severity '" + finding.severity + "' is not critical, warning or info");
      continue;
    }
    if (finding.title.empty()) {
      problems.push_back(where + ": a row without a title");
      continue;
    }
    const std::string evidence_sql = text(5);
    if (!evidence_sql.empty()) {
      Status status = runEvidence(db, evidence_sql, finding);
      if (!status) problems.push_back(where + ": evidence: " + status.message());
    }
    out.push_back(std::move(finding));
  }
  if (rows > kMaxFindingsPerRule)
    problems.push_back(where + ": " + std::to_string(rows) + " rows; the first " +
                       std::to_string(kMaxFindingsPerRule) + " are shown");
}

// Runs the statements of one rule file under the authorizer above. Stops at
// the first statement that fails: what follows it cannot be told apart.
Status runRuleFile(Db& db, const std::string& stem, const std::string& sql) {
  std::string refusal;
  sqlite3_set_authorizer(db.raw(), &ruleFileAuthorizer, &refusal);
  Status status;
  const char* next = sql.c_str();
  while (next && *next) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db.raw(), next, -1, &raw, &tail);
    if (rc != SQLITE_OK) {
      status = Status::error("findings/", stem, ".sql: ", refusal.empty() ? sqlite3_errmsg(db.raw()) : refusal);
      break;
    }
    Statement stmt(db.raw(), raw);
    next = tail;
    if (!raw) continue;  // only comments or white space were left
    Status run = stmt.run();
    if (!run) {
      status = run.context("findings/" + stem + ".sql");
      break;
    }
  }
  sqlite3_set_authorizer(db.raw(), nullptr, nullptr);
  return status;
}

// nt_duration(ns): "850 ns", "12.5 µs", "3.4 ms", "2.50 s"; NULL stays NULL.
// Rules use it so every finding writes times the same way.
void ntDurationFunction(sqlite3_context* context, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(context);
    return;
  }
  sqlite3_result_text(context, formatFindingDuration(sqlite3_value_double(argv[0])).c_str(), -1, SQLITE_TRANSIENT);
}

// nt_number(x): "1,234" for whole numbers, "12.3" from 10 up, "0.123" below.
void ntNumberFunction(sqlite3_context* context, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(context);
    return;
  }
  sqlite3_result_text(context, formatFindingNumber(sqlite3_value_double(argv[0])).c_str(), -1, SQLITE_TRANSIENT);
}

}  // namespace

std::string formatFindingNumber(double x) {
  char buf[64];
  if (!std::isfinite(x)) return "?";
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", std::fabs(x));
    std::string digits = buf, grouped;
    for (size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
      grouped += digits[i];
    }
    return (x < 0 ? "-" : "") + grouped;
  }
  if (std::fabs(x) >= 10) std::snprintf(buf, sizeof(buf), "%.1f", x);
  else std::snprintf(buf, sizeof(buf), "%.3g", x);
  return buf;
}

std::string formatFindingDuration(double ns) {
  char buf[64];
  const double magnitude = ns < 0 ? -ns : ns;
  if (magnitude < 1e3) std::snprintf(buf, sizeof(buf), "%.0f ns", ns);
  else if (magnitude < 1e4) std::snprintf(buf, sizeof(buf), "%.1f \u00b5s", ns / 1e3);
  else if (magnitude < 1e6) std::snprintf(buf, sizeof(buf), "%.0f \u00b5s", ns / 1e3);
  else if (magnitude < 1e7) std::snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  else if (magnitude < 1e9) std::snprintf(buf, sizeof(buf), "%.1f ms", ns / 1e6);
  else std::snprintf(buf, sizeof(buf), "%.2f s", ns / 1e9);
  return buf;
}

int findingSeverityRank(const std::string& severity) {
  if (severity == "critical") return 0;
  if (severity == "warning") return 1;
  if (severity == "info") return 2;
  return -1;
}

std::string findingCellText(const FindingCell& cell) {
  switch (cell.kind) {
    case FindingCell::Kind::kNull:
      return "";
    case FindingCell::Kind::kInteger:
      return std::to_string(cell.integer);
    case FindingCell::Kind::kReal: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.3f", cell.real);
      std::string s = buf;
      while (!s.empty() && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    }
    case FindingCell::Kind::kText:
      return cell.text;
  }
  return "";
}

std::vector<std::string> findingRuleFiles(FindingScope scope) {
  std::vector<std::string> names;
  for (const EmbeddedAsset& asset : embeddedAssets()) {
    if (asset.name.substr(0, kAssetPrefix.size()) != kAssetPrefix) continue;
    std::string_view file = asset.name.substr(kAssetPrefix.size());
    if (file.size() < 5 || file.substr(file.size() - 4) != ".sql") continue;
    std::string stem(file.substr(0, file.size() - 4));
    if ((stem == "_diff") == (scope == FindingScope::kDiff)) names.push_back(stem);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<FindingsResult> evaluateFindings(Db& db, FindingScope scope) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string& stem : findingRuleFiles(scope))
    files.emplace_back(stem, std::string(embeddedAsset(std::string(kAssetPrefix) + stem + ".sql")));
  return evaluateFindingRules(db, files);
}

Result<FindingsResult> evaluateFindingRules(Db& db, const std::vector<std::pair<std::string, std::string>>& files) {
  // Views of an earlier run on this connection (a report after a triage).
  NT_ASSIGN_OR_RETURN(std::vector<std::string> old_views, ruleViews(db, /*helpers=*/true));
  for (const std::string& view : old_views) NT_RETURN_IF_ERROR(db.exec("DROP VIEW temp." + sqlIdentifier(view)));

  if (sqlite3_create_function(db.raw(), "nt_duration", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                              &ntDurationFunction, nullptr, nullptr) != SQLITE_OK)
    return Status::error("findings: register nt_duration(): ", sqlite3_errmsg(db.raw()));
  if (sqlite3_create_function(db.raw(), "nt_number", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                              &ntNumberFunction, nullptr, nullptr) != SQLITE_OK)
    return Status::error("findings: register nt_number(): ", sqlite3_errmsg(db.raw()));

  FindingsResult result;
  std::vector<std::pair<std::string, std::string>> rules;  // view, source
  std::set<std::string> seen;
  for (const auto& [stem, sql] : files) {
    // A family's rules need its tables: a database ingested before the
    // family existed (or a hand-made one) has none, and nothing to find there.
    if (stem[0] != '_') {
      NT_ASSIGN_OR_RETURN(Statement tables, db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                                       "substr(name, 1, length(?1) + 1) = ?1 || '_' LIMIT 1"));
      tables.bind(1, std::string_view(stem));
      NT_ASSIGN_OR_RETURN(bool has_tables, tables.step());
      if (!has_tables) {
        result.skipped_files.push_back(stem);
        continue;
      }
    }
    Status status = runRuleFile(db, stem, sql);
    if (!status) result.problems.push_back(status.message());
    NT_ASSIGN_OR_RETURN(std::vector<std::string> views, ruleViews(db));
    for (const std::string& view : views)
      if (seen.insert(view).second) rules.emplace_back(view, stem);
  }
  for (const auto& [view, source] : rules) runRule(db, view, source, result.findings, result.problems);
  result.rules = static_cast<int>(rules.size());
  std::stable_sort(result.findings.begin(), result.findings.end(), [](const Finding& a, const Finding& b) {
    const int ra = findingSeverityRank(a.severity), rb = findingSeverityRank(b.severity);
    if (ra != rb) return ra < rb;
    if (a.score != b.score) return a.score > b.score;
    return a.rule < b.rule;
  });
  return result;
}

}  // namespace nettrail
