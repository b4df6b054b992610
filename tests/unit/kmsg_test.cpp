// The kmsg family's record parser and bookkeeping, on /dev/kmsg records
// copied from real machines (canned text: each comment says where it came
// from), and the analyzer's classification of the kernel's spurious-interrupt
// lines on a recording that holds those captured lines. Real recording of the
// live log: tests/integration/kmsg_test.cpp.
#include <gtest/gtest.h>

#include <string>

#include "core/db.h"
#include "core/embedded_assets.h"

#ifdef NT_HAVE_RECORDER
#include "probes/kmsg.h"
#endif

namespace nettrail {
namespace {

#ifdef NT_HAVE_RECORDER
using kmsg::KmsgAccumulator;
using kmsg::KmsgLimits;
using kmsg::KmsgRecord;
using kmsg::parseKmsgRecord;

// Read from /dev/kmsg of the 6.18 development machine: a record with a
// dictionary (driver core lines carry SUBSYSTEM= and DEVICE=).
constexpr char kAcpiRecord[] =
    "6,195,227381,-;acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]\n"
    " SUBSYSTEM=acpi\n"
    " DEVICE=+acpi:PNP0A08:00\n";

TEST(KmsgParse, RecordWithDictionary) {
  KmsgRecord r;
  ASSERT_TRUE(parseKmsgRecord(kAcpiRecord, &r));
  EXPECT_EQ(r.seq, 195u);
  EXPECT_EQ(r.timestamp_us, 227381u);
  EXPECT_EQ(r.level, 6);
  EXPECT_EQ(r.facility, 0);
  EXPECT_FALSE(r.continuation);
  EXPECT_EQ(r.text, "acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]");
  EXPECT_EQ(r.dict, "SUBSYSTEM=acpi\nDEVICE=+acpi:PNP0A08:00");
}

TEST(KmsgParse, SpuriousIrqLinesAndCallerField) {
  // kernel/irq/spurious.c's report, as /dev/kmsg gives it on a kernel with
  // CONFIG_PRINTK_CALLER (the caller= field); the message is the one a
  // 5.16 arm64 board logged in a public bug report ("irq 36: nobody cared").
  KmsgRecord r;
  ASSERT_TRUE(parseKmsgRecord("3,1180,76645190,-,caller=C0;irq 36: nobody cared (try booting with the "
                              "\"irqpoll\" option)\n",
                              &r));
  EXPECT_EQ(r.level, 3);
  EXPECT_EQ(r.caller, "C0");
  EXPECT_EQ(r.text, "irq 36: nobody cared (try booting with the \"irqpoll\" option)");
  ASSERT_TRUE(parseKmsgRecord("0,1213,76652001,-;Disabling IRQ #36\n", &r));
  EXPECT_EQ(r.level, 0);
  EXPECT_EQ(r.text, "Disabling IRQ #36");
  // A user-space line (facility 1) with the old continuation flag.
  ASSERT_TRUE(parseKmsgRecord("12,7,1000,c;tail\n", &r));
  EXPECT_EQ(r.facility, 1);
  EXPECT_EQ(r.level, 4);
  EXPECT_TRUE(r.continuation);
}

TEST(KmsgParse, MalformedRecordsAreRefused) {
  KmsgRecord r;
  for (const char* bad : {"", "no semicolon", "6,1;short prefix", "x,1,2,-;text", "6,1,2,;no flags",
                          "6,18446744073709551616,2,-;seq overflows"})
    EXPECT_FALSE(parseKmsgRecord(bad, &r)) << bad;
}

TEST(KmsgAccumulator, SequenceGapsAreLinesTheKernelOverwrote) {
  KmsgAccumulator a(KmsgLimits{});
  a.add("6,10,1000,-;first\n", 0);
  a.add("6,11,2000,-;second\n", 0);
  a.noteOverrun();
  a.add("6,20,3000,-;after the ring wrapped\n", 0);  // 12..19 overwritten
  EXPECT_EQ(a.kept(), 3u);
  EXPECT_EQ(a.lost(), 8u);
  EXPECT_EQ(a.overruns(), 1u);
}

TEST(KmsgAccumulator, TimesAreMappedByTheClockOffset) {
  KmsgAccumulator a(KmsgLimits{});
  // local_clock ran 1.35 ms ahead of CLOCK_BOOTTIME (as measured on the
  // development machine): the line at 4038.650536 s of local_clock happened
  // at 4038.649186 s of boottime.
  a.add("6,348,4038650536,-;ntbr0: port 1(ntv0) entered blocking state\n", 1'350'000);
  ASSERT_EQ(a.lines().size(), 1u);
  EXPECT_EQ(a.lines().time_ns[0], 4038650536000ull - 1350000ull);
  EXPECT_EQ(a.lines().kernel_us[0], 4038650536u);
}

TEST(KmsgAccumulator, LimitsLevelAndStart) {
  KmsgLimits limits;
  limits.max_level = 4;
  limits.max_lines = 2;
  limits.min_timestamp_us = 1500;
  KmsgAccumulator a(limits);
  a.add("4,1,1000,-;before the start\n", 0);
  a.add("6,2,2000,-;info above the level\n", 0);
  a.add("3,3,3000,-;kept\n", 0);
  a.add("4,4,4000,-;kept too\n", 0);
  a.add("2,5,5000,-;over the limit\n", 0);
  a.add("garbage", 0);
  EXPECT_EQ(a.kept(), 2u);
  EXPECT_EQ(a.beforeStart(), 1u);
  EXPECT_EQ(a.filtered(), 1u);
  EXPECT_EQ(a.overLimit(), 1u);
  EXPECT_EQ(a.malformed(), 1u);
  EXPECT_EQ(a.lost(), 0u);
  EXPECT_EQ(a.lines().text[0], "kept");
}
#endif

// kmsg_event's classes and kmsg_irq over lines as a recording stores them.
// The spurious-interrupt lines are kernel/irq/spurious.c's formats with the
// IRQ numbers of a public bug report (canned: no machine here can make the
// kernel disable an IRQ on demand); the user-space copy must not count.
TEST(KmsgViews, SpuriousInterruptLinesAreClassedByIrq) {
  auto opened = Db::open(":memory:");
  ASSERT_TRUE(opened.isOk());
  Db& db = **opened;
  ASSERT_TRUE(db.exec(std::string(embeddedAsset("queries/_core.sql"))).isOk());
  ASSERT_TRUE(db.exec(std::string(embeddedAsset("queries/kmsg.sql"))).isOk());
  ASSERT_TRUE(db.exec("INSERT INTO clock_anchor VALUES (1000000000, 1700000000000000000, 1000000000);"
                      "INSERT INTO kmsg_line VALUES"
                      " (2000000000, 2000, 1, 3, 0, 0, '', 'irq 36: nobody cared (try booting with the "
                      "\"irqpoll\" option)', ''),"
                      " (2000100000, 2000, 2, 3, 0, 0, '', 'handlers:', ''),"
                      " (2000200000, 2000, 3, 0, 0, 0, '', 'Disabling IRQ #36', ''),"
                      " (2500000000, 2500, 4, 3, 0, 0, '', 'irq 7: nobody cared (try booting with the "
                      "\"irqpoll\" option)', ''),"
                      " (3000000000, 3000, 5, 4, 1, 0, '', 'Disabling IRQ #9', ''),"
                      " (3100000000, 3100, 6, 4, 0, 0, '', 'openvswitch: ovs-system: deferred action limit "
                      "reached, drop recirc action', ''),"
                      " (3200000000, 3200, 7, 6, 0, 0, '', 'ntbr0: port 1(ntv0) entered blocking state', '')")
                  .isOk());
  auto cls = [&](int seq) {
    auto stmt = db.prepare("SELECT class || ':' || COALESCE(irq, '-') FROM kmsg_event WHERE seq = " +
                           std::to_string(seq));
    EXPECT_TRUE(stmt.isOk());
    auto row = stmt->step();
    return row.isOk() && *row ? stmt->columnText(0) : std::string("?");
  };
  EXPECT_EQ(cls(1), "irq_nobody_cared:36");
  EXPECT_EQ(cls(2), "error:-");
  EXPECT_EQ(cls(3), "irq_disabled:36");
  EXPECT_EQ(cls(5), "warning:-");  // written by a program (facility user): not the kernel's
  EXPECT_EQ(cls(6), "openvswitch:-");
  EXPECT_EQ(cls(7), "other:-");
  auto irqs = db.prepare("SELECT irq, nobody_cared_ns, COALESCE(disabled_ns, -1), lines FROM kmsg_irq ORDER BY irq");
  ASSERT_TRUE(irqs.isOk());
  ASSERT_TRUE(*irqs->step());
  EXPECT_EQ(irqs->columnInt(0), 7);
  EXPECT_EQ(irqs->columnInt(2), -1);  // reported, not (yet) disabled
  ASSERT_TRUE(*irqs->step());
  EXPECT_EQ(irqs->columnInt(0), 36);
  EXPECT_EQ(irqs->columnInt(1), 2000000000);
  EXPECT_EQ(irqs->columnInt(2), 2000200000);
  EXPECT_EQ(irqs->columnInt(3), 2);
  EXPECT_FALSE(*irqs->step());
  auto disabled = db.queryInt("SELECT value FROM kmsg_metric WHERE name = 'IRQs disabled'");
  ASSERT_TRUE(disabled.isOk());
  EXPECT_EQ(*disabled, 1);
}

}  // namespace
}  // namespace nettrail
