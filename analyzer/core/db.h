#pragma once
// Thin owner of an SQLite connection and prepared statements. Errors are
// Status values that quote SQLite's message and the statement.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nettrail/status.h"

namespace nettrail {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { if (stmt_) sqlite3_finalize(stmt_); }
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binding is 1-based, like SQLite.
  void bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind(int index, double value) { sqlite3_bind_double(stmt_, index, value); }
  void bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  // Text that outlives the step() call (no copy).
  void bindStatic(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  void bindNull(int index) { sqlite3_bind_null(stmt_, index); }

  // Runs one step: Result true when a row is available, false when done.
  Result<bool> step();
  // For INSERT/UPDATE: step to completion and reset for the next use.
  Status run();
  void reset() { sqlite3_reset(stmt_); sqlite3_clear_bindings(stmt_); }

  int columnCount() const { return sqlite3_column_count(stmt_); }
  std::string columnName(int i) const { return sqlite3_column_name(stmt_, i); }
  int columnType(int i) const { return sqlite3_column_type(stmt_, i); }  // SQLITE_INTEGER...
  int64_t columnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
  double columnDouble(int i) const { return sqlite3_column_double(stmt_, i); }
  std::string columnText(int i) const;
  bool columnIsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  sqlite3_stmt* raw() const { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// "name" with embedded quotes doubled: a safe SQL identifier for any text.
std::string sqlIdentifier(const std::string& name);
// 'text' with embedded quotes doubled: a SQL string literal.
std::string sqlString(const std::string& text);

class Db {
 public:
  // Opens or creates `path`; ":memory:" for an in-memory database.
  // `no_follow`: refuse `path` if it is a symbolic link (SQLITE_OPEN_NOFOLLOW),
  // for a file the caller has just created (ingest's OutputFile temporary).
  static Result<std::unique_ptr<Db>> open(const std::string& path, bool read_only = false, bool no_follow = false);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements with no results.
  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  // First column of the first row as an integer (0 if no row).
  Result<int64_t> queryInt(std::string_view sql);
  // First two columns of every row as text, in row order.
  Result<std::vector<std::pair<std::string, std::string>>> queryTextPairs(std::string_view sql);
  sqlite3* raw() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db() = default;
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace nettrail
