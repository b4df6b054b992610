#include "cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "analysis/correlate.h"
#include "analysis/diff.h"
#include "analysis/findings.h"
#include "core/db.h"
#include "core/text_escape.h"
#include "import/monitor_import.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "nettrail/output_file.h"
#include "report/report.h"
#include "views/info.h"
#include "views/text_views.h"
#include "views/triage.h"

namespace nettrail {
namespace stages {
// analyzer/families/stages.cpp: the terminal views of `nettrail stages`, over
// the whole recording and (--per-interval) one block per recorded interval.
Status printStagesView(Db& db, int top, std::ostream& out);
Status printStagesIntervalView(Db& db, std::ostream& out);
}  // namespace stages
namespace futex {
// analyzer/families/futex.cpp: the terminal view of `nettrail futex`.
Status printFutexView(Db& db, int top, std::ostream& out);
}  // namespace futex
namespace locks {
// analyzer/families/locks.cpp: the terminal view of `nettrail locks`.
Status printLocksView(Db& db, int top, std::ostream& out);
}  // namespace locks
namespace kmsg {
// analyzer/families/kmsg.cpp: the terminal view of `nettrail kmsg`.
Status printKmsgView(Db& db, int top, std::ostream& out);
}  // namespace kmsg
namespace {

struct OptionSpec {
  const char* name;        // long name without dashes
  char short_name;         // 0 if none
  bool takes_value;
  const char* help;
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // long name -> value ("" for flags); the last one given
  std::map<std::string, std::vector<std::string>> repeated;  // long name -> every value, in order
  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::vector<std::string> all(const std::string& name) const {
    auto it = repeated.find(name);
    return it == repeated.end() ? std::vector<std::string>() : it->second;
  }
  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
};

struct Verb;
using RunFunction = int (*)(const Verb& verb, const ParsedArgs& args, CliContext& cli);

struct Verb {
  const char* name;
  const char* summary;   // one line, for `nettrail --help`
  const char* usage;     // "nettrail top FILE [options]"
  const char* details;   // paragraph after the usage; may be empty
  std::vector<OptionSpec> options;
  RunFunction run;
  const char* alias = nullptr;
};

const std::vector<Verb>& verbs();

// A usage error: message plus a pointer to help, exit code 2.
int usageError(CliContext& cli, const std::string& message, const char* verb = nullptr) {
  cli.err << "nettrail: " << message << "\n";
  if (verb) cli.err << "Try 'nettrail " << verb << " --help'.\n";
  else cli.err << "Try 'nettrail --help'.\n";
  return kExitUsage;
}

int failure(CliContext& cli, const Status& status) {
  cli.err << "nettrail: " << escapeForTerminal(status.message()) << "\n";
  return kExitError;
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;  // suggest only close matches
  for (const std::string& c : candidates) {
    const size_t d = editDistance(word, c);
    const size_t limit = std::max<size_t>(1, std::min<size_t>(2, c.size() / 3));
    if (d <= limit && d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

void printVerbHelp(const Verb& verb, std::ostream& out) {
  out << "usage: " << verb.usage << "\n\n" << verb.summary << "\n";
  if (verb.details && *verb.details) out << "\n" << verb.details << "\n";
  if (verb.alias) out << "\nAlias: nettrail " << verb.alias << "\n";
  out << "\nOptions:\n";
  for (const OptionSpec& o : verb.options) {
    std::string left = "  ";
    left += o.short_name ? std::string("-") + o.short_name + ", " : "    ";
    left += std::string("--") + o.name + (o.takes_value ? " VALUE" : "");
    if (left.size() < 28) left += std::string(28 - left.size(), ' ');
    else left += "  ";
    out << left << o.help << "\n";
  }
  out << "  -h, --help                Show this help\n";
}

void printMainHelp(std::ostream& out) {
  out << "usage: nettrail VERB [ARGS] [OPTIONS]\n\n"
         "Analyze nettrail-record recordings (.ntr): ingest into SQLite, terminal views, HTML reports.\n\n"
         "Verbs:\n";
  for (const Verb& verb : verbs()) {
    std::string name = verb.name;
    if (verb.alias) name += " (" + std::string(verb.alias) + ")";
    out << "  " << name << std::string(name.size() < 16 ? 16 - name.size() : 1, ' ') << verb.summary << "\n";
  }
  out << "\nRun 'nettrail help VERB' or 'nettrail VERB --help' for a verb's options.\n"
         "Exit status: 0 success, 1 error, 2 usage error.\n";
}

// Parses `args` (after the verb) against the verb's options. Returns an exit
// code on a usage error.
std::optional<int> parseArgs(const Verb& verb, const std::vector<std::string>& args, size_t first, ParsedArgs* parsed,
                             CliContext& cli) {
  bool options_done = false;
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      parsed->positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      printVerbHelp(verb, cli.out);
      return kExitOk;
    }
    const OptionSpec* spec = nullptr;
    std::string name;
    std::optional<std::string> inline_value;
    if (arg[1] == '-') {
      name = arg.substr(2);
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      for (const OptionSpec& o : verb.options)
        if (name == o.name) spec = &o;
    } else {
      if (arg.size() > 2) inline_value = arg.substr(2);  // -t5
      for (const OptionSpec& o : verb.options)
        if (o.short_name == arg[1]) spec = &o;
      name = arg.substr(0, 2);
    }
    if (!spec) {
      std::vector<std::string> names;
      for (const OptionSpec& o : verb.options) names.push_back(o.name);
      std::string message = std::string(verb.name) + ": unknown option " + escapeForTerminal(arg);
      const std::string suggestion = arg[1] == '-' ? closest(name, names) : "";
      if (!suggestion.empty()) message += "; did you mean --" + suggestion + "?";
      return usageError(cli, message, verb.name);
    }
    if (spec->takes_value) {
      if (inline_value) {
        parsed->values[spec->name] = *inline_value;
        parsed->repeated[spec->name].push_back(*inline_value);
      } else if (i + 1 < args.size()) {
        parsed->values[spec->name] = args[++i];
        parsed->repeated[spec->name].push_back(args[i]);
      } else {
        return usageError(cli, std::string(verb.name) + ": option --" + spec->name + " needs a value", verb.name);
      }
    } else {
      if (inline_value) return usageError(cli, std::string(verb.name) + ": option --" + spec->name + " takes no value", verb.name);
      parsed->values[spec->name] = "";
    }
  }
  return std::nullopt;
}

// Parses a whole non-negative integer, or fails with a message naming the option.
std::optional<int64_t> parseCount(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::optional<double> parseSeconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !(value >= 0) || value > 1e9) return std::nullopt;
  return value;
}

constexpr const char* kGroupReadableHelp =
    "Create the file with mode 0640 instead of 0600 (its group: a setgid directory's, else yours)";

// How a verb creates its output file (nettrail/output_file.h): 0600, or 0640
// with --group-readable; `replace` an existing file (a link is replaced, never
// followed).
OutputOptions outputOptions(const ParsedArgs& args, bool replace) {
  OutputOptions options;
  options.mode = args.has("group-readable") ? kGroupReadableFileMode : kPrivateFileMode;
  options.replace = replace;
  options.exists_hint = "use --force to replace it";
  return options;
}

// Opens an analysis input: a database from `nettrail ingest` (read-only) or a
// recording, ingested into an in-memory database.
Result<std::unique_ptr<Db>> openInput(const std::string& path, CliContext& cli) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Status::error("open ", path, ": ", errnoText(errno));
    return Status::error("open ", path, ": cannot read it");
  }
  char magic[16] = {};
  in.read(magic, sizeof(magic));
  const bool is_sqlite = in.gcount() == 16 && std::memcmp(magic, "SQLite format 3", 16) == 0;
  if (is_sqlite) {
    NT_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::open(path, /*read_only=*/true));
    auto tables = db->queryInt("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('meta', 'stats')");
    if (!tables.isOk())
      return Status::error(path, ": database unreadable (", tables.status().message(), ")");
    if (*tables < 2)
      return Status::error(path, ": an SQLite database, but not one written by nettrail ingest (no meta or stats "
                                 "table)");
    // Views group millions of rows; keep their sorts in memory rather than temp files.
    NT_RETURN_IF_ERROR(db->exec("PRAGMA temp_store=MEMORY; PRAGMA cache_size=-131072;"));
    return db;
  }
  NT_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::open(":memory:"));
  IngestOptions options;
  options.progress = cli.stderr_is_tty;
  NT_RETURN_IF_ERROR(ingestRecordings({path}, *db, options));
  return db;
}

