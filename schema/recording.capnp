# The nettrail recording format, version 1: the only contract between
# nettrail-record (on the host) and nettrail (the analyzer, anywhere).
#
# A recording file is a sequence of independent zstd frames:
#
#   [zstd skippable frame, magic 0x184D2A5E: "NETTRAIL" + u32 format version]
#   [zstd frame: one Chunk message, header]      <- always the first data frame
#   [zstd frame: one Chunk message] ...           <- tables, clock anchors, batches, stats
#   [zstd frame: one Chunk message, trailer]     <- written on clean close only
#
# Each data frame holds exactly one Cap'n Proto message in the standard stream
# framing (segment table + segments), compressed with its content size and a
# checksum. Frames never reference bytes of other frames, so a file cut off at
# any byte (kill -9, full disk) reads up to its last whole frame; the reader
# reports the bytes it could not use. `zstdcat file.ntr` works on any recording.
#
# Chunk.seq counts data frames from 0 so a reader can tell a missing frame from
# a torn tail. Tables (interfaces, processes, stacks, symbols) are append-only:
# a chunk adds entries that batches after it may refer to, never before.
#
# Time: every event time is CLOCK_BOOTTIME nanoseconds of the recorded host
# (bpf_ktime_get_boot_ns). ClockAnchor chunks pair it with CLOCK_REALTIME and
# CLOCK_MONOTONIC, re-sampled periodically so the analyzer can map to wall time
# even if the host's clock was stepped.
@0xbe8d9d0b0c2fd4a1;

using Drop = import "drop.capnp";

const formatVersion :UInt32 = 1;

struct Chunk {
  seq @0 :UInt64;
  union {
    header @1 :Header;
    clockAnchor @2 :ClockAnchor;
    interfaces @3 :List(Interface);
    processes @4 :List(Process);
    stacks @5 :List(Stack);
    kernelSymbols @6 :List(KernelSymbol);
    stats @7 :Stats;
    batch @8 :Batch;
    trailer @9 :Trailer;
    userMappings @10 :List(UserMapping);
    userSymbols @11 :List(UserSymbol);
  }
}

# Family data. One member per probe family (schema/families.def); adding a
# family adds one line here. A reader meeting a member it does not know counts
# it as unknown_family_batches instead of failing.
struct Batch {
  union {
    none @0 :Void;
    drop @1 :Drop.DropBatch;
    stages @2 :import "stages.capnp".StagesBatch;
    offcpu @3 :import "offcpu.capnp".OffcpuBatch;
    futex @4 :import "futex.capnp".FutexBatch;
    cpu @5 :import "cpu.capnp".CpuBatch;
    locks @6 :import "locks.capnp".LocksBatch;
    # Ordinals are fixed per family and Cap'n Proto allows no holes: these
    # five stand until their families land and give them their batch types.
    ovs @7 :Void;
    tun @8 :Void;
    vhost @9 :Void;
    kvm @10 :Void;
    virtio @11 :Void;
    kmsg @12 :import "kmsg.capnp".KmsgBatch;
  }
}

struct Header {
  formatVersion @0 :UInt32;
  recorderVersion @1 :Text;
  hostName @2 :Text;
  kernelRelease @3 :Text;     # uname -r
  kernelVersion @4 :Text;     # uname -v
  machine @5 :Text;           # uname -m
  bootId @6 :Text;            # /proc/sys/kernel/random/boot_id
  cpuCount @7 :UInt32;        # possible CPUs (per-CPU counters are indexed 0..cpuCount-1)
  commandLine @8 :List(Text); # argv of nettrail-record
  startRealtimeNs @9 :UInt64;
  startBoottimeNs @10 :UInt64;
  kernelFacts @11 :List(KeyValue);  # BTF present, kallsyms readable, config facts...
  probes @12 :List(Probe);
  segment @13 :UInt32;        # 0 for the first file of a rotated recording
  recordingId @14 :Text;      # same for every segment of one recording
}

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct Probe {
  family @0 :Text;                  # name from families.def, e.g. "drop"
  options @1 :List(KeyValue);       # effective options and filters, as given and as resolved
  attachments @2 :List(Attachment);
  enums @3 :List(EnumValue);        # kernel enums the family's events use, read from BTF
}

