-- JMAP (RFC 8620/8621, emails.rs). An Email is a user's copies of one body, whatever
-- folders they are in: its id is the body's hash. Expunged copies keep their body's hash
-- so that Email/changes can tell an Email destroyed (no copy left) from one moved.
-- Rows expunged before this migration have none.
ALTER TABLE expunged ADD COLUMN blob_hash TEXT;

-- Blobs uploaded over JMAP (RFC 8620 §6.1), kept for a day for Email/import and
-- attachments; bounded per user by the caller.
CREATE TABLE jmap_uploads (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    data          BYTEA NOT NULL,
    size          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX jmap_uploads_user ON jmap_uploads (user_id, created_at);
