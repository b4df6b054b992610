// Drop family, analyzer side: DropEvents -> drop_packet + drop_context (the
// drop_event view joins them), DropSummary ->
// drop_summary/drop_interval, and the report sections over them.
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/embedded_assets.h"
#include "core/net_format.h"
#include "ingest/family.h"
#include "ingest/ingest.h"
#include "report/report_builder.h"

namespace nettrail::drop {
namespace {

constexpr std::string_view kReasonPrefix = "SKB_DROP_REASON_";
constexpr uint16_t kUntagged = 0xffff;
constexpr int kPacketColumns = 10;      // columns of drop_packet
constexpr int kContextColumns = 21;     // columns of drop_context
constexpr size_t kRowsPerInsert = 256;  // 2560 parameters, well under SQLite's 32766

std::string insertRowsSql(const char* table, int columns, size_t rows) {
  std::string row = "(";
  for (int c = 0; c < columns; ++c) row += c ? ",?" : "?";
  row += ")";
  std::string sql = std::string("INSERT INTO ") + table + " VALUES ";
  for (size_t r = 0; r < rows; ++r) sql += (r ? "," : "") + row;
  return sql;
}

// What a drop shares with other drops (one drop_context row): the fields that
// are NULL in SQL for this drop are zero here, so equal keys mean equal rows.
struct ContextKey {
  uint64_t location, eth_src, eth_dst, src_hi, src_lo, dst_hi, dst_lo;
  uint32_t stack_id, netns, ifindex;
  uint16_t reason, eth_type, vlan_id, icmp_id, arp_op;
  uint8_t l3, l4, ttl, tcp_flags, icmp_type, icmp_code;
  uint8_t pad[4];  // zero: keys are compared and hashed as bytes

  bool operator==(const ContextKey& o) const { return std::memcmp(this, &o, sizeof(*this)) == 0; }
};
static_assert(sizeof(ContextKey) == 88, "ContextKey has no implicit padding");

uint64_t hashContext(const ContextKey& k) {
  uint64_t words[sizeof(ContextKey) / 8];
  std::memcpy(words, &k, sizeof(words));
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t w : words) h = (h ^ w) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 29);
}

// Context key -> drop_context id (1, 2, ...). Open addressing over one flat
// array of (hash, id) slots: a lookup per drop touches one slot and one key,
// where std::unordered_map chased scattered nodes (the hottest line of ingest).
class ContextTable {
 public:
  // Id of `key`, or 0 if it has none yet.
  int64_t find(const ContextKey& key, uint64_t hash) const {
    if (slots_.empty()) return 0;
    const uint32_t tag = static_cast<uint32_t>(hash >> 32);
    for (size_t at = hash & mask_;; at = (at + 1) & mask_) {
      const uint64_t slot = slots_[at];
      if (slot == 0) return 0;
      const uint32_t id = static_cast<uint32_t>(slot);
      if (static_cast<uint32_t>(slot >> 32) == tag && keys_[id - 1] == key) return id;
    }
  }
  // Adds `key` (not present) and returns its new id.
  int64_t insert(const ContextKey& key, uint64_t hash) {
    if ((keys_.size() + 1) * 2 > slots_.size()) grow();
    keys_.push_back(key);
    place(hash, static_cast<uint32_t>(keys_.size()));
    return static_cast<int64_t>(keys_.size());
  }

 private:
  void place(uint64_t hash, uint32_t id) {
    size_t at = hash & mask_;
    while (slots_[at] != 0) at = (at + 1) & mask_;
    slots_[at] = (hash >> 32 << 32) | id;
  }
  void grow() {
    slots_.assign(std::max<size_t>(1024, slots_.size() * 2), 0);
    mask_ = slots_.size() - 1;
    for (size_t i = 0; i < keys_.size(); ++i) place(hashContext(keys_[i]), static_cast<uint32_t>(i + 1));
  }

  std::vector<uint64_t> slots_;  // 0 = empty, else hash's high half << 32 | id
  std::vector<ContextKey> keys_;  // keys_[id - 1]
  size_t mask_ = 0;
};