// Data-loss lines for terminal views, so a partial picture never looks complete.
Status printLossWarning(Db& db, CliContext& cli) {
  NT_ASSIGN_OR_RETURN(Statement stmt, db.prepare("SELECT origin, source, name, value, detail FROM loss_summary"));
  while (true) {
    NT_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    cli.err << "warning: " << escapeForTerminal(stmt.columnText(1)) << " " << escapeForTerminal(stmt.columnText(2))
            << " = " << stmt.columnInt(3);
    if (!stmt.columnIsNull(4)) cli.err << ": " << escapeForTerminal(stmt.columnText(4));
    cli.err << "\n";
  }
  return Status::ok();
}

int needPositional(const Verb& verb, const ParsedArgs& args, size_t count, CliContext& cli) {
  if (args.positional.size() < count)
    return usageError(cli, std::string(verb.name) + ": missing argument; usage: " + verb.usage, verb.name);
  if (args.positional.size() > count)
    return usageError(cli, std::string(verb.name) + ": unexpected argument " + escapeForTerminal(args.positional[count]),
                      verb.name);
  return kExitOk;
}

// ---------------------------------------------------------------- verbs

int runInfo(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  Status status = printRecordingInfo(args.positional[0], args.has("json"), cli.out);
  return status.isOk() ? kExitOk : failure(cli, status);
}

