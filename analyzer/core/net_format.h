#pragma once
// Text forms of packet fields as the recording stores them (drop.capnp):
// addresses in big-endian halves, MACs in the low 48 bits.
#include <cstdint>
#include <string>
#include <string_view>

namespace nettrail {

constexpr uint8_t kIpprotoIcmp = 1;
constexpr uint8_t kIpprotoTcp = 6;
constexpr uint8_t kIpprotoUdp = 17;
constexpr uint8_t kIpprotoIcmpv6 = 58;
constexpr uint8_t kIpprotoSctp = 132;

// An IPv6 address from its big-endian halves; IPv4-mapped (::ffff:a.b.c.d)
// addresses print as the dotted quad.
std::string formatIp(uint64_t hi, uint64_t lo);
// aa:bb:cc:dd:ee:ff from a 48-bit value (0xaabbccddeeff).
std::string formatMac(uint64_t mac);
// TCP flags as letters in the order F S R P A U E C, e.g. "SA", "FA", "PA"; "-" if none.
std::string formatTcpFlags(uint8_t flags);
// "IPv4", "IPv6", "ARP", "other" for l3Kind 4, 6, 1, 2; empty for 0 and unknown kinds.
std::string_view l3KindName(uint8_t kind);
// "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", or the number as text.
std::string_view l4ProtoName(uint8_t proto);

}  // namespace nettrail
