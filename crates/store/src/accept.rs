//! The accept operation and its group commit.
//!
//! One accepted message is one transaction: the body once, an INBOX entry per local
//! recipient, a queue entry per remote recipient. SMTP sessions hand their messages to
//! a single committer task; whatever arrives while a commit is being flushed goes into the
//! next transaction together, so N concurrent sessions pay for one fsync, not N. If a
//! shared transaction fails, its messages are retried one by one so that one bad message
//! cannot fail the others.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::address::{domain_of, normalize};
use crate::blobs;
use crate::engine::{Db, WriteTx};
use crate::error::{Result, StoreError};
use crate::mailbox::to_u32;
use crate::model::{Accept, Accepted, Delivered, MailboxChange};
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
    if batch.len() > 1 {
        let shared = async {
            let mut w = db.begin_write().await?;
            let mut done = Vec::with_capacity(batch.len());
            for (message, _) in &batch {
                done.push(accept_in(&mut w, message).await?);
            }
            w.commit().await?;
            Ok::<_, StoreError>(done)
        }
        .await;
        match shared {
            Ok(done) => {
                for ((_, reply), accepted) in batch.into_iter().zip(done) {
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
            let accepted = accept_in(&mut w, &message).await?;
            w.commit().await?;
            Ok(accepted)
        }
        .await;
        let _ = reply.send(one);
    }
}

/// Writes one message inside an open transaction.
pub(crate) async fn accept_in(w: &mut WriteTx<'_>, m: &Accept) -> Result<Accepted> {
    if m.queue_id.is_empty() {
        return Err(StoreError::Invalid("a message needs a queue id".into()));
    }
    if m.local.is_empty() && m.remote.is_empty() {
        return Err(StoreError::Invalid(
            "a message needs at least one recipient".into(),
        ));
    }
    let hash = blobs::hash(&m.body);
    let refs = m.local.len() as i64 + i64::from(!m.remote.is_empty());
    blobs::retain(&mut w.tx, &hash, &m.body, refs).await?;

    let mut delivered = Vec::with_capacity(m.local.len());
    for local in &m.local {
        // One statement finds the INBOX and takes its next UID and MODSEQ; the row stays
        // locked until commit, so UIDs follow commit order.
        let row = sqlx::query(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
             WHERE user_id = $1 AND name = 'INBOX' \
             RETURNING id, uidnext - 1 AS uid, highestmodseq",
        )
        .bind(local.user_id)
        .fetch_optional(&mut *w.tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {} has no INBOX", local.user_id)))?;
        let mailbox_id: i64 = row.try_get("id")?;
        let uid = to_u32(row.try_get("uid")?)?;
        let modseq: i64 = row.try_get("highestmodseq")?;
        let user_id = local.user_id;
        w.changed(MailboxChange {
            user_id,
            mailbox_id,
        })
        .await?;
        sqlx::query(
            "INSERT INTO mailbox_messages (mailbox_id, uid, blob_hash, prefix, flags, internal_date, size, modseq) \
             VALUES ($1, $2, $3, $4, '', $5, $6, $7)",
        )
        .bind(mailbox_id)
        .bind(i64::from(uid))
        .bind(&hash)
        .bind(&local.prefix)
        .bind(m.internal_date)
        .bind((local.prefix.len() + m.body.len()) as i64)
        .bind(modseq)
        .execute(&mut *w.tx)
        .await?;
        delivered.push(Delivered {
            user_id,
            mailbox_id,
            uid,
            modseq,
        });
    }

    if !m.remote.is_empty() {
        w.queue_changed().await?;
        let created = now();
        sqlx::query(
            "INSERT INTO queue_messages (id, blob_hash, sender, envid, ret, auth_user, size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.queue_id)
        .bind(&hash)
        .bind(&m.sender)
        .bind(&m.envid)
        .bind(&m.ret)
        .bind(&m.auth_user)
        .bind(m.body.len() as i64)
        .bind(created)
        .execute(&mut *w.tx)
        .await?;
        for r in &m.remote {
            let address = normalize(&r.address)?;
            sqlx::query(
                "INSERT INTO queue_recipients (queue_id, address, domain, orcpt, notify, state, attempts, next_attempt, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6)",
            )
            .bind(&m.queue_id)
            .bind(&address)
            .bind(domain_of(&address))
            .bind(&r.orcpt)
            .bind(&r.notify)
            .bind(created)
            .execute(&mut *w.tx)
            .await?;
        }
    }
    Ok(Accepted {
        queue_id: m.queue_id.clone(),
        blob_hash: hash,
        delivered,
    })
}
