//! The scheduler: leases due recipients from the store's queue, groups them into jobs (a
//! message's recipients per destination), and starts workers within the connection
//! limits. It wakes when the store says work is due now (a message accepted, a report
//! queued, a retry asked for), when a worker or the recorder made progress, when the
//! next deferred recipient or lease comes due, and every scan interval in any case. It
//! renews the leases it holds while workers run, and on stop hands back what it did not
//! start. Every [`HEARTBEAT`] it writes the node's heartbeat, freeing the leases of
//! nodes whose heartbeat is older than [`DEAD_AFTER`] seconds (a killed node's work is
//! taken over within 25 seconds, not when its leases run out); on SQLite, where one
//! process owns the store, it takes back at start every lease of the process before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use estafeta_store::{Handoff, QueueRecipient, QueuedMessage, Store, now};
use hickory_resolver::TokioResolver;
use tokio::sync::{Notify, mpsc, watch};

use crate::hosts::HostHealth;
use crate::outcome::{self, Job};
use crate::queues::Queues;
use crate::recorder::Recorder;
use crate::routing::Destination;
use crate::settings::DeliverySettings;
use crate::worker;

/// How long a stopping scheduler waits for transactions in progress.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Leasing happens at most this often (each is a write transaction).
const FILL_GAP: Duration = Duration::from_millis(50);

/// What the scheduler and its workers share.
pub struct DeliveryContext {
    pub store: Arc<dyn Store>,
    pub settings: DeliverySettings,
    pub resolver: TokioResolver,
    /// Recipient domains' MTA-STS policies; `None` when `trust.mta_sts` is off.
    pub mta_sts: Option<estafeta_trust::mta_sts::MtaSts>,
    /// DNSSEC-validated TLSA lookups; `None` when `trust.dane` is off.
    pub dane: Option<estafeta_trust::dane::Dane>,
    pub hosts: HostHealth,
    pub queues: Arc<Queues>,
    pub recorder: Recorder,
    /// Told by workers and the recorder when they made progress.
    pub wake: Arc<Notify>,
    /// This process's name on the leases it takes.
    pub owner: String,
}

/// How often a delivering process writes its heartbeat (`nodes`).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node whose heartbeat is older than this is taken for stopped: its leases are freed.
/// With [`HEARTBEAT`], a dead node's work is taken over within 25 seconds.
const DEAD_AFTER: i64 = 20;

