//! Users' Sieve scripts — the store's [`SieveScripts`]: by name, at most one active (a
//! partial unique index, migration 0020), the per-user bounds checked inside the writing
//! transaction with the user's row locked on PostgreSQL (so that two uploads cannot pass
//! them together); and Sieve's memory between messages (`sieve_memory`: vacation replies
//! sent, duplicate ids seen), each row until it expires, expired rows of a user removed
//! when a new one is written.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::api::SieveScripts;
use crate::engine::WriteTx;
use crate::error::{Result, StoreError};
use crate::model::SieveScript;
use crate::now;
use crate::sql_store::SqlStore;

/// Most active scripts fetched in one query (delivery asks for a message's recipients).
const ACTIVE_BATCH: usize = 500;

impl SqlStore {
    /// Locks the user's row (PostgreSQL; SQLite's writer lock does it already) and says
    /// whether a script of `name` and `size` octets fits the user's bounds.
    async fn fits(
        &self,
        w: &mut WriteTx<'_>,
        user_id: i64,
        name: &str,
        size: usize,
        max_scripts: usize,
        max_bytes: usize,
    ) -> Result<bool> {
        // only a fixed clause is formatted in
        let user: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM users WHERE id = $1 {}",
            self.db.for_update()
        )))
        .bind(user_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        if user.is_none() {
            return Err(StoreError::NotFound(format!(
                "user {user_id} does not exist"
            )));
        }
        let rows = sqlx::query(
            "SELECT name, OCTET_LENGTH(content) AS size FROM sieve_scripts WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut count = 1usize;
        let mut bytes = size;
        for row in &rows {
            let other: String = row.try_get("name")?;
            if other == name {
                continue;
            }
            let n: i64 = row.try_get("size")?;
            count += 1;
            bytes = bytes.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Ok(count <= max_scripts && bytes <= max_bytes)
    }
}

/// Whether the user has a script of that name (`Some`), and its active mark (non-zero).
async fn script_state(w: &mut WriteTx<'_>, user_id: i64, name: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT active FROM sieve_scripts WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await?,
    )
}

#[async_trait]
impl SieveScripts for SqlStore {
    async fn sieve_scripts(&self, user_id: i64) -> Result<Vec<SieveScript>> {
        let rows = sqlx::query(
            "SELECT name, active, OCTET_LENGTH(content) AS size, updated_at, last_error \
             FROM sieve_scripts WHERE user_id = $1 ORDER BY name",
        )
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let active: i64 = r.try_get("active")?;
                let size: i64 = r.try_get("size")?;
                Ok(SieveScript {
                    name: r.try_get("name")?,
                    active: active != 0,
                    size: usize::try_from(size).unwrap_or(0),
                    updated_at: r.try_get("updated_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn sieve_script(&self, user_id: i64, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar(
                "SELECT content FROM sieve_scripts WHERE user_id = $1 AND name = $2",
            )
            .bind(user_id)
            .bind(name)
            .fetch_optional(&self.db.pool)
            .await?,
        )
    }

    async fn put_sieve_script(
        &self,
        user_id: i64,
        name: &str,
        text: &str,
        max_scripts: usize,
        max_bytes: usize,
    ) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        if !self
            .fits(&mut w, user_id, name, text.len(), max_scripts, max_bytes)
            .await?
        {
            return Err(StoreError::OverQuota(format!(
                "the script does not fit: at most {max_scripts} scripts of {max_bytes} octets in all"
            )));
        }
        sqlx::query(
            "INSERT INTO sieve_scripts (user_id, name, content, active, updated_at) VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (user_id, name) DO UPDATE SET content = excluded.content, \
             updated_at = excluded.updated_at, last_error = NULL",
        )
        .bind(user_id)
        .bind(name)
        .bind(text)
        .bind(now())
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    async fn sieve_space(
        &self,
        user_id: i64,
        name: &str,
        size: usize,
        max_scripts: usize,
        max_bytes: usize,
    ) -> Result<bool> {
        let mut w = self.db.begin_write().await?;
        let fits = self
            .fits(&mut w, user_id, name, size, max_scripts, max_bytes)
            .await?;
        w.commit().await?;
        Ok(fits)
    }

    async fn delete_sieve_script(&self, user_id: i64, name: &str) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        match script_state(&mut w, user_id, name).await? {
            None => Err(StoreError::NotFound(format!("no script named {name:?}"))),
            Some(a) if a != 0 => Err(StoreError::Conflict(format!(
                "{name:?} is the active script: activate another (or none) first"
            ))),
            Some(_) => {
                sqlx::query("DELETE FROM sieve_scripts WHERE user_id = $1 AND name = $2")
                    .bind(user_id)
                    .bind(name)
                    .execute(&mut *w.tx)
                    .await?;
                w.commit().await
            }
        }
    }

    async fn rename_sieve_script(&self, user_id: i64, from: &str, to: &str) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        if script_state(&mut w, user_id, from).await?.is_none() {
            return Err(StoreError::NotFound(format!("no script named {from:?}")));
        }
        if from != to && script_state(&mut w, user_id, to).await?.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "a script named {to:?} already exists"
            )));
        }
        sqlx::query("UPDATE sieve_scripts SET name = $3 WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(from)
            .bind(to)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    async fn activate_sieve_script(&self, user_id: i64, name: Option<&str>) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        if let Some(name) = name
            && script_state(&mut w, user_id, name).await?.is_none()
        {
            return Err(StoreError::NotFound(format!("no script named {name:?}")));
        }
        sqlx::query("UPDATE sieve_scripts SET active = 0 WHERE user_id = $1 AND active = 1")
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        if let Some(name) = name {
            sqlx::query(
                "UPDATE sieve_scripts SET active = 1, last_error = NULL WHERE user_id = $1 AND name = $2",
            )
            .bind(user_id)
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    async fn active_sieve_scripts(&self, user_ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
        let mut found = Vec::new();
        for ids in user_ids.chunks(ACTIVE_BATCH) {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            // only integers are formatted in
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT user_id, name, content FROM sieve_scripts \
                 WHERE active = 1 AND user_id IN ({})",
                list.join(",")
            )))
            .fetch_all(&self.db.pool)
            .await?;
            for r in rows {
                found.push((
                    r.try_get("user_id")?,
                    r.try_get("name")?,
                    r.try_get("content")?,
                ));
            }
        }
        Ok(found)
    }

    async fn set_sieve_error(&self, user_id: i64, name: &str, error: Option<&str>) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        sqlx::query("UPDATE sieve_scripts SET last_error = $3 WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .bind(error)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    async fn sieve_remembers(&self, user_id: i64, kind: &str, key: &str, now: i64) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT expires_at FROM sieve_memory WHERE user_id = $1 AND kind = $2 AND key = $3",
        )
        .bind(user_id)
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(found.is_some_and(|until| until > now))
    }

    async fn sieve_remember_once(
        &self,
        user_id: i64,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        let mut w = self.db.begin_write().await?;
        let n = sqlx::query(
            "INSERT INTO sieve_memory (user_id, kind, key, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind, key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE sieve_memory.expires_at <= $5",
        )
        .bind(user_id)
        .bind(kind)
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    async fn sieve_remember(
        &self,
        user_id: i64,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        sqlx::query("DELETE FROM sieve_memory WHERE user_id = $1 AND expires_at <= $2")
            .bind(user_id)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO sieve_memory (user_id, kind, key, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind, key) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(user_id)
        .bind(kind)
        .bind(key)
        .bind(expires_at)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }
}
