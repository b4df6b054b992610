-- Stages family: per-packet timestamps at each stage of the host TX/RX path
-- (IP output, OVS datapath and upcall, conntrack, qdisc, device transmit and
-- receive, protocol receive, tun). Stage names are the recorder's stage
-- names: ip_output, internal_dev_xmit, netif_receive_skb, netdev_frame_hook,
-- ovs_dp_process_packet, ovs_dp_upcall, ovs_flow_key_extract_userspace,
-- ovs_vport_send, nf_conntrack_in, net_dev_queue, qdisc_enqueue,
-- qdisc_dequeue, net_dev_start_xmit, net_dev_xmit, proto_rcv, tun_net_xmit.

-- One row per followed packet: completed packets at or above --latency-us,
-- and packets still in flight when the recording stopped.
CREATE TABLE stages_packet(
  -- Row number of the packet in the recording, from 1.
  packet_id INTEGER PRIMARY KEY,
  -- 1 if the packet reached the path's last stage, 0 if it was still in flight at the end.
  complete INTEGER,
  -- CPU of the last stage.
  cpu INTEGER,
  -- Network namespace inode of the device at the first stage.
  netns INTEGER,
  -- Interface index of the device at the first stage.
  ifindex INTEGER,
  -- skb->len at the first stage, bytes.
  length INTEGER,
  -- 802.1Q VLAN id at the first stage, NULL if untagged.
  vlan_id INTEGER,
  -- L4 protocol name: TCP, UDP, ICMP, ICMPv6.
  l4 TEXT,
  -- Source IP address in text form.
  src_ip TEXT,
  -- Destination IP address in text form.
  dst_ip TEXT,
  -- TCP/UDP source port; NULL for ICMP.
  src_port INTEGER,
  -- TCP/UDP destination port; NULL for ICMP.
  dst_port INTEGER,
  -- ICMP echo id; NULL otherwise.
  icmp_id INTEGER,
  -- ICMP echo sequence; NULL otherwise.
  icmp_seq INTEGER,
  -- TCP sequence number; NULL otherwise.
  tcp_seq INTEGER,
  -- IPv4 identification (TCP, UDP); NULL otherwise.
  ip_id INTEGER,
  -- Stage hits after the first for this packet (only the first hit of a stage is timed).
  repeats INTEGER,
  -- Number of stages the packet was seen at.
  stage_count INTEGER,
  -- First stage seen, by time.
  first_stage TEXT,
  -- Last stage seen, by time.
  last_stage TEXT,
  -- CLOCK_BOOTTIME of the first stage, ns.
  first_ns INTEGER,
  -- CLOCK_BOOTTIME of the last stage, ns.
  last_ns INTEGER,
  -- last_ns - first_ns: end to end for complete packets.
  total_ns INTEGER,
  -- 1 if the packet went through ovs_dp_upcall (a datapath flow miss).
  upcall INTEGER
);

-- One row per packet and stage, in time order: the per-packet waterfall.
CREATE TABLE stages_time(
  -- stages_packet.packet_id.
  packet_id INTEGER,
  -- Position of the stage in the packet's path, from 0.
  position INTEGER,
  -- Stage name.
  stage TEXT,
  -- CLOCK_BOOTTIME of the first hit of the stage, ns.
  time_ns INTEGER,
  -- Time since the packet's previous stage, ns; 0 at position 0.
  since_prev_ns INTEGER,
  -- Time since the packet's first stage, ns.
  since_first_ns INTEGER,
  -- Kernel stack at the first hit of the stage (stack table), NULL unless
  -- recorded with --stage-stacks (or when the stack could not be taken).
  stack_id INTEGER
);

-- In-kernel log2 histograms per interval: one row per pair, bucket and
-- interval in which the bucket grew. Pairs are (previous stage, stage) as the
-- packets went; from_stage = to_stage = 'end_to_end' for the whole path.
-- `nettrail stages --per-interval` prints them interval by interval.
CREATE TABLE stages_hist(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Stage the time is measured from, or end_to_end.
  from_stage TEXT,
  -- Stage the time is measured to, or end_to_end.
  to_stage TEXT,
  -- Bucket: times in [2^log2_ns, 2^(log2_ns+1)) ns.
  log2_ns INTEGER,
  -- Packets that fell in the bucket in this interval.
  count INTEGER
);

