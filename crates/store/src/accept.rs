//! The accept operation and its group commit.
//!
//! One accepted message is one transaction: the body once, an INBOX entry per local
//! recipient, a queue entry per remote recipient. SMTP sessions hand their messages to
//! a single committer task; whatever arrives while a commit is being flushed goes into the
//! next transaction together, so N concurrent sessions pay for one fsync, not N. If a
//! shared transaction fails, its messages are retried one by one so that one bad message
//! cannot fail the others.
//!
//! On SQLite a batch runs on the blocking writer instead (`accept_embedded.rs`, with the
//! SQL constants and helpers here), unless a message of it is filed into a named folder.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::address::{domain_of, normalize};
use crate::blobs;
use crate::dsn_params::Ret;
use crate::engine::{Db, WriteTx};
use crate::error::{Result, StoreError};
use crate::mailbox::to_u32;
use crate::model::{
    Accept, Accepted, Delivered, Handoff, MailboxChange, QueueRecipient, QueuedMessage,
    RecipientState, RemoteRecipient,
};
use crate::now;
use sqlx::Row;

/// Most messages one group commit carries.
const MAX_BATCH: usize = 256;
/// Most body bytes one group commit carries.
const MAX_BATCH_BYTES: usize = 64 << 20;

type Job = (Accept, oneshot::Sender<Result<Accepted>>);

/// The handle SMTP sessions send their messages through.
pub(crate) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    pub fn start(db: Arc<Db>) -> Committer {
        let (jobs, mut incoming) = mpsc::channel::<Job>(1024);
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut bytes = first.0.body.len();
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                    match incoming.try_recv() {
                        Ok(job) => {
                            bytes += job.0.body.len();
                            batch.push(job);
                        }
                        Err(_) => break,
                    }
                }
                commit_batch(&db, batch).await;
            }
        });
        Committer { jobs }
    }

    pub async fn accept(&self, message: Accept) -> Result<Accepted> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((message, reply))
            .await
            .map_err(|_| StoreError::Invalid("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Invalid("the store is closed".into()))?
    }
}