int runIngest(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (args.positional.empty())
    return usageError(cli, "ingest: no recording given; usage: " + std::string(verb.usage), verb.name);
  if (!args.has("output")) return usageError(cli, "ingest: -o OUT.db is required", verb.name);
  const std::string out_path = args.get("output", "");
  if (out_path.empty()) return usageError(cli, "ingest: -o needs a file name", verb.name);
  // Built under a random temporary name in OUT.db's directory (SQLite opens
  // files only by name) and renamed into place, so an interrupted ingest never
  // leaves a database that looks complete.
  auto file = OutputFile::create(out_path, OutputFile::Naming::kAtomicNamed, outputOptions(args, args.has("force")));
  if (!file.isOk()) return failure(cli, file.status().context("ingest"));
  // Refused now rather than after the load; commit() checks again.
  if (!args.has("force") && (*file)->directory().has((*file)->name()))
    return failure(cli, Status::error("ingest: ", out_path, " exists; use --force to replace it"));
  IngestSummary summary;
  Status status = [&]() -> Status {
    NT_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::open((*file)->temporaryPath(), false, /*no_follow=*/true));
    IngestOptions options;
    options.progress = args.has("progress") || cli.stderr_is_tty;
    NT_RETURN_IF_ERROR(ingestRecordings(args.positional, *db, options, &summary));
    NT_ASSIGN_OR_RETURN(int64_t losses, db->queryInt("SELECT COUNT(*) FROM loss_summary"));
    if (losses > 0) NT_RETURN_IF_ERROR(printLossWarning(*db, cli));
    return Status::ok();
  }();
  if (status.isOk()) status = (*file)->commit().context("ingest");
  if (!status.isOk()) return failure(cli, status);
  char rate[64];
  std::snprintf(rate, sizeof(rate), "%.2f s (%.0f rows/s)", summary.seconds,
                summary.seconds > 0 ? static_cast<double>(summary.rows) / summary.seconds : 0.0);
  cli.err << "ingested " << summary.rows << " rows from " << args.positional.size() << " file(s) into "
          << escapeForTerminal(out_path) << " in " << rate << "\n";
  return kExitOk;
}

int runQuery(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 2, cli)) return rc;
  const std::string format = args.get("format", "table");
  QueryFormat query_format;
  if (format == "table") query_format = QueryFormat::kTable;
  else if (format == "csv") query_format = QueryFormat::kCsv;
  else if (format == "json") query_format = QueryFormat::kJson;
  else return usageError(cli, "query: --format " + escapeForTerminal(format) + ": expected table, csv or json", verb.name);
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = printQuery(**db, args.positional[1], query_format, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context("query"));
}

int runTop(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  TopOptions options;
  if (args.has("top")) {
    auto n = parseCount(args.get("top", ""));
    if (!n || *n < 1 || *n > 100000)
      return usageError(cli, "top: --top " + escapeForTerminal(args.get("top", "")) + ": expected a whole number >= 1",
                        verb.name);
    options.top = static_cast<int>(*n);
  }
  const std::string group_by = args.get("group-by", "all");
  if (group_by == "stack") options.group_by = TopGroupBy::kStack;
  else if (group_by == "fivetuple") options.group_by = TopGroupBy::kFiveTuple;
  else if (group_by == "all") options.group_by = TopGroupBy::kAll;
  else return usageError(cli, "top: --group-by " + escapeForTerminal(group_by) + ": expected stack, fivetuple or all", verb.name);
  if (args.has("interval")) {
    auto seconds = parseSeconds(args.get("interval", ""));
    if (!seconds || *seconds <= 0)
      return usageError(cli, "top: --interval " + escapeForTerminal(args.get("interval", "")) +
                                 ": expected a number of seconds > 0", verb.name);
    options.interval_seconds = *seconds;
  }
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = printLossWarning(**db, cli);
  if (status.isOk()) status = printTopDrops(**db, options, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context("top"));
}

int runDrops(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  const std::string by = args.get("by", "reason");
  if (by != "reason" && by != "device" && by != "location" && by != "stack")
    return usageError(cli, "drops: --by " + escapeForTerminal(by) + ": expected reason, device, location or stack", verb.name);
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = printLossWarning(**db, cli);
  if (status.isOk()) status = printDropTable(**db, by, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context("drops"));
}

