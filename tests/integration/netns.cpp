#include "integration/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace nettrail::testing {

int shell(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  std::string out;
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int runInNetns(const std::string& netns, const std::function<int()>& body, const std::string& comm) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(120);
    if (!comm.empty()) prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

uint32_t netnsInode(const std::string& netns) {
  struct stat st;
  if (stat(("/run/netns/" + netns).c_str(), &st) != 0) return 0;
  return static_cast<uint32_t>(st.st_ino);
}

VethPair::VethPair() {
  static std::atomic<int> counter{0};
  const int index = counter++;
  const int n = (getpid() + index * 37) % 250;
  const std::string tag = std::to_string(getpid() % 100000) + "x" + std::to_string(index);
  ns_a = "nta" + tag;
  ns_b = "ntb" + tag;
  if_a = "va" + tag;
  if_b = "vb" + tag;
  ip_a = "10.77." + std::to_string(n % 250) + ".1";
  ip_b = "10.77." + std::to_string(n % 250) + ".2";
  std::string out;
  std::string script =
      "set -e; ip netns add " + ns_a + "; ip netns add " + ns_b +
      "; ip link add " + if_a + " netns " + ns_a + " type veth peer name " + if_b + " netns " + ns_b +
      "; ip -n " + ns_a + " addr add " + ip_a + "/24 dev " + if_a +
      "; ip -n " + ns_b + " addr add " + ip_b + "/24 dev " + if_b +
      "; ip -n " + ns_a + " link set lo up; ip -n " + ns_b + " link set lo up" +
      "; ip -n " + ns_a + " link set " + if_a + " up; ip -n " + ns_b + " link set " + if_b + " up" +
      // No IPv6 on the test link: its neighbour discovery and MLD would add noise.
      "; ip netns exec " + ns_a + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1" +
      "; ip netns exec " + ns_b + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1" +
      "; ip netns exec " + ns_a + " ping -c1 -W2 " + ip_b + " >/dev/null";
  if (shell("sh -c '" + script + "'", &out) != 0) {
    error_ = "network namespace setup failed: " + out;
    return;
  }
  ok_ = true;
}

VethPair::~VethPair() {
  shell("ip netns del " + ns_a + "; ip netns del " + ns_b);
}

UnreadTap::UnreadTap(const std::string& netns, const std::string& tap_name) : name(tap_name), netns_(netns) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    error_ = "pipe: " + std::string(strerror(errno));
    return;
  }
  holder_ = fork();
  if (holder_ == 0) {
    close(ready[0]);
    int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(1);
    int tun = open("/dev/net/tun", O_RDWR);
    struct ifreq ifr = {};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    std::strncpy(ifr.ifr_name, tap_name.c_str(), IFNAMSIZ - 1);
    if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr) != 0) _exit(2);
    if (write(ready[1], "x", 1) != 1) _exit(3);
    pause();  // holds the queue open, never reads it
    _exit(0);
  }
  // Closed here so a child that fails ends the read below with EOF.
  close(ready[1]);
  char c;
  const bool opened = holder_ > 0 && read(ready[0], &c, 1) == 1;
  close(ready[0]);
  if (!opened) {
    error_ = "the tap " + tap_name + " could not be created in " + netns;
    return;
  }
  std::string out;
  if (shell("ip -n " + netns + " link set " + tap_name + " txqueuelen 16 up && ip -n " + netns + " addr add 10.78.0.1/24 dev " +
                tap_name + " && ip -n " + netns + " neigh add " + peer_ip + " lladdr 02:00:00:00:00:02 dev " + tap_name,
            &out) != 0) {
    error_ = "tap set-up failed: " + out;
    return;
  }
  ok_ = true;
}

UnreadTap::~UnreadTap() {
  if (holder_ > 0) {
    kill(holder_, SIGKILL);
    waitpid(holder_, nullptr, 0);
  }
}

int64_t UnreadTap::txDropped() const {
  std::string out;
  if (shell("ip netns exec " + netns_ + " cat /sys/class/net/" + name + "/statistics/tx_dropped", &out) != 0) return -1;
  return std::strtoll(out.c_str(), nullptr, 10);
}

int tcpConnectRefused(const std::string& ip, uint16_t port, int count) {
  int refused = 0;
  for (int i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno == ECONNREFUSED) ++refused;
    close(fd);
  }
  return refused;
}

int udpSend(const std::string& ip, uint16_t port, int count, size_t payload, const std::string& src_ip) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (!src_ip.empty()) {
    sockaddr_in src = {};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, src_ip.c_str(), &src.sin_addr);
    bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src));
  }
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  std::string data(payload, 'x');
  int sent = 0;
  for (int i = 0; i < count; ++i) {
    // ICMP port-unreachable replies make later sends fail with ECONNREFUSED
    // only on connected sockets; sendto on an unconnected one keeps going.
    if (sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
        static_cast<ssize_t>(data.size()))
      ++sent;
  }
  close(fd);
  return sent;
}

RecorderProcess::~RecorderProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

void RecorderProcess::collect() {
  char buf[4096];
  while (true) {
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) break;
    output_.append(buf, static_cast<size_t>(n));
  }
}

bool RecorderProcess::start(const std::vector<std::string>& args, int timeout_seconds) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return false;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    std::vector<char*> argv;
    static std::string bin = NT_RECORD_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  fd_ = pipefd[0];
  fcntl(fd_, F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    collect();
    // The recorder prints its attach choices after attaching, before draining.
    if (output_.find(" via ") != std::string::npos) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      collect();
      return false;
    }
    struct pollfd p = {fd_, POLLIN, 0};
    poll(&p, 1, 50);
  }
  return false;
}

int RecorderProcess::stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  fcntl(fd_, F_SETFL, 0);
  collect();
  close(fd_);
  fd_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
}

}  // namespace nettrail::testing
