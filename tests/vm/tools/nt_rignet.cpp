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
//   nt_rignet vhost-vm TAP IP SECONDS [--sndbuf BYTES]
//       The same guest with the NIC served by vhost-net, as QEMU sets it up:
//       TAP opened IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (header size set with
//       TUNSETVNETHDRSZ), /dev/vhost-net owned by this process (VHOST_SET_OWNER
//       starts the vhost worker, comm "vhost-PID"), features VERSION_1 and
//       MRG_RXBUF when offered, one memory region (guest physical address =
//       our address) holding an rx and a tx split virtqueue of 256 descriptors
//       with a 4 KiB buffer each, kick/call eventfds, the tap as backend of
//       both queues. This process is the guest driver: it keeps every rx
//       buffer posted, reads frames from the rx used ring when the call
//       eventfd fires and puts its answers (virtio-net header + frame) in the
//       tx ring, then kicks. Frames host -> VM: tun_net_xmit queues them, the
//       vhost worker reads them (handle_rx -> tun_recvmsg); VM -> host: the
//       worker sends them (handle_tx -> tun_sendmsg), batched as XDP buffers
//       when the tap's sndbuf is unlimited (the default), one by one through
//       tun_get_user with --sndbuf (TUNSETSNDBUF). Prints "attached TAP vhost
//       pid PID ..." once running and, at the end, "frames_read N arp_replies
//       N echo_replies N tx_completed N tx_ring_full N tx_kicks N
//       max_tx_per_kick N" (answers to the frames of one wakeup go out with one
//       kick, which vhost sends as one batch).
//   nt_rignet ping-burst IP COUNT
//       Sends one ICMP echo request to IP (raw socket), waits for its reply
//       (ARP and datapath flows in place), then sends COUNT more back to back
//       (sequence 1..COUNT) and waits up to 10 s for their replies. Prints
//       "sent N received M"; exit status 1 unless every request was answered.
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
// The virtio UAPI headers are C: VIRTIO_RING_NO_LEGACY drops vring_init()
// (void* conversions) and one virtio_net.h struct has a member named "class".
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <linux/virtio_ring.h>
#define class class_
#include <linux/virtio_net.h>
#undef class
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
               "usage: nt_rignet tap-vm TAP IP SECONDS | vhost-vm TAP IP SECONDS [--sndbuf BYTES]\n"
               "                 | ping-burst IP COUNT | tcp-sink PORT | tcp-send IP PORT SECONDS\n"
               "  tap-vm: answer ARP and ICMP echo for IP on the existing tap device TAP\n"
               "  vhost-vm: the same as a virtio-net guest whose queues /dev/vhost-net serves\n"
               "  ping-burst: one echo request, then COUNT back to back; all must be answered\n"
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

constexpr size_t kArpLen = 42;

// The "VM"'s answer to the frame f (len bytes, Ethernet), built in place: an
// ARP reply to a request for ip, or an ICMP echo reply to an echo request to
// ip, from mac. Returns the reply's length, 0 for a frame that needs no
// answer (isArp() tells the two answers apart).
size_t answerFrame(uint8_t* f, size_t len, const uint8_t mac[6], const uint8_t ip[4]) {
  if (len < 14) return 0;
  const uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (type == 0x0806 && len >= kArpLen) {
    uint8_t* a = f + 14;
    // Ethernet/IPv4 request for our address.
    if (a[6] != 0 || a[7] != 1 || std::memcmp(a + 24, ip, 4) != 0) return 0;
    uint8_t sender_mac[6], sender_ip[4];
    std::memcpy(sender_mac, a + 8, 6);
    std::memcpy(sender_ip, a + 14, 4);
    a[7] = 2;
    std::memcpy(a + 8, mac, 6);
    std::memcpy(a + 14, ip, 4);
    std::memcpy(a + 18, sender_mac, 6);
    std::memcpy(a + 24, sender_ip, 4);
    std::memcpy(f, sender_mac, 6);
    std::memcpy(f + 6, mac, 6);
    return kArpLen;
  }
  if (type != 0x0800 || len < 34) return 0;
  uint8_t* iph = f + 14;
  const size_t ihl = static_cast<size_t>(iph[0] & 0x0f) * 4;
  const size_t total = static_cast<size_t>(iph[2] << 8 | iph[3]);
  if (ihl < 20 || total < ihl + 8 || 14 + total > len) return 0;
  if (iph[9] != 1 || std::memcmp(iph + 16, ip, 4) != 0) return 0;
  uint8_t* icmp = iph + ihl;
  if (icmp[0] != 8) return 0;  // echo request only
  std::memcpy(f, f + 6, 6);
  std::memcpy(f + 6, mac, 6);
  std::memcpy(iph + 16, iph + 12, 4);
  std::memcpy(iph + 12, ip, 4);
  iph[8] = 64;
  put16(iph + 10, 0);
  put16(iph + 10, checksum(iph, ihl));
  icmp[0] = 0;
  put16(icmp + 2, 0);
  put16(icmp + 2, checksum(icmp, total - ihl));
  return 14 + total;
}

