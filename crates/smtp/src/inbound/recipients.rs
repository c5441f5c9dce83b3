//! RCPT TO: whether a recipient is accepted, and how. In order: the address's syntax
//! (and SMTPUTF8), the logged-in user's domain's suppression list, the per-user and
//! per-domain recipient rate limits, then where the address leads (`Store::resolve`):
//! one of ours (users, aliases) → [`Verdict::Local`], unless every mailbox is too full
//! for the announced size; someone else's → [`Verdict::Relay`] for our own users
//! (logged in or `trusted_networks`) only; anything else → [`Verdict::Refuse`]. An SRS
//! address of ours (`estafeta_trust::srs`) is a bounce of mail we forwarded: it goes to
//! the original sender, whoever sends it, when its hash and age check out. The
//! session applies the verdict to the envelope. For mail from outside to a domain whose
//! `spf_fail` is `reject`, the sender's SPF (started at MAIL) is awaited here. Per-recipient
//! checks to come (policy lookups, greylisting) belong here.

use estafeta_store::{Notify, RemoteRecipient, Resolution, address};
use smtp_proto::{
    RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS, RcptTo,
};

use super::SmtpState;
use super::client::Client;
use super::quota::{self, LocalRecipient};
use super::rates::{self, Held};
use super::transaction::Transaction;

/// What becomes of one recipient.
pub enum Verdict {
    /// One of ours: these users' mailboxes, and for an alias also the remote addresses
    /// it forwards to.
    Local {
        users: Vec<LocalRecipient>,
        forwards: Vec<RemoteRecipient>,
        held: Held,
    },
    /// Not ours, and this client may relay.
    Relay {
        recipient: RemoteRecipient,
        held: Held,
    },
    /// Refused with this reply.
    Refuse(String),
}

/// Decides on `to` for the transaction `envelope` of `client`.
pub async fn judge(
    shared: &SmtpState,
    client: &Client<'_>,
    envelope: &Transaction,
    to: RcptTo<String>,
) -> Verdict {
    let queue_id = &envelope.id;
    let rcpt = to.address;
    if address::normalize(&rcpt).is_err() {
        return Verdict::Refuse("501 5.1.3 Bad recipient address syntax".into());
    }
    if !rcpt.is_ascii() && !envelope.smtputf8 {
        return Verdict::Refuse("553 5.6.7 Non-ASCII address requires SMTPUTF8".into());
    }
    if let Some(refusal) = suppressed(shared, client, &rcpt).await {
        tracing::info!(queue_id = %queue_id, rcpt = %rcpt, "RCPT refused: suppressed");
        return Verdict::Refuse(refusal);
    }
    let who = rates::Sender {
        user: client.user.map(|u| u.address.as_str()),
        domain: envelope.rate_domain.as_deref(),
    };
    // held here, kept only if the recipient is accepted
    let held = match shared.rates.recipient(&who) {
        Ok(held) => held,
        Err(why) => {
            tracing::info!(queue_id = %queue_id, rcpt = %rcpt, limit = %why, "RCPT refused: rate limit");
            return Verdict::Refuse(format!(
                "451 4.7.0 rate limit exceeded, try again later ({why})"
            ));
        }
    };
    let notify = notify_param(to.flags);
    // a bounce of mail we forwarded, going back to its sender
    match estafeta_trust::srs::original_of(&*shared.store, &rcpt).await {
        Ok(None) => {}
        Ok(Some(Ok(original))) => {
            tracing::info!(queue_id = %queue_id, rcpt = %rcpt, to = %original, "RCPT to an SRS address: routed to the original sender");
            return Verdict::Local {
                users: Vec::new(),
                forwards: vec![RemoteRecipient {
                    address: original,
                    orcpt: to.orcpt.or_else(|| Some(format!("rfc822;{rcpt}"))),
                    notify,
                }],
                held,
            };
        }
        Ok(Some(Err(why))) => {
            tracing::info!(queue_id = %queue_id, rcpt = %rcpt, reason = %why, "RCPT refused: SRS");
            return Verdict::Refuse(format!(
                "550 5.1.1 <{rcpt}>: Recipient address rejected: {why}"
            ));
        }
        Err(e) => {
            tracing::error!(queue_id = %queue_id, error = %e, "SRS lookup failed");
            return Verdict::Refuse("451 4.3.0 Error: temporary lookup failure".into());
        }
    }
    let resolution = match shared.store.resolve(&rcpt).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(queue_id = %queue_id, error = %e, "recipient lookup failed");
            return Verdict::Refuse("451 4.3.0 Error: temporary lookup failure".into());
        }
    };
    match resolution {
        Resolution::NotLocal if client.is_ours(shared) => Verdict::Relay {
            recipient: RemoteRecipient {
                address: rcpt,
                orcpt: to.orcpt,
                notify,
            },
            held,
        },
        Resolution::NotLocal => {
            tracing::info!(queue_id = %queue_id, rcpt = %rcpt, "RCPT refused: relay access denied");
            Verdict::Refuse(format!("554 5.7.1 <{rcpt}>: Relay access denied"))
        }
        Resolution::UnknownUser => {
            tracing::info!(queue_id = %queue_id, rcpt = %rcpt, "RCPT refused: user unknown");
            Verdict::Refuse(format!(
                "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
            ))
        }
        Resolution::Deliver { users, external } => {
            if let Some(refusal) = spf_refusal(shared, envelope, &rcpt).await {
                tracing::info!(queue_id = %queue_id, rcpt = %rcpt, reply = %refusal, "RCPT refused: SPF");
                return Verdict::Refuse(refusal);
            }
            let full =
                quota::full_for_declared(&*shared.store, &users, envelope.declared_size).await;
            if full.len() == users.len() && external.is_empty() {
                tracing::info!(queue_id = %queue_id, rcpt = %rcpt, over_quota = %full.join(","), "RCPT refused: mailbox full");
                return Verdict::Refuse(format!(
                    "552 5.2.2 <{rcpt}>: Mailbox full: quota exceeded"
                ));
            }
            if !full.is_empty() {
                tracing::info!(queue_id = %queue_id, rcpt = %rcpt, over_quota = %full.join(","), "some alias members have no room for the declared size: checked again on the real size");
            }
            let forwards = external
                .into_iter()
                .map(|address| RemoteRecipient {
                    address,
                    orcpt: to.orcpt.clone().or_else(|| Some(format!("rfc822;{rcpt}"))),
                    notify,
                })
                .collect();
            let users = users
                .into_iter()
                .map(|user| LocalRecipient {
                    user,
                    rcpt: rcpt.clone(),
                    orcpt: to.orcpt.clone(),
                    notify,
                })
                .collect();
            Verdict::Local {
                users,
                forwards,
                held,
            }
        }
    }
}

