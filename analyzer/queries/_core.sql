-- Core tables every recording has, whatever its probe families.
-- Times are CLOCK_BOOTTIME nanoseconds of the recorded host unless a column says
-- otherwise; realtime_ns columns are derived through clock_anchor.
-- View column lists hold names only (SQLite rejects types there); the comment
-- above each column says what it holds.

-- Facts from the recording header, one row per fact.
CREATE TABLE meta(
  -- Fact name, e.g. host_name, kernel_release, boot_id, cpu_count, command_line.
  key TEXT PRIMARY KEY,
  -- Fact value as text.
  value TEXT
);

-- Files that were ingested into this database and how much of each was readable.
CREATE TABLE recording_file(
  -- Path as given to nettrail ingest.
  path TEXT,
  -- Segment number of a rotated recording (0 for the first file).
  segment INTEGER,
  -- File size in bytes.
  bytes INTEGER,
  -- Bytes up to the end of the last whole frame that was read.
  bytes_used INTEGER,
  -- Data frames decoded, header included.
  frames INTEGER,
  -- 1 if the recorder closed the file cleanly (trailer present).
  has_trailer INTEGER,
  -- 1 if the file ends inside a frame (cut off by kill -9 or a full disk).
  truncated INTEGER,
  -- 1 if a frame failed its checksum or did not decode.
  corrupt INTEGER
);

-- Options and filters of every probe family in the recording.
CREATE TABLE probe_option(
  -- Family name from families.def, e.g. drop.
  family TEXT,
  -- Option name, e.g. src_ip, mode, interval_ms.
  key TEXT,
  -- Effective value.
  value TEXT
);

-- Attach candidates each family tried, in order, and which one was used.
CREATE TABLE attachment(
  -- Family name.
  family TEXT,
  -- Logical hook, e.g. kfree_skb.
  hook TEXT,
  -- tp_btf, raw_tp, tracepoint, fentry, kprobe or uprobe.
  strategy TEXT,
  -- Attached kernel object, e.g. skb:kfree_skb.
  target TEXT,
  -- 1 if this candidate is the one that was attached.
  attached INTEGER,
  -- Why an earlier candidate was not used or why this one failed.
  note TEXT
);

-- Kernel enum names read from the recorded host's BTF.
CREATE TABLE enum_value(
  -- Enum type, e.g. skb_drop_reason.
  enum_name TEXT,
  -- Numeric value on the recorded kernel.
  value INTEGER,
  -- Enumerator name, e.g. SKB_DROP_REASON_NO_SOCKET.
  name TEXT
);

-- Pairs of clock readings taken together on the recorded host.
CREATE TABLE clock_anchor(
  -- CLOCK_BOOTTIME in ns.
  boottime_ns INTEGER,
  -- CLOCK_REALTIME in ns since the Unix epoch.
  realtime_ns INTEGER,
  -- CLOCK_MONOTONIC in ns.
  monotonic_ns INTEGER
);

-- Network interfaces seen in events, per network namespace.
CREATE TABLE interface(
  -- Network namespace inode number.
  netns INTEGER,
  -- Interface index within that namespace.
  ifindex INTEGER,
  -- Interface name as the kernel reported it (untrusted text).
  name TEXT,
  PRIMARY KEY(netns, ifindex)
);

-- Threads seen in events.
CREATE TABLE process(
  -- Thread id.
  tid INTEGER PRIMARY KEY,
  -- Process (thread group) id.
  pid INTEGER,
  -- Thread name (comm) as the kernel reported it (untrusted text).
  comm TEXT
);

-- Kernel symbols the recorder resolved for every address it saw.
CREATE TABLE kernel_symbol(
  -- Symbol start address.
  address INTEGER,
  -- Bytes to the next symbol (0 if unknown).
  size INTEGER,
  -- Function name.
  name TEXT,
  -- Module name, empty for vmlinux.
  module TEXT
);

-- Stacks referenced by events (recording-wide ids).
CREATE TABLE stack(
  -- Stack id used by event tables.
  stack_id INTEGER PRIMARY KEY,
  -- 1 for a kernel stack, 0 for a user stack.
  kernel INTEGER,
  -- Number of frames.
  depth INTEGER,
  -- First frame outside the tracing machinery, as symbol+0xoffset.
  top_frame TEXT
);

