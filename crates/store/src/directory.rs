//! The directory: domains, users, logins and aliases — the store's [`Directory`] — as SQL.
//! Resolving an address is `resolve.rs`'s.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::address::{domain_of, normalize, normalize_domain};
use crate::api::Directory;
use crate::error::{Result, StoreError};
use crate::model::{
    Alias, Domain, NewUser, Resolution, ScramDecoy, ScramSecrets, User, UserChanges,
};
use crate::sql_store::SqlStore;
use crate::{now, password, resolve, scram_keys};

/// Folders every new user gets: (name, SPECIAL-USE role).
pub const DEFAULT_FOLDERS: [(&str, Option<&str>); 6] = [
    ("INBOX", None),
    ("Sent", Some("Sent")),
    ("Drafts", Some("Drafts")),
    ("Junk", Some("Junk")),
    ("Trash", Some("Trash")),
    ("Archive", Some("Archive")),
];

const USER_COLUMNS: &str = "id, address, domain, quota_bytes, pop3_keep, created_at, admin";
/// The same columns from a query where `users` is aliased `u`.
pub(crate) const USER_COLUMNS_U: &str =
    "u.id, u.address, u.domain, u.quota_bytes, u.pop3_keep, u.created_at, u.admin";

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        address: row.try_get("address")?,
        domain: row.try_get("domain")?,
        quota_bytes: row.try_get("quota_bytes")?,
        pop3_keep: row.try_get::<i64, _>("pop3_keep")? != 0,
        created_at: row.try_get("created_at")?,
        admin: row.try_get::<i64, _>("admin")? != 0,
    })
}

