-- IMAP subscriptions (RFC 9051 §6.3.7) by name, apart from the mailboxes: a name may be
-- subscribed with no mailbox behind it (one deleted, or not made yet), DELETE leaves
-- the subscription, and CREATE no longer subscribes. What was subscribed stays so.
CREATE TABLE subscriptions (
    user_id  BIGINT NOT NULL REFERENCES users(id),
    name     TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
INSERT INTO subscriptions (user_id, name) SELECT user_id, name FROM mailboxes WHERE subscribed = 1;
ALTER TABLE mailboxes DROP COLUMN subscribed;
