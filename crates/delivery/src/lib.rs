//! Delivery: mail queued for other servers goes out, hop by hop, or comes back to its
//! sender as a delivery status notification.
//!
//! ```text
//!  Store queue ──lease──▶ scheduler ──jobs per destination──▶ workers (connections)
//!      ▲                      │ limits: total, per destination,     │ routing: route,
//!      │                      │ messages per connection             │ smarthost or MX
//!      └──── recorder ◀───────┴──── outcomes ◀──────────────────────────────┘
//!              └── reports owed: built (dsn), handed to the store (reports)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | `scheduler` | leasing due recipients, jobs, starting workers, waking, stopping |
//! | `queues` | jobs waiting per destination, connection counts, recipients in flight |
//! | `worker` | one connection: hosts in order, TLS fallback, jobs over one session |
//! | `routing` | destination of a domain; hosts to try (under MTA-STS and DANE); mail that loops back to us |
//! | `dns` | MX (null MX, no MX → A/AAAA) and address lookups with hickory-resolver |
//! | `outcome` | replies → delivered / deferred / failed, reports owed, the log line |
//! | `retry` | backoff schedule and expiry |
//! | `hosts` | hosts that failed lately, skipped for a while |
//! | `recorder` | writing outcomes back in batches |
//! | `reports` | the reports outcomes owe, built and handed to the store; those left owed |
//! | `dsn` | the RFC 3464 reports, with mail-builder |
//! | `tls_reports` | TLS sessions with MX hosts counted; the TLS reports (RFC 8460) built |
//! | `daily_reports` | once a period: TLS reports and DMARC aggregate reports queued |
//! | `settings` | the configuration as delivery uses it |

mod daily_reports;
mod dns;
pub mod dsn;
mod hosts;
mod outcome;
mod queues;
mod recorder;
mod reports;
pub mod retry;
mod routing;
mod scheduler;
mod settings;
mod tls_reports;
mod worker;

use std::sync::Arc;

use estafeta_store::Store;
use tokio::sync::{Notify, watch};

pub use settings::{DeliverySettings, RelayTarget};

use crate::dsn::DsnBuilder;
use crate::hosts::HostHealth;
use crate::queues::Queues;
use crate::recorder::Recorder;
use crate::scheduler::DeliveryContext;

/// Messages handed over at acceptance and not yet taken by the scheduler, at most.
const HANDOFF_QUEUE: usize = 512;
/// Larger bodies are not handed over in memory: the scheduler reads them when sending.
const HANDOFF_MAX_BODY: usize = 1 << 20;

/// The running delivery scheduler.
pub struct Delivery {
    task: tokio::task::JoinHandle<()>,
}

impl Delivery {
    /// Starts delivering the queue of `store` (with DANE when `dane` is given). Stops when
    /// `stop` turns true: transactions in progress finish (for up to 20 s), their outcomes
    /// are written, and the leases held for work not started are given back.
    pub async fn start(
        store: Arc<dyn Store>,
        settings: DeliverySettings,
        resolver: hickory_resolver::TokioResolver,
        dane: Option<estafeta_trust::dane::Dane>,
        stop: watch::Receiver<bool>,
    ) -> Result<Delivery, String> {
        let signal = store
            .queue_signal()
            .await
            .map_err(|e| format!("cannot watch the queue: {e}"))?;
        let owner = format!(
            "{}/{}/{:08x}",
            settings.hostname,
            std::process::id(),
            rand::random::<u32>()
        );
        let queues = Arc::new(Queues::default());
        let wake = Arc::new(Notify::new());
        let dsn = DsnBuilder {
            hostname: settings.hostname.clone(),
            max_queue_time: settings.retry.max_queue_time(),
        };
        let recorder = Recorder::start(
            store.clone(),
            owner.clone(),
            dsn,
            queues.clone(),
            wake.clone(),
        );
        let mta_sts = match &settings.mta_sts {
            Some((port, roots)) => {
                let connector = estafeta_net::client_tls::connector(Some(roots.clone()))
                    .map_err(|e| format!("cannot set up TLS for MTA-STS: {e}"))?;
                Some(estafeta_trust::mta_sts::MtaSts::new(
                    resolver.clone(),
                    connector,
                    *port,
                    settings.timeouts.connect,
                ))
            }
            None => None,
        };
        let ctx = Arc::new(DeliveryContext {
            store,
            mta_sts,
            dane,
            hosts: HostHealth::new(settings.host_retry_after),
            settings,
            resolver,
            queues,
            recorder,
            wake,
            owner,
        });
        let reports = ctx.settings.reports;
        if reports.tls || reports.dmarc {
            let web = estafeta_net::client_tls::connector(Some(ctx.settings.web_roots.clone()))
                .map_err(|e| format!("cannot set up TLS for reports: {e}"))?;
            tokio::spawn(daily_reports::run(
                ctx.store.clone(),
                ctx.resolver.clone(),
                ctx.settings.hostname.clone(),
                reports,
                web,
                stop.clone(),
            ));
        }
        let (handoff, handoffs) = tokio::sync::mpsc::channel(HANDOFF_QUEUE);
        ctx.store.hand_off(
            &ctx.owner,
            ctx.settings.lease_time,
            HANDOFF_MAX_BODY,
            handoff,
        );
        let task = tokio::spawn(scheduler::run(ctx, signal, handoffs, stop));
        Ok(Delivery { task })
    }

    /// Waits until the scheduler has stopped.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}
