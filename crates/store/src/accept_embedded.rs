//! The accept group commit on SQLite, through the blocking writer (`sqlite_writer.rs`).
//!
//! The same rows as `accept::accept_in` writes through sqlx, with the same SQL (its
//! constants are shared), but the whole batch is one closure on the writer's thread:
//! one hand-over per batch instead of two per statement. Each message is written inside
//! a savepoint, so a message that fails is rolled back alone and the others commit with
//! the batch (the sqlx path retries one by one instead). Messages Sieve files into a
//! named folder take the sqlx path: making a folder and its parents is `folders.rs`'s,
//! and such messages are rare enough not to need this one.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::accept::{
    INSERT_MAILBOX_MESSAGE, INSERT_QUEUE_MESSAGE, INSERT_QUEUE_RECIPIENT, INTO_INBOX, INTO_JUNK,
    check, queue_recipient, queue_recipients, queued_message, queues,
};
use crate::address::{domain_of, normalize};
use crate::blobs;
use crate::dsn_params::Ret;
use crate::engine::{Committed, Db};
use crate::error::{Result, StoreError};
use crate::mailbox::to_u32;
use crate::model::{Accept, Accepted, Delivered, Handoff, MailboxChange, QueuedMessage};
use crate::now;
use crate::sqlite_writer::{SqliteWriter, execute, first_row};

/// A place in the delivery scheduler's hand-over channel: (owner, lease seconds, permit).
type Lease = (String, i64, mpsc::OwnedPermit<Handoff>);

/// One message's outcome: what it was stored as, and its queued part when it is leased
/// for handing over.
type Outcome = Result<(Accepted, Option<QueuedMessage>)>;

/// Whether a message can take this path (no copy filed into a named folder).
pub(crate) fn takes(m: &Accept) -> bool {
    m.local.iter().all(|l| l.folder.is_none())
}

/// Commits a batch of messages in one transaction and answers each sender; committed
/// messages with a lease are handed to the scheduler before their sender hears.
pub(crate) async fn commit(
    db: &Db,
    writer: &SqliteWriter,
    batch: Vec<(Accept, oneshot::Sender<Result<Accepted>>)>,
) {
    let mut entries = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for (message, reply) in batch {
        let lease = if queues(&message) {
            db.handoff_permit(message.body.len())
        } else {
            None
        };
        entries.push((message, lease));
        replies.push(reply);
    }
    let done = writer
        .run(db, move |tx| {
            let mut committed = Committed::default();
            let outcomes = accept_all(tx, &entries, &mut committed)?;
            Ok((entries, outcomes, committed))
        })
        .await;
    let (entries, outcomes, committed) = match done {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, size = replies.len(), "group commit failed");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Invalid(format!("not stored: {e}"))));
            }
            return;
        }
    };
    db.announce(committed);
    for (((message, lease), outcome), reply) in entries.into_iter().zip(outcomes).zip(replies) {
        let answer = outcome.map(|(accepted, queued)| {
            // handed over before the reply: the caller may look for it at once
            if let (Some(queued), Some((_, _, permit))) = (queued, lease) {
                permit.send(Handoff {
                    message: queued,
                    body: Arc::new(message.body),
                });
            }
            accepted
        });
        let _ = reply.send(answer);
    }
}

/// Writes each message in a savepoint of its own; `Err` only when the transaction itself
/// can no longer be used (then nothing of it commits).
fn accept_all(
    tx: &rusqlite::Transaction<'_>,
    entries: &[(Accept, Option<Lease>)],
    committed: &mut Committed,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(entries.len());
    for (message, lease) in entries {
        let lease = lease
            .as_ref()
            .map(|(owner, secs, _)| (owner.as_str(), *secs));
        let mut mine = Committed::default();
        tx.execute_batch("SAVEPOINT accept_one")?;
        match accept_one(tx, message, lease, &mut mine) {
            Ok(outcome) => {
                tx.execute_batch("RELEASE accept_one")?;
                committed.changes.append(&mut mine.changes);
                committed.queue_changed |= mine.queue_changed;
                committed.search_pending |= mine.search_pending;
                outcomes.push(Ok(outcome));
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO accept_one; RELEASE accept_one")?;
                tracing::debug!(queue_id = %message.queue_id, error = %e, "message not stored; the rest of its batch is");
                outcomes.push(Err(e));
            }
        }
    }
    Ok(outcomes)
}

