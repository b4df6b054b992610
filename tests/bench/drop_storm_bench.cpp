// Drop storm benchmark (root): floods a veth pair in a private network
// namespace with frames no protocol handles (each one an UNHANDLED_PROTO drop),
// records them with nettrail-record, then ingests the file.
// Prints drops/s, events recorded and lost, bytes per event on disk, the
// recorder's CPU per event, and ingest rows/s. Figures only; no pass/fail.
// The recorder's CPU is counted from the start of recording (start-up, e.g.
// reading kallsyms, is not in it).
//
//   nettrail_drop_bench [--seconds N] [--senders N] [--mode details|summary|both] [--no-stack-trace]
//                       [--keep FILE.ntr]
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "core/db.h"
#include "ingest/ingest.h"
#include "integration/netns.h"

namespace {

using nettrail::testing::shell;

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Sends for `seconds` from inside `netns`; returns frames sent. Raw Ethernet
// frames with an EtherType no protocol handles go out of one end of a veth
// pair and are dropped on arrival at the other (UNHANDLED_PROTO in
// __netif_receive_skb_core): the cheapest real drop path, so the storm is as
// fast as the machine allows. Runs in a forked child so only it joins the
// namespace; the count comes back through a pipe.
uint64_t stormOne(const std::string& netns, const std::string& ifname, double seconds) {
  int fds[2];
  if (pipe(fds) != 0) return 0;
  pid_t pid = fork();
  if (pid == 0) {
    int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(1);
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) _exit(3);
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    sockaddr_ll addr = {};
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    addr.sll_halen = 6;
    unsigned char frame[60] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5};  // local experimental EtherType
    constexpr int kBatch = 64;
    iovec iov[kBatch];
    mmsghdr msgs[kBatch];
    std::memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {frame, sizeof(frame)};
      msgs[i].msg_hdr.msg_name = &addr;
      msgs[i].msg_hdr.msg_namelen = sizeof(addr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t sent = 0;
    const double end = nowSeconds() + seconds;
    while (nowSeconds() < end) {
      for (int k = 0; k < 16; ++k) {
        int n = sendmmsg(fd, msgs, kBatch, 0);
        if (n > 0) sent += static_cast<uint64_t>(n);
      }
    }
    if (write(fds[1], &sent, sizeof(sent)) != sizeof(sent)) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  uint64_t sent = 0;
  if (read(fds[0], &sent, sizeof(sent)) != sizeof(sent)) sent = 0;
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return sent;
}

// `senders` senders at once (one core cannot make drops as fast as the
// kernel handles them); returns the frames they sent together.
uint64_t storm(const std::string& netns, const std::string& ifname, double seconds, int senders) {
  std::vector<std::thread> threads;
  std::vector<uint64_t> sent(static_cast<size_t>(senders), 0);
  for (int i = 0; i < senders; ++i)
    threads.emplace_back([&, i] { sent[static_cast<size_t>(i)] = stormOne(netns, ifname, seconds); });
  uint64_t total = 0;
  for (int i = 0; i < senders; ++i) {
    threads[static_cast<size_t>(i)].join();
    total += sent[static_cast<size_t>(i)];
  }
  return total;
}

// Pulls "<number> <word>" figures out of the recorder's closing line.
double figure(const std::string& text, const std::string& after) {
  size_t at = text.rfind(after);
  if (at == std::string::npos) return -1;
  return std::atof(text.c_str() + at + after.size());
}

double figureBefore(const std::string& text, const std::string& word) {
  size_t at = text.rfind(word);
  if (at == std::string::npos) return -1;
  size_t start = text.rfind(' ', at - 2);
  return std::atof(text.c_str() + (start == std::string::npos ? 0 : start + 1));
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  std::string mode = "details";
  bool stacks = true;
  int senders = 2;
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--keep" && i + 1 < argc) keep = argv[++i];
    else if (a == "--mode" && i + 1 < argc) mode = argv[++i];
    else if (a == "--senders" && i + 1 < argc) senders = std::max(1, std::atoi(argv[++i]));
    else if (a == "--no-stack-trace") stacks = false;
    else {
      std::fprintf(stderr,
                   "usage: %s [--seconds N] [--senders N] [--mode details|summary|both] [--no-stack-trace] "
                   "[--keep FILE.ntr]\n",
                   argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "nettrail_drop_bench: needs root (BPF and network namespaces)\n");
    return 1;
  }
  const std::string netns = "ntbench" + std::to_string(getpid());
  if (shell("ip netns add " + netns + " && ip -n " + netns + " link add ntstorm0 type veth peer name ntstorm1 && ip -n " +
            netns + " link set ntstorm0 up && ip -n " + netns + " link set ntstorm1 up") != 0) {
    std::fprintf(stderr, "nettrail_drop_bench: cannot create network namespace %s\n", netns.c_str());
    return 1;
  }

  std::printf("drop storm: unhandled EtherType frames over a veth pair in netns %s, %.1f s, %d sender(s), mode %s%s\n",
              netns.c_str(), seconds, senders, mode.c_str(), stacks ? "" : ", no stacks");
  const uint64_t baseline = storm(netns, "ntstorm0", seconds, senders);
  std::printf("  without recorder: %.0f drops/s\n", static_cast<double>(baseline) / seconds);

  const std::string path = keep.empty() ? "/tmp/nettrail-bench-" + std::to_string(getpid()) + ".ntr" : keep;
  nettrail::testing::RecorderProcess recorder;
  std::vector<std::string> args = {"--netns", std::to_string(nettrail::testing::netnsInode(netns)), "--mode", mode,
                                   "-o", path, "--force", "--ring-size", "64M"};
  if (!stacks) args.push_back("--no-stack-trace");
  if (!recorder.start(args)) {
    std::fprintf(stderr, "nettrail_drop_bench: recorder failed to start:\n%s\n", recorder.output().c_str());
    shell("ip netns del " + netns);
    return 1;
  }
  const uint64_t sent = storm(netns, "ntstorm0", seconds, senders);
  usleep(300 * 1000);
  recorder.stop();
  shell("ip netns del " + netns);
  const std::string out = recorder.output();

  const double events = figureBefore(out, "events,");
  const double lost = figureBefore(out, "lost,");
  const double bytes = figureBefore(out, "bytes on disk");
  const double user = figure(out, "recorder CPU ");
  const double system = figure(out, "s user + ");
  std::printf("  with recorder:    %.0f drops/s (%.1f%% of the rate without)\n", static_cast<double>(sent) / seconds,
              100.0 * static_cast<double>(sent) / static_cast<double>(baseline ? baseline : 1));
  std::printf("  sent %llu, recorded %.0f events, lost %.0f (%.3f%%)\n", static_cast<unsigned long long>(sent), events,
              lost, events + lost > 0 ? 100.0 * lost / (events + lost) : 0.0);
  if (events > 0) {
    std::printf("  disk: %.0f bytes, %.2f bytes/event\n", bytes, bytes / events);
    std::printf("  recorder CPU: user %.2f s + system %.2f s; user %.0f ns/event, user+system %.0f ns/event\n", user,
                system, user * 1e9 / events, (user + system) * 1e9 / events);
  }

  if (mode != "summary") {
    auto db = nettrail::Db::open(":memory:");
    nettrail::IngestSummary summary;
    const double t0 = nowSeconds();
    const std::clock_t cpu0 = std::clock();
    nettrail::Status status = nettrail::ingestRecordings({path}, **db, nettrail::IngestOptions{}, &summary);
    const double t1 = nowSeconds();
    if (!status.isOk()) {
      std::fprintf(stderr, "ingest failed: %s\n", status.message().c_str());
    } else {
      auto rows = (*db)->queryInt("SELECT COUNT(*) FROM drop_event");
      const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
      std::printf("  ingest: %lld drop rows in %.2f s = %.0f rows/s (CPU %.2f s = %.0f rows per CPU second)\n",
                  rows.isOk() ? static_cast<long long>(*rows) : -1LL, t1 - t0,
                  rows.isOk() ? static_cast<double>(*rows) / (t1 - t0) : 0.0, cpu,
                  rows.isOk() && cpu > 0 ? static_cast<double>(*rows) / cpu : 0.0);
    }
  }
  if (keep.empty()) std::remove(path.c_str());
  std::printf("recorder output:\n%s", out.c_str());
  return 0;
}
