//! One outbound connection's life, for one destination: find its hosts, connect (hosts in
//! order, failed ones skipped, TLS dropped for a host whose handshake fails), send the
//! destination's waiting jobs one after another over the connection (RSET between them)
//! up to the per-connection limit, hand each outcome to the recorder, QUIT. A message's
//! data goes out only once the previous message's outcome is written, so that a crash
//! sends at most one message twice per open connection. A message
//! with more `Received:` fields than `smtp.max_hops` is not sent at all: its recipients
//! fail with 5.4.6 (a mail loop) and the sender gets the usual report.

use std::sync::Arc;

use estafeta_smtp::outbound::{
    ClientSettings, Error, OutboundMessage, Rcpt, SmtpClient, TlsPolicy,
};
use estafeta_store::{RecipientUpdate, now};
use estafeta_trust::mta_sts::PolicyAnswer;
use tracing::Instrument;

use crate::outcome::{self, Job, Via};
use crate::queues::{Next, Woken};
use crate::routing::{self, Destination, Target};
use crate::scheduler::DeliveryContext;
use crate::tls_reports::Sessions;

/// Runs a worker of `dest` until its jobs are done (or the connection limit reached).
pub async fn run(ctx: Arc<DeliveryContext>, dest: Destination) {
    let key = dest.key();
    work(&ctx, &dest, &key).await;
    ctx.queues.worker_done(&key);
    ctx.wake.notify_one();
}

/// Why no session could be opened.
struct NoSession {
    permanent: bool,
    reason: String,
    via: Via,
}

