// Ingest throughput of the analyzer on a synthetic drop recording (canned data,
// see tests/testing/test_recordings.h). Usage:
//   nettrail_ingest_bench [--drops N] [--db PATH|:memory:] [--keep]
// Prints the recording's size, bytes per event, and ingest rows/s.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>

#include "core/db.h"
#include "ingest/ingest.h"
#include "testing/test_recordings.h"

namespace {

using Clock = std::chrono::steady_clock;

// Drops shaped like a busy host: a few reasons and stacks dominate, flows
// repeat, times advance by a few microseconds.
nettrail::testing::SyntheticRecording makeRecording(size_t drops) {
  nettrail::testing::SyntheticRecording recording;
  recording.drops_per_batch = 4096;
  recording.drops.reserve(drops);
  std::mt19937_64 rng(42);
  uint64_t time = 2'000'000'000ull;
  const uint16_t reasons[] = {3, 3, 3, 3, 6, 6, 2};
  for (size_t i = 0; i < drops; ++i) {
    nettrail::testing::SyntheticDrop d;
    time += 1000 + rng() % 4000;
    d.time_ns = time;
    d.reason = reasons[rng() % 7];
    d.src_v4 = 0x0a000000u | static_cast<uint32_t>(rng() % 64);
    d.dst_v4 = 0x0a000100u | static_cast<uint32_t>(rng() % 8);
    d.src_port = static_cast<uint16_t>(32768 + rng() % 2048);
    d.dst_port = (rng() % 4) ? 80 : 443;
    d.l4_proto = (rng() % 5) ? 6 : 17;
    recording.drops.push_back(d);
  }
  return recording;
}

}  // namespace

int main(int argc, char** argv) {
  size_t drops = 2'000'000;
  std::string db_path;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--drops" && i + 1 < argc) drops = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--db" && i + 1 < argc) db_path = argv[++i];
    else if (arg == "--keep") keep = true;
    else {
      std::fprintf(stderr, "usage: nettrail_ingest_bench [--drops N] [--db PATH|:memory:] [--keep]\n");
      return 2;
    }
  }
  const std::string recording_path = nettrail::testing::tempPath("bench.ntr");
  if (db_path.empty()) db_path = nettrail::testing::tempPath("bench.db");

  auto write_start = Clock::now();
  nettrail::testing::writeSyntheticRecording(recording_path, makeRecording(drops));
  const double write_seconds = std::chrono::duration<double>(Clock::now() - write_start).count();
  const std::string bytes = nettrail::testing::readFile(recording_path);

  auto db = nettrail::Db::open(db_path);
  if (!db.isOk()) {
    std::fprintf(stderr, "%s\n", db.status().message().c_str());
    return 1;
  }
  nettrail::IngestSummary summary;
  const std::clock_t cpu_start = std::clock();
  nettrail::Status status = nettrail::ingestRecordings({recording_path}, **db, nettrail::IngestOptions(), &summary);
  if (!status.isOk()) {
    std::fprintf(stderr, "ingest failed: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("drops:              %zu\n", drops);
  std::printf("recording:          %zu bytes, %.2f bytes/event (synthetic data, written in %.2f s)\n", bytes.size(),
              static_cast<double>(bytes.size()) / static_cast<double>(drops), write_seconds);
  std::printf("ingest into %s: %llu rows in %.3f s = %.0f rows/s, %.1f MB/s of recording; "
              "%.3f s of it after loading (stacks, indexes, commit)\n",
              db_path == ":memory:" ? ":memory:" : "a file", static_cast<unsigned long long>(summary.rows),
              summary.seconds, static_cast<double>(summary.rows) / summary.seconds,
              static_cast<double>(bytes.size()) / 1e6 / summary.seconds, summary.index_seconds);
  // CPU time next to wall time: on a shared machine the wall time also counts
  // waiting for a core.
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf("ingest CPU time:    %.3f s = %.0f rows per CPU second\n", cpu_seconds,
              static_cast<double>(summary.rows) / cpu_seconds);
  db->reset();
  if (!keep) {
    std::remove(recording_path.c_str());
    if (db_path != ":memory:") std::remove(db_path.c_str());
  } else {
    std::printf("kept %s and %s\n", recording_path.c_str(), db_path.c_str());
  }
  return 0;
}
