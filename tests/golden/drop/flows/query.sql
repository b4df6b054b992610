-- The demo's flows: what was dropped, between whom, on which device.
SELECT d.reason, d.l4, d.src_ip, d.dst_ip, CASE WHEN d.l4 = 'UDP' THEN d.dst_port END AS dst_port,
       i.name AS device, COUNT(*) AS drops
FROM drop_event d LEFT JOIN interface i ON i.netns = d.netns AND i.ifindex = d.ifindex
WHERE d.src_ip = '10.98.0.1'
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY drops DESC, 1, 5;
