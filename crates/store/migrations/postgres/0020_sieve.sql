-- Sieve (RFC 5228): each user's scripts by name, at most one active (the partial unique
-- index), with the last error a run of the active one met (shown by `estafeta sieve
-- list`). Removed with the user (directory.rs).
CREATE TABLE sieve_scripts (
    user_id     BIGINT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    content     TEXT NOT NULL,
    active      BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (user_id, name)
);
CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts (user_id) WHERE active = 1;
-- What Sieve remembers between messages: the senders a vacation reply went to (RFC 5230
-- §4.2, per handle) and the duplicate test's ids (RFC 7352), each until it expires; keys
-- are hashes, so no address is kept in the clear.
CREATE TABLE sieve_memory (
    user_id     BIGINT NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, key)
);
CREATE INDEX sieve_memory_expiry ON sieve_memory (expires_at);
