-- The comparison of two recordings that nettrail diff builds in memory, one row
-- per compared figure. Inputs are compared through each family's
-- <family>_metric, <family>_breakdown and <family>_timeline views (contracts in
-- _monitor.sql), so a family joins the diff by declaring them.

-- The two inputs.
CREATE TABLE diff_input(
  -- before or after.
  side TEXT,
  -- Recording or database path as given.
  path TEXT,
  -- Recorded host name.
  host TEXT,
  -- Recording start, ns since the epoch (NULL if unknown).
  start_realtime_ns INTEGER,
  -- Recording length in seconds (NULL if unknown).
  seconds REAL
);

-- Headline figures from <family>_metric views, before and after.
CREATE TABLE diff_metric(
  -- Family whose view gave the figure.
  family TEXT,
  -- Figure name, e.g. drops/s.
  name TEXT,
  -- Value in the first recording; NULL when it had no such figure.
  before REAL,
  -- Value in the second recording.
  after REAL,
  -- The change in words, e.g. "drops/s: 120.0 → 3.5 (−97.1%)".
  change TEXT
);

-- Rows of <family>_breakdown views (per reason, device, location, stack), before and after.
CREATE TABLE diff_breakdown(
  -- Family whose view gave the row.
  family TEXT,
  -- reason, device, location, stack...
  dimension TEXT,
  -- The reason, device, location or stack text.
  key TEXT,
  -- Value in the first recording (0 when absent).
  before REAL,
  -- Value in the second recording (0 when absent).
  after REAL,
  -- after - before.
  delta REAL,
  -- Relative change in words, e.g. "−75.0%", "new", "gone".
  change TEXT
);

-- Percentiles of per-second event counts and of event durations from <family>_timeline views.
CREATE TABLE diff_percentile(
  -- Family of the timeline view.
  family TEXT,
  -- events/s (events per one-second bucket over the recording) or duration_ms.
  measure TEXT,
  -- mean, p50, p90, p99, p99.9 or max.
  statistic TEXT,
  -- Value in the first recording.
  before REAL,
  -- Value in the second recording.
  after REAL
);

-- log2 histograms of the same measures, side by side.
CREATE TABLE diff_histogram(
  -- Family of the timeline view.
  family TEXT,
  -- events/s or duration_ms.
  measure TEXT,
  -- Lower bound of the bucket (0, 1, 2, 4, ...).
  bucket_low REAL,
  -- Bucket label, e.g. "4-7".
  bucket TEXT,
  -- Count of seconds (events/s) or events (duration_ms) in the bucket, first recording.
  before INTEGER,
  -- The same for the second recording.
  after INTEGER
);
