-- delivery statistics (store/src/stats.rs): counts per hour, domain of ours, sending
-- user and event; and the last delivery failures with their replies
CREATE TABLE delivery_stats (
    hour    INTEGER NOT NULL,
    domain  TEXT NOT NULL,
    sender  TEXT NOT NULL,
    event   TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (hour, domain, sender, event)
);
CREATE TABLE delivery_failures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    queue_id   TEXT NOT NULL,
    sender     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    reply      TEXT NOT NULL,
    bounced    INTEGER NOT NULL
);
