// Ingest of synthetic recordings (canned data, tests/testing/test_recordings.h):
// exact rows, names, text forms, summary differences, symbolization, and the
// stats rows for damaged files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "core/db.h"
#include "core/net_format.h"
#include "ingest/ingest.h"
#include "nettrail/counters.h"
#include "nettrail/recording.h"
#include "views/info.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

// drop_by_stack as it was defined over every drop row (drop_count), before it
// read counts made at ingest: the reference the faster view must match.
const char* const kDropByStackReference =
    "WITH flows AS (SELECT stack_id, src_ip, dst_ip, src_port, dst_port, l4, SUM(drops) AS n FROM drop_count "
    "  WHERE stack_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6), "
    "reasons AS (SELECT stack_id, reason, SUM(drops) AS n FROM drop_count WHERE stack_id IS NOT NULL GROUP BY 1, 2), "
    "totals AS (SELECT stack_id, SUM(n) AS drops FROM reasons GROUP BY 1) "
    "SELECT t.stack_id, t.drops, (SELECT r.reason FROM reasons r WHERE r.stack_id = t.stack_id ORDER BY r.n DESC "
    "  LIMIT 1), "
    "(SELECT COALESCE(f.src_ip, '?') || CASE WHEN f.src_port IS NULL THEN '' ELSE ':' || f.src_port END "
    "  || ' -> ' || COALESCE(f.dst_ip, '?') || CASE WHEN f.dst_port IS NULL THEN '' ELSE ':' || f.dst_port END "
    "  || ' (' || COALESCE(f.l4, '-') || ')  ' || f.n || ' of ' || t.drops "
    "  FROM flows f WHERE f.stack_id = t.stack_id ORDER BY f.n DESC LIMIT 1) "
    "FROM totals t ORDER BY 1";

class IngestTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }

  std::string write(const testing::SyntheticRecording& recording, const std::string& stem = "ingest.ntr") {
    std::string path = testing::tempPath(stem);
    testing::writeSyntheticRecording(path, recording);
    paths_.push_back(path);
    return path;
  }

  std::unique_ptr<Db> ingest(const std::vector<std::string>& files) {
    auto db = Db::open(":memory:");
    EXPECT_TRUE(db.isOk());
    Status status = ingestRecordings(files, **db, IngestOptions());
    EXPECT_TRUE(status.isOk()) << status.message();
    return std::move(*db);
  }

  static int64_t count(Db& db, const std::string& sql) {
    auto value = db.queryInt(sql);
    EXPECT_TRUE(value.isOk()) << value.status().message();
    return value.isOk() ? *value : -1;
  }

  static std::vector<std::vector<std::string>> rows(Db& db, const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    auto stmt = db.prepare(sql);
    EXPECT_TRUE(stmt.isOk()) << stmt.status().message();
    if (!stmt.isOk()) return out;
    while (true) {
      auto has = stmt->step();
      EXPECT_TRUE(has.isOk()) << has.status().message();
      if (!has.isOk() || !*has) break;
      std::vector<std::string> row;
      for (int i = 0; i < stmt->columnCount(); ++i)
        row.push_back(stmt->columnIsNull(i) ? "NULL" : stmt->columnText(i));
      out.push_back(row);
    }
    return out;
  }

  std::vector<std::string> paths_;
};

testing::SyntheticRecording threeDrops() {
  testing::SyntheticRecording rec;
  testing::SyntheticDrop tcp;
  tcp.time_ns = 2'000'000'000;
  rec.drops.push_back(tcp);
  testing::SyntheticDrop netfilter;
  netfilter.time_ns = 2'500'000'000;
  netfilter.reason = 6;
  netfilter.l4_proto = 17;
  netfilter.src_v4 = 0xc0a80105;  // 192.168.1.5
  netfilter.dst_v4 = 0x08080808;
  netfilter.src_port = 5353;
  netfilter.dst_port = 53;
  netfilter.vlan_id = 100;
  netfilter.eth_src = 0xaabbccddeeffull;
  rec.drops.push_back(netfilter);
  testing::SyntheticDrop v6;
  v6.time_ns = 3'000'000'000;
  v6.reason = 2;
  v6.stack_id = 2;
  v6.l3_kind = 6;
  v6.src_hi = 0x20010db800000000ull;  // 2001:db8::1
  v6.src_lo = 1;
  v6.dst_hi = 0xfe80000000000000ull;  // fe80::2
  v6.dst_lo = 2;
  v6.tcp_flags = 0x11;                // FIN+ACK
  rec.drops.push_back(v6);
  return rec;
}

