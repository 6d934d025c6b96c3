-- The PostgreSQL schema: the same tables and columns as SQLite's after its migrations 0001–0008
-- (a test keeps them in step), in PostgreSQL's own types: ids are uuid, instants timestamptz,
-- bodies, receipts and payloads jsonb, bytes bytea, flags boolean.

CREATE TABLE units (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    unit_type   text NOT NULL,
    region      text NOT NULL,
    important   boolean NOT NULL DEFAULT false,
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE unit_senders (
    ident       text PRIMARY KEY,
    unit_code   text NOT NULL
);
CREATE INDEX unit_senders_unit ON unit_senders (unit_code);

CREATE TABLE submissions (
    id          uuid PRIMARY KEY,
    dedupe_key  text NOT NULL,
    dedupe_hash bytea,
    channel     text NOT NULL,
    sender      text NOT NULL,
    unit_code   text,
    external_id text,
    received_at timestamptz NOT NULL,
    outcome     text NOT NULL,
    raw         bytea NOT NULL,
    receipt     jsonb NOT NULL
);
CREATE UNIQUE INDEX submissions_dedupe ON submissions (dedupe_hash);

CREATE TABLE reports (
    id             uuid PRIMARY KEY,
    submission_id  uuid NOT NULL,
    seq            integer NOT NULL,
    unit_code      text NOT NULL,
    kind           text NOT NULL,
    grade          text,
    level          smallint,
    category       text,
    discovered_at  timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    follows_up     uuid,
    body           jsonb NOT NULL,
    provinces      text NOT NULL DEFAULT ''
);
CREATE INDEX reports_unit ON reports (unit_code, received_at);
CREATE INDEX reports_received ON reports (received_at);

CREATE TABLE botnets (
    report_id      uuid NOT NULL,
    idx            integer NOT NULL,
    discovered_at  timestamptz NOT NULL,
    declared_count bigint NOT NULL,
    bots_v4        bytea NOT NULL,
    bots_v6        bytea NOT NULL,
    cc             text,
    PRIMARY KEY (report_id, idx)
);
CREATE INDEX botnets_discovered ON botnets (discovered_at);

CREATE TABLE obligations (
    id            uuid PRIMARY KEY,
    okey          text UNIQUE,
    report_id     uuid,
    duty          text NOT NULL,
    actor         text NOT NULL,
    recipients    jsonb NOT NULL,
    copies        jsonb NOT NULL,
    rule          text NOT NULL,
    trigger_at    timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    provisional   boolean NOT NULL,
    basis_code    text NOT NULL,
    basis_zh      text NOT NULL,
    binding       boolean NOT NULL,
    status        text NOT NULL,
    met_by        uuid,
    met_at        timestamptz,
    created_at    timestamptz NOT NULL,
    alert_stage   smallint NOT NULL DEFAULT 0,
    next_alert_at timestamptz
);
CREATE INDEX obligations_status_due ON obligations (status, due_at);
CREATE INDEX obligations_report ON obligations (report_id, duty);
CREATE INDEX obligations_provisional ON obligations (provisional) WHERE provisional;
CREATE INDEX obligations_next_alert ON obligations (next_alert_at) WHERE next_alert_at IS NOT NULL;

CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    created_at      timestamptz NOT NULL,
    kind            text NOT NULL,
    channel         text NOT NULL,
    recipient       text NOT NULL,
    subject_id      text NOT NULL,
    urgent          boolean NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text
);
CREATE INDEX outbox_pending ON outbox (channel, status, next_attempt_at);
CREATE INDEX outbox_party ON outbox (urgent, next_attempt_at) WHERE channel = 'party' AND status = 'pending';

CREATE TABLE audit (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    subject  text NOT NULL,
    detail   jsonb NOT NULL
);

CREATE TABLE tokens (
    hash        text PRIMARY KEY,
    unit_code   text NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX tokens_unit ON tokens (unit_code);

CREATE TABLE job_runs (
    job      text NOT NULL,
    period   text NOT NULL,
    ran_at   timestamptz NOT NULL,
    detail   jsonb NOT NULL,
    PRIMARY KEY (job, period)
);

CREATE TABLE user_appeals (
    id           uuid PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    contact      text NOT NULL,
    body         jsonb NOT NULL,
    answer       jsonb,
    answered_at  timestamptz
);
CREATE INDEX user_appeals_contact ON user_appeals (contact, received_at);

CREATE TABLE user_appeal_units (
    appeal_id  uuid NOT NULL,
    unit_code  text NOT NULL,
    PRIMARY KEY (unit_code, appeal_id)
);
