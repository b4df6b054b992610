// Kernel function resolution for fentry/kprobe attach candidates: exact names
// first, then compiler-renamed copies, never the outlined .cold part.
#include <gtest/gtest.h>

#ifdef NT_HAVE_RECORDER
#include "session.h"
#include "snapshot/kallsyms.h"

namespace nettrail {
namespace {

TEST(ResolveKernelFunction, ExactNameWins) {
  Kallsyms k = Kallsyms::parse(
      "ffffffff81000000 t ip_output.isra.0\n"
      "ffffffff81000100 T ip_output\n"
      "ffffffff81000200 T ip_finish_output\n");
  EXPECT_EQ(resolveKernelFunction(k, "ip_output"), "ip_output");
}

TEST(ResolveKernelFunction, RenamedCopiesAreFoundAndColdIsNot) {
  Kallsyms k = Kallsyms::parse(
      "ffffffff81000000 t tcp_v4_rcv.cold\n"
      "ffffffff81000100 t netdev_frame_hook.constprop.0.isra.0\t[openvswitch]\n"
      "ffffffff81000200 t netdev_frame_hook.part.1\t[openvswitch]\n"
      "ffffffff81000300 t foo_bar\n"
      "ffffffff81000400 t foo.isra\n");
  std::vector<std::string> others;
  EXPECT_EQ(resolveKernelFunction(k, "netdev_frame_hook", &others), "netdev_frame_hook.constprop.0.isra.0");
  ASSERT_EQ(others.size(), 1u);
  EXPECT_EQ(others[0], "netdev_frame_hook.part.1");
  EXPECT_EQ(resolveKernelFunction(k, "tcp_v4_rcv"), "");  // only the .cold part: not callable
  EXPECT_EQ(resolveKernelFunction(k, "foo"), "");         // suffix without a number
  EXPECT_EQ(resolveKernelFunction(k, "missing"), "");
}

}  // namespace
}  // namespace nettrail
#endif