bool isArp(const uint8_t* f) { return f[12] == 0x08 && f[13] == 0x06; }

// The "VM"'s NIC: tap TAP opened with `flags` (the tap must exist: ip tuntap
// add NAME mode tap), its IPv4 address and MAC 02:00:00:00:00:<last IP byte>.
struct VmNic {
  int fd = -1;
  char name[IFNAMSIZ] = {};  // as the kernel reports it
  in_addr ip{};
  uint8_t mac[6] = {};
  const uint8_t* ipBytes() const { return reinterpret_cast<const uint8_t*>(&ip.s_addr); }
};

// 0 on success, else the exit status (the reason printed).
int openVmNic(const char* tap, const char* ip_text, short flags, VmNic& nic) {
  if (std::strlen(tap) >= IFNAMSIZ) {
    std::fprintf(stderr, "nt_rignet: tap name '%s' is longer than %d bytes\n", tap, IFNAMSIZ - 1);
    return 2;
  }
  if (inet_pton(AF_INET, ip_text, &nic.ip) != 1) {
    std::fprintf(stderr, "nt_rignet: '%s' is not an IPv4 address\n", ip_text);
    return 2;
  }
  const uint8_t mac[6] = {0x02, 0, 0, 0, 0, nic.ipBytes()[3]};
  std::memcpy(nic.mac, mac, sizeof(mac));
  nic.fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (nic.fd < 0) return fail("open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = flags;
  std::strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
  if (ioctl(nic.fd, TUNSETIFF, &ifr) < 0) return fail("TUNSETIFF (create the tap first: ip tuntap add NAME mode tap)");
  std::memcpy(nic.name, ifr.ifr_name, sizeof(nic.name));
  return 0;
}

int tapVm(const char* tap, const char* ip_text, double seconds) {
  VmNic nic;
  if (int rc = openVmNic(tap, ip_text, IFF_TAP | IFF_NO_PI, nic)) return rc;
  const int fd = nic.fd;
  std::printf("attached %s\n", nic.name);
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
    const size_t out = answerFrame(buf.data(), static_cast<size_t>(len), nic.mac, nic.ipBytes());
    if (out == 0) continue;
    if (write(fd, buf.data(), out) != static_cast<ssize_t>(out)) return fail("write reply");
    ++(isArp(buf.data()) ? arp : echo);
  }
  std::printf("frames_read %llu arp_replies %llu echo_replies %llu\n", static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(arp), static_cast<unsigned long long>(echo));
  close(fd);
  return 0;
}

// ---- vhost-vm: a virtio-net guest driver over /dev/vhost-net ----

// Ring size of both virtqueues and size of each buffer (a whole frame plus
// the virtio-net header fits: no GSO/offloads are negotiated).
constexpr unsigned kRingSize = 256;
constexpr size_t kBufSize = 4096;
constexpr size_t kPage = 4096;