TEST_F(IngestTest, DropEventsHaveNamesAndTextForms) {
  auto db = ingest({write(threeDrops())});
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 3);
  auto r = rows(*db,
                "SELECT time_ns, reason_code, reason, src_ip, dst_ip, l4, src_port, dst_port, eth_src, eth_dst, "
                "vlan_id, l3, tcp_flags, tcp_seq, stack_id FROM drop_event ORDER BY time_ns");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], (std::vector<std::string>{"2000000000", "3", "NO_SOCKET", "10.0.0.1", "10.0.0.2", "TCP", "40000", "80",
                                            "02:00:00:00:00:01", "02:00:00:00:00:02", "NULL", "IPv4", "S", "1000", "1"}));
  EXPECT_EQ(r[1], (std::vector<std::string>{"2500000000", "6", "NETFILTER_DROP", "192.168.1.5", "8.8.8.8", "UDP", "5353",
                                            "53", "aa:bb:cc:dd:ee:ff", "02:00:00:00:00:02", "100", "IPv4", "NULL",
                                            "NULL", "1"}));
  EXPECT_EQ(r[2], (std::vector<std::string>{"3000000000", "2", "NOT_SPECIFIED", "2001:db8::1", "fe80::2", "TCP", "40000",
                                            "80", "02:00:00:00:00:01", "02:00:00:00:00:02", "NULL", "IPv6", "FA",
                                            "1002", "2"}));
  EXPECT_EQ(rows(*db, "SELECT reason, drops FROM drop_by_reason ORDER BY reason"),
            (std::vector<std::vector<std::string>>{{"NETFILTER_DROP", "1"}, {"NOT_SPECIFIED", "1"}, {"NO_SOCKET", "1"}}));
  EXPECT_EQ(rows(*db, "SELECT device, drops FROM drop_by_device"),
            (std::vector<std::vector<std::string>>{{"eth0", "3"}}));
  EXPECT_EQ(rows(*db, "SELECT location_text, drops FROM drop_by_location"),
            (std::vector<std::vector<std::string>>{{"kfree_skb_reason+0x100", "3"}}));
  // Wall clock through the anchor: boottime 1 s <-> realtime 1.7e18.
  EXPECT_EQ(rows(*db, "SELECT realtime_ns, comm FROM drop_detail ORDER BY time_ns LIMIT 1"),
            (std::vector<std::vector<std::string>>{{"1700000001000000000", "synthetic"}}));
}

TEST_F(IngestTest, CoreTablesAreFilled) {
  auto db = ingest({write(threeDrops())});
  EXPECT_EQ(rows(*db, "SELECT value FROM meta WHERE key = 'host_name'"),
            (std::vector<std::vector<std::string>>{{"synthetic-test"}}));
  EXPECT_EQ(rows(*db, "SELECT value FROM meta WHERE key = 'command_line'"),
            (std::vector<std::vector<std::string>>{{"nettrail-record --synthetic"}}));
  EXPECT_EQ(rows(*db, "SELECT family, key, value FROM probe_option"),
            (std::vector<std::vector<std::string>>{{"drop", "mode", "details"}}));
  EXPECT_EQ(rows(*db, "SELECT family, hook, strategy, attached FROM attachment"),
            (std::vector<std::vector<std::string>>{{"drop", "kfree_skb", "tp_btf", "1"}}));
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM enum_value"), 3);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM clock_anchor"), 1);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM interface"), 1);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM process"), 1);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM kernel_symbol"), 4);
  EXPECT_EQ(rows(*db, "SELECT family, name, value, data_loss FROM counter"),
            (std::vector<std::vector<std::string>>{{"drop", "ring_reserve_failed", "0", "1"}}));
  EXPECT_EQ(rows(*db, "SELECT segment, has_trailer, truncated, corrupt FROM recording_file"),
            (std::vector<std::vector<std::string>>{{"0", "1", "0", "0"}}));
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stats WHERE severity IN ('error', 'data_loss')"), 0);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM loss_summary"), 0);
}

