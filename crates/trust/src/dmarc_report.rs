//! DMARC aggregate reports (RFC 7489 §7.2), off unless `trust.dmarc_reports`: what the
//! checks of one message found, as a row for the store (`DmarcRecord`, mail-auth's JSON of
//! the published policy and of the result row); where a domain's reports may go (its own
//! addresses, and others only where they consent with a
//! `<domain>._report._dmarc.<their domain>` record, §7.1); and the report built from a
//! period's rows by mail-auth (gzipped XML in a message). At most [`MAX_RUA`] addresses
//! per domain and [`MAX_ROWS`] rows per report are used.

use estafeta_store::DmarcRecord;
use hickory_resolver::TokioResolver;
use mail_auth::report::{ActionDisposition, PolicyPublished, Record, Report};

/// Report addresses of one domain used at most.
pub const MAX_RUA: usize = 5;
/// Rows in one report at most (the largest counts).
pub const MAX_ROWS: usize = 10_000;

/// What the checks of one message found, for a domain that asks for reports.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub domain: String,
    /// `rua` addresses (without `mailto:`), as published.
    pub rua: Vec<String>,
    pub policy: PolicyPublished,
    pub record: Record,
}

/// What was done with the message, in the report's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Delivered,
    Junk,
    Refused,
}

/// The store's row for `evidence`, in the period (of `period` seconds) holding `now`.
pub fn row(evidence: &Evidence, done: Done, period: i64, now: i64) -> Option<DmarcRecord> {
    let record = evidence
        .record
        .clone()
        .with_count(0)
        .with_action_disposition(match done {
            Done::Delivered => ActionDisposition::None,
            Done::Junk => ActionDisposition::Quarantine,
            Done::Refused => ActionDisposition::Reject,
        });
    let start = now / period * period;
    Some(DmarcRecord {
        period_start: start,
        period_end: start + period,
        domain: evidence.domain.clone(),
        rua: evidence.rua.join("\n"),
        policy: serde_json::to_string(&evidence.policy).ok()?,
        record: serde_json::to_string(&record).ok()?,
        count: 1,
    })
}

/// The addresses of `rua` that may get `domain`'s reports: its own (and its
/// subdomains'), and another domain's where that domain publishes
/// `<domain>._report._dmarc.<other>` with `v=DMARC1`. Addresses that are not plain
/// `local@domain` are dropped.
pub async fn authorized(resolver: &TokioResolver, domain: &str, rua: &[&str]) -> Vec<String> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut kept = Vec::new();
    for address in rua.iter().take(MAX_RUA) {
        if !crate::tls_report::plain_address(address) {
            continue;
        }
        let Some((_, theirs)) = address.rsplit_once('@') else {
            continue;
        };
        let theirs = theirs.to_ascii_lowercase();
        let internal = theirs == domain || theirs.ends_with(&format!(".{domain}"));
        let consents = internal || {
            let name = format!("{domain}._report._dmarc.{theirs}.");
            crate::resolver::txt_records(resolver, &name)
                .await
                .iter()
                .any(|text| text.to_ascii_lowercase().starts_with(b"v=dmarc1"))
        };
        if consents {
            kept.push(address.to_string());
        } else {
            tracing::info!(%domain, %address, "DMARC report address refused: its domain does not consent (RFC 7489 §7.1)");
        }
    }
    kept
}

/// The report of one domain, one policy and one period, from its rows.
pub fn build(hostname: &str, rows: &[DmarcRecord]) -> Option<Report> {
    let first = rows.first()?;
    let policy: PolicyPublished = serde_json::from_str(&first.policy).ok()?;
    let mut records: Vec<Record> = rows
        .iter()
        .filter_map(|r| {
            let record: Record = serde_json::from_str(&r.record).ok()?;
            Some(record.with_count(u32::try_from(r.count.max(0)).unwrap_or(u32::MAX)))
        })
        .collect();
    records.sort_by_key(|r| std::cmp::Reverse(r.count()));
    records.truncate(MAX_ROWS);
    let mut report = Report::new()
        .with_org_name(hostname)
        .with_email(format!("postmaster@{hostname}"))
        .with_report_id(format!(
            "{}.{}@{hostname}",
            first.period_start, first.domain
        ))
        .with_date_range_begin(first.period_start.max(0) as u64)
        .with_date_range_end(first.period_end.max(0) as u64)
        .with_domain(&first.domain)
        .with_policy_published(policy);
    for record in records {
        report.add_record(record);
    }
    Some(report)
}

/// The report as a message from `from` to `to`.
pub fn message(
    report: &Report,
    hostname: &str,
    from: &str,
    to: &[String],
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    report
        .write_rfc5322(
            hostname,
            ("DMARC reports", from),
            to.iter().map(String::as_str),
            &mut out,
        )
        .map_err(|e| format!("cannot write the DMARC report of {}: {e}", report.domain()))?;
    Ok(out)
}