async fn commit_batch(db: &Db, batch: Vec<Job>) {
    if let Some(writer) = &db.writer
        && batch.iter().all(|(m, _)| crate::accept_embedded::takes(m))
    {
        return crate::accept_embedded::commit(db, writer, batch).await;
    }
    if batch.len() > 1 {
        let shared = async {
            let mut w = db.begin_write().await?;
            let mut done = Vec::with_capacity(batch.len());
            for (message, _) in &batch {
                done.push(accept_in(&mut w, message, true).await?);
            }
            w.commit().await?;
            Ok::<_, StoreError>(done)
        }
        .await;
        match shared {
            Ok(done) => {
                for ((message, reply), (accepted, handoff)) in batch.into_iter().zip(done) {
                    // handed over before the reply: the caller may look for it at once
                    hand_over(handoff, message);
                    let _ = reply.send(Ok(accepted));
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, size = batch.len(), "group commit failed; committing one by one");
            }
        }
    }
    for (message, reply) in batch {
        let one = async {
            let mut w = db.begin_write().await?;
            let accepted = accept_in(&mut w, &message, true).await?;
            w.commit().await?;
            Ok(accepted)
        }
        .await;
        match one {
            Ok((accepted, handoff)) => {
                hand_over(handoff, message);
                let _ = reply.send(Ok(accepted));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// A committed message's remote part, leased to the delivery scheduler of this process,
/// waiting to be handed over once the transaction has committed.
pub(crate) struct Pending {
    permit: mpsc::OwnedPermit<Handoff>,
    message: QueuedMessage,
}

/// Hands a committed message to the scheduler (after the commit: never a message that
/// is not in the database).
fn hand_over(pending: Option<Pending>, accepted: Accept) {
    if let Some(p) = pending {
        p.permit.send(Handoff {
            message: p.message,
            body: Arc::new(accepted.body),
        });
    }
}

/// Writes one message inside an open transaction. With `handoff`, and a delivery
/// scheduler in this process with room, the remote recipients are written leased to it,
/// and the message is returned for handing over after the commit.
/// Takes the next UID and MODSEQ of the user's INBOX.
pub(crate) const INTO_INBOX: &str = "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
     WHERE user_id = $1 AND name = 'INBOX' \
     RETURNING id, uidnext - 1 AS uid, highestmodseq";

/// The same for the user's Junk folder (special-use), INBOX when there is none.
pub(crate) const INTO_JUNK: &str = "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
     WHERE id = (SELECT id FROM mailboxes WHERE user_id = $1 AND (special_use = 'Junk' OR name = 'INBOX') \
                 ORDER BY CASE WHEN name = 'INBOX' THEN 1 ELSE 0 END LIMIT 1) \
     RETURNING id, uidnext - 1 AS uid, highestmodseq";

/// The same for a named folder (Sieve's `fileinto`); INBOX's name in any case is INBOX.
const INTO_FOLDER: &str = "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
     WHERE user_id = $1 AND name = $2 \
     RETURNING id, uidnext - 1 AS uid, highestmodseq";

/// Takes the next UID and MODSEQ of `folder`, made first (with its parents) when `create`
/// and missing; `None` when it does not exist and is not to be made (or its name is not a
/// usable folder name): the copy goes to INBOX, as Sieve's implicit keep would.
async fn into_folder(
    w: &mut WriteTx<'_>,
    user_id: i64,
    folder: &str,
    create: bool,
) -> Result<Option<sqlx::any::AnyRow>> {
    let name = if folder.eq_ignore_ascii_case("INBOX") {
        "INBOX"
    } else {
        folder
    };
    // before any SQL: a name no folder may have (a NUL would abort the transaction on
    // PostgreSQL, and the message with it) is INBOX's copy
    if name != "INBOX" && crate::folders::check_name(name).is_err() {
        return Ok(None);
    }
    if let Some(row) = take_uid(w, user_id, name).await? {
        return Ok(Some(row));
    }
    if !create {
        return Ok(None);
    }
    match crate::folders::create_in(w, user_id, name).await {
        Ok(()) => take_uid(w, user_id, name).await,
        Err(StoreError::Invalid(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn take_uid(
    w: &mut WriteTx<'_>,
    user_id: i64,
    name: &str,
) -> Result<Option<sqlx::any::AnyRow>> {
    Ok(sqlx::query(INTO_FOLDER)
        .bind(user_id)
        .bind(name)
        .fetch_optional(&mut *w.tx)
        .await?)
}

/// Adds a copy to a mailbox (its UID and MODSEQ taken by one of the `INTO_` statements).
pub(crate) const INSERT_MAILBOX_MESSAGE: &str = "INSERT INTO mailbox_messages (mailbox_id, uid, blob_hash, prefix, flags, internal_date, size, modseq, saved_at) \
     VALUES ($1, $2, $3, $4, $8, $5, $6, $7, $5)";

pub(crate) const INSERT_QUEUE_MESSAGE: &str = "INSERT INTO queue_messages (id, blob_hash, sender, envid, ret, auth_user, size, created_at, message_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const INSERT_QUEUE_RECIPIENT: &str = "INSERT INTO queue_recipients (queue_id, address, domain, orcpt, notify, state, attempts, next_attempt, lease_owner, lease_until, updated_at, failure) \
     VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $6, $9) RETURNING id";

/// What a message must have before anything of it is written.
pub(crate) fn check(m: &Accept) -> Result<()> {
    if m.queue_id.is_empty() {
        return Err(StoreError::Invalid("a message needs a queue id".into()));
    }
    if m.local.is_empty() && m.remote.is_empty() {
        return Err(StoreError::Invalid(
            "a message needs at least one recipient".into(),
        ));
    }
    Ok(())
}

/// Whether the message has a part for the queue.
pub(crate) fn queues(m: &Accept) -> bool {
    !m.remote.is_empty() || !m.failed.is_empty()
}

/// The queue's recipients of a message, each with the failure it is queued with: the
/// failing local recipients go through delivery like the remote ones, which records
/// their failure, with the report it owes, as any outcome.
pub(crate) fn queue_recipients(
    m: &Accept,
) -> impl Iterator<Item = (RemoteRecipient, Option<String>)> + '_ {
    let failing = m.failed.iter().map(|f| {
        let r = RemoteRecipient {
            address: f.address.clone(),
            orcpt: f.orcpt.clone(),
            notify: f.notify,
        };
        (r, Some(f.reason.clone()))
    });
    m.remote.iter().map(|r| (r.clone(), None)).chain(failing)
}

/// A queue recipient as just written (row `id`), leased to `lease` when it is `Some`.
pub(crate) fn queue_recipient(
    id: i64,
    m: &Accept,
    address: String,
    r: &RemoteRecipient,
    created: i64,
    lease: (Option<String>, Option<i64>),
    failure: Option<String>,
) -> QueueRecipient {
    QueueRecipient {
        id,
        queue_id: m.queue_id.clone(),
        domain: domain_of(&address).to_string(),
        address,
        orcpt: r.orcpt.clone(),
        notify: r.notify,
        state: RecipientState::Queued,
        attempts: 0,
        next_attempt: created,
        last_reply: None,
        last_host: None,
        last_attempt: None,
        report: None,
        delay_reported: false,
        lease_owner: lease.0,
        lease_until: lease.1,
        failure,
    }
}

/// The queued message as just written, for handing over.
pub(crate) fn queued_message(
    m: &Accept,
    hash: &str,
    created: i64,
    recipients: Vec<QueueRecipient>,
) -> QueuedMessage {
    QueuedMessage {
        id: m.queue_id.clone(),
        blob_hash: hash.to_string(),
        sender: m.sender.clone(),
        envid: m.envid.clone(),
        ret: m.ret,
        size: m.body.len() as i64,
        created_at: created,
        auth_user: m.auth_user.clone(),
        recipients,
    }
}

pub(crate) async fn accept_in(
    w: &mut WriteTx<'_>,
    m: &Accept,
    handoff: bool,
) -> Result<(Accepted, Option<Pending>)> {
    check(m)?;
    let queued = queues(m);
    let hash = blobs::hash(&m.body);
    let refs = m.local.len() as i64 + i64::from(queued);
    blobs::retain(w, &hash, &m.body, refs, !m.local.is_empty()).await?;

    let mut delivered = Vec::with_capacity(m.local.len());
    for local in &m.local {
        // One statement finds the INBOX and takes its next UID and MODSEQ; the row stays
        // locked until commit, so UIDs follow commit order.
        let row = match &local.folder {
            Some(folder) => into_folder(w, local.user_id, folder, local.create).await?,
            None => None,
        };
        let row = match row {
            Some(row) => row,
            None => sqlx::query(if local.junk { INTO_JUNK } else { INTO_INBOX })
                .bind(local.user_id)
                .fetch_optional(&mut *w.tx)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("user {} has no INBOX", local.user_id))
                })?,
        };
        let mailbox_id: i64 = row.try_get("id")?;
        let uid = to_u32(row.try_get("uid")?)?;
        let modseq: i64 = row.try_get("highestmodseq")?;
        let user_id = local.user_id;
        w.changed(MailboxChange {
            user_id,
            mailbox_id,
        })
        .await?;
        sqlx::query(INSERT_MAILBOX_MESSAGE)
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .bind(&hash)
            .bind(&local.prefix)
            .bind(m.internal_date)
            .bind((local.prefix.len() + m.body.len()) as i64)
            .bind(modseq)
            .bind(local.flags.as_str())
            .execute(&mut *w.tx)
            .await?;
        delivered.push(Delivered {
            user_id,
            mailbox_id,
            uid,
            modseq,
        });
    }

    let mut pending = None;
    if queued {
        w.queue_changed().await?;
        let created = now();
        let lease = if handoff {
            w.db().handoff_permit(m.body.len())
        } else {
            None
        };
        sqlx::query(INSERT_QUEUE_MESSAGE)
            .bind(&m.queue_id)
            .bind(&hash)
            .bind(&m.sender)
            .bind(&m.envid)
            .bind(m.ret.map(Ret::as_str))
            .bind(&m.auth_user)
            .bind(m.body.len() as i64)
            .bind(created)
            .bind(&m.message_id)
            .execute(&mut *w.tx)
            .await?;
        let (owner, until) = match &lease {
            Some((owner, secs, _)) => (Some(owner.clone()), Some(created + secs)),
            None => (None, None),
        };
        let mut recipients = Vec::with_capacity(m.remote.len() + m.failed.len());
        for (r, failure) in queue_recipients(m) {
            let address = normalize(&r.address)?;
            let id: i64 = sqlx::query_scalar(INSERT_QUEUE_RECIPIENT)
                .bind(&m.queue_id)
                .bind(&address)
                .bind(domain_of(&address))
                .bind(&r.orcpt)
                .bind(r.notify.map(|n| n.to_string()))
                .bind(created)
                .bind(&owner)
                .bind(until)
                .bind(&failure)
                .fetch_one(&mut *w.tx)
                .await?;
            recipients.push(queue_recipient(
                id,
                m,
                address,
                &r,
                created,
                (owner.clone(), until),
                failure,
            ));
        }
        if let Some((_, _, permit)) = lease {
            pending = Some(Pending {
                permit,
                message: queued_message(m, &hash, created, recipients),
            });
        }
    }
    Ok((
        Accepted {
            queue_id: m.queue_id.clone(),
            blob_hash: hash,
            delivered,
        },
        pending,
    ))
}
