-- Locks family: waits in pthread rwlocks and mutexes of one process (uprobes on
-- its libc), with the thread that held the lock when each wait began and the
-- user stacks of both. Stacks resolve through the shared stack tables.

-- One row per recorded wait (details mode): waits of at least --lock-min-wait.
CREATE TABLE locks_wait(
  -- CLOCK_BOOTTIME of the lock call's entry, ns.
  start_ns INTEGER,
  -- Time from the lock call's entry to its return, ns.
  wait_ns INTEGER,
  -- Waiting thread; see process.
  tid INTEGER,
  -- Address of the pthread_rwlock_t or pthread_mutex_t in the process.
  lock_address INTEGER,
  -- read (rwlock rdlock), write (rwlock wrlock) or mutex.
  kind TEXT,
  -- The lock call's return value: 0 acquired, else an errno number (110 ETIMEDOUT, 35 EDEADLK, ...).
  result INTEGER,
  -- Holder when the wait began (writer, mutex owner, or the last reader to take a read hold); NULL if unknown.
  holder_tid INTEGER,
  -- Read holds outstanding when the wait began (rwlocks; 0 for mutexes).
  holder_readers INTEGER,
  -- How long the holder had held the lock when the wait began, ns; NULL if unknown.
  holder_held_ns INTEGER,
  -- The holder's whole hold time, ns, when it released the lock during the wait; NULL otherwise.
  holder_hold_ns INTEGER,
  -- Waiter's user stack at the lock call's return (stack table), NULL if not captured.
  user_stack_id INTEGER,
  -- Holder's user stack when it acquired the lock (stack table), NULL if not known.
  holder_user_stack_id INTEGER
);

-- In-kernel totals per interval (summary mode): one row per lock, kind and
-- interval in which it grew.
CREATE TABLE locks_summary(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Process id.
  pid INTEGER,
  -- Lock address.
  lock_address INTEGER,
  -- read, write or mutex.
  kind TEXT,
  -- Wait time on this lock and kind in this interval, ns.
  total_ns INTEGER,
  -- Waits in this interval.
  waits INTEGER,
  -- Longest single wait since the start of the recording, ns.
  max_ns INTEGER
);

-- Per-interval totals of the in-kernel summary, including waits whose key did not fit.
CREATE TABLE locks_interval(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Wait time of at least --lock-min-wait in this interval, ns.
  total_ns INTEGER,
  -- Such waits in this interval.
  waits INTEGER
);

-- Waits per lock and kind: per-wait rows (details) or, when the recording has
-- none, the in-kernel totals (summary), never both.
CREATE VIEW locks_by_lock(
  -- Lock address.
  lock_address,
  -- Lock address as text, 0x...
  lock,
  -- read, write or mutex.
  kind,
  -- Waits.
  waits,
  -- Summed wait time, ns.
  total_ns,
  -- Longest wait, ns.
  max_ns,
  -- Median wait, ns (NULL in summary-only recordings).
  p50_ns,
  -- 99th percentile wait, ns (NULL in summary-only recordings).
  p99_ns
) AS
WITH ranked AS (
  SELECT lock_address, kind, wait_ns,
         ROW_NUMBER() OVER (PARTITION BY lock_address, kind ORDER BY wait_ns) AS r,
         COUNT(*) OVER (PARTITION BY lock_address, kind) AS n
  FROM locks_wait)
SELECT lock_address, printf('0x%x', lock_address), kind, COUNT(*), SUM(wait_ns), MAX(wait_ns),
       MIN(CASE WHEN r >= (n + 1) / 2 THEN wait_ns END),
       MIN(CASE WHEN r * 100 >= n * 99 THEN wait_ns END)
FROM ranked GROUP BY lock_address, kind
UNION ALL
SELECT lock_address, printf('0x%x', lock_address), kind, SUM(waits), SUM(total_ns), MAX(max_ns), NULL, NULL
FROM locks_summary WHERE NOT EXISTS (SELECT 1 FROM locks_wait)
GROUP BY lock_address, kind
ORDER BY 5 DESC;

