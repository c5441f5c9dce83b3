//! From the octets after DATA (or the last BDAT) to what the store keeps: the hop limit
//! (`crate::hops`), our `Received:` field, `Date:` and `Message-ID:` on submission when
//! the client left them out, the room in each local mailbox on the real size, its
//! `Return-Path:` included (`quota::place`), the `Accept` made by the store's `Envelope`
//! (local delivery's one home), and, for a delivery report sent to one of our users,
//! reading it (`bounces`) so that the hard bounces it reports reach the suppression lists
//! (`reports`) once the message is stored. The reply
//! at the end of DATA is 250 only once the store's commit is durable. Before any of it,
//! `Authentication-Results:` fields claiming our name are removed from every message, and
//! mail from outside is checked (DKIM, ARC, DMARC with the SPF started at MAIL,
//! `estafeta_trust`): refused, put in Junk, or delivered with our own
//! `Authentication-Results:` above our `Received:`. A logged-in user's HTML mail gets open
//! and click tracking first when their domain has it on (`tracking`).

use estafeta_config::DmarcAction;
use estafeta_store::{
    Accept, LocalDelivery, RemoteRecipient, Resolution, StatEvent, now, return_path,
};
use estafeta_trust::Action;
use estafeta_trust::dmarc_report::Done;

use super::SmtpState;
use super::bounces::{self, Report};
use super::client::Client;
use super::filters::{self, Plan};
use super::headers::{self, Trace};
use super::quota::{self, Placement};
use super::reports;
use super::spool::{PREFIX_ROOM, Spool};
use super::transaction::Transaction;

const TEMPORARY_STORAGE_FAILURE: &str =
    "451 4.3.0 Error: temporary storage failure, try again later";

/// Assembles the message and stores it: `Ok` with the 250 reply once the commit is
/// durable, `Err` with the reply that refuses it.
pub async fn store(
    shared: &SmtpState,
    client: &Client<'_>,
    envelope: Transaction,
    spool: Spool,
) -> Result<String, String> {
    let budget = shared.body_budget.clone();
    let _held = budget.reserve(spool.len() + PREFIX_ROOM).await;
    let body = match spool.into_bytes().await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(queue_id = %envelope.id, error = %e, "message not stored: spool unreadable");
            return Err(TEMPORARY_STORAGE_FAILURE.into());
        }
    };
    let assembled = assemble(shared, client, &envelope, body).await?;
    commit(shared, client, envelope, assembled).await
}

/// What goes to the store, with what was learnt on the way.
struct Assembled {
    accept: Accept,
    placed: Placement,
    /// The delivery report the message is, when it is one addressed to our users.
    report: Option<Report>,
    /// The message as open and click tracking records it, when its domain tracks mail.
    tracked: Option<estafeta_store::TrackedMessage>,
    /// What the recipients' Sieve scripts decided: vacation replies and duplicate ids are
    /// for after the commit.
    plans: Vec<Plan>,
    /// Every recipient's script discarded it: nothing is stored.
    discarded: bool,
}

