//! The reports sent once a period (a UTC day): TLS reports of our outbound sessions
//! (`tls_reports`) and DMARC aggregate reports of the mail from outside we checked. A
//! moment after each period ends (and at start, for periods a stopped process left), the
//! period's counts are taken from the store (by one node only) and each report is queued
//! like any mail, from `postmaster@HOSTNAME` with the null envelope sender.

use std::sync::Arc;
use std::time::Duration;

use estafeta_store::{Accept, RemoteRecipient, Store, new_queue_id, now};
use estafeta_trust::dmarc_report;
use hickory_resolver::TokioResolver;
use tokio::sync::watch;

use crate::tls_reports;

/// Which reports are sent, and over what period.
#[derive(Debug, Clone, Copy)]
pub struct Reports {
    pub period: i64,
    pub tls: bool,
    pub dmarc: bool,
}

/// Sends the reports of each period once it has ended, until `stop`; HTTPS servers
/// are checked by `web`.
pub async fn run(
    store: Arc<dyn Store>,
    resolver: TokioResolver,
    hostname: String,
    reports: Reports,
    web: tokio_rustls::TlsConnector,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if reports.tls {
            tls_reports::send_due(&*store, &resolver, &web, &hostname).await;
        }
        if reports.dmarc {
            send_dmarc_due(&*store, &resolver, &hostname).await;
        }
        let next_end = (now() / reports.period + 1) * reports.period;
        // a moment after the period ends, so that its last counts are in
        let wait = Duration::from_secs((next_end - now()).max(0) as u64 + 1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Queues `body` to `to` from the null sender; logs what happened with `what`.
pub async fn queue(store: &dyn Store, what: &str, domain: &str, to: &[String], body: Vec<u8>) {
    let queue_id = new_queue_id();
    let accepted = store
        .accept(Accept {
            queue_id: queue_id.clone(),
            body,
            sender: String::new(),
            remote: to
                .iter()
                .map(|a| RemoteRecipient {
                    address: a.clone(),
                    ..RemoteRecipient::default()
                })
                .collect(),
            internal_date: now(),
            ..Accept::default()
        })
        .await;
    match accepted {
        Ok(_) => tracing::info!(%queue_id, %domain, to = %to.join(", "), "{what} queued"),
        Err(e) => tracing::warn!(%domain, error = %e, "{what} not queued"),
    }
}

/// Takes the DMARC rows of periods that have ended and queues each domain's report to the
/// addresses that may have it.
async fn send_dmarc_due(store: &dyn Store, resolver: &TokioResolver, hostname: &str) {
    let taken = match store.take_dmarc_records(now()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the DMARC report rows");
            return;
        }
    };
    for group in taken.chunk_by(|a, b| {
        (a.period_start, &a.domain, &a.policy, &a.rua)
            == (b.period_start, &b.domain, &b.policy, &b.rua)
    }) {
        let domain = &group[0].domain;
        let rua: Vec<&str> = group[0].rua.lines().collect();
        let to = dmarc_report::authorized(resolver, domain, &rua).await;
        if to.is_empty() {
            continue;
        }
        let Some(report) = dmarc_report::build(hostname, group) else {
            continue;
        };
        let from = format!("postmaster@{hostname}");
        match dmarc_report::message(&report, hostname, &from, &to) {
            Ok(body) => queue(store, "DMARC report", domain, &to, body).await,
            Err(e) => tracing::warn!(%domain, error = %e, "DMARC report not sent"),
        }
    }
}
