// Traffic helpers for the QEMU rig's scenarios (tests/vm/scenarios), where no
// nested VM can run under TCG and no iperf is installed.
//
//   nt_rignet tap-vm TAP IP SECONDS
//       Plays the guest side of a VM NIC: attaches to the existing tap device
//       TAP (IFF_TAP | IFF_NO_PI, as QEMU does without vhost) and answers, with
//       the MAC 02:00:00:00:00:NN (NN = last byte of IP), ARP requests for IP and
//       ICMP echo requests to IP. Every frame the host sends is read from the
//       fd (tun_net_xmit -> tun_do_read); every answer is written to it
//       (tun_get_user -> netif_receive_skb on TAP -> the bridge). Runs SECONDS
//       (or until SIGTERM/SIGINT), then prints "frames_read N arp_replies N
//       echo_replies N".
//   nt_rignet tcp-sink PORT
//       Accepts one TCP connection on PORT, reads until EOF, prints
//       "received BYTES seconds S mbit_s R".
//   nt_rignet tcp-send IP PORT SECONDS
//       Connects to IP:PORT, writes 64 KiB buffers for SECONDS, prints
//       "sent BYTES seconds S mbit_s R".
//
// Exit status: 0 on success, 1 on a system error (named on stderr), 2 usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

double nowSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int fail(const char* what) {
  std::fprintf(stderr, "nt_rignet: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: nt_rignet tap-vm TAP IP SECONDS | tcp-sink PORT | tcp-send IP PORT SECONDS\n"
               "  tap-vm: answer ARP and ICMP echo for IP on the existing tap device TAP\n"
               "  tcp-sink/tcp-send: one TCP stream, bytes and Mbit/s on stdout\n");
  return 2;
}

bool parseSeconds(const char* text, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0' && out > 0;
}

