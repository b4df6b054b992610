#pragma once
// Recording files -> SQLite. The core chunks (header, tables, clock anchors,
// stats) are handled here once; Batch chunks go by union tag to the family
// importer that registered the tag (STYLE.md §3.3), through a table, never a
// switch over families.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/db.h"
#include "ingest/family.h"
#include "nettrail/status.h"

namespace nettrail {

struct IngestOptions {
  // Prints rows and MB/s to `progress_out` about once a second.
  bool progress = false;
  FILE* progress_out = stderr;
};

// What importers share during one ingest: the database, enum names, and the
// stats table for anything skipped or suspicious.
class IngestContext {
 public:
  explicit IngestContext(Db& db) : db_(db) {}
  IngestContext(const IngestContext&) = delete;
  IngestContext& operator=(const IngestContext&) = delete;

  Db& db() { return db_; }

  // Enumerator name on the recorded kernel, e.g. "SKB_DROP_REASON_NO_SOCKET";
  // nullptr when the recording does not name this value.
  const std::string* enumName(const std::string& enum_name, int64_t value) const;
  void addEnum(const std::string& enum_name, int64_t value, const std::string& name);

  // A row of the stats table (severity info, error or data_loss).
  void addStat(std::string severity, std::string source, std::string name, int64_t value, std::string detail);

  // The two data-loss rows every family importer can meet, worded alike:
  // a batch of a union member this nettrail does not know (skipped), and
  // batches whose columns had unequal lengths (`rows` beyond the shortest
  // column skipped; `what` names them, e.g. "packets").
  void addUnknownBatchKind(const std::string& family);
  void addShortColumns(const std::string& family, uint64_t batches, uint64_t rows, const std::string& what);

  // Importers report rows they wrote, for progress output and the ingest summary.
  void addRows(uint64_t rows) { rows_ += rows; }
  uint64_t rows() const { return rows_; }

  // Path of the file being ingested, for messages.
  const std::string& currentFile() const { return current_file_; }
  void setCurrentFile(const std::string& path) { current_file_ = path; }

  struct StatRow {
    std::string severity, source, name;
    int64_t value;
    std::string detail;
  };
  const std::vector<StatRow>& statRows() const { return stats_; }

 private:
  Db& db_;
  std::unordered_map<std::string, std::unordered_map<int64_t, std::string>> enums_;
  std::vector<StatRow> stats_;
  uint64_t rows_ = 0;
  std::string current_file_;
};

struct IngestSummary {
  uint64_t rows = 0;
  uint64_t bytes = 0;       // recording bytes read
  double seconds = 0;
  double index_seconds = 0;  // part of `seconds` spent on stacks, indexes and the commit
};

// Ingests `files` (one recording, or the rotated segments of one, in order)
// into `db`, which should be empty. Runs in one transaction. A file that is not
// a recording is an error; a file cut short is not (its loss becomes stats rows).
Status ingestRecordings(const std::vector<std::string>& files, Db& db, const IngestOptions& options,
                        IngestSummary* summary = nullptr);

// Names of frames that belong to the tracing machinery rather than the code
// that dropped the packet (bpf_trace_run2, __traceiter_kfree_skb...).
bool isTracingFrame(std::string_view symbol);

}  // namespace nettrail
