//! DNS: our public addresses, the host name's A/AAAA and their PTR (forward-confirmed),
//! and each domain's MX, SPF, DKIM, DMARC, MTA-STS and TLS-RPT records, through the
//! configured resolver. The records a failure asks for are those `estafeta dns` prints
//! (`commands::dns::Expected`, the DKIM keys' `zone_line`).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use estafeta_config::Config;
use estafeta_store::Store;
use estafeta_trust::SpfVerdict;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::{Addresses, DNS_TIMEOUT, Report};
use crate::commands::dns::Expected;

/// `delivery.dns_servers`, parsed (validation made sure they parse).
pub fn servers(config: &Config) -> Vec<SocketAddr> {
    config
        .delivery
        .dns_servers
        .iter()
        .filter_map(|s| estafeta_config::parse_dns_server(s))
        .collect()
}

/// What one query found.
pub enum Answer {
    Found(Vec<RData>),
    /// NXDOMAIN or no record of the type: the name's owner has not published it.
    Missing(String),
    /// No answer (timeout, refused, unreachable): nothing is known.
    Failed(String),
}

/// The resolver, each query bounded by [`DNS_TIMEOUT`] and all of them by
/// [`DNS_BUDGET`]: past it, what is left is skipped.
pub struct Dns {
    resolver: TokioResolver,
    deadline: Instant,
}

/// The longest all of doctor's DNS queries may take together.
const DNS_BUDGET: Duration = Duration::from_secs(180);

fn absolute(name: &str) -> String {
    let name = name.trim_end_matches('.');
    format!("{name}.")
}

impl Dns {
    pub fn new(resolver: TokioResolver) -> Dns {
        Dns {
            resolver,
            deadline: Instant::now() + DNS_BUDGET,
        }
    }

    /// The resolver, for checks that make their own lookups (SPF's evaluation).
    pub fn resolver(&self) -> TokioResolver {
        self.resolver.clone()
    }

    /// What is left of doctor's DNS time.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub async fn lookup(&self, name: &str, kind: RecordType) -> Answer {
        self.lookup_name(absolute(name), kind).await
    }

    async fn lookup_name(
        &self,
        name: impl hickory_resolver::proto::rr::IntoName,
        kind: RecordType,
    ) -> Answer {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Answer::Failed(format!(
                "doctor's DNS queries took {} seconds in all: the rest were not made",
                DNS_BUDGET.as_secs()
            ));
        }
        match tokio::time::timeout(DNS_TIMEOUT.min(left), self.resolver.lookup(name, kind)).await {
            Err(_) => Answer::Failed(format!(
                "no answer within {} seconds",
                DNS_TIMEOUT.min(left).as_secs()
            )),
            Ok(Err(e)) if e.is_nx_domain() => Answer::Missing("NXDOMAIN".into()),
            Ok(Err(e)) if e.is_no_records_found() => Answer::Missing(format!("no {kind} record")),
            Ok(Err(e)) => Answer::Failed(e.to_string()),
            Ok(Ok(lookup)) => {
                let found: Vec<RData> = lookup
                    .answers()
                    .iter()
                    .map(|r| r.data.clone())
                    .filter(|d| d.record_type() == kind)
                    .collect();
                if found.is_empty() {
                    Answer::Missing(format!("no {kind} record"))
                } else {
                    Answer::Found(found)
                }
            }
        }
    }

    /// Whether the resolver answers at all (an NXDOMAIN is an answer).
    pub async fn reachable(&self, hostname: &str) -> Result<(), String> {
        match self.lookup(hostname, RecordType::A).await {
            Answer::Failed(why) => Err(why),
            _ => Ok(()),
        }
    }

    /// A and AAAA of `host`; an error only when neither query was answered.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let mut ips = Vec::new();
        let mut failed = None;
        for kind in [RecordType::A, RecordType::AAAA] {
            match self.lookup(host, kind).await {
                Answer::Found(data) => ips.extend(data.iter().filter_map(|d| match d {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })),
                Answer::Missing(_) => {}
                Answer::Failed(why) => failed = Some(why),
            }
        }
        match failed {
            Some(why) if ips.is_empty() => Err(why),
            _ => Ok(ips),
        }
    }

    /// The TXT records of `name`, each one text (its strings joined).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        match self.lookup(name, RecordType::TXT).await {
            Answer::Found(data) => Ok(data
                .iter()
                .filter_map(|d| match d {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Answer::Missing(_) => Ok(Vec::new()),
            Answer::Failed(why) => Err(why),
        }
    }

    /// The PTR records of `ip`.
    pub async fn ptr(&self, ip: IpAddr) -> Answer {
        self.lookup_name(Name::from(ip), RecordType::PTR).await
    }
}

