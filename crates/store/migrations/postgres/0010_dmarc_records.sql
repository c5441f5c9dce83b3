-- What the DMARC checks of mail from outside found, for aggregate reports (RFC 7489
-- §7.2) to the domains that ask: per reporting period, From: domain, published policy and
-- result row (mail-auth's JSON of each), counted; taken (and removed) when the period's
-- reports are built.
CREATE TABLE dmarc_records (
    period_start  BIGINT NOT NULL,
    period_end    BIGINT NOT NULL,
    domain        TEXT NOT NULL,
    rua           TEXT NOT NULL,
    policy        TEXT NOT NULL,
    record        TEXT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (period_start, domain, rua, policy, record)
);
CREATE INDEX dmarc_records_end ON dmarc_records (period_end);
