-- Intake writes every index of a table on every row it stores, so each index costs throughput.
-- Two were read by no query: obligations_actor_due (the digest's pass over obligations goes
-- through obligations_status_due) and submissions_unit (submissions are read by id or by key).
DROP INDEX obligations_actor_due;

-- Submissions are found again by dedupe_hash, the first 16 bytes of the SHA-256 of dedupe_key,
-- not by the key itself. Keys are hashes or message ids, so each new one lands at a random
-- place in the index and dirties a page of its own; an index a quarter as wide has a quarter
-- of the pages to dirty. The key stays, unindexed, for people reading the table.
-- SQLite has no SHA-256, so rows stored before this migration get their hash from the store
-- when it opens the file (`SqliteStore::open`); until then they have none.
CREATE TABLE submissions_v5 (
    id          TEXT PRIMARY KEY,
    dedupe_key  TEXT NOT NULL,
    dedupe_hash BLOB,
    channel     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    unit_code   TEXT,
    external_id TEXT,
    received_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    raw         BLOB NOT NULL,
    receipt     TEXT NOT NULL
);
INSERT INTO submissions_v5 (id, dedupe_key, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt)
    SELECT id, dedupe_key, channel, sender, unit_code, external_id, received_at, outcome, raw, receipt FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_v5 RENAME TO submissions;
CREATE UNIQUE INDEX submissions_dedupe ON submissions(dedupe_hash);
