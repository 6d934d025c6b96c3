-- Leases on work that one instance at a time may do (reading one IMAP mailbox): held by
-- `holder` until `expires_at`, renewed while its holder lives, taken over once lapsed.
CREATE TABLE leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL
);
