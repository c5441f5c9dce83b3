-- open and click tracking, opt-in per domain (store/src/tracking.rs): the domains that
-- have it, each tracked message with its counts, and the clicks of each of its links
ALTER TABLE domains ADD COLUMN tracking INTEGER NOT NULL DEFAULT 0;
CREATE TABLE tracked_messages (
    id          TEXT PRIMARY KEY,
    domain      TEXT NOT NULL,
    sender      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    links       INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    opens       INTEGER NOT NULL DEFAULT 0,
    clicks      INTEGER NOT NULL DEFAULT 0,
    first_open  INTEGER,
    last_event  INTEGER
);
CREATE INDEX tracked_messages_sent ON tracked_messages (sent_at);
CREATE TABLE tracked_clicks (
    message_id  TEXT NOT NULL REFERENCES tracked_messages(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    clicks      INTEGER NOT NULL,
    last_click  INTEGER NOT NULL,
    PRIMARY KEY (message_id, url)
);