struct Attachment {
  hook @0 :Text;        # logical hook, e.g. "kfree_skb"
  strategy @1 :Text;    # tp_btf | raw_tp | tracepoint | fentry | kprobe | uprobe
  target @2 :Text;      # what was attached, e.g. "skb:kfree_skb"
  attached @3 :Bool;
  note @4 :Text;        # why earlier candidates were not used, or why it failed
}

struct EnumValue {
  enumName @0 :Text;    # e.g. "skb_drop_reason"
  value @1 :Int64;
  name @2 :Text;        # e.g. "SKB_DROP_REASON_NO_SOCKET"
}

struct ClockAnchor {
  boottimeNs @0 :UInt64;
  realtimeNs @1 :UInt64;
  monotonicNs @2 :UInt64;
}

struct Interface {
  netns @0 :UInt32;     # network namespace inode
  ifindex @1 :UInt32;
  name @2 :Text;        # as the kernel gave it: any bytes, escape before showing
}

struct Process {
  tid @0 :UInt32;
  pid @1 :UInt32;       # thread group id
  comm @2 :Text;
}

struct Stack {
  id @0 :UInt32;        # recording-wide id referenced by batches
  kernel @1 :Bool;
  frames @2 :List(UInt64);  # instruction addresses, innermost first
  pid @3 :UInt32;       # user stacks: the process whose address space the frames are in
}

# One entry per kernel function that covers an address seen in a stack or a
# drop location, so stacks resolve without the host's /proc/kallsyms.
struct KernelSymbol {
  address @0 :UInt64;
  size @1 :UInt64;      # to the next symbol; 0 if unknown
  name @2 :Text;
  module @3 :Text;      # empty for vmlinux
}

# Where a process had a file mapped, for user stacks: recorded once per
# (pid, mapping) when a frame of a stack first falls in it, so user frames
# resolve without the host's /proc or binaries.
struct UserMapping {
  pid @0 :UInt32;
  start @1 :UInt64;     # first address of the mapping
  end @2 :UInt64;       # one past the last address
  fileOffset @3 :UInt64;  # file offset mapped at `start`
  elfAddress @4 :UInt64;  # ELF virtual address (symbol value space) that `start` maps
  binaryId @5 :UInt32;  # UserSymbol.binaryId of the file; 0 if its ELF could not be read
  path @6 :Text;        # as /proc/PID/maps showed it (untrusted text)
  buildId @7 :Data;     # NT_GNU_BUILD_ID note; empty if none
}

# ELF function symbols (.symtab, else .dynsym) of the binaries seen in user
# stacks: only those that cover a recorded frame address.
struct UserSymbol {
  binaryId @0 :UInt32;  # recording-wide id of the binary (one per file)
  value @1 :UInt64;     # st_value: ELF virtual address
  size @2 :UInt64;      # st_size; 0 if the ELF gave none
  name @3 :Text;
}

# Cumulative counters; the last Stats chunk in a file is authoritative.
struct Stats {
  timeBoottimeNs @0 :UInt64;
  counters @1 :List(Counter);
}

struct Counter {
  family @0 :Text;
  name @1 :Text;        # e.g. "ring_reserve_failed", "stack_missing", "summary_map_full"
  cpu @2 :Int32;        # -1 when not per CPU
  value @3 :UInt64;
  dataLoss @4 :Bool;    # true if the count is events that were not recorded
}

struct Trailer {
  endRealtimeNs @0 :UInt64;
  endBoottimeNs @1 :UInt64;
  dataChunks @2 :UInt64;   # data frames written before the trailer
  reason @3 :Text;         # "duration", "signal SIGINT", "rotation", ...
  nextSegment @4 :Text;    # file name of the next segment when rotated
}
