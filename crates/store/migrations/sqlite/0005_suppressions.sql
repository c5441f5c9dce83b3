-- Per-domain suppression lists: remote addresses that hard-bounced mail from one of our
-- domains' users, and whether RCPT to them is refused for that domain's senders.
CREATE TABLE suppressions (
    domain      TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (domain, address)
);
ALTER TABLE domains ADD COLUMN suppression_enforced INTEGER NOT NULL DEFAULT 0;
