-- Drops per reason in the sample recording (samples/drops).
SELECT reason, COUNT(*) AS drops FROM drop_event GROUP BY reason ORDER BY drops DESC, reason;