async fn assemble(
    shared: &SmtpState,
    client: &Client<'_>,
    envelope: &Transaction,
    body: Vec<u8>,
) -> Result<Assembled, String> {
    let settings = &shared.settings;
    let max_hops = settings.smtp.max_hops as usize;
    let theirs = crate::hops::received_fields(&body, max_hops);
    if theirs + 1 > max_hops {
        tracing::info!(
            queue_id = %envelope.id,
            received = theirs,
            max_hops,
            "message refused: too many hops"
        );
        return Err("554 5.4.6 Too many hops".into());
    }
    let at = now();
    let trace = Trace {
        helo: client.helo.unwrap_or("unknown"),
        peer_ip: client.ip,
        hostname: &settings.hostname,
        esmtp: client.esmtp,
        tls: client.tls,
        auth_user: client.user.map(|u| u.address.as_str()),
        show_auth_user: settings.smtp.received_show_auth_user,
        queue_id: &envelope.id,
        single_recipient: (envelope.rcpts.len() == 1).then(|| envelope.rcpts[0].as_str()),
        unix_time: at,
    };
    let mut body = body;
    let forged = estafeta_trust::remove_forged_results(&mut body, &settings.hostname);
    if forged > 0 {
        tracing::info!(queue_id = %envelope.id, removed = forged, "Authentication-Results: claiming to be ours removed");
    }
    let tracked = super::tracking::track(shared, client, envelope, &mut body).await;
    let checked = check(shared, client, envelope, &body).await?;
    let mut prefix = checked.header.into_bytes();
    prefix.extend_from_slice(headers::received(&trace).as_bytes());
    if client.submission {
        let scan = headers::scan(&body);
        if !scan.has_date {
            prefix.extend_from_slice(headers::date_header(at).as_bytes());
        }
        if !scan.has_message_id {
            prefix.extend_from_slice(
                headers::message_id(&envelope.id, &settings.hostname).as_bytes(),
            );
        }
    }
    let report = if envelope.sender.is_empty() && !envelope.local.is_empty() {
        bounces::read_report(&body)
    } else {
        None
    };
    // our headers go in front of the content in its own buffer (room was kept for them):
    // the message is never held twice
    let mut message = body;
    message.splice(0..0, prefix);
    if client.is_ours(shared) {
        let signatures = sign(shared, &envelope.sender, &message).await;
        message.splice(0..0, signatures.into_bytes());
    }
    let size = message.len();
    // the real size, as stored: nothing is acknowledged that a mailbox cannot take
    let stored = return_path(&envelope.sender).len() + size;
    let placed = quota::place(&*shared.store, &envelope.local, stored).await;
    if placed.room.is_empty() && envelope.remote.is_empty() {
        let full: Vec<&str> = placed.failed.iter().map(|f| f.address.as_str()).collect();
        tracing::info!(queue_id = %envelope.id, size, recipients = %full.join(","), "message refused: no recipient can take it");
        return Err(placed.refusal().to_string());
    }
    let message_id = headers::message_id_of(&message);
    let resolved = estafeta_store::Envelope {
        sender: envelope.sender.clone(),
        envid: envelope.envid.clone(),
        ret: envelope.ret,
        auth_user: client.user.map(|u| u.address.clone()),
        local: placed.room.clone(),
        junk: checked.junk,
        remote: envelope.remote.clone(),
        failed: placed.failed.clone(),
    };
    let mut accept = resolved.accept(envelope.id.clone(), message, message_id, at);
    let (plans, discarded) = filter(shared, envelope, &placed, &mut accept, at).await?;
    if client.is_outside(shared) && !accept.remote.is_empty() && !accept.sender.is_empty() {
        accept.sender = forwarding_sender(shared, envelope, &accept.sender).await?;
    }
    Ok(Assembled {
        accept,
        placed,
        report,
        tracked,
        plans,
        discarded,
    })
}

