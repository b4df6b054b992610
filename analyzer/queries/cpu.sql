-- CPU family: per-thread CPU time of one process, sampled from /proc every
-- --cpu-interval (cumulative values; views take differences).

-- One row per thread and sample.
CREATE TABLE cpu_sample(
  -- CLOCK_BOOTTIME of the sample, ns.
  time_ns INTEGER,
  -- Process id.
  pid INTEGER,
  -- Thread id.
  tid INTEGER,
  -- Cumulative user time, ns (clock-tick resolution).
  user_ns INTEGER,
  -- Cumulative system time, ns (clock-tick resolution).
  system_ns INTEGER,
  -- Cumulative time on CPU from schedstat, ns; 0 when the kernel has no schedstat.
  run_ns INTEGER
);

-- CPU use per thread and sampling interval.
CREATE VIEW cpu_usage(
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns,
  -- Length of the interval, ns.
  interval_ns,
  -- Process id.
  pid,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- CPU time the thread used in the interval, ns (schedstat, else user+system).
  cpu_ns,
  -- Share of one CPU, percent.
  percent
) AS
SELECT time_ns, interval_ns, pid, tid, comm, cpu_ns, 100.0 * cpu_ns / interval_ns FROM (
  -- A thread first seen after the process's first sample started during the
  -- interval before: its baseline is zero CPU at the previous process sample.
  SELECT s.time_ns,
         s.time_ns - COALESCE(LAG(s.time_ns) OVER w,
                              (SELECT MAX(o.time_ns) FROM cpu_sample o WHERE o.pid = s.pid AND o.time_ns < s.time_ns))
           AS interval_ns,
         s.pid, s.tid, p.comm,
         CASE WHEN s.run_ns > 0 THEN s.run_ns - COALESCE(LAG(s.run_ns) OVER w, 0)
              ELSE (s.user_ns + s.system_ns) - COALESCE(LAG(s.user_ns + s.system_ns) OVER w, 0) END AS cpu_ns
  FROM cpu_sample s LEFT JOIN process p ON p.tid = s.tid
  WINDOW w AS (PARTITION BY s.tid ORDER BY s.time_ns))
WHERE interval_ns > 0;

-- Intervals in which a thread used at least 80% of one CPU: the bursts that
-- coarse (15 s) monitoring averages away.
CREATE VIEW cpu_burst(
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns,
  -- CLOCK_REALTIME at the end of the interval, ns, through the nearest earlier clock anchor.
  realtime_ns,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Share of one CPU, percent.
  percent
) AS
SELECT u.time_ns,
       u.time_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= u.time_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       u.tid, u.comm, u.percent
FROM cpu_usage u WHERE u.percent >= 80 ORDER BY u.time_ns;

-- CPU use per thread over the whole recording.
CREATE VIEW cpu_by_thread(
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- CPU time used while recorded, ns.
  cpu_ns,
  -- Highest share of one CPU in any interval, percent.
  max_percent,
  -- Intervals at or above 80%.
  bursts
) AS
SELECT tid, comm, SUM(cpu_ns), MAX(percent), SUM(percent >= 80) FROM cpu_usage GROUP BY tid ORDER BY 3 DESC;
