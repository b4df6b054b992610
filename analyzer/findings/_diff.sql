-- Findings over the comparison of two recordings (nettrail diff; the diff_*
-- tables of analyzer/queries/_diff.sql). Contract: docs/architecture.md,
-- "Findings". The families' figures reach these rules through their
-- <family>_metric and <family>_breakdown views, so a family's figures are
-- covered without a rule of its own.

-- Headline figures present in both recordings, with the relative change and
-- the second recording's path. A count whose rate is also a figure (drops
-- next to drops/s) is left to the rate, so one change is one finding.
CREATE TEMP VIEW _finding_diff_metric AS
SELECT m.family, m.name, m.before, m.after, m.change,
       CASE WHEN m.before = 0 THEN NULL ELSE 100.0 * (m.after - m.before) / ABS(m.before) END AS percent,
       (SELECT path FROM diff_input WHERE side = 'after') AS after_path,
       (SELECT d.dimension || ' ' || d.key || ' (' || CASE WHEN d.delta > 0 THEN '+' ELSE '' END
               || nt_number(d.delta) || ')' FROM diff_breakdown d
        WHERE d.family = m.family AND d.dimension != 'stack' AND d.delta != 0
          AND (d.delta > 0) = (m.after > m.before)
        ORDER BY ABS(d.delta) DESC, d.key LIMIT 1) AS mostly
FROM diff_metric m
WHERE m.before IS NOT NULL AND m.after IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM diff_metric r WHERE r.family = m.family AND r.name = m.name || '/s');

-- A headline figure at least half again as high in the second recording (or
-- from 0 to any value): what got worse, with the key that rose the most.
-- Ranked by the relative rise, capped at 100.
-- Triggered by: FindingsDiffTest.DiffNamesWhatRoseAndWhatIsNew
-- Quiet in: FindingsDiffTest.DiffOfARecordingWithItselfFindsNothing
CREATE TEMP VIEW finding_diff_rose AS
SELECT 'warning' AS severity,
       COALESCE(MIN(100, percent), 100) AS score,
       name || ' rose: ' || substr(change, length(name) + 3) AS title,
       nt_number(before) || ' in the first recording, ' || nt_number(after) || ' in the second'
         || CASE WHEN mostly IS NULL THEN '' ELSE '; most of the rise: ' || mostly END AS evidence,
       'Triage the second recording for what is new: `nettrail triage ' || after_path || '`' AS next_step,
       printf('SELECT dimension, key, before, after, change FROM diff_breakdown WHERE family = %Q AND delta > 0 '
              || 'ORDER BY delta DESC, key', family) AS evidence_sql
FROM _finding_diff_metric
WHERE after > before AND (before = 0 OR after >= 1.5 * before);

-- A headline figure at most two thirds of what it was (or down to 0): what
-- improved, e.g. the drops a fix removed. Ranked by the relative fall.
-- Triggered by: FindingsDiffTest.DiffNamesWhatFell
-- Quiet in: FindingsDiffTest.DiffOfARecordingWithItselfFindsNothing
CREATE TEMP VIEW finding_diff_fell AS
SELECT 'info' AS severity,
       MIN(100, -percent) AS score,
       name || ' fell: ' || substr(change, length(name) + 3) AS title,
       nt_number(before) || ' in the first recording, ' || nt_number(after) || ' in the second'
         || CASE WHEN mostly IS NULL THEN '' ELSE '; most of the fall: ' || mostly END AS evidence,
       CASE WHEN after > 0 THEN 'What remains: `nettrail triage ' || after_path || '`' ELSE '' END AS next_step,
       printf('SELECT dimension, key, before, after, change FROM diff_breakdown WHERE family = %Q AND delta < 0 '
              || 'ORDER BY delta, key', family) AS evidence_sql
FROM _finding_diff_metric
WHERE before > 0 AND after < before AND after <= before * 2.0 / 3;

-- A reason, device or location the first recording did not have at all (a
-- new kind of drop, a new lock kind): often the change's side effect. Ranked
-- by its share of its dimension in the second recording.
-- Triggered by: FindingsDiffTest.DiffNamesWhatRoseAndWhatIsNew
-- Quiet in: FindingsDiffTest.DiffOfARecordingWithItselfFindsNothing
CREATE TEMP VIEW finding_diff_new_key AS
SELECT 'warning' AS severity,
       ROUND(100.0 * d.after / (SELECT SUM(o.after) FROM diff_breakdown o
                                 WHERE o.family = d.family AND o.dimension = d.dimension), 1) AS score,
       printf('New in the second recording: %s %s %s (%s)', d.family, d.dimension, d.key, nt_number(d.after))
         AS title,
       '0 in the first recording, ' || nt_number(d.after) || ' in the second, of '
         || nt_number((SELECT SUM(o.after) FROM diff_breakdown o WHERE o.family = d.family
                       AND o.dimension = d.dimension)) || ' in all' AS evidence,
       'Triage the second recording: `nettrail triage ' || (SELECT path FROM diff_input WHERE side = 'after') || '`'
         AS next_step,
       printf('SELECT key AS %s, before, after, change FROM diff_breakdown WHERE family = %Q AND dimension = %Q '
              || 'ORDER BY after DESC, key', '"' || replace(d.dimension, '"', '""') || '"', d.family, d.dimension)
         AS evidence_sql
FROM diff_breakdown d
WHERE d.before = 0 AND d.after > 0 AND d.dimension != 'stack'
ORDER BY d.after DESC
LIMIT 10;