TEST_F(IngestTest, StacksAreSymbolizedWithOffsetsAndTracingFrames) {
  auto db = ingest({write(threeDrops())});
  EXPECT_EQ(rows(*db, "SELECT stack_id, frame_index, symbol, offset, tracing FROM stack_frame ORDER BY 1, 2"),
            (std::vector<std::vector<std::string>>{{"1", "0", "kfree_skb_reason", "16", "0"},
                                                   {"1", "1", "tcp_v4_rcv", "564", "0"},
                                                   {"1", "2", "ip_local_deliver", "80", "0"},
                                                   {"2", "0", "bpf_trace_run2", "32", "1"},
                                                   {"2", "1", "kfree_skb_reason", "16", "0"},
                                                   {"2", "2", "NULL", "NULL", "0"}}));
  EXPECT_EQ(rows(*db, "SELECT frame FROM stack_frame_text WHERE stack_id = 2 ORDER BY frame_index"),
            (std::vector<std::vector<std::string>>{{"bpf_trace_run2+0x20"}, {"kfree_skb_reason+0x10"},
                                                   {"0xffffffff90000000"}}));
  EXPECT_EQ(rows(*db, "SELECT stack_id, depth, top_frame FROM stack ORDER BY 1"),
            (std::vector<std::vector<std::string>>{{"1", "3", "kfree_skb_reason+0x10"},
                                                   {"2", "3", "kfree_skb_reason+0x10"}}));
  EXPECT_EQ(rows(*db, "SELECT name, value FROM stats WHERE name = 'unresolved_frames'"),
            (std::vector<std::vector<std::string>>{{"unresolved_frames", "1"}}));
}

TEST_F(IngestTest, SummarySnapshotsBecomePerIntervalDifferences) {
  testing::SyntheticRecording rec;
  testing::SyntheticSummaryEntry a;          // NO_SOCKET, stack 1
  testing::SyntheticSummaryEntry b;
  b.reason = 6;
  b.stack_id = 2;
  b.dst_port = 443;
  auto snapshot = [&](uint32_t index, uint64_t count_a, uint64_t count_b, uint64_t total) {
    testing::SyntheticSummary s;
    s.interval_index = index;
    s.time_ns = 2'000'000'000ull + index * 1'000'000'000ull;
    s.total_drops = total;
    a.count = count_a;
    b.count = count_b;
    s.entries = {a, b};
    return s;
  };
  rec.summaries = {snapshot(0, 5, 0, 5), snapshot(1, 5, 3, 10), snapshot(2, 12, 4, 18)};
  auto db = ingest({write(rec)});
  EXPECT_EQ(rows(*db, "SELECT interval_index, reason, dst_port, drops FROM drop_summary ORDER BY 1, 2"),
            (std::vector<std::vector<std::string>>{{"0", "NO_SOCKET", "80", "5"},
                                                   {"1", "NETFILTER_DROP", "443", "3"},
                                                   {"2", "NETFILTER_DROP", "443", "1"},
                                                   {"2", "NO_SOCKET", "80", "7"}}));
  // Totals include drops whose key did not fit: interval 1 had 5, 3 keyed.
  EXPECT_EQ(rows(*db, "SELECT interval_index, drops, keyed_drops FROM drop_interval ORDER BY 1"),
            (std::vector<std::vector<std::string>>{{"0", "5", "5"}, {"1", "5", "3"}, {"2", "8", "8"}}));
  // With no per-drop rows, the views count the summary.
  EXPECT_EQ(rows(*db, "SELECT reason, drops FROM drop_by_reason"),
            (std::vector<std::vector<std::string>>{{"NO_SOCKET", "12"}, {"NETFILTER_DROP", "4"}}));
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 0);
}

