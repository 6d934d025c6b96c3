-- Users' appeals of a disposal (Art. 11 [僵尸机制]), lodged without an account.
-- `contact` is the e-mail address or phone number they are counted by for the daily limit;
-- `body` is the checked appeal as JSON; the answer, once given, closes every duty to answer it.
CREATE TABLE user_appeals (
    id           TEXT PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    contact      TEXT NOT NULL,
    body         TEXT NOT NULL,
    answer       TEXT,
    answered_at  INTEGER
);
CREATE INDEX user_appeals_contact ON user_appeals(contact, received_at);

-- The units answerable for an appeal's targets, so a unit lists only what is addressed to it.
CREATE TABLE user_appeal_units (
    appeal_id  TEXT NOT NULL,
    unit_code  TEXT NOT NULL,
    PRIMARY KEY (unit_code, appeal_id)
);
