#ifdef NT_HAVE_RECORDER
#include <gtest/gtest.h>

#include "snapshot/kallsyms.h"

namespace nettrail {
namespace {

constexpr const char* kSample =
    "ffffffff81000000 T _text\n"
    "ffffffff81001000 t tcp_v4_rcv\n"
    "ffffffff81002000 D some_data\n"
    "ffffffff81003000 T kfree_skb_reason\n"
    "ffffffff81004000 T _einittext\n"
    "ffffffffc0001000 t ovs_dp_process_packet\t[openvswitch]\n"
    "ffffffffc0002000 t bpf_prog_6deef7357e7b4530_kfree_skb_btf\t[bpf]\n"
    "0000000000000000 T hidden\n"
    "garbage line\n";

TEST(Kallsyms, ResolvesTextSymbolsWithModules) {
  Kallsyms symbols = Kallsyms::parse(kSample);
  EXPECT_EQ(symbols.size(), 6u);  // data, zero and malformed lines skipped
  const KernelSymbolEntry* s = symbols.find(0xffffffff81001234ull);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "tcp_v4_rcv");
  // tcp_v4_rcv runs to the next text symbol (data symbols are not kept).
  EXPECT_EQ(s->size, 0x2000u);
  const KernelSymbolEntry* m = symbols.find(0xffffffffc0001010ull);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->name, "ovs_dp_process_packet");
  EXPECT_EQ(m->module, "openvswitch");
  EXPECT_EQ(symbols.byName("kfree_skb_reason")->address, 0xffffffff81003000ull);
  EXPECT_EQ(symbols.find(0xffffffff80000000ull), nullptr);
}

TEST(Kallsyms, DoesNotStretchASymbolAcrossAddressSpaceHoles) {
  Kallsyms symbols = Kallsyms::parse(kSample);
  // Between the end of kernel text and the module area nothing is named:
  // _einittext must not claim a JIT or module address gigabytes away.
  EXPECT_EQ(symbols.find(0xffffffffa0000000ull), nullptr);
  const KernelSymbolEntry* last = symbols.find(0xffffffffc0002040ull);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->module, "bpf");
  EXPECT_EQ(symbols.find(0xffffffffc0f00000ull), nullptr);
}

}  // namespace
}  // namespace nettrail
#endif