/// Runs until `stop` turns true, then stops cleanly. `handoffs` brings messages leased
/// to us at acceptance.
pub async fn run(
    ctx: Arc<DeliveryContext>,
    signal: Arc<Notify>,
    mut handoffs: mpsc::Receiver<Handoff>,
    mut stop: watch::Receiver<bool>,
) {
    let renew_every = Duration::from_secs((ctx.settings.lease_time / 3).max(1) as u64);
    let mut renewed = Instant::now();
    // alone on its store (SQLite), the process takes back what the one before it held
    if ctx.store.engine_name() == "sqlite" {
        match ctx.store.release_other_leases(&ctx.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(freed = n, "leases of the previous process taken back"),
            Err(e) => {
                tracing::warn!(error = %e, "leases of the previous process not taken back (they expire)")
            }
        }
    }
    let mut beat = Instant::now() - HEARTBEAT;
    // leasing is a write transaction: done when something may be due, at most every
    // FILL_GAP (accepted messages mostly come handed over and need none)
    let mut fill_wanted = true;
    let mut backlog_limited = false;
    let mut last_fill: Option<Instant> = None;
    // when the next waiting recipient comes due; read again after each fill and after
    // outcomes are written (a deferral sets a new due time)
    let mut due_at: Option<Instant> = None;
    let mut check_due = false;
    tracing::info!(owner = %ctx.owner, "delivery scheduler started");
    loop {
        if *stop.borrow() {
            break;
        }
        // messages handed over at acceptance first: nothing to lease or read for them
        while ctx.queues.waiting() < ctx.settings.backlog {
            match handoffs.try_recv() {
                Ok(h) => take_handoff(&ctx, h),
                Err(_) => break,
            }
        }
        if beat.elapsed() >= HEARTBEAT {
            beat = Instant::now();
            let at = now();
            match ctx.store.heartbeat(&ctx.owner, at, at - DEAD_AFTER).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(freed = n, "taking over the work of a stopped node");
                    fill_wanted = true;
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat not written"),
            }
        }
        let mut wake_at = (Instant::now() + ctx.settings.scan_interval).min(beat + HEARTBEAT);
        let may_fill = last_fill.is_none_or(|t| t.elapsed() >= FILL_GAP);
        if fill_wanted && may_fill {
            fill_wanted = false;
            backlog_limited = false;
            last_fill = Some(Instant::now());
            match fill(&ctx).await {
                Ok(Filled::More) => {
                    fill_wanted = true;
                    backlog_limited = true;
                }
                Ok(Filled::Room) => check_due = true,
                Ok(Filled::Full) => backlog_limited = true,
                Err(e) => {
                    tracing::error!(error = %e, "cannot lease queued mail; trying again shortly");
                    fill_wanted = true;
                }
            }
        }
        if check_due {
            check_due = false;
            due_at = next_due(&ctx).await;
        }
        if let Some(due) = due_at {
            wake_at = wake_at.min(due);
        }
        if fill_wanted && let Some(t) = last_fill {
            wake_at = wake_at.min(t + FILL_GAP);
        }
        for dest in ctx
            .queues
            .start_workers(ctx.settings.max_connections, ctx.settings.per_destination)
        {
            tokio::spawn(worker::run(ctx.clone(), dest));
        }
        if ctx.queues.in_flight() > 0 {
            if renewed.elapsed() >= renew_every {
                let until = now() + ctx.settings.lease_time;
                if let Err(e) = ctx.store.renew_leases(&ctx.owner, until).await {
                    tracing::error!(error = %e, "cannot renew delivery leases");
                }
                renewed = Instant::now();
            }
            wake_at = wake_at.min(renewed + renew_every);
        }
        let room = ctx.queues.waiting() < ctx.settings.backlog;
        tokio::select! {
            Some(h) = handoffs.recv(), if room => take_handoff(&ctx, h),
            _ = signal.notified() => fill_wanted = true,
            _ = ctx.wake.notified() => {
                fill_wanted |= backlog_limited;
                check_due = true;
            }
            _ = tokio::time::sleep_until(wake_at.into()) => {
                fill_wanted = true;
                due_at = None;
            }
            _ = stop.changed() => {}
        }
    }
    // no more hand-overs: what is already in the channel is leased to us and given back
    // with every other lease at the end
    handoffs.close();
    while handoffs.try_recv().is_ok() {}
    shut_down(&ctx).await;
}

enum Filled {
    /// As many leased as there was room for: more may be due.
    More,
    /// Everything due is leased; there is room for more.
    Room,
    /// The backlog is full: wait for the workers.
    Full,
}

/// Leases due recipients and queues their jobs.
async fn fill(ctx: &DeliveryContext) -> estafeta_store::Result<Filled> {
    let room = ctx.settings.backlog.saturating_sub(ctx.queues.waiting());
    if room == 0 {
        return Ok(Filled::Full);
    }
    let leased = ctx
        .store
        .lease_due(&ctx.owner, now(), room as i64, ctx.settings.lease_time)
        .await?;
    let full = leased.len() >= room;
    let fresh: Vec<i64> = ctx.queues.claim(leased.iter().map(|r| r.id));
    let mut by_message: HashMap<String, Vec<QueueRecipient>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in leased.into_iter().filter(|r| fresh.contains(&r.id)) {
        if !by_message.contains_key(&r.queue_id) {
            order.push(r.queue_id.clone());
        }
        by_message.entry(r.queue_id.clone()).or_default().push(r);
    }
    for queue_id in order {
        let recipients = by_message.remove(&queue_id).unwrap_or_default();
        let message = match ctx.store.queue_get(&queue_id).await {
            Ok(Some(m)) => Arc::new(QueuedMessage {
                recipients: Vec::new(),
                ..m
            }),
            Ok(None) => {
                ctx.queues.release(recipients.iter().map(|r| r.id));
                continue;
            }
            Err(e) => {
                ctx.queues.release(recipients.iter().map(|r| r.id));
                return Err(e);
            }
        };
        push_jobs(ctx, &message, recipients, None);
    }
    Ok(if full { Filled::More } else { Filled::Room })
}

