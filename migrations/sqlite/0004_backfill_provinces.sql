-- 0003 added reports.provinces empty for the reports already stored; fill it from their bodies,
-- so statistics and alerts read the same provinces for old and new reports.
UPDATE reports
SET provinces = coalesce((SELECT group_concat(value, ' ') FROM json_each(reports.body, '$.provinces')), '')
WHERE provinces = '' AND json_array_length(body, '$.provinces') > 0;
