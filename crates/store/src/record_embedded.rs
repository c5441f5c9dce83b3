//! Recording delivery outcomes on SQLite, through the blocking writer
//! (`sqlite_writer.rs`): `Queue::record_attempt` as one closure on the writer's thread.
//!
//! The same statements as the sqlx path in `queue.rs` (the SQL constants are shared):
//! each outcome written if the worker still holds the lease, a delivery remembered in
//! `sent_messages`, then each touched message settled (reports owed, or removed with its
//! body when every recipient is final). SQLite's one writer serialises these
//! transactions, so the message rows are not locked first, as they are on PostgreSQL.

use crate::blobs;
use crate::engine::Db;
use crate::error::{Result, StoreError};
use crate::model::{AttemptRecorded, DeliveryOutcome, RecipientUpdate, ReportKind};
use crate::now;
use crate::queue::{
    DELETE_MESSAGE, DELETE_RECIPIENTS, RECORD_OUTCOME, Settled, TALLY, Tally, any_delivered,
    in_lock_order,
};
use crate::sent;
use crate::sqlite_writer::{SqliteWriter, execute, first_row};

pub(crate) async fn record_attempt(
    db: &Db,
    writer: &SqliteWriter,
    owner: &str,
    updates: &[RecipientUpdate],
) -> Result<AttemptRecorded> {
    let owner = owner.to_string();
    let updates = updates.to_vec();
    writer
        .run(db, move |tx| record_all(tx, &owner, &updates))
        .await
}

fn record_all(
    tx: &rusqlite::Transaction<'_>,
    owner: &str,
    updates: &[RecipientUpdate],
) -> Result<AttemptRecorded> {
    let at = now();
    let mut done = AttemptRecorded::default();
    for queue_id in in_lock_order(updates) {
        let mut recorded = false;
        for u in updates.iter().filter(|u| u.queue_id == queue_id) {
            if record_one(tx, owner, u, at)? {
                recorded = true;
            } else {
                done.conflicts.push(u.recipient_id);
            }
        }
        if !recorded {
            continue;
        }
        match tally(tx, queue_id, at)?.settled() {
            Settled::Waits => {}
            Settled::OwesReports => done.owed.push(queue_id.to_string()),
            Settled::Finished(hash) => {
                execute(tx, DELETE_RECIPIENTS, &[&queue_id])?;
                execute(tx, DELETE_MESSAGE, &[&queue_id])?;
                if execute(tx, blobs::DELETE_LAST, &[&hash, &1_i64])? == 0 {
                    execute(tx, blobs::UNREF, &[&1_i64, &hash])?;
                }
                done.finished.push(queue_id.to_string());
            }
        }
    }
    if any_delivered(updates) {
        execute(tx, sent::EXPIRE, &[&(at - sent::SENT_RETENTION_SECS)])?;
    }
    Ok(done)
}

/// Writes one outcome if `owner` still holds the recipient's lease.
fn record_one(
    tx: &rusqlite::Transaction<'_>,
    owner: &str,
    u: &RecipientUpdate,
    at: i64,
) -> Result<bool> {
    let (state, reply, next) = u.outcome.columns();
    let n = execute(
        tx,
        RECORD_OUTCOME,
        &[
            &state.as_str(),
            &next,
            reply,
            &u.host,
            &at,
            &u.report.map(ReportKind::as_str),
            &u.recipient_id,
            &u.queue_id,
            &owner,
        ],
    )?;
    if n == 1 && matches!(u.outcome, DeliveryOutcome::Delivered { .. }) {
        execute(tx, sent::RECORD, &[&at, &u.recipient_id])?;
    }
    Ok(n == 1)
}

fn tally(tx: &rusqlite::Transaction<'_>, queue_id: &str, at: i64) -> Result<Tally> {
    first_row(tx, TALLY, &[&queue_id, &at], |row| {
        Ok(Tally {
            leased: row.get::<_, Option<i64>>(0)?.unwrap_or(0),
            owed: row.get::<_, Option<i64>>(1)?.unwrap_or(0),
            open: row.get::<_, Option<i64>>(2)?.unwrap_or(0),
            hash: row.get(3)?,
        })
    })?
    .ok_or_else(|| StoreError::Invalid("a tally without a row".into()))
}
