-- Delivery: per recipient, where and when the last attempt went, and the delivery status
-- notification (DSN) owed to the sender: "failed", "delayed" or "relayed" until the report
-- is queued (in the same transaction that writes the outcome), then NULL again.
ALTER TABLE queue_recipients ADD COLUMN last_host TEXT;
ALTER TABLE queue_recipients ADD COLUMN last_attempt INTEGER;
ALTER TABLE queue_recipients ADD COLUMN report TEXT;
ALTER TABLE queue_recipients ADD COLUMN delay_reported INTEGER NOT NULL DEFAULT 0;
CREATE INDEX queue_recipients_lease ON queue_recipients (lease_owner);
