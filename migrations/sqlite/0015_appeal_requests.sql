-- Appeals waiting for their poster to prove the e-mail address they gave: nothing the poster
-- wrote is mailed anywhere until the link sent to that address is followed. Every request is
-- counted here per client address and per contact, so the limits hold across restarts and
-- instances. `token_hash` is the SHA-256 of the link's secret; `form` what the poster typed.
CREATE TABLE appeal_requests (
    token_hash    TEXT PRIMARY KEY,
    client        TEXT NOT NULL,
    contact       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    form          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER
);
CREATE INDEX appeal_requests_client ON appeal_requests(client, created_at);
CREATE INDEX appeal_requests_contact ON appeal_requests(contact, created_at);
