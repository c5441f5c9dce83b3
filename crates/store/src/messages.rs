//! Message operations for IMAP — the store's [`Messages`]: APPEND, COPY, MOVE, STORE (with
//! UNCHANGEDSINCE), the changes and removals since a MODSEQ (CONDSTORE/QRESYNC), and quota
//! usage.

use async_trait::async_trait;
use sqlx::Row;

use crate::api::Messages;
use crate::blobs;
use crate::engine::WriteTx;
use crate::error::{Result, StoreError};
use crate::flags::Flags;
use crate::mailbox::{bump, to_u32};
use crate::model::{CopiedUid, Delivered, FlagChange, FlagUpdate, MailboxEntry, NewMessage};
use crate::sql_store::SqlStore;

#[async_trait]
impl Messages for SqlStore {
    /// Bytes used by all of a user's messages, and how many there are.
    async fn quota_usage(&self, user_id: i64) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) AS used, COUNT(*) AS n \
             FROM mailbox_messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_id = $1",
        )
        .bind(user_id)
        .fetch_one(&self.db.pool)
        .await?;
        Ok((row.try_get("used")?, row.try_get("n")?))
    }

    async fn append(
        &self,
        mailbox_id: i64,
        message: &[u8],
        flags: &Flags,
        internal_date: i64,
    ) -> Result<Delivered> {
        let one = NewMessage {
            message,
            flags,
            internal_date,
        };
        self.append_many(mailbox_id, &[one])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Invalid("append stored nothing".into()))
    }

    /// All in one transaction: one durable commit and one quota check for the lot.
    async fn append_many(
        &self,
        mailbox_id: i64,
        messages: &[NewMessage<'_>],
    ) -> Result<Vec<Delivered>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = self.db.begin_write().await?;
        let mut delivered = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let hash = blobs::hash(m.message);
            let (user_id, uid, modseq) = bump(&mut w, mailbox_id, true).await?;
            if i == 0 {
                let total = messages.iter().map(|m| m.message.len() as i64).sum();
                self.check_quota(&mut w, user_id, total).await?;
            }
            blobs::retain(&mut w, &hash, m.message, 1, true).await?;
            sqlx::query(
                "INSERT INTO mailbox_messages (mailbox_id, uid, blob_hash, prefix, flags, internal_date, size, modseq, saved_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .bind(&hash)
            .bind(Vec::<u8>::new())
            .bind(m.flags.as_str())
            .bind(m.internal_date)
            .bind(m.message.len() as i64)
            .bind(modseq)
            .bind(crate::now())
            .execute(&mut *w.tx)
            .await?;
            delivered.push(Delivered {
                user_id,
                mailbox_id,
                uid,
                modseq,
            });
        }
        w.commit().await?;
        Ok(delivered)
    }

    /// Copies messages (by UID, in the order given) to another mailbox of the same user.
    async fn copy_messages(&self, from: i64, uids: &[u32], to: i64) -> Result<Vec<CopiedUid>> {
        let mut w = self.db.begin_write().await?;
        let copied = copy_in(self, &mut w, from, uids, to).await?;
        w.commit().await?;
        Ok(copied)
    }

    /// Copy and expunge in one transaction (RFC 6851).
    async fn move_messages(&self, from: i64, uids: &[u32], to: i64) -> Result<Vec<CopiedUid>> {
        let mut w = self.db.begin_write().await?;
        let copied = copy_in(self, &mut w, from, uids, to).await?;
        if !copied.is_empty() {
            let (_, _, modseq) = bump(&mut w, from, false).await?;
            for c in &copied {
                let hash: Option<String> = sqlx::query_scalar(
                    "DELETE FROM mailbox_messages WHERE mailbox_id = $1 AND uid = $2 RETURNING blob_hash",
                )
                .bind(from)
                .bind(i64::from(c.source))
                .fetch_optional(&mut *w.tx)
                .await?;
                if let Some(hash) = &hash {
                    blobs::release(&mut w.tx, hash, 1).await?;
                }
                record_expunged(&mut w, from, c.source, modseq, hash.as_deref()).await?;
            }
        }
        w.commit().await?;
        Ok(copied)
    }

    /// Changes the flags of messages; with `unchanged_since`, a message whose MODSEQ is
    /// higher is left alone and reported (RFC 7162 §3.1.3).
    async fn store_flags(
        &self,
        mailbox_id: i64,
        uids: &[u32],
        change: FlagChange,
        flags: &Flags,
        unchanged_since: Option<i64>,
    ) -> Result<FlagUpdate> {
        let mut w = self.db.begin_write().await?;
        let (_, _, modseq) = bump(&mut w, mailbox_id, false).await?;
        let mut update = FlagUpdate {
            modseq,
            ..Default::default()
        };
        for &uid in uids {
            let row = sqlx::query(
                "SELECT flags, modseq FROM mailbox_messages WHERE mailbox_id = $1 AND uid = $2",
            )
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .fetch_optional(&mut *w.tx)
            .await?;
            let Some(row) = row else { continue };
            let old = Flags::parse(&row.try_get::<String, _>("flags")?);
            let current_modseq: i64 = row.try_get("modseq")?;
            if unchanged_since.is_some_and(|limit| current_modseq > limit) {
                update.modified.push(uid);
                continue;
            }
            let new = match change {
                FlagChange::Replace => flags.clone(),
                FlagChange::Add => old.with(flags.iter()),
                FlagChange::Remove => old.without(flags),
            };
            if new == old {
                // nothing changes: MODSEQ stays (RFC 7162 §3.2)
                update.unchanged.push((uid, old, current_modseq));
                continue;
            }
            sqlx::query("UPDATE mailbox_messages SET flags = $1, modseq = $2 WHERE mailbox_id = $3 AND uid = $4")
                .bind(new.as_str())
                .bind(modseq)
                .bind(mailbox_id)
                .bind(i64::from(uid))
                .execute(&mut *w.tx)
                .await?;
            update.changed.push((uid, new));
        }
        w.commit().await?;
        Ok(update)
    }

    /// Entries changed (added or flags changed) after `modseq`.
    async fn changed_since(&self, mailbox_id: i64, modseq: i64) -> Result<Vec<MailboxEntry>> {
        let rows = sqlx::query(
            "SELECT mailbox_id, uid, blob_hash, flags, internal_date, size, modseq, saved_at FROM mailbox_messages \
             WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
        )
        .bind(mailbox_id)
        .bind(modseq)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(crate::mailbox::entry_from_row).collect()
    }

    /// UIDs expunged after `modseq` (QRESYNC VANISHED).
    async fn vanished_since(&self, mailbox_id: i64, modseq: i64) -> Result<Vec<u32>> {
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
        )
        .bind(mailbox_id)
        .bind(modseq)
        .fetch_all(&self.db.pool)
        .await?;
        uids.into_iter().map(to_u32).collect()
    }
}

