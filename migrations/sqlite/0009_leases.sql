-- Leases on work that one instance at a time may do (reading one IMAP mailbox): held by
-- `holder` until `expires_at` (ms), renewed while its holder lives, taken over once lapsed.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
