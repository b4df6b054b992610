-- Futex family: futex(2) calls timed from syscall entry to exit, per thread,
-- command (op) and futex word address.

-- FUTEX_* commands by number (include/uapi/linux/futex.h), filled below.
CREATE TABLE futex_op(
  -- Command number: futex_op with FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME stripped; 255 = unknown.
  op INTEGER PRIMARY KEY,
  -- Name without the FUTEX_ prefix, e.g. WAIT, WAKE, WAIT_BITSET.
  name TEXT,
  -- 1 if the command can block the caller waiting for the word (WAIT, LOCK_PI, ...), else 0.
  waits INTEGER
);
INSERT INTO futex_op VALUES
  (0, 'WAIT', 1), (1, 'WAKE', 0), (2, 'FD', 0), (3, 'REQUEUE', 0), (4, 'CMP_REQUEUE', 0), (5, 'WAKE_OP', 0),
  (6, 'LOCK_PI', 1), (7, 'UNLOCK_PI', 0), (8, 'TRYLOCK_PI', 0), (9, 'WAIT_BITSET', 1), (10, 'WAKE_BITSET', 0),
  (11, 'WAIT_REQUEUE_PI', 1), (12, 'CMP_REQUEUE_PI', 0), (13, 'LOCK_PI2', 1), (255, 'UNKNOWN', 0);

-- One row per recorded futex call (details mode: calls of at least --futex-min-wait).
CREATE TABLE futex_event(
  -- CLOCK_BOOTTIME of the syscall entry, ns.
  start_ns INTEGER,
  -- Time inside the syscall (exit minus entry), ns.
  duration_ns INTEGER,
  -- Calling thread; see process.
  tid INTEGER,
  -- Command number; see futex_op.
  op INTEGER,
  -- Futex word address in the caller's address space.
  uaddr INTEGER,
  -- Syscall return value: woken count, 0, or a negative errno (-11 EAGAIN, -110 ETIMEDOUT, ...).
  result INTEGER
);

-- In-kernel totals per interval (summary mode): one row per key and interval
-- in which it grew. Every call that passed the filters is counted, whatever its duration.
CREATE TABLE futex_summary(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Process id.
  pid INTEGER,
  -- Thread id.
  tid INTEGER,
  -- Command number; see futex_op.
  op INTEGER,
  -- Futex word address.
  uaddr INTEGER,
  -- Calls with this key in this interval.
  calls INTEGER,
  -- Time inside the syscall with this key in this interval, ns.
  total_ns INTEGER,
  -- Longest single call with this key since the recording started, ns.
  max_ns INTEGER,
  -- Calls with this key in this interval that returned an error.
  errors INTEGER
);

-- Per-interval totals of the in-kernel summary, including calls whose key did not fit.
CREATE TABLE futex_interval(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Futex calls that passed the filters in this interval.
  calls INTEGER,
  -- Their time inside the syscall, ns.
  total_ns INTEGER
);

-- Every futex figure in one shape: per-key-and-interval rows (summary, which
-- counts every call) or, when the recording has none, per-call rows (details),
-- never both.
CREATE VIEW futex_call(
  -- CLOCK_BOOTTIME of the end of the interval (summary) or of the syscall entry (details), ns.
  time_ns,
  -- Process id (details: from the process table, NULL if unknown).
  pid,
  -- Thread id.
  tid,
  -- Command number; see futex_op.
  op,
  -- Futex word address.
  uaddr,
  -- Calls the row stands for.
  calls,
  -- Time inside the syscall, ns.
  total_ns,
  -- Longest call, ns.
  max_ns,
  -- Calls that returned an error.
  errors
) AS
SELECT time_ns, pid, tid, op, uaddr, calls, total_ns, max_ns, errors FROM futex_summary
UNION ALL
SELECT e.start_ns, p.pid, e.tid, e.op, e.uaddr, 1, e.duration_ns, e.duration_ns, e.result < 0
FROM futex_event e LEFT JOIN process p ON p.tid = e.tid
WHERE NOT EXISTS (SELECT 1 FROM futex_summary);

-- Futex calls per thread and command: how often each thread called, how long
-- it spent in the kernel, its longest call and its errors.
CREATE VIEW futex_by_thread_op(
  -- Process id.
  pid,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Command number.
  op,
  -- Command name, e.g. WAIT.
  op_name,
  -- Calls.
  calls,
  -- Time inside the syscall, ns (for WAIT: time waiting).
  total_ns,
  -- Longest single call, ns.
  max_ns,
  -- Calls that returned an error (EAGAIN when the word had changed, ETIMEDOUT, ...).
  errors
) AS
SELECT COALESCE(MAX(c.pid), p.pid), c.tid, p.comm, c.op, COALESCE(o.name, 'OP' || c.op), SUM(c.calls),
       SUM(c.total_ns), MAX(c.max_ns), SUM(c.errors)
FROM futex_call c LEFT JOIN process p ON p.tid = c.tid LEFT JOIN futex_op o ON o.op = c.op
GROUP BY c.tid, c.op ORDER BY 7 DESC;

