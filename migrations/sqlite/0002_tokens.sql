-- Upload tokens: one unit each; only the SHA-256 of the token is kept.
CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,
    unit_code   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX tokens_unit ON tokens(unit_code);