/// The refusal of a recipient of ours whose domain rejects SPF failures, when the sender's
/// SPF failed (or could not be checked).
async fn spf_refusal(shared: &SmtpState, envelope: &Transaction, rcpt: &str) -> Option<String> {
    let spf = envelope.spf.as_ref()?;
    let (_, domain) = rcpt.rsplit_once('@')?;
    let (spf_fail, _) = shared.settings.trust.for_domain(domain);
    if spf_fail != estafeta_config::SpfFail::Reject {
        return None;
    }
    estafeta_trust::at_rcpt(spf.results().await, spf_fail)
}

/// The refusal of a recipient on the suppression list of the logged-in user's domain,
/// when that domain enforces its list.
async fn suppressed(shared: &SmtpState, client: &Client<'_>, rcpt: &str) -> Option<String> {
    let user = client.user?;
    let (_, domain) = user.address.rsplit_once('@')?;
    match shared.store.enforced_suppression(domain, rcpt).await {
        Ok(Some(s)) => Some(format!(
            "550 5.1.1 <{rcpt}>: Recipient address rejected: on the suppression list of {domain} ({}); \
             remove it with: estafeta suppression remove {} --domain {domain}",
            s.reason, s.address
        )),
        Ok(None) => None,
        Err(e) => {
            // the list is a courtesy: a failed lookup does not refuse mail
            tracing::warn!(error = %e, "suppression lookup failed");
            None
        }
    }
}

/// RCPT NOTIFY= (RFC 3461 §4.1); `None` without it.
fn notify_param(flags: u64) -> Option<Notify> {
    if flags & RCPT_NOTIFY_NEVER != 0 {
        return Some(Notify::NEVER);
    }
    let notify = Notify {
        success: flags & RCPT_NOTIFY_SUCCESS != 0,
        failure: flags & RCPT_NOTIFY_FAILURE != 0,
        delay: flags & RCPT_NOTIFY_DELAY != 0,
    };
    (notify != Notify::NEVER).then_some(notify)
}