async fn work(ctx: &DeliveryContext, dest: &Destination, key: &str) {
    let Some(first) = ctx.queues.next(key) else {
        return;
    };
    let policy = match (dest, &ctx.mta_sts) {
        (Destination::Mx(domain), Some(sts)) => sts.policy(domain).await,
        _ => PolicyAnswer::None,
    };
    let mut sessions = Sessions::new(
        ctx.settings
            .reports
            .tls
            .then_some(ctx.settings.reports.period),
        dest,
        &policy,
    );
    let targets = match routing::targets(
        &ctx.settings,
        &ctx.resolver,
        dest,
        &policy,
        ctx.dane.as_ref(),
    )
    .await
    {
        Ok(t) => t,
        Err(no) => {
            // every job waiting for this destination gets the same answer
            let via = Via::default();
            let mut jobs = vec![first];
            jobs.extend(ctx.queues.drain(key));
            for job in jobs {
                let _span = tracing::info_span!("delivery", queue_id = %job.message.id).entered();
                let updates = if no.permanent {
                    outcome::all_failed(&job, &via, &no.reason, now())
                } else {
                    outcome::all_deferred(&ctx.settings, &job, &via, &no.reason, now())
                };
                ctx.recorder.record(&job, updates);
            }
            return;
        }
    };
    let mut session: Option<(SmtpClient, Target)> = None;
    // the previous message's outcome on this connection, until it is written: the next
    // message's data waits for it (at most one message per connection sent twice after
    // a crash)
    let mut unwritten: Option<tokio::sync::oneshot::Receiver<()>> = None;
    let mut sent = 0;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let span = tracing::info_span!("delivery", queue_id = %job.message.id);
        let stored = match &job.body {
            Some(body) => Ok(Some(body.clone())),
            None => ctx
                .store
                .queue_body(&job.message.id)
                .await
                .map(|b| b.map(Arc::new)),
        };
        let body = match stored {
            Ok(Some(body)) => body,
            Ok(None) => {
                // deleted meanwhile (queue delete): nothing to send or record
                span.in_scope(|| tracing::info!("message no longer queued: skipped"));
                ctx.queues.release(job.recipients.iter().map(|r| r.id));
                next = ctx.queues.next(key);
                continue;
            }
            Err(e) => {
                span.in_scope(|| tracing::error!(error = %e, "cannot read the queued message"));
                let updates = outcome::all_deferred(
                    &ctx.settings,
                    &job,
                    &Via::default(),
                    &format!("4.3.0 cannot read the queued message: {e}"),
                    now(),
                );
                ctx.recorder.record(&job, updates);
                next = ctx.queues.next(key);
                continue;
            }
        };
        if let Some(reason) = too_many_hops(ctx, &body) {
            // a loop: sending it on would only make it go round again
            let updates =
                span.in_scope(|| outcome::all_failed(&job, &Via::default(), &reason, now()));
            ctx.recorder.record(&job, updates);
            next = ctx.queues.next(key);
            continue;
        }
        if session.is_none() {
            match connect(ctx, &targets, sessions.as_mut())
                .instrument(span.clone())
                .await
            {
                Ok(s) => session = Some(s),
                Err(no) => {
                    // the destination cannot be reached now: its waiting jobs too
                    let mut jobs = vec![job];
                    jobs.extend(ctx.queues.drain(key));
                    for job in jobs {
                        let _span =
                            tracing::info_span!("delivery", queue_id = %job.message.id).entered();
                        let updates = if no.permanent {
                            outcome::all_failed(&job, &no.via, &no.reason, now())
                        } else {
                            outcome::all_deferred(&ctx.settings, &job, &no.via, &no.reason, now())
                        };
                        ctx.recorder.record(&job, updates);
                    }
                    if let Some(s) = sessions {
                        s.save(&ctx.store);
                    }
                    return;
                }
            }
        }
        let Some((client, target)) = session.as_mut() else {
            return;
        };
        let message = outbound(&job, &body);
        let tls = client.tls().map(|t| t.version.clone());
        let previous = unwritten.take();
        let ready = async move {
            if let Some(written) = previous {
                let _ = written.await;
            }
        };
        let result = client
            .send_when(&message, ready)
            .instrument(span.clone())
            .await;
        let updates: Vec<RecipientUpdate> = span.in_scope(|| match &result {
            Ok(tx) => outcome::from_transaction(&ctx.settings, &job, target, tls, tx, now()),
            Err(e) => {
                ctx.hosts.failed(target.addr, e.to_string());
                let reason = format!("4.4.2 {target}: {e}");
                outcome::all_deferred(
                    &ctx.settings,
                    &job,
                    &Via { host: None, tls },
                    &reason,
                    now(),
                )
            }
        });
        unwritten = Some(ctx.recorder.record_durably(&job, updates));
        if result.is_err() {
            session = None; // the client is unusable; the next job connects again
        }
        sent += 1;
        if sent >= ctx.settings.messages_per_connection {
            break;
        }
        next = next_job(ctx, key, &mut session).await;
    }
    if let Some((client, _)) = session {
        client.quit().await;
    }
    if let Some(s) = sessions {
        s.save(&ctx.store);
    }
}

/// The destination's next job. With none waiting and a usable session, the worker waits
/// up to `delivery.connection_cache_time` for one (Postfix's connection cache: mail that
/// comes in a stream, one message at a time, goes out over one connection instead of one
/// each); a session that sat idle is tried with RSET before it is used, and dropped (the
/// next job connects anew) if it does not answer. An idle worker also ends early when
/// another destination needs its connection slot.
async fn next_job(
    ctx: &DeliveryContext,
    key: &str,
    session: &mut Option<(SmtpClient, Target)>,
) -> Option<Job> {
    let idle_time = ctx.settings.connection_cache_time;
    let linger = !idle_time.is_zero() && session.as_ref().is_some_and(|(c, _)| c.is_usable());
    let deadline = tokio::time::Instant::now() + idle_time;
    loop {
        let ready = match ctx.queues.next_or_idle(key, linger) {
            Next::Job(job) => return Some(job),
            Next::Done => return None,
            Next::Idle(ready) => ready,
        };
        if let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, ready.acquire()).await {
            permit.forget();
        }
        let job = match ctx.queues.leave_idle(key) {
            Woken::Job(job) => job,
            Woken::Evicted => return None,
            Woken::Nothing => {
                if tokio::time::Instant::now() >= deadline || ready.is_closed() {
                    return None;
                }
                continue;
            }
        };
        if let Some((client, _)) = session.as_mut()
            && client.reset().await.is_err()
        {
            tracing::debug!("the idle session is gone: connecting anew");
            *session = None;
        }
        return Some(job);
    }
}

