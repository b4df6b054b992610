// The SQL documentation rule (STYLE.md §4.11) for every .sql file in
// analyzer/queries: a `--` comment above each CREATE TABLE/VIEW and above each
// of its columns, a column list on every view, and family-prefixed names in a
// family's file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Problems found in one file's text, as "file:line: message".
std::vector<std::string> checkSqlDocs(const std::string& file_name, const std::string& text) {
  std::vector<std::string> problems;
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::string stem = std::filesystem::path(file_name).stem().string();
  const bool family_file = !stem.empty() && stem[0] != '_';
  const std::regex create(R"(^\s*CREATE\s+(TABLE|VIEW)\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_]+)\s*(\(?))",
                          std::regex::icase);
  const std::regex constraint(R"(^\s*(PRIMARY|UNIQUE|FOREIGN|CHECK|CONSTRAINT)\b)", std::regex::icase);
  auto where = [&](size_t i) { return file_name + ":" + std::to_string(i + 1) + ": "; };
  auto commentAbove = [&](size_t i) {
    return i > 0 && lines[i - 1].find_first_not_of(" \t") != std::string::npos &&
           lines[i - 1].substr(lines[i - 1].find_first_not_of(" \t"), 2) == "--";
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(lines[i], m, create)) continue;
    const std::string kind = m[1];
    const std::string name = m[3];
    if (!commentAbove(i)) problems.push_back(where(i) + kind + " " + name + " has no -- comment above it");
    if (family_file && name.rfind(stem + "_", 0) != 0 && name.rfind("_" + stem + "_", 0) != 0)
      problems.push_back(where(i) + name + " does not carry the family prefix " + stem + "_");
    if (m[4].str().empty()) {
      problems.push_back(where(i) + kind + " " + name + " has no column list to document");
      continue;
    }
    size_t j = i + 1;
    for (; j < lines.size(); ++j) {
      const std::string& line = lines[j];
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos) continue;
      if (line[start] == ')') break;
      if (line.compare(start, 2, "--") == 0) continue;
      if (std::regex_search(line, constraint)) continue;
      if (!commentAbove(j)) problems.push_back(where(j) + "column of " + name + " has no -- comment above it: " + line);
    }
    if (j == lines.size()) problems.push_back(where(i) + name + ": column list never closes");
    i = j;
  }
  return problems;
}

// NT_SOURCE_DIR, not __FILE__: with CCACHE_BASEDIR set, ccache makes the
// source path relative to the build directory, and ctest runs elsewhere.
std::filesystem::path queriesDir() { return std::filesystem::path(NT_SOURCE_DIR) / "analyzer" / "queries"; }

TEST(SqlDocs, EveryTableViewAndColumnInAnalyzerQueriesIsDocumented) {
  const std::filesystem::path dir = queriesDir();
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".sql") continue;
    ++files;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    for (const std::string& problem : checkSqlDocs(entry.path().filename().string(), text.str()))
      ADD_FAILURE() << problem;
  }
  EXPECT_GE(files, 2);
}

TEST(SqlDocs, TheCheckFindsMissingComments) {
  const std::string bad =
      "CREATE TABLE drop_x(\n"
      "  -- documented\n"
      "  a INTEGER,\n"
      "  b TEXT\n"
      ");\n"
      "-- View without columns.\n"
      "CREATE VIEW drop_v AS SELECT 1;\n"
      "-- Wrong prefix.\n"
      "CREATE TABLE other(\n"
      "  -- c\n"
      "  c INTEGER\n"
      ");\n";
  const std::vector<std::string> problems = checkSqlDocs("drop.sql", bad);
  ASSERT_EQ(problems.size(), 4u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("TABLE drop_x has no -- comment"), std::string::npos);
  EXPECT_NE(problems[1].find("column of drop_x"), std::string::npos);
  EXPECT_NE(problems[2].find("drop_v has no column list"), std::string::npos);
  EXPECT_NE(problems[3].find("family prefix"), std::string::npos);
}

}  // namespace
