-- Drop family: packets freed through kfree_skb with a drop reason (skb:kfree_skb).

-- Per-drop rows (details mode) are stored in two tables: drop_context holds
-- what repeats from drop to drop (reason, location, stack, device, headers,
-- addresses) once per distinct combination, and drop_packet one narrow row per
-- drop that points at its context. The view drop_event joins them back into
-- one wide row per drop; query drop_event unless a query is too slow.

-- Distinct drop contexts of the recording: one row per combination of the
-- fields below seen in at least one drop.
CREATE TABLE drop_context(
  -- Context id (drop_packet.context_id).
  id INTEGER PRIMARY KEY,
  -- Numeric skb_drop_reason on the recorded kernel.
  reason_code INTEGER,
  -- Reason name without the SKB_DROP_REASON_ prefix, e.g. NO_SOCKET.
  reason TEXT,
  -- Address kfree_skb was called from.
  location INTEGER,
  -- Kernel stack id (stack table), NULL when stacks were off or not captured.
  stack_id INTEGER,
  -- Network namespace inode of the skb's device (or socket).
  netns INTEGER,
  -- Interface index of skb->dev; 0 when the skb had no device.
  ifindex INTEGER,
  -- Source MAC, aa:bb:cc:dd:ee:ff, NULL without an Ethernet header.
  eth_src TEXT,
  -- Destination MAC.
  eth_dst TEXT,
  -- EtherType after VLAN tags (2048 IPv4, 34525 IPv6, 2054 ARP); NULL if unknown.
  eth_type INTEGER,
  -- 802.1Q VLAN id, NULL if untagged.
  vlan_id INTEGER,
  -- IPv4, IPv6, ARP, other or NULL.
  l3 TEXT,
  -- Source IP address in text form.
  src_ip TEXT,
  -- Destination IP address in text form.
  dst_ip TEXT,
  -- L4 protocol name: TCP, UDP, ICMP, ICMPv6 or the number.
  l4 TEXT,
  -- IPv4 TTL or IPv6 hop limit.
  ttl INTEGER,
  -- TCP flags as letters, e.g. S, SA, FA, R.
  tcp_flags TEXT,
  -- ICMP type.
  icmp_type INTEGER,
  -- ICMP code.
  icmp_code INTEGER,
  -- ICMP echo id.
  icmp_id INTEGER,
  -- ARP operation (1 request, 2 reply).
  arp_op INTEGER
);

-- One narrow row per recorded drop (details mode): the fields that change from
-- packet to packet, and the drop's context.
CREATE TABLE drop_packet(
  -- CLOCK_BOOTTIME of the drop, ns.
  time_ns INTEGER,
  -- drop_context.id of the drop.
  context_id INTEGER,
  -- CPU the drop happened on.
  cpu INTEGER,
  -- Thread that was running (often a softirq context); see process.
  tid INTEGER,
  -- skb->len in bytes.
  length INTEGER,
  -- Source port (TCP/UDP), NULL otherwise.
  src_port INTEGER,
  -- Destination port (TCP/UDP), NULL otherwise.
  dst_port INTEGER,
  -- IPv4 identification.
  ip_id INTEGER,
  -- TCP sequence number.
  tcp_seq INTEGER,
  -- ICMP echo sequence.
  icmp_seq INTEGER
);

