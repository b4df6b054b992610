# kmsg family on disk: the kernel log lines (/dev/kmsg records) logged while
# the recording ran, columnar (every list of a KmsgLines has one entry per
# line), and the clock pairs that map their timestamps to the recording's
# CLOCK_BOOTTIME.
#
# Time: the kernel stamps each record with local_clock() (the scheduler
# clock), not CLOCK_MONOTONIC; /dev/kmsg gives it in microseconds. The
# recorder measures local_clock - CLOCK_BOOTTIME from user space (a perf
# record stamped with the same clock, recorder/snapshot/local_clock.h) when
# it starts and every 10 s, and writes each line's time mapped through the
# latest measurement (timeNs). KmsgClock chunks keep the measurements, so a
# reader can redo the mapping.
@0x96bc94b965cbb29f;

struct KmsgBatch {
  union {
    lines @0 :KmsgLines;
    clock @1 :KmsgClock;
  }
}

struct KmsgLines {
  timeNs @0 :List(UInt64);      # CLOCK_BOOTTIME of the line: kernelUs * 1000 - offset of the latest KmsgClock
  kernelUs @1 :List(UInt64);    # the record's timestamp as /dev/kmsg gave it (local_clock, microseconds)
  seq @2 :List(UInt64);         # the kernel's record sequence number (gaps are lost records)
  level @3 :List(UInt8);        # syslog level 0 emerg .. 7 debug
  facility @4 :List(UInt8);     # syslog facility: 0 kernel, 1 user (written to /dev/kmsg), ...
  continuation @5 :List(Bool);  # flag 'c': a fragment continued by the next record (old kernels)
  caller @6 :List(Text);        # "T123" (task) or "C1" (CPU) on kernels with CONFIG_PRINTK_CALLER, else empty
  text @7 :List(Text);          # the message, with the kernel's \xNN escapes for unprintable bytes (untrusted text)
  dict @8 :List(Text);          # the record's KEY=VALUE lines (SUBSYSTEM=, DEVICE=), '\n'-separated; often empty
}

# One measurement of local_clock against CLOCK_BOOTTIME.
struct KmsgClock {
  boottimeNs @0 :UInt64;
  localClockNs @1 :UInt64;
  uncertaintyNs @2 :UInt64;     # half the width of the CLOCK_BOOTTIME bracket around the reading
  method @3 :Text;              # "perf": measured; "monotonic": perf was refused, local_clock taken as CLOCK_MONOTONIC
}
