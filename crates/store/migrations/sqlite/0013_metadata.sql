-- IMAP METADATA (RFC 5464): annotations of the server (mailbox_id 0) and of a user's
-- mailboxes, per user. Entry names are kept lowercase (they compare case-insensitively)
-- with their /private or /shared prefix, so the two kinds of an entry are distinct rows.
-- Keyed by the mailbox's id, they follow RENAME; DELETE of the mailbox and removal of
-- the user delete them.
CREATE TABLE metadata (
    user_id     BIGINT NOT NULL REFERENCES users(id),
    mailbox_id  BIGINT NOT NULL,
    name        TEXT NOT NULL,
    value       BLOB NOT NULL,
    PRIMARY KEY (user_id, mailbox_id, name)
);
CREATE INDEX metadata_mailbox ON metadata (mailbox_id);
