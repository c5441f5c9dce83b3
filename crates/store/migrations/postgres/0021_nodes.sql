-- Delivery nodes' heartbeats: each process that delivers writes its lease owner name and
-- the time every few seconds; the leases of a node whose heartbeat stopped are freed by
-- the others (queue.rs, `heartbeat`), so that its work is taken over within seconds
-- rather than when the leases run out.
CREATE TABLE nodes (
    owner       TEXT PRIMARY KEY,
    heartbeat   BIGINT NOT NULL
);