// Key of a summary entry: everything but the count.
using SummaryKey = std::tuple<uint32_t, uint16_t, uint32_t, uint32_t, uint8_t, uint8_t, uint64_t, uint64_t, uint64_t,
                              uint64_t, uint16_t, uint16_t, uint64_t>;

struct Ip6Hash {
  size_t operator()(const std::pair<uint64_t, uint64_t>& v) const {
    return std::hash<uint64_t>()(v.first * 0x9e3779b97f4a7c15ull ^ v.second);
  }
};

class DropImporter final : public FamilyImporter {
 public:
  Batch::Which batchTag() const override { return Batch::DROP; }

  Status createTables(Db& db) override {
    NT_RETURN_IF_ERROR(db.exec(embeddedAsset("queries/drop.sql")));
    NT_ASSIGN_OR_RETURN(insert_packet_, db.prepare(insertRowsSql("drop_packet", kPacketColumns, 1)));
    NT_ASSIGN_OR_RETURN(insert_packets_,
                        db.prepare(insertRowsSql("drop_packet", kPacketColumns, kRowsPerInsert)));
    NT_ASSIGN_OR_RETURN(insert_context_, db.prepare(insertRowsSql("drop_context", kContextColumns, 1)));
    NT_ASSIGN_OR_RETURN(insert_summary_,
                        db.prepare("INSERT INTO drop_summary VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    NT_ASSIGN_OR_RETURN(insert_interval_, db.prepare("INSERT INTO drop_interval VALUES (?,?,?,?)"));
    for (int flags = 0; flags < 256; ++flags) tcp_flags_[flags] = formatTcpFlags(static_cast<uint8_t>(flags));
    return Status::ok();
  }

  Status importBatch(Batch::Reader batch, IngestContext& ctx) override {
    DropBatch::Reader drop = batch.getDrop();
    switch (drop.which()) {
      case DropBatch::EVENTS:
        return importEvents(drop.getEvents(), ctx);
      case DropBatch::SUMMARY:
        return importSummary(drop.getSummary(), ctx);
    }
    ctx.addUnknownBatchKind("drop");
    return Status::ok();
  }

  Status finish(IngestContext& ctx) override {
    if (short_batches_ > 0)
      ctx.addShortColumns("drop", short_batches_, short_rows_, "drops");
    if (summary_resets_ > 0)
      ctx.addStat("info", "drop", "summary_counter_reset", static_cast<int64_t>(summary_resets_),
                  "summary counts that went down between snapshots (map cleared or recorder restarted); "
                  "the new count was taken as the interval's count");
    insert_packet_ = Statement();
    insert_packets_ = Statement();
    insert_context_ = Statement();
    insert_summary_ = Statement();
    insert_interval_ = Statement();
    NT_RETURN_IF_ERROR(writeContextSeconds(ctx.db()));
    // Indexes after the load, which is faster than keeping them up to date per
    // row. Packets are already in (nearly) time order, so time needs none, and
    // are reached from their context by rowid.
    return ctx.db().exec(
        "CREATE INDEX drop_context_stack ON drop_context(stack_id);"
        "CREATE INDEX drop_summary_interval ON drop_summary(interval_index);"
        "CREATE INDEX drop_summary_stack ON drop_summary(stack_id);");
  }

  uint64_t eventCount(Batch::Reader batch) const override {
    DropBatch::Reader drop = batch.getDrop();
    if (drop.isEvents()) return drop.getEvents().getTimeDelta().size();
    if (drop.isSummary()) return drop.getSummary().getEntries().size();
    return 0;
  }

  Status addReportSections(Db& db, ReportBuilder& report) override;

 private:
  Status importEvents(DropEvents::Reader events, IngestContext& ctx);
  Status importSummary(DropSummary::Reader summary, IngestContext& ctx);
  // drop_context id of `key`, inserting the row the first time.
  Result<int64_t> contextId(const ContextKey& key, uint16_t reason_code, IngestContext& ctx);
  // Counts one drop of the current context (last_context_) at `time_ns`.
  void tally(uint64_t time_ns) {
    const uint64_t key = (time_ns / 1'000'000'000ull) << 32 | static_cast<uint64_t>(last_context_);
    if (key != tally_key_ || tally_count_ == nullptr) {
      tally_key_ = key;
      tally_count_ = &context_seconds_[key];
    }
    ++*tally_count_;
  }
  // drop_context_second from the counts tally() made, in time order.
  Status writeContextSeconds(Db& db);

  // Reason text without the prefix, cached per code; nullptr when unnamed.
  const std::string* reasonName(uint16_t code, IngestContext& ctx) {
    auto it = reasons_.find(code);
    if (it != reasons_.end()) return it->second.empty() ? nullptr : &it->second;
    const std::string* full = ctx.enumName("skb_drop_reason", code);
    std::string name;
    if (full) {
      std::string_view view(*full);
      if (view.substr(0, kReasonPrefix.size()) == kReasonPrefix) view.remove_prefix(kReasonPrefix.size());
      name = std::string(view);
    } else if (code != 0) {
      name = "reason_" + std::to_string(code);
    }
    auto inserted = reasons_.emplace(code, std::move(name)).first;
    return inserted->second.empty() ? nullptr : &inserted->second;
  }

  const std::string& ipText(uint64_t hi, uint64_t lo) {
    if (hi == last_ip_hi_ && lo == last_ip_lo_ && last_ip_) return *last_ip_;
    auto it = ips_.find({hi, lo});
    if (it == ips_.end()) it = ips_.emplace(std::make_pair(hi, lo), formatIp(hi, lo)).first;
    last_ip_hi_ = hi;
    last_ip_lo_ = lo;
    last_ip_ = &it->second;
    return it->second;
  }

  const std::string& macText(uint64_t mac) {
    auto it = macs_.find(mac);
    if (it == macs_.end()) it = macs_.emplace(mac, formatMac(mac)).first;
    return it->second;
  }

  Statement insert_packet_, insert_packets_, insert_context_, insert_summary_, insert_interval_;
  ContextTable contexts_;
  ContextKey last_key_{};
  int64_t last_context_ = 0;  // id of last_key_; 0 before the first drop
  std::unordered_map<uint16_t, std::string> reasons_;
  std::unordered_map<std::pair<uint64_t, uint64_t>, std::string, Ip6Hash> ips_;
  std::unordered_map<uint64_t, std::string> macs_;
  uint64_t last_ip_hi_ = 0, last_ip_lo_ = 0;
  const std::string* last_ip_ = nullptr;
  std::string tcp_flags_[256];
  // Drops per (second since boot << 32 | context id); context ids are the
  // ContextTable's 32-bit ids, and 2^32 seconds are 136 years of uptime.
  std::unordered_map<uint64_t, uint64_t> context_seconds_;
  uint64_t tally_key_ = 0;
  uint64_t* tally_count_ = nullptr;  // context_seconds_[tally_key_]; nodes do not move
  std::map<SummaryKey, uint64_t> summary_last_;
  uint64_t summary_total_last_ = 0;
  uint64_t short_batches_ = 0, short_rows_ = 0, summary_resets_ = 0;
};

Result<int64_t> DropImporter::contextId(const ContextKey& k, uint16_t reason_code, IngestContext& ctx) {
  const uint64_t hash = hashContext(k);
  if (const int64_t id = contexts_.find(k, hash)) return id;
  const int64_t id = contexts_.insert(k, hash);
  Statement& s = insert_context_;
  sqlite3_stmt* stmt = s.raw();
  const bool is_ip = k.l3 == 4 || k.l3 == 6;
  const bool is_icmp = is_ip && (k.l4 == kIpprotoIcmp || k.l4 == kIpprotoIcmpv6);
  auto bindText = [&](int column, std::string_view text) {
    sqlite3_bind_text(stmt, column, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  };
  auto bindIntOrNull = [&](int column, bool present, int64_t value) {
    if (present) sqlite3_bind_int64(stmt, column, value);
    else sqlite3_bind_null(stmt, column);
  };
  sqlite3_bind_int64(stmt, 1, id);
  sqlite3_bind_int64(stmt, 2, reason_code);
  if (const std::string* name = reasonName(reason_code, ctx)) bindText(3, *name);
  else sqlite3_bind_null(stmt, 3);
  sqlite3_bind_int64(stmt, 4, static_cast<int64_t>(k.location));
  bindIntOrNull(5, k.stack_id != 0, k.stack_id);
  sqlite3_bind_int64(stmt, 6, k.netns);
  sqlite3_bind_int64(stmt, 7, k.ifindex);
  if (k.eth_type != 0 || k.eth_src != 0 || k.eth_dst != 0) {
    bindText(8, macText(k.eth_src));
    bindText(9, macText(k.eth_dst));
  } else {
    sqlite3_bind_null(stmt, 8);
    sqlite3_bind_null(stmt, 9);
  }
  bindIntOrNull(10, k.eth_type != 0, k.eth_type);
  bindIntOrNull(11, k.vlan_id != kUntagged, k.vlan_id);
  const std::string_view l3_name = l3KindName(k.l3);
  if (!l3_name.empty()) bindText(12, l3_name);
  else sqlite3_bind_null(stmt, 12);
  if (is_ip) {
    bindText(13, ipText(k.src_hi, k.src_lo));
    bindText(14, ipText(k.dst_hi, k.dst_lo));
    bindText(15, l4ProtoName(k.l4));
  } else {
    for (int column : {13, 14, 15}) sqlite3_bind_null(stmt, column);
  }
  bindIntOrNull(16, is_ip, k.ttl);
  if (is_ip && k.l4 == kIpprotoTcp) bindText(17, tcp_flags_[k.tcp_flags]);
  else sqlite3_bind_null(stmt, 17);
  bindIntOrNull(18, is_icmp, k.icmp_type);
  bindIntOrNull(19, is_icmp, k.icmp_code);
  bindIntOrNull(20, is_icmp, k.icmp_id);
  bindIntOrNull(21, k.l3 == 1, k.arp_op);
  NT_RETURN_IF_ERROR(s.run().context("drop: insert drop_context"));
  return id;
}

Status DropImporter::writeContextSeconds(Db& db) {
  std::vector<std::pair<uint64_t, uint64_t>> rows(context_seconds_.begin(), context_seconds_.end());
  std::sort(rows.begin(), rows.end());
  NT_ASSIGN_OR_RETURN(Statement insert, db.prepare("INSERT INTO drop_context_second VALUES (?,?,?)"));
  for (const auto& [key, drops] : rows) {
    insert.bind(1, static_cast<int64_t>((key >> 32) * 1'000'000'000ull));
    insert.bind(2, static_cast<int64_t>(key & 0xffffffffu));
    insert.bind(3, static_cast<int64_t>(drops));
    NT_RETURN_IF_ERROR(insert.run());
  }
  context_seconds_.clear();
  tally_count_ = nullptr;
  return Status::ok();
}

Status DropImporter::importEvents(DropEvents::Reader events, IngestContext& ctx) {
  auto time_delta = events.getTimeDelta();
  auto cpu = events.getCpu();
  auto tid = events.getTid();
  auto reason = events.getReason();
  auto location = events.getLocation();
  auto stack_id = events.getStackId();
  auto netns = events.getNetns();
  auto ifindex = events.getIfindex();
  auto length = events.getLength();
  auto eth_src = events.getEthSrc();
  auto eth_dst = events.getEthDst();
  auto eth_type = events.getEthType();
  auto vlan_id = events.getVlanId();
  auto src_hi = events.getSrcHi();
  auto src_lo = events.getSrcLo();
  auto dst_hi = events.getDstHi();
  auto dst_lo = events.getDstLo();
  auto l4_proto = events.getL4Proto();
  auto src_port = events.getSrcPort();
  auto dst_port = events.getDstPort();
  auto ttl = events.getTtl();
  auto ip_id = events.getIpId();
  auto tcp_seq = events.getTcpSeq();
  auto tcp_flags = events.getTcpFlags();
  auto icmp_type = events.getIcmpType();
  auto icmp_code = events.getIcmpCode();
  auto icmp_id = events.getIcmpId();
  auto icmp_seq = events.getIcmpSeq();
  auto arp_op = events.getArpOp();
  auto l3_kind = events.getL3Kind();

  // Every column should have one entry per drop; a batch that does not is
  // imported up to its shortest column and the rest counted as lost.
  const size_t sizes[] = {time_delta.size(), cpu.size(), tid.size(), reason.size(), location.size(),
                          stack_id.size(), netns.size(), ifindex.size(), length.size(), eth_src.size(),
                          eth_dst.size(), eth_type.size(), vlan_id.size(), src_hi.size(), src_lo.size(),
                          dst_hi.size(), dst_lo.size(), l4_proto.size(), src_port.size(), dst_port.size(),
                          ttl.size(), ip_id.size(), tcp_seq.size(), tcp_flags.size(), icmp_type.size(),
                          icmp_code.size(), icmp_id.size(), icmp_seq.size(), arp_op.size(), l3_kind.size()};
  size_t n = time_delta.size();
  for (size_t s : sizes) n = std::min(n, s);
  if (n < time_delta.size()) {
    ++short_batches_;
    short_rows_ += time_delta.size() - n;
  }

  sqlite3* db = ctx.db().raw();
  uint64_t time = events.getBaseTimeNs();
  // Binds drop i as the row whose first parameter follows `b`; its context is
  // looked up (drops in a row mostly share one) or inserted.
  auto bindRow = [&](sqlite3_stmt* stmt, int b, size_t i) -> Status {
    const uint8_t l3 = l3_kind[i];
    const uint8_t l4 = l4_proto[i];
    const bool is_ip = l3 == 4 || l3 == 6;
    const bool has_ports = is_ip && (l4 == kIpprotoTcp || l4 == kIpprotoUdp || l4 == kIpprotoSctp);
    const bool is_icmp = is_ip && (l4 == kIpprotoIcmp || l4 == kIpprotoIcmpv6);
    const bool is_tcp = is_ip && l4 == kIpprotoTcp;
    ContextKey key{};
    key.location = location[i];
    key.eth_src = eth_src[i];
    key.eth_dst = eth_dst[i];
    if (is_ip) {
      key.src_hi = src_hi[i];
      key.src_lo = src_lo[i];
      key.dst_hi = dst_hi[i];
      key.dst_lo = dst_lo[i];
      key.ttl = ttl[i];
    }
    key.stack_id = stack_id[i];
    key.netns = netns[i];
    key.ifindex = ifindex[i];
    key.reason = reason[i];
    key.eth_type = eth_type[i];
    key.vlan_id = vlan_id[i];
    if (is_icmp) {
      key.icmp_id = icmp_id[i];
      key.icmp_type = icmp_type[i];
      key.icmp_code = icmp_code[i];
    }
    if (l3 == 1) key.arp_op = arp_op[i];
    key.l3 = l3;
    key.l4 = l4;
    if (is_tcp) key.tcp_flags = tcp_flags[i];
    if (last_context_ == 0 || !(key == last_key_)) {
      NT_ASSIGN_OR_RETURN(last_context_, contextId(key, reason[i], ctx));
      last_key_ = key;
    }
    tally(time);
    sqlite3_bind_int64(stmt, b + 1, static_cast<int64_t>(time));
    sqlite3_bind_int64(stmt, b + 2, last_context_);
    sqlite3_bind_int64(stmt, b + 3, cpu[i]);
    sqlite3_bind_int64(stmt, b + 4, tid[i]);
    sqlite3_bind_int64(stmt, b + 5, length[i]);
    if (has_ports) {
      sqlite3_bind_int64(stmt, b + 6, src_port[i]);
      sqlite3_bind_int64(stmt, b + 7, dst_port[i]);
    } else {
      sqlite3_bind_null(stmt, b + 6);
      sqlite3_bind_null(stmt, b + 7);
    }
    if (l3 == 4) sqlite3_bind_int64(stmt, b + 8, ip_id[i]);
    else sqlite3_bind_null(stmt, b + 8);
    if (is_tcp) sqlite3_bind_int64(stmt, b + 9, tcp_seq[i]);
    else sqlite3_bind_null(stmt, b + 9);
    if (is_icmp) sqlite3_bind_int64(stmt, b + 10, icmp_seq[i]);
    else sqlite3_bind_null(stmt, b + 10);
    return Status::ok();
  };
  // Rows go in groups of kRowsPerInsert per statement: one statement run per
  // group instead of per row saves most of SQLite's per-statement overhead.
  size_t i = 0;
  sqlite3_stmt* group = insert_packets_.raw();
  for (; i + kRowsPerInsert <= n; i += kRowsPerInsert) {
    for (size_t k = 0; k < kRowsPerInsert; ++k) {
      time += time_delta[i + k];
      NT_RETURN_IF_ERROR(bindRow(group, static_cast<int>(k) * kPacketColumns, i + k));
    }
    const int rc = sqlite3_step(group);
    sqlite3_reset(group);
    if (rc != SQLITE_DONE) return Status::error("drop: insert drop_packet: ", sqlite3_errmsg(db));
  }
  sqlite3_stmt* single = insert_packet_.raw();
  for (; i < n; ++i) {
    time += time_delta[i];
    NT_RETURN_IF_ERROR(bindRow(single, 0, i));
    const int rc = sqlite3_step(single);
    sqlite3_reset(single);
    if (rc != SQLITE_DONE) return Status::error("drop: insert drop_packet: ", sqlite3_errmsg(db));
  }
  ctx.addRows(n);
  return Status::ok();
}

Status DropImporter::importSummary(DropSummary::Reader summary, IngestContext& ctx) {
  const int64_t interval = summary.getIntervalIndex();
  const int64_t time = static_cast<int64_t>(summary.getTimeNs());
  uint64_t keyed = 0;
  for (DropSummaryEntry::Reader e : summary.getEntries()) {
    SummaryKey key{e.getStackId(), e.getReason(), e.getNetns(), e.getIfindex(), e.getL3Kind(),
                   e.getL4Proto(), e.getSrcHi(),  e.getSrcLo(), e.getDstHi(),   e.getDstLo(),
                   e.getSrcPort(), e.getDstPort(), e.getLocation()};
    uint64_t& last = summary_last_[key];
    const uint64_t count = e.getCount();
    uint64_t grew;
    if (count >= last) {
      grew = count - last;
    } else {
      grew = count;
      ++summary_resets_;
    }
    last = count;
    if (grew == 0) continue;
    keyed += grew;
    const uint8_t l3 = e.getL3Kind();
    const uint8_t l4 = e.getL4Proto();
    const bool is_ip = l3 == 4 || l3 == 6;
    const bool has_ports = is_ip && (l4 == kIpprotoTcp || l4 == kIpprotoUdp || l4 == kIpprotoSctp);
    Statement& s = insert_summary_;
    s.bind(1, interval);
    s.bind(2, time);
    if (e.getStackId() != 0) s.bind(3, int64_t{e.getStackId()});
    else s.bindNull(3);
    if (const std::string* name = reasonName(e.getReason(), ctx)) s.bindStatic(4, *name);
    else s.bindNull(4);
    s.bind(5, int64_t{e.getNetns()});
    s.bind(6, int64_t{e.getIfindex()});
    if (is_ip) {
      s.bindStatic(7, l4ProtoName(l4));
      s.bind(8, ipText(e.getSrcHi(), e.getSrcLo()));
      s.bind(9, ipText(e.getDstHi(), e.getDstLo()));
    } else {
      s.bindNull(7);
      s.bindNull(8);
      s.bindNull(9);
    }
    if (has_ports) {
      s.bind(10, int64_t{e.getSrcPort()});
      s.bind(11, int64_t{e.getDstPort()});
    } else {
      s.bindNull(10);
      s.bindNull(11);
    }
    s.bind(12, static_cast<int64_t>(e.getLocation()));
    s.bind(13, static_cast<int64_t>(grew));
    NT_RETURN_IF_ERROR(s.run().context("drop: insert drop_summary"));
    ctx.addRows(1);
  }
  const uint64_t total = summary.getTotalDrops();
  const uint64_t total_grew = total >= summary_total_last_ ? total - summary_total_last_ : total;
  summary_total_last_ = total;
  insert_interval_.bind(1, interval);
  insert_interval_.bind(2, time);
  insert_interval_.bind(3, static_cast<int64_t>(total_grew));
  insert_interval_.bind(4, static_cast<int64_t>(keyed));
  return insert_interval_.run().context("drop: insert drop_interval");
}

Status DropImporter::addReportSections(Db& db, ReportBuilder& report) {
  NT_ASSIGN_OR_RETURN(int64_t total, db.queryInt("SELECT COALESCE(SUM(drops), 0) FROM drop_by_reason"));
  if (total == 0) return Status::ok();
  NT_ASSIGN_OR_RETURN(int64_t reasons, db.queryInt("SELECT COUNT(*) FROM drop_by_reason"));
  NT_ASSIGN_OR_RETURN(Statement top, db.prepare("SELECT reason, drops FROM drop_by_reason LIMIT 1"));
  NT_ASSIGN_OR_RETURN(bool has_top, top.step());
  report.headline("Packet drops", std::to_string(total));
  report.headline("Distinct drop reasons", std::to_string(reasons));
  if (has_top) {
    const int64_t top_drops = top.columnInt(1);
    char share[32];
    std::snprintf(share, sizeof(share), "%.1f", 100.0 * static_cast<double>(top_drops) / static_cast<double>(total));
    report.headline("Top drop reason", top.columnText(0) + " (" + share + "%)");
  }
  NT_ASSIGN_OR_RETURN(int64_t unkeyed,
                      db.queryInt("SELECT COALESCE(SUM(drops - keyed_drops), 0) FROM drop_interval "
                                  "WHERE NOT EXISTS (SELECT 1 FROM drop_event)"));

  report.beginSection("drop", "Packet drops",
                      "Packets the kernel freed through kfree_skb with a drop reason (skb:kfree_skb). "
                      "Reasons come from the recorded kernel's enum skb_drop_reason; the location is the "
                      "function that freed the packet." +
                          std::string(unkeyed > 0 ? " " + std::to_string(unkeyed) +
                                                        " drops did not fit in the in-kernel summary map and "
                                                        "appear only in totals."
                                                  : ""));
  NT_RETURN_IF_ERROR(report.bar("Drops by reason", db, "SELECT reason, drops FROM drop_by_reason"));
  NT_RETURN_IF_ERROR(report.timeSeries("Drops per second by reason", db,
                                       "SELECT time_ns, reason, drops FROM drop_over_time", true));
  NT_RETURN_IF_ERROR(report.table("Drops by device", db,
                                  "SELECT device, netns, ifindex, drops FROM drop_by_device", 100));
  NT_RETURN_IF_ERROR(report.table("Drops by location", db,
                                  "SELECT location_text AS location, drops FROM drop_by_location", 100));
  NT_RETURN_IF_ERROR(report.stacks("Top drop stacks with their most frequent flow", db,
                                   "SELECT drops AS count, stack_id, "
                                   "COALESCE(reason, '-') || ': ' || COALESCE(top_flow, '') AS label "
                                   "FROM drop_by_stack",
                                   20));
  NT_ASSIGN_OR_RETURN(int64_t events, db.queryInt("SELECT COUNT(*) FROM drop_event"));
  if (events > 0)
    NT_RETURN_IF_ERROR(report.table(
        "First drops in detail", db,
        "SELECT strftime('%Y-%m-%d %H:%M:%f', realtime_ns / 1e9, 'unixepoch') AS time_utc, cpu, comm, device, "
        "reason, location, src_ip, src_port, dst_ip, dst_port, l4, tcp_flags, length, eth_src, eth_dst, vlan_id "
        "FROM drop_detail ORDER BY time_ns LIMIT 500",
        500));
  return Status::ok();
}

}  // namespace

std::unique_ptr<FamilyImporter> makeImporter() { return std::make_unique<DropImporter>(); }

}  // namespace nettrail::drop
