// Golden tests (STYLE.md §3.5): each tests/golden/<family>/<case>/query.sql
// runs over the real sample recording named in tests/golden/<family>/SAMPLE
// (a directory of .ntr segments) and must print exactly expected.csv. NT_GOLDEN_UPDATE=1 rewrites expected.csv
// (review the diff before committing it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/db.h"
#include "ingest/ingest.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

namespace fs = std::filesystem;

std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string runToCsv(Db& db, const std::string& sql) {
  auto stmt = db.prepare(sql);
  if (!stmt.isOk()) return "error: " + stmt.status().message() + "\n";
  std::ostringstream out;
  for (int c = 0; c < stmt->columnCount(); ++c) out << (c ? "," : "") << csvField(stmt->columnName(c));
  out << "\n";
  while (true) {
    auto row = stmt->step();
    if (!row.isOk()) return "error: " + row.status().message() + "\n";
    if (!*row) break;
    for (int c = 0; c < stmt->columnCount(); ++c)
      out << (c ? "," : "") << (stmt->columnIsNull(c) ? "" : csvField(stmt->columnText(c)));
    out << "\n";
  }
  return out.str();
}

TEST(Golden, SampleQueriesMatchExpectedCsv) {
  const fs::path root = NT_SOURCE_DIR;
  int cases = 0;
  int regenerated = 0;
  for (const auto& family : fs::directory_iterator(root / "tests" / "golden")) {
    std::string sample_dir = testing::readFile((family.path() / "SAMPLE").string());
    while (!sample_dir.empty() && (sample_dir.back() == '\n' || sample_dir.back() == ' ')) sample_dir.pop_back();
    ASSERT_FALSE(sample_dir.empty()) << family.path() << "/SAMPLE names no sample directory";
    std::vector<std::string> recordings;
    for (const auto& f : fs::directory_iterator(root / sample_dir))
      if (f.path().extension() == ".ntr") recordings.push_back(f.path().string());
    ASSERT_FALSE(recordings.empty()) << "no sample recording for " << family.path();
    std::sort(recordings.begin(), recordings.end());
    auto db = Db::open(":memory:");
    ASSERT_TRUE(db.isOk());
    Status status = ingestRecordings(recordings, **db, IngestOptions{});
    ASSERT_TRUE(status.isOk()) << status.message();
    for (const auto& test_case : fs::directory_iterator(family.path())) {
      if (!test_case.is_directory()) continue;
      SCOPED_TRACE(test_case.path().string());
      const std::string actual = runToCsv(**db, testing::readFile((test_case.path() / "query.sql").string()));
      const fs::path expected_path = test_case.path() / "expected.csv";
      const char* update = std::getenv("NT_GOLDEN_UPDATE");
      if (update && std::string(update) == "1") {
        std::ofstream(expected_path) << actual;
        ++regenerated;
        continue;
      }
      ASSERT_TRUE(fs::exists(expected_path)) << "missing " << expected_path << " (NT_GOLDEN_UPDATE=1 creates it)";
      EXPECT_EQ(actual, testing::readFile(expected_path.string()));
      ++cases;
    }
  }
  // Update mode compares nothing, so it never reports a pass.
  if (regenerated > 0) GTEST_SKIP() << "NT_GOLDEN_UPDATE=1 regenerated " << regenerated
                                    << " expected.csv files and compared none; review the diff, then rerun without it";
  EXPECT_GE(cases, 3);
}

}  // namespace
}  // namespace nettrail
