-- Monitoring exports imported next to a recording (nettrail import), and the
-- alerts nettrail correlate derives from them. Created on the first import, so
-- a database without monitoring data has none of these tables.
--
-- Times: realtime_ns is the monitor's wall clock after --clock-offset, in ns
-- since the Unix epoch; time_ns is the same instant as CLOCK_BOOTTIME of the
-- recorded host, through the nearest clock_anchor at or before it (the same
-- mapping the report uses in the other direction), so it compares directly with
-- event times.
--
-- Correlation contract (how a probe family joins in without editing the
-- correlation code): a family's own SQL file declares
--
--   CREATE VIEW <family>_timeline(time_ns, duration_ns, kind, detail)
--
-- with one row per recorded event that has a precise time: time_ns its
-- CLOCK_BOOTTIME start, duration_ns how long it lasted (0 for an instant such as
-- a drop, the blocked time of an off-CPU event or lock wait), kind a short class
-- (a drop reason, a lock kind), detail one line of text for people (flow,
-- thread, stack top). nettrail correlate takes every view whose name ends in
-- _timeline; the family is the name without the suffix. An event belongs to an
-- alert when [time_ns, time_ns + duration_ns] overlaps the alert's window.
-- Rows of in-kernel summaries (interval totals) are not timeline rows: their
-- time is an interval, not an event.
--
-- Diff contract (nettrail diff): a family may also declare
--   CREATE VIEW <family>_metric(name, value)        -- headline figures, e.g. drops/s
--   CREATE VIEW <family>_breakdown(dimension, key, value)  -- e.g. ('reason', 'NO_SOCKET', 40)
-- whose rows are compared between the two recordings by name and by
-- (dimension, key). Keys must not contain recording-local ids (stack ids,
-- ifindex alone): use text that means the same in another recording.

-- One row per imported monitoring file.
CREATE TABLE IF NOT EXISTS monitor_source(
  -- Id referenced by monitor_probe and monitor_sample.
  source_id INTEGER PRIMARY KEY,
  -- Path as given to nettrail import.
  path TEXT,
  -- ping, pidstat, csv or prometheus.
  format TEXT,
  -- --name, or the file name; prefixes nothing, shown in views.
  name TEXT,
  -- --clock-offset: the monitor's clock minus the recorded host's clock, ns (subtracted).
  clock_offset_ns INTEGER,
  -- Rows imported from the file.
  rows INTEGER,
  -- Rows whose time falls outside the recording's span (kept, but nothing can be recorded around them).
  outside_rows INTEGER
);

-- Probe results from ping/probe logs: one row per probe answered or lost.
CREATE TABLE IF NOT EXISTS monitor_probe(
  -- monitor_source id.
  source_id INTEGER,
  -- When the monitor printed the result, ns since the epoch, after --clock-offset. For ping -O
  -- "no answer yet" lines that is when ping gave up, up to one interval after the probe left.
  realtime_ns INTEGER,
  -- The same instant as CLOCK_BOOTTIME of the recorded host, ns.
  time_ns INTEGER,
  -- Probed address or name.
  target TEXT,
  -- icmp_seq or probe number, NULL when the log has none.
  seq INTEGER,
  -- Round-trip time in ms; NULL for a timeout.
  rtt_ms REAL,
  -- 1 when the probe got no answer (timeout, unreachable), else 0.
  timeout INTEGER,
  -- Line of the file, for messages.
  line INTEGER
);

-- Numeric time series: pidstat columns, generic CSV, Prometheus samples.
CREATE TABLE IF NOT EXISTS monitor_sample(
  -- monitor_source id.
  source_id INTEGER,
  -- Sample time, ns since the epoch, after --clock-offset.
  realtime_ns INTEGER,
  -- The same instant as CLOCK_BOOTTIME of the recorded host, ns.
  time_ns INTEGER,
  -- Series name: CSV series; Prometheus metric{labels} with labels sorted; pidstat
  -- "%CPU comm/tid" (one series per percentage column and thread or process).
  series TEXT,
  -- Sample value; NULL for NaN.
  value REAL,
  -- Line of the file.
  line INTEGER
);

-- Settings of the last nettrail correlate run.
CREATE TABLE IF NOT EXISTS monitor_setting(
  -- window_ms, rtt_threshold_ms or threshold (one row per --threshold).
  key TEXT,
  -- Value as given.
  value TEXT
);

-- Alerts found by nettrail correlate: probe timeouts, RTT above the threshold,
-- and threshold crossings of series.
CREATE TABLE IF NOT EXISTS monitor_alert(
  -- Alert number in time order.
  alert_id INTEGER PRIMARY KEY,
  -- monitor_source id.
  source_id INTEGER,
  -- CLOCK_BOOTTIME of the alert, ns.
  time_ns INTEGER,
  -- Wall clock of the alert, ns since the epoch (monitor clock after --clock-offset).
  realtime_ns INTEGER,
  -- timeout, rtt or threshold.
  kind TEXT,
  -- Probe target or series name.
  subject TEXT,
  -- RTT in ms or the series value; NULL for a timeout.
  value REAL,
  -- Human-readable description, e.g. "icmp_seq=17 no answer", "%CPU ovs-vswitchd/812 = 97 > 90".
  detail TEXT,
  -- 1 when the alert lies inside the recording's span; alerts outside get no verdict.
  in_recording INTEGER,
  -- Kernel drops (drop_timeline rows) within the window.
  drops INTEGER,
  -- Timeline events of all families within the window.
  events INTEGER,
  -- Per-family counts within the window, e.g. "drop 3, offcpu 2"; empty when none.
  families TEXT,
  -- "drop" when a kernel drop lies within the window, "no drop" otherwise, "outside recording".
  verdict TEXT
);

-- Recorded events within the window of each alert (from every <family>_timeline view).
CREATE TABLE IF NOT EXISTS monitor_alert_event(
  -- monitor_alert id.
  alert_id INTEGER,
  -- Family the event came from (view name without _timeline).
  family TEXT,
  -- CLOCK_BOOTTIME start of the event, ns.
  time_ns INTEGER,
  -- Event start minus alert time, ms (negative: before the alert).
  offset_ms REAL,
  -- Event duration, ns (0 for instants).
  duration_ns INTEGER,
  -- Event class from the timeline view.
  kind TEXT,
  -- Event description from the timeline view.
  detail TEXT
);
