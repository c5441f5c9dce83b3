//! Prometheus metrics at `/metrics`, readable from `web.metrics_networks` (loopback by
//! default). The other crates count through the `metrics` facade (connections accepted
//! and refused in `net`, messages accepted in `smtp`, delivery results in `delivery`,
//! failed logins in `net`'s throttle, commit time in `store`); the first web server of
//! the process installs the recorder that keeps them ([`install`]). Figures that are a
//! state rather than a count (connections open, queue size and age) are read when
//! scraped ([`Gauges`]).
//!
//! Names, for the documentation and dashboards:
//! - `estafeta_connections_total{protocol}`, `estafeta_connections_refused_total{protocol,reason}`
//! - `estafeta_connections_open{protocol}`
//! - `estafeta_smtp_messages_total{result="accepted"}`, `estafeta_smtp_recipients_total`
//! - `estafeta_deliveries_total{result="delivered"|"deferred"|"bounced"}`
//! - `estafeta_auth_failures_total`
//! - `estafeta_queue_messages`, `estafeta_queue_oldest_age_seconds`
//! - `estafeta_store_commit_seconds` (histogram)

use std::sync::{Arc, OnceLock};

use estafeta_net::ConnectionLimits;
use estafeta_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds of `estafeta_store_commit_seconds`: a commit waits for an fsync, from
/// well under a millisecond (NVMe) to tens of milliseconds (disks, busy PostgreSQL).
const COMMIT_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder once; later calls return the same handle. When some
/// other recorder is installed already (not in estafeta itself), the handle renders
/// what this one holds: nothing but the gauges.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("estafeta_store_commit_seconds".into()),
                &COMMIT_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows gauges only");
        }
        handle
    })
}

/// What is read at scrape time.
pub struct Gauges {
    open: Vec<(&'static str, Arc<ConnectionLimits>)>,
}

impl Gauges {
    pub fn new(open: Vec<(&'static str, Arc<ConnectionLimits>)>) -> Gauges {
        Gauges { open }
    }

    /// Sets the gauges, then renders everything in Prometheus' text format.
    pub async fn render(&self, store: &dyn Store) -> String {
        for (protocol, limits) in &self.open {
            metrics::gauge!("estafeta_connections_open", "protocol" => *protocol)
                .set(f64::from(limits.open()));
        }
        match store.queue_summary().await {
            Ok((count, oldest)) => {
                metrics::gauge!("estafeta_queue_messages").set(count as f64);
                let age = oldest.map_or(0, |t| (estafeta_store::now() - t).max(0));
                metrics::gauge!("estafeta_queue_oldest_age_seconds").set(age as f64);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: the queue could not be read"),
        }
        install().render()
    }
}
