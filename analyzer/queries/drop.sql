-- Drop family: packets freed through kfree_skb with a drop reason (skb:kfree_skb).

-- One row per recorded drop (details mode).
CREATE TABLE drop_event(
  -- CLOCK_BOOTTIME of the drop, ns.
  time_ns INTEGER,
  -- CPU the drop happened on.
  cpu INTEGER,
  -- Thread that was running (often a softirq context); see process.
  tid INTEGER,
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
  -- skb->len in bytes.
  length INTEGER,
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
  -- Source port (TCP/UDP), NULL otherwise.
  src_port INTEGER,
  -- Destination port (TCP/UDP), NULL otherwise.
  dst_port INTEGER,
  -- IPv4 TTL or IPv6 hop limit.
  ttl INTEGER,
  -- IPv4 identification.
  ip_id INTEGER,
  -- TCP sequence number.
  tcp_seq INTEGER,
  -- TCP flags as letters, e.g. S, SA, FA, R.
  tcp_flags TEXT,
  -- ICMP type.
  icmp_type INTEGER,
  -- ICMP code.
  icmp_code INTEGER,
  -- ICMP echo id.
  icmp_id INTEGER,
  -- ICMP echo sequence.
  icmp_seq INTEGER,
  -- ARP operation (1 request, 2 reply).
  arp_op INTEGER
);

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

-- Drops per reason over the whole recording (details mode).
CREATE VIEW drop_by_reason(
  -- Reason name without prefix.
  reason TEXT,
  -- Number of drops.
  drops INTEGER
) AS SELECT reason, COUNT(*) FROM drop_event GROUP BY reason ORDER BY 2 DESC;

-- Drops per device (details mode).
CREATE VIEW drop_by_device(
  -- Network namespace inode.
  netns INTEGER,
  -- Interface index.
  ifindex INTEGER,
  -- Interface name, or '-' when the skb had no device.
  device TEXT,
  -- Number of drops.
  drops INTEGER
) AS
SELECT d.netns, d.ifindex, COALESCE(i.name, CASE WHEN d.ifindex = 0 THEN '-' ELSE 'if' || d.ifindex END), COUNT(*)
FROM drop_event d LEFT JOIN interface i ON i.netns = d.netns AND i.ifindex = d.ifindex
GROUP BY d.netns, d.ifindex ORDER BY 4 DESC;

-- Drops per location (the function that freed the skb), details mode.
CREATE VIEW drop_by_location(
  -- Address kfree_skb was called from.
  location INTEGER,
  -- symbol+0xoffset of the location.
  location_text TEXT,
  -- Number of drops.
  drops INTEGER
) AS
SELECT d.location,
       COALESCE((SELECT printf('%s+0x%x', s.name, d.location - s.address) FROM kernel_symbol s
                 WHERE s.address <= d.location ORDER BY s.address DESC LIMIT 1), printf('0x%x', d.location)),
       COUNT(*)
FROM drop_event d GROUP BY d.location ORDER BY 3 DESC;
