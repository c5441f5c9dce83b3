-- The substring index behind IMAP SEARCH TEXT and BODY (see docs/architecture.md, "Search
-- index"). One document per body (blob), made after the body is stored, by the indexer:
--   search_pending  bodies not indexed yet (SEARCH looks through those as before);
--   search_docs     one row per indexed body; `partial` says which of its texts were too
--                   long to keep (1: the raw message, 2: the decoded text): SEARCH looks
--                   through those bodies too;
--   search_fts      the texts, lower case, as trigrams (any 3 characters in a row), so a
--                   phrase query finds any substring of 3 characters or more. Contentless:
--                   the texts themselves are not stored twice.
-- Everything goes with its body (ON DELETE CASCADE, and the trigger for the FTS rows).
CREATE TABLE search_pending (
    hash  TEXT PRIMARY KEY REFERENCES blobs(hash) ON DELETE CASCADE
);

CREATE TABLE search_docs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    hash     TEXT NOT NULL UNIQUE REFERENCES blobs(hash) ON DELETE CASCADE,
    partial  INTEGER NOT NULL
);
CREATE INDEX search_docs_partial ON search_docs (hash) WHERE partial <> 0;

CREATE VIRTUAL TABLE search_fts USING fts5(
    raw, body,
    tokenize = 'trigram case_sensitive 1',
    content = '', contentless_delete = 1
);

CREATE TRIGGER search_docs_gone AFTER DELETE ON search_docs BEGIN
    DELETE FROM search_fts WHERE rowid = old.id;
END;

-- from a body to the mailbox entries that show it (the index's hits, and the references
-- checked when a body is deleted)
CREATE INDEX mailbox_messages_blob ON mailbox_messages (blob_hash);

-- the bodies stored before this index existed are indexed in the background
INSERT INTO search_pending (hash) SELECT hash FROM blobs;