// One split virtqueue in the shared area: descriptor table, avail ring, used
// ring (each page-aligned) and one buffer per descriptor.
struct VirtQueue {
  unsigned index = 0;  // 0 = rx, 1 = tx (virtio-net queue pair 0)
  vring_desc* desc = nullptr;
  vring_avail* avail = nullptr;
  vring_used* used = nullptr;
  uint8_t* buffers = nullptr;
  int kick = -1, call = -1;  // eventfds: driver -> vhost, vhost -> driver
  uint16_t avail_idx = 0;    // next avail slot the driver fills
  uint16_t used_idx = 0;     // next used entry the driver reads
  std::vector<uint16_t> free_desc;
  uint8_t* buffer(unsigned id) const { return buffers + static_cast<size_t>(id) * kBufSize; }
};

size_t queueBytes() {
  const size_t desc = sizeof(vring_desc) * kRingSize;
  const size_t avail = sizeof(vring_avail) + sizeof(__virtio16) * (kRingSize + 1);
  const size_t used = sizeof(vring_used) + sizeof(vring_used_elem) * kRingSize + sizeof(__virtio16);
  auto pages = [](size_t b) { return (b + kPage - 1) / kPage * kPage; };
  return pages(desc) + pages(avail) + pages(used) + kRingSize * kBufSize;
}

void layoutQueue(VirtQueue& q, uint8_t* base) {
  auto pages = [](size_t b) { return (b + kPage - 1) / kPage * kPage; };
  q.desc = reinterpret_cast<vring_desc*>(base);
  base += pages(sizeof(vring_desc) * kRingSize);
  q.avail = reinterpret_cast<vring_avail*>(base);
  base += pages(sizeof(vring_avail) + sizeof(__virtio16) * (kRingSize + 1));
  q.used = reinterpret_cast<vring_used*>(base);
  base += pages(sizeof(vring_used) + sizeof(vring_used_elem) * kRingSize + sizeof(__virtio16));
  q.buffers = base;
}

// Makes descriptor `id` available to the device (the avail index is published
// by publish()). Guest physical addresses equal our addresses: the memory
// table maps the area one to one.
void offer(VirtQueue& q, uint16_t id, uint32_t len, bool device_writes) {
  q.desc[id].addr = reinterpret_cast<uintptr_t>(q.buffer(id));
  q.desc[id].len = len;
  q.desc[id].flags = device_writes ? VRING_DESC_F_WRITE : 0;
  q.desc[id].next = 0;
  q.avail->ring[q.avail_idx % kRingSize] = id;
  ++q.avail_idx;
}

