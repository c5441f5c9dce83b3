//! MAIL FROM: whether this client may start a transaction with this sender. In order:
//! a login on submission ports, the announced size, the address's syntax (and SMTPUTF8
//! for a non-ASCII one), a logged-in user's ownership of the address (`policy`), and the
//! per-user and per-domain rate limits (`rates`). The answer is the new transaction's
//! envelope, or the reply that refuses it. For mail from outside, SPF starts here and runs
//! while the client sends its recipients (`estafeta_trust`).

use estafeta_config::SpfFail;
use estafeta_store::{Ret, address, new_queue_id};
use smtp_proto::{MAIL_RET_FULL, MAIL_RET_HDRS, MAIL_SMTPUTF8, MailFrom};

use super::SmtpState;
use super::client::Client;
use super::policy::may_send_as;
use super::rates;
use super::transaction::Transaction;

const TEMPORARY_LOOKUP_FAILURE: &str = "451 4.3.0 Error: temporary lookup failure";

/// The envelope a transaction starts with, or the reply refusing MAIL.
pub async fn accept(
    shared: &SmtpState,
    client: &Client<'_>,
    from: MailFrom<String>,
) -> Result<Transaction, String> {
    if client.submission && client.user.is_none() {
        tracing::info!(from = %from.address, "MAIL refused: authentication required");
        return Err("530 5.7.0 Authentication required".into());
    }
    let max = shared.settings.smtp.max_message_size;
    if from.size as u64 > max {
        return Err(format!(
            "552 5.3.4 Message size exceeds fixed maximum message size ({max} octets)"
        ));
    }
    let sender = from.address;
    if !sender.is_empty() && address::normalize(&sender).is_err() {
        return Err("501 5.1.7 Bad sender address syntax".into());
    }
    let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
    if !sender.is_ascii() && !smtputf8 {
        return Err("553 5.6.7 Non-ASCII address requires SMTPUTF8".into());
    }
    if let Some(user) = client.user {
        match may_send_as(&*shared.store, user, &sender).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(user = %user.address, from = %sender, "MAIL refused: sender not owned by user");
                return Err(format!(
                    "553 5.7.1 <{sender}>: Sender address rejected: not owned by user {}",
                    user.address
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "sender lookup failed");
                return Err(TEMPORARY_LOOKUP_FAILURE.into());
            }
        }
    }
    let ret = if from.flags & MAIL_RET_FULL != 0 {
        Some(Ret::Full)
    } else if from.flags & MAIL_RET_HDRS != 0 {
        Some(Ret::Headers)
    } else {
        None
    };
    let rate_domain = match rate_domain(shared, client, &sender).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "sender domain lookup failed");
            return Err(TEMPORARY_LOOKUP_FAILURE.into());
        }
    };
    let who = rates::Sender {
        user: client.user.map(|u| u.address.as_str()),
        domain: rate_domain.as_deref(),
    };
    let held = match shared.rates.message(&who) {
        Ok(held) => held,
        Err(why) => {
            tracing::info!(from = %sender, limit = %why, "MAIL refused: rate limit");
            return Err(format!(
                "451 4.7.0 rate limit exceeded, try again later ({why})"
            ));
        }
    };
    let id = new_queue_id();
    tracing::debug!(queue_id = %id, from = %sender, "MAIL accepted");
    let spf = spf_check(shared, client, &sender);
    Ok(Transaction {
        id,
        sender,
        envid: from.env_id,
        ret,
        smtputf8,
        declared_size: from.size as u64,
        rcpts: Vec::new(),
        local: Vec::new(),
        remote: Vec::new(),
        rate_domain,
        held,
        spf,
    })
}

/// SPF of mail from outside, started now and run while the client goes on; not looked
/// up at all when `spf_fail = "ignore"` everywhere.
fn spf_check(
    shared: &SmtpState,
    client: &Client<'_>,
    sender: &str,
) -> Option<estafeta_trust::SpfCheck> {
    let checker = shared.checker.as_ref()?;
    if !client.is_outside(shared) {
        return None;
    }
    let trust = &shared.settings.trust;
    let helo = client.helo.unwrap_or_default();
    let ignored = trust.spf_fail == SpfFail::Ignore
        && trust
            .domain
            .iter()
            .all(|d| d.spf_fail.is_none_or(|f| f == SpfFail::Ignore));
    Some(if ignored {
        let domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d);
        estafeta_trust::SpfCheck::skipped(domain)
    } else {
        checker.start_spf(client.ip, helo, sender)
    })
}

/// The sender's domain, when it is one of ours, per-domain rate limits are on and the
/// session is one of our users' (logged in, or from trusted_networks): a stranger writing
/// `MAIL FROM:<x@our-domain>` on port 25 never spends the domain's count.
async fn rate_domain(
    shared: &SmtpState,
    client: &Client<'_>,
    sender: &str,
) -> Result<Option<String>, estafeta_store::StoreError> {
    let Some((_, domain)) = sender.rsplit_once('@') else {
        return Ok(None);
    };
    if !shared.rates.domain_limited() || !client.is_ours(shared) {
        return Ok(None);
    }
    let ours = shared.store.is_local_domain(domain).await?;
    Ok(ours.then(|| domain.to_ascii_lowercase()))
}