#[async_trait]
impl Directory for SqlStore {
    async fn add_domain(&self, name: &str) -> Result<Domain> {
        let name = normalize_domain(name)?;
        let created_at = now();
        let mut w = self.db.begin_write().await?;
        let inserted = sqlx::query("INSERT INTO domains (name, created_at) VALUES ($1, $2)")
            .bind(&name)
            .bind(created_at)
            .execute(&mut *w.tx)
            .await;
        match inserted {
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists(format!(
                    "domain {name} already exists"
                )));
            }
            other => other?,
        };
        w.commit().await?;
        Ok(Domain {
            name,
            created_at,
            tracking: false,
        })
    }

    async fn remove_domain(&self, name: &str) -> Result<()> {
        let name = normalize_domain(name)?;
        let mut w = self.db.begin_write().await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE domain = $1")
            .bind(&name)
            .fetch_one(&mut *w.tx)
            .await?;
        let aliases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aliases WHERE domain = $1")
            .bind(&name)
            .fetch_one(&mut *w.tx)
            .await?;
        if users > 0 || aliases > 0 {
            return Err(StoreError::Conflict(format!(
                "domain {name} still has {users} user(s) and {aliases} alias(es): remove them first \
                 (`estafeta user list {name}`, `estafeta alias list {name}`)"
            )));
        }
        let done = sqlx::query("DELETE FROM domains WHERE name = $1")
            .bind(&name)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "domain {name} does not exist"
            )));
        }
        w.commit().await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let rows = sqlx::query("SELECT name, created_at, tracking FROM domains ORDER BY name")
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Domain {
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    tracking: r.try_get::<i64, _>("tracking")? != 0,
                })
            })
            .collect()
    }

    async fn is_local_domain(&self, name: &str) -> Result<bool> {
        let Ok(name) = normalize_domain(name) else {
            return Ok(false);
        };
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domains WHERE name = $1")
            .bind(&name)
            .fetch_one(&self.db.pool)
            .await?;
        Ok(n > 0)
    }

    async fn add_user(&self, new: NewUser) -> Result<User> {
        let address = normalize(&new.address)?;
        if new.password.is_empty() {
            return Err(StoreError::Invalid("the password may not be empty".into()));
        }
        if new.quota_bytes < 0 {
            return Err(StoreError::Invalid("the quota may not be negative".into()));
        }
        let hash = password::hash(&new.password).await?;
        let scram = scram_keys::format(&scram_keys::derive_new(&new.password).await);
        self.insert_user(&address, &new, &hash, Some(&scram)).await
    }

    async fn add_user_with_hash(&self, new: NewUser, hash: &str) -> Result<User> {
        let address = normalize(&new.address)?;
        if new.quota_bytes < 0 {
            return Err(StoreError::Invalid("the quota may not be negative".into()));
        }
        if password::kind(hash).is_none() {
            return Err(StoreError::Invalid(format!(
                "the password hash of {address} is not one estafeta can check (SHA512-CRYPT, \
                 SHA256-CRYPT, BLF-CRYPT or ARGON2, within their cost bounds): set a password \
                 with `estafeta user passwd {address}`"
            )));
        }
        self.insert_user(&address, &new, hash, None).await
    }
    async fn remove_user(&self, address: &str) -> Result<()> {
        let address = normalize(address)?;
        let mut w = self.db.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE address = $1")
            .bind(&address)
            .fetch_optional(&mut *w.tx)
            .await?;
        let Some(id) = id else {
            return Err(StoreError::NotFound(format!(
                "user {address} does not exist"
            )));
        };
        let held = sqlx::query(
            "SELECT blob_hash, COUNT(*) AS n FROM mailbox_messages \
             WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = $1) GROUP BY blob_hash",
        )
        .bind(id)
        .fetch_all(&mut *w.tx)
        .await?;
        for sql in [
            "DELETE FROM mailbox_messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = $1)",
            "DELETE FROM expunged WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = $1)",
            "DELETE FROM mailboxes WHERE user_id = $1",
            "DELETE FROM subscriptions WHERE user_id = $1",
            "DELETE FROM metadata WHERE user_id = $1",
            "DELETE FROM sieve_scripts WHERE user_id = $1",
            "DELETE FROM sieve_memory WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *w.tx).await?;
        }
        for row in &held {
            let hash: String = row.try_get("blob_hash")?;
            let n: i64 = row.try_get("n")?;
            crate::blobs::release(&mut w.tx, &hash, n).await?;
        }
        w.commit().await
    }

    async fn set_password(&self, address: &str, password: &str) -> Result<()> {
        let address = normalize(address)?;
        if password.is_empty() {
            return Err(StoreError::Invalid("the password may not be empty".into()));
        }
        let hash = password::hash(password).await?;
        let scram = scram_keys::format(&scram_keys::derive_new(password).await);
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, scram_sha256 = $2 WHERE address = $3",
        )
        .bind(&hash)
        .bind(&scram)
        .bind(&address)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "user {address} does not exist"
            )));
        }
        w.commit().await
    }

    async fn update_user(&self, address: &str, changes: UserChanges) -> Result<User> {
        let address = normalize(address)?;
        if changes.quota_bytes.is_some_and(|q| q < 0) {
            return Err(StoreError::Invalid("the quota may not be negative".into()));
        }
        let mut w = self.db.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE users SET quota_bytes = COALESCE($1, quota_bytes), pop3_keep = COALESCE($2, pop3_keep) \
             WHERE address = $3 RETURNING {USER_COLUMNS}"
        )))
        .bind(changes.quota_bytes)
        .bind(changes.pop3_keep.map(i64::from))
        .bind(&address)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!(
                "user {address} does not exist"
            )));
        };
        let user = user_from_row(&row)?;
        w.commit().await?;
        Ok(user)
    }

    async fn set_admin(&self, address: &str, admin: bool) -> Result<()> {
        let address = normalize(address)?;
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE users SET admin = $1 WHERE address = $2")
            .bind(i64::from(admin))
            .bind(&address)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "user {address} does not exist"
            )));
        }
        w.commit().await
    }

    async fn get_user(&self, address: &str) -> Result<Option<User>> {
        let Ok(address) = normalize(address) else {
            return Ok(None);
        };
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE address = $1"
        )))
        .bind(&address)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, domain: Option<&str>) -> Result<Vec<User>> {
        let rows = match domain {
            Some(d) => {
                let d = normalize_domain(d)?;
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE domain = $1 ORDER BY address"
                )))
                .bind(d)
                .fetch_all(&self.db.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users ORDER BY domain, address"
                )))
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        rows.iter().map(user_from_row).collect()
    }

    async fn authenticate(&self, address: &str, password: &str) -> Result<Option<User>> {
        let row = match normalize(address) {
            Ok(a) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS}, password_hash, scram_sha256 FROM users WHERE address = $1"
            )))
            .bind(a)
            .fetch_optional(&self.db.pool)
            .await?,
            Err(_) => None,
        };
        match row {
            Some(row) => {
                let hash: String = row.try_get("password_hash")?;
                if password::verify_cached(password, &hash).await {
                    let user = user_from_row(&row)?;
                    let scram: Option<String> = row.try_get("scram_sha256")?;
                    if password::needs_rehash(&hash) {
                        // an imported hash (or an older cost): ours from now on, with
                        // the SCRAM keys it could not give
                        self.set_password(&user.address, password).await?;
                        tracing::info!(user = %user.address, "password hash replaced by argon2id at login");
                    } else if scram.as_deref().and_then(scram_keys::parse).is_none() {
                        self.add_scram_keys(&user, &hash, password).await?;
                    }
                    Ok(Some(user))
                } else {
                    Ok(None)
                }
            }
            None => {
                // Spend the same time as a real check so that timing does not reveal users.
                let _ = password::verify(password, &password::decoy().await).await;
                Ok(None)
            }
        }
    }

    /// What a SCRAM login by `name` is checked against (see [`ScramSecrets`]).
    async fn srs_secret(&self) -> Result<Vec<u8>> {
        self.server_secret("srs", &self.db.srs_secret).await
    }

    async fn web_secret(&self) -> Result<Vec<u8>> {
        self.server_secret("web", &self.db.web_secret).await
    }

    async fn scram_secrets(&self, name: &str) -> Result<ScramSecrets> {
        let row = match normalize(name) {
            Ok(a) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS}, scram_sha256 FROM users WHERE address = $1"
                )))
                .bind(a)
                .fetch_optional(&self.db.pool)
                .await?
            }
            Err(_) => None,
        };
        let why = match row {
            Some(row) => {
                let scram: Option<String> = row.try_get("scram_sha256")?;
                match scram.as_deref().and_then(scram_keys::parse) {
                    Some(keys) => {
                        return Ok(ScramSecrets::Stored {
                            user: user_from_row(&row)?,
                            keys,
                        });
                    }
                    None => ScramDecoy::NoKeys,
                }
            }
            None => ScramDecoy::UnknownUser,
        };
        let secret = self
            .server_secret("scram-decoy", &self.db.scram_secret)
            .await?;
        Ok(ScramSecrets::Decoy {
            keys: scram_keys::decoy(&secret, name),
            why,
        })
    }

    async fn add_alias(&self, address: &str, targets: &[String]) -> Result<()> {
        let (address, domain) = alias_key(address)?;
        self.require_domain(&domain).await?;
        if targets.is_empty() {
            return Err(StoreError::Invalid(format!(
                "alias {address} needs at least one target address"
            )));
        }
        let targets = targets
            .iter()
            .map(|t| normalize(t))
            .collect::<Result<Vec<_>>>()?;
        let mut w = self.db.begin_write().await?;
        for target in &targets {
            if *target == address {
                return Err(StoreError::Invalid(format!(
                    "alias {address} may not point to itself"
                )));
            }
            let inserted =
                sqlx::query("INSERT INTO aliases (address, domain, target) VALUES ($1, $2, $3)")
                    .bind(&address)
                    .bind(&domain)
                    .bind(target)
                    .execute(&mut *w.tx)
                    .await;
            match inserted {
                Err(e) if StoreError::is_unique_violation(&e) => {
                    return Err(StoreError::AlreadyExists(format!(
                        "alias {address} → {target} already exists"
                    )));
                }
                other => other?,
            };
        }
        w.commit().await
    }

    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<()> {
        let (address, _) = alias_key(address)?;
        let mut w = self.db.begin_write().await?;
        let done = match target {
            Some(t) => {
                let t = normalize(t)?;
                sqlx::query("DELETE FROM aliases WHERE address = $1 AND target = $2")
                    .bind(&address)
                    .bind(&t)
                    .execute(&mut *w.tx)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM aliases WHERE address = $1")
                    .bind(&address)
                    .execute(&mut *w.tx)
                    .await?
            }
        };
        if done.rows_affected() == 0 {
            let what = match target {
                Some(t) => format!("alias {address} → {t} does not exist"),
                None => format!("alias {address} does not exist"),
            };
            return Err(StoreError::NotFound(what));
        }
        w.commit().await
    }

    async fn list_aliases(&self, domain: Option<&str>) -> Result<Vec<Alias>> {
        let rows = match domain {
            Some(d) => sqlx::query(
                "SELECT address, target FROM aliases WHERE domain = $1 ORDER BY address, target",
            )
            .bind(normalize_domain(d)?)
            .fetch_all(&self.db.pool)
            .await?,
            None => {
                sqlx::query("SELECT address, target FROM aliases ORDER BY domain, address, target")
                    .fetch_all(&self.db.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(Alias {
                    address: r.try_get("address")?,
                    target: r.try_get("target")?,
                })
            })
            .collect()
    }

    async fn resolve(&self, address: &str) -> Result<Resolution> {
        resolve::resolve(self, address).await
    }
}

