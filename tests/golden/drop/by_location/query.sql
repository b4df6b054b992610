-- The function that freed the packet, per reason (offsets differ between
-- kernel builds, so only the symbol is compared).
SELECT reason, substr(location_text, 1, instr(location_text, '+') - 1) AS function, SUM(drops) AS drops
FROM (SELECT d.reason, l.location_text, COUNT(*) AS drops
      FROM drop_event d JOIN drop_by_location l ON l.location = d.location
      GROUP BY d.reason, l.location_text)
GROUP BY reason, function ORDER BY drops DESC, reason, function;