-- Session totals per interval of the in-kernel summary.
CREATE TABLE stages_interval(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Packets whose session opened at the path's first stage in this interval.
  started INTEGER,
  -- Packets that reached the path's last stage in this interval.
  completed INTEGER,
  -- Sessions open at the end of the interval.
  in_flight INTEGER,
  -- Samples missing from the per-flow histograms in this interval because the
  -- in-kernel flow map (--stages-flows entries) was full (data loss).
  flow_hist_full INTEGER
);

-- In-kernel log2 histograms per flow, stage pair and interval: one row per
-- flow, pair, bucket and interval in which the bucket grew. A flow is the
-- 5-tuple (ICMP: addresses and echo id); pairs as in stages_hist.
CREATE TABLE stages_flow_hist(
  -- Interval number, 0 for the first.
  interval_index INTEGER,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns INTEGER,
  -- Flow in text form, e.g. 'UDP 10.0.0.1:40000 > 10.0.0.2:53' or 'ICMP a > b id 7'.
  flow TEXT,
  -- L4 protocol name: TCP, UDP, ICMP, ICMPv6.
  l4 TEXT,
  -- Source IP address in text form.
  src_ip TEXT,
  -- Destination IP address in text form.
  dst_ip TEXT,
  -- TCP/UDP source port; NULL for ICMP.
  src_port INTEGER,
  -- TCP/UDP destination port; NULL for ICMP.
  dst_port INTEGER,
  -- ICMP echo id; NULL otherwise.
  icmp_id INTEGER,
  -- Stage the time is measured from, or end_to_end.
  from_stage TEXT,
  -- Stage the time is measured to, or end_to_end.
  to_stage TEXT,
  -- Bucket: times in [2^log2_ns, 2^(log2_ns+1)) ns.
  log2_ns INTEGER,
  -- Packets of the flow that fell in the bucket in this interval.
  count INTEGER
);

-- Each adjacent pair of stages of each recorded packet.
CREATE VIEW stages_step(
  -- stages_packet.packet_id.
  packet_id,
  -- Earlier stage.
  from_stage,
  -- Next stage the packet reached.
  to_stage,
  -- Time between them, ns.
  delta_ns,
  -- 1 if the packet reached the path's last stage.
  complete
) AS
SELECT t.packet_id, p.stage, t.stage, t.since_prev_ns, k.complete
FROM stages_time t
JOIN stages_time p ON p.packet_id = t.packet_id AND p.position = t.position - 1
JOIN stages_packet k ON k.packet_id = t.packet_id;

-- Exact latency percentiles (nearest rank) per adjacent stage pair and end to
-- end, over the per-packet rows of complete packets.
CREATE VIEW stages_latency(
  -- 'from -> to' for a stage pair, 'end to end' for the whole path.
  segment,
  -- Earlier stage, or NULL for end to end.
  from_stage,
  -- Later stage, or NULL for end to end.
  to_stage,
  -- Packets measured.
  packets,
  -- Median, ns.
  p50_ns,
  -- 90th percentile, ns.
  p90_ns,
  -- 99th percentile, ns.
  p99_ns,
  -- 99.9th percentile, ns.
  p999_ns,
  -- Maximum, ns.
  max_ns,
  -- Mean, ns.
  avg_ns,
  -- Smallest position of the pair in any packet's path, for ordering.
  sort_key
) AS
WITH samples(from_stage, to_stage, v, sort_key) AS (
  SELECT s.from_stage, s.to_stage, s.delta_ns, t.position
  FROM stages_step s JOIN stages_time t ON t.packet_id = s.packet_id AND t.stage = s.to_stage
  WHERE s.complete = 1
  UNION ALL
  SELECT NULL, NULL, total_ns, 1000000 FROM stages_packet WHERE complete = 1
),
ranked AS (
  SELECT from_stage, to_stage, v, sort_key,
         ROW_NUMBER() OVER (PARTITION BY from_stage, to_stage ORDER BY v) AS rn,
         COUNT(*) OVER (PARTITION BY from_stage, to_stage) AS n
  FROM samples
),
-- nearest rank: ceil(p * n)
ranks AS (
  SELECT from_stage, to_stage, v, sort_key, rn, n,
         CAST(0.5 * n AS INTEGER) + (0.5 * n > CAST(0.5 * n AS INTEGER)) AS r50,
         CAST(0.9 * n AS INTEGER) + (0.9 * n > CAST(0.9 * n AS INTEGER)) AS r90,
         CAST(0.99 * n AS INTEGER) + (0.99 * n > CAST(0.99 * n AS INTEGER)) AS r99,
         CAST(0.999 * n AS INTEGER) + (0.999 * n > CAST(0.999 * n AS INTEGER)) AS r999
  FROM ranked
)
SELECT CASE WHEN from_stage IS NULL THEN 'end to end' ELSE from_stage || ' -> ' || to_stage END,
       from_stage, to_stage, MAX(n),
       MAX(CASE WHEN rn = r50 THEN v END), MAX(CASE WHEN rn = r90 THEN v END),
       MAX(CASE WHEN rn = r99 THEN v END), MAX(CASE WHEN rn = r999 THEN v END),
       MAX(v), AVG(v), MIN(sort_key)
