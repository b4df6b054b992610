-- Findings over the drop family (analyzer/queries/drop.sql). Contract:
-- docs/architecture.md, "Findings".

-- Drops grouped by what a fix would address: reason, the function that freed
-- the skb and the device, with each group's share of all drops and its most
-- frequent addresses (from the per-context counts: no pass over the drops).
CREATE TEMP VIEW _finding_drop_groups AS
WITH g AS (
  SELECT reason, location, netns, ifindex, SUM(drops) AS drops FROM drop_tally
  GROUP BY reason, location, netns, ifindex
)
SELECT COALESCE(g.reason, '-') AS reason,
       COALESCE((SELECT s.name FROM kernel_symbol s WHERE s.address <= g.location ORDER BY s.address DESC LIMIT 1),
                printf('0x%x', g.location)) AS function,
       COALESCE(i.name, CASE WHEN g.ifindex = 0 THEN '-' ELSE 'if' || g.ifindex END) AS device,
       g.netns AS netns,
       g.drops AS drops,
       ROUND(100.0 * g.drops / (SELECT SUM(drops) FROM g), 1) AS share,
       (SELECT COALESCE(c.l4, c.l3, '?') || ' ' || COALESCE(c.src_ip, '?') || ' -> ' || COALESCE(c.dst_ip, '?')
        FROM drop_context c JOIN drop_context_second t ON t.context_id = c.id
        WHERE c.reason IS g.reason AND c.location IS g.location AND c.netns IS g.netns AND c.ifindex IS g.ifindex
        GROUP BY c.l4, c.l3, c.src_ip, c.dst_ip ORDER BY SUM(t.drops) DESC LIMIT 1) AS top_addresses
FROM g LEFT JOIN interface i ON i.netns = g.netns AND i.ifindex = g.ifindex
ORDER BY g.drops DESC;

-- Most drops (at least half, and at least 10) share one reason, function and
-- device: one cause to fix, and the next recording depends on which. Critical
-- from 80 %. Ranked by that share.
-- Triggered by: FindingsTest.FullRingAtATapIsOneDropFinding
-- Quiet in: FindingsTest.DropsSpreadOverThreeCausesAreNotConcentrated
CREATE TEMP VIEW finding_drop_concentrated AS
WITH top AS (SELECT * FROM _finding_drop_groups LIMIT 1),
total AS (SELECT SUM(drops) AS drops, COUNT(*) AS groups FROM _finding_drop_groups)
SELECT CASE WHEN top.share >= 80 THEN 'critical' ELSE 'warning' END AS severity,
       top.share AS score,
       printf('%d%% of drops are %s at %s', CAST(100.0 * top.drops / total.drops AS INTEGER), top.reason,
              top.function) || CASE WHEN top.device = '-' THEN '' ELSE ' on ' || top.device END AS title,
       printf('%,d of %,d drops (%.1f/s over %.1f s)', top.drops, total.drops, top.drops / span.seconds,
              span.seconds)
         || CASE WHEN top.top_addresses IS NULL THEN '' ELSE '; mostly ' || top.top_addresses END
         || CASE total.groups WHEN 1 THEN '; no other cause' WHEN 2 THEN '; 1 other cause'
                 ELSE printf('; %d other causes', total.groups - 1) END
         AS evidence,
       CASE
         WHEN top.reason = 'FULL_RING' AND top.function = 'tun_net_xmit'
           THEN 'The reader of ' || top.device || ' (the VM''s vhost-net worker or QEMU) does not drain its ring: '
                || 'record the path into the VM with `nettrail-record --families drop,stages --vm-interface '
                || top.device || '` and the reader''s CPU and off-CPU time with `--families offcpu,cpu -p PID`'
         WHEN top.reason = 'NO_SOCKET'
           THEN 'Nothing listens on the destination: check the service and its port (`ss -lntu` in netns '
                || top.netns || '); `nettrail events FILE` lists the packets'
         WHEN top.reason = 'NETFILTER_DROP'
           THEN 'A firewall rule drops them: `nft list ruleset` or `iptables -L -v -n` in netns ' || top.netns
                || '; `nettrail events FILE` lists the packets'
         WHEN top.reason = 'QDISC_DROP'
           THEN 'The qdisc of ' || top.device || ' overflows: `tc -s qdisc show dev ' || top.device
                || '`; record its queueing delay with `nettrail-record --families stages --phy-interface '
                || top.device || '`'
         ELSE 'See their stacks and flows with `nettrail drops FILE --by stack` and `nettrail events FILE`; '
              || 'record only these with `nettrail-record -n ' || top.device || '`'
       END AS next_step,
       'SELECT reason, function, device, drops, share AS "share %", top_addresses FROM _finding_drop_groups LIMIT 5'
         AS evidence_sql
FROM top, total, _finding_span span
WHERE total.drops >= 10 AND top.share >= 50;
