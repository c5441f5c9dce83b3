//! The checks, each bounded:
//! - SPF (RFC 7208) of the HELO name and of MAIL FROM: started when MAIL is accepted and
//!   run while the client sends its recipients and data ([`SpfCheck`]); mail-auth stops
//!   at RFC 7208's 10 DNS-querying terms and 2 void lookups.
//! - DKIM (RFC 6376, RSA and Ed25519) and ARC (RFC 8617) over the whole message, parsed
//!   strictly (no `l=` body lengths: at most 4 body hashes, whatever the signatures say);
//!   only the first [`MAX_DKIM_SIGNATURES`] signatures are verified (one key lookup
//!   each) and as many malformed ones reported, ARC chains stop at RFC 8617's 50 sets.
//! - DMARC (RFC 7489) from those results, with alignment.
//!
//! All of a message's checks share one deadline (`trust.timeout`): past it, what was not
//! answered is a temporary error, never a pass. DNS answers come from the resolver's
//! cache when it has them (the resolver delivery uses too).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use mail_auth::Parameters;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;

use crate::record_cache::TxtCache;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, SpfOutput, SpfResult, dmarc::verify::DmarcParameters,
    spf::verify::SpfParameters,
};
use tokio::sync::OnceCell;

use crate::signing::Signer;
use tokio::task::JoinHandle;

/// DKIM signatures verified per message; later ones are ignored (each costs a DNS lookup).
pub const MAX_DKIM_SIGNATURES: usize = 8;

/// SPF's verdict on both identities.
#[derive(Debug, Clone)]
pub struct SpfResults {
    /// `None` when the HELO name is not a domain (an address literal, or no HELO).
    pub helo: Option<SpfOutput>,
    /// The MAIL FROM identity; for the null sender, the HELO identity (RFC 7208 §2.4).
    pub mail_from: SpfOutput,
}

/// The SPF check of one transaction, running from MAIL on; dropping it stops it. Its
/// results are waited for once, by whoever asks first (RCPT or the end of DATA).
pub struct SpfCheck {
    task: Mutex<Option<JoinHandle<SpfResults>>>,
    done: OnceCell<SpfResults>,
    domain: String,
}

impl SpfCheck {
    /// A check that was not made (`spf_fail = "ignore"`): `none` for both identities.
    pub fn skipped(sender_domain: &str) -> SpfCheck {
        SpfCheck {
            task: Mutex::new(None),
            done: OnceCell::new_with(Some(SpfResults {
                helo: None,
                mail_from: SpfOutput::new(sender_domain.to_string()),
            })),
            domain: sender_domain.to_string(),
        }
    }

    /// The results, waiting for them the first time.
    pub async fn results(&self) -> &SpfResults {
        self.done
            .get_or_init(|| async {
                let task = self.task.lock().ok().and_then(|mut t| t.take());
                match task {
                    Some(task) => task.await.unwrap_or_else(|_| SpfResults {
                        helo: None,
                        mail_from: temporary(&self.domain),
                    }),
                    None => SpfResults {
                        helo: None,
                        mail_from: temporary(&self.domain),
                    },
                }
            })
            .await
    }
}

impl Drop for SpfCheck {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(|t| t.take()) {
            task.abort();
        }
    }
}

/// What a DMARC aggregate report needs of one message, when its From: domain asks for
/// reports (`rua`).
fn dmarc_evidence(
    dmarc: &DmarcOutput,
    dkim: &[DkimOutput<'_>],
    spf: &SpfResults,
    ip: IpAddr,
    mail_from_domain: &str,
) -> Option<crate::dmarc_report::Evidence> {
    let record = dmarc.dmarc_record()?;
    if record.rua().is_empty() {
        return None;
    }
    let domain = dmarc.domain().to_ascii_lowercase();
    Some(crate::dmarc_report::Evidence {
        rua: record.rua().iter().map(|u| u.uri().to_string()).collect(),
        policy: mail_auth::report::PolicyPublished::from_record(domain.clone(), record),
        record: mail_auth::report::Record::new()
            .with_source_ip(ip)
            .with_envelope_from(mail_from_domain)
            .with_header_from(domain.clone())
            .with_dkim_output(dkim)
            .with_spf_output(&spf.mail_from, mail_auth::report::SPFDomainScope::MailFrom)
            .with_dmarc_output(dmarc),
        domain,
    })
}

fn temporary(domain: &str) -> SpfOutput {
    SpfOutput::new(domain.to_string()).with_result(SpfResult::TempError)
}

/// Who sent a message, as its checks need it: the client's address, its HELO name, the
/// envelope sender and the SPF results of the transaction.
#[derive(Clone, Copy)]
pub struct Sent<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    pub sender: &'a str,
    pub spf: &'a SpfResults,
}

