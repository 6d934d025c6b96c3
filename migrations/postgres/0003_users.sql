-- Console users (the password only as its argon2 hash) and their sessions (only the SHA-256
-- of each session id, so the database alone opens no session).
CREATE TABLE users (
    name           text PRIMARY KEY,
    role           text NOT NULL,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE TABLE sessions (
    id_hash     text PRIMARY KEY,
    user_name   text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_name);
