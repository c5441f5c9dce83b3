//! DKIM signing keys of our domains: kept per domain and selector, active (signing new
//! mail) or retired (listed until removed).

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::address::normalize_domain;
use crate::api::DkimKeys;
use crate::error::{Result, StoreError};
use crate::model::{DkimKey, NewDkimKey};
use crate::sql_store::SqlStore;

const COLUMNS: &str =
    "domain, selector, algorithm, private_key, public_key, created_at, active FROM dkim_keys";

fn from_row(row: &sqlx::any::AnyRow) -> Result<DkimKey> {
    Ok(DkimKey {
        domain: row.try_get("domain")?,
        selector: row.try_get("selector")?,
        algorithm: row.try_get("algorithm")?,
        private_key: row.try_get("private_key")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

fn no_such_key(domain: &str, selector: &str) -> StoreError {
    StoreError::NotFound(format!("{domain} has no DKIM key with selector {selector}"))
}

/// A selector as DNS takes it: one label of letters, digits and '-', at most 63 octets.
fn check_selector(selector: &str) -> Result<()> {
    let ok = !selector.is_empty()
        && selector.len() <= 63
        && selector
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{selector:?} is not a DKIM selector: one DNS label of letters, digits and '-' (at most 63)"
        )))
    }
}

#[async_trait]
impl DkimKeys for SqlStore {
    async fn add_dkim_key(&self, key: NewDkimKey) -> Result<DkimKey> {
        let domain = normalize_domain(&key.domain)?;
        let selector = key.selector.to_ascii_lowercase();
        check_selector(&selector)?;
        let mut w = self.db.begin_write().await?;
        let known: Option<String> = sqlx::query_scalar("SELECT name FROM domains WHERE name = $1")
            .bind(&domain)
            .fetch_optional(&mut *w.tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::DomainNotServed(domain));
        }
        let taken: Option<String> = sqlx::query_scalar(
            "SELECT selector FROM dkim_keys WHERE domain = $1 AND selector = $2",
        )
        .bind(&domain)
        .bind(&selector)
        .fetch_optional(&mut *w.tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "{domain} already has a DKIM key with selector {selector}"
            )));
        }
        let created_at = crate::now();
        sqlx::query(
            "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created_at, active) \
             VALUES ($1, $2, $3, $4, $5, $6, 1)",
        )
        .bind(&domain)
        .bind(&selector)
        .bind(&key.algorithm)
        .bind(&key.private_key)
        .bind(&key.public_key)
        .bind(created_at)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(DkimKey {
            domain,
            selector,
            algorithm: key.algorithm,
            private_key: key.private_key,
            public_key: key.public_key,
            created_at,
            active: true,
        })
    }

    async fn list_dkim_keys(&self, domain: Option<&str>) -> Result<Vec<DkimKey>> {
        let rows = match domain {
            Some(d) => {
                let d = normalize_domain(d)?;
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} WHERE domain = $1 ORDER BY created_at, selector"
                )))
                .bind(d)
                .fetch_all(&self.db.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} ORDER BY domain, created_at, selector"
                )))
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    async fn set_dkim_key_active(&self, domain: &str, selector: &str, active: bool) -> Result<()> {
        let domain = normalize_domain(domain)?;
        let mut w = self.db.begin_write().await?;
        let done =
            sqlx::query("UPDATE dkim_keys SET active = $1 WHERE domain = $2 AND selector = $3")
                .bind(i64::from(active))
                .bind(&domain)
                .bind(selector.to_ascii_lowercase())
                .execute(&mut *w.tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(no_such_key(&domain, selector));
        }
        w.commit().await
    }

    async fn remove_dkim_key(&self, domain: &str, selector: &str) -> Result<()> {
        let domain = normalize_domain(domain)?;
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2")
            .bind(&domain)
            .bind(selector.to_ascii_lowercase())
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(no_such_key(&domain, selector));
        }
        w.commit().await
    }
}