/// What the checks of a whole message found.
#[derive(Debug, Clone)]
pub struct MessageResults {
    /// `Authentication-Results: <hostname>; …` with CRLF, to put in front of the message.
    pub header: String,
    /// The DMARC result and the policy the From: domain publishes (none when it publishes
    /// none, or the check did not get that far).
    pub dmarc: DmarcResult,
    pub policy: Policy,
    /// The From: domain DMARC looked at, lower case; empty when the message has no usable
    /// From: (several domains, none, unparsable).
    pub from_domain: String,
    /// Every domain in From:, lower case (to see whether one of ours is claimed).
    pub from_domains: Vec<String>,
    /// A DKIM signature or the SPF-authenticated MAIL FROM domain aligns (relaxed) with a
    /// From: domain: what DMARC asks, computed here also for domains without a record.
    pub aligned_pass: bool,
    /// Some check could not get an answer (DNS failure, timeout).
    pub temporary: bool,
    /// For the DMARC aggregate report, when reports are on and the From: domain asks.
    pub report: Option<crate::dmarc_report::Evidence>,
}

/// The checker: mail-auth over our resolver, our host name as authserv-id.
#[derive(Clone)]
pub struct Checker {
    auth: Arc<MessageAuthenticator>,
    hostname: Arc<str>,
    timeout: Duration,
    dmarc_reports: bool,
    /// Parsed SPF, DKIM and DMARC records, shared by every session.
    txt: Arc<TxtCache>,
}

impl Checker {
    pub fn new(resolver: TokioResolver, hostname: &str, timeout: Duration) -> Checker {
        Checker {
            auth: Arc::new(MessageAuthenticator(resolver)),
            hostname: hostname.into(),
            timeout,
            dmarc_reports: false,
            txt: Arc::new(TxtCache::default()),
        }
    }

    /// Keeps what DMARC aggregate reports need of each message whose From: domain asks.
    pub fn with_dmarc_reports(mut self, on: bool) -> Checker {
        self.dmarc_reports = on;
        self
    }

    /// Starts SPF for the client at `ip` that said `helo` and `MAIL FROM:<sender>`.
    pub fn start_spf(&self, ip: IpAddr, helo: &str, sender: &str) -> SpfCheck {
        let domain = sender_domain(sender, helo);
        let checker = self.clone();
        let (helo, sender) = (helo.to_string(), sender.to_string());
        let task = tokio::spawn(async move {
            let work = checker.spf(ip, &helo, &sender);
            match tokio::time::timeout(checker.timeout, work).await {
                Ok(results) => results,
                Err(_) => SpfResults {
                    helo: None,
                    mail_from: temporary(&sender_domain(&sender, &helo)),
                },
            }
        });
        SpfCheck {
            task: Mutex::new(Some(task)),
            done: OnceCell::new(),
            domain,
        }
    }

    async fn spf(&self, ip: IpAddr, helo: &str, sender: &str) -> SpfResults {
        let host = &*self.hostname;
        let helo_result = if is_domain(helo) {
            Some(
                self.auth
                    .verify_spf(
                        Parameters::new(SpfParameters::verify_ehlo(ip, helo, host))
                            .with_txt_cache(&*self.txt),
                    )
                    .await,
            )
        } else {
            None
        };
        let mail_from = if sender.is_empty() {
            helo_result
                .clone()
                .unwrap_or_else(|| SpfOutput::new(String::new()))
        } else {
            self.auth
                .verify_spf(
                    Parameters::new(SpfParameters::verify_mail_from(ip, helo, host, sender))
                        .with_txt_cache(&*self.txt),
                )
                .await
        };
        SpfResults {
            helo: helo_result,
            mail_from,
        }
    }

