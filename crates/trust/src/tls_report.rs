//! TLS reports (RFC 8460) from the counts delivery keeps (`estafeta_store::TlsResult`):
//! where a domain wants them (its `_smtp._tls` TXT record, read by mail-auth), and the
//! report itself (mail-auth's `TlsReport`, gzipped JSON in a `multipart/report` message).
//! A domain's report holds at most [`MAX_POLICIES`] policies and [`MAX_DETAILS`] failure
//! details per policy, the largest counts first.

use std::collections::BTreeMap;
use std::net::IpAddr;

use estafeta_store::TlsResult;
use hickory_resolver::TokioResolver;
pub use mail_auth::mta_sts::ReportUri;
use mail_auth::mta_sts::TlsRpt;
use mail_auth::report::tlsrpt::{
    DateRange, FailureDetails, Policy, PolicyDetails, PolicyType, ResultType, Summary, TlsReport,
};

/// Policies in one report at most.
pub const MAX_POLICIES: usize = 100;
/// Failure details per policy at most.
pub const MAX_DETAILS: usize = 100;
/// Report addresses of one domain used at most.
pub const MAX_RUA: usize = 5;

/// Where `domain` wants its TLS reports: its `rua` URIs (`mailto:` and `https:`), none
/// when it publishes no `v=TLSRPTv1` record (or several).
pub async fn report_addresses(resolver: &TokioResolver, domain: &str) -> Vec<ReportUri> {
    let name = format!("_smtp._tls.{}.", domain.trim_end_matches('.'));
    match crate::resolver::single_record::<TlsRpt>(resolver, &name).await {
        Some(record) => record
            .rua
            .into_iter()
            .filter(|uri| match uri {
                ReportUri::Mail(address) => plain_address(address),
                ReportUri::Http(url) => url.starts_with("https://"),
            })
            .take(MAX_RUA)
            .collect(),
        None => Vec::new(),
    }
}

/// (policy type, policy, mx patterns) or (result, receiving MX, receiving IP).
type Key<'a> = (&'a str, &'a str, &'a str);
/// Successes, failures, and failures by (result, MX, IP).
type Counts<'a> = (u64, u64, BTreeMap<Key<'a>, u64>);

/// The report of one domain for one period, from its counts (all of that domain and
/// period).
pub fn build(hostname: &str, results: &[TlsResult]) -> Option<TlsReport> {
    let first = results.first()?;
    let mut policies: BTreeMap<Key, Counts> = BTreeMap::new();
    for r in results {
        let entry = policies
            .entry((&r.policy_type, &r.policy, &r.mx_patterns))
            .or_default();
        let count = r.count.max(0) as u64;
        if r.result == "success" {
            entry.0 += count;
        } else {
            entry.1 += count;
            *entry
                .2
                .entry((&r.result, &r.receiving_mx, &r.receiving_ip))
                .or_default() += count;
        }
    }
    let mut list: Vec<Policy> = policies
        .into_iter()
        .map(|((kind, policy, mx), (success, failure, details))| {
            let mut details: Vec<FailureDetails> = details
                .into_iter()
                .map(|((result, mx, ip), count)| FailureDetails {
                    result_type: result_type(result),
                    receiving_mx_hostname: (!mx.is_empty()).then(|| mx.to_string()),
                    receiving_ip: ip.parse::<IpAddr>().ok(),
                    failed_session_count: clamp(count),
                    ..FailureDetails::default()
                })
                .collect();
            details.sort_by_key(|d| std::cmp::Reverse(d.failed_session_count));
            details.truncate(MAX_DETAILS);
            Policy {
                policy: PolicyDetails {
                    policy_type: policy_type(kind),
                    policy_string: lines(policy),
                    policy_domain: first.domain.clone(),
                    mx_host: lines(mx),
                },
                summary: Summary {
                    total_success: clamp(success),
                    total_failure: clamp(failure),
                },
                failure_details: details,
            }
        })
        .collect();
    list.sort_by_key(|p| std::cmp::Reverse(p.summary.total_success + p.summary.total_failure));
    list.truncate(MAX_POLICIES);
    Some(TlsReport {
        organization_name: Some(hostname.to_string()),
        date_range: DateRange::from_timestamps(first.period_start, first.period_end),
        contact_info: Some(format!("postmaster@{hostname}")),
        report_id: format!(
            "{}.{}@{hostname}",
            first.period_start,
            first.domain.replace(['@', '<', '>'], "")
        ),
        policies: list,
    })
}

/// The report as a message from `from` to the `mailto:` addresses.
pub fn message(
    report: &TlsReport,
    domain: &str,
    hostname: &str,
    from: &str,
    to: &[String],
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    report
        .write_rfc5322(
            domain,
            hostname,
            ("TLS reports", from),
            to.iter().map(String::as_str),
            &mut out,
        )
        .map_err(|e| format!("cannot write the TLS report of {domain}: {e}"))?;
    Ok(out)
}

