# Drop family on disk: skb:kfree_skb events. Details are columnar (every list of
# a DropEvents has the same length, one entry per drop) so zstd sees runs of
# similar values; see recording.capnp for framing and time base.
@0xd7c2b6a1f3e45b90;

struct DropBatch {
  union {
    events @0 :DropEvents;
    summary @1 :DropSummary;
  }
}

struct DropEvents {
  # CLOCK_BOOTTIME ns. timeDelta[i] = time[i] - time[i-1] modulo 2^64, time[-1] =
  # baseTimeNs: events are in ring order, which can step back a little across
  # CPUs, so add deltas with unsigned wrap-around.
  baseTimeNs @0 :UInt64;
  timeDelta @1 :List(UInt64);
  cpu @2 :List(UInt16);
  tid @3 :List(UInt32);          # Process table gives pid and comm
  reason @4 :List(UInt16);       # enum skb_drop_reason value (names in Probe.enums); 0 if the kernel has none
  location @5 :List(UInt64);     # address kfree_skb was called from
  stackId @6 :List(UInt32);      # Stack.id; 0 = no stack (disabled or not captured)
  netns @7 :List(UInt32);
  ifindex @8 :List(UInt32);      # 0 = skb had no device
  length @9 :List(UInt32);       # skb->len
  ethSrc @10 :List(UInt64);      # 48-bit MAC in the low bytes, network order (aa:bb:.. = 0xaabb..)
  ethDst @11 :List(UInt64);
  ethType @12 :List(UInt16);     # inner EtherType after VLAN tags; 0 if no L2 header seen
  vlanId @13 :List(UInt16);      # 0xffff = untagged
  srcHi @14 :List(UInt64);       # IPv6 address or IPv4-mapped (::ffff:a.b.c.d), big-endian halves
  srcLo @15 :List(UInt64);
  dstHi @16 :List(UInt64);
  dstLo @17 :List(UInt64);
  l4Proto @18 :List(UInt8);      # IPPROTO_*; 0 if none
  srcPort @19 :List(UInt16);
  dstPort @20 :List(UInt16);
  ttl @21 :List(UInt8);          # TTL / hop limit
  ipId @22 :List(UInt16);
  tcpSeq @23 :List(UInt32);
  tcpFlags @24 :List(UInt8);
  icmpType @25 :List(UInt8);
  icmpCode @26 :List(UInt8);
  icmpId @27 :List(UInt16);
  icmpSeq @28 :List(UInt16);
  arpOp @29 :List(UInt16);
  l3Kind @30 :List(UInt8);       # 0 none, 4 IPv4, 6 IPv6, 1 ARP, 2 other EtherType
}

# In-kernel counts, cumulative since the start of the recording, snapshotted
# every interval. Per-interval counts are differences of consecutive snapshots.
struct DropSummary {
  timeNs @0 :UInt64;             # CLOCK_BOOTTIME of the snapshot
  intervalIndex @1 :UInt32;
  entries @2 :List(DropSummaryEntry);
  totalDrops @3 :UInt64;         # all drops that passed the filters, even those whose key did not fit
}

struct DropSummaryEntry {
  stackId @0 :UInt32;
  reason @1 :UInt16;
  netns @2 :UInt32;
  ifindex @3 :UInt32;
  l3Kind @4 :UInt8;
  l4Proto @5 :UInt8;
  srcHi @6 :UInt64;
  srcLo @7 :UInt64;
  dstHi @8 :UInt64;
  dstLo @9 :UInt64;
  srcPort @10 :UInt16;
  dstPort @11 :UInt16;
  location @12 :UInt64;
  count @13 :UInt64;
}