/// Runs the local recipients' Sieve scripts (`filters`) and applies what they decided to
/// `accept`: their copies, redirects (a local address delivered here, others queued),
/// refusals. `Err` with the DATA reply when every recipient refused it; `discarded`
/// when nobody keeps it (nothing to store, 250 all the same).
async fn filter(
    shared: &SmtpState,
    envelope: &Transaction,
    placed: &Placement,
    accept: &mut Accept,
    at: i64,
) -> Result<(Vec<Plan>, bool), String> {
    if placed.room.is_empty() {
        return Ok((Vec::new(), false));
    }
    let body = std::sync::Arc::new(std::mem::take(&mut accept.body));
    let plans = filters::run(
        &shared.filters,
        &shared.store,
        &envelope.id,
        &envelope.sender,
        &body,
        &placed.room,
        at,
    )
    .await;
    accept.body = std::sync::Arc::try_unwrap(body).unwrap_or_else(|b| (*b).clone());
    if plans.is_empty() {
        return Ok((plans, false));
    }
    let applied = filters::apply(&plans, accept, &envelope.local);
    for (to, by) in &applied.redirects {
        match shared.store.resolve(to).await {
            Ok(Resolution::Deliver { users, external }) => {
                let prefix = return_path(&accept.sender);
                for u in users {
                    accept.local.push(LocalDelivery {
                        user_id: u.id,
                        prefix: prefix.clone(),
                        junk: false,
                        folder: None,
                        create: false,
                        flags: Default::default(),
                    });
                }
                for address in external {
                    add_remote(accept, address);
                }
            }
            Ok(Resolution::NotLocal) => add_remote(accept, to.clone()),
            Ok(Resolution::UnknownUser) => {
                // a redirect that cannot be made keeps the message (RFC 5228 §2.10.6)
                tracing::warn!(queue_id = %envelope.id, to = %to, "Sieve redirect to an unknown local user: not made, kept");
                let mut prefix = return_path(&accept.sender);
                prefix.extend_from_slice(
                    format!("X-Sieve-Error: redirect to {to} not made: no such user here\r\n")
                        .as_bytes(),
                );
                for user_id in by {
                    accept.local.push(LocalDelivery {
                        user_id: *user_id,
                        prefix: prefix.clone(),
                        junk: false,
                        folder: None,
                        create: false,
                        flags: Default::default(),
                    });
                }
            }
            Err(e) => {
                tracing::error!(queue_id = %envelope.id, error = %e, "Sieve redirect not resolved");
                return Err(TEMPORARY_STORAGE_FAILURE.into());
            }
        }
    }
    if accept.local.is_empty() && accept.remote.is_empty() {
        if let Some(reason) = applied.rejections.first() {
            tracing::info!(queue_id = %envelope.id, reason = %reason, "message refused by the recipients' filters");
            return Err(format!(
                "550 5.7.1 Refused by the recipient's filter: {reason}"
            ));
        }
        if !accept.failed.is_empty() {
            return Err(placed.refusal().to_string());
        }
        tracing::info!(queue_id = %envelope.id, discarded = applied.discarded, "message discarded by the recipients' filters");
        return Ok((plans, true));
    }
    Ok((plans, false))
}

fn add_remote(accept: &mut Accept, address: String) {
    if !accept
        .remote
        .iter()
        .any(|r| r.address.eq_ignore_ascii_case(&address))
    {
        accept.remote.push(RemoteRecipient {
            address,
            ..RemoteRecipient::default()
        });
    }
}

/// Mail from outside that an alias sends on to other outside addresses leaves with an SRS
/// sender of the alias's domain (the local copies keep the original `Return-Path:`), so
/// that the next server's SPF check passes and bounces come back here.
async fn forwarding_sender(
    shared: &SmtpState,
    envelope: &Transaction,
    sender: &str,
) -> Result<String, String> {
    let Some((_, domain)) = envelope.rcpts.first().and_then(|r| r.rsplit_once('@')) else {
        return Ok(sender.to_string());
    };
    match estafeta_trust::srs::sender_for_forwarding(&*shared.store, sender, domain).await {
        Ok(srs) => {
            tracing::info!(queue_id = %envelope.id, from = %sender, srs = %srs, "forwarded: envelope sender rewritten (SRS)");
            Ok(srs)
        }
        Err(e) => {
            tracing::error!(queue_id = %envelope.id, error = %e, "SRS secret unavailable");
            Err(TEMPORARY_STORAGE_FAILURE.into())
        }
    }
}

/// The DKIM signatures of our users' mail: for the From: domain when it is the envelope
/// sender's (whose use `sender` checked for a logged-in user), so that no user signs in
/// another domain's name; nothing when that domain has no key.
async fn sign(shared: &SmtpState, sender: &str, message: &[u8]) -> String {
    let Some((_, sender_domain)) = sender.rsplit_once('@') else {
        return String::new();
    };
    match estafeta_trust::signing::from_domain(message) {
        Some(domain) if domain.eq_ignore_ascii_case(sender_domain) => {
            shared.signer.sign(&domain, message).await
        }
        _ => String::new(),
    }
}

