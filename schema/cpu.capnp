# CPU family on disk: per-thread CPU time of one process, sampled from
# /proc/PID/task/TID/{stat,schedstat} every --cpu-interval. Values are
# cumulative since each thread started; use differences of consecutive samples.
@0xe17d5c2a90b3f648;

struct CpuBatch {
  samples @0 :CpuSamples;
}

# One sample of every thread of the process, taken at timeNs.
struct CpuSamples {
  timeNs @0 :UInt64;             # CLOCK_BOOTTIME of the sample
  pid @1 :UInt32;
  tid @2 :List(UInt32);
  userNs @3 :List(UInt64);       # utime from stat, in ns (clock-tick resolution)
  systemNs @4 :List(UInt64);     # stime from stat, in ns (clock-tick resolution)
  runNs @5 :List(UInt64);        # time on CPU from schedstat, ns resolution; 0 if the kernel has no schedstat
}
