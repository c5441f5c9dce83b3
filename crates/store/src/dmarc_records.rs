//! Counts of DMARC outcomes for aggregate reports (RFC 7489 §7.2): added to as messages
//! from outside are checked, taken whole when a period's reports are built.

use async_trait::async_trait;
use sqlx::Row;

use crate::api::DmarcRecords;
use crate::error::Result;
use crate::model::DmarcRecord;
use crate::sql_store::SqlStore;

#[async_trait]
impl DmarcRecords for SqlStore {
    async fn add_dmarc_records(&self, records: &[DmarcRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut w = self.db.begin_write().await?;
        for r in records {
            sqlx::query(
                "INSERT INTO dmarc_records (period_start, period_end, domain, rua, policy, record, count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (period_start, domain, rua, policy, record) \
                 DO UPDATE SET count = dmarc_records.count + excluded.count",
            )
            .bind(r.period_start)
            .bind(r.period_end)
            .bind(&r.domain)
            .bind(&r.rua)
            .bind(&r.policy)
            .bind(&r.record)
            .bind(r.count)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    async fn take_dmarc_records(&self, ended_by: i64) -> Result<Vec<DmarcRecord>> {
        let mut w = self.db.begin_write().await?;
        let rows = sqlx::query(
            "DELETE FROM dmarc_records WHERE period_end <= $1 \
             RETURNING period_start, period_end, domain, rua, policy, record, count",
        )
        .bind(ended_by)
        .fetch_all(&mut *w.tx)
        .await?;
        w.commit().await?;
        let mut taken = rows
            .iter()
            .map(|row| {
                Ok(DmarcRecord {
                    period_start: row.try_get("period_start")?,
                    period_end: row.try_get("period_end")?,
                    domain: row.try_get("domain")?,
                    rua: row.try_get("rua")?,
                    policy: row.try_get("policy")?,
                    record: row.try_get("record")?,
                    count: row.try_get("count")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        taken.sort_by(|a, b| {
            (a.period_start, &a.domain, &a.policy).cmp(&(b.period_start, &b.domain, &b.policy))
        });
        Ok(taken)
    }
}