// A family's terminal view over FILE with a -t/--top count.
int runFamilyView(const Verb& verb, const ParsedArgs& args, CliContext& cli, int default_top,
                  Status (*print)(Db& db, int top, std::ostream& out)) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  int top = default_top;
  if (args.has("top")) {
    auto n = parseCount(args.get("top", ""));
    if (!n || *n == 0 || *n > 100000)
      return usageError(cli,
                        std::string(verb.name) + ": --top " + escapeForTerminal(args.get("top", "")) +
                            ": expected a whole number from 1 to 100000",
                        verb.name);
    top = static_cast<int>(*n);
  }
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = printLossWarning(**db, cli);
  if (status.isOk()) status = print(**db, top, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context(verb.name));
}

int runStages(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (!args.has("per-interval")) return runFamilyView(verb, args, cli, 5, &stages::printStagesView);
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  if (args.has("top"))
    return usageError(cli, "stages: --top is for the whole-recording view; --per-interval prints every interval",
                      verb.name);
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = printLossWarning(**db, cli);
  if (status.isOk()) status = stages::printStagesIntervalView(**db, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context(verb.name));
}

int runOffcpu(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  return runFamilyView(verb, args, cli, 10, &printOffcpuView);
}

int runCpu(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  return runFamilyView(verb, args, cli, 5, &printCpuView);
}

int runFutex(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  return runFamilyView(verb, args, cli, 20, &futex::printFutexView);
}

int runLocks(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  return runFamilyView(verb, args, cli, 10, &locks::printLocksView);
}

int runKmsg(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  return runFamilyView(verb, args, cli, 200, &kmsg::printKmsgView);
}

int runEvents(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  int64_t limit = 50;
  if (args.has("limit")) {
    auto n = parseCount(args.get("limit", ""));
    if (!n) return usageError(cli, "events: --limit " + escapeForTerminal(args.get("limit", "")) + ": expected a whole number", verb.name);
    limit = *n;
  }
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = printLossWarning(**db, cli);
  if (status.isOk()) status = printDropEvents(**db, limit, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context("events"));
}

int runTriage(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (args.positional.empty())
    return usageError(cli, "triage: no recording given; usage: " + std::string(verb.usage), verb.name);
  const bool json = args.has("json");
  JsonWriter w;
  if (json) {
    w.beginObject();
    w.key("inputs");
    w.beginArray();
  }
  int rc = kExitOk;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const std::string& input = args.positional[i];
    auto db = openInput(input, cli);
    if (!db.isOk()) {
      rc = failure(cli, db.status());
      continue;
    }
    auto result = evaluateFindings(**db, FindingScope::kRecording);
    if (!result.isOk()) {
      rc = failure(cli, result.status().context("triage " + input));
      continue;
    }
    if (json) {
      writeTriageJson(**db, input, *result, w);
      continue;
    }
    if (i > 0) cli.out << "\n";
    Status status = printTriage(**db, input, *result, cli.out);
    if (!status.isOk()) rc = failure(cli, status.context("triage"));
  }
  if (json) {
    w.endArray();
    w.endObject();
    cli.out << w.str() << "\n";
  }
  return rc;
}

int runReport(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  const std::string out_path = args.get("output", "");
  if (out_path.empty()) return usageError(cli, "report: -o OUT.html is required", verb.name);
  auto db = openInput(args.positional[0], cli);
  if (!db.isOk()) return failure(cli, db.status());
  Status status = writeHtmlReport(**db, out_path, outputOptions(args, /*replace=*/true));
  if (!status.isOk()) return failure(cli, status.context("report"));
  cli.err << "wrote " << escapeForTerminal(out_path) << "\n";
  return kExitOk;
}

int runImport(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 2, cli)) return rc;
  if (!args.has("format"))
    return usageError(cli, "import: --format ping|pidstat|csv|prometheus is required", verb.name);
  auto format = parseMonitorFormat(args.get("format", ""));
  if (!format.isOk()) return usageError(cli, "import: --format: " + format.status().message(), verb.name);
  MonitorImportOptions options;
  options.format = *format;
  options.name = args.get("name", "");
  if (args.has("clock-offset")) {
    const std::string text = args.get("clock-offset", "");
    char* end = nullptr;
    const double ms = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(std::fabs(ms) < 1e12))
      return usageError(cli, "import: --clock-offset " + escapeForTerminal(text) + ": expected milliseconds, e.g. "
                             "-250 or 1500", verb.name);
    options.clock_offset_ns = static_cast<int64_t>(ms * 1e6);
  }
  if (args.has("tz")) {
    auto tz = parseTzOffset(args.get("tz", ""));
    if (!tz.isOk()) return usageError(cli, "import: --tz: " + escapeForTerminal(tz.status().message()), verb.name);
    options.parse.tz_offset_s = *tz;
  }
  options.parse.date = args.get("date", "");
  const std::string& db_path = args.positional[0];
  std::ifstream probe(db_path, std::ios::binary);
  char magic[16] = {};
  probe.read(magic, sizeof(magic));
  if (!probe || std::memcmp(magic, "SQLite format 3", 16) != 0)
    return failure(cli, Status::error("import: ", db_path, " is not a database; run nettrail ingest FILE.ntr -o ",
                                      "OUT.db first and import into OUT.db"));
  auto db = Db::open(db_path);
  if (!db.isOk()) return failure(cli, db.status());
  MonitorImportSummary summary;
  Status status = importMonitorFile(**db, args.positional[1], options, &summary);
  if (!status.isOk()) return failure(cli, status);
  cli.err << "imported " << summary.rows << " rows from " << escapeForTerminal(args.positional[1]) << " into "
          << escapeForTerminal(db_path);
  if (summary.outside_rows > 0) cli.err << " (" << summary.outside_rows << " outside the recording's time span)";
  cli.err << "\n";
  return kExitOk;
}

