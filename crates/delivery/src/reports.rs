//! Handing the delivery reports outcomes owe to the store. The store records outcomes with
//! the report each owes and names the messages owing one with nothing in flight
//! (`AttemptRecorded::owed`); here each report is built from its message and body
//! (`dsn`), addressed to the sender like any message (an [`Envelope`]: a local sender gets
//! it in her INBOX) and handed over with `Queue::queue_reports`, which queues it and only
//! then releases the body. What was owed when the process last stopped, and what a failed
//! or stale hand-over left, is found again with `Queue::reports_owed` ([`hand_over_owed`]).

use estafeta_store::{
    Accept, Envelope, QueueRecipient, ReportHandover, Store, address, new_queue_id, now,
};

use crate::dsn::DsnBuilder;

/// Most owed messages read back at once.
const MAX_OWED: i64 = 256;

/// Hands over every report the store lists as owed; false when some are left owed.
pub async fn hand_over_owed(store: &dyn Store, dsn: &DsnBuilder) -> bool {
    loop {
        let owed = match store.reports_owed(MAX_OWED).await {
            Ok(owed) => owed,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for delivery reports owed");
                return false;
            }
        };
        if !hand_over(store, dsn, &owed).await {
            return false;
        }
        if (owed.len() as i64) < MAX_OWED {
            return true;
        }
    }
}

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
    if ready.is_empty() {
        return all;
    }
    // all in one transaction; when that fails, one each, so that one cannot hold back others
    if let Some(queued) = queue(store, &ready).await {
        return queued && all;
    }
    if ready.len() == 1 {
        return false;
    }
    for one in ready.chunks(1) {
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
    // a report about mail we forwarded goes to the original sender, not to the SRS address
    let to = match estafeta_trust::srs::original_of(store, &to).await? {
        Some(Ok(original)) => original,
        _ => to,
    };
    let resolution = store.resolve(&to).await?;
    let Some(envelope) = Envelope::to_resolved("", &to, resolution) else {
        tracing::warn!(to = %to, "delivery report not sent: no such local user");
        return Ok(None);
    };
    Ok(Some(envelope.accept(new_queue_id(), report, None, now())))
}