    /// DKIM, ARC and DMARC over `message` (as received: our own fields not yet added),
    /// with the SPF results of its transaction, under the message's deadline. With
    /// `seal` (mail an alias forwards outside), the chain is also sealed with that domain's
    /// key (RFC 8617) and the ARC set comes before our `Authentication-Results:`.
    pub async fn message(
        &self,
        raw: &[u8],
        sent: Sent<'_>,
        seal: Option<(&Signer, &str)>,
    ) -> MessageResults {
        let Sent { spf, .. } = sent;
        let Some(mut message) = AuthenticatedMessage::parse(raw) else {
            // no header section at all: nothing to verify, nothing to align
            let header = self.results(sent).to_header();
            return MessageResults {
                header,
                dmarc: DmarcResult::None,
                policy: Policy::None,
                from_domain: String::new(),
                from_domains: Vec::new(),
                aligned_pass: false,
                temporary: spf.mail_from.result() == SpfResult::TempError,
                report: None,
            };
        };
        message.dkim_headers.truncate(MAX_DKIM_SIGNATURES);
        // malformed signatures are reported one by one: as few of them
        message.errors.truncate(MAX_DKIM_SIGNATURES);
        // known without DNS, so that a timeout still knows whose name the mail is in
        let from_domains: Vec<String> = message
            .froms()
            .iter()
            .filter_map(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase())
            .collect();
        let work = self.verify(&message, sent, &from_domains, seal);
        match tokio::time::timeout(self.timeout, work).await {
            Ok(results) => results,
            Err(_) => {
                tracing::info!(timeout = ?self.timeout, "message checks timed out");
                self.timed_out(sent, from_domains)
            }
        }
    }

    async fn verify(
        &self,
        message: &AuthenticatedMessage<'_>,
        sent: Sent<'_>,
        from_domains: &[String],
        seal: Option<(&Signer, &str)>,
    ) -> MessageResults {
        let Sent {
            ip,
            helo,
            sender,
            spf,
        } = sent;
        let dkim = self
            .auth
            .verify_dkim(Parameters::new(message).with_txt_cache(&*self.txt))
            .await;
        let arc = self
            .auth
            .verify_arc(Parameters::new(message).with_txt_cache(&*self.txt))
            .await;
        let mail_from_domain = sender_domain(sender, helo);
        let dmarc = self
            .auth
            .verify_dmarc(
                Parameters::new(DmarcParameters::new(
                    message,
                    &dkim,
                    &mail_from_domain,
                    &spf.mail_from,
                ))
                .with_txt_cache(&*self.txt),
            )
            .await;
        let results = self
            .results(sent)
            .with_dkim_results(&dkim, message.from())
            .with_arc_result(&arc, ip)
            .with_dmarc_result(&dmarc);
        let mut header = match seal {
            Some((signer, domain)) => signer.seal(domain, message, &results, &arc).await,
            None => String::new(),
        };
        header.push_str(&results.to_header());
        let mut passed: Vec<String> = dkim
            .iter()
            .filter(|o| *o.result() == DkimResult::Pass)
            .filter_map(|o| o.signature().map(|s| s.d.to_ascii_lowercase()))
            .collect();
        if spf.mail_from.result() == SpfResult::Pass {
            passed.push(mail_from_domain.clone());
        }
        let aligned_pass = !from_domains.is_empty()
            && from_domains
                .iter()
                .all(|f| passed.iter().any(|p| aligned(p, f)));
        let temporary = spf.mail_from.result() == SpfResult::TempError
            || dkim
                .iter()
                .any(|o| matches!(o.result(), DkimResult::TempError(_)))
            || matches!(dmarc.result(), DmarcResult::TempError(_));
        let report = self
            .dmarc_reports
            .then(|| dmarc_evidence(&dmarc, &dkim, spf, ip, &mail_from_domain))
            .flatten();
        MessageResults {
            report,
            header,
            dmarc: dmarc.result(),
            policy: dmarc.policy(),
            from_domain: dmarc.domain().to_ascii_lowercase(),
            from_domains: from_domains.to_vec(),
            aligned_pass,
            temporary,
        }
    }