/// What the checks of mail from outside decided: the `Authentication-Results:` field to
/// add, and whether the local copies go to Junk. Nothing for other mail.
#[derive(Default)]
struct Checked {
    header: String,
    junk: bool,
}

/// DKIM, ARC and DMARC of mail from outside (with the SPF started at MAIL), and what the
/// policy makes of them: `Err` with the reply refusing the message.
async fn check(
    shared: &SmtpState,
    client: &Client<'_>,
    envelope: &Transaction,
    body: &[u8],
) -> Result<Checked, String> {
    let (Some(checker), Some(spf)) = (&shared.checker, &envelope.spf) else {
        return Ok(Checked::default());
    };
    let helo = client.helo.unwrap_or_default();
    let spf = spf.results().await;
    // mail an alias sends on outside is sealed in the alias domain's name (ARC)
    let forwarded_by = (!envelope.remote.is_empty())
        .then(|| envelope.rcpts.first().and_then(|r| r.rsplit_once('@')))
        .flatten()
        .map(|(_, domain)| (&*shared.signer, domain));
    let results = checker
        .message(
            body,
            estafeta_trust::Sent {
                ip: client.ip,
                helo,
                sender: &envelope.sender,
                spf,
            },
            forwarded_by,
        )
        .await;
    let trust = &shared.settings.trust;
    // one message, one fate: enforced if any recipient's domain enforces
    let dmarc = envelope
        .rcpts
        .iter()
        .filter_map(|r| r.rsplit_once('@'))
        .map(|(_, d)| trust.for_domain(d).1)
        .find(|a| *a == DmarcAction::Enforce)
        .unwrap_or(DmarcAction::Tag);
    let ours = if dmarc == DmarcAction::Tag {
        Vec::new()
    } else {
        match our_domains_among(shared, &results.from_domains).await {
            Ok(ours) => ours,
            Err(e) => {
                tracing::error!(queue_id = %envelope.id, error = %e, "domain lookup failed");
                return Err("451 4.3.0 Error: temporary lookup failure".into());
            }
        }
    };
    let action = estafeta_trust::at_data(&results, dmarc, |d| ours.iter().any(|o| o == d));
    tracing::info!(
        queue_id = %envelope.id,
        spf = ?spf.mail_from.result(),
        dmarc = ?results.dmarc,
        policy = ?results.policy,
        from_domain = %results.from_domain,
        action = ?action,
        "message checked"
    );
    if let Some(evidence) = &results.report {
        let done = match action {
            Action::Deliver => Done::Delivered,
            Action::Junk => Done::Junk,
            Action::Refuse(_) => Done::Refused,
        };
        let period = trust.report_period as i64;
        if let Some(row) = estafeta_trust::dmarc_report::row(evidence, done, period, now()) {
            // a count lost to a store failure is a report row, never a message
            let store = shared.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.add_dmarc_records(&[row]).await {
                    tracing::warn!(error = %e, "DMARC report row not saved");
                }
            });
        }
    }
    match action {
        Action::Deliver => Ok(Checked {
            header: results.header,
            junk: false,
        }),
        Action::Junk => Ok(Checked {
            header: results.header,
            junk: true,
        }),
        Action::Refuse(reply) => Err(reply),
    }
}

/// Which of `domains` (a From: field's) are ours: one lookup per domain for the usual
/// handful, the whole list of our domains for a crowd (so that a crowd hides nothing).
async fn our_domains_among(
    shared: &SmtpState,
    domains: &[String],
) -> Result<Vec<String>, estafeta_store::StoreError> {
    const LOOKUPS: usize = 8;
    let mut distinct: Vec<&String> = domains.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > LOOKUPS {
        let all = shared.store.list_domains().await?;
        return Ok(all
            .into_iter()
            .map(|d| d.name.to_ascii_lowercase())
            .collect());
    }
    let mut ours = Vec::new();
    for d in distinct {
        if shared.store.is_local_domain(d).await? {
            ours.push(d.clone());
        }
    }
    Ok(ours)
}

