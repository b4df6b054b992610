#include "nettrail/counters.h"

namespace nettrail {

void appendPerCpuCounter(const std::string& family, const std::string& name, bool data_loss,
                         const uint64_t* per_cpu, int cpus, std::vector<CounterRow>* out) {
  uint64_t total = 0;
  for (int cpu = 0; cpu < cpus; ++cpu) {
    total += per_cpu[cpu];
    if (data_loss && per_cpu[cpu] > 0) out->push_back({family, name, cpu, per_cpu[cpu], true});
  }
  out->push_back({family, name, -1, total, data_loss});
}

void fillStats(Stats::Builder stats, uint64_t time_boottime_ns, const std::vector<CounterRow>& rows) {
  stats.setTimeBoottimeNs(time_boottime_ns);
  auto counters = stats.initCounters(static_cast<unsigned>(rows.size()));
  for (unsigned i = 0; i < rows.size(); ++i) {
    counters[i].setFamily(rows[i].family);
    counters[i].setName(rows[i].name);
    counters[i].setCpu(rows[i].cpu);
    counters[i].setValue(rows[i].value);
    counters[i].setDataLoss(rows[i].data_loss);
  }
}

std::vector<CounterRow> readStats(Stats::Reader stats) {
  std::vector<CounterRow> rows;
  rows.reserve(stats.getCounters().size());
  for (Counter::Reader c : stats.getCounters())
    rows.push_back({std::string(c.getFamily().cStr(), c.getFamily().size()),
                    std::string(c.getName().cStr(), c.getName().size()), c.getCpu(), c.getValue(), c.getDataLoss()});
  return rows;
}

namespace {

// (family, name) -> value counted once: the total row, else the per-CPU sum.
std::map<std::pair<std::string, std::string>, uint64_t> countedOnce(const std::vector<CounterRow>& rows,
                                                                     bool data_loss_only) {
  std::map<std::pair<std::string, std::string>, uint64_t> totals, per_cpu;
  for (const CounterRow& row : rows) {
    if (data_loss_only && !row.data_loss) continue;
    auto& into = row.cpu < 0 ? totals : per_cpu;
    into[{row.family, row.name}] += row.value;
  }
  for (const auto& [key, value] : per_cpu) totals.emplace(key, value);  // only where no total row
  return totals;
}

}  // namespace

std::map<std::pair<std::string, std::string>, uint64_t> lossByCounter(const std::vector<CounterRow>& rows) {
  std::map<std::pair<std::string, std::string>, uint64_t> loss;
  for (const auto& [key, value] : countedOnce(rows, true))
    if (value > 0) loss[key] = value;
  return loss;
}

uint64_t lostTotal(const std::vector<CounterRow>& rows) {
  uint64_t total = 0;
  for (const auto& [key, value] : lossByCounter(rows)) total += value;
  return total;
}

uint64_t counterValue(const std::vector<CounterRow>& rows, const std::string& family, const std::string& name) {
  uint64_t total = 0, per_cpu = 0;
  bool has_total = false;
  for (const CounterRow& row : rows) {
    if (row.family != family || row.name != name) continue;
    if (row.cpu < 0) {
      total += row.value;
      has_total = true;
    } else {
      per_cpu += row.value;
    }
  }
  return has_total ? total : per_cpu;
}

}  // namespace nettrail