// The per-reason, device, location, time and stack views read counts made at
// ingest (drop_context_second) and group flows by integers: they must give
// exactly what the plain definitions over every drop_event row give. Each
// stack has one clearly most frequent flow and reason, so the picks are
// unambiguous.
TEST_F(IngestTest, DropViewsFromIngestCountsMatchTheDrops) {
  testing::SyntheticRecording rec;
  rec.drops_per_batch = 700;  // contexts and seconds span batches
  std::mt19937_64 rng(7);
  uint64_t time = 2'000'000'000ull;
  for (int i = 0; i < 20'000; ++i) {
    testing::SyntheticDrop d;
    time += 100'000 + rng() % 400'000;  // about 6 s in all
    d.time_ns = time;
    d.stack_id = static_cast<uint32_t>(rng() % 3);  // 0: no stack
    const bool dominant = rng() % 3 == 0;
    d.reason = dominant ? static_cast<uint16_t>(2 + d.stack_id % 2) : static_cast<uint16_t>(2 + rng() % 3 * 2 % 5);
    d.ifindex = static_cast<uint32_t>(1 + rng() % 3);
    d.location = 0xffffffff81000100ull + 0x10 * (rng() % 4);
    d.l4_proto = rng() % 4 ? 6 : 17;
    d.src_v4 = 0x0a000001u + static_cast<uint32_t>(rng() % 3);
    d.src_port = static_cast<uint16_t>(40000 + rng() % 50);
    d.dst_port = rng() % 2 ? 80 : 443;
    d.tcp_flags = static_cast<uint8_t>(rng() % 2 ? 0x02 : 0x10);
    if (dominant) {  // the stack's top flow
      d.l4_proto = 6;
      d.src_v4 = 0x0a000063u + d.stack_id;
      d.src_port = static_cast<uint16_t>(50000 + d.stack_id);
      d.dst_port = 22;
    }
    rec.drops.push_back(d);
  }
  auto db = ingest({write(rec)});
  ASSERT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 20'000);
  EXPECT_GT(count(*db, "SELECT COUNT(*) FROM drop_context_second"), 100);
  EXPECT_EQ(count(*db, "SELECT SUM(drops) FROM drop_context_second"), 20'000);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT time_ns) FROM drop_context_second"),
            count(*db, "SELECT COUNT(DISTINCT time_ns / 1000000000) FROM drop_event"));

  auto same = [&](const std::string& view, const std::string& reference) {
    auto got = rows(*db, view);
    EXPECT_FALSE(got.empty()) << view;
    EXPECT_EQ(got, rows(*db, reference)) << view;
  };
  same("SELECT reason, drops FROM drop_by_reason ORDER BY 1",
       "SELECT COALESCE(reason, '-'), COUNT(*) FROM drop_event GROUP BY reason ORDER BY 1");
  same("SELECT netns, ifindex, device, drops FROM drop_by_device ORDER BY 1, 2",
       "SELECT d.netns, d.ifindex, COALESCE(i.name, 'if' || d.ifindex), COUNT(*) FROM drop_event d "
       "LEFT JOIN interface i ON i.netns = d.netns AND i.ifindex = d.ifindex GROUP BY 1, 2 ORDER BY 1, 2");
  same("SELECT location, drops FROM drop_by_location ORDER BY 1",
       "SELECT location, COUNT(*) FROM drop_event GROUP BY 1 ORDER BY 1");
  same("SELECT time_ns, reason, drops FROM drop_over_time",
       "SELECT time_ns / 1000000000 * 1000000000, COALESCE(reason, '-'), COUNT(*) FROM drop_event "
       "GROUP BY 1, 2 ORDER BY 1, 2");
  same("SELECT stack_id, drops, reason, top_flow FROM drop_by_stack ORDER BY 1", kDropByStackReference);
  EXPECT_EQ(rows(*db, "SELECT stack_id, substr(top_flow, 1, instr(top_flow, ')')) FROM drop_by_stack ORDER BY 1"),
            (std::vector<std::vector<std::string>>{{"1", "10.0.0.100:50001 -> 10.0.0.2:22 (TCP)"},
                                                   {"2", "10.0.0.101:50002 -> 10.0.0.2:22 (TCP)"}}));
  EXPECT_EQ(rows(*db, "SELECT value FROM drop_breakdown WHERE dimension = 'stack' AND key = '(no stack)'"),
            rows(*db, "SELECT COUNT(*) FROM drop_event WHERE stack_id IS NULL"));
  EXPECT_EQ(count(*db, "SELECT SUM(value) FROM drop_breakdown WHERE dimension = 'stack'"), 20'000);
}

// Summary mode has no per-drop rows: the stack view counts drop_summary.
TEST_F(IngestTest, DropByStackCountsTheSummaryWithoutPerDropRows) {
  testing::SyntheticRecording rec;
  testing::SyntheticSummary s;
  s.time_ns = 3'000'000'000ull;
  auto entry = [](uint32_t stack, uint16_t reason, uint16_t src_port, uint64_t count) {
    testing::SyntheticSummaryEntry e;
    e.stack_id = stack;
    e.reason = reason;
    e.src_port = src_port;
    e.count = count;
    return e;
  };
  s.entries = {entry(1, 3, 40000, 7), entry(1, 6, 40001, 2), entry(1, 3, 40002, 3), entry(2, 6, 40000, 5)};
  s.total_drops = 17;
  rec.summaries = {s};
  auto db = ingest({write(rec)});
  ASSERT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 0);
  EXPECT_EQ(rows(*db, "SELECT stack_id, drops, reason, top_flow FROM drop_by_stack"),
            (std::vector<std::vector<std::string>>{{"1", "12", "NO_SOCKET", "10.0.0.1:40000 -> 10.0.0.2:80 (TCP)  7 of 12"},
                                                   {"2", "5", "NETFILTER_DROP", "10.0.0.1:40000 -> 10.0.0.2:80 (TCP)  5 of 5"}}));
  EXPECT_EQ(rows(*db, "SELECT stack_id, drops, reason, top_flow FROM drop_by_stack ORDER BY 1"),
            rows(*db, kDropByStackReference));
}

