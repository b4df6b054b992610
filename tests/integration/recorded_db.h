#pragma once
// What every integration test does around the recorder: record while traffic
// or a workload runs, ingest the file into an in-memory database, query it.
// Failures are reported through GoogleTest with the recorder's output.
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"

namespace nettrail::testing {

// Starts nettrail-record with `args`, runs `traffic`, lets softirq work finish,
// stops the recorder with SIGINT and expects a clean exit. Returns its output.
inline std::string recordWhile(const std::vector<std::string>& args, const std::function<void()>& traffic) {
  RecorderProcess recorder;
  if (!recorder.start(args)) {
    ADD_FAILURE() << "recorder did not start:\n" << recorder.output();
    return recorder.output();
  }
  traffic();
  usleep(300 * 1000);
  const int rc = recorder.stop();
  EXPECT_EQ(rc, 0) << recorder.output();
  return recorder.output();
}

// Ingests `files` (segments of one recording) into a new in-memory database.
inline std::unique_ptr<Db> ingestForTest(const std::vector<std::string>& files) {
  auto db = Db::open(":memory:");
  if (!db.isOk()) {
    ADD_FAILURE() << db.status().message();
    return nullptr;
  }
  Status status = ingestRecordings(files, **db, IngestOptions{});
  EXPECT_TRUE(status.isOk()) << status.message();
  return std::move(*db);
}

// First column of the first row as an integer; -1 (and a test failure) on error.
inline int64_t queryCount(Db& db, const std::string& sql) {
  auto v = db.queryInt(sql);
  EXPECT_TRUE(v.isOk()) << v.status().message() << "\n  in: " << sql;
  return v.isOk() ? *v : -1;
}

// First column of the first row as text; "" when there is no row.
inline std::string queryText(Db& db, const std::string& sql) {
  auto stmt = db.prepare(sql);
  EXPECT_TRUE(stmt.isOk()) << stmt.status().message();
  if (!stmt.isOk()) return "";
  auto row = stmt->step();
  return row.isOk() && *row ? stmt->columnText(0) : "";
}

inline std::string netnsArg(const std::string& netns) { return std::to_string(netnsInode(netns)); }

}  // namespace nettrail::testing
