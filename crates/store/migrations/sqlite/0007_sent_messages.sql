-- What left this server, so that a delivery report coming back can be recognised as being
-- about our mail: one row per recipient a remote server accepted, with the message's queue
-- id (ours, in our Received: field), its Message-ID and envelope sender. Rows older than
-- the retention (30 days) are pruned as new ones are written.
CREATE TABLE sent_messages (
    queue_id    TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    message_id  TEXT,
    sender      TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (queue_id, recipient)
);
CREATE INDEX sent_messages_message_id ON sent_messages (message_id);
CREATE INDEX sent_messages_sent_at ON sent_messages (sent_at);
-- The Message-ID of a queued message, copied to sent_messages on delivery.
ALTER TABLE queue_messages ADD COLUMN message_id TEXT;
-- A local recipient that could not take the message after it was accepted (mailbox full
-- on the real size, mailbox gone): queued already failing with this reason, so that
-- delivery records the failure and the report it owes like any other.
ALTER TABLE queue_recipients ADD COLUMN failure TEXT;
