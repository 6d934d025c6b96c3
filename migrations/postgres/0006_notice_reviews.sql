-- CSB's decision on each public notice drafted for its review (Art. 19 [通报办法]): approved (with
-- the text and recipients it approved) or returned (with why). One row a report.
CREATE TABLE notice_reviews (
    report_id   text PRIMARY KEY,
    decision    text NOT NULL,
    decided_by  text NOT NULL,
    decided_at  timestamptz NOT NULL,
    title       text NOT NULL,
    lines       jsonb NOT NULL,
    recipients  jsonb NOT NULL,
    note        text
);
CREATE INDEX outbox_notice_drafts ON outbox (subject_id) WHERE kind = 'notice_draft';