FROM ranks GROUP BY from_stage, to_stage
ORDER BY MIN(sort_key), MAX(n) DESC;

-- The in-kernel log2 histograms over the whole recording, per stage pair
-- and end to end (every packet that passed each pair, not only those above
-- --latency-us).
CREATE VIEW stages_log2(
  -- Earlier stage, or end_to_end.
  from_stage,
  -- Later stage, or end_to_end.
  to_stage,
  -- Bucket: times in [2^log2_ns, 2^(log2_ns+1)) ns.
  log2_ns,
  -- Lower bound of the bucket, ns.
  low_ns,
  -- Packets in the bucket.
  count
) AS
SELECT from_stage, to_stage, log2_ns, CASE WHEN log2_ns = 0 THEN 0 ELSE (1 << log2_ns) END, SUM(count)
FROM stages_hist GROUP BY from_stage, to_stage, log2_ns;

-- Complete packets, slowest first, with their flow.
CREATE VIEW stages_slowest(
  -- stages_packet.packet_id.
  packet_id,
  -- End to end, microseconds.
  total_us,
  -- Flow in text form.
  flow,
  -- TCP seq, IP id or ICMP id/seq, in text form.
  identity,
  -- 1 if it went through an OVS upcall.
  upcall,
  -- Stages seen.
  stage_count,
  -- CLOCK_BOOTTIME of the first stage, ns.
  first_ns
) AS
SELECT packet_id, total_ns / 1000.0,
       l4 || ' ' || src_ip || COALESCE(':' || src_port, '') || ' > ' || dst_ip || COALESCE(':' || dst_port, ''),
       CASE WHEN icmp_id IS NOT NULL THEN 'id ' || icmp_id || ' seq ' || icmp_seq
            WHEN tcp_seq IS NOT NULL THEN 'seq ' || tcp_seq || ' ip_id ' || COALESCE(ip_id, '-')
            ELSE 'ip_id ' || COALESCE(ip_id, '-') END,
       upcall, stage_count, first_ns
FROM stages_packet WHERE complete = 1 ORDER BY total_ns DESC;

-- Per-stage waterfall of every recorded packet: when each stage came,
-- relative to the packet's first stage.
CREATE VIEW stages_waterfall(
  -- stages_packet.packet_id.
  packet_id,
  -- Position in the packet's path, from 0.
  position,
  -- Stage name.
  stage,
  -- Microseconds since the packet's first stage.
  at_us,
  -- Microseconds since the previous stage.
  step_us
) AS
SELECT packet_id, position, stage, since_first_ns / 1000.0, since_prev_ns / 1000.0
FROM stages_time ORDER BY packet_id, position;

-- Packets whose path did not complete, by the last stage they reached:
-- where packets stop (or are still queued when recording stops).
CREATE VIEW stages_incomplete(
  -- Last stage reached.
  last_stage,
  -- Packets that stopped there.
  packets
) AS
SELECT last_stage, COUNT(*) FROM stages_packet WHERE complete = 0 GROUP BY last_stage ORDER BY COUNT(*) DESC;