int runCorrelate(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 1, cli)) return rc;
  CorrelateOptions options;
  if (args.has("window")) {
    auto ms = parseSeconds(args.get("window", ""));
    if (!ms || *ms <= 0)
      return usageError(cli, "correlate: --window " + escapeForTerminal(args.get("window", "")) +
                                 ": expected milliseconds > 0", verb.name);
    options.window_ms = *ms;
  }
  if (args.has("rtt-threshold")) {
    auto ms = parseSeconds(args.get("rtt-threshold", ""));
    if (!ms) return usageError(cli, "correlate: --rtt-threshold " + escapeForTerminal(args.get("rtt-threshold", "")) +
                                        ": expected milliseconds (0 turns RTT alerts off)", verb.name);
    options.rtt_threshold_ms = *ms;
  }
  for (const std::string& text : args.all("threshold")) {
    auto threshold = parseSeriesThreshold(text);
    if (!threshold.isOk()) return usageError(cli, "correlate: " + threshold.status().message(), verb.name);
    options.thresholds.push_back(*threshold);
  }
  int64_t limit = 50;
  if (args.has("limit")) {
    auto n = parseCount(args.get("limit", ""));
    if (!n) return usageError(cli, "correlate: --limit " + escapeForTerminal(args.get("limit", "")) +
                                       ": expected a whole number", verb.name);
    limit = *n;
  }
  auto db = Db::open(args.positional[0]);
  if (!db.isOk()) return failure(cli, db.status());
  auto summary = correlateAlerts(**db, options);
  if (!summary.isOk()) return failure(cli, summary.status());
  Status status = printCorrelation(**db, *summary, limit, cli.out);
  return status.isOk() ? kExitOk : failure(cli, status.context("correlate"));
}

int runDiff(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 2, cli)) return rc;
  auto before = openInput(args.positional[0], cli);
  if (!before.isOk()) return failure(cli, before.status());
  auto after = openInput(args.positional[1], cli);
  if (!after.isOk()) return failure(cli, after.status());
  auto diff = Db::open(":memory:");
  if (!diff.isOk()) return failure(cli, diff.status());
  Status status = buildDiff(**before, args.positional[0], **after, args.positional[1], **diff);
  if (status.isOk()) {
    // Findings first, as in the HTML diff.
    auto findings = evaluateFindings(**diff, FindingScope::kDiff);
    if (findings.isOk()) {
      cli.out << "Findings:\n";
      printFindingList(*findings, cli.out);
      cli.out << "\n";
    } else {
      status = findings.status();
    }
  }
  if (status.isOk()) status = printDiff(**diff, cli.out);
  const std::string out_path = args.get("output", "");
  if (status.isOk() && !out_path.empty()) status = writeDiffHtml(**diff, out_path, outputOptions(args, /*replace=*/true));
  if (!status.isOk()) return failure(cli, status.context("diff"));
  if (!out_path.empty()) cli.err << "wrote " << escapeForTerminal(out_path) << "\n";
  return kExitOk;
}

int runFamilies(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (int rc = needPositional(verb, args, 0, cli)) return rc;
  for (const FamilyEntry& family : buildFamilyRegistry())
    cli.out << family.name << std::string(family.name.size() < 12 ? 12 - family.name.size() : 1, ' ') << family.summary
            << "\n";
  return kExitOk;
}

