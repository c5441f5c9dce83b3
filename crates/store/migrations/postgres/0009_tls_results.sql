-- Outcomes of outbound TLS sessions for TLS reports (RFC 8460), counted per reporting
-- period, recipient domain, policy and result; taken (and removed) when the period's
-- report is built. Empty strings stand for "none" so that the key has no NULLs.
CREATE TABLE tls_results (
    period_start  BIGINT NOT NULL,
    period_end    BIGINT NOT NULL,
    domain        TEXT NOT NULL,
    policy_type   TEXT NOT NULL,
    policy        TEXT NOT NULL,
    mx_patterns   TEXT NOT NULL,
    result        TEXT NOT NULL,
    receiving_mx  TEXT NOT NULL,
    receiving_ip  TEXT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (period_start, domain, policy_type, policy, mx_patterns, result, receiving_mx, receiving_ip)
);
CREATE INDEX tls_results_end ON tls_results (period_end);