-- Session accounting over the whole recording (in-kernel counters): packets
-- started, completed, and the difference that never reached the last stage.
CREATE VIEW stages_sessions(
  -- Sessions opened at the path's first stage.
  started,
  -- Sessions that reached the path's last stage.
  completed,
  -- started - completed: packets that left the path, were evicted, or were in flight at the end.
  incomplete
) AS
SELECT COALESCE(SUM(started), 0), COALESCE(SUM(completed), 0), COALESCE(SUM(started) - SUM(completed), 0)
FROM stages_interval;

-- Session accounting per interval of the in-kernel summary, with the time
-- the interval ended and its length: the header of each interval block of
-- `nettrail stages --per-interval`. Summed over the intervals, started and
-- completed are stages_sessions' counts, and incomplete plus the last
-- interval's in_flight is stages_sessions.incomplete.
CREATE VIEW stages_interval_sessions(
  -- Interval number, 0 for the first.
  interval_index,
  -- CLOCK_BOOTTIME at the end of the interval, ns.
  time_ns,
  -- CLOCK_REALTIME at the end of the interval, ns, through the nearest earlier
  -- clock anchor; NULL when the recording has no clock anchors.
  realtime_ns,
  -- Length of the interval, ns: since the previous interval's end, or since
  -- the start of the recording for the first; NULL when unknown.
  duration_ns,
  -- Packets whose session opened at the path's first stage in this interval.
  started,
  -- Packets that reached the path's last stage in this interval.
  completed,
  -- Sessions that ended in this interval without reaching the last stage
  -- (left the path, or replaced by a packet with the same identity): in flight
  -- at the start + started - completed - in flight at the end. The recorder
  -- reads the counters and counts the open sessions microseconds apart, so
  -- under heavy traffic a few sessions can be counted one interval late (a
  -- small negative value, made up in the next interval).
  incomplete,
  -- Sessions open at the end of the interval.
  in_flight,
  -- Per-flow histogram samples lost to a full flow map in this interval (data loss).
  flow_hist_full
) AS
SELECT i.interval_index, i.time_ns,
       i.time_ns + COALESCE(
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a WHERE a.boottime_ns <= i.time_ns
          ORDER BY a.boottime_ns DESC LIMIT 1),
         (SELECT a.realtime_ns - a.boottime_ns FROM clock_anchor a ORDER BY a.boottime_ns LIMIT 1)),
       i.time_ns - COALESCE(LAG(i.time_ns) OVER w,
                            (SELECT CAST(m.value AS INTEGER) FROM meta m WHERE m.key = 'start_boottime_ns'
                             AND CAST(m.value AS INTEGER) BETWEEN 1 AND i.time_ns)),
       i.started, i.completed,
       COALESCE(LAG(i.in_flight) OVER w, 0) + i.started - i.completed - i.in_flight,
       i.in_flight, i.flow_hist_full
FROM stages_interval i
WINDOW w AS (ORDER BY i.interval_index)
ORDER BY i.interval_index;

-- Per-flow in-kernel log2 histograms over the whole recording (every packet
-- of the flow, not only those above --latency-us).
CREATE VIEW stages_flow_log2(
  -- Flow in text form.
  flow,
  -- Earlier stage, or end_to_end.
  from_stage,
  -- Later stage, or end_to_end.
  to_stage,
  -- Bucket: times in [2^log2_ns, 2^(log2_ns+1)) ns.
  log2_ns,
  -- Lower bound of the bucket, ns.
  low_ns,
  -- Packets of the flow in the bucket.
  count
) AS
SELECT flow, from_stage, to_stage, log2_ns, CASE WHEN log2_ns = 0 THEN 0 ELSE (1 << log2_ns) END, SUM(count)
FROM stages_flow_hist GROUP BY flow, from_stage, to_stage, log2_ns;

