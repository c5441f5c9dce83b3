//! `estafeta doctor [DOMAIN…]`: checks of everything a working mail server needs, each
//! with a one-line verdict and, when it is not fine, the fix in words (the DNS record to
//! publish, the key to set, the command to run). `local` looks at the configuration, the
//! data directory, the store and the queue; `listeners` at each listener and its TLS;
//! `dns` at each domain's records and our addresses' PTR; `blocklists` at DNS blocklists;
//! `relay` tries our own SMTP listeners as a stranger would. Every network step has a
//! short timeout; what could not be checked is `skipped`, saying why.

mod blocklists;
mod dns;
mod listeners;
mod local;
mod relay;

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::failure::{CommandResult, Failure};
use crate::settings::Settings;

/// The longest one DNS query may take.
pub(crate) const DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one connection (connect, and each reply after it) may take.
pub(crate) const NET_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the checks of one listener (connection and TLS, or the relay and AUTH
/// tries) may take together, whatever each step's own timeout.
const LISTENER_BUDGET: Duration = Duration::from_secs(30);
/// The longest all listener, TLS, relay and AUTH checks may take together; past it the
/// rest are skipped. (DNS has its own budget, `dns::DNS_BUDGET`.)
const NETWORK_BUDGET: Duration = Duration::from_secs(120);

/// Time left for the checks that talk to our own listeners.
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            deadline: Instant::now() + NETWORK_BUDGET,
        }
    }

    /// Runs one listener's check within [`LISTENER_BUDGET`] and what is left of the whole;
    /// `Err` says which ran out (what the check found before that stays in the report).
    pub async fn within(&self, check: impl Future<Output = ()>) -> Result<(), String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the listener checks together took over {} s; the rest were not tried",
                NETWORK_BUDGET.as_secs()
            ));
        }
        tokio::time::timeout(left.min(LISTENER_BUDGET), check)
            .await
            .map_err(|_| {
                format!(
                    "no result within {} s (the listener answers too slowly)",
                    left.min(LISTENER_BUDGET).as_secs()
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        }
    }
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it; `None` when it is fine.
    pub fix: Option<String>,
}

/// The checks made so far.
#[derive(Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: &str, status: Status, detail: String, fix: Option<String>) {
        self.checks.push(Check {
            name: name.to_string(),
            status,
            detail,
            fix,
        });
    }

    pub fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail.into(), None);
    }

    pub fn warn(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Warn, detail.into(), Some(fix.into()));
    }

    pub fn fail(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Fail, detail.into(), Some(fix.into()));
    }

    /// Could not be checked: `why` says what stood in the way.
    pub fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.push(
            name,
            Status::Skipped,
            format!("could not check ({})", why.into()),
            None,
        );
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// Where our public addresses came from, for the checks' details.
pub struct Addresses {
    pub ips: Vec<IpAddr>,
    /// Named by `[doctor] public_addresses`: checked whatever they are.
    pub configured: bool,
}

pub async fn run(settings: &Settings, domains: &[String], json: bool) -> CommandResult {
    let mut report = Report::default();
    let config = &settings.config;
    let store = local::check(settings, &mut report).await;
    let domains = local::domains(store.as_deref(), domains, &mut report).await;

    let budget = Budget::new();
    listeners::check(config, &domains, &budget, &mut report).await;
    relay::check(config, &budget, &mut report).await;

    match estafeta_trust::dns_only_resolver(&dns::servers(config)) {
        Err(e) => report.skip("dns", format!("no resolver: {e}")),
        Ok(resolver) => {
            let resolver = dns::Dns::new(resolver);
            match resolver.reachable(&config.hostname).await {
                Err(why) => {
                    report.skip(
                        "dns",
                        format!(
                            "no network or no DNS: {why}; set delivery.dns_servers if the \
                             system's resolver is not the one to use"
                        ),
                    );
                    for domain in &domains {
                        report.skip(&format!("dns {domain}"), "the resolver does not answer");
                    }
                    report.skip("blocklists", "the resolver does not answer");
                }
                Ok(()) => {
                    let addresses = dns::our_addresses(config, &resolver, &mut report).await;
                    dns::check_host(config, &resolver, &addresses, &mut report).await;
                    for domain in &domains {
                        dns::check_domain(
                            config,
                            store.as_deref(),
                            &resolver,
                            domain,
                            &addresses,
                            &mut report,
                        )
                        .await;
                    }
                    blocklists::check(config, &resolver, &addresses, &mut report).await;
                }
            }
        }
    }

    let (ok, warn, fail, skipped) = (
        report.count(Status::Ok),
        report.count(Status::Warn),
        report.count(Status::Fail),
        report.count(Status::Skipped),
    );
    if json {
        let out = serde_json::json!({
            "checks": report.checks,
            "ok": ok,
            "warn": warn,
            "fail": fail,
            "skipped": skipped,
        });
        println!("{out:#}");
    } else {
        for c in &report.checks {
            match &c.fix {
                Some(fix) => println!("{}  {}: {} — {fix}", c.status.label(), c.name, c.detail),
                None => println!("{}  {}: {}", c.status.label(), c.name, c.detail),
            }
        }
        println!("{ok} ok, {warn} warning(s), {fail} failure(s), {skipped} not checked");
    }
    if fail > 0 {
        return Err(Failure {
            message: format!("doctor: {fail} check(s) failed"),
            code: 1,
        });
    }
    Ok(())
}
