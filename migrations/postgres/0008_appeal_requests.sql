-- Appeals waiting for their poster to prove the e-mail address they gave: nothing the poster
-- wrote is mailed anywhere until the link sent to that address is followed. Every request is
-- counted here per client address and per contact, so the limits hold across restarts and
-- instances. `token_hash` is the SHA-256 of the link's secret; `form` what the poster typed.
CREATE TABLE appeal_requests (
    token_hash    text PRIMARY KEY,
    client        text NOT NULL,
    contact       text NOT NULL,
    channel       text NOT NULL,
    form          jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    confirmed_at  timestamptz
);
CREATE INDEX appeal_requests_client ON appeal_requests (client, created_at);
CREATE INDEX appeal_requests_contact ON appeal_requests (contact, created_at);
