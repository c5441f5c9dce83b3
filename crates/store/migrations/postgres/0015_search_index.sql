-- The substring index behind IMAP SEARCH TEXT and BODY (see docs/architecture.md, "Search
-- index"). One document per body (blob), made after the body is stored, by the indexer:
--   search_pending  bodies not indexed yet (SEARCH looks through those as before);
--   search_docs     one row per indexed body: its texts in lower case, under trigram GIN
--                   indexes (pg_trgm), so `LIKE '%…%'` is answered from the index for any
--                   string with three letters or digits in a row; `partial` says which
--                   texts were too long to keep (1: the raw message, 2: the decoded text).
-- Everything goes with its body (ON DELETE CASCADE). pg_trgm is a trusted extension
-- (PostgreSQL 13+): the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE search_pending (
    hash  TEXT PRIMARY KEY REFERENCES blobs(hash) ON DELETE CASCADE
);

CREATE TABLE search_docs (
    hash     TEXT PRIMARY KEY REFERENCES blobs(hash) ON DELETE CASCADE,
    partial  INTEGER NOT NULL,
    raw      TEXT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX search_docs_partial ON search_docs (hash) WHERE partial <> 0;
CREATE INDEX search_docs_raw ON search_docs USING gin (raw gin_trgm_ops);
CREATE INDEX search_docs_body ON search_docs USING gin (body gin_trgm_ops);

-- from a body to the mailbox entries that show it (the index's hits, and the references
-- checked when a body is deleted)
CREATE INDEX mailbox_messages_blob ON mailbox_messages (blob_hash);

-- the bodies stored before this index existed are indexed in the background
INSERT INTO search_pending (hash) SELECT hash FROM blobs;
