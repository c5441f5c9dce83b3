//! What an attempt means for each recipient: delivered, failed (5xx, or expired), or
//! deferred to the next step of the retry schedule — with the report it owes the sender
//! — and the delivery log line that says so, one per recipient and attempt, in the manner
//! of Postfix's `status=sent/deferred/bounced`.

use estafeta_smtp::outbound::{RcptStatus, TransactionOutcome};
use estafeta_store::{DeliveryOutcome, QueueRecipient, QueuedMessage, RecipientUpdate, ReportKind};

use crate::dsn;
use crate::retry::Retry;
use crate::routing::Target;
use crate::settings::DeliverySettings;

/// One message's recipients for one destination: what one transaction carries.
#[derive(Debug, Clone)]
pub struct Job {
    pub message: std::sync::Arc<QueuedMessage>,
    pub recipients: Vec<QueueRecipient>,
    /// The body when it came with the message (handed over at acceptance); `None`: read
    /// it from the store when sending.
    pub body: Option<std::sync::Arc<Vec<u8>>>,
}

/// Where the reply came from and over what, for the log.
#[derive(Debug, Default, Clone)]
pub struct Via {
    /// The host that replied (`name[ip]:port`); `None` when the reason is our own.
    pub host: Option<String>,
    /// The TLS version of the connection.
    pub tls: Option<String>,
}

/// The outcomes of a transaction that got a reply for every recipient.
pub fn from_transaction(
    settings: &DeliverySettings,
    job: &Job,
    target: &Target,
    tls: Option<String>,
    tx: &TransactionOutcome,
    now: i64,
) -> Vec<RecipientUpdate> {
    let host = target.to_string();
    job.recipients
        .iter()
        .zip(&tx.recipients)
        .map(|(r, o)| {
            let reply = o.reply.to_string();
            let via = Via {
                host: (!o.reply.local).then(|| host.clone()),
                tls: tls.clone(),
            };
            match o.status {
                RcptStatus::Delivered => {
                    let report = dsn::on_success(&job.message, r, tx.dsn_passed);
                    log(job, r, &via, "sent", &reply, now);
                    update(r, DeliveryOutcome::Delivered { reply }, via.host, report)
                }
                RcptStatus::PermanentFailure => failed(job, r, via, reply, now),
                RcptStatus::TemporaryFailure => deferred(settings, job, r, via, reply, now),
            }
        })
        .collect()
}

/// Every recipient of the job fails for good with `reason`.
pub fn all_failed(job: &Job, via: &Via, reason: &str, now: i64) -> Vec<RecipientUpdate> {
    job.recipients
        .iter()
        .map(|r| failed(job, r, via.clone(), reason.to_string(), now))
        .collect()
}

/// The recipients of the job that failed before anything was sent (a local mailbox that
/// could not take the message once it was accepted, see `QueueRecipient::failure`): failed
/// with their own reason, and the report their NOTIFY asks for.
pub fn already_failed(job: &Job, now: i64) -> Vec<RecipientUpdate> {
    job.recipients
        .iter()
        .filter_map(|r| {
            let reason = r.failure.clone()?;
            Some(failed(job, r, Via::default(), reason, now))
        })
        .collect()
}

/// Every recipient of the job is deferred (or expires) with `reason`.
pub fn all_deferred(
    settings: &DeliverySettings,
    job: &Job,
    via: &Via,
    reason: &str,
    now: i64,
) -> Vec<RecipientUpdate> {
    job.recipients
        .iter()
        .map(|r| deferred(settings, job, r, via.clone(), reason.to_string(), now))
        .collect()
}

fn failed(job: &Job, r: &QueueRecipient, via: Via, reply: String, now: i64) -> RecipientUpdate {
    let report = dsn::on_failure(&job.message, r);
    log(job, r, &via, "bounced", &reply, now);
    update(r, DeliveryOutcome::Failed { reply }, via.host, report)
}

fn deferred(
    settings: &DeliverySettings,
    job: &Job,
    r: &QueueRecipient,
    via: Via,
    reply: String,
    now: i64,
) -> RecipientUpdate {
    match settings
        .retry
        .after_failure(r.attempts, job.message.created_at, now)
    {
        Retry::At(next_attempt) => {
            let report = dsn::on_delay(&job.message, r, settings.delay_warning, now);
            log(job, r, &via, "deferred", &reply, now);
            update(
                r,
                DeliveryOutcome::Deferred {
                    reply,
                    next_attempt,
                },
                via.host,
                report,
            )
        }
        Retry::Expired => {
            let days = settings.retry.max_queue_time() as f64 / 86_400.0;
            let reason = format!(
                "4.4.7 message expired after {days:.3} days in the queue; last error: {reply}"
            );
            // the reason is ours now: it names the host itself
            failed(job, r, Via { host: None, ..via }, reason, now)
        }
    }
}

fn update(
    r: &QueueRecipient,
    outcome: DeliveryOutcome,
    host: Option<String>,
    report: Option<ReportKind>,
) -> RecipientUpdate {
    RecipientUpdate {
        recipient_id: r.id,
        queue_id: r.queue_id.clone(),
        outcome,
        host,
        report,
    }
}

/// The delivery log line: one per recipient and attempt, under the queue id.
fn log(job: &Job, r: &QueueRecipient, via: &Via, status: &str, reply: &str, now: i64) {
    let m = &job.message;
    let from = if m.sender.is_empty() { "<>" } else { &m.sender };
    tracing::info!(
        queue_id = %m.id,
        from = %from,
        to = %r.address,
        relay = via.host.as_deref().unwrap_or("none"),
        tls = via.tls.as_deref().unwrap_or("none"),
        delay = now - m.created_at,
        attempt = r.attempts + 1,
        status,
        reply = %reply,
        "delivery {status}"
    );
}