// Drops are stored once per distinct context (drop_context) plus a narrow row
// each (drop_packet): many contexts, met again after thousands of others and in
// later batches, must come back through drop_event exactly as recorded.
TEST_F(IngestTest, DropContextsAreSharedAndRowsComeBackWhole) {
  testing::SyntheticRecording recording;
  recording.drops_per_batch = 1000;
  constexpr int kContexts = 3000;  // beyond the first sizes of the context table
  for (int round = 0; round < 3; ++round) {
    for (int c = 0; c < kContexts; ++c) {
      testing::SyntheticDrop d;
      d.time_ns = 2'000'000'000ull + static_cast<uint64_t>(round * kContexts + c) * 1000;
      d.src_v4 = 0x0a000000u | static_cast<uint32_t>(c);  // the context: 10.0.x.y
      d.reason = c % 2 ? 3 : 6;
      d.src_port = static_cast<uint16_t>(30000 + round);  // per packet: not part of the context
      d.tcp_seq = 0;  // the writer stores tcp_seq + the drop's index in its batch
      recording.drops.push_back(d);
    }
  }
  auto db = ingest({write(recording)});
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_packet"), 3 * kContexts);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_context"), kContexts);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 3 * kContexts);
  // Every source address has its three drops, one per round, with its own reason.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (SELECT src_ip FROM drop_event GROUP BY src_ip "
                       "HAVING COUNT(*) = 3 AND COUNT(DISTINCT src_port) = 3 AND COUNT(DISTINCT reason) = 1)"),
            kContexts);
  // Per-packet and context fields of each row belong together: drop k (time
  // 2 s + k us) has tcp_seq k % 1000, source port 30000 + k / 3000, source
  // 10.0.x.y for k % 3000 and the reason of k's parity.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (SELECT *, (time_ns - 2000000000) / 1000 AS k FROM drop_event) "
                       "WHERE tcp_seq != k % 1000 OR src_port != 30000 + k / 3000 "
                       "OR src_ip != '10.0.' || ((k % 3000) / 256) || '.' || ((k % 3000) % 256) "
                       "OR reason != CASE WHEN k % 2 = 1 THEN 'NO_SOCKET' ELSE 'NETFILTER_DROP' END"),
            0);
  // Recording order survives the join.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM (SELECT time_ns, LAG(time_ns) OVER () AS before FROM drop_event) "
                       "WHERE before >= time_ns"),
            0);
}

TEST_F(IngestTest, RowsMatchAcrossManyBatchesAndSegments) {
  testing::SyntheticRecording first;
  for (int i = 0; i < 2500; ++i) first.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull});
  first.trailer = true;
  testing::SyntheticRecording second = first;
  second.segment = 1;
  for (auto& d : second.drops) d.time_ns += 10'000'000;
  auto db = ingest({write(first, "seg0.ntr"), write(second, "seg1.ntr")});
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 5000);
  EXPECT_EQ(count(*db, "SELECT COUNT(DISTINCT time_ns) FROM drop_event"), 5000);
  // Each row's values stay together whether it went in a multi-row insert or alone:
  // drop i of a batch has tcp_seq 1000 + i and time 2 s + 1 us * (its index).
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event WHERE tcp_seq != 1000 + "
                       "(((time_ns - 2000000000) % 10000000) / 1000) % 1000"),
            0);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM recording_file"), 2);
  // Header tables once per recording, not once per segment.
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM probe_option"), 1);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM enum_value"), 3);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM kernel_symbol"), 4);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stack"), 2);
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM stats WHERE name = 'mixed_recordings'"), 0);
}

