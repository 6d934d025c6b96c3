-- tongbao on SQLite. Instants are INTEGER milliseconds since the Unix epoch (UTC);
-- ids are UUIDv7 text, minted on arrival, so id order is arrival order (no received_at index
-- is needed for "newest first" or for the retention purge); JSON columns hold the canonical serde form of the model types.

CREATE TABLE units (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    unit_type   TEXT NOT NULL,
    region      TEXT NOT NULL,
    important   INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- How each channel identifies a unit: 'amqp:<user>', 'email:<address>'.
CREATE TABLE unit_senders (
    ident       TEXT PRIMARY KEY,
    unit_code   TEXT NOT NULL
);
CREATE INDEX unit_senders_unit ON unit_senders(unit_code);

CREATE TABLE submissions (
    id          TEXT PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    channel     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    unit_code   TEXT,
    external_id TEXT,
    received_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    raw         BLOB NOT NULL,
    receipt     TEXT NOT NULL
);
CREATE INDEX submissions_unit ON submissions(unit_code, received_at);

CREATE TABLE reports (
    id             TEXT PRIMARY KEY,
    submission_id  TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    unit_code      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    grade          TEXT,
    level          INTEGER,
    category       TEXT,
    discovered_at  INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    follows_up     TEXT,
    body           TEXT NOT NULL
);
CREATE INDEX reports_unit ON reports(unit_code, received_at);

-- Botnets of botnet_event reports, for the same-period aggregate (Art. 7).
-- bots_v4: big-endian u32s, sorted, distinct; bots_v6: big-endian u128s, likewise.
CREATE TABLE botnets (
    report_id      TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    discovered_at  INTEGER NOT NULL,
    declared_count INTEGER NOT NULL,
    bots_v4        BLOB NOT NULL,
    bots_v6        BLOB NOT NULL,
    PRIMARY KEY (report_id, idx)
);
CREATE INDEX botnets_discovered ON botnets(discovered_at);

CREATE TABLE obligations (
    id           TEXT PRIMARY KEY,
    okey         TEXT UNIQUE,
    report_id    TEXT,
    duty         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    recipients   TEXT NOT NULL,
    copies       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    trigger_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    provisional  INTEGER NOT NULL,
    basis_code   TEXT NOT NULL,
    basis_zh     TEXT NOT NULL,
    binding      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    met_by       TEXT,
    met_at       INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX obligations_status_due ON obligations(status, due_at);
CREATE INDEX obligations_report ON obligations(report_id, duty);
CREATE INDEX obligations_provisional ON obligations(provisional) WHERE provisional = 1;

-- What must go out. `channel` names the sink that delivers it ('amqp', 'email');
-- `recipient` is a party, an address, or for AMQP notices the routing key.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    urgent          INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox(channel, status, next_attempt_at);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit(subject);
