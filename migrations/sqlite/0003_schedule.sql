-- The scheduler: per-obligation alert state, idempotent job runs, and what the digest groups by.

-- Where an obligation stands in its alerts: 0 nothing sent, 1 reminded, 2 overdue alert sent,
-- 3 escalated. `next_alert_at` is when the scan should look at it again (NULL: never).
ALTER TABLE obligations ADD COLUMN alert_stage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE obligations ADD COLUMN next_alert_at INTEGER;
CREATE INDEX obligations_next_alert ON obligations(next_alert_at) WHERE next_alert_at IS NOT NULL;
CREATE INDEX obligations_actor_due ON obligations(actor, due_at);

-- Provinces a report affects, space-separated codes, so statistics need not parse the body.
ALTER TABLE reports ADD COLUMN provinces TEXT NOT NULL DEFAULT '';
CREATE INDEX reports_received ON reports(received_at);

-- One row per job and period (`digest` + `2026-09`): a run commits its row together with what it
-- wrote, so a second run of the same period writes nothing.
CREATE TABLE job_runs (
    job      TEXT NOT NULL,
    period   TEXT NOT NULL,
    ran_at   INTEGER NOT NULL,
    detail   TEXT NOT NULL,
    PRIMARY KEY (job, period)
);

-- Party rows (channel 'party') wait here until the fan-out turns them into e-mail and AMQP rows.
CREATE INDEX outbox_party ON outbox(urgent, next_attempt_at) WHERE channel = 'party' AND status = 'pending';