async fn commit(
    shared: &SmtpState,
    client: &Client<'_>,
    mut envelope: Transaction,
    assembled: Assembled,
) -> Result<String, String> {
    let Assembled {
        accept,
        placed,
        report,
        tracked,
        plans,
        discarded,
    } = assembled;
    let size = accept.body.len();
    // a vacation reply reads the original's header only (subject, Message-ID)
    let original = plans
        .iter()
        .any(|p| p.vacation.is_some())
        .then(|| super::vacation::header_of(&accept.body).to_vec());
    if !discarded && let Err(e) = shared.store.accept(accept).await {
        tracing::error!(queue_id = %envelope.id, error = %e, "message not stored");
        return Err(TEMPORARY_STORAGE_FAILURE.into());
    }
    if !plans.is_empty() {
        super::vacation::remember(&shared.store, &envelope.id, &plans).await;
    }
    if plans.iter().any(|p| p.vacation.is_some()) {
        let (store, queue_id, sender) = (
            shared.store.clone(),
            envelope.id.clone(),
            envelope.sender.clone(),
        );
        let shared_signer = shared.signer.clone();
        let hostname = shared.settings.hostname.clone();
        tokio::spawn(async move {
            super::vacation::replies(
                &store,
                &shared_signer,
                &hostname,
                &queue_id,
                &sender,
                original.as_deref().unwrap_or_default(),
                plans,
            )
            .await;
        });
    }
    std::mem::take(&mut envelope.held).keep();
    metrics::counter!("estafeta_smtp_messages_total", "result" => "accepted").increment(1);
    count_accepted(shared, client, &envelope, &placed);
    metrics::counter!("estafeta_smtp_recipients_total").increment(envelope.rcpts.len() as u64);
    tracing::info!(
        queue_id = %envelope.id,
        from = %envelope.sender,
        to = %envelope.rcpts.join(","),
        local = placed.room.len(),
        failed = placed.failed.len(),
        remote = envelope.remote.len(),
        size,
        tls = ?client.tls.map(|t| &t.0),
        auth = ?client.user.map(|u| &u.address),
        "message accepted"
    );
    for f in &placed.failed {
        tracing::info!(queue_id = %envelope.id, to = %f.address, reason = %f.reason, "local recipient cannot take the message: queued to be reported to the sender");
    }
    if let Some(report) = report {
        reports::record(&*shared.store, &envelope.id, &report).await;
    }
    if let Some(tracked) = tracked
        && let Err(e) = shared.store.add_tracked_message(&tracked).await
    {
        // the message is stored and goes out; only its counts are missing
        tracing::warn!(queue_id = %envelope.id, error = %e, "tracked message not recorded");
    }
    Ok(format!("250 2.0.0 Ok: queued as {}", envelope.id))
}

/// Counts the accepted recipients for the statistics: under the user's domain for mail a
/// user sends, else under the recipient's domain when it is ours (local recipients),
/// else under no domain (relayed for a trusted network); those put in a mailbox now are
/// delivered too.
fn count_accepted(
    shared: &SmtpState,
    client: &Client<'_>,
    envelope: &Transaction,
    placed: &Placement,
) {
    let store = &shared.store;
    let local: Vec<&str> = placed
        .room
        .iter()
        .map(|u| u.domain.as_str())
        .chain(placed.failed.iter().map(|f| domain_of(&f.address)))
        .collect();
    match client.user {
        Some(u) => {
            let n = envelope.rcpts.len() as i64;
            store.count(StatEvent::Accepted, &u.domain, &u.address, n);
            store.count(
                StatEvent::Delivered,
                &u.domain,
                &u.address,
                placed.room.len() as i64,
            );
        }
        None => {
            for d in &local {
                store.count(StatEvent::Accepted, d, "", 1);
            }
            for u in &placed.room {
                store.count(StatEvent::Delivered, &u.domain, "", 1);
            }
            let others = envelope.rcpts.len().saturating_sub(local.len());
            store.count(StatEvent::Accepted, "", "", others as i64);
        }
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}