-- Frames of every stack, innermost first, symbolized from the recording alone.
CREATE TABLE stack_frame(
  -- Stack id.
  stack_id INTEGER,
  -- 0 for the innermost frame.
  frame_index INTEGER,
  -- Instruction address.
  address INTEGER,
  -- Function name, or NULL if no symbol covers the address.
  symbol TEXT,
  -- Offset of address from the symbol start.
  offset INTEGER,
  -- Module, empty for vmlinux; for user frames the mapped file's path.
  module TEXT,
  -- 1 for frames of the tracing machinery (bpf_trace_run, __traceiter_...), hidden in views.
  tracing INTEGER
);

-- File mappings of recorded processes, for user stacks (one row per process and mapping).
CREATE TABLE user_mapping(
  -- Process id.
  pid INTEGER,
  -- First address of the mapping.
  start INTEGER,
  -- One past the last address.
  end INTEGER,
  -- File offset mapped at start.
  file_offset INTEGER,
  -- ELF virtual address that start maps (user_symbol.value space).
  elf_address INTEGER,
  -- user_symbol.binary_id of the file, 0 if the recorder could not read it.
  binary_id INTEGER,
  -- Path as /proc/PID/maps showed it (untrusted text).
  path TEXT,
  -- GNU build-id in hex, empty if none.
  build_id TEXT
);

-- ELF function symbols of the binaries seen in user stacks (only those covering a frame).
CREATE TABLE user_symbol(
  -- Recording-wide id of the binary (user_mapping.binary_id).
  binary_id INTEGER,
  -- ELF virtual address (st_value).
  value INTEGER,
  -- Size in bytes, 0 if unknown.
  size INTEGER,
  -- Function name (untrusted text).
  name TEXT
);

-- Counters the recorder kept: lost events per probe and CPU, and other totals.
CREATE TABLE counter(
  -- Family name, or "recorder".
  family TEXT,
  -- Counter name, e.g. ring_reserve_failed.
  name TEXT,
  -- CPU, or -1 when not per CPU.
  cpu INTEGER,
  -- Final cumulative value.
  value INTEGER,
  -- 1 if the value counts events that are missing from the recording.
  data_loss INTEGER
);

-- Problems found while ingesting, and totals worth showing; data_loss rows go on
-- the report's first screen.
CREATE TABLE stats(
  -- info, error or data_loss.
  severity TEXT,
  -- What produced it, e.g. reader, drop, ingest.
  source TEXT,
  -- Short name, e.g. truncated_tail, unknown_family_batches.
  name TEXT,
  -- Count or size the row is about.
  value INTEGER,
  -- Human-readable explanation.
  detail TEXT
);

-- Stack frames with their text form, e.g. tcp_v4_rcv+0x1a3 [kernel].
CREATE VIEW stack_frame_text(
  -- Stack id.
  stack_id,
  -- 0 for the innermost frame.
  frame_index,
  -- symbol+0xoffset, or the raw address in hex when unresolved.
  frame,
  -- 1 for tracing-machinery frames.
  tracing
) AS
SELECT stack_id, frame_index,
       CASE WHEN symbol IS NULL THEN printf('0x%x', address)
            ELSE printf('%s+0x%x', symbol, offset) ||
                 CASE WHEN module = '' THEN '' ELSE ' [' || module || ']' END END,
       tracing
FROM stack_frame;

-- Data-loss and error rows from the recorder and the ingest, for the first screen.
CREATE VIEW loss_summary(
  -- recorder or ingest.
  origin,
  -- Family or source.
  source,
  -- Counter or stats name.
  name,
  -- Events lost, counted once: the recorder's total row (cpu -1) where it
  -- wrote one, else the sum of its per-CPU rows (schema nettrail/counters.h).
  value,
  -- Explanation, when known.
  detail
) AS
SELECT 'recorder', family, name, value, NULL FROM (
  SELECT family, name, COALESCE(SUM(CASE WHEN cpu < 0 THEN value END), SUM(value)) AS value FROM counter
  WHERE data_loss = 1 GROUP BY family, name) WHERE value > 0
UNION ALL
SELECT 'ingest', source, name, value, detail FROM stats WHERE severity IN ('data_loss', 'error');
