//! Suppression only from reports about mail we sent. A delivery report (null sender, read
//! by `super::bounces`) changes a suppression list only when
//! - the message it returns is one this server delivered to a remote server: one of the
//!   queue ids of its returned `Received:` fields (ours names the queue id) or its
//!   Message-ID is among the sent messages the store remembers (30 days), and
//! - every recipient it reports as failed for good is one that message was sent to
//!   (its Final-Recipient, or its Original-Recipient when the remote side forwarded).
//!
//! Then those recipients go on the suppression list of the domain of the message's
//! envelope sender (one of ours), all in one transaction. Anything else — no returned
//! headers, no match, a match listing an address the message never went to, a sender
//! domain that is not ours — changes nothing, and the log says why.

use estafeta_store::{NewSuppression, SentMessage, Store, address};

use super::bounces::{HardBounce, Report};

/// What a report did (for the log and the tests of this module).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// These entries were recorded.
    Suppressed(Vec<NewSuppression>),
    /// Nothing changed, for this reason.
    Ignored(String),
}

/// Applies `report`, which came in as message `queue_id`, and logs the outcome.
pub async fn record(store: &dyn Store, queue_id: &str, report: &Report) -> Verdict {
    let verdict = decide(store, report).await;
    let verdict = match verdict {
        Verdict::Suppressed(entries) => match store.add_suppressions(&entries).await {
            Ok(()) => Verdict::Suppressed(entries),
            Err(e) => {
                tracing::warn!(queue_id = %queue_id, error = %e, "cannot record hard bounces");
                Verdict::Ignored(format!("the store refused the entries: {e}"))
            }
        },
        ignored => ignored,
    };
    match &verdict {
        Verdict::Suppressed(entries) => {
            for e in entries {
                tracing::info!(
                    queue_id = %queue_id, domain = %e.domain, address = %e.address, reason = %e.reason,
                    "hard bounce: address suppressed"
                );
            }
        }
        Verdict::Ignored(why) => {
            tracing::info!(queue_id = %queue_id, why = %why, "delivery report ignored: nothing suppressed");
        }
    }
    verdict
}

async fn decide(store: &dyn Store, report: &Report) -> Verdict {
    if report.failed.is_empty() {
        return Verdict::Ignored("it reports no permanent failure".into());
    }
    let returned = &report.returned;
    let message_ids: Vec<String> = returned.message_id.iter().cloned().collect();
    if returned.queue_ids.is_empty() && message_ids.is_empty() {
        return Verdict::Ignored(
            "it returns no header naming the message (no Received: queue id, no Message-ID)".into(),
        );
    }
    let sent = match store.sent_messages(&returned.queue_ids, &message_ids).await {
        Ok(sent) => sent,
        Err(e) => return Verdict::Ignored(format!("cannot look up sent messages: {e}")),
    };
    if sent.is_empty() {
        return Verdict::Ignored(format!(
            "it is not about a message sent from here (queue ids {:?}, Message-ID {:?})",
            returned.queue_ids, returned.message_id
        ));
    }
    let mut entries: Vec<NewSuppression> = Vec::new();
    for bounce in &report.failed {
        let Some((message, address)) = sent_to(&sent, bounce) else {
            return Verdict::Ignored(format!(
                "it lists {} as failed, which the message was not sent to",
                bounce.address
            ));
        };
        let Some((_, domain)) = message.sender.rsplit_once('@') else {
            return Verdict::Ignored("the reported message has no sender domain".into());
        };
        let domain = domain.to_ascii_lowercase();
        // each domain looked up once
        if !entries.iter().any(|e| e.domain == domain) {
            match store.is_local_domain(&domain).await {
                Ok(true) => {}
                Ok(false) => {
                    return Verdict::Ignored(format!(
                        "the reported message was sent from {domain}, which is not one of our domains"
                    ));
                }
                Err(e) => return Verdict::Ignored(format!("cannot look up domain {domain}: {e}")),
            }
        }
        if !entries
            .iter()
            .any(|e| e.domain == domain && e.address == address)
        {
            let reason = match &bounce.diagnostic {
                Some(d) => format!("{} {d}", bounce.status),
                None => bounce.status.clone(),
            };
            entries.push(NewSuppression {
                domain,
                address,
                reason,
            });
        }
    }
    Verdict::Suppressed(entries)
}

/// The sent message that went to the reported recipient, and the address it went to.
fn sent_to<'a>(sent: &'a [SentMessage], bounce: &HardBounce) -> Option<(&'a SentMessage, String)> {
    let candidates = [Some(&bounce.address), bounce.original.as_ref()];
    for candidate in candidates.into_iter().flatten() {
        let Ok(a) = address::normalize(candidate) else {
            continue;
        };
        if let Some(m) = sent.iter().find(|m| m.recipients.contains(&a)) {
            return Some((m, a));
        }
    }
    None
}