int publish(VirtQueue& q) {
  __atomic_store_n(&q.avail->idx, q.avail_idx, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  const uint64_t one = 1;
  if (write(q.kick, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) return fail("write kick eventfd");
  return 0;
}

// vhost ioctl with a clear error naming it.
#define NT_VHOST_IOCTL(fd, req, arg, what)                                              \
  do {                                                                                 \
    if (ioctl(fd, req, arg) < 0) {                                                     \
      std::fprintf(stderr, "nt_rignet: %s (%s): %s\n", #req, what, std::strerror(errno)); \
      return 1;                                                                        \
    }                                                                                  \
  } while (0)

int vhostVm(const char* tap, const char* ip_text, double seconds, long sndbuf) {
  // The tap, as QEMU opens it for vhost: with a virtio-net header on every frame.
  VmNic nic;
  if (int rc = openVmNic(tap, ip_text, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, nic)) return rc;
  const int tapfd = nic.fd;
  if (ioctl(tapfd, TUNSETOFFLOAD, 0) < 0) return fail("TUNSETOFFLOAD 0");
  if (sndbuf > 0) {
    int sb = static_cast<int>(sndbuf);
    if (ioctl(tapfd, TUNSETSNDBUF, &sb) < 0) return fail("TUNSETSNDBUF");
  }
  int sb_now = 0;
  if (ioctl(tapfd, TUNGETSNDBUF, &sb_now) < 0) return fail("TUNGETSNDBUF");

  const int vfd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
  if (vfd < 0) return fail("open /dev/vhost-net (modprobe vhost_net)");
  NT_VHOST_IOCTL(vfd, VHOST_SET_OWNER, nullptr, "make this process the owner; starts the vhost worker");
  uint64_t offered = 0;
  NT_VHOST_IOCTL(vfd, VHOST_GET_FEATURES, &offered, "features vhost-net offers");
  // Like QEMU with a tap that has IFF_VNET_HDR: the socket carries the header
  // (no VHOST_NET_F_VIRTIO_NET_HDR), virtio 1.0 layout, mergeable rx buffers.
  const uint64_t wanted = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF);
  uint64_t features = offered & wanted;
  NT_VHOST_IOCTL(vfd, VHOST_SET_FEATURES, &features, "negotiated features");
  const int hdr_len = features ? static_cast<int>(sizeof(virtio_net_hdr_mrg_rxbuf))
                               : static_cast<int>(sizeof(virtio_net_hdr));
  if (ioctl(tapfd, TUNSETVNETHDRSZ, &hdr_len) < 0) return fail("TUNSETVNETHDRSZ");

  // One area for both queues; its memory table region maps guest physical = user address.
  const size_t qbytes = queueBytes();
  const size_t area_len = 2 * qbytes;
  void* area = mmap(nullptr, area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (area == MAP_FAILED) return fail("mmap the guest memory area");
  std::memset(area, 0, area_len);
  std::vector<uint8_t> mem_buf(sizeof(vhost_memory) + sizeof(vhost_memory_region));
  auto* mem = reinterpret_cast<vhost_memory*>(mem_buf.data());
  mem->nregions = 1;
  mem->regions[0].guest_phys_addr = reinterpret_cast<uintptr_t>(area);
  mem->regions[0].memory_size = area_len;
  mem->regions[0].userspace_addr = reinterpret_cast<uintptr_t>(area);
  NT_VHOST_IOCTL(vfd, VHOST_SET_MEM_TABLE, mem, "one region: rings and buffers");

  VirtQueue vq[2];
  for (unsigned i = 0; i < 2; ++i) {
    VirtQueue& q = vq[i];
    q.index = i;
    layoutQueue(q, static_cast<uint8_t*>(area) + i * qbytes);
    q.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    q.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q.kick < 0 || q.call < 0) return fail("eventfd");
    const char* what = i == 0 ? "rx queue" : "tx queue";
    vhost_vring_state num{i, kRingSize};
    NT_VHOST_IOCTL(vfd, VHOST_SET_VRING_NUM, &num, what);
    vhost_vring_state base{i, 0};
    NT_VHOST_IOCTL(vfd, VHOST_SET_VRING_BASE, &base, what);
    vhost_vring_addr addr{};
    addr.index = i;
    addr.desc_user_addr = reinterpret_cast<uintptr_t>(q.desc);
    addr.avail_user_addr = reinterpret_cast<uintptr_t>(q.avail);
    addr.used_user_addr = reinterpret_cast<uintptr_t>(q.used);
    NT_VHOST_IOCTL(vfd, VHOST_SET_VRING_ADDR, &addr, what);
    vhost_vring_file kick{i, q.kick};
    NT_VHOST_IOCTL(vfd, VHOST_SET_VRING_KICK, &kick, what);
    vhost_vring_file call{i, q.call};
    NT_VHOST_IOCTL(vfd, VHOST_SET_VRING_CALL, &call, what);
  }
  // The rx queue gets every buffer; the tx queue's are free until a reply needs one.
  for (uint16_t id = 0; id < kRingSize; ++id) offer(vq[0], id, kBufSize, true);
  for (uint16_t id = 0; id < kRingSize; ++id) vq[1].free_desc.push_back(static_cast<uint16_t>(kRingSize - 1 - id));
  for (unsigned i = 0; i < 2; ++i) {
    vhost_vring_file backend{i, tapfd};
    NT_VHOST_IOCTL(vfd, VHOST_NET_SET_BACKEND, &backend, i == 0 ? "rx queue -> tap" : "tx queue -> tap");
  }
  if (publish(vq[0])) return 1;
  std::printf("attached %s vhost pid %d features 0x%llx vnet_hdr %d sndbuf %d\n", nic.name,
              static_cast<int>(getpid()), static_cast<unsigned long long>(features), hdr_len, sb_now);
  std::fflush(stdout);

  uint64_t frames = 0, arp = 0, echo = 0, tx_done = 0, tx_full = 0, tx_kicks = 0, max_per_kick = 0;
  const double deadline = nowSeconds() + seconds;
  VirtQueue& rx = vq[0];
  VirtQueue& tx = vq[1];
  while (!g_stop) {
    const double left = deadline - nowSeconds();
    if (left <= 0) break;
    pollfd pfd[2] = {{rx.call, POLLIN, 0}, {tx.call, POLLIN, 0}};
    const int n = poll(pfd, 2, static_cast<int>(left * 1000) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("poll");
    }
    uint64_t count = 0;
    for (const pollfd& p : pfd)
      if ((p.revents & POLLIN) && read(p.fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return fail("read call eventfd");
    // Transmitted frames: their descriptors are free again.
    for (uint16_t end = __atomic_load_n(&tx.used->idx, __ATOMIC_ACQUIRE); tx.used_idx != end; ++tx.used_idx) {
      tx.free_desc.push_back(static_cast<uint16_t>(tx.used->ring[tx.used_idx % kRingSize].id));
      ++tx_done;
    }
    // Received frames: answer, then give the buffer back to the rx queue.
    bool reposted = false;
    uint64_t replies = 0;
    for (uint16_t end = __atomic_load_n(&rx.used->idx, __ATOMIC_ACQUIRE); rx.used_idx != end; ++rx.used_idx) {
      const vring_used_elem e = rx.used->ring[rx.used_idx % kRingSize];
      const uint16_t id = static_cast<uint16_t>(e.id);
      ++frames;
      if (id < kRingSize && e.len > static_cast<uint32_t>(hdr_len) && e.len <= kBufSize) {
        uint8_t* frame = rx.buffer(id) + hdr_len;
        const size_t out = answerFrame(frame, e.len - hdr_len, nic.mac, nic.ipBytes());
        if (out > 0 && tx.free_desc.empty()) {
          ++tx_full;
        } else if (out > 0) {
          const uint16_t tid = tx.free_desc.back();
          tx.free_desc.pop_back();
          std::memset(tx.buffer(tid), 0, hdr_len);  // no checksum offload, no GSO
          std::memcpy(tx.buffer(tid) + hdr_len, frame, out);
          offer(tx, tid, static_cast<uint32_t>(hdr_len + out), false);
          ++(isArp(frame) ? arp : echo);
          ++replies;
        }
      }
      if (id < kRingSize) {
        offer(rx, id, kBufSize, true);
        reposted = true;
      }
    }
    // All answers to the frames of one wakeup go out with one avail index
    // update and one kick, so vhost finds them together (one batch).
    if (replies > 0) {
      if (publish(tx)) return 1;
      ++tx_kicks;
      max_per_kick = std::max(max_per_kick, replies);
    }
    if (reposted && publish(rx)) return 1;
  }
  std::printf("frames_read %llu arp_replies %llu echo_replies %llu tx_completed %llu tx_ring_full %llu "
              "tx_kicks %llu max_tx_per_kick %llu\n",
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(arp),
              static_cast<unsigned long long>(echo), static_cast<unsigned long long>(tx_done),
              static_cast<unsigned long long>(tx_full), static_cast<unsigned long long>(tx_kicks),
              static_cast<unsigned long long>(max_per_kick));
  close(vfd);
  close(tapfd);
  munmap(area, area_len);
  return 0;
}

// Echo requests to dst (raw ICMP socket s, echo id `id`) with sequence
// numbers [first, last], back to back.
int sendEchoes(int s, const sockaddr_in& dst, uint16_t id, unsigned first, unsigned last) {
  for (unsigned seq = first; seq <= last; ++seq) {
    uint8_t pkt[64] = {};
    pkt[0] = 8;  // echo request
    put16(pkt + 4, id);
    put16(pkt + 6, static_cast<uint16_t>(seq));
    for (size_t i = 8; i < sizeof pkt; ++i) pkt[i] = static_cast<uint8_t>(i);
    put16(pkt + 2, checksum(pkt, sizeof pkt));
    if (sendto(s, pkt, sizeof pkt, 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) !=
        static_cast<ssize_t>(sizeof pkt))
      return fail("send echo request");
  }
  return 0;
}

// Waits up to `seconds` until every sequence number in got[] has its echo
// reply from dst; returns how many have.
unsigned awaitEchoes(int s, const sockaddr_in& dst, uint16_t id, std::vector<bool>& got, double seconds) {
  const double deadline = nowSeconds() + seconds;
  uint8_t buf[2048];
  auto count = [&] { return static_cast<unsigned>(std::count(got.begin(), got.end(), true)); };
  while (count() < got.size() && !g_stop) {
    const double left = deadline - nowSeconds();
    if (left <= 0) break;
    pollfd pfd{s, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left * 1000) + 1) <= 0) continue;
    const ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 20) continue;
    const size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
    if (static_cast<size_t>(n) < ihl + 8 || std::memcmp(buf + 12, &dst.sin_addr, 4) != 0) continue;
    const uint8_t* icmp = buf + ihl;
    const unsigned seq = static_cast<unsigned>(icmp[6] << 8 | icmp[7]);
    if (icmp[0] != 0 || static_cast<uint16_t>(icmp[4] << 8 | icmp[5]) != id || seq >= got.size()) continue;
    got[seq] = true;
  }
  return count();
}

int pingBurst(const char* ip_text, unsigned burst) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  if (inet_pton(AF_INET, ip_text, &dst.sin_addr) != 1) {
    std::fprintf(stderr, "nt_rignet: '%s' is not an IPv4 address\n", ip_text);
    return 2;
  }
  const int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (s < 0) return fail("raw ICMP socket (needs root)");
  const uint16_t id = static_cast<uint16_t>(getpid());
  std::vector<bool> got(burst + 1, false);
  // The lead request: its reply means ARP and the datapath flows are in place.
  if (sendEchoes(s, dst, id, 0, 0)) return 1;
  std::vector<bool> lead(1, false);
  if (awaitEchoes(s, dst, id, lead, 10) != 1) {
    std::fprintf(stderr, "nt_rignet: no echo reply from %s to the lead request\n", ip_text);
    return 1;
  }
  got[0] = true;
  if (sendEchoes(s, dst, id, 1, burst)) return 1;
  const unsigned received = awaitEchoes(s, dst, id, got, 10);
  std::printf("sent %u received %u\n", burst + 1, received);
  close(s);
  return received == burst + 1 ? 0 : 1;
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
  if (mode == "vhost-vm" && (argc == 5 || (argc == 7 && std::string(argv[5]) == "--sndbuf"))) {
    long sndbuf = 0;
    if (argc == 7) {
      char* end = nullptr;
      sndbuf = std::strtol(argv[6], &end, 10);
      if (end == argv[6] || *end != '\0' || sndbuf < 4096 || sndbuf > INT32_MAX) return usage();
    }
    if (!parseSeconds(argv[4], seconds)) return usage();
    return vhostVm(argv[2], argv[3], seconds, sndbuf);
  }
  if (mode == "ping-burst" && argc == 4) {
    char* end = nullptr;
    const long burst = std::strtol(argv[3], &end, 10);
    if (end == argv[3] || *end != '\0' || burst < 1 || burst > 1000) return usage();
    return pingBurst(argv[2], static_cast<unsigned>(burst));
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
