# Stages family on disk: per-packet timestamps at each stage of the host
# TX/RX path. Stage ids are enum nt_stage (bpf/include/nettrail/stages_event.h);
# their names are in the header's Probe.enums under "nt_stage", so a reader
# never needs the numbers. Details are columnar (every list of a StagesPackets
# has one entry per packet, except the flat stage and stageTime lists); see recording.capnp
# for framing and time base.
@0xa4f1c9e27b3d5e81;

struct StagesBatch {
  union {
    packets @0 :StagesPackets;
    summary @1 :StagesSummary;
  }
}

struct StagesPackets {
  # One entry per packet that reached the path's last stage with an end-to-end
  # time of at least --latency-us (complete = true), or, in the last batch of
  # a recording, per packet still in flight when recording stopped
  # (complete = false).
  complete @0 :List(Bool);
  cpu @1 :List(UInt16);          # CPU of the last stage (of the stop for incomplete ones)
  netns @2 :List(UInt32);        # device of the first stage
  ifindex @3 :List(UInt32);
  length @4 :List(UInt32);       # skb->len at the first stage
  vlanId @5 :List(UInt16);       # 0xffff = untagged
  srcHi @6 :List(UInt64);        # IPv6 address or IPv4-mapped (::ffff:a.b.c.d), big-endian halves
  srcLo @7 :List(UInt64);
  dstHi @8 :List(UInt64);
  dstLo @9 :List(UInt64);
  l4Proto @10 :List(UInt8);      # IPPROTO_*
  srcPort @11 :List(UInt16);     # TCP/UDP; ICMP echo id
  dstPort @12 :List(UInt16);     # TCP/UDP; ICMP echo sequence
  tcpSeq @13 :List(UInt32);
  ipId @14 :List(UInt16);
  repeats @15 :List(UInt16);     # stage hits after the first for this packet (first one kept)
  stageCount @16 :List(UInt8);   # how many (stage, time) pairs of the flat lists below are this packet's
  stage @17 :List(UInt8);        # flat: stage ids of all packets, each packet's in time order
  stageTime @18 :List(UInt64);   # flat: CLOCK_BOOTTIME ns of the first hit of stage[i]
  stageStack @19 :List(UInt32);  # flat, parallel to stage: recording stack id (Stacks) of the
                                 # kernel stack at the first hit of stage[i], 0 = none; empty
                                 # when recorded without --stage-stacks
}

# In-kernel aggregates, cumulative since the start of the recording,
# snapshotted every interval. Per-interval values are differences of
# consecutive snapshots.
struct StagesSummary {
  timeNs @0 :UInt64;             # CLOCK_BOOTTIME of the snapshot
  intervalIndex @1 :UInt32;
  buckets @2 :List(StagesBucket);  # non-empty buckets only
  started @3 :UInt64;            # sessions opened at the path's first stage
  completed @4 :UInt64;          # sessions that reached the path's last stage
  inFlight @5 :UInt64;           # sessions open at the snapshot
  flows @6 :List(StagesFlowBucket);  # per-flow histograms, non-empty buckets only
  flowHistFull @7 :UInt64;       # samples missing from the per-flow histograms: map full
}

# One bucket of the per-flow histogram of one stage pair (or end to end).
struct StagesFlowBucket {
  srcHi @0 :UInt64;              # IPv6 address or IPv4-mapped, big-endian halves
  srcLo @1 :UInt64;
  dstHi @2 :UInt64;
  dstLo @3 :UInt64;
  l4Proto @4 :UInt8;             # IPPROTO_*
  srcPort @5 :UInt16;            # TCP/UDP; ICMP echo id
  dstPort @6 :UInt16;            # TCP/UDP; 0 for ICMP
  fromStage @7 :UInt8;           # nt_stage id; 255 with toStage 255 = end to end
  toStage @8 :UInt8;
  log2Ns @9 :UInt8;              # bucket b holds times in [2^b, 2^(b+1)) ns (b = 0 also holds 0)
  count @10 :UInt64;
}

struct StagesBucket {
  fromStage @0 :UInt8;           # nt_stage id; 255 with toStage 255 = end to end
  toStage @1 :UInt8;
  log2Ns @2 :UInt8;              # bucket b holds times in [2^b, 2^(b+1)) ns (b = 0 also holds 0)
  count @3 :UInt64;
}