fn accept_one(
    tx: &rusqlite::Transaction<'_>,
    m: &Accept,
    lease: Option<(&str, i64)>,
    committed: &mut Committed,
) -> Result<(Accepted, Option<QueuedMessage>)> {
    check(m)?;
    let queued = queues(m);
    let hash = blobs::hash(&m.body);
    let refs = m.local.len() as i64 + i64::from(queued);
    retain(tx, &hash, &m.body, refs, !m.local.is_empty(), committed)?;

    let mut delivered = Vec::with_capacity(m.local.len());
    for local in &m.local {
        let into = if local.junk { INTO_JUNK } else { INTO_INBOX };
        let (mailbox_id, uid, modseq) = first_row(tx, into, &[&local.user_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?
        .ok_or_else(|| StoreError::NotFound(format!("user {} has no INBOX", local.user_id)))?;
        let uid = to_u32(uid)?;
        committed.changes.push(MailboxChange {
            user_id: local.user_id,
            mailbox_id,
        });
        let size = (local.prefix.len() + m.body.len()) as i64;
        execute(
            tx,
            INSERT_MAILBOX_MESSAGE,
            &[
                &mailbox_id,
                &i64::from(uid),
                &hash,
                &local.prefix,
                &m.internal_date,
                &size,
                &modseq,
                &local.flags.as_str(),
            ],
        )?;
        delivered.push(Delivered {
            user_id: local.user_id,
            mailbox_id,
            uid,
            modseq,
        });
    }

    let mut handed = None;
    if queued {
        committed.queue_changed = true;
        let created = now();
        execute(
            tx,
            INSERT_QUEUE_MESSAGE,
            &[
                &m.queue_id,
                &hash,
                &m.sender,
                &m.envid,
                &m.ret.map(Ret::as_str),
                &m.auth_user,
                &(m.body.len() as i64),
                &created,
                &m.message_id,
            ],
        )?;
        let owner = lease.map(|(owner, _)| owner.to_string());
        let until = lease.map(|(_, secs)| created + secs);
        let mut recipients = Vec::with_capacity(m.remote.len() + m.failed.len());
        for (r, failure) in queue_recipients(m) {
            let address = normalize(&r.address)?;
            let id: i64 = first_row(
                tx,
                INSERT_QUEUE_RECIPIENT,
                &[
                    &m.queue_id,
                    &address,
                    &domain_of(&address),
                    &r.orcpt,
                    &r.notify.map(|n| n.to_string()),
                    &created,
                    &owner,
                    &until,
                    &failure,
                ],
                |row| row.get(0),
            )?
            .ok_or_else(|| StoreError::Invalid("a queued recipient got no id".into()))?;
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
        if lease.is_some() {
            handed = Some(queued_message(m, &hash, created, recipients));
        }
    }
    Ok((
        Accepted {
            queue_id: m.queue_id.clone(),
            blob_hash: hash,
            delivered,
        },
        handed,
    ))
}

/// `blobs::retain` on the writer: the body stored once (in pieces over
/// [`blobs::CHUNK`]), `refs` more references, and a body a mailbox shows queued for the
/// search indexer unless it is indexed.
fn retain(
    tx: &rusqlite::Transaction<'_>,
    hash: &str,
    body: &[u8],
    refs: i64,
    searchable: bool,
    committed: &mut Committed,
) -> Result<()> {
    let in_pieces = body.len() > blobs::CHUNK;
    let data: &[u8] = if in_pieces { &[] } else { body };
    let count: i64 = first_row(
        tx,
        blobs::RETAIN,
        &[&hash, &data, &(body.len() as i64), &refs],
        |row| row.get(0),
    )?
    .ok_or_else(|| StoreError::Invalid("a stored body has no reference count".into()))?;
    if count == refs {
        if in_pieces {
            for (seq, piece) in body.chunks(blobs::CHUNK).enumerate() {
                execute(tx, blobs::INSERT_CHUNK, &[&hash, &(seq as i64), &piece])?;
            }
        }
        if searchable {
            execute(tx, blobs::SEARCH_NEW, &[&hash])?;
            committed.search_pending = true;
        }
    } else if searchable && execute(tx, blobs::SEARCH_AGAIN, &[&hash])? > 0 {
        committed.search_pending = true;
    }
    Ok(())
}