/// A per-domain on/off setting kept in the `domains` row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DomainSwitch {
    SuppressionEnforced,
    Tracking,
}

impl SqlStore {
    /// Sets one of a domain's switches; `NotFound` for a domain not served here.
    pub(crate) async fn set_domain_switch(
        &self,
        switch: DomainSwitch,
        domain: &str,
        on: bool,
    ) -> Result<()> {
        let domain = normalize_domain(domain)?;
        let sql = match switch {
            DomainSwitch::SuppressionEnforced => {
                "UPDATE domains SET suppression_enforced = $1 WHERE name = $2"
            }
            DomainSwitch::Tracking => "UPDATE domains SET tracking = $1 WHERE name = $2",
        };
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query(sql)
            .bind(i64::from(on))
            .bind(&domain)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "domain {domain} does not exist"
            )));
        }
        w.commit().await
    }

    async fn require_domain(&self, domain: &str) -> Result<()> {
        if self.is_local_domain(domain).await? {
            Ok(())
        } else {
            Err(StoreError::DomainNotServed(domain.to_string()))
        }
    }

    /// Stores SCRAM keys for a user who has none, from the password that just matched
    /// `hash` — unless the password changed meanwhile.
    async fn add_scram_keys(&self, user: &User, hash: &str, password: &str) -> Result<()> {
        let scram = scram_keys::format(&scram_keys::derive_new(password).await);
        let mut w = self.db.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET scram_sha256 = $1 WHERE id = $2 AND password_hash = $3")
                .bind(&scram)
                .bind(user.id)
                .bind(hash)
                .execute(&mut *w.tx)
                .await?;
        w.commit().await?;
        if done.rows_affected() == 1 {
            tracing::info!(user = %user.address, "SCRAM-SHA-256 keys stored at login");
        }
        Ok(())
    }

    /// The secret called `name` (decoy salts, SRS): made once, kept in the database so
    /// that every node and every restart uses the same, read once per process (`cell`).
    async fn server_secret(
        &self,
        name: &str,
        cell: &tokio::sync::OnceCell<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        cell.get_or_try_init(|| async {
            let fresh = hex::encode(rand::random::<[u8; 32]>());
            let mut w = self.db.begin_write().await?;
            sqlx::query(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&fresh)
            .execute(&mut *w.tx)
            .await?;
            let value: String =
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *w.tx)
                    .await?;
            w.commit().await?;
            Ok(value.into_bytes())
        })
        .await
        .cloned()
    }

    /// Targets of an alias address (exact match), empty when there is no such alias.
    pub(crate) async fn alias_targets(&self, address: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT target FROM aliases WHERE address = $1 ORDER BY target")
                .bind(address)
                .fetch_all(&self.db.pool)
                .await?,
        )
    }
}