-- One row per recorded drop (details mode), every field of the drop:
-- drop_packet joined with its drop_context, in recording order.
CREATE VIEW drop_event(
  -- CLOCK_BOOTTIME of the drop, ns.
  time_ns,
  -- CPU the drop happened on.
  cpu,
  -- Thread that was running (often a softirq context); see process.
  tid,
  -- Numeric skb_drop_reason on the recorded kernel.
  reason_code,
  -- Reason name without the SKB_DROP_REASON_ prefix, e.g. NO_SOCKET.
  reason,
  -- Address kfree_skb was called from.
  location,
  -- Kernel stack id (stack table), NULL when stacks were off or not captured.
  stack_id,
  -- Network namespace inode of the skb's device (or socket).
  netns,
  -- Interface index of skb->dev; 0 when the skb had no device.
  ifindex,
  -- skb->len in bytes.
  length,
  -- Source MAC, aa:bb:cc:dd:ee:ff, NULL without an Ethernet header.
  eth_src,
  -- Destination MAC.
  eth_dst,
  -- EtherType after VLAN tags (2048 IPv4, 34525 IPv6, 2054 ARP); NULL if unknown.
  eth_type,
  -- 802.1Q VLAN id, NULL if untagged.
  vlan_id,
  -- IPv4, IPv6, ARP, other or NULL.
  l3,
  -- Source IP address in text form.
  src_ip,
  -- Destination IP address in text form.
  dst_ip,
  -- L4 protocol name: TCP, UDP, ICMP, ICMPv6 or the number.
  l4,
  -- Source port (TCP/UDP), NULL otherwise.
  src_port,
  -- Destination port (TCP/UDP), NULL otherwise.
  dst_port,
  -- IPv4 TTL or IPv6 hop limit.
  ttl,
  -- IPv4 identification.
  ip_id,
  -- TCP sequence number.
  tcp_seq,
  -- TCP flags as letters, e.g. S, SA, FA, R.
  tcp_flags,
  -- ICMP type.
  icmp_type,
  -- ICMP code.
  icmp_code,
  -- ICMP echo id.
  icmp_id,
  -- ICMP echo sequence.
  icmp_seq,
  -- ARP operation (1 request, 2 reply).
  arp_op
) AS
-- Every packet has its context; LEFT JOIN keeps drop_packet the outer loop
-- (recording order, one rowid lookup per drop) and lets SQLite skip the join
-- when a query reads no context column, e.g. SELECT COUNT(*) FROM drop_event.
SELECT p.time_ns, p.cpu, p.tid, c.reason_code, c.reason, c.location, c.stack_id, c.netns, c.ifindex, p.length,
       c.eth_src, c.eth_dst, c.eth_type, c.vlan_id, c.l3, c.src_ip, c.dst_ip, c.l4, p.src_port, p.dst_port, c.ttl,
       p.ip_id, p.tcp_seq, c.tcp_flags, c.icmp_type, c.icmp_code, c.icmp_id, p.icmp_seq, c.arp_op
FROM drop_packet p LEFT JOIN drop_context c ON c.id = p.context_id;

-- In-kernel summary counts per interval (summary mode): one row per key and
-- interval in which its count grew.
CREATE TABLE drop_summary(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Kernel stack id, NULL if none.
  stack_id INTEGER,
  -- Reason name without prefix.
  reason TEXT,
  -- Network namespace inode.
  netns INTEGER,
  -- Interface index.
  ifindex INTEGER,
  -- L4 protocol name.
  l4 TEXT,
  -- Source IP in text form, NULL if none.
  src_ip TEXT,
  -- Destination IP in text form.
  dst_ip TEXT,
  -- Source port.
  src_port INTEGER,
  -- Destination port.
  dst_port INTEGER,
  -- Address kfree_skb was called from.
  location INTEGER,
  -- Drops with this key in this interval.
  drops INTEGER
);

-- Per-interval totals of the in-kernel summary (summary mode), including drops
-- whose key did not fit in the summary map.
CREATE TABLE drop_interval(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Drops that passed the filters in this interval.
  drops INTEGER,
  -- Drops in this interval counted in drop_summary rows (the rest had no room in the map).
  keyed_drops INTEGER
);

-- Per-drop rows (details mode) counted per context and second while they are
-- ingested: what drop_tally, and through it the per-reason, device, location,
-- stack and time views, read instead of grouping millions of drop_packet rows
-- again (SQLite sorts to group; a count at ingest costs a hash lookup per drop).
CREATE TABLE drop_context_second(
  -- Start of the one-second bucket, CLOCK_BOOTTIME ns.
  time_ns INTEGER,
  -- drop_context.id.
  context_id INTEGER,
  -- Drops of that context in that second.
  drops INTEGER
);

-- Every drop count the recording has, in one shape: one row per recorded drop
-- (details mode) or per key and interval (summary mode, used only when the
-- recording has no per-drop rows, so nothing is counted twice).
CREATE VIEW drop_count(
  -- CLOCK_BOOTTIME of the drop, or of the end of its summary interval, ns.
  time_ns,
  -- Summary interval number; NULL for per-drop rows.
  interval_index,
  -- Kernel stack id, NULL if none.
  stack_id,
  -- Reason name without the SKB_DROP_REASON_ prefix.
  reason,
  -- Network namespace inode.
  netns,
  -- Interface index, 0 when the skb had no device.
  ifindex,
  -- L4 protocol name.
  l4,
  -- Source IP in text form.
  src_ip,
  -- Destination IP in text form.
  dst_ip,
  -- Source port.
  src_port,
  -- Destination port.
  dst_port,
  -- Address kfree_skb was called from.
  location,
  -- Number of drops the row stands for.
  drops
) AS
SELECT time_ns, NULL, stack_id, reason, netns, ifindex, l4, src_ip, dst_ip, src_port, dst_port, location, 1
FROM drop_event
UNION ALL
SELECT time_ns, interval_index, stack_id, reason, netns, ifindex, l4, src_ip, dst_ip, src_port, dst_port,
       location, drops
