-- Findings over what every recording has (data loss, the recording's span).
-- The rule contract is in docs/architecture.md, "Findings": each rule is one
-- CREATE TEMP VIEW finding_<file>_<name> whose rows are findings, with the
-- columns severity, score, title, evidence, next_step and evidence_sql.
-- Views named _finding_* are helpers for the rules of every file (this file
-- runs first in a recording's triage).

-- The recorded span in CLOCK_BOOTTIME ns: the header's start and the
-- trailer's end, else the first and last clock anchor (a file cut off has no
-- trailer); seconds is never 0.
CREATE TEMP VIEW _finding_span AS
SELECT start_ns, end_ns, MAX(end_ns - start_ns, 1) / 1e9 AS seconds FROM (
  SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'start_boottime_ns'),
                  (SELECT MIN(boottime_ns) FROM clock_anchor), 0) AS start_ns,
         COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'end_boottime_ns'),
                  (SELECT MAX(boottime_ns) FROM clock_anchor), 0) AS end_ns);

-- Something was lost: events the kernel or the recorder could not keep
-- (counters with data_loss set), or parts of the file the reader could not
-- use. Every count in the recording is then a lower bound, so this comes
-- first. The next step depends on what was lost; the largest loss decides.
-- Triggered by: FindingsTest.FullFlowMapIsALossFindingRankedFirst
-- Quiet in: FindingsTest.FullRingAtATapIsOneDropFinding
CREATE TEMP VIEW finding_core_data_loss AS
WITH loss AS (
  SELECT origin, source, name, value, detail FROM loss_summary
),
totals AS (
  SELECT (SELECT COALESCE(SUM(value), 0) FROM loss WHERE origin = 'recorder') AS lost,
         (SELECT COUNT(*) FROM loss WHERE origin = 'recorder') AS kinds,
         (SELECT COUNT(*) FROM loss WHERE origin = 'ingest') AS file_problems
),
largest AS (
  SELECT origin, source, name, value, detail FROM loss
  ORDER BY origin = 'ingest' DESC, value DESC LIMIT 1
)
SELECT 'critical' AS severity,
       100 AS score,
       CASE WHEN t.file_problems > 0
            THEN 'The recording is incomplete (' || l.source || ' ' || l.name || ')'
            ELSE printf('%,d events or samples were lost (%s %s%s)', t.lost, l.source, l.name,
                        CASE WHEN t.kinds > 1 THEN printf(' and %d more kinds', t.kinds - 1) ELSE '' END)
       END || ': every count below is a lower bound' AS title,
       (SELECT group_concat(source || ' ' || name || ' ' || printf('%,d', value), '; ')
        FROM (SELECT source, name, value FROM loss ORDER BY value DESC LIMIT 5)) AS evidence,
       CASE
         WHEN l.origin = 'ingest'
           THEN 'The reader could not use part of the file: ' || COALESCE(l.detail, l.name) ||
                '. Copy the file again, or stop the recorder with SIGINT so it closes the file'
         WHEN l.name = 'ring_reserve_failed'
           THEN 'The ring buffer overflowed: record again with a larger --ring-size, a narrower filter '
                || '(--dst-port, -n, -p) or --mode summary (in-kernel counts only)'
         WHEN l.name = 'flow_hist_full'
           THEN 'The in-kernel per-flow histograms were full: record again with a larger --stages-flows, '
                || 'or filter fewer flows (--src-ip, --dst-port, --protocol)'
         WHEN l.name = 'summary_map_full'
           THEN 'The in-kernel summary map was full: record again with a larger --summary-keys or a narrower filter'
         WHEN l.name IN ('start_map_full', 'session_map_full')
           THEN 'Too many events were in flight at once: raise --stages-sessions (stages) or filter by -p/--tid'
         WHEN l.name = 'bpf_recursion_misses'
           THEN 'The kernel skipped runs of ' || l.source || '''s programs (another BPF tool on classic '
                || 'tracepoints shares their guard): stop it, or record with --attach-strategy tp_btf'
         ELSE 'Record again with a narrower filter or --mode summary; nettrail info FILE lists every counter'
       END AS next_step,
       'SELECT origin, source, name, value, detail FROM loss_summary ORDER BY value DESC' AS evidence_sql
FROM totals t, largest l
WHERE t.lost > 0 OR t.file_problems > 0;
