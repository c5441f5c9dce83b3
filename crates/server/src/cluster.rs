//! What the nodes of a cluster (several estafeta processes on one PostgreSQL) share
//! beyond the store's data: the counts behind the per-node limits. Every [`EVERY`] each
//! node writes its failed-login counts (the throttle every protocol shares) and its
//! sending-rate counts, and takes the sums of the other nodes' fresh ones
//! ([`FRESH`]); its limits then count those too. An approximation: what the other nodes
//! counted since their last exchange is not seen, so a burst spread over N nodes can pass
//! a limit by what N − 1 nodes take in [`EVERY`] (documented in `docs/operations.md`). On
//! SQLite there is one node and nothing runs.

use std::sync::Arc;
use std::time::Duration;

use estafeta_net::AuthThrottle;
use estafeta_smtp::SmtpServer;
use estafeta_store::Store;
use tokio::sync::watch;

/// How often the counts are exchanged.
pub const EVERY: Duration = Duration::from_secs(2);
/// Counts of another node older than this (seconds) are not counted: a stopped node's
/// failures stop counting within it.
pub const FRESH: i64 = 10;

/// Exchanges the counts until `stopped` turns true.
pub async fn share_counts(
    store: Arc<dyn Store>,
    node: String,
    throttle: Arc<AuthThrottle>,
    smtp: SmtpServer,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => {}
        }
        if *stopped.borrow() {
            return;
        }
        let now = estafeta_store::now();
        match store
            .exchange_counts(&node, "auth", &throttle.shared_counts(), now, now - FRESH)
            .await
        {
            Ok(others) => throttle.set_shared(others),
            Err(e) => tracing::warn!(error = %e, "failed-login counts not shared"),
        }
        match store
            .exchange_counts(&node, "rates", &smtp.shared_rate_counts(), now, now - FRESH)
            .await
        {
            Ok(others) => smtp.set_shared_rate_counts(others),
            Err(e) => tracing::warn!(error = %e, "sending-rate counts not shared"),
        }
    }
}
