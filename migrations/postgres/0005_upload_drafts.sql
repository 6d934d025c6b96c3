-- Files a console user uploaded for a preview and has not yet confirmed: kept an hour, stored
-- only when confirmed (as a submission like any upload).
CREATE TABLE upload_drafts (
    id          text PRIMARY KEY,
    user_name   text NOT NULL,
    file_name   text NOT NULL,
    bytes       bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX upload_drafts_created ON upload_drafts (created_at);