/// The TXT records of `name` that start with `tag` (case-insensitive).
fn tagged(records: &[String], tag: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| {
            r.trim_start()
                .get(..tag.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(tag))
        })
        .cloned()
        .collect()
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Our public addresses: `[doctor] public_addresses`, else the listeners' own addresses
/// (neither wildcard nor loopback nor private), else the host name's A/AAAA.
pub async fn our_addresses(config: &Config, dns: &Dns, report: &mut Report) -> Addresses {
    let list = |ips: &[IpAddr]| {
        ips.iter()
            .map(|ip| ip.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !config.doctor.public_addresses.is_empty() {
        let ips = config.doctor.public_addresses.clone();
        report.ok(
            "addresses",
            format!("{} (from [doctor] public_addresses)", list(&ips)),
        );
        return Addresses {
            ips,
            configured: true,
        };
    }
    let mut ips: Vec<IpAddr> = Vec::new();
    for l in &config.listeners {
        if !is_local(l.address) && !ips.contains(&l.address) {
            ips.push(l.address);
        }
    }
    if !ips.is_empty() {
        report.ok(
            "addresses",
            format!("{} (the listeners' addresses)", list(&ips)),
        );
        return Addresses {
            ips,
            configured: false,
        };
    }
    let host = config.hostname.trim_end_matches('.');
    let ips: Vec<IpAddr> = dns
        .addresses(host)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|ip| !is_local(*ip))
        .collect();
    if ips.is_empty() {
        report.warn(
            "addresses",
            format!("no public address known: the listeners listen on every address and {host} has no public A/AAAA"),
            "set [doctor] public_addresses = [\"192.0.2.1\"] to this server's public addresses",
        );
    } else {
        report.ok(
            "addresses",
            format!("{} (the A/AAAA of {host})", list(&ips)),
        );
    }
    Addresses {
        ips,
        configured: false,
    }
}

fn address_record(host: &str, ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{host}. IN A {ip}"),
        IpAddr::V6(_) => format!("{host}. IN AAAA {ip}"),
    }
}

/// The host name's A/AAAA, and the PTR of each of our addresses.
pub async fn check_host(config: &Config, dns: &Dns, ours: &Addresses, report: &mut Report) {
    let host = config.hostname.trim_end_matches('.').to_ascii_lowercase();
    let name = format!("dns {host} A/AAAA");
    let publish = if ours.ips.is_empty() {
        format!("publish: {host}. IN A <this server's public IPv4 address> (and AAAA for IPv6)")
    } else {
        let lines: Vec<String> = ours
            .ips
            .iter()
            .map(|ip| address_record(&host, *ip))
            .collect();
        format!("publish: {}", lines.join(" and "))
    };
    match dns.addresses(&host).await {
        Err(why) => report.skip(&name, why),
        Ok(ips) if ips.is_empty() => {
            report.fail(&name, format!("{host} has no A or AAAA record"), publish)
        }
        Ok(ips) => {
            let shown: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
            if ours.ips.is_empty() || ips.iter().any(|ip| ours.ips.contains(ip)) {
                report.ok(&name, format!("{host} is at {}", shown.join(", ")));
            } else {
                report.fail(
                    &name,
                    format!("{host} is at {}, none of our addresses", shown.join(", ")),
                    publish,
                );
            }
        }
    }
    for ip in &ours.ips {
        check_ptr(dns, &host, *ip, report).await;
    }
}

