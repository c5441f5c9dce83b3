-- Counts the nodes of a cluster share (PostgreSQL): each node's sending-rate and
-- failed-login counts, written every few seconds, so that every node checks its limits
-- against the cluster's total (shared_counts.rs). Rows of a node that stopped writing
-- are ignored after a few seconds and removed after a minute.
CREATE TABLE shared_counts (
    node        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    count       BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (node, scope, key)
);
CREATE INDEX shared_counts_scope ON shared_counts (scope, key);
