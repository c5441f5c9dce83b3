//! Per-domain suppression lists: remote addresses that hard-bounced mail sent by one of
//! our domains' users, and the per-domain switch that makes submission refuse them.

use async_trait::async_trait;
use sqlx::Row;

use crate::address::{normalize, normalize_domain};
use crate::api::Suppressions;
use crate::directory::DomainSwitch;
use crate::error::{Result, StoreError};
use crate::model::{NewSuppression, Suppression};
use crate::sql_store::SqlStore;

fn from_row(row: &sqlx::any::AnyRow) -> Result<Suppression> {
    Ok(Suppression {
        domain: row.try_get("domain")?,
        address: row.try_get("address")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        enforced: row.try_get::<i64, _>("suppression_enforced")? != 0,
    })
}

const COLUMNS: &str = "s.domain, s.address, s.reason, s.created_at, d.suppression_enforced \
     FROM suppressions s JOIN domains d ON d.name = s.domain";

#[async_trait]
impl Suppressions for SqlStore {
    /// Records (or refreshes) every entry in one transaction: all of them or none (an
    /// unknown domain or a malformed address refuses the lot).
    async fn add_suppressions(&self, entries: &[NewSuppression]) -> Result<()> {
        let mut clean = Vec::with_capacity(entries.len());
        for e in entries {
            clean.push((
                normalize_domain(&e.domain)?,
                normalize(&e.address)?,
                &e.reason,
            ));
        }
        let mut w = self.db.begin_write().await?;
        let at = crate::now();
        for (domain, address, reason) in &clean {
            let known: Option<String> =
                sqlx::query_scalar("SELECT name FROM domains WHERE name = $1")
                    .bind(domain)
                    .fetch_optional(&mut *w.tx)
                    .await?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!(
                    "domain {domain} does not exist"
                )));
            }
            sqlx::query(
                "INSERT INTO suppressions (domain, address, reason, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (domain, address) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at",
            )
            .bind(domain)
            .bind(address)
            .bind(reason.as_str())
            .bind(at)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    async fn remove_suppression(&self, domain: &str, address: &str) -> Result<()> {
        let domain = normalize_domain(domain)?;
        let address = normalize(address)?;
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM suppressions WHERE domain = $1 AND address = $2")
            .bind(&domain)
            .bind(&address)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "{address} is not on the suppression list of {domain}"
            )));
        }
        w.commit().await
    }

    async fn list_suppressions(&self, domain: Option<&str>) -> Result<Vec<Suppression>> {
        let rows = match domain {
            Some(d) => {
                let d = normalize_domain(d)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} WHERE s.domain = $1 ORDER BY s.domain, s.address"
                )))
                .bind(d)
                .fetch_all(&self.db.pool)
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} ORDER BY s.domain, s.address"
                )))
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    async fn set_suppression_enforced(&self, domain: &str, enforced: bool) -> Result<()> {
        self.set_domain_switch(DomainSwitch::SuppressionEnforced, domain, enforced)
            .await
    }

    /// The entry that makes `domain`'s senders unable to write to `address`: on the list,
    /// with the domain's enforcement switched on.
    async fn enforced_suppression(
        &self,
        domain: &str,
        address: &str,
    ) -> Result<Option<Suppression>> {
        let (Ok(domain), Ok(address)) = (normalize_domain(domain), normalize(address)) else {
            return Ok(None);
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE s.domain = $1 AND s.address = $2 AND d.suppression_enforced = 1"
        )))
        .bind(domain)
        .bind(address)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}
