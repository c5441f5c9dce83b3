-- \Recent (RFC 3501 §2.3.2): a message is recent to the first session that selects its
-- mailbox after it arrived. recent_uid is the highest UID some session has taken as
-- recent; messages above it are recent to the next one. What is there now is not new.
ALTER TABLE mailboxes ADD COLUMN recent_uid BIGINT NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext - 1;
