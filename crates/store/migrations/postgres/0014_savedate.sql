-- SAVEDATE (RFC 8514): when a message was saved in its mailbox (delivered, appended,
-- copied or moved there), as Unix seconds. Messages already stored take their
-- internal date, the nearest thing known.
ALTER TABLE mailbox_messages ADD COLUMN saved_at BIGINT NOT NULL DEFAULT 0;
UPDATE mailbox_messages SET saved_at = internal_date;
