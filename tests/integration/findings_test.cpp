// The findings rules (analyzer/findings/*.sql) against recordings of real
// kernel events: for every rule one recording that must trigger it and one
// that must not, named in the rule's comment (FindingRules.* in
// tests/unit/findings_test.cpp checks that those tests exist). Needs root,
// BTF and tracefs; skips without them, fails under NETTRAIL_TEST_REQUIRE_ALL=1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "analysis/diff.h"
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

  // Records into `path` while `traffic` runs and ingests the file.
  std::unique_ptr<Db> record(const std::string& path, const std::vector<std::string>& args,
                             const std::function<void()>& traffic) {
    std::vector<std::string> all = args;
    for (const char* a : {"-o", path.c_str(), "--force", "-i", "200ms"}) all.push_back(a);
    output_ = testing::recordWhile(all, traffic);
    return testing::ingestForTest({path});
  }

  // Records while `traffic` runs, ingests the file and evaluates the rules.
  FindingsResult recordAndTriage(const std::vector<std::string>& args, const std::function<void()>& traffic) {
    db_ = record(path_, args, traffic);
    if (!db_) return {};
    return evaluated(*db_, FindingScope::kRecording);
  }

  static FindingsResult evaluated(Db& db, FindingScope scope) {
    auto result = evaluateFindings(db, scope);
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

// ---------------------------------------------------------------- diff

// Two recordings of real drops: before, 10 dropped by an nftables rule; after,
// the same 10 and 40 more to a closed port (a new reason).
class FindingsDiffTest : public FindingsTest {
 protected:
  void SetUp() override {
    FindingsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_EQ(shell("ip netns exec " + net_->ns_b +
                    " nft 'add table inet ntdiff; add chain inet ntdiff in { type filter hook input priority 0; }; "
                    "add rule inet ntdiff in udp dport 7431 drop'"),
              0);
    before_path_ = testing::tempPath("before.ntr");
    before_ = record(before_path_, {"--netns", testing::netnsArg(net_->ns_b)}, [&] {
      EXPECT_EQ(runInNetns(net_->ns_a, [&] { return testing::udpSend(net_->ip_b, 7431, 10) == 10 ? 0 : 1; }), 0);
    });
    ASSERT_TRUE(before_);
  }
  void TearDown() override {
    if (!before_path_.empty() && !HasFailure()) std::remove(before_path_.c_str());
    FindingsTest::TearDown();
  }
  void recordAfter() {
    db_ = record(path_, {"--netns", testing::netnsArg(net_->ns_b)}, [&] {
      EXPECT_EQ(runInNetns(net_->ns_a, [&] {
        return testing::udpSend(net_->ip_b, 7431, 10) == 10 && testing::udpSend(net_->ip_b, 7432, 40) == 40 ? 0 : 1;
      }), 0);
    });
    ASSERT_TRUE(db_);
  }
  // The findings of `nettrail diff first second`.
  FindingsResult diff(Db& first, const std::string& first_path, Db& second, const std::string& second_path) {
    auto out = Db::open(":memory:");
    EXPECT_TRUE(out.isOk());
    diff_ = std::move(*out);
    Status status = buildDiff(first, first_path, second, second_path, *diff_);
    EXPECT_TRUE(status.isOk()) << status.message();
    return evaluated(*diff_, FindingScope::kDiff);
  }
  int64_t diffCount(const std::string& sql) { return testing::queryCount(*diff_, sql); }

  std::string before_path_;
  std::unique_ptr<Db> before_;
  std::unique_ptr<Db> diff_;
};

TEST_F(FindingsDiffTest, DiffNamesWhatRoseAndWhatIsNew) {
  recordAfter();
  FindingsResult r = diff(*before_, before_path_, *db_, path_);
  ASSERT_EQ(diffCount("SELECT after FROM diff_breakdown WHERE family = 'drop' AND dimension = 'reason' AND "
                      "key = 'NO_SOCKET' AND before = 0"),
            40);
  auto rose = of(r, "diff_rose");
  bool reasons = false;
  for (const Finding* f : rose) {
    if (f->title.rfind("drop reasons rose: 1 \u2192 2", 0) == 0) {
      reasons = true;
      EXPECT_NE(f->evidence.find("1 in the first recording, 2 in the second; most of the rise: reason NO_SOCKET (+40)"),
                std::string::npos)
          << f->evidence;
      EXPECT_NE(f->next_step.find("nettrail triage " + path_), std::string::npos) << f->next_step;
      ASSERT_FALSE(f->evidence_rows.empty());
      EXPECT_EQ(f->evidence_rows[0][1].text, "NO_SOCKET");
    }
  }
  EXPECT_TRUE(reasons) << titles(r);
  // The new reason (and its location), at its share of the second recording's drops.
  bool new_reason = false;
  for (const Finding* f : of(r, "diff_new_key")) {
    if (f->title != "New in the second recording: drop reason NO_SOCKET (40)") continue;
    new_reason = true;
    EXPECT_EQ(f->severity, "warning");
    EXPECT_EQ(f->score, 80);
    EXPECT_EQ(f->evidence, "0 in the first recording, 40 in the second, of 50 in all");
  }
  EXPECT_TRUE(new_reason) << titles(r);
  // Nothing fell: the nftables drops are the same 10.
  EXPECT_TRUE(of(r, "diff_fell").empty()) << titles(r);
}

TEST_F(FindingsDiffTest, DiffNamesWhatFell) {
  recordAfter();
  FindingsResult r = diff(*db_, path_, *before_, before_path_);
  auto fell = of(r, "diff_fell");
  bool reasons = false;
  for (const Finding* f : fell) {
    EXPECT_EQ(f->severity, "info");
    if (f->title.rfind("drop reasons fell: 2 \u2192 1", 0) == 0) {
      reasons = true;
      EXPECT_NE(f->evidence.find("most of the fall: reason NO_SOCKET (-40)"), std::string::npos) << f->evidence;
    }
  }
  EXPECT_TRUE(reasons) << titles(r);
  EXPECT_TRUE(of(r, "diff_new_key").empty()) << titles(r);
  EXPECT_TRUE(of(r, "diff_rose").empty()) << titles(r);
}

TEST_F(FindingsDiffTest, DiffOfARecordingWithItselfFindsNothing) {
  FindingsResult r = diff(*before_, before_path_, *before_, before_path_);
  // The figures are there (10 drops on both sides) and nothing changed.
  ASSERT_EQ(diffCount("SELECT COUNT(*) FROM diff_metric WHERE name = 'drops' AND before = 10 AND after = 10"), 1);
  EXPECT_TRUE(r.findings.empty()) << titles(r);
  EXPECT_EQ(r.rules, 3);
}

}  // namespace
}  // namespace nettrail
