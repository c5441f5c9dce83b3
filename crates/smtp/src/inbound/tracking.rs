//! Open and click tracking at submission: when the logged-in sender's domain has it on
//! (`estafeta_store::Tracking`, off by default) and the server has a web side to report
//! to, the HTML parts of the message get signed links and an open image
//! (`estafeta_trust::tracking`) before it is signed and stored, and the store is told of
//! the tracked message once it is accepted. Plain-text mail passes unchanged.

use estafeta_store::{TrackedMessage, now};
use estafeta_trust::tracking::{Tracker, subject_of};

use super::SmtpState;
use super::client::Client;
use super::transaction::Transaction;

/// Rewrites `body` when its sender's domain tracks mail; returns what to record once the
/// message is accepted. Any failure leaves the message as it was.
pub async fn track(
    shared: &SmtpState,
    client: &Client<'_>,
    envelope: &Transaction,
    body: &mut Vec<u8>,
) -> Option<TrackedMessage> {
    let base = shared.tracking_base.as_deref()?;
    let user = client.user?;
    let (_, domain) = user.address.rsplit_once('@')?;
    match shared.store.domain_tracking(domain).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::warn!(queue_id = %envelope.id, error = %e, "tracking skipped: the domain's setting could not be read");
            return None;
        }
    }
    let secret = match shared.store.web_secret().await {
        Ok(secret) => secret,
        Err(e) => {
            tracing::warn!(queue_id = %envelope.id, error = %e, "tracking skipped: no web secret");
            return None;
        }
    };
    let tracker = Tracker::new(&secret, base);
    let tracked = tracker.rewrite(body, &envelope.id)?;
    tracing::info!(queue_id = %envelope.id, links = tracked.links, "tracking: links rewritten, open image added");
    *body = tracked.message;
    Some(TrackedMessage {
        id: envelope.id.clone(),
        domain: domain.to_ascii_lowercase(),
        sender: user.address.clone(),
        subject: subject_of(body),
        recipients: envelope.rcpts.len() as i64,
        links: tracked.links as i64,
        sent_at: now(),
        ..TrackedMessage::default()
    })
}