bool parsePort(const char* text, uint16_t& out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

uint16_t checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

int tapVm(const char* tap, const char* ip_text, double seconds) {
  in_addr ip{};
  if (std::strlen(tap) >= IFNAMSIZ) {
    std::fprintf(stderr, "nt_rignet: tap name '%s' is longer than %d bytes\n", tap, IFNAMSIZ - 1);
    return 2;
  }
  if (inet_pton(AF_INET, ip_text, &ip) != 1) {
    std::fprintf(stderr, "nt_rignet: '%s' is not an IPv4 address\n", ip_text);
    return 2;
  }
  const uint8_t* ipb = reinterpret_cast<const uint8_t*>(&ip.s_addr);
  const uint8_t mac[6] = {0x02, 0, 0, 0, 0, ipb[3]};

  const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail("open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return fail("TUNSETIFF (create the tap first: ip tuntap add NAME mode tap)");
  std::printf("attached %s\n", ifr.ifr_name);
  std::fflush(stdout);

  uint64_t frames = 0, arp = 0, echo = 0;
  std::vector<uint8_t> buf(65536);
  const double deadline = nowSeconds() + seconds;
  while (!g_stop) {
    const double left = deadline - nowSeconds();
    if (left <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(left * 1000) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("poll");
    }
    if (n == 0) continue;
    const ssize_t len = read(fd, buf.data(), buf.size());
    if (len < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail("read tap");
    }
    ++frames;
    uint8_t* f = buf.data();
    if (len < 14) continue;
    const uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
    if (type == 0x0806 && len >= 42) {
      uint8_t* a = f + 14;
      // Ethernet/IPv4 request for our address.
      if (a[6] != 0 || a[7] != 1 || std::memcmp(a + 24, ipb, 4) != 0) continue;
      uint8_t sender_mac[6], sender_ip[4];
      std::memcpy(sender_mac, a + 8, 6);
      std::memcpy(sender_ip, a + 14, 4);
      a[7] = 2;
      std::memcpy(a + 8, mac, 6);
      std::memcpy(a + 14, ipb, 4);
      std::memcpy(a + 18, sender_mac, 6);
      std::memcpy(a + 24, sender_ip, 4);
      std::memcpy(f, sender_mac, 6);
      std::memcpy(f + 6, mac, 6);
      if (write(fd, f, 42) != 42) return fail("write ARP reply");
      ++arp;
    } else if (type == 0x0800 && len >= 34) {
      uint8_t* iph = f + 14;
      const size_t ihl = static_cast<size_t>(iph[0] & 0x0f) * 4;
      const size_t total = static_cast<size_t>(iph[2] << 8 | iph[3]);
      if (ihl < 20 || total < ihl + 8 || 14 + total > static_cast<size_t>(len)) continue;
      if (iph[9] != 1 || std::memcmp(iph + 16, ipb, 4) != 0) continue;
      uint8_t* icmp = iph + ihl;
      if (icmp[0] != 8) continue;  // echo request only
      uint8_t tmp[6];
      std::memcpy(tmp, f + 6, 6);
      std::memcpy(f, tmp, 6);
      std::memcpy(f + 6, mac, 6);
      std::memcpy(iph + 16, iph + 12, 4);
      std::memcpy(iph + 12, ipb, 4);
      iph[8] = 64;
      put16(iph + 10, 0);
      put16(iph + 10, checksum(iph, ihl));
      icmp[0] = 0;
      put16(icmp + 2, 0);
      put16(icmp + 2, checksum(icmp, total - ihl));
      const ssize_t out = static_cast<ssize_t>(14 + total);
      if (write(fd, f, static_cast<size_t>(out)) != out) return fail("write echo reply");
      ++echo;
    }
  }
  std::printf("frames_read %llu arp_replies %llu echo_replies %llu\n", static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(arp), static_cast<unsigned long long>(echo));
  close(fd);
  return 0;
}

void printRate(const char* verb, uint64_t bytes, double seconds) {
  std::printf("%s %llu seconds %.3f mbit_s %.1f\n", verb, static_cast<unsigned long long>(bytes), seconds,
              seconds > 0 ? static_cast<double>(bytes) * 8 / seconds / 1e6 : 0.0);
}

int tcpSink(uint16_t port) {
  const int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) return fail("socket");
  const int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return fail("bind");
  if (listen(ls, 1) < 0) return fail("listen");
  std::printf("listening %u\n", port);
  std::fflush(stdout);
  const int s = accept(ls, nullptr, nullptr);
  if (s < 0) return fail("accept");
  std::vector<char> buf(1 << 16);
  uint64_t bytes = 0;
  double first = 0;
  for (;;) {
    const ssize_t n = read(s, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("read");
    }
    if (n == 0) break;
    if (bytes == 0) first = nowSeconds();
    bytes += static_cast<uint64_t>(n);
  }
  printRate("received", bytes, bytes ? nowSeconds() - first : 0);
  close(s);
  close(ls);
  return 0;
}

int tcpSend(const char* ip_text, uint16_t port, double seconds) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, ip_text, &addr.sin_addr) != 1) {
    std::fprintf(stderr, "nt_rignet: '%s' is not an IPv4 address\n", ip_text);
    return 2;
  }
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail("socket");
  // The sink may still be starting: retry for up to 10 s.
  int rc = -1;
  for (int i = 0; i < 100 && rc < 0; ++i) {
    rc = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc < 0 && errno != ECONNREFUSED) return fail("connect");
    if (rc < 0) usleep(100 * 1000);
  }
  if (rc < 0) return fail("connect");
  std::vector<char> buf(1 << 16, 'n');
  uint64_t bytes = 0;
  const double start = nowSeconds();
  double now = start;
  while (!g_stop && now - start < seconds) {
    const ssize_t n = write(s, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    bytes += static_cast<uint64_t>(n);
    now = nowSeconds();
  }
  shutdown(s, SHUT_WR);
  // Wait for the sink to close, so the bytes counted were delivered.
  char c;
  while (read(s, &c, 1) > 0) {
  }
  printRate("sent", bytes, nowSeconds() - start);
  close(s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  struct sigaction sa{};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  const std::string mode = argv[1];
  double seconds = 0;
  uint16_t port = 0;
  if (mode == "tap-vm" && argc == 5) {
    if (!parseSeconds(argv[4], seconds)) return usage();
    return tapVm(argv[2], argv[3], seconds);
  }
  if (mode == "tcp-sink" && argc == 3) {
    if (!parsePort(argv[2], port)) return usage();
    return tcpSink(port);
  }
  if (mode == "tcp-send" && argc == 5) {
    if (!parsePort(argv[3], port) || !parseSeconds(argv[4], seconds)) return usage();
    return tcpSend(argv[2], port, seconds);
  }
  return usage();
}
