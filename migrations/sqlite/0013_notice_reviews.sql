-- CSB's decision on each public notice drafted for its review (Art. 19 [通报办法]): approved (with
-- the text and recipients it approved) or returned (with why). One row a report.
CREATE TABLE notice_reviews (
    report_id   TEXT PRIMARY KEY,
    decision    TEXT NOT NULL,
    decided_by  TEXT NOT NULL,
    decided_at  INTEGER NOT NULL,
    title       TEXT NOT NULL,
    lines       TEXT NOT NULL,
    recipients  TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX outbox_notice_drafts ON outbox(subject_id) WHERE kind = 'notice_draft';
