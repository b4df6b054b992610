// The findings rules (analyzer/findings/*.sql) against recordings of real
// kernel events: for every rule one recording that must trigger it and one
// that must not, named in the rule's comment (FindingRules.* in
// tests/unit/findings_test.cpp checks that those tests exist). Needs root,
// BTF and tracefs; skips without them, fails under NETTRAIL_TEST_REQUIRE_ALL=1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "analysis/findings.h"
#include "core/db.h"
#include "integration/netns.h"
#include "integration/recorded_db.h"
#include "testing/requirements.h"
#include "testing/test_recordings.h"

namespace nettrail {
namespace {

using testing::runInNetns;
using testing::shell;

class FindingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NT_REQUIRE(Requirement::kRoot | Requirement::kBtf | Requirement::kTracefs);
    net_ = std::make_unique<testing::VethPair>();
    ASSERT_TRUE(net_->ok()) << net_->error();
    path_ = testing::tempPath("findings.ntr");
  }
  void TearDown() override {
    if (!path_.empty() && !HasFailure()) std::remove(path_.c_str());
  }

  // Records while `traffic` runs, ingests the file and evaluates the rules.
  FindingsResult recordAndTriage(const std::vector<std::string>& args, const std::function<void()>& traffic) {
    std::vector<std::string> all = args;
    for (const char* a : {"-o", path_.c_str(), "--force", "-i", "200ms"}) all.push_back(a);
    output_ = testing::recordWhile(all, traffic);
    db_ = testing::ingestForTest({path_});
    if (!db_) return {};
    auto result = evaluateFindings(*db_, FindingScope::kRecording);
    EXPECT_TRUE(result.isOk()) << result.status().message();
    if (!result.isOk()) return {};
    EXPECT_TRUE(result->problems.empty()) << ::testing::PrintToString(result->problems);
    return std::move(result.value());
  }

  // The findings of `rule`, in rank order.
  static std::vector<const Finding*> of(const FindingsResult& r, const std::string& rule) {
    std::vector<const Finding*> out;
    for (const Finding& f : r.findings)
      if (f.rule == rule) out.push_back(&f);
    return out;
  }
  static std::string titles(const FindingsResult& r) {
    std::string text;
    for (const Finding& f : r.findings) text += "\n  " + f.severity + " " + f.rule + ": " + f.title;
    return text.empty() ? " (no findings)" : text;
  }
  int64_t count(const std::string& sql) { return testing::queryCount(*db_, sql); }

  std::unique_ptr<testing::VethPair> net_;
  std::string path_;
  std::string output_;
  std::unique_ptr<Db> db_;
};

// ---------------------------------------------------------------- drop

// A VM that stops reading its queue: the tap's ring fills and nearly every
// drop is FULL_RING at tun_net_xmit on that tap, next to a few unrelated drops.
TEST_F(FindingsTest, FullRingAtATapIsOneDropFinding) {
  testing::UnreadTap tap(net_->ns_b, "tq" + net_->if_b.substr(2));
  ASSERT_TRUE(tap.ok()) << tap.error();
  FindingsResult r = recordAndTriage({"--netns", testing::netnsArg(net_->ns_b)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_b, [&] { return testing::udpSend(tap.peer_ip, 7401, 200, 100) > 0 ? 0 : 1; }), 0);
    EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7402, 8) == 8 ? 0 : 1; }), 0);
  });
  const int64_t full_ring = tap.txDropped();
  ASSERT_GT(full_ring, 100) << output_;
  ASSERT_EQ(count("SELECT COUNT(*) FROM drop_event WHERE reason = 'FULL_RING'"), full_ring);
  auto found = of(r, "drop_concentrated");
  ASSERT_EQ(found.size(), 1u) << titles(r);
  const Finding& f = *found[0];
  EXPECT_EQ(&f, &r.findings[0]) << "not ranked first:" << titles(r);
  EXPECT_EQ(f.severity, "critical");
  EXPECT_NE(f.title.find("% of drops are FULL_RING at tun_net_xmit on " + tap.name), std::string::npos) << f.title;
  const int64_t all = count("SELECT COUNT(*) FROM drop_event");
  EXPECT_NE(f.evidence.find(std::to_string(full_ring) + " of " + std::to_string(all) + " drops"), std::string::npos)
      << f.evidence;
  EXPECT_NE(f.evidence.find("mostly UDP 10.78.0.1 -> " + tap.peer_ip), std::string::npos) << f.evidence;
  EXPECT_NE(f.next_step.find("--vm-interface " + tap.name), std::string::npos) << f.next_step;
  // The rows behind it: FULL_RING first with the kernel's own count, then the others.
  ASSERT_GE(f.evidence_rows.size(), 2u);
  EXPECT_EQ(f.evidence_columns[0], "reason");
  EXPECT_EQ(f.evidence_rows[0][0].text, "FULL_RING");
  EXPECT_EQ(f.evidence_rows[0][3].integer, full_ring);
  EXPECT_EQ(f.evidence_rows[1][0].text, "NO_SOCKET");
  // Nothing was lost, so no loss finding.
  EXPECT_EQ(count("SELECT COUNT(*) FROM loss_summary"), 0);
  EXPECT_TRUE(of(r, "core_data_loss").empty()) << titles(r);
}