TEST_F(IngestTest, TheSameSegmentTwiceIsFlagged) {
  const std::string path = write(threeDrops());
  auto db = ingest({path, path});
  EXPECT_EQ(rows(*db, "SELECT severity, name, value FROM stats WHERE severity = 'error'"),
            (std::vector<std::vector<std::string>>{{"error", "duplicate_segment", "0"}}));
}

TEST_F(IngestTest, LossCountersReachLossSummaryCountedOnce) {
  // The shape the recorder writes (per-CPU rows and their total, cpu -1): the
  // total is counted once, not added to its own parts.
  testing::SyntheticRecording rec = threeDrops();
  rec.counters = {{"ring_reserve_failed", true, {7, 0, 5, 0}}, {"summary_map_full", true, {0, 3, 0, 0}},
                  {"kfree_skb_seen", false, {100, 200, 300, 400}}};
  const std::string path = write(rec);
  auto db = ingest({path});
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM counter WHERE name = 'ring_reserve_failed'"), 3);  // cpu 0, 2, total
  EXPECT_EQ(rows(*db, "SELECT origin, source, name, value FROM loss_summary ORDER BY name"),
            (std::vector<std::vector<std::string>>{{"recorder", "drop", "ring_reserve_failed", "12"},
                                                   {"recorder", "drop", "summary_map_full", "3"}}));
  // The recorder's closing line prints lostTotal() of the same rows: 15.
  std::vector<CounterRow> written;
  auto reader = RecordingReader::open(path);
  ASSERT_TRUE(reader.isOk()) << reader.status().message();
  ASSERT_TRUE((*reader)->forEachChunk([&](Chunk::Reader chunk) {
    if (chunk.isStats()) written = readStats(chunk.getStats());
    return Status::ok();
  }).isOk());
  EXPECT_EQ(lostTotal(written), 15u);
  EXPECT_EQ(count(*db, "SELECT SUM(value) FROM loss_summary"), 15);
  std::ostringstream info;
  ASSERT_TRUE(printRecordingInfo(path, false, info).isOk());
  EXPECT_NE(info.str().find("drop ring_reserve_failed = 12 events not recorded"), std::string::npos) << info.str();
  EXPECT_NE(info.str().find("drop summary_map_full = 3 events not recorded"), std::string::npos) << info.str();
}

TEST(CounterRows, PerCpuRowsWithoutATotalAreSummed) {
  // Rows not in the recorder's shape: a reader still counts each event once.
  std::vector<CounterRow> rows = {{"x", "lost", 0, 4, true}, {"x", "lost", 1, 6, true}, {"y", "lost", -1, 2, true},
                                  {"y", "lost", 0, 2, true}, {"z", "seen", -1, 9, false}};
  EXPECT_EQ(lostTotal(rows), 12u);
  EXPECT_EQ(counterValue(rows, "x", "lost"), 10u);
  EXPECT_EQ(counterValue(rows, "y", "lost"), 2u);
  EXPECT_EQ(counterValue(rows, "z", "seen"), 9u);
  EXPECT_EQ(counterValue(rows, "z", "absent"), 0u);
}

