-- kmsg family: the kernel log lines logged while the recording ran
-- (/dev/kmsg), with their times mapped to the recording's CLOCK_BOOTTIME.
-- The kernel stamps log records with local_clock(), not CLOCK_MONOTONIC; the
-- recorder measured local_clock - CLOCK_BOOTTIME (kmsg_clock) and mapped each
-- line through the latest measurement before it was read.

-- One row per kernel log line.
CREATE TABLE kmsg_line(
  -- CLOCK_BOOTTIME of the line, ns (kernel_us * 1000 minus the latest kmsg_clock offset).
  time_ns INTEGER,
  -- The record's own timestamp: local_clock() in microseconds, as dmesg prints it.
  kernel_us INTEGER,
  -- The kernel's record sequence number.
  seq INTEGER,
  -- Syslog level: 0 emerg, 1 alert, 2 crit, 3 err, 4 warning, 5 notice, 6 info, 7 debug.
  level INTEGER,
  -- Syslog facility: 0 kernel; 1 user (lines written to /dev/kmsg by programs), ...
  facility INTEGER,
  -- 1 for a fragment the next record continues (flag 'c', kernels before 4.9).
  continuation INTEGER,
  -- Task (T123) or CPU (C1) that logged it, on kernels with CONFIG_PRINTK_CALLER; else empty.
  caller TEXT,
  -- The message, unprintable bytes as \xNN (untrusted text).
  text TEXT,
  -- The record's KEY=VALUE lines (SUBSYSTEM=..., DEVICE=...), one per line (untrusted text).
  dict TEXT
);

-- Measurements of the kernel log clock against CLOCK_BOOTTIME.
CREATE TABLE kmsg_clock(
  -- CLOCK_BOOTTIME of the measurement, ns.
  boottime_ns INTEGER,
  -- local_clock() at that instant, ns.
  local_clock_ns INTEGER,
  -- local_clock - CLOCK_BOOTTIME, ns: what is subtracted from a line's timestamp.
  offset_ns INTEGER,
  -- Half the width of the CLOCK_BOOTTIME bracket around the reading, ns.
  uncertainty_ns INTEGER,
  -- perf (measured with a perf record, which the kernel stamps with the same clock) or
  -- monotonic (perf_event_open was refused: local_clock taken as CLOCK_MONOTONIC).
  method TEXT
);

