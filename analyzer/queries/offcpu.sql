-- Off-CPU family: time threads spent off CPU (sched_switch out -> in), with the
-- kernel and user stacks where they stopped and the thread that woke them.

-- One row per recorded off-CPU period (details mode).
CREATE TABLE offcpu_event(
  -- CLOCK_BOOTTIME of the switch-out, ns.
  start_ns INTEGER,
  -- Time off CPU, ns.
  duration_ns INTEGER,
  -- Thread that was off CPU; see process.
  tid INTEGER,
  -- Task state at switch-out: 0 preempted, 1 sleeping (interruptible), 2 uninterruptible, ...
  state INTEGER,
  -- Thread whose wakeup ended the period, NULL if none was seen (preempted).
  waker_tid INTEGER,
  -- Kernel stack id (stack table), NULL if not captured.
  kernel_stack_id INTEGER,
  -- User stack id (stack table; frames resolved through user_mapping), NULL for kernel threads or if not captured.
  user_stack_id INTEGER,
  -- CPU the thread came back on.
  cpu INTEGER
);

-- In-kernel totals per interval (summary mode): one row per key and interval
-- in which it grew.
CREATE TABLE offcpu_summary(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Process id.
  pid INTEGER,
  -- Thread id.
  tid INTEGER,
  -- Kernel stack id, NULL if none.
  kernel_stack_id INTEGER,
  -- User stack id, NULL if none.
  user_stack_id INTEGER,
  -- Off-CPU time with this key in this interval, ns.
  total_ns INTEGER,
  -- Off-CPU periods with this key in this interval.
  periods INTEGER
);

-- Per-interval totals of the in-kernel summary, including periods whose key did not fit.
CREATE TABLE offcpu_interval(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Off-CPU time that passed the filters in this interval, ns.
  total_ns INTEGER,
  -- Off-CPU periods that passed the filters in this interval.
  periods INTEGER
);

-- Every off-CPU figure in one shape: per-period rows (details) or, when the
-- recording has none, per-key-and-interval rows (summary), never both.
CREATE VIEW offcpu_period(
  -- CLOCK_BOOTTIME of the switch-out (details) or end of the interval (summary), ns.
  time_ns,
  -- Thread id.
  tid,
  -- Kernel stack id, NULL if none.
  kernel_stack_id,
  -- User stack id, NULL if none.
  user_stack_id,
  -- Off-CPU time the row stands for, ns.
  total_ns,
  -- Periods the row stands for.
  periods
) AS
SELECT start_ns, tid, kernel_stack_id, user_stack_id, duration_ns, 1 FROM offcpu_event
UNION ALL
SELECT time_ns, tid, kernel_stack_id, user_stack_id, total_ns, periods FROM offcpu_summary
WHERE NOT EXISTS (SELECT 1 FROM offcpu_event);

-- Off-CPU time per thread.
CREATE VIEW offcpu_by_thread(
  -- Process id.
  pid,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Total off-CPU time, ns.
  total_ns,
  -- Off-CPU periods.
  periods,
  -- Longest single period, ns (NULL in summary-only recordings).
  max_ns
) AS
SELECT p.pid, o.tid, p.comm, SUM(o.total_ns), SUM(o.periods),
       (SELECT MAX(duration_ns) FROM offcpu_event e WHERE e.tid = o.tid)
FROM offcpu_period o LEFT JOIN process p ON p.tid = o.tid
GROUP BY o.tid ORDER BY 4 DESC;

-- Off-CPU time per thread and stack pair, ranked within each thread.
CREATE VIEW offcpu_by_stack(
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Kernel stack id, NULL if none.
  kernel_stack_id,
  -- User stack id, NULL if none.
  user_stack_id,
  -- Innermost user frame as symbol+0xoffset (stack.top_frame).
  user_top,
  -- Innermost kernel frame outside the tracing machinery.
  kernel_top,
  -- Off-CPU time with this stack pair, ns.
  total_ns,
  -- Periods with this stack pair.
  periods,
  -- 1 for the thread's largest stack pair, 2 for the next...
  rank_in_thread
) AS
SELECT g.tid, p.comm, g.kernel_stack_id, g.user_stack_id, us.top_frame, ks.top_frame, g.total_ns, g.periods,
       ROW_NUMBER() OVER (PARTITION BY g.tid ORDER BY g.total_ns DESC)
FROM (SELECT tid, kernel_stack_id, user_stack_id, SUM(total_ns) AS total_ns, SUM(periods) AS periods
      FROM offcpu_period GROUP BY tid, kernel_stack_id, user_stack_id) g
LEFT JOIN process p ON p.tid = g.tid
LEFT JOIN stack us ON us.stack_id = g.user_stack_id
LEFT JOIN stack ks ON ks.stack_id = g.kernel_stack_id
ORDER BY g.total_ns DESC;

-- Folded stacks (comm;outermost user frame;...;innermost kernel frame) with
-- their off-CPU time: the input of a flame graph, one row per stack pair.
CREATE VIEW offcpu_folded(
  -- Semicolon-separated frames, outermost first (untrusted text).
  folded,
  -- Off-CPU time, ns.
  total_ns
) AS
SELECT COALESCE(p.comm, '?') ||
       COALESCE((SELECT ';' || GROUP_CONCAT(frame, ';') FROM
                 (SELECT frame FROM stack_frame_text WHERE stack_id = g.user_stack_id ORDER BY frame_index DESC)), '') ||
       COALESCE((SELECT ';' || GROUP_CONCAT(frame, ';') FROM
                 (SELECT frame FROM stack_frame_text WHERE stack_id = g.kernel_stack_id AND tracing = 0
                  ORDER BY frame_index DESC)), ''),
       SUM(g.total_ns)
FROM (SELECT tid, kernel_stack_id, user_stack_id, SUM(total_ns) AS total_ns FROM offcpu_period
      GROUP BY tid, kernel_stack_id, user_stack_id) g
LEFT JOIN process p ON p.tid = g.tid
GROUP BY 1 ORDER BY 2 DESC;

-- Per-period rows with names and wall-clock time (details mode).
CREATE VIEW offcpu_detail(
  -- CLOCK_BOOTTIME of the switch-out, ns.
  start_ns,
  -- CLOCK_REALTIME of the switch-out, ns, through the nearest earlier clock anchor.
  realtime_ns,
  -- Time off CPU, ns.
  duration_ns,
  -- Process id.
  pid,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Task state at switch-out.
  state,
  -- Waker thread id, NULL if none.
  waker_tid,
  -- Waker thread name (untrusted text).
  waker_comm,
  -- Innermost user frame.
  user_top,
  -- Innermost kernel frame.
  kernel_top,
  -- User stack id.
  user_stack_id,
  -- Kernel stack id.
  kernel_stack_id
) AS
SELECT e.start_ns,
       e.start_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= e.start_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       e.duration_ns, p.pid, e.tid, p.comm, e.state, e.waker_tid, w.comm, us.top_frame, ks.top_frame,
       e.user_stack_id, e.kernel_stack_id
FROM offcpu_event e
LEFT JOIN process p ON p.tid = e.tid
LEFT JOIN process w ON w.tid = e.waker_tid
LEFT JOIN stack us ON us.stack_id = e.user_stack_id
LEFT JOIN stack ks ON ks.stack_id = e.kernel_stack_id;