/// Posts the report to an `https:` address (RFC 8460 §3): gzipped JSON as
/// `application/tlsrpt+gzip`; any 2xx answer is taken.
pub async fn post(
    resolver: &TokioResolver,
    connector: &tokio_rustls::TlsConnector,
    url: &str,
    report: &TlsReport,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let (host, port, path) =
        https_url(url).ok_or_else(|| format!("{url:?} is not an https: URL we post to"))?;
    let body = gzipped_json(report)?;
    let req = crate::https::Request {
        host: &host,
        port,
        method: "POST",
        path: &path,
        media_type: "application/tlsrpt+gzip",
        body: &body,
    };
    let answer = crate::https::request(resolver, connector, &req, 4096, timeout)
        .await
        .map_err(|e| e.to_string())?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", answer.status))
    }
}

/// `https://host[:port]/path` as (host, port, path); `None` for anything else, or a URL
/// with characters that have no place in a request line (a TXT record is anyone's).
pub fn https_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("https://")?;
    if url.len() > 1024 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (authority, 443),
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| (host.to_ascii_lowercase(), port, path.to_string()))
}

/// The report as gzipped JSON, as it is posted to an `https:` address.
pub fn gzipped_json(report: &TlsReport) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut gz = mail_auth::flate2::write::GzEncoder::new(
        Vec::new(),
        mail_auth::flate2::Compression::default(),
    );
    gz.write_all(report.to_json().as_bytes())
        .and_then(|()| gz.finish())
        .map_err(|e| format!("cannot compress the TLS report: {e}"))
}

/// An address we are willing to queue mail to: `local@domain`, printable ASCII without
/// spaces or angle brackets, at most 254 octets (a TXT record is anyone's to write).
pub fn plain_address(address: &str) -> bool {
    address.len() <= 254
        && address
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>()[]\\,;:\"".contains(&b))
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn policy_type(kind: &str) -> PolicyType {
    match kind {
        "sts" => PolicyType::Sts,
        "tlsa" => PolicyType::Tlsa,
        "no-policy-found" => PolicyType::NoPolicyFound,
        _ => PolicyType::Other,
    }
}

/// RFC 8460 §4.3's result types by name.
pub fn result_type(name: &str) -> ResultType {
    match name {
        "starttls-not-supported" => ResultType::StartTlsNotSupported,
        "certificate-host-mismatch" => ResultType::CertificateHostMismatch,
        "certificate-expired" => ResultType::CertificateExpired,
        "certificate-not-trusted" => ResultType::CertificateNotTrusted,
        "validation-failure" => ResultType::ValidationFailure,
        "tlsa-invalid" => ResultType::TlsaInvalid,
        "dnssec-invalid" => ResultType::DnssecInvalid,
        "dane-required" => ResultType::DaneRequired,
        "sts-policy-fetch-error" => ResultType::StsPolicyFetchError,
        "sts-policy-invalid" => ResultType::StsPolicyInvalid,
        "sts-webpki-invalid" => ResultType::StsWebpkiInvalid,
        _ => ResultType::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(result: &str, count: i64) -> TlsResult {
        TlsResult {
            period_start: 86400,
            period_end: 172800,
            domain: "example.net".into(),
            policy_type: "sts".into(),
            policy: "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400".into(),
            mx_patterns: "mx.example.net".into(),
            result: result.into(),
            receiving_mx: "mx.example.net".into(),
            receiving_ip: "192.0.2.1".into(),
            count,
        }
    }

    #[test]
    fn counts_become_a_report_that_reads_back() {
        let report = build(
            "out.example.org",
            &[
                row("success", 5),
                row("certificate-expired", 2),
                row("success", 1),
            ],
        )
        .unwrap();
        assert_eq!(report.policies.len(), 1);
        let p = &report.policies[0];
        assert_eq!((p.summary.total_success, p.summary.total_failure), (6, 2));
        assert_eq!(
            p.failure_details[0].result_type,
            ResultType::CertificateExpired
        );
        assert_eq!(p.policy.policy_string.len(), 4);
        let to = vec!["tlsrpt@example.net".to_string()];
        let mail = message(
            &report,
            "example.net",
            "out.example.org",
            "noreply@out.example.org",
            &to,
        )
        .unwrap();
        let back = TlsReport::parse_rfc5322(&mail, 1 << 20).unwrap();
        assert_eq!(back, report);
        let text = String::from_utf8_lossy(&mail);
        assert!(text.contains("TLS-Report-Domain: example.net"), "{text}");
        assert!(text.contains("application/tlsrpt+gzip"), "{text}");
        assert!(build("h", &[]).is_none());
        assert_eq!(
            https_url("https://Reports.example.net:8443/tls?x=1"),
            Some(("reports.example.net".into(), 8443, "/tls?x=1".into()))
        );
        assert_eq!(
            https_url("https://r.example"),
            Some(("r.example".into(), 443, "/".into()))
        );
        for bad in [
            "http://r.example/",
            "https://r.example/a b",
            "https://user@r.example/",
            "https://r.example:99999/",
            "https://r.example/\r\nX: y",
        ] {
            assert_eq!(https_url(bad), None, "{bad:?}");
        }
        assert!(plain_address("tlsrpt@example.net"));
        for bad in [
            "a@b",
            "<a@b.c>",
            "a b@c.d",
            "a@b.c\r\nRCPT TO:<x@y.z>",
            "@b.c",
            "a@b@c.d",
        ] {
            assert!(!plain_address(bad), "{bad:?}");
        }
    }
}
