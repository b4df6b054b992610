#pragma once
// The recorder's counters as they are written into a recording's Stats chunks
// and read back: one shape for the recorder, the analyzer and the tests, so a
// total the recorder prints is the total every reader shows.
//
// A per-CPU counter is written as one row per CPU where a data-loss counter is
// non-zero, then its total over all CPUs with cpu = -1. A reader counts each
// (family, name) once: the total row where there is one, else the sum of its
// per-CPU rows. analyzer/queries/_core.sql (loss_summary) says the same in SQL.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "recording.capnp.h"

namespace nettrail {

struct CounterRow {
  std::string family;
  std::string name;
  int32_t cpu = -1;  // -1: not per CPU, or the total over CPUs
  uint64_t value = 0;
  bool data_loss = false;  // the count is events missing from the recording
};

// Appends the rows of one per-CPU counter (`per_cpu` holds `cpus` values):
// per-CPU rows for a non-zero data-loss counter, then the total.
void appendPerCpuCounter(const std::string& family, const std::string& name, bool data_loss,
                         const uint64_t* per_cpu, int cpus, std::vector<CounterRow>* out);

// Writes `rows` into a Stats chunk taken at `time_boottime_ns`.
void fillStats(Stats::Builder stats, uint64_t time_boottime_ns, const std::vector<CounterRow>& rows);
std::vector<CounterRow> readStats(Stats::Reader stats);

// Each counter's value counted once (see the top of this file), keyed by
// (family, name), for data-loss counters with a non-zero value.
std::map<std::pair<std::string, std::string>, uint64_t> lossByCounter(const std::vector<CounterRow>& rows);
// Their sum: the "lost" figure of the recorder's closing line.
uint64_t lostTotal(const std::vector<CounterRow>& rows);
// The value of one counter counted once; 0 when absent.
uint64_t counterValue(const std::vector<CounterRow>& rows, const std::string& family, const std::string& name);

}  // namespace nettrail
