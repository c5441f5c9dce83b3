-- Large bodies in pieces (see blobs.rs): a body over 1 MiB keeps an empty `data` in
-- `blobs` (so `length(data) < size`) and its octets here, in pieces of 1 MiB numbered
-- from 0, so that a reader of part of it (IMAP FETCH of a 25 MB message, piece by piece)
-- reads only the pieces it needs. The pieces go with their body.
CREATE TABLE blob_chunks (
    hash  TEXT NOT NULL REFERENCES blobs(hash) ON DELETE CASCADE,
    seq   BIGINT NOT NULL,
    data  BYTEA NOT NULL,
    PRIMARY KEY (hash, seq)
);