-- Futex words per process: how many threads called on each, how many waited
-- on it and for how long. The addresses many threads wait on come first.
CREATE VIEW futex_by_address(
  -- Process id (the address is in its address space).
  pid,
  -- Futex word address.
  uaddr,
  -- Futex word address as 0x-prefixed hex text.
  uaddr_hex,
  -- Distinct threads that called futex on this word.
  threads,
  -- Distinct threads that waited on it (WAIT, WAIT_BITSET, LOCK_PI, ...).
  waiters,
  -- Calls on this word, any command.
  calls,
  -- Waiting calls on this word.
  wait_calls,
  -- Time spent in waiting calls on this word, ns.
  wait_ns,
  -- Longest waiting call, ns.
  max_wait_ns,
  -- Waking calls on this word (every command that does not wait).
  wake_calls,
  -- Calls on this word that returned an error.
  errors
) AS
SELECT c.pid, c.uaddr, printf('0x%x', c.uaddr), COUNT(DISTINCT c.tid),
       COUNT(DISTINCT CASE WHEN o.waits = 1 THEN c.tid END), SUM(c.calls),
       SUM(CASE WHEN o.waits = 1 THEN c.calls ELSE 0 END), SUM(CASE WHEN o.waits = 1 THEN c.total_ns ELSE 0 END),
       MAX(CASE WHEN o.waits = 1 THEN c.max_ns END), SUM(CASE WHEN o.waits = 1 THEN 0 ELSE c.calls END),
       SUM(c.errors)
FROM futex_call c LEFT JOIN futex_op o ON o.op = c.op
GROUP BY c.pid, c.uaddr ORDER BY 5 DESC, 8 DESC;

-- Per-call rows with names and wall-clock time (details mode).
CREATE VIEW futex_detail(
  -- CLOCK_BOOTTIME of the syscall entry, ns.
  start_ns,
  -- CLOCK_REALTIME of the syscall entry, ns, through the nearest earlier clock anchor.
  realtime_ns,
  -- Time inside the syscall, ns.
  duration_ns,
  -- Process id.
  pid,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Command name.
  op_name,
  -- Futex word address as 0x-prefixed hex text.
  uaddr_hex,
  -- Syscall return value.
  result,
  -- Error name for common negative results (EAGAIN, ETIMEDOUT, EINTR, ...), else NULL.
  error
) AS
SELECT e.start_ns,
       e.start_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= e.start_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       e.duration_ns, p.pid, e.tid, p.comm, COALESCE(o.name, 'OP' || e.op), printf('0x%x', e.uaddr), e.result,
       CASE e.result WHEN -11 THEN 'EAGAIN' WHEN -110 THEN 'ETIMEDOUT' WHEN -4 THEN 'EINTR' WHEN -22 THEN 'EINVAL'
                     WHEN -14 THEN 'EFAULT' WHEN -1 THEN 'EPERM' WHEN -3 THEN 'ESRCH' WHEN -35 THEN 'EDEADLK'
                     WHEN -38 THEN 'ENOSYS' WHEN -512 THEN 'ERESTARTSYS'
                     WHEN -516 THEN 'ERESTART_RESTARTBLOCK' END
FROM futex_event e
LEFT JOIN process p ON p.tid = e.tid
LEFT JOIN futex_op o ON o.op = e.op;

-- Futex calls as timeline events for nettrail correlate (contract in
-- _monitor.sql). Per-call rows only: summary intervals have no per-call time.
CREATE VIEW futex_timeline(
  -- CLOCK_BOOTTIME of the syscall entry, ns.
  time_ns,
  -- Time inside the syscall, ns.
  duration_ns,
  -- Command name, e.g. WAIT.
  kind,
  -- Thread, address and result, e.g. "worker (1234) 0x7f00001000 -> EAGAIN".
  detail
) AS
SELECT start_ns, duration_ns, op_name,
       COALESCE(comm, '?') || ' (' || tid || ') ' || uaddr_hex || ' -> ' || COALESCE(error, CAST(result AS TEXT))
FROM futex_detail;

-- Headline figures for nettrail diff (contract in _monitor.sql).
CREATE VIEW futex_metric(
  -- Figure name: futex calls, futex calls/s, futex wait ms, futex errors, futex words waited on.
  name,
  -- Its value in this recording.
  value
) AS
WITH span AS (
  SELECT MAX(1e-9, (COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'end_realtime_ns'
                                AND CAST(value AS INTEGER) > 0),
                             (SELECT MAX(realtime_ns) FROM clock_anchor))
                    - COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'start_realtime_ns'
                                  AND CAST(value AS INTEGER) > 0),
                               (SELECT MIN(realtime_ns) FROM clock_anchor))) / 1e9) AS seconds
)
SELECT 'futex calls', COALESCE((SELECT SUM(calls) FROM futex_call), 0)
UNION ALL SELECT 'futex calls/s', COALESCE((SELECT SUM(calls) FROM futex_call), 0) / (SELECT seconds FROM span)
UNION ALL SELECT 'futex wait ms', COALESCE((SELECT SUM(c.total_ns) FROM futex_call c JOIN futex_op o ON o.op = c.op
                                            WHERE o.waits = 1), 0) / 1e6
UNION ALL SELECT 'futex errors', COALESCE((SELECT SUM(errors) FROM futex_call), 0)
UNION ALL SELECT 'futex words waited on', (SELECT COUNT(*) FROM futex_by_address WHERE waiters > 0);

-- Futex calls per command and wait time per thread name, keyed by text that
-- means the same in another recording, for nettrail diff (contract in _monitor.sql).
CREATE VIEW futex_breakdown(
  -- op (calls per command), op wait ms (time per command), thread wait ms (waiting time per thread name).
  dimension,
  -- Command name, or thread name (untrusted text).
  key,
  -- Calls, or milliseconds.
  value
) AS
SELECT 'op', op_name, SUM(calls) FROM futex_by_thread_op GROUP BY op_name
UNION ALL SELECT 'op wait ms', op_name, SUM(total_ns) / 1e6 FROM futex_by_thread_op GROUP BY op_name
UNION ALL
SELECT 'thread wait ms', COALESCE(t.comm, '?'), SUM(t.total_ns) / 1e6
FROM futex_by_thread_op t JOIN futex_op o ON o.op = t.op WHERE o.waits = 1 GROUP BY COALESCE(t.comm, '?');