int runHelp(const Verb& verb, const ParsedArgs& args, CliContext& cli) {
  if (args.positional.empty()) {
    printMainHelp(cli.out);
    return kExitOk;
  }
  if (args.positional.size() > 1) return usageError(cli, "help: give one verb", verb.name);
  for (const Verb& v : verbs()) {
    if (args.positional[0] == v.name || (v.alias && args.positional[0] == v.alias)) {
      printVerbHelp(v, cli.out);
      return kExitOk;
    }
  }
  return usageError(cli, "help: unknown verb " + escapeForTerminal(args.positional[0]));
}

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> kVerbs = {
      {"info", "Show a recording's header, probes, counts and data loss", "nettrail info FILE.ntr [--json]",
       "Reads the recording directly (no database). Data loss (file damage and events the recorder could not "
       "record) is listed first.",
       {{"json", 0, false, "Print JSON instead of text"}},
       &runInfo},
      {"ingest", "Load recordings into an SQLite database", "nettrail ingest FILE.ntr [FILE2.ntr ...] -o OUT.db",
       "Several files are the rotated segments of one recording, in order. The database schema is documented in "
       "its tables' SQL (SELECT sql FROM sqlite_master).",
       {{"output", 'o', true, "Database to create"},
        {"force", 0, false, "Replace OUT.db if it exists"},
        {"group-readable", 0, false, kGroupReadableHelp},
        {"progress", 0, false, "Print rows and MB/s every second (default when stderr is a terminal)"}},
       &runIngest},
      {"query", "Run SQL over a database or recording", "nettrail query FILE.db|FILE.ntr 'SQL' [--format table|csv|json]",
       "Views to start from: drop_by_reason, drop_by_device, drop_by_location, drop_by_stack, drop_detail, "
       "loss_summary, stack_frame_text.",
       {{"format", 'f', true, "Output format: table (default), csv or json"}},
       &runQuery,
       "sql"},
      {"top", "Top drop stacks and flows per interval, like the seed summary tools",
       "nettrail top FILE.ntr|FILE.db [-t N] [--group-by stack|fivetuple|all] [-i SECONDS]",
       "Summary recordings use their recorded intervals unless -i is given; per-drop recordings are shown as one "
       "interval unless -i is given. Frames of the tracing machinery are hidden.",
       {{"top", 't', true, "Keys shown per interval (default 5)"},
        {"group-by", 'g', true, "Key: stack, fivetuple or all (default all)"},
        {"interval", 'i', true, "Interval length in seconds"}},
       &runTop},
      {"drops", "Drop totals by reason, device, location or stack",
       "nettrail drops FILE.ntr|FILE.db [--by reason|device|location|stack]", "",
       {{"by", 'b', true, "Grouping: reason (default), device, location or stack"}},
       &runDrops},
      {"events", "Per-drop details with wall-clock time, flow and top frames",
       "nettrail events FILE.ntr|FILE.db [--limit N]", "",
       {{"limit", 'n', true, "Drops to show (default 50)"}},
       &runEvents},
      {"stages", "Per-stage latency: log2 histograms per stage pair and per flow, exact percentiles, slowest packets",
       "nettrail stages FILE.ntr|FILE.db [-t N | -I]",
       "Like the seed latency tools: session counts and where incomplete packets stopped, a BCC-style log2 "
       "histogram per adjacent stage pair and end to end (every packet, counted in the kernel), exact percentiles "
       "from the per-packet records, the busiest flows with their own in-kernel histograms, then the slowest "
       "packets with their per-stage waterfall and, when recorded with --stage-stacks, the kernel stacks of each "
       "stage. Stages the recorded kernel could not attach are listed first.\n\n"
       "With -I/--per-interval it prints instead, like system_network_latency_summary.py every --interval, one "
       "block per interval the recorder snapshotted (nettrail-record -i): the time the interval ended (UTC, "
       "through the recording's clock anchors), its index (stages_hist.interval_index) and length; the sessions "
       "started, completed, ended incomplete in it, and in flight at its end; then the in-kernel log2 histogram "
       "of each stage pair and end to end for that interval, pairs without packets left out. A run of intervals "
       "without packets is one line, so a long recording shows its idle stretches compactly. The last line sums "
       "the intervals: the whole recording's session counts, where incomplete also counts the sessions still in flight "
       "at the end (in a block it counts the sessions that ended in that interval without reaching the last stage). "
       "Example:\n"
       "  $ nettrail stages lat.ntr --per-interval\n"
       "  [2026-01-02 03:04:05.000 UTC] === Interval 7 (1.000 s) ===\n"
       "  Sessions: 120 started, 119 completed, 0 incomplete, 1 in flight at the end\n"
       "\n"
       "  qdisc_enqueue -> qdisc_dequeue:\n"
       "                     usecs : count      distribution\n"
       "        0.512 -> 1.023      : 97         |****************************************|\n"
       "        1.024 -> 2.047      : 22         |*********                               |\n"
       "  Total packets: 119\n"
       "  ...\n"
       "  [2026-01-02 03:04:13.000 UTC] === Intervals 8-15 (8.000 s): no packets ===\n"
       "  ...\n"
       "  All 600 interval(s): 60211 started, 60209 completed, 2 incomplete (1 ended without completing, 1 still "
       "in flight at the end)",
       {{"top", 't', true, "Slowest packets, flows and stacks per stage shown (default 5)"},
        {"per-interval", 'I', false, "One block of histograms per recorded interval instead of the whole recording"}},
       &runStages},
      {"offcpu", "Off-CPU time: per thread, top stack pairs like offcputime, longest periods with their waker",
       "nettrail offcpu FILE.ntr|FILE.db [-t N]",
       "Stack pairs print kernel frames innermost first, a '--' line, then user frames, then the thread and its "
       "time, as offcputime does; user frames are symbolized from the recording alone. The longest periods need a "
       "recording with details (per-period records).",
       {{"top", 't', true, "Stack pairs and longest periods shown (default 10)"}},
       &runOffcpu},
      {"cpu", "CPU per thread over time with bursts marked",
       "nettrail cpu FILE.ntr|FILE.db [-t N]",
       "Per thread: CPU time, the highest share of a CPU in one interval and the bursts (intervals at or above 80%). "
       "The busiest threads are drawn one digit per sampling interval, in tenths of a CPU, so a one-second burst "
       "that 15-second monitoring averages away stands out as a 9 or X.",
       {{"top", 't', true, "Threads drawn over time (default 5)"}},
       &runCpu},
      {"futex", "Futex calls per thread and command, and the futex words threads wait on",
       "nettrail futex FILE.ntr|FILE.db [-t N]",
       "From a recording with --families futex: calls, time in the kernel, longest call and errors per thread "
       "and FUTEX_* command, then the futex words with the most waiting threads (a contended lock or condition "
       "variable shows up as one word many threads WAIT on). Addresses are in the recorded process's address "
       "space. Full tables: nettrail query FILE 'SELECT * FROM futex_by_thread_op' (or futex_by_address, "
       "futex_detail).",
       {{"top", 't', true, "Rows per table (default 20)"}},
       &runFutex},
      {"locks", "Lock waits: per lock, waiter and holder pairs with their stacks, longest waits",
       "nettrail locks FILE.ntr|FILE.db [-t N]",
       "From the locks family (nettrail-record --families locks -p PID): pthread rwlock and mutex waits per lock "
       "address with count, total, max and percentiles; then who waited on whom (the waiter and the thread that "
       "held the lock when the wait began) with the innermost frames of their user stacks; then the longest "
       "single waits with the holder's hold time. Lock functions that could not be probed are listed first.",
       {{"top", 't', true, "Rows per table (default 10)"}},
       &runLocks},
      {"kmsg", "Kernel log lines logged while recording, like dmesg, with wall-clock times",
       "nettrail kmsg FILE.ntr|FILE.db [-t N]",
       "From the kmsg family (nettrail-record --families kmsg,...): the IRQs the kernel's spurious-interrupt "
       "detector reported or switched off (\"irq N: nobody cared\", \"Disabling IRQ #N\"), then the lines in "
       "order with their wall-clock time, the kernel's own timestamp and facility.level. Times are on the "
       "recording's clock: the kernel stamps lines with local_clock(), measured against CLOCK_BOOTTIME while "
       "recording. All lines: nettrail query FILE 'SELECT * FROM kmsg_event'.",
       {{"top", 't', true, "Lines printed (default 200)"}},
       &runKmsg},
      {"triage", "Findings first: the patterns in a recording, ranked, with evidence and the next step",
       "nettrail triage FILE.ntr|FILE.db [FILE2 ...] [--json]",
       "Runs the rules of analyzer/findings/ (docs/architecture.md, \"Findings\") and prints what they found, most "
       "important first: each finding's severity, one line saying what was found, the numbers behind it, the next "
       "recording or command to run, and the rows the numbers come from. Data loss comes first: when events were "
       "lost, every count is a lower bound. Each FILE is triaged on its own; ingest the rotated segments of one "
       "recording into one database first (nettrail ingest A.ntr A.1.ntr -o A.db). Exit status 0 when every FILE "
       "was triaged, whatever was found. Example:\n"
       "  $ nettrail triage vm.ntr\n"
       "  vm.ntr: host hv1, 2026-01-02 03:04:05 UTC, 30.0 s\n"
       "  1 finding from 9 rules, most important first:\n"
       "\n"
       "  1. CRITICAL  95% of drops are FULL_RING at tun_net_xmit on vnet3\n"
       "     evidence: 184 of 192 drops (6.1/s over 30.0 s); mostly UDP 10.0.0.1 -> 10.0.0.2; 1 other cause\n"
       "     next:     The reader of vnet3 (the VM's vhost-net worker or QEMU) does not drain its ring: ...",
       {{"json", 0, false, "Print JSON: {\"inputs\": [one object per FILE]}"}},
       &runTriage},
      {"report", "Write a self-contained HTML report", "nettrail report FILE.ntr|FILE.db -o OUT.html", "",
       {{"output", 'o', true, "HTML file to write"}, {"group-readable", 0, false, kGroupReadableHelp}},
       &runReport},
      {"import", "Import a monitoring export (ping, pidstat, CSV, Prometheus) next to a recording",
       "nettrail import DB FILE --format ping|pidstat|csv|prometheus [--name NAME] [--clock-offset MS] [--tz TZ] "
       "[--date YYYY-MM-DD]",
       "Adds the file's rows to monitor_probe (ping) or monitor_sample (the rest) of DB, a database from nettrail "
       "ingest, with each time mapped onto the recording's clock through its clock anchors. Formats: ping -D "
       "output (with -O for timeouts) or CSV timestamp,target,rtt_ms|timeout; pidstat -u [-t] [-h] output; CSV "
       "timestamp,series,value; Prometheus text format with timestamps, or a query's JSON export. Timestamps are "
       "epoch s/ms/us/ns or RFC 3339. Then run nettrail correlate DB, or nettrail report DB.",
       {{"format", 'f', true, "ping, pidstat, csv or prometheus"},
        {"name", 0, true, "Name for this source (default: the file name)"},
        {"clock-offset", 0, true, "Monitor clock minus recorded host clock, in ms; subtracted from its times"},
        {"tz", 0, true, "Time zone of local times (pidstat without -h): UTC or +HH:MM"},
        {"date", 0, true, "Date of pidstat HH:MM:SS times when the file has no banner line"}},
       &runImport},
      {"correlate", "Set monitoring alerts against the recorded events around them",
       "nettrail correlate DB [--window MS] [--rtt-threshold MS] [--threshold 'SERIES>VALUE' ...] [--limit N]",
       "Alerts: probe timeouts, probe RTT above --rtt-threshold, and crossings of --threshold (SERIES is a glob "
       "over imported series names, operators > >= < <=). For each alert, events within +-window from every "
       "<family>_timeline view are stored in monitor_alert_event, and the alert is counted as having a kernel "
       "drop behind it or not. Results stay in DB (monitor_alert) for nettrail report and nettrail query.",
       {{"window", 'w', true, "Events within +-MS of the alert (default 1000)"},
        {"rtt-threshold", 0, true, "RTT alert threshold in ms (default 200; 0 for none)"},
        {"threshold", 't', true, "SERIES>VALUE threshold crossing alert; repeatable"},
        {"limit", 'n', true, "Alerts listed (default 50)"}},
       &runCorrelate},
      {"diff", "Compare two recordings: headline changes, distributions, per-reason and per-stack changes",
       "nettrail diff BEFORE.ntr|BEFORE.db AFTER.ntr|AFTER.db [-o DIFF.html]",
       "Prints each headline figure's change (e.g. drops/s: 120.0 -> 3.5 (-97.1%)), percentiles of per-second "
       "events, and the changes per reason, device, location and stack; -o also writes them as an HTML report.",
       {{"output", 'o', true, "HTML file to write"}, {"group-readable", 0, false, kGroupReadableHelp}},
       &runDiff},
      {"families", "List the probe families this nettrail reads", "nettrail families", "", {}, &runFamilies},
      {"help", "Show help for nettrail or one verb", "nettrail help [VERB]", "", {}, &runHelp},
  };
  return kVerbs;
}

}  // namespace

