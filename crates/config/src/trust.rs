//! `[trust]`: what the server checks of mail from outside (SPF, DKIM, ARC, DMARC) and what
//! a failed check does, server-wide and per domain of ours; and what delivery trusts of
//! recipient domains (MTA-STS).

use serde::Deserialize;

/// What an SPF `fail` of the MAIL FROM identity does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfFail {
    /// Refuse the recipient: `550 5.7.23` (RFC 7372).
    Reject,
    /// Accept; the result is in `Authentication-Results:` for filters and clients.
    Tag,
    /// Accept and do not look SPF up at all (DMARC then relies on DKIM alone).
    Ignore,
}

/// What a DMARC failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcAction {
    /// The sender's published policy is applied: `p=reject` is refused with `550 5.7.1`,
    /// `p=quarantine` is delivered to the Junk folder. Mail claiming one of our own
    /// domains in From: that fails DMARC is refused whatever that domain publishes.
    Enforce,
    /// Only `Authentication-Results:` says what happened.
    Tag,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Check SPF, DKIM, ARC and DMARC on mail from outside (port 25, not logged in, not
    /// from trusted_networks), and write the results in one `Authentication-Results:`.
    #[serde(default = "yes")]
    pub checks: bool,
    #[serde(default = "spf_fail")]
    pub spf_fail: SpfFail,
    #[serde(default = "dmarc")]
    pub dmarc: DmarcAction,
    /// Seconds all the checks of one message may take; past it the results are temporary
    /// errors (never a pass).
    #[serde(default = "timeout")]
    pub timeout: u64,
    /// Apply the MTA-STS policies (RFC 8461) of recipient domains to delivery: `enforce`
    /// means TLS with a valid certificate to an MX the policy names, or the mail waits.
    #[serde(default = "yes")]
    pub mta_sts: bool,
    /// Certificate authorities (PEM) that MTA-STS policy hosts and MX hosts under a
    /// policy must chain to, instead of the system's.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Apply the DANE TLSA records (RFC 7672) of MX hosts whose domain's MX records are
    /// DNSSEC-signed: TLS with a certificate the records match, or the mail waits.
    #[serde(default = "yes")]
    pub dane: bool,
    /// A file of DNSKEY records to validate DNSSEC from, instead of the IANA root keys.
    #[serde(default)]
    pub dnssec_trust_anchor: Option<std::path::PathBuf>,
    /// Send TLS reports (RFC 8460) of our outbound TLS sessions, once a period, to the
    /// recipient domains that ask for them (`_smtp._tls` TXT record with `rua`).
    #[serde(default = "yes")]
    pub tls_reports: bool,
    /// Send DMARC aggregate reports (RFC 7489 §7.2) of the mail from outside we checked,
    /// once a period, to the From: domains whose DMARC record asks (`rua`).
    #[serde(default)]
    pub dmarc_reports: bool,
    /// Seconds one report covers: a UTC day (86400). Only tests use less.
    #[serde(default = "report_period")]
    pub report_period: u64,
    /// Per domain of ours, as recipient: `[[trust.domain]] name = "example.com"` with
    /// `spf_fail` and/or `dmarc` replacing the server-wide values.
    #[serde(default)]
    pub domain: Vec<TrustDomain>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustDomain {
    pub name: String,
    #[serde(default)]
    pub spf_fail: Option<SpfFail>,
    #[serde(default)]
    pub dmarc: Option<DmarcAction>,
}

fn yes() -> bool {
    true
}

fn spf_fail() -> SpfFail {
    SpfFail::Tag
}

fn dmarc() -> DmarcAction {
    DmarcAction::Enforce
}

fn timeout() -> u64 {
    20
}

fn report_period() -> u64 {
    86_400
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            checks: true,
            spf_fail: spf_fail(),
            dmarc: dmarc(),
            timeout: timeout(),
            mta_sts: true,
            ca_file: None,
            dane: true,
            dnssec_trust_anchor: None,
            tls_reports: true,
            dmarc_reports: false,
            report_period: report_period(),
            domain: Vec::new(),
        }
    }
}

impl TrustConfig {
    /// The SPF and DMARC actions for mail to `domain` (one of ours).
    pub fn for_domain(&self, domain: &str) -> (SpfFail, DmarcAction) {
        let over = self
            .domain
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(domain));
        (
            over.and_then(|d| d.spf_fail).unwrap_or(self.spf_fail),
            over.and_then(|d| d.dmarc).unwrap_or(self.dmarc),
        )
    }
}
