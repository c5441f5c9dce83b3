-- SCRAM-SHA-256 keys (RFC 5802, RFC 7677) beside the argon2 hash, in the RFC 5803 form
-- `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64). NULL until the
-- password is set again or the user next logs in with PLAIN/LOGIN.
ALTER TABLE users ADD COLUMN scram_sha256 TEXT;
-- Secrets the server keeps across restarts and shares between nodes; `scram-decoy` makes
-- the salts offered for unknown users stable, so that they look like real users'.
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