-- Each line with its wall-clock time, level and facility names and a class.
CREATE VIEW kmsg_event(
  -- CLOCK_BOOTTIME of the line, ns.
  time_ns,
  -- CLOCK_REALTIME of the line, ns since the Unix epoch, through the nearest earlier clock anchor.
  realtime_ns,
  -- The record's local_clock() timestamp, microseconds.
  kernel_us,
  -- The kernel's record sequence number.
  seq,
  -- Syslog level number.
  level,
  -- emerg, alert, crit, err, warning, notice, info or debug.
  level_name,
  -- kern, user, or the facility number.
  facility_name,
  -- irq_nobody_cared ("irq N: nobody cared"), irq_disabled ("Disabling IRQ #N"), irq_bogus_return
  -- ("irq event N: bogus return value"), openvswitch (the module's lines), error (levels 0-3),
  -- warning (level 4) or other.
  class,
  -- The IRQ number of the irq_* classes, else NULL.
  irq,
  -- Task or CPU that logged it, or empty.
  caller,
  -- The message (untrusted text).
  text
) AS
WITH c AS (
  SELECT *,
         -- kernel/irq/spurious.c prints these from the kernel (facility 0) only.
         CASE
           WHEN facility = 0 AND text GLOB 'irq [0-9]*: nobody cared*' THEN 'irq_nobody_cared'
           WHEN facility = 0 AND text GLOB 'Disabling *IRQ #[0-9]*' THEN 'irq_disabled'
           WHEN facility = 0 AND text GLOB 'irq event [0-9]*: bogus return value*' THEN 'irq_bogus_return'
           WHEN facility = 0 AND text GLOB 'openvswitch: *' THEN 'openvswitch'
           WHEN level <= 3 THEN 'error'
           WHEN level = 4 THEN 'warning'
           ELSE 'other'
         END AS class
  FROM kmsg_line
)
SELECT c.time_ns,
       c.time_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= c.time_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       c.kernel_us, c.seq, c.level,
       CASE c.level WHEN 0 THEN 'emerg' WHEN 1 THEN 'alert' WHEN 2 THEN 'crit' WHEN 3 THEN 'err'
                    WHEN 4 THEN 'warning' WHEN 5 THEN 'notice' WHEN 6 THEN 'info' ELSE 'debug' END,
       CASE c.facility WHEN 0 THEN 'kern' WHEN 1 THEN 'user' ELSE CAST(c.facility AS TEXT) END,
       c.class,
       CASE c.class
         WHEN 'irq_nobody_cared' THEN CAST(substr(c.text, 5, instr(c.text, ':') - 5) AS INTEGER)
         WHEN 'irq_disabled' THEN CAST(substr(c.text, instr(c.text, '#') + 1) AS INTEGER)
         WHEN 'irq_bogus_return' THEN CAST(substr(c.text, 11, instr(c.text, ':') - 11) AS INTEGER)
       END,
       c.caller, c.text
FROM c ORDER BY c.time_ns, c.seq;

-- IRQs the kernel's spurious-interrupt detector reported or switched off
-- (kernel/irq/spurious.c: 99 900 of 100 000 interrupts unhandled).
CREATE VIEW kmsg_irq(
  -- The IRQ number.
  irq,
  -- CLOCK_BOOTTIME of the first "irq N: nobody cared" line, ns; NULL if none was logged.
  nobody_cared_ns,
  -- CLOCK_BOOTTIME of the first "Disabling IRQ #N" line, ns; NULL if none was logged.
  disabled_ns,
  -- CLOCK_REALTIME of the first of the two, ns since the Unix epoch.
  realtime_ns,
  -- Lines about this IRQ.
  lines
) AS
SELECT irq,
       MIN(CASE WHEN class = 'irq_nobody_cared' THEN time_ns END),
       MIN(CASE WHEN class = 'irq_disabled' THEN time_ns END),
       MIN(realtime_ns), COUNT(*)
FROM kmsg_event WHERE class IN ('irq_nobody_cared', 'irq_disabled', 'irq_bogus_return')
GROUP BY irq ORDER BY 2, 3;

-- Kernel log lines as timeline events for nettrail correlate (contract in _monitor.sql).
CREATE VIEW kmsg_timeline(
  -- CLOCK_BOOTTIME of the line, ns.
  time_ns,
  -- 0: a log line is an instant.
  duration_ns,
  -- The line's class (kmsg_event.class).
  kind,
  -- Level and message, e.g. "err: irq 25: nobody cared ...".
  detail
) AS
SELECT time_ns, 0, class, level_name || ': ' || text FROM kmsg_event;

-- Headline figures for nettrail diff (contract in _monitor.sql).
CREATE VIEW kmsg_metric(
  -- Figure name: kernel log lines, kernel log errors (levels 0-3), kernel log warnings,
  -- IRQs disabled (Disabling IRQ #N lines), openvswitch log lines.
  name,
  -- Its value in this recording.
  value
) AS
SELECT 'kernel log lines', COUNT(*) FROM kmsg_line
UNION ALL SELECT 'kernel log errors', COUNT(*) FROM kmsg_line WHERE level <= 3
UNION ALL SELECT 'kernel log warnings', COUNT(*) FROM kmsg_line WHERE level = 4
UNION ALL SELECT 'IRQs disabled', COUNT(*) FROM kmsg_event WHERE class = 'irq_disabled'
UNION ALL SELECT 'openvswitch log lines', COUNT(*) FROM kmsg_event WHERE class = 'openvswitch';

-- Lines per level and per class, for nettrail diff (contract in _monitor.sql).
CREATE VIEW kmsg_breakdown(
  -- level or class.
  dimension,
  -- Level name or class name.
  key,
  -- Lines.
  value
) AS
SELECT 'level', level_name, COUNT(*) FROM kmsg_event GROUP BY level_name
UNION ALL SELECT 'class', class, COUNT(*) FROM kmsg_event GROUP BY class;
