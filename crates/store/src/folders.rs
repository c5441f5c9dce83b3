//! Folder management for IMAP — the store's [`Folders`]: create (with the parents the
//! name needs), rename (with children, and the INBOX rule), delete, subscribe. Folder
//! names use `/` as the hierarchy separator. Subscriptions are kept by name, apart from
//! the mailboxes (RFC 9051 §6.3.7): CREATE does not subscribe, DELETE keeps the
//! subscription, a name with no mailbox may be subscribed; RENAME takes them along.
//! A mailbox's METADATA entries (`metadata.rs`) go with it at DELETE.

use async_trait::async_trait;
use sqlx::Row;

use crate::api::{Folders, Mailboxes, Messages};
use crate::blobs;
use crate::error::{Result, StoreError};
use crate::mailbox::bump;
use crate::model::{Mailbox, MailboxChange};
use crate::now;
use crate::sql_store::SqlStore;

/// The hierarchy separator of folder names.
pub const SEPARATOR: char = '/';

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 512
        || name.starts_with(SEPARATOR)
        || name.ends_with(SEPARATOR)
        || name.contains("//")
        || name.chars().any(|c| c.is_control())
    {
        return Err(StoreError::Invalid(format!(
            "{name:?} is not a usable folder name"
        )));
    }
    Ok(())
}

fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

#[async_trait]
impl Folders for SqlStore {
    async fn create_mailbox(
        &self,
        user_id: i64,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<Mailbox> {
        check_name(name)?;
        if is_inbox(name) {
            return Err(StoreError::AlreadyExists(
                "mailbox INBOX already exists".into(),
            ));
        }
        let mut w = self.db.begin_write().await?;
        make_parents(&mut w, user_id, name).await?;
        insert_mailbox(&mut w, user_id, name, special_use).await?;
        folders_changed(&mut w, user_id).await?;
        w.commit().await?;
        self.get_mailbox(user_id, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {name} vanished")))
    }

    /// Renames a folder and its children. Renaming INBOX moves its messages into a new
    /// folder and leaves INBOX empty (RFC 9051 §6.3.6).
    async fn rename_mailbox(&self, user_id: i64, from: &str, to: &str) -> Result<()> {
        check_name(to)?;
        if to.starts_with(&format!("{from}{SEPARATOR}")) {
            return Err(StoreError::Invalid(format!(
                "{from} cannot move under itself ({to})"
            )));
        }
        if is_inbox(to) {
            return Err(StoreError::AlreadyExists(
                "mailbox INBOX already exists".into(),
            ));
        }
        if self.get_mailbox(user_id, to).await?.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "mailbox {to} already exists"
            )));
        }
        let Some(source) = self
            .get_mailbox(user_id, if is_inbox(from) { "INBOX" } else { from })
            .await?
        else {
            return Err(StoreError::NotFound(format!(
                "mailbox {from} does not exist"
            )));
        };
        if is_inbox(from) {
            let target = self.create_mailbox(user_id, to, None).await?;
            let uids: Vec<u32> = self
                .list_messages(source.id)
                .await?
                .iter()
                .map(|e| e.uid)
                .collect();
            self.move_messages(source.id, &uids, target.id).await?;
            return Ok(());
        }
        let mut w = self.db.begin_write().await?;
        let children = sqlx::query(
            "SELECT id, name FROM mailboxes WHERE user_id = $1 AND name LIKE $2 ESCAPE '\\'",
        )
        .bind(user_id)
        .bind(format!(
            "{}{SEPARATOR}%",
            from.replace('%', "\\%").replace('_', "\\_")
        ))
        .fetch_all(&mut *w.tx)
        .await?;
        sqlx::query("UPDATE mailboxes SET name = $1 WHERE id = $2")
            .bind(to)
            .bind(source.id)
            .execute(&mut *w.tx)
            .await?;
        make_parents(&mut w, user_id, to).await?;
        rename_subscription(&mut w, user_id, from, to).await?;
        for child in children {
            let id: i64 = child.try_get("id")?;
            let name: String = child.try_get("name")?;
            if !name.starts_with(&format!("{from}{SEPARATOR}")) {
                continue; // LIKE matched an escaped wildcard the engine did not honour
            }
            let renamed = format!("{to}{}", &name[from.len()..]);
            sqlx::query("UPDATE mailboxes SET name = $1 WHERE id = $2")
                .bind(&renamed)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            rename_subscription(&mut w, user_id, &name, &renamed).await?;
        }
        folders_changed(&mut w, user_id).await?;
        w.commit().await
    }

    /// Deletes a folder and its messages; INBOX cannot be deleted.
    async fn delete_mailbox(&self, user_id: i64, name: &str) -> Result<()> {
        if is_inbox(name) {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let Some(mb) = self.get_mailbox(user_id, name).await? else {
            return Err(StoreError::NotFound(format!(
                "mailbox {name} does not exist"
            )));
        };
        let mut w = self.db.begin_write().await?;
        bump(&mut w, mb.id, false).await?;
        let held = sqlx::query("SELECT blob_hash, COUNT(*) AS n FROM mailbox_messages WHERE mailbox_id = $1 GROUP BY blob_hash")
            .bind(mb.id)
            .fetch_all(&mut *w.tx)
            .await?;
        for sql in [
            "DELETE FROM mailbox_messages WHERE mailbox_id = $1",
            "DELETE FROM expunged WHERE mailbox_id = $1",
            "DELETE FROM metadata WHERE mailbox_id = $1",
            "DELETE FROM mailboxes WHERE id = $1",
        ] {
            sqlx::query(sql).bind(mb.id).execute(&mut *w.tx).await?;
        }
        for row in &held {
            let hash: String = row.try_get("blob_hash")?;
            let n: i64 = row.try_get("n")?;
            blobs::release(&mut w.tx, &hash, n).await?;
        }
        folders_changed(&mut w, user_id).await?;
        w.commit().await
    }

    /// Subscribes or unsubscribes a name, whether a mailbox has it or not.
    async fn set_subscribed(&self, user_id: i64, name: &str, subscribed: bool) -> Result<()> {
        let name = if is_inbox(name) { "INBOX" } else { name };
        if subscribed {
            check_name(name)?;
        }
        let mut w = self.db.begin_write().await?;
        let sql = if subscribed {
            "INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM subscriptions WHERE user_id = $1 AND name = $2"
        };
        sqlx::query(sql)
            .bind(user_id)
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        folders_changed(&mut w, user_id).await?;
        w.commit().await
    }

    async fn subscriptions(&self, user_id: i64) -> Result<Vec<String>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM subscriptions WHERE user_id = $1 ORDER BY name")
                .bind(user_id)
                .fetch_all(&self.db.pool)
                .await?;
        Ok(names)
    }
}

