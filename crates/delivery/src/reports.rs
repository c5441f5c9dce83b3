//! Handing the delivery reports outcomes owe to the store. The store records outcomes with
//! the report each owes and names the messages owing one with nothing in flight
//! (`AttemptRecorded::owed`); here each report is built from its message and body
//! (`dsn`), addressed to the sender like any message (an [`Envelope`]: a local sender gets
//! it in her INBOX) and handed over with `Queue::queue_reports`, which queues it and only
//! then releases the body. What was owed when the process last stopped, and what a failed
//! or stale hand-over left, is found again with `Queue::reports_owed` ([`Pending`]).

use std::time::{Duration, Instant};

use estafeta_store::{
    Accept, Envelope, QueueRecipient, ReportHandover, Store, address, new_queue_id, now,
};

use crate::dsn::DsnBuilder;

/// Most owed messages read back at once.
const MAX_OWED: i64 = 256;
/// The first wait before looking again after a failed hand-over; it doubles up to a minute.
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// Builds and hands over the reports of `queue_ids`; false when some are still owed (a
/// store error, or a hand-over that found the marks changed): look for them again.
pub async fn hand_over(store: &dyn Store, dsn: &DsnBuilder, queue_ids: &[String]) -> bool {
    let mut ready = Vec::with_capacity(queue_ids.len());
    let mut all = true;
    for queue_id in queue_ids {
        match build(store, dsn, queue_id).await {
            Ok(Some(h)) => ready.push(h),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(queue_id = %queue_id, error = %e, "cannot read a message owing a delivery report");
                all = false;
            }
        }
    }
    // all in one transaction; when that fails, one each, so that one cannot hold back others
    let batches = match queue(store, &ready).await {
        Some(queued) => return queued && all,
        None if ready.len() > 1 => ready.chunks(1),
        None => return false,
    };
    for one in batches {
        all &= queue(store, one).await.unwrap_or(false);
    }
    all
}

/// Hands reports over; whether all were queued (some may be stale), `None` on an error.
async fn queue(store: &dyn Store, ready: &[ReportHandover]) -> Option<bool> {
    let done = match store.queue_reports(ready).await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, reports = ready.len(), "cannot queue delivery reports; they stay owed");
            return None;
        }
    };
    for (queue_id, report) in &done.reports {
        tracing::info!(queue_id = %queue_id, report = %report, "delivery status notification queued");
    }
    for queue_id in &done.finished {
        tracing::debug!(queue_id = %queue_id, "removed from the queue: every recipient done");
    }
    for queue_id in &done.stale {
        tracing::debug!(queue_id = %queue_id, "the reports owed changed meanwhile: read again");
    }
    Some(done.stale.is_empty())
}

/// The report a queued message owes now; `None` when it owes none (any more).
async fn build(
    store: &dyn Store,
    dsn: &DsnBuilder,
    queue_id: &str,
) -> estafeta_store::Result<Option<ReportHandover>> {
    let (Some(message), Some(body)) = (
        store.queue_get(queue_id).await?,
        store.queue_body(queue_id).await?,
    ) else {
        return Ok(None);
    };
    let reported: Vec<QueueRecipient> = message
        .recipients
        .iter()
        .filter(|r| r.report.is_some())
        .cloned()
        .collect();
    if reported.is_empty() {
        return Ok(None); // handed over meanwhile
    }
    // a null sender is never reported to (the marks are cleared all the same)
    let report = match message.sender.as_str() {
        "" => None,
        sender => {
            let text = dsn.report(&message, &body, &reported, now());
            addressed(store, sender, text).await?
        }
    };
    Ok(Some(ReportHandover {
        queue_id: queue_id.to_string(),
        recipients: reported
            .iter()
            .filter_map(|r| Some((r.id, r.report?)))
            .collect(),
        report,
    }))
}

/// The report's acceptance: from `<>` to the sender, resolved as any recipient is; `None`
/// when nobody can receive it.
async fn addressed(
    store: &dyn Store,
    sender: &str,
    report: Vec<u8>,
) -> estafeta_store::Result<Option<Accept>> {
    let to = match address::normalize(sender) {
        Ok(to) => to,
        Err(e) => {
            tracing::warn!(to = %sender, error = %e, "delivery report not sent: the sender's address is not usable");
            return Ok(None);
        }
    };
    let resolution = store.resolve(&to).await?;
    let Some(envelope) = Envelope::to_resolved("", &to, resolution) else {
        tracing::warn!(to = %to, "delivery report not sent: no such local user");
        return Ok(None);
    };
    Ok(Some(envelope.accept(new_queue_id(), report, None, now())))
}

/// When to look for reports nobody is handing over: at start (the process may have
/// stopped between an outcome and its report), and after a hand-over that left some owed.
pub struct Pending {
    due: Option<Instant>,
    wait: Duration,
}

impl Pending {
    /// Due at once.
    pub fn new() -> Pending {
        Pending {
            due: Some(Instant::now()),
            wait: FIRST_RETRY,
        }
    }

    /// How long until the next look, when one is to come.
    pub fn wait(&self) -> Option<Duration> {
        self.due
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// A hand-over left reports owed: look again after a while (longer each time).
    pub fn failed(&mut self) {
        self.due = Some(Instant::now() + self.wait);
        self.wait = (self.wait * 2).min(Duration::from_secs(60));
    }

    /// Looks for owed reports and hands them over, if it is time.
    pub async fn look(&mut self, store: &dyn Store, dsn: &DsnBuilder) {
        if self.due.is_none_or(|d| d > Instant::now()) {
            return;
        }
        match store.reports_owed(MAX_OWED).await {
            Ok(ids) if hand_over(store, dsn, &ids).await => {
                // a full page: there may be more
                self.due = (ids.len() as i64 == MAX_OWED).then(Instant::now);
                self.wait = FIRST_RETRY;
            }
            Ok(_) => self.failed(),
            Err(e) => {
                tracing::error!(error = %e, "cannot look for delivery reports owed");
                self.failed();
            }
        }
    }
}