FROM drop_summary WHERE NOT EXISTS (SELECT 1 FROM drop_event);

-- drop_count without ports, per second: per-drop rows come from the counts
-- made at ingest (drop_context_second), so a view that groups by reason,
-- device, location, stack or second reads one row per context and second, not
-- one per drop. Summary mode as in drop_count.
CREATE VIEW drop_tally(
  -- Start of the second (per-drop rows) or end of the summary interval, ns.
  time_ns,
  -- Kernel stack id, NULL if none.
  stack_id,
  -- Reason name without the SKB_DROP_REASON_ prefix.
  reason,
  -- Network namespace inode.
  netns,
  -- Interface index, 0 when the skb had no device.
  ifindex,
  -- Address kfree_skb was called from.
  location,
  -- Number of drops the row stands for.
  drops
) AS
SELECT t.time_ns, c.stack_id, c.reason, c.netns, c.ifindex, c.location, t.drops
FROM drop_context_second t LEFT JOIN drop_context c ON c.id = t.context_id
UNION ALL
SELECT time_ns, stack_id, reason, netns, ifindex, location, drops
FROM drop_summary WHERE NOT EXISTS (SELECT 1 FROM drop_event);

-- Drops per reason over the whole recording.
CREATE VIEW drop_by_reason(
  -- Reason name without prefix.
  reason,
  -- Number of drops.
  drops
) AS SELECT COALESCE(reason, '-'), SUM(drops) FROM drop_tally GROUP BY reason ORDER BY 2 DESC;

-- Drops per device.
CREATE VIEW drop_by_device(
  -- Network namespace inode.
  netns,
  -- Interface index.
  ifindex,
  -- Interface name, or '-' when the skb had no device.
  device,
  -- Number of drops.
  drops
) AS
SELECT d.netns, d.ifindex, COALESCE(i.name, CASE WHEN d.ifindex = 0 THEN '-' ELSE 'if' || d.ifindex END),
       SUM(d.drops)
FROM drop_tally d LEFT JOIN interface i ON i.netns = d.netns AND i.ifindex = d.ifindex
GROUP BY d.netns, d.ifindex ORDER BY 4 DESC;

-- Drops per location (the function that freed the skb).
CREATE VIEW drop_by_location(
  -- Address kfree_skb was called from.
  location,
  -- symbol+0xoffset of the location.
  location_text,
  -- Number of drops.
  drops
) AS
SELECT location,
       COALESCE((SELECT printf('%s+0x%x', s.name, g.location - s.address) FROM kernel_symbol s
                 WHERE s.address <= g.location ORDER BY s.address DESC LIMIT 1), printf('0x%x', g.location)),
       drops
FROM (SELECT location, SUM(drops) AS drops FROM drop_tally GROUP BY location) g ORDER BY 3 DESC;