-- Per flow and stage pair (and end to end): packets and log2-bucket
-- percentiles from the in-kernel per-flow histograms. Percentiles are upper
-- bounds (the bucket holding the nearest-rank sample ends below them); exact
-- values per packet are in stages_latency. Flows with the most packets first,
-- pairs in path order, end to end last.
CREATE VIEW stages_flow_latency(
  -- Flow in text form.
  flow,
  -- 'from -> to' for a stage pair, 'end to end' for the whole path.
  segment,
  -- Earlier stage, or end_to_end.
  from_stage,
  -- Later stage, or end_to_end.
  to_stage,
  -- Packets of the flow measured on this segment.
  packets,
  -- The median is below this, ns (end of its log2 bucket).
  p50_below_ns,
  -- The 90th percentile is below this, ns.
  p90_below_ns,
  -- The 99th percentile is below this, ns.
  p99_below_ns,
  -- The maximum is below this, ns.
  max_below_ns,
  -- Packets of the flow end to end (for ordering flows).
  flow_packets,
  -- Position of to_stage in the recorded path (enum nt_stages_path), 1000 for end to end.
  sort_key
) AS
WITH totals AS (
  SELECT flow, from_stage, to_stage, log2_ns, SUM(count) AS c
  FROM stages_flow_hist GROUP BY flow, from_stage, to_stage, log2_ns
),
cum AS (
  SELECT flow, from_stage, to_stage, log2_ns, c,
         SUM(c) OVER (PARTITION BY flow, from_stage, to_stage ORDER BY log2_ns) AS run,
         SUM(c) OVER (PARTITION BY flow, from_stage, to_stage) AS n
  FROM totals
),
per_flow AS (
  SELECT flow, SUM(c) AS flow_packets FROM totals WHERE from_stage = 'end_to_end' GROUP BY flow
)
SELECT c.flow,
       CASE WHEN c.from_stage = 'end_to_end' THEN 'end to end' ELSE c.from_stage || ' -> ' || c.to_stage END,
       c.from_stage, c.to_stage, MAX(c.n),
       MIN(CASE WHEN c.run >= 0.5 * c.n THEN 1 << (c.log2_ns + 1) END),
       MIN(CASE WHEN c.run >= 0.9 * c.n THEN 1 << (c.log2_ns + 1) END),
       MIN(CASE WHEN c.run >= 0.99 * c.n THEN 1 << (c.log2_ns + 1) END),
       MAX(1 << (c.log2_ns + 1)),
       COALESCE(f.flow_packets, 0),
       COALESCE((SELECT MIN(e.value) FROM enum_value e WHERE e.enum_name = 'nt_stages_path' AND e.name = c.to_stage),
                1000)
FROM cum c LEFT JOIN per_flow f USING (flow)
GROUP BY c.flow, c.from_stage, c.to_stage
ORDER BY COALESCE(f.flow_packets, 0) DESC, c.flow, 11;

-- Kernel stacks at each stage (--stage-stacks): per stage and stack, how many
-- recorded packets had that stack at their first hit of the stage. Stages in
-- path order, most frequent stack first.
CREATE VIEW stages_stack(
  -- Stage name.
  stage,
  -- Kernel stack id (stack_frame_text has its frames).
  stack_id,
  -- Recorded packets whose first hit of the stage had this stack.
  packets,
  -- Innermost frame outside the tracing machinery, e.g. dev_hard_start_xmit+0x9e.
  top_frame,
  -- Position of the stage in the recorded path (enum nt_stages_path), NULL if not on it.
  sort_key
) AS
SELECT t.stage, t.stack_id, COUNT(*),
       (SELECT f.frame FROM stack_frame_text f WHERE f.stack_id = t.stack_id AND f.tracing = 0
        ORDER BY f.frame_index LIMIT 1),
       (SELECT MIN(e.value) FROM enum_value e WHERE e.enum_name = 'nt_stages_path' AND e.name = t.stage)
FROM stages_time t WHERE t.stack_id IS NOT NULL
GROUP BY t.stage, t.stack_id ORDER BY 5, t.stage, COUNT(*) DESC, t.stack_id;

-- The symbolized frames of each stage's stacks (--stage-stacks), innermost
-- first, without the tracing machinery: stage -> stack -> frames.
CREATE VIEW stages_stack_frame(
  -- Stage name.
  stage,
  -- Kernel stack id.
  stack_id,
  -- Recorded packets whose first hit of the stage had this stack.
  packets,
  -- 0 for the innermost frame (tracing frames included in the numbering).
  frame_index,
  -- symbol+0xoffset [module], or the raw address when unresolved.
  frame
) AS
SELECT s.stage, s.stack_id, s.packets, f.frame_index, f.frame
FROM stages_stack s JOIN stack_frame_text f ON f.stack_id = s.stack_id AND f.tracing = 0
ORDER BY s.sort_key, s.stage, s.packets DESC, s.stack_id, f.frame_index;