// Three causes with a third of the drops each: nothing to single out.
TEST_F(FindingsTest, DropsSpreadOverThreeCausesAreNotConcentrated) {
  ASSERT_EQ(shell("ip netns exec " + net_->ns_b +
                  " nft 'add table inet ntfind; add chain inet ntfind in { type filter hook input priority 0; }; "
                  "add rule inet ntfind in udp dport 7413 drop'"),
            0);
  FindingsResult r = recordAndTriage({"--netns", testing::netnsArg(net_->ns_b)}, [&] {
    EXPECT_EQ(runInNetns(net_->ns_a, [&] {
      const bool ok = testing::tcpConnectRefused(net_->ip_b, 7411, 20) == 20 &&
                      testing::udpSend(net_->ip_b, 7412, 20) == 20 && testing::udpSend(net_->ip_b, 7413, 20) == 20;
      return ok ? 0 : 1;
    }), 0);
  });
  // The drops are there (the rule had something to look at) ...
  EXPECT_EQ(count("SELECT COUNT(*) FROM drop_event WHERE dst_port IN (7411, 7412, 7413)"), 60);
  EXPECT_EQ(count("SELECT COUNT(*) FROM (SELECT DISTINCT reason, location FROM drop_event WHERE dst_port IN "
                  "(7411, 7412, 7413))"),
            3);
  // ... and none of them is the cause of most.
  EXPECT_TRUE(of(r, "drop_concentrated").empty()) << titles(r);
}

// ---------------------------------------------------------------- core

// The stages family's per-flow map holds 4 entries, two flows need 10: the
// samples that did not fit are data loss, and that finding comes first, even
// before a critical drop finding (its counts are lower bounds too).
TEST_F(FindingsTest, FullFlowMapIsALossFindingRankedFirst) {
  ASSERT_EQ(shell("tc -n " + net_->ns_a + " qdisc add dev " + net_->if_a + " root tbf rate 1gbit burst 64k latency 50ms"),
            0);
  FindingsResult r = recordAndTriage({"--families", "drop,stages", "--phy-interface", net_->if_a, "--protocol", "udp",
                                      "--src-ip", net_->ip_a, "--stages-flows", "4"},
                                     [&] {
                                       EXPECT_EQ(runInNetns(net_->ns_a, [&] {
                                         return testing::udpSend(net_->ip_b, 7421, 10) == 10 &&
                                                        testing::udpSend(net_->ip_b, 7422, 10) == 10
                                                    ? 0
                                                    : 1;
                                       }), 0);
                                     });
  const int64_t lost = count("SELECT SUM(flow_hist_full) FROM stages_interval");
  ASSERT_GT(lost, 0);
  ASSERT_FALSE(r.findings.empty());
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.rule, "core_data_loss") << titles(r);
  EXPECT_EQ(f.severity, "critical");
  EXPECT_NE(f.title.find(std::to_string(lost) + " events or samples were lost (stages flow_hist_full)"),
            std::string::npos)
      << f.title;
  EXPECT_NE(f.title.find("lower bound"), std::string::npos) << f.title;
  EXPECT_NE(f.next_step.find("--stages-flows"), std::string::npos) << f.next_step;
  ASSERT_FALSE(f.evidence_rows.empty());
  EXPECT_EQ(f.evidence_rows[0][2].text, "flow_hist_full");
  EXPECT_EQ(f.evidence_rows[0][3].integer, lost);
  // The 20 drops at the closed ports are still found, after it.
  auto drops = of(r, "drop_concentrated");
  ASSERT_EQ(drops.size(), 1u) << titles(r);
  EXPECT_NE(drops[0]->title.find("NO_SOCKET"), std::string::npos) << drops[0]->title;
}

}  // namespace
}  // namespace nettrail