-- Drops per kernel stack with the flow that hit it most.
CREATE VIEW drop_by_stack(
  -- Kernel stack id (stack_frame_text has its frames).
  stack_id,
  -- Number of drops with this stack.
  drops,
  -- Reason of most drops with this stack.
  reason,
  -- Most frequent flow, e.g. 10.0.0.1:40000 -> 10.0.0.2:80 (TCP), and its share.
  top_flow
) AS
-- Per-(stack, flow) and per-(stack, reason) counts first; the picks below then
-- read those small tables. Per-drop rows are grouped by integers only: each
-- context stands for the first context with its stack and addresses, plus the
-- packet's ports (grouping the text columns of millions of rows took 3 times
-- as long).
WITH flow_context AS MATERIALIZED (
  SELECT id, stack_id, src_ip, dst_ip, l4,
         MIN(id) OVER (PARTITION BY stack_id, src_ip, dst_ip, l4) AS flow
  FROM drop_context WHERE stack_id IS NOT NULL
), flows AS MATERIALIZED (
  SELECT c.stack_id, c.src_ip, c.dst_ip, g.src_port, g.dst_port, c.l4, g.n
  FROM (SELECT fc.flow, p.src_port, p.dst_port, COUNT(*) AS n
        FROM drop_packet p JOIN flow_context fc ON fc.id = p.context_id
        GROUP BY fc.flow, p.src_port, p.dst_port) g
  JOIN flow_context c ON c.id = g.flow
  UNION ALL
  SELECT stack_id, src_ip, dst_ip, src_port, dst_port, l4, SUM(drops)
  FROM drop_summary WHERE stack_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM drop_event)
  GROUP BY stack_id, src_ip, dst_ip, src_port, dst_port, l4
), reasons AS MATERIALIZED (
  SELECT stack_id, reason, SUM(drops) AS n FROM drop_tally WHERE stack_id IS NOT NULL GROUP BY stack_id, reason
), totals AS (
  SELECT stack_id, SUM(n) AS drops FROM reasons GROUP BY stack_id
), top_flow AS (
  -- With one max() and GROUP BY, SQLite takes the other columns from the row
  -- that has the max: one pass, where ORDER BY n DESC LIMIT 1 per stack first
  -- indexed the (up to millions of) flows.
  SELECT stack_id, src_ip, dst_ip, src_port, dst_port, l4, MAX(n) AS n FROM flows GROUP BY stack_id
)
SELECT t.stack_id, t.drops,
       (SELECT r.reason FROM reasons r WHERE r.stack_id = t.stack_id ORDER BY r.n DESC LIMIT 1),
       (SELECT COALESCE(f.src_ip, '?') || CASE WHEN f.src_port IS NULL THEN '' ELSE ':' || f.src_port END
               || ' -> ' || COALESCE(f.dst_ip, '?') || CASE WHEN f.dst_port IS NULL THEN '' ELSE ':' || f.dst_port END
               || ' (' || COALESCE(f.l4, '-') || ')  ' || f.n || ' of ' || t.drops
        FROM top_flow f WHERE f.stack_id = t.stack_id)
FROM totals t
ORDER BY t.drops DESC;

-- Drops per second and reason.
CREATE VIEW drop_over_time(
  -- Start of the one-second bucket, CLOCK_BOOTTIME ns (clock_anchor maps it to wall time).
  time_ns,
  -- Reason name without prefix.
  reason,
  -- Drops in the bucket.
  drops
) AS
SELECT (time_ns / 1000000000) * 1000000000, COALESCE(reason, '-'), SUM(drops)
FROM drop_tally GROUP BY time_ns / 1000000000, reason ORDER BY 1, 2;

-- Per-drop rows with names resolved, for detail tables and `nettrail events`.
CREATE VIEW drop_detail(
  -- CLOCK_BOOTTIME of the drop, ns.
  time_ns,
  -- CLOCK_REALTIME of the drop, ns, through the nearest earlier clock anchor.
  realtime_ns,
  -- CPU.
  cpu,
  -- Thread id.
  tid,
  -- Thread name (untrusted text).
  comm,
  -- Interface name, '-' without a device.
  device,
  -- Reason name without prefix.
  reason,
  -- Location as symbol+0xoffset.
  location,
  -- Kernel stack id.
  stack_id,
  -- Source MAC.
  eth_src,
  -- Destination MAC.
  eth_dst,
  -- 802.1Q VLAN id, NULL if untagged.
  vlan_id,
  -- IPv4, IPv6, ARP, other or NULL.
  l3,
  -- Source IP.
  src_ip,
  -- Destination IP.
  dst_ip,
  -- L4 protocol name.
  l4,
  -- Source port.
  src_port,
  -- Destination port.
  dst_port,
  -- skb->len.
  length,
  -- TTL or hop limit.
  ttl,
  -- IPv4 identification.
  ip_id,
  -- TCP flags as letters.
  tcp_flags,
  -- TCP sequence number.
  tcp_seq,
  -- ICMP type.
  icmp_type,
  -- ICMP echo id.
  icmp_id,
  -- ICMP echo sequence.
  icmp_seq
) AS
SELECT d.time_ns,
       d.time_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= d.time_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       d.cpu, d.tid, p.comm,
       COALESCE(i.name, CASE WHEN d.ifindex = 0 THEN '-' ELSE 'if' || d.ifindex END),
       d.reason,
       COALESCE((SELECT printf('%s+0x%x', s.name, d.location - s.address) FROM kernel_symbol s
                 WHERE s.address <= d.location ORDER BY s.address DESC LIMIT 1), printf('0x%x', d.location)),
       d.stack_id, d.eth_src, d.eth_dst, d.vlan_id, d.l3, d.src_ip, d.dst_ip, d.l4, d.src_port, d.dst_port,
       d.length, d.ttl, d.ip_id, d.tcp_flags, d.tcp_seq, d.icmp_type, d.icmp_id, d.icmp_seq
