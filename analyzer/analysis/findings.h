#pragma once
// Findings: automated triage (`nettrail triage`, the first screen of every
// report). The rules are SQL, one view each, in analyzer/findings/*.sql (one
// file per family, _core.sql for what every recording has, _diff.sql for the
// comparison of two recordings); docs/architecture.md, "Findings", explains
// the contract and how to add a rule. This engine creates the rule views as
// TEMP views on the connection (so read-only databases and databases ingested
// by an older nettrail get the current rules), runs each one, checks its rows
// and ranks them. It knows no rule and no family.
#include <cstdint>
#include <string>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"

namespace nettrail {

// Which rules apply: those over one recording's tables, or those over the
// diff_* tables of `nettrail diff` (analyzer/findings/_diff.sql).
enum class FindingScope { kRecording, kDiff };

// One value of an evidence row, kept typed so the report can format numbers.
struct FindingCell {
  enum class Kind { kNull, kInteger, kReal, kText };
  Kind kind = Kind::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string text;  // kText; untrusted (interface names, comms, symbols)
};

struct Finding {
  std::string rule;       // view name without "finding_", e.g. drop_concentrated
  std::string source;     // rule file stem: drop, stages, ..., _core, _diff
  std::string severity;   // critical, warning or info
  double score = 0;       // rank within the severity, 0-100
  std::string title;      // the finding in one line
  std::string evidence;   // the numbers behind it
  std::string next_step;  // what to record or run next
  // Rows behind the numbers: the result of the rule's evidence_sql (first
  // kMaxEvidenceRows rows), or none.
  std::vector<std::string> evidence_columns;
  std::vector<std::vector<FindingCell>> evidence_rows;
  int64_t evidence_total = 0;  // rows evidence_sql returned, shown or not
};

struct FindingsResult {
  std::vector<Finding> findings;      // ranked: severity, then score, then rule
  std::vector<std::string> problems;  // rules that could not run or gave bad rows
  int rules = 0;                      // rules evaluated
  // Rule files of families this database has no tables of (ingested before
  // the family existed): not evaluated, since there is nothing to find.
  std::vector<std::string> skipped_files;
};

// Evidence rows kept per finding; the total says how many there were.
constexpr int kMaxEvidenceRows = 10;
// Rows a rule may return; more are cut and reported as a problem (a rule is
// meant to name a few things, not list a table).
constexpr int kMaxFindingsPerRule = 10;

// Names of the rule files (embedded assets "findings/<name>.sql") in `scope`.
std::vector<std::string> findingRuleFiles(FindingScope scope);

// Runs every rule of `scope` over `db`. A rule that fails is a problem in the
// result, not an error: the other rules still run. Errors are for the engine
// itself (no connection, no temp schema).
Result<FindingsResult> evaluateFindings(Db& db, FindingScope scope);

// The same over rules given as text (tests, and rule files not embedded):
// each entry is (file stem, SQL text).
Result<FindingsResult> evaluateFindingRules(Db& db, const std::vector<std::pair<std::string, std::string>>& files);

// Severity rank: 0 critical, 1 warning, 2 info, -1 for anything else.
int findingSeverityRank(const std::string& severity);

// A duration in ns as rules write it (SQL function nt_duration): "850 ns",
// "12.5 µs", "3.40 ms", "2.50 s".
std::string formatFindingDuration(double ns);

// A number as rules write it (SQL function nt_number): "1,234", "12.3", "0.123".
std::string formatFindingNumber(double x);

// A cell as plain text: integers as digits, reals with up to 3 decimals, NULL as "".
std::string findingCellText(const FindingCell& cell);

}  // namespace nettrail