-- Lock waits by lock address with waiter/holder pairs: who waited on whom, how
-- often and how long, with the stacks of the longest such wait.
CREATE VIEW locks_pairs(
  -- Lock address as text, 0x...
  lock,
  -- read, write or mutex.
  kind,
  -- Waiting thread id.
  waiter_tid,
  -- Waiting thread name (untrusted text).
  waiter_comm,
  -- Holder thread id when the waits began, NULL if unknown.
  holder_tid,
  -- Holder thread name (untrusted text).
  holder_comm,
  -- Waits.
  waits,
  -- Summed wait time, ns.
  total_ns,
  -- Longest wait, ns.
  max_ns,
  -- Innermost frame of the waiter's user stack in the longest wait (stack.top_frame).
  waiter_top,
  -- Innermost frame of the holder's user stack at its acquisition, in the longest wait.
  holder_top,
  -- Waiter user stack id of the longest wait.
  user_stack_id,
  -- Holder user stack id of the longest wait.
  holder_user_stack_id
) AS
WITH g AS (
  SELECT lock_address, kind, tid, holder_tid, COUNT(*) AS waits, SUM(wait_ns) AS total_ns, MAX(wait_ns) AS max_ns
  FROM locks_wait GROUP BY lock_address, kind, tid, holder_tid),
longest AS (
  SELECT g.*, (SELECT w.rowid FROM locks_wait w WHERE w.lock_address = g.lock_address AND w.kind = g.kind
                 AND w.tid = g.tid AND w.holder_tid IS g.holder_tid ORDER BY w.wait_ns DESC LIMIT 1) AS wait_row
  FROM g)
SELECT printf('0x%x', l.lock_address), l.kind, l.tid, pw.comm, l.holder_tid, ph.comm, l.waits, l.total_ns, l.max_ns,
       us.top_frame, hs.top_frame, w.user_stack_id, w.holder_user_stack_id
FROM longest l
JOIN locks_wait w ON w.rowid = l.wait_row
LEFT JOIN process pw ON pw.tid = l.tid
LEFT JOIN process ph ON ph.tid = l.holder_tid
LEFT JOIN stack us ON us.stack_id = w.user_stack_id
LEFT JOIN stack hs ON hs.stack_id = w.holder_user_stack_id
ORDER BY l.total_ns DESC;

-- Per-wait rows with names, wall-clock time and stack tops (details mode).
CREATE VIEW locks_detail(
  -- CLOCK_BOOTTIME of the lock call's entry, ns.
  start_ns,
  -- CLOCK_REALTIME of the entry, ns, through the nearest earlier clock anchor.
  realtime_ns,
  -- Wait, ns.
  wait_ns,
  -- Process id.
  pid,
  -- Waiting thread id.
  tid,
  -- Waiting thread name (untrusted text).
  comm,
  -- Lock address as text, 0x...
  lock,
  -- read, write or mutex.
  kind,
  -- Return value of the lock call (0 acquired).
  result,
  -- Holder thread id, NULL if unknown.
  holder_tid,
  -- Holder thread name (untrusted text).
  holder_comm,
  -- How long the holder had held it when the wait began, ns.
  holder_held_ns,
  -- The holder's whole hold, ns, if it released during the wait.
  holder_hold_ns,
  -- Innermost frame of the waiter's user stack.
  waiter_top,
  -- Innermost frame of the holder's user stack at its acquisition.
  holder_top,
  -- Waiter user stack id.
  user_stack_id,
  -- Holder user stack id.
  holder_user_stack_id
) AS
SELECT w.start_ns,
       w.start_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= w.start_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       w.wait_ns, p.pid, w.tid, p.comm, printf('0x%x', w.lock_address), w.kind, w.result, w.holder_tid, h.comm,
       w.holder_held_ns, w.holder_hold_ns, us.top_frame, hs.top_frame, w.user_stack_id, w.holder_user_stack_id
FROM locks_wait w
LEFT JOIN process p ON p.tid = w.tid
LEFT JOIN process h ON h.tid = w.holder_tid
LEFT JOIN stack us ON us.stack_id = w.user_stack_id
LEFT JOIN stack hs ON hs.stack_id = w.holder_user_stack_id;