impl SqlStore {
    /// Refuses when `extra` more bytes would take the mailbox owner over their quota.
    async fn check_quota(&self, w: &mut WriteTx<'_>, user_id: i64, extra: i64) -> Result<()> {
        let row = sqlx::query(
            "SELECT u.quota_bytes AS quota, \
               CAST(COALESCE((SELECT SUM(m.size) FROM mailbox_messages m JOIN mailboxes b ON b.id = m.mailbox_id \
                 WHERE b.user_id = u.id), 0) AS BIGINT) AS used \
             FROM users u WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_one(&mut *w.tx)
        .await?;
        let quota: i64 = row.try_get("quota")?;
        let used: i64 = row.try_get("used")?;
        if quota > 0 && used + extra > quota {
            return Err(StoreError::OverQuota(format!(
                "quota exceeded: {used} of {quota} bytes used, {extra} more requested"
            )));
        }
        Ok(())
    }
}

pub(crate) async fn record_expunged(
    w: &mut WriteTx<'_>,
    mailbox_id: i64,
    uid: u32,
    modseq: i64,
    blob_hash: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO expunged (mailbox_id, uid, modseq, blob_hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq, blob_hash = excluded.blob_hash",
    )
    .bind(mailbox_id)
    .bind(i64::from(uid))
    .bind(modseq)
    .bind(blob_hash)
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}

async fn copy_in(
    store: &SqlStore,
    w: &mut WriteTx<'_>,
    from: i64,
    uids: &[u32],
    to: i64,
) -> Result<Vec<CopiedUid>> {
    let owners: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM mailboxes WHERE id IN ($1, $2)")
        .bind(from)
        .bind(to)
        .fetch_all(&mut *w.tx)
        .await?;
    let same_user = match owners.as_slice() {
        [_] => from == to,
        [a, b] => a == b,
        _ => false,
    };
    if !same_user {
        return Err(StoreError::Invalid(
            "messages can only be copied between one user's folders".into(),
        ));
    }
    let mut sources = Vec::new();
    let mut extra = 0i64;
    for &uid in uids {
        let row = sqlx::query(
            "SELECT blob_hash, prefix, flags, internal_date, size FROM mailbox_messages WHERE mailbox_id = $1 AND uid = $2",
        )
        .bind(from)
        .bind(i64::from(uid))
        .fetch_optional(&mut *w.tx)
        .await?;
        if let Some(row) = row {
            extra += row.try_get::<i64, _>("size")?;
            sources.push((uid, row));
        }
    }
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let user_id = owners[0];
    store.check_quota(w, user_id, extra).await?;
    let mut copied = Vec::with_capacity(sources.len());
    for (source, row) in sources {
        let (_, uid, modseq) = bump(w, to, true).await?;
        let hash: String = row.try_get("blob_hash")?;
        sqlx::query("UPDATE blobs SET refcount = refcount + 1 WHERE hash = $1")
            .bind(&hash)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO mailbox_messages (mailbox_id, uid, blob_hash, prefix, flags, internal_date, size, modseq, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(to)
        .bind(i64::from(uid))
        .bind(&hash)
        .bind(row.try_get::<Vec<u8>, _>("prefix")?)
        .bind(row.try_get::<String, _>("flags")?)
        .bind(row.try_get::<i64, _>("internal_date")?)
        .bind(row.try_get::<i64, _>("size")?)
        .bind(modseq)
        .bind(crate::now())
        .execute(&mut *w.tx)
        .await?;
        copied.push(CopiedUid {
            source,
            target: uid,
        });
    }
    Ok(copied)
}