async fn check_ptr(dns: &Dns, host: &str, ip: IpAddr, report: &mut Report) {
    let name = format!("dns PTR {ip}");
    let reverse = Name::from(ip).to_ascii();
    let fix = format!(
        "ask whoever provides {ip} (the hosting provider) to set its reverse DNS: {reverse} IN PTR {host}."
    );
    let names: Vec<String> = match dns.ptr(ip).await {
        Answer::Failed(why) => return report.skip(&name, why),
        Answer::Missing(why) => {
            return report.fail(&name, format!("{ip} has no PTR record ({why})"), fix);
        }
        Answer::Found(data) => data
            .iter()
            .filter_map(|d| match d {
                RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
    };
    let Some(first) = names.first() else {
        return report.fail(&name, format!("{ip} has no PTR record"), fix);
    };
    let target = names.iter().find(|n| *n == host).unwrap_or(first);
    match dns.addresses(target).await {
        Err(why) => report.skip(&name, format!("PTR names {target}, whose A/AAAA: {why}")),
        Ok(ips) if !ips.contains(&ip) => report.fail(
            &name,
            format!("{ip} PTR {target}, but {target} does not resolve back to {ip} (not forward-confirmed)"),
            format!("publish: {} — or {fix}", address_record(target, ip)),
        ),
        Ok(_) if target != host => report.warn(
            &name,
            format!("{ip} PTR {target} (forward-confirmed), not the hostname {host}"),
            format!("{fix}; or set hostname = \"{target}\""),
        ),
        Ok(_) => report.ok(&name, format!("{ip} PTR {host}, forward-confirmed")),
    }
}

/// One domain's records.
pub async fn check_domain(
    config: &Config,
    store: Option<&dyn Store>,
    dns: &Dns,
    domain: &str,
    ours: &Addresses,
    report: &mut Report,
) {
    let expected = Expected::new(domain, config);
    let host = config.hostname.trim_end_matches('.').to_ascii_lowercase();
    check_mx(dns, domain, &host, &expected, ours, report).await;
    check_spf(dns, domain, &host, &expected, ours, report).await;
    check_dkim(store, dns, domain, report).await;
    // DMARC, MTA-STS and TLS-RPT: one tagged TXT record each
    for (what, owner, tag, record, required) in [
        (
            "DMARC",
            format!("_dmarc.{domain}"),
            "v=DMARC1",
            expected.dmarc.clone(),
            true,
        ),
        (
            "MTA-STS",
            format!("_mta-sts.{domain}"),
            "v=STSv1",
            format!("{} and {}", expected.mta_sts, expected.mta_sts_host),
            false,
        ),
        (
            "TLS-RPT",
            format!("_smtp._tls.{domain}"),
            "v=TLSRPTv1",
            expected.tls_rpt.clone(),
            false,
        ),
    ] {
        let name = format!("dns {domain} {what}");
        match dns.txt(&owner).await {
            Err(why) => report.skip(&name, why),
            Ok(records) => {
                let found = tagged(&records, tag);
                match found.as_slice() {
                    [one] => report.ok(&name, format!("{owner} TXT \"{one}\"")),
                    [] if required => report.fail(
                        &name,
                        format!("no {what} record at {owner}"),
                        format!("publish: {record}"),
                    ),
                    [] => report.warn(
                        &name,
                        format!("no {what} record at {owner} (optional, recommended)"),
                        format!("publish: {record}"),
                    ),
                    _ => report.fail(
                        &name,
                        format!(
                            "{} {what} records at {owner}: receivers ignore them all",
                            found.len()
                        ),
                        format!("keep one: {record}"),
                    ),
                }
            }
        }
    }
}

async fn check_mx(
    dns: &Dns,
    domain: &str,
    host: &str,
    expected: &Expected,
    ours: &Addresses,
    report: &mut Report,
) {
    let name = format!("dns {domain} MX");
    let fix = format!("publish: {}", expected.mx);
    let mut exchanges: Vec<(u16, String)> = match dns.lookup(domain, RecordType::MX).await {
        Answer::Failed(why) => return report.skip(&name, why),
        Answer::Missing(why) => {
            return report.fail(&name, format!("{domain} has no MX record ({why})"), fix);
        }
        Answer::Found(data) => data
            .iter()
            .filter_map(|d| match d {
                RData::MX(mx) => Some((
                    mx.preference,
                    mx.exchange
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                )),
                _ => None,
            })
            .collect(),
    };
    exchanges.sort();
    let shown: Vec<String> = exchanges
        .iter()
        .map(|(p, e)| format!("mx {p} {e}"))
        .collect();
    let shown = shown.join(", ");
    if exchanges.iter().all(|(_, e)| e.is_empty()) {
        return report.fail(
            &name,
            format!("{domain} has a null MX (takes no mail)"),
            fix,
        );
    }
    if let Some((p, e)) = exchanges.iter().find(|(_, e)| e == host) {
        return report.ok(&name, format!("mx {p} {e} points here (the hostname)"));
    }
    let mut seen = Vec::new();
    for (p, e) in &exchanges {
        match dns.addresses(e).await {
            Ok(ips) => {
                if let Some(ip) = ips.iter().find(|ip| ours.ips.contains(ip)) {
                    return report.ok(&name, format!("mx {p} {e} points here ({ip})"));
                }
                let ips: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                seen.push(format!(
                    "{e} at {}",
                    if ips.is_empty() {
                        "no address".into()
                    } else {
                        ips.join(" ")
                    }
                ));
            }
            Err(why) => seen.push(format!("{e}: {why}")),
        }
    }
    report.fail(
        &name,
        format!("{shown}: none points to this server ({})", seen.join("; ")),
        fix,
    );
}

/// Whether the SPF record lets our addresses send: the record is evaluated for each of
/// them as a receiver would (mail-auth, through doctor's resolver: `include:` and
/// `redirect=` followed, within RFC 7208's ten lookups), with `postmaster@DOMAIN` as the
/// sender; `+all` is refused on its own.
async fn check_spf(
    dns: &Dns,
    domain: &str,
    host: &str,
    expected: &Expected,
    ours: &Addresses,
    report: &mut Report,
) {
    let name = format!("dns {domain} SPF");
    let fix = format!("publish: {}", expected.spf);
    let records = match dns.txt(domain).await {
        Err(why) => return report.skip(&name, why),
        Ok(r) => tagged(&r, "v=spf1"),
    };
    let record = match records.as_slice() {
        [] => return report.fail(&name, format!("no SPF record at {domain}"), fix),
        [one] => one.clone(),
        several => {
            return report.fail(
                &name,
                format!(
                    "{} SPF records (RFC 7208 §3.2: a permanent error)",
                    several.len()
                ),
                format!("keep one: {}", expected.spf),
            );
        }
    };
    let plus_all = record
        .split_whitespace()
        .any(|t| t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("+all"));
    if plus_all {
        return report.fail(
            &name,
            format!("\"{record}\" ends in +all: anyone may send as {domain}"),
            format!("publish instead: {}", expected.spf),
        );
    }
    if ours.ips.is_empty() {
        return report.ok(
            &name,
            format!("\"{record}\" (no public address known to check it against)"),
        );
    }
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    for ip in &ours.ips {
        let verdict = tokio::time::timeout(
            dns.left(),
            estafeta_trust::spf_of(dns.resolver(), *ip, domain, host),
        )
        .await
        .unwrap_or(SpfVerdict::TempError);
        match verdict {
            SpfVerdict::Pass => {}
            SpfVerdict::NotPass(what) => refused.push(format!("{ip} ({what})")),
            SpfVerdict::TempError => unknown.push(ip.to_string()),
            SpfVerdict::PermError => {
                return report.fail(
                    &name,
                    format!(
                        "\"{record}\" cannot be evaluated: RFC 7208 permerror (a syntax error, a loop, \
                         or more than ten DNS lookups through include:, redirect=, a, mx, ptr, exists), \
                         so receivers treat {domain}'s mail as unauthenticated"
                    ),
                    fix,
                );
            }
        }
    }
    let how = "evaluated as a receiver would, include: and redirect= followed";
    if !refused.is_empty() {
        report.fail(
            &name,
            format!(
                "\"{record}\" does not let {} send ({how})",
                refused.join(", ")
            ),
            fix,
        );
    } else if !unknown.is_empty() {
        report.skip(
            &name,
            format!(
                "a lookup failed while evaluating \"{record}\" for {}",
                unknown.join(", ")
            ),
        );
    } else {
        report.ok(
            &name,
            format!("\"{record}\" lets our addresses send ({how})"),
        );
    }
}

/// The `p=` tag of a DKIM key record, without whitespace.
fn public_key_of(record: &str) -> Option<String> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim() == "p").then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

async fn check_dkim(store: Option<&dyn Store>, dns: &Dns, domain: &str, report: &mut Report) {
    let name = format!("dns {domain} DKIM");
    let Some(store) = store else {
        return report.skip(&name, "no store to read our keys from");
    };
    let keys = match store.list_dkim_keys(Some(domain)).await {
        Ok(keys) => keys,
        Err(e) => return report.skip(&name, format!("cannot read our keys: {e}")),
    };
    let active: Vec<_> = keys.into_iter().filter(|k| k.active).collect();
    if active.is_empty() {
        return report.warn(
            &name,
            format!("{domain} has no DKIM key: its mail goes out unsigned"),
            format!("run: estafeta dkim generate {domain}, then publish the records it prints"),
        );
    }
    for key in &active {
        let name = format!("dns {domain} DKIM {}", key.selector);
        let owner = format!("{}._domainkey.{domain}", key.selector);
        let fix = format!("publish: {}", estafeta_trust::signing::zone_line(key));
        let ours: String = key
            .public_key
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        match dns.txt(&owner).await {
            Err(why) => report.skip(&name, why),
            Ok(records) => {
                let published: Vec<String> =
                    records.iter().filter_map(|r| public_key_of(r)).collect();
                if published.contains(&ours) {
                    report.ok(
                        &name,
                        format!("{owner} publishes our {} key", key.algorithm),
                    );
                } else if published.is_empty() {
                    report.fail(&name, format!("no DKIM key record at {owner}"), fix);
                } else {
                    report.fail(
                        &name,
                        format!(
                            "{owner} publishes another key than the store's {} key",
                            key.algorithm
                        ),
                        fix,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{public_key_of, tagged};

    #[test]
    fn dkim_public_key() {
        assert_eq!(
            public_key_of("v=DKIM1; k=rsa; p=MIIB CgK==").as_deref(),
            Some("MIIBCgK==")
        );
        assert_eq!(public_key_of("v=DKIM1; k=ed25519"), None);
    }

    #[test]
    fn tagged_records() {
        let records = vec![
            "v=spf1 mx -all".to_string(),
            "google-site-verification=x".to_string(),
            "V=SPF1 a".to_string(),
        ];
        assert_eq!(tagged(&records, "v=spf1").len(), 2);
        assert!(tagged(&records, "v=DMARC1").is_empty());
    }
}
