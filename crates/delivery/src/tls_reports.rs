//! TLS reports (RFC 8460), delivery's side: each connection to a domain's MX hosts is
//! counted (a TLS session, or why there was none: the server offered no STARTTLS, its
//! certificate did not check out, the domain's MTA-STS policy could not be had) under the
//! policy that applied, into the store's `tls_results`; and, when `daily_reports` says
//! a period has ended, each domain that publishes an `_smtp._tls` record gets its report,
//! queued to its `mailto:` addresses like any mail and posted to its `https:` ones.
//! Only connections to MX hosts count (not relays). Counts go to the store without
//! waiting: a store that fails loses a count, never a message.

use std::sync::Arc;

use estafeta_smtp::outbound::{Error, Stage};
use estafeta_store::{Store, TlsResult, now};
use estafeta_trust::mta_sts::PolicyAnswer;
use estafeta_trust::tls_report::{self, ReportUri};
use hickory_resolver::TokioResolver;

use crate::routing::{Destination, Target};

/// How long posting a report over HTTPS may take.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The connections of one worker to one domain, counted.
pub struct Sessions {
    template: TlsResult,
    results: Vec<TlsResult>,
}

impl Sessions {
    /// Counting for `dest` under `policy`, when `period` (seconds) is set and `dest` is a
    /// domain's MX hosts.
    pub fn new(period: Option<i64>, dest: &Destination, policy: &PolicyAnswer) -> Option<Sessions> {
        let (Some(period), Destination::Mx(domain)) = (period, dest) else {
            return None;
        };
        let start = now() / period * period;
        let (policy_type, lines, mx) = match policy {
            PolicyAnswer::Policy(p) => ("sts", p.lines.join("\n"), p.mx.join("\n")),
            PolicyAnswer::Failed(_) => ("sts", String::new(), String::new()),
            PolicyAnswer::None => ("no-policy-found", String::new(), String::new()),
        };
        let mut sessions = Sessions {
            template: TlsResult {
                period_start: start,
                period_end: start + period,
                domain: domain.clone(),
                policy_type: policy_type.into(),
                policy: lines,
                mx_patterns: mx,
                count: 1,
                ..TlsResult::default()
            },
            results: Vec::new(),
        };
        if let PolicyAnswer::Failed(failure) = policy {
            sessions.add(failure.result_type, None);
        }
        Some(sessions)
    }

    fn add(&mut self, result: &str, target: Option<&Target>) {
        let mut r = TlsResult {
            result: result.into(),
            receiving_mx: target.map(|t| t.name.clone()).unwrap_or_default(),
            receiving_ip: target.map(|t| t.addr.ip().to_string()).unwrap_or_default(),
            ..self.template.clone()
        };
        // a host under DANE is reported under its TLSA records
        if let Some(tlsa) = target.and_then(|t| t.tlsa.as_ref()) {
            r.policy_type = "tlsa".into();
            r.policy = tlsa.join("\n");
            r.mx_patterns = String::new();
            if r.result == "certificate-not-trusted" {
                r.result = "tlsa-invalid".into();
            }
        }
        self.results.push(r);
    }

    /// A session opened with `target`, over TLS or not.
    pub fn opened(&mut self, target: &Target, tls: bool) {
        self.add(
            if tls {
                "success"
            } else {
                "starttls-not-supported"
            },
            Some(target),
        );
    }

    /// A connection that failed: counted (and true) when TLS is why.
    pub fn failed(&mut self, target: &Target, e: &Error) -> bool {
        match tls_failure(e) {
            Some(result) => {
                self.add(result, Some(target));
                true
            }
            None => false,
        }
    }

    /// Hands the counts to the store, without waiting.
    pub fn save(self, store: &Arc<dyn Store>) {
        if self.results.is_empty() {
            return;
        }
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.add_tls_results(&self.results).await {
                tracing::warn!(error = %e, "TLS report counts not saved");
            }
        });
    }
}

/// The RFC 8460 result type of a connection error, when TLS is why.
fn tls_failure(e: &Error) -> Option<&'static str> {
    match e {
        Error::Rejected {
            stage: Stage::StartTls,
            ..
        } => Some("starttls-not-supported"),
        Error::Timeout(Stage::TlsHandshake) => Some("validation-failure"),
        Error::Tls(why) => {
            // rustls names the certificate errors (NotValidForName, Expired, UnknownIssuer)
            Some(if why.contains("does not offer STARTTLS") {
                "starttls-not-supported"
            } else if why.contains("NotValidForName") || why.contains("not valid for name") {
                "certificate-host-mismatch"
            } else if why.contains("Expired") || why.contains("expired") {
                "certificate-expired"
            } else if why.contains("UnknownIssuer")
                || why.contains("ApplicationVerificationFailure")
                || why.contains("certificate")
            {
                "certificate-not-trusted"
            } else {
                "validation-failure"
            })
        }
        _ => None,
    }
}

/// Takes the counts of periods that have ended and queues each domain's report.
pub async fn send_due(
    store: &dyn Store,
    resolver: &TokioResolver,
    web: &tokio_rustls::TlsConnector,
    hostname: &str,
) {
    let taken = match store.take_tls_results(now()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the TLS report counts");
            return;
        }
    };
    for group in taken.chunk_by(|a, b| (a.period_start, &a.domain) == (b.period_start, &b.domain)) {
        let domain = &group[0].domain;
        let rua = tls_report::report_addresses(resolver, domain).await;
        let mut to = Vec::new();
        let mut urls = Vec::new();
        for uri in rua {
            match uri {
                ReportUri::Mail(address) => to.push(address),
                ReportUri::Http(url) => urls.push(url),
            }
        }
        let Some(report) = tls_report::build(hostname, group) else {
            continue;
        };
        for url in &urls {
            match tls_report::post(resolver, web, url, &report, POST_TIMEOUT).await {
                Ok(()) => {
                    tracing::info!(%domain, %url, report_id = %report.report_id, "TLS report posted")
                }
                Err(e) => tracing::warn!(%domain, %url, error = %e, "TLS report not posted"),
            }
        }
        if to.is_empty() {
            continue;
        }
        let from = format!("postmaster@{hostname}");
        let body = match tls_report::message(&report, domain, hostname, &from, &to) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%domain, error = %e, "TLS report not sent");
                continue;
            }
        };
        crate::daily_reports::queue(store, "TLS report", domain, &to, body).await;
    }
}