size_t editDistance(const std::string& a, const std::string& b) {
  // Optimal string alignment: insertions, deletions, substitutions and swaps of
  // adjacent letters ("tpo" -> "top") each cost 1.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

int runCli(const std::vector<std::string>& args, CliContext& cli) {
  if (args.empty()) {
    printMainHelp(cli.err);
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "-h" || name == "--help") {
    printMainHelp(cli.out);
    return kExitOk;
  }
  if (name == "--version") {
    cli.out << "nettrail 0.1.0\n";
    return kExitOk;
  }
  for (const Verb& verb : verbs()) {
    if (name != verb.name && !(verb.alias && name == verb.alias)) continue;
    ParsedArgs parsed;
    if (auto rc = parseArgs(verb, args, 1, &parsed, cli)) return *rc;
    return verb.run(verb, parsed, cli);
  }
  std::vector<std::string> names;
  for (const Verb& verb : verbs()) {
    names.push_back(verb.name);
    if (verb.alias) names.push_back(verb.alias);
  }
  std::string message = "unknown verb '" + escapeForTerminal(name) + "'";
  const std::string suggestion = closest(name, names);
  if (!suggestion.empty()) message += "; did you mean '" + suggestion + "'?";
  return usageError(cli, message);
}

}  // namespace nettrail