/// Makes folder `name` (and the parents it needs) inside an open transaction: Sieve's
/// `fileinto :create` at delivery. `Invalid` for a name no folder may have, one more
/// than [`MAX_DELIVERY_DEPTH`] levels deep, or a user with [`MAX_DELIVERY_FOLDERS`].
pub(crate) async fn create_in(
    w: &mut crate::engine::WriteTx<'_>,
    user_id: i64,
    name: &str,
) -> Result<()> {
    check_name(name)?;
    if name.matches(SEPARATOR).count() >= MAX_DELIVERY_DEPTH {
        return Err(StoreError::Invalid(format!(
            "{name:?}: folders made at delivery are at most {MAX_DELIVERY_DEPTH} levels deep"
        )));
    }
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailboxes WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *w.tx)
        .await?;
    if held >= MAX_DELIVERY_FOLDERS {
        return Err(StoreError::Invalid(format!(
            "a user with {held} folders gets no more at delivery"
        )));
    }
    make_parents(w, user_id, name).await?;
    insert_mailbox(w, user_id, name, None).await?;
    folders_changed(w, user_id).await
}

/// Levels of a folder made at delivery (`fileinto :create`), whose name a sender may
/// choose through a script's variables: deeper ones are not made.
pub(crate) const MAX_DELIVERY_DEPTH: usize = 8;
/// Folders a user may have for delivery to make one more.
pub(crate) const MAX_DELIVERY_FOLDERS: i64 = 1000;

/// Tells watchers (IMAP NOTIFY) that the user's folders or subscriptions changed: a
/// change of mailbox 0, which no mailbox has (see `MailboxChange`).
async fn folders_changed(w: &mut crate::engine::WriteTx<'_>, user_id: i64) -> Result<()> {
    w.changed(MailboxChange {
        user_id,
        mailbox_id: 0,
    })
    .await
}

/// The parents a name needs, made where missing, as RFC 9051 §6.3.4 asks of CREATE and
/// §6.3.6 of RENAME: `a/b/c` needs `a` and `a/b`. At most 256 (names are 512 octets).
async fn make_parents(w: &mut crate::engine::WriteTx<'_>, user_id: i64, name: &str) -> Result<()> {
    let parents = name
        .match_indices(SEPARATOR)
        .map(|(i, _)| &name[..i])
        .filter(|p| !is_inbox(p));
    for parent in parents {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2")
                .bind(user_id)
                .bind(parent)
                .fetch_optional(&mut *w.tx)
                .await?;
        if exists.is_none() {
            insert_mailbox(w, user_id, parent, None).await?;
        }
    }
    Ok(())
}

/// Adds a mailbox with a new UIDVALIDITY, never one this user had before (not even for a
/// deleted folder).
async fn insert_mailbox(
    w: &mut crate::engine::WriteTx<'_>,
    user_id: i64,
    name: &str,
    special_use: Option<&str>,
) -> Result<()> {
    let uidvalidity: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET last_uidvalidity = CASE WHEN last_uidvalidity + 1 > $1 \
           THEN last_uidvalidity + 1 ELSE $1 END \
         WHERE id = $2 RETURNING last_uidvalidity",
    )
    .bind(now().clamp(1, i64::from(u32::MAX)))
    .bind(user_id)
    .fetch_optional(&mut *w.tx)
    .await?;
    let uidvalidity = uidvalidity
        .ok_or_else(|| StoreError::NotFound(format!("user {user_id} does not exist")))?;
    let inserted = sqlx::query(
        "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity, uidnext, highestmodseq) \
         VALUES ($1, $2, $3, $4, 1, 1)",
    )
    .bind(user_id)
    .bind(name)
    .bind(special_use)
    .bind(uidvalidity)
    .execute(&mut *w.tx)
    .await;
    match inserted {
        Err(e) if StoreError::is_unique_violation(&e) => Err(StoreError::AlreadyExists(format!(
            "mailbox {name} already exists"
        ))),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// A renamed mailbox keeps its subscription under the new name.
async fn rename_subscription(
    w: &mut crate::engine::WriteTx<'_>,
    user_id: i64,
    from: &str,
    to: &str,
) -> Result<()> {
    let done = sqlx::query("DELETE FROM subscriptions WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(from)
        .execute(&mut *w.tx)
        .await?;
    if done.rows_affected() > 0 {
        sqlx::query(
            "INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(to)
        .execute(&mut *w.tx)
        .await?;
    }
    Ok(())
}
