#pragma once
// The analyzer side of a probe family (STYLE.md §3.3): an importer that turns
// the family's Batch member into SQLite rows, and the report sections and
// terminal views built over those rows. One implementation per
// analyzer/families/<name>.cpp; the registry is built from families.def.
#include <memory>
#include <string>
#include <vector>

#include "core/db.h"
#include "nettrail/status.h"
#include "recording.capnp.h"

namespace nettrail {

class IngestContext;   // ingest.h: shared tables (enums, interfaces, stacks), stats rows
class ReportBuilder;   // report_builder.h: generic report widgets

class FamilyImporter {
 public:
  virtual ~FamilyImporter() = default;
  // Batch union member this importer consumes.
  virtual Batch::Which batchTag() const = 0;
  // Creates the family's tables (runs analyzer/queries/<name>.sql).
  virtual Status createTables(Db& db) = 0;
  // Called for each Batch chunk with this family's tag, in file order.
  virtual Status importBatch(Batch::Reader batch, IngestContext& ctx) = 0;
  // After the last chunk: flush, create indexes.
  virtual Status finish(IngestContext& ctx) = 0;
  // Events, or summary entries, in one of this family's batches (nettrail info).
  virtual uint64_t eventCount(Batch::Reader batch) const = 0;
  // Adds this family's sections to the report; no-op when its tables are empty.
  virtual Status addReportSections(Db& db, ReportBuilder& report) = 0;
};

struct FamilyEntry {
  std::string name;      // from families.def
  std::string summary;
  std::unique_ptr<FamilyImporter> (*make)();
};

// Every family of families.def, in report order.
std::vector<FamilyEntry> buildFamilyRegistry();

}  // namespace nettrail