/// The permanent failure of a message with more `Received:` fields than `smtp.max_hops`
/// (counted in its header section only, see `estafeta_smtp::hops`).
fn too_many_hops(ctx: &DeliveryContext, body: &[u8]) -> Option<String> {
    let max = ctx.settings.max_hops;
    (estafeta_smtp::hops::received_fields(body, max) > max).then(|| {
        format!(
            "5.4.6 too many hops: the message has more than {max} Received: header fields \
             (smtp.max_hops), a mail loop"
        )
    })
}

/// The transaction for a job: its sender, its recipients with their DSN parameters.
fn outbound<'a>(job: &Job, body: &'a [u8]) -> OutboundMessage<'a> {
    let m = &job.message;
    OutboundMessage {
        from: m.sender.clone(),
        recipients: job
            .recipients
            .iter()
            .map(|r| Rcpt {
                address: r.address.clone(),
                notify: r.notify,
                orcpt: r.orcpt.clone(),
            })
            .collect(),
        body,
        envid: m.envid.clone(),
        ret: m.ret,
        smtputf8: false,
    }
}

/// Opens a session with the first host that takes one.
async fn connect(
    ctx: &DeliveryContext,
    targets: &[Target],
    mut sessions: Option<&mut Sessions>,
) -> Result<(SmtpClient, Target), NoSession> {
    let mut last: Option<NoSession> = None;
    let mut all_permanent = true;
    for t in targets {
        if let Some(why) = ctx.hosts.skipped(t.addr) {
            tracing::debug!(host = %t, why = %why, "host skipped: it failed recently");
            all_permanent = false;
            last = Some(NoSession {
                permanent: false,
                reason: format!(
                    "4.4.1 {t}: not tried, it failed less than {} s ago: {why}",
                    ctx.settings.host_retry_after.as_secs()
                ),
                via: Via::default(),
            });
            continue;
        }
        let mut result = SmtpClient::connect(t.addr, &t.name, &t.client).await;
        // a failed handshake counts once, whatever the plaintext retry below gives
        let mut counted = false;
        if let (Err(e), Some(s)) = (&result, sessions.as_deref_mut()) {
            counted = s.failed(t, e);
        }
        // plaintext after a failed handshake only where no certificate is checked (MX
        // hosts): a relay whose certificate fails the check gets nothing at all
        if let Err(Error::Tls(why)) = &result
            && t.client.tls == TlsPolicy::Opportunistic
            && !t.client.checks_certificate()
        {
            tracing::info!(host = %t, error = %why, "TLS failed: trying this host again without TLS");
            let plain = ClientSettings {
                tls: TlsPolicy::Disabled,
                ..(*t.client).clone()
            };
            result = SmtpClient::connect(t.addr, &t.name, &plain).await;
        }
        match result {
            Ok(client) => {
                if let (false, Some(s)) = (counted, sessions.as_deref_mut()) {
                    s.opened(t, client.tls().is_some());
                }
                ctx.hosts.worked(t.addr);
                return Ok((client, t.clone()));
            }
            Err(e) => {
                all_permanent &= e.is_permanent();
                ctx.hosts.failed(t.addr, e.to_string());
                tracing::info!(host = %t, error = %e, "host not usable: trying the next one");
                last = Some(match e.reply() {
                    Some(reply) => NoSession {
                        permanent: e.is_permanent(),
                        reason: reply.to_string(),
                        via: Via {
                            host: Some(t.to_string()),
                            tls: None,
                        },
                    },
                    None => NoSession {
                        permanent: false,
                        reason: format!("4.4.1 {t}: {e}"),
                        via: Via::default(),
                    },
                });
            }
        }
    }
    let mut no = last.unwrap_or_else(|| NoSession {
        permanent: false,
        reason: "4.4.1 no host to connect to".into(),
        via: Via::default(),
    });
    no.permanent = no.permanent && all_permanent;
    Err(no)
}
