-- open and click tracking, opt-in per domain (store/src/tracking.rs): the domains that
-- have it, each tracked message with its counts, and the clicks of each of its links
ALTER TABLE domains ADD COLUMN tracking BIGINT NOT NULL DEFAULT 0;
CREATE TABLE tracked_messages (
    id          TEXT PRIMARY KEY,
    domain      TEXT NOT NULL,
    sender      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    recipients  BIGINT NOT NULL,
    links       BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL,
    opens       BIGINT NOT NULL DEFAULT 0,
    clicks      BIGINT NOT NULL DEFAULT 0,
    first_open  BIGINT,
    last_event  BIGINT
);
CREATE INDEX tracked_messages_sent ON tracked_messages (sent_at);
CREATE TABLE tracked_clicks (
    message_id  TEXT NOT NULL REFERENCES tracked_messages(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    clicks      BIGINT NOT NULL,
    last_click  BIGINT NOT NULL,
    PRIMARY KEY (message_id, url)
);
