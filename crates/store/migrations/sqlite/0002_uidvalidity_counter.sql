-- The last UIDVALIDITY given to one of the user's mailboxes, so that a mailbox deleted and
-- created again never gets the same UIDVALIDITY (RFC 9051 §2.3.1.1).
ALTER TABLE users ADD COLUMN last_uidvalidity INTEGER NOT NULL DEFAULT 0;
UPDATE users SET last_uidvalidity = COALESCE((SELECT MAX(uidvalidity) FROM mailboxes WHERE mailboxes.user_id = users.id), 0);
