#include "core/db.h"

namespace nettrail {

namespace {
std::string quoted(const std::string& text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote) out += quote;
    out += c;
  }
  return out + quote;
}
}  // namespace

std::string sqlIdentifier(const std::string& name) { return quoted(name, '"'); }
std::string sqlString(const std::string& text) { return quoted(text, '\''); }

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Status::error("sqlite: ", sqlite3_errmsg(db_), " in: ", sqlite3_sql(stmt_));
}

Status Statement::run() {
  int rc = sqlite3_step(stmt_);
  Status status = Status::ok();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    status = Status::error("sqlite: ", sqlite3_errmsg(db_), " in: ", sqlite3_sql(stmt_));
  sqlite3_reset(stmt_);
  return status;
}

std::string Statement::columnText(int i) const {
  const unsigned char* text = sqlite3_column_text(stmt_, i);
  if (!text) return std::string();
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path, bool read_only, bool no_follow) {
  // Memory statistics take a global mutex on every allocation, a measurable
  // share of ingest time; nettrail does not read them. Must precede the first
  // use of SQLite in the process.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  std::unique_ptr<Db> db(new Db());
  db->path_ = path;
  // A connection is used by one thread at a time: no per-connection mutex.
  int flags = (read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX;
  if (no_follow) flags |= SQLITE_OPEN_NOFOLLOW;
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db->db_ ? sqlite3_errmsg(db->db_) : sqlite3_errstr(rc);
    return Status::error("open database ", path, ": ", message);
  }
  sqlite3_extended_result_codes(db->db_, 1);
  return db;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Status Db::exec(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    return Status::error("sqlite (", path_, "): ", message);
  }
  return Status::ok();
}

Result<Statement> Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK)
    return Status::error("sqlite: ", sqlite3_errmsg(db_), " in: ", std::string(sql));
  return Statement(db_, stmt);
}

Result<int64_t> Db::queryInt(std::string_view sql) {
  NT_ASSIGN_OR_RETURN(Statement stmt, prepare(sql));
  NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
  return has_row ? stmt.columnInt(0) : int64_t{0};
}

Result<std::vector<std::pair<std::string, std::string>>> Db::queryTextPairs(std::string_view sql) {
  NT_ASSIGN_OR_RETURN(Statement stmt, prepare(sql));
  std::vector<std::pair<std::string, std::string>> rows;
  while (true) {
    NT_ASSIGN_OR_RETURN(bool has_row, stmt.step());
    if (!has_row) break;
    rows.emplace_back(stmt.columnText(0), stmt.columnText(1));
  }
  return rows;
}

}  // namespace nettrail
