-- What a reader derives from a body and keeps to avoid parsing it again (IMAP's ENVELOPE
-- and BODYSTRUCTURE): opaque to the store, filled on first use, deleted with the body.
ALTER TABLE blobs ADD COLUMN summary BYTEA;
