-- Files a console user uploaded for a preview and has not yet confirmed: kept an hour, stored
-- only when confirmed (as a submission like any upload).
CREATE TABLE upload_drafts (
    id          TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    bytes       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX upload_drafts_created ON upload_drafts(created_at);