    /// What is said when the deadline passed: SPF as far as it got, the rest temporary.
    fn timed_out(&self, sent: Sent<'_>, from_domains: Vec<String>) -> MessageResults {
        let error = mail_auth::Error::Dns(mail_auth::DnsError::Resolver("timed out".into()));
        let dkim = DkimOutput::temp_err(error.clone());
        let dmarc = DmarcOutput::default()
            .with_dkim_result(DmarcResult::TempError(error.clone()))
            .with_spf_result(DmarcResult::TempError(error));
        let header = self
            .results(sent)
            .with_dkim_result(&dkim, "")
            .with_dmarc_result(&dmarc)
            .to_header();
        MessageResults {
            header,
            dmarc: dmarc.dkim_result().clone(),
            policy: Policy::None,
            from_domain: String::new(),
            from_domains,
            aligned_pass: false,
            temporary: true,
            report: None,
        }
    }

    fn results(&self, sent: Sent<'_>) -> AuthenticationResults<'_> {
        let Sent {
            ip,
            helo,
            sender,
            spf,
        } = sent;
        let mut results = AuthenticationResults::new(&self.hostname);
        if let Some(helo_result) = &spf.helo {
            results = results.with_spf_ehlo_result(helo_result, ip, helo);
        }
        results.with_spf_mailfrom_result(&spf.mail_from, ip, sender, helo)
    }
}

/// Relaxed alignment (RFC 7489 §3.1): one domain is the other or under it. Our own
/// domains are checked this way even when they publish no DMARC record.
fn aligned(authenticated: &str, from: &str) -> bool {
    let under = |a: &str, b: &str| {
        a.len() > b.len() && a.ends_with(b) && a[..a.len() - b.len()].ends_with('.')
    };
    authenticated == from || under(authenticated, from) || under(from, authenticated)
}

/// The domain SPF and DMARC take for the envelope sender: its domain, or the HELO name for
/// the null sender.
fn sender_domain(sender: &str, helo: &str) -> String {
    sender
        .rsplit_once('@')
        .map_or(helo, |(_, d)| d)
        .to_ascii_lowercase()
}

/// A name SPF can look up: letters, digits, '-', '.', with at least one dot.
fn is_domain(name: &str) -> bool {
    name.contains('.')
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_spf_looks_up() {
        assert!(is_domain("mail.example.com"));
        assert!(!is_domain("[192.0.2.1]"));
        assert!(!is_domain("localhost"));
        assert_eq!(sender_domain("a@Example.COM", "h.test"), "example.com");
        assert_eq!(sender_domain("", "h.test"), "h.test");
        assert!(aligned("mail.example.com", "example.com"));
        assert!(aligned("example.com", "news.example.com"));
        assert!(!aligned("badexample.com", "example.com"));
        assert!(!aligned("example.com.evil.test", "example.com"));
    }
}

/// What SPF says of one address sending for a domain ([`spf_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfVerdict {
    Pass,
    /// fail, softfail, neutral or none
    NotPass(&'static str),
    /// the record cannot be evaluated (RFC 7208 permerror: syntax, too many lookups)
    PermError,
    /// a lookup failed for now
    TempError,
}

/// SPF's verdict on mail from `ip` with `postmaster@domain` as MAIL FROM, the whole
/// record evaluated as a receiver would (`include:` and `redirect=` followed, within
/// RFC 7208's ten lookups): for `estafeta doctor`, which asks it for each of our
/// public addresses. `hostname` is ours, used as the HELO name.
pub async fn spf_of(
    resolver: TokioResolver,
    ip: IpAddr,
    domain: &str,
    hostname: &str,
) -> SpfVerdict {
    let sender = format!("postmaster@{domain}");
    let cache = crate::record_cache::TxtCache::default();
    let result = MessageAuthenticator(resolver)
        .verify_spf(
            Parameters::new(SpfParameters::verify_mail_from(
                ip, hostname, hostname, &sender,
            ))
            .with_txt_cache(&cache),
        )
        .await
        .result();
    match result {
        SpfResult::Pass => SpfVerdict::Pass,
        SpfResult::Fail => SpfVerdict::NotPass("fail"),
        SpfResult::SoftFail => SpfVerdict::NotPass("softfail"),
        SpfResult::Neutral => SpfVerdict::NotPass("neutral"),
        SpfResult::None => SpfVerdict::NotPass("none"),
        SpfResult::PermError => SpfVerdict::PermError,
        SpfResult::TempError => SpfVerdict::TempError,
    }
}