/// Queues the jobs of a message handed over at acceptance (already leased to us).
fn take_handoff(ctx: &DeliveryContext, h: Handoff) {
    let Handoff { mut message, body } = h;
    let recipients = std::mem::take(&mut message.recipients);
    let fresh = ctx.queues.claim(recipients.iter().map(|r| r.id));
    let message = Arc::new(message);
    let recipients: Vec<QueueRecipient> = recipients
        .into_iter()
        .filter(|r| fresh.contains(&r.id))
        .collect();
    push_jobs(ctx, &message, recipients, Some(body));
}

/// Queues a message's jobs: one per destination (the message's recipients there, in one
/// transaction), once those that failed at acceptance are recorded.
fn push_jobs(
    ctx: &DeliveryContext,
    message: &Arc<QueuedMessage>,
    recipients: Vec<QueueRecipient>,
    body: Option<Arc<Vec<u8>>>,
) {
    let recipients = record_already_failed(ctx, message, recipients, body.as_ref());
    let mut jobs: Vec<(Destination, Vec<QueueRecipient>)> = Vec::new();
    for r in recipients {
        let dest = Destination::of(&ctx.settings, &r.domain);
        match jobs.iter_mut().find(|(d, _)| d.key() == dest.key()) {
            Some((_, rs)) => rs.push(r),
            None => jobs.push((dest, vec![r])),
        }
    }
    for (dest, recipients) in jobs {
        let job = Job {
            message: message.clone(),
            recipients,
            body: body.clone(),
        };
        ctx.queues.push(dest, job);
    }
}

/// Hands the recipients that failed at acceptance (local mailboxes that could not take
/// the message) to the recorder, which fails them with the report they owe; returns the
/// others, to be sent.
fn record_already_failed(
    ctx: &DeliveryContext,
    message: &Arc<QueuedMessage>,
    recipients: Vec<QueueRecipient>,
    body: Option<&Arc<Vec<u8>>>,
) -> Vec<QueueRecipient> {
    let (failing, rest): (Vec<_>, Vec<_>) =
        recipients.into_iter().partition(|r| r.failure.is_some());
    if !failing.is_empty() {
        let job = Job {
            message: message.clone(),
            recipients: failing,
            body: body.cloned(),
        };
        let _span = tracing::info_span!("delivery", queue_id = %message.id).entered();
        ctx.recorder
            .record(&job, outcome::already_failed(&job, now()));
    }
    rest
}

/// When the next waiting recipient comes due, as an instant.
async fn next_due(ctx: &DeliveryContext) -> Option<Instant> {
    let due = match ctx.store.queue_next_due().await {
        Ok(d) => d?,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read when queued mail is next due");
            return None;
        }
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let wait_ms = due.saturating_mul(1000).saturating_sub(now_ms).max(0);
    Some(Instant::now() + Duration::from_millis(wait_ms as u64))
}

/// Stops handing out work, lets transactions in progress finish (for a while), waits for
/// their outcomes to be written, and gives every other lease back.
async fn shut_down(ctx: &DeliveryContext) {
    let unstarted = ctx.queues.stop();
    ctx.queues.release(
        unstarted
            .iter()
            .flat_map(|j| j.recipients.iter().map(|r| r.id)),
    );
    let deadline = Instant::now() + STOP_GRACE;
    while (ctx.queues.workers() > 0 || ctx.queues.in_flight() > 0) && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), ctx.wake.notified()).await;
    }
    if ctx.queues.workers() > 0 {
        tracing::warn!(
            workers = ctx.queues.workers(),
            "delivery stopped with transactions still in progress; their recipients will be tried again"
        );
    }
    match ctx.store.release_leases(&ctx.owner).await {
        Ok(n) => tracing::info!(released = n, "delivery scheduler stopped"),
        Err(e) => tracing::warn!(error = %e, "delivery stopped; leases not released (they expire)"),
    }
}
