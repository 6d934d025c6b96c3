-- The group company a unit belongs to (Art. 12¶2 [通报办法]), as a column so intake and the
-- console find a group's subsidiaries without reading every unit's body.
ALTER TABLE units ADD COLUMN group_code TEXT;
UPDATE units SET group_code = json_extract(body, '$.group');
CREATE INDEX units_group ON units(group_code) WHERE group_code IS NOT NULL;