-- Folded waiter stacks (comm;outermost user frame;...;innermost) with their
-- wait time: the input of a flame graph of lock waits.
CREATE VIEW locks_folded(
  -- Semicolon-separated frames, outermost first (untrusted text).
  folded,
  -- Wait time, ns.
  total_ns
) AS
SELECT COALESCE(p.comm, '?') ||
       COALESCE((SELECT ';' || GROUP_CONCAT(frame, ';') FROM
                 (SELECT frame FROM stack_frame_text WHERE stack_id = g.user_stack_id ORDER BY frame_index DESC)), ''),
       SUM(g.total_ns)
FROM (SELECT tid, user_stack_id, SUM(wait_ns) AS total_ns FROM locks_wait GROUP BY tid, user_stack_id) g
LEFT JOIN process p ON p.tid = g.tid
GROUP BY 1 ORDER BY 2 DESC;

-- Lock waits as timeline events for nettrail correlate (contract in _monitor.sql).
CREATE VIEW locks_timeline(
  -- CLOCK_BOOTTIME of the lock call's entry, ns.
  time_ns,
  -- The wait, ns.
  duration_ns,
  -- read, write or mutex.
  kind,
  -- Waiter, lock and holder, e.g. "worker (812) on 0x5601... held by writer (811)".
  detail
) AS
SELECT w.start_ns, w.wait_ns, w.kind,
       COALESCE(p.comm, '?') || ' (' || w.tid || ') on ' || printf('0x%x', w.lock_address) ||
       CASE WHEN w.holder_tid IS NULL THEN ' holder unknown'
            ELSE ' held by ' || COALESCE(h.comm, '?') || ' (' || w.holder_tid || ')' END ||
       COALESCE(' at ' || us.top_frame, '')
FROM locks_wait w
LEFT JOIN process p ON p.tid = w.tid
LEFT JOIN process h ON h.tid = w.holder_tid
LEFT JOIN stack us ON us.stack_id = w.user_stack_id;

-- Headline figures for nettrail diff (contract in _monitor.sql).
CREATE VIEW locks_metric(
  -- Figure name: lock waits, lock wait ms, longest lock wait ms, locks contended.
  name,
  -- Its value in this recording.
  value
) AS
SELECT 'lock waits', COALESCE((SELECT SUM(waits) FROM locks_by_lock), 0)
UNION ALL SELECT 'lock wait ms', COALESCE((SELECT SUM(total_ns) FROM locks_by_lock), 0) / 1e6
UNION ALL SELECT 'longest lock wait ms', COALESCE((SELECT MAX(max_ns) FROM locks_by_lock), 0) / 1e6
UNION ALL SELECT 'locks contended', (SELECT COUNT(DISTINCT lock_address) FROM locks_by_lock);

-- Lock wait time (ms) per kind, waiter stack and holder stack, keyed by text
-- that means the same in another recording (lock addresses do not), for
-- nettrail diff (contract in _monitor.sql).
CREATE VIEW locks_breakdown(
  -- kind, waiter stack or holder stack.
  dimension,
  -- Kind name; a stack as its five innermost function names joined by " <- ".
  key,
  -- Wait time, ms.
  value
) AS
SELECT 'kind', kind, SUM(total_ns) / 1e6 FROM locks_by_lock GROUP BY kind
UNION ALL
SELECT dimension, k, SUM(ns) / 1e6 FROM (
  SELECT 'waiter stack' AS dimension,
         COALESCE((SELECT group_concat(name, ' <- ') FROM (
                     SELECT COALESCE(f.symbol, printf('0x%x', f.address)) AS name FROM stack_frame f
                     WHERE f.stack_id = w.user_stack_id ORDER BY f.frame_index LIMIT 5)), '(no stack)') AS k,
         w.wait_ns AS ns
  FROM locks_wait w
  UNION ALL
  SELECT 'holder stack',
         COALESCE((SELECT group_concat(name, ' <- ') FROM (
                     SELECT COALESCE(f.symbol, printf('0x%x', f.address)) AS name FROM stack_frame f
                     WHERE f.stack_id = w.holder_user_stack_id ORDER BY f.frame_index LIMIT 5)), '(no stack)'),
         w.wait_ns
  FROM locks_wait w)
GROUP BY dimension, k;