FROM drop_event d
LEFT JOIN process p ON p.tid = d.tid
LEFT JOIN interface i ON i.netns = d.netns AND i.ifindex = d.ifindex;

-- Drops as timeline events for nettrail correlate (contract in _monitor.sql).
-- Per-drop rows only: summary intervals have no per-drop time.
CREATE VIEW drop_timeline(
  -- CLOCK_BOOTTIME of the drop, ns.
  time_ns,
  -- Always 0: a drop is an instant.
  duration_ns,
  -- Reason name without prefix.
  kind,
  -- Flow and device, e.g. UDP 10.0.0.1:40000 -> 10.0.0.2:9 on veth1.
  detail
) AS
SELECT d.time_ns, 0, COALESCE(d.reason, '-'),
       COALESCE(d.l4, COALESCE(d.l3, '-')) || ' ' || COALESCE(d.src_ip, '?')
         || CASE WHEN d.src_port IS NULL THEN '' ELSE ':' || d.src_port END
         || ' -> ' || COALESCE(d.dst_ip, '?') || CASE WHEN d.dst_port IS NULL THEN '' ELSE ':' || d.dst_port END
         || CASE WHEN d.icmp_seq IS NULL THEN '' ELSE ' icmp_seq=' || d.icmp_seq END
         || ' on ' || COALESCE(i.name, CASE WHEN d.ifindex = 0 THEN '-' ELSE 'if' || d.ifindex END)
FROM drop_event d LEFT JOIN interface i ON i.netns = d.netns AND i.ifindex = d.ifindex;

-- Headline figures for nettrail diff (contract in _monitor.sql).
CREATE VIEW drop_metric(
  -- Figure name: drops, drops/s, drop reasons, drop stacks.
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
),
-- The same figures as over drop_count, without a pass over the drops: every
-- drop_context row is the context of at least one drop_packet row.
counts AS (
  SELECT CASE WHEN EXISTS (SELECT 1 FROM drop_packet) THEN (SELECT COUNT(*) FROM drop_packet)
              ELSE (SELECT COALESCE(SUM(drops), 0) FROM drop_summary) END AS drops,
         CASE WHEN EXISTS (SELECT 1 FROM drop_packet)
              THEN (SELECT COUNT(DISTINCT COALESCE(reason, '-')) FROM drop_context)
              ELSE (SELECT COUNT(DISTINCT COALESCE(reason, '-')) FROM drop_summary) END AS reasons,
         CASE WHEN EXISTS (SELECT 1 FROM drop_packet) THEN (SELECT COUNT(DISTINCT stack_id) FROM drop_context)
              ELSE (SELECT COUNT(DISTINCT stack_id) FROM drop_summary) END AS stacks
)
SELECT 'drops', (SELECT drops FROM counts)
UNION ALL SELECT 'drops/s', (SELECT drops FROM counts) / (SELECT seconds FROM span)
UNION ALL SELECT 'drop reasons', (SELECT reasons FROM counts)
UNION ALL SELECT 'drop stacks', (SELECT stacks FROM counts);

-- Drops per reason, device, location and stack, keyed by text that means the
-- same in another recording, for nettrail diff (contract in _monitor.sql).
CREATE VIEW drop_breakdown(
  -- reason, device, location or stack.
  dimension,
  -- Reason name; device name; location symbol+0xoffset; stack as its five innermost
  -- non-tracing function names joined by " <- ".
  key,
  -- Drops.
  value
) AS
SELECT 'reason', reason, drops FROM drop_by_reason
UNION ALL SELECT 'device', device, SUM(drops) FROM drop_by_device GROUP BY device
UNION ALL SELECT 'location', location_text, SUM(drops) FROM drop_by_location GROUP BY location_text
UNION ALL
SELECT 'stack', k, SUM(n) FROM (
  SELECT COALESCE((SELECT group_concat(name, ' <- ') FROM (
                     SELECT COALESCE(f.symbol, printf('0x%x', f.address)) AS name FROM stack_frame f
                     WHERE f.stack_id = c.stack_id AND f.tracing = 0 ORDER BY f.frame_index LIMIT 5)),
                  '(no stack)') AS k,
         c.n AS n
  FROM (SELECT stack_id, SUM(drops) AS n FROM drop_tally GROUP BY stack_id) c)
GROUP BY k;
