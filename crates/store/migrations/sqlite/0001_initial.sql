-- estafeta schema, version 1 (SQLite). Booleans are 0/1 integers, times are Unix seconds.

CREATE TABLE domains (
    name        TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    address        TEXT NOT NULL UNIQUE,
    domain         TEXT NOT NULL REFERENCES domains(name),
    password_hash  TEXT NOT NULL,
    quota_bytes    INTEGER NOT NULL DEFAULT 0,
    pop3_keep      INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL
);

-- address "@example.com" is the domain's catch-all.
CREATE TABLE aliases (
    address  TEXT NOT NULL,
    domain   TEXT NOT NULL REFERENCES domains(name),
    target   TEXT NOT NULL,
    PRIMARY KEY (address, target)
);

-- Message bodies, stored once, named by their SHA-256, counted by their references
-- (mailbox entries and queued messages).
CREATE TABLE blobs (
    hash      TEXT PRIMARY KEY,
    data      BLOB NOT NULL,
    size      INTEGER NOT NULL,
    refcount  INTEGER NOT NULL
);

CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    name           TEXT NOT NULL,
    special_use    TEXT,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL,
    highestmodseq  INTEGER NOT NULL,
    subscribed     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (user_id, name)
);

-- prefix: per-recipient header lines (Return-Path:, Delivered-To:) stored before the shared body.
CREATE TABLE mailbox_messages (
    mailbox_id     INTEGER NOT NULL REFERENCES mailboxes(id),
    uid            INTEGER NOT NULL,
    blob_hash      TEXT NOT NULL REFERENCES blobs(hash),
    prefix         BLOB NOT NULL,
    flags          TEXT NOT NULL DEFAULT '',
    internal_date  INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    modseq         INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mailbox_messages_modseq ON mailbox_messages (mailbox_id, modseq);

-- Expunged UIDs with the MODSEQ of their removal, for QRESYNC VANISHED.
CREATE TABLE expunged (
    mailbox_id  INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    modseq      INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);

CREATE TABLE queue_messages (
    id          TEXT PRIMARY KEY,
    blob_hash   TEXT NOT NULL REFERENCES blobs(hash),
    sender      TEXT NOT NULL,
    envid       TEXT,
    ret         TEXT,
    auth_user   TEXT,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE queue_recipients (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id      TEXT NOT NULL REFERENCES queue_messages(id),
    address       TEXT NOT NULL,
    domain        TEXT NOT NULL,
    orcpt         TEXT,
    notify        TEXT,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    last_reply    TEXT,
    lease_owner   TEXT,
    lease_until   INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX queue_recipients_due ON queue_recipients (state, next_attempt);
CREATE INDEX queue_recipients_message ON queue_recipients (queue_id);