TEST_F(IngestTest, TruncatedFileKeepsWholeFramesAndRecordsTheLoss) {
  testing::SyntheticRecording rec;
  for (int i = 0; i < 3000; ++i) rec.drops.push_back({.time_ns = 2'000'000'000ull + i * 1000ull});
  rec.trailer = false;  // the last frame is then the Stats chunk; cut the last drop batch instead
  rec.drops_per_batch = 1000;
  const std::string whole = write(rec, "whole.ntr");
  const std::string bytes = testing::readFile(whole);
  // Find the start of the last drop batch by cutting progressively shorter
  // prefixes: the largest cut that loses drops but keeps 2000 of them.
  const std::string cut_path = testing::tempPath("cut.ntr");
  paths_.push_back(cut_path);
  int64_t kept = -1;
  size_t cut = bytes.size();
  for (; cut > 0; cut -= 7) {
    std::ofstream(cut_path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(cut));
    auto db = Db::open(":memory:");
    ASSERT_TRUE(db.isOk());
    ASSERT_TRUE(ingestRecordings({cut_path}, **db, IngestOptions()).isOk());
    kept = count(**db, "SELECT COUNT(*) FROM drop_event");
    if (kept < 3000) {
      EXPECT_EQ(kept, 2000);
      EXPECT_EQ(count(**db, "SELECT COUNT(*) FROM stats WHERE name = 'truncated_tail' AND severity = 'data_loss'"), 1);
      EXPECT_EQ(count(**db, "SELECT COUNT(*) FROM stats WHERE name = 'no_trailer'"), 1);
      EXPECT_EQ(rows(**db, "SELECT truncated, has_trailer FROM recording_file"),
                (std::vector<std::vector<std::string>>{{"1", "0"}}));
      EXPECT_GT(count(**db, "SELECT value FROM stats WHERE name = 'truncated_tail'"), 0);
      EXPECT_EQ(count(**db, "SELECT COUNT(*) FROM loss_summary WHERE name = 'truncated_tail'"), 1);
      break;
    }
  }
  EXPECT_EQ(kept, 2000);
}

TEST_F(IngestTest, MissingTrailerIsAnErrorRowNotDataLoss) {
  testing::SyntheticRecording rec = threeDrops();
  rec.trailer = false;
  auto db = ingest({write(rec)});
  EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM drop_event"), 3);
  EXPECT_EQ(rows(*db, "SELECT severity, source, name FROM stats WHERE severity != 'info'"),
            (std::vector<std::vector<std::string>>{{"error", "reader", "no_trailer"}}));
  auto detail = rows(*db, "SELECT detail FROM stats WHERE name = 'no_trailer'");
  ASSERT_EQ(detail.size(), 1u);
  EXPECT_NE(detail[0][0].find("did not close this file cleanly"), std::string::npos);
}

TEST_F(IngestTest, ForeignFileIsAnErrorAndLeavesTheDatabaseEmpty) {
  const std::string path = testing::tempPath("foreign.ntr");
  paths_.push_back(path);
  std::ofstream(path) << "hello, not a recording\n";
  auto db = Db::open(":memory:");
  ASSERT_TRUE(db.isOk());
  Status status = ingestRecordings({path}, **db, IngestOptions());
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("not a nettrail recording"), std::string::npos) << status.message();
  EXPECT_EQ(count(**db, "SELECT COUNT(*) FROM sqlite_master"), 0);
}

TEST_F(IngestTest, MissingFileNamesTheFileAndErrno) {
  auto db = Db::open(":memory:");
  ASSERT_TRUE(db.isOk());
  Status status = ingestRecordings({"/nonexistent/x.ntr"}, **db, IngestOptions());
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("/nonexistent/x.ntr"), std::string::npos);
  EXPECT_NE(status.message().find("ENOENT"), std::string::npos) << status.message();
}

TEST(NetFormat, Addresses) {
  EXPECT_EQ(formatIp(0, 0x0000ffff0a000001ull), "10.0.0.1");
  EXPECT_EQ(formatIp(0, 1), "::1");
  EXPECT_EQ(formatIp(0x20010db800000000ull, 0x1), "2001:db8::1");
  EXPECT_EQ(formatMac(0x0123456789abull), "01:23:45:67:89:ab");
  EXPECT_EQ(formatTcpFlags(0x12), "SA");
  EXPECT_EQ(formatTcpFlags(0x04), "R");
  EXPECT_EQ(formatTcpFlags(0x18), "PA");
  EXPECT_EQ(formatTcpFlags(0), "-");
  EXPECT_EQ(l4ProtoName(6), "TCP");
  EXPECT_EQ(l4ProtoName(47), "47");
}

TEST(TracingFrames, KnownPrefixes) {
  EXPECT_TRUE(isTracingFrame("bpf_prog_6deef7357e7b4530_kfree_skb"));
  EXPECT_TRUE(isTracingFrame("bpf_trace_run2"));
  EXPECT_TRUE(isTracingFrame("__bpf_trace_kfree_skb"));
  EXPECT_TRUE(isTracingFrame("__traceiter_kfree_skb"));
  EXPECT_TRUE(isTracingFrame("trace_event_raw_event_kfree_skb"));
  EXPECT_TRUE(isTracingFrame("perf_trace_kfree_skb"));
  EXPECT_TRUE(isTracingFrame("bpf_get_stackid"));
  EXPECT_FALSE(isTracingFrame("kfree_skb_reason"));
  EXPECT_FALSE(isTracingFrame("tcp_v4_rcv"));
}

}  // namespace
}  // namespace nettrail