/// An alias address (`name@domain`, or `@domain` for the catch-all) and its domain.
fn alias_key(address: &str) -> Result<(String, String)> {
    let trimmed = address.trim();
    if let Some(domain) = trimmed.strip_prefix('@') {
        let domain = normalize_domain(domain)?;
        Ok((format!("@{domain}"), domain))
    } else {
        let a = normalize(trimmed)?;
        let d = domain_of(&a).to_string();
        Ok((a, d))
    }
}

impl SqlStore {
    /// The user's row, default folders and subscriptions, in one transaction.
    async fn insert_user(
        &self,
        address: &str,
        new: &NewUser,
        hash: &str,
        scram: Option<&str>,
    ) -> Result<User> {
        let domain = domain_of(address).to_string();
        self.require_domain(&domain).await?;
        let created_at = now();
        let mut w = self.db.begin_write().await?;
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO users (address, domain, password_hash, scram_sha256, quota_bytes, pop3_keep, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        )))
        .bind(address)
        .bind(&domain)
        .bind(hash)
        .bind(scram)
        .bind(new.quota_bytes)
        .bind(i64::from(new.pop3_keep))
        .bind(created_at)
        .fetch_one(&mut *w.tx)
        .await;
        let row = match inserted {
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists(format!(
                    "user {address} already exists"
                )));
            }
            other => other?,
        };
        let user = user_from_row(&row)?;
        let uidvalidity = created_at.clamp(1, i64::from(u32::MAX));
        // the default folders, subscribed (clients that show only subscribed ones see them)
        for (name, role) in DEFAULT_FOLDERS {
            sqlx::query(
                "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity, uidnext, highestmodseq) \
                 VALUES ($1, $2, $3, $4, 1, 1)",
            )
            .bind(user.id)
            .bind(name)
            .bind(role)
            .bind(uidvalidity)
            .execute(&mut *w.tx)
            .await?;
            sqlx::query("INSERT INTO subscriptions (user_id, name) VALUES ($1, $2)")
                .bind(user.id)
                .bind(name)
                .execute(&mut *w.tx)
                .await?;
        }
        sqlx::query("UPDATE users SET last_uidvalidity = $1 WHERE id = $2")
            .bind(uidvalidity)
            .bind(user.id)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(user)
    }
}
