-- Each botnet row names its C&C (address:port), so that the same C&C reported again in the
-- period (a resent form, another format, another unit) counts once in the Art. 7 aggregate.
-- Rows stored before take it from their report's body.
ALTER TABLE botnets ADD COLUMN cc TEXT;
UPDATE botnets SET cc = (
    SELECT CASE WHEN instr(json_extract(r.body, '$.content.botnets[' || botnets.idx || '].cc_ip'), ':') > 0
                THEN '[' || json_extract(r.body, '$.content.botnets[' || botnets.idx || '].cc_ip') || ']'
                ELSE json_extract(r.body, '$.content.botnets[' || botnets.idx || '].cc_ip') END
           || ':' || json_extract(r.body, '$.content.botnets[' || botnets.idx || '].port')
    FROM reports r WHERE r.id = botnets.report_id
);
