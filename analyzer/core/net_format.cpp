#include "core/net_format.h"

#include <arpa/inet.h>

#include <cstdio>

namespace nettrail {

std::string formatIp(uint64_t hi, uint64_t lo) {
  if (hi == 0 && (lo >> 32) == 0xffffu) {
    const uint32_t v4 = static_cast<uint32_t>(lo);
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", v4 >> 24, (v4 >> 16) & 0xff, (v4 >> 8) & 0xff, v4 & 0xff);
    return buf;
  }
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    bytes[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, bytes, buf, sizeof(buf))) return "?";
  return buf;
}

std::string formatMac(uint64_t mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>((mac >> 40) & 0xff),
                static_cast<unsigned>((mac >> 32) & 0xff), static_cast<unsigned>((mac >> 24) & 0xff),
                static_cast<unsigned>((mac >> 16) & 0xff), static_cast<unsigned>((mac >> 8) & 0xff),
                static_cast<unsigned>(mac & 0xff));
  return buf;
}

std::string formatTcpFlags(uint8_t flags) {
  // Bit order of the TCP header: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08,
  // ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
  static constexpr char kLetters[] = {'F', 'S', 'R', 'P', 'A', 'U', 'E', 'C'};
  std::string out;
  for (int bit = 0; bit < 8; ++bit)
    if (flags & (1u << bit)) out += kLetters[bit];
  return out.empty() ? "-" : out;
}

std::string_view l3KindName(uint8_t kind) {
  switch (kind) {
    case 4: return "IPv4";
    case 6: return "IPv6";
    case 1: return "ARP";
    case 2: return "other";
    default: return {};
  }
}

std::string_view l4ProtoName(uint8_t proto) {
  switch (proto) {
    case kIpprotoTcp: return "TCP";
    case kIpprotoUdp: return "UDP";
    case kIpprotoIcmp: return "ICMP";
    case kIpprotoIcmpv6: return "ICMPv6";
    case kIpprotoSctp: return "SCTP";
    default: break;
  }
  // Numbers as text, from a table so the views are stable (bound as static text).
  static const std::string* const kNumbers = [] {
    auto* numbers = new std::string[256];
    for (int i = 0; i < 256; ++i) numbers[i] = std::to_string(i);
    return numbers;
  }();
  return kNumbers[proto];
}

}  // namespace nettrail
