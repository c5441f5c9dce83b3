//! Writing outcomes back: workers hand the updates of each transaction to one recorder
//! task, which writes whatever has gathered in one store transaction (a group commit, as
//! acceptance does), then hands over the reports those outcomes owe (`reports`). It looks
//! for reports left owed at start (a stopped process may have left some) and, after a
//! hand-over that left some, every few seconds until none is left. A store failure is
//! retried until it works: the recipients stay leased meanwhile.

use std::sync::Arc;
use std::time::Duration;

use estafeta_store::{
    AttemptRecorded, DeliveryFailure, DeliveryOutcome, RecipientUpdate, StatEvent, Store,
};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::dsn::DsnBuilder;
use crate::outcome::Job;
use crate::queues::Queues;
use crate::reports;

/// Most updates written in one transaction.
const MAX_BATCH: usize = 512;
/// How soon to look again for reports a hand-over left owed.
const LOOK_AGAIN: Duration = Duration::from_secs(5);

/// Updates to write, and who waits for them to be written.
type Batch = (Vec<RecipientUpdate>, Option<oneshot::Sender<()>>);

/// The workers' side.
pub struct Recorder {
    tx: mpsc::UnboundedSender<Batch>,
    /// Where the outcomes are counted for the statistics.
    store: Arc<dyn Store>,
}

impl Recorder {
    /// Starts the recorder task. `queues` learns which recipients are out of flight,
    /// `wake` is told after each write.
    pub fn start(
        store: Arc<dyn Store>,
        owner: String,
        dsn: DsnBuilder,
        queues: Arc<Queues>,
        wake: Arc<Notify>,
    ) -> Recorder {
        let (tx, mut rx) = mpsc::unbounded_channel::<Batch>();
        let counter = store.clone();
        tokio::spawn(async move {
            // at start, what a process that stopped left owed
            let mut owed_left = true;
            loop {
                if owed_left {
                    owed_left = !reports::hand_over_owed(&*store, &dsn).await;
                }
                let next = if owed_left {
                    match tokio::time::timeout(LOOK_AGAIN, rx.recv()).await {
                        Ok(next) => next,
                        Err(_) => continue, // time to look again
                    }
                } else {
                    rx.recv().await
                };
                let Some((mut batch, waiter)) = next else {
                    break;
                };
                let mut waiters: Vec<oneshot::Sender<()>> = waiter.into_iter().collect();
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((more, waiter)) => {
                            batch.extend(more);
                            waiters.extend(waiter);
                        }
                        Err(_) => break,
                    }
                }
                let owed = write(&*store, &owner, &batch).await;
                // written for good: the workers may send their next message
                for w in waiters {
                    let _ = w.send(());
                }
                owed_left |= !reports::hand_over(&*store, &dsn, &owed).await;
                queues.release(batch.iter().map(|u| u.recipient_id));
                wake.notify_one();
            }
        });
        Recorder { tx, store: counter }
    }

    /// Queues the updates of `job`'s recipients for writing, and counts them for the
    /// statistics (under the sending user's domain, else the sender's; deferrals and
    /// bounces with their replies).
    pub fn record(&self, job: &Job, updates: Vec<RecipientUpdate>) {
        if updates.is_empty() {
            return;
        }
        self.count(job, &updates);
        if self.tx.send((updates, None)).is_err() {
            tracing::error!("the delivery recorder has stopped: outcomes not written");
        }
    }

    /// [`Recorder::record`], with a receiver told once the updates are written (or at
    /// once when there is nothing to write; dropped if the recorder has stopped).
    pub fn record_durably(
        &self,
        job: &Job,
        updates: Vec<RecipientUpdate>,
    ) -> oneshot::Receiver<()> {
        let (done, written) = oneshot::channel();
        if updates.is_empty() {
            let _ = done.send(());
            return written;
        }
        self.count(job, &updates);
        if self.tx.send((updates, Some(done))).is_err() {
            tracing::error!("the delivery recorder has stopped: outcomes not written");
        }
        written
    }
}

impl Recorder {
    fn count(&self, job: &Job, updates: &[RecipientUpdate]) {
        let message = &job.message;
        let user = message.auth_user.as_deref().unwrap_or("");
        let domain = user
            .rsplit_once('@')
            .or_else(|| message.sender.rsplit_once('@'))
            .map_or("", |(_, d)| d);
        let now = estafeta_store::now();
        for u in updates {
            let (event, reply, bounced) = match &u.outcome {
                DeliveryOutcome::Delivered { .. } => (StatEvent::Delivered, None, false),
                DeliveryOutcome::Deferred { reply, .. } => {
                    (StatEvent::Deferred, Some(reply), false)
                }
                DeliveryOutcome::Failed { reply } => (StatEvent::Bounced, Some(reply), true),
            };
            self.store.count(event, domain, user, 1);
            if let Some(reply) = reply {
                let recipient = job
                    .recipients
                    .iter()
                    .find(|r| r.id == u.recipient_id)
                    .map(|r| r.address.clone())
                    .unwrap_or_default();
                self.store.failure(DeliveryFailure {
                    at: now,
                    queue_id: message.id.clone(),
                    sender: message.sender.clone(),
                    recipient,
                    reply: reply.clone(),
                    bounced,
                });
            }
        }
    }
}

/// Writes a batch; when the shared transaction fails, each message's updates are written
/// on their own, so that one bad message cannot hold the others back. Returns the
/// messages now owing reports.
async fn write(store: &dyn Store, owner: &str, batch: &[RecipientUpdate]) -> Vec<String> {
    let first = batch.first().map(|u| u.queue_id.as_str());
    if batch.iter().all(|u| Some(u.queue_id.as_str()) == first) {
        return write_one(store, owner, batch).await;
    }
    match store.record_attempt(owner, batch).await {
        Ok(done) => logged(batch, done),
        Err(e) => {
            tracing::warn!(error = %e, "recording a batch of outcomes failed: one message at a time");
            let mut ids: Vec<&str> = batch.iter().map(|u| u.queue_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut owed = Vec::new();
            for id in ids {
                let mine: Vec<RecipientUpdate> =
                    batch.iter().filter(|u| u.queue_id == id).cloned().collect();
                owed.extend(write_one(store, owner, &mine).await);
            }
            owed
        }
    }
}

async fn write_one(store: &dyn Store, owner: &str, batch: &[RecipientUpdate]) -> Vec<String> {
    let mut wait = Duration::from_millis(200);
    loop {
        match store.record_attempt(owner, batch).await {
            Ok(done) => return logged(batch, done),
            Err(e) => {
                tracing::error!(error = %e, updates = batch.len(), "cannot record delivery outcomes; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn logged(batch: &[RecipientUpdate], done: AttemptRecorded) -> Vec<String> {
    for u in batch
        .iter()
        .filter(|u| !done.conflicts.contains(&u.recipient_id))
    {
        let result = match u.outcome {
            DeliveryOutcome::Delivered { .. } => "delivered",
            DeliveryOutcome::Deferred { .. } => "deferred",
            DeliveryOutcome::Failed { .. } => "bounced",
        };
        metrics::counter!("estafeta_deliveries_total", "result" => result).increment(1);
    }
    for id in &done.conflicts {
        if let Some(u) = batch.iter().find(|u| u.recipient_id == *id) {
            tracing::warn!(
                queue_id = %u.queue_id,
                recipient_id = id,
                "outcome not recorded: the recipient was taken over or deleted meanwhile"
            );
        }
    }
    for queue_id in &done.finished {
        tracing::debug!(queue_id = %queue_id, "removed from the queue: every recipient done");
    }
    done.owed
}
