//! Where a recipient's mail goes: its destination (the domain's MX hosts, a route for the
//! domain, or the smarthost), and for a destination the hosts to try, in order, with the
//! client settings for each. A host that is this server itself (our host name, or one of
//! the addresses we listen on) ends the list there (RFC 5321 §5.1); when nothing is
//! left before it, the mail "loops back to myself" and fails for good instead of looping.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use estafeta_smtp::outbound::{ClientSettings, TlsPolicy};
use estafeta_trust::dane::{Dane, DaneVerifier, TlsaAnswer};
use estafeta_trust::mta_sts::{Mode, PolicyAnswer};
use hickory_resolver::TokioResolver;

use crate::dns::{self, DnsFailure, MailHosts};
use crate::settings::{DeliverySettings, RelayTarget};

/// Addresses tried at most in one attempt (over all hosts), as Postfix's
/// `smtp_mx_address_limit`.
const MAX_ADDRESSES: usize = 10;

/// Where a recipient's mail is handed over. Recipients of one message with the same
/// destination travel in one transaction.
#[derive(Debug, Clone)]
pub enum Destination {
    /// The MX hosts of this domain.
    Mx(String),
    /// A relay (a route or the smarthost), whatever the recipient's domain.
    Relay(Arc<RelayTarget>),
}

impl Destination {
    /// The recipient domain's destination.
    pub fn of(settings: &DeliverySettings, domain: &str) -> Destination {
        let domain = domain.to_ascii_lowercase();
        if let Some(route) = settings.routes.get(&domain) {
            return Destination::Relay(route.clone());
        }
        if let Some(smarthost) = &settings.smarthost {
            return Destination::Relay(smarthost.clone());
        }
        Destination::Mx(domain)
    }

    /// What destinations are told apart by (a domain, or `[host]:port` of a relay).
    pub fn key(&self) -> String {
        match self {
            Destination::Mx(domain) => domain.clone(),
            Destination::Relay(r) => format!("[{}]:{}", r.host, r.port),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Mx(domain) => f.write_str(domain),
            Destination::Relay(r) => write!(f, "{} [{}]:{}", r.name, r.host, r.port),
        }
    }
}

/// One address of one host to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The host's name (the MX name, or the relay's host), for TLS and the logs.
    pub name: String,
    pub addr: SocketAddr,
    pub client: Arc<ClientSettings>,
    /// The host's DANE TLSA records (as text, for TLS reports) when DANE applies.
    pub tlsa: Option<Arc<Vec<String>>>,
}

/// A host to look up, with what connecting to it takes.
struct Host {
    preference: u16,
    name: String,
    client: Arc<ClientSettings>,
    tlsa: Option<Arc<Vec<String>>>,
}

/// `mx1.example.org[192.0.2.1]:25`, as in Postfix's `relay=` and the queue listing.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]:{}", self.name, self.addr.ip(), self.addr.port())
    }
}

/// Why a destination has no host to try. The text starts with an RFC 3463 status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    pub permanent: bool,
    pub reason: String,
}

impl NoRoute {
    fn permanent(reason: String) -> NoRoute {
        NoRoute {
            permanent: true,
            reason,
        }
    }

    fn temporary(reason: String) -> NoRoute {
        NoRoute {
            permanent: false,
            reason,
        }
    }
}

/// The hosts to try for a destination, best first. Under an MTA-STS policy in `enforce`
/// mode only the MX hosts it names are kept, and each needs TLS with a certificate valid
/// for its name. When the domain's MX records are DNSSEC-signed, a host with secure TLSA
/// records needs TLS with a certificate they match (DANE comes before MTA-STS, RFC 8461
/// §2), and a host whose TLSA lookup failed is not used now.
pub async fn targets(
    settings: &DeliverySettings,
    resolver: &TokioResolver,
    dest: &Destination,
    policy: &PolicyAnswer,
    dane: Option<&Dane>,
) -> Result<Vec<Target>, NoRoute> {
    match dest {
        Destination::Relay(relay) => {
            let hosts = vec![Host {
                preference: 0,
                name: relay.host.clone(),
                client: Arc::new(relay.client.clone()),
                tlsa: None,
            }];
            let found = resolve(settings, resolver, &hosts, relay.port, Vec::new()).await;
            finish(found, &relay.host, || {
                format!("{} [{}]:{}", relay.name, relay.host, relay.port)
            })
        }
        Destination::Mx(domain) => {
            let (hosts, has_mx) = match dns::mail_hosts(resolver, domain).await {
                Ok(MailHosts::Mx(hosts)) => (hosts, true),
                Ok(MailHosts::Implicit) => (vec![(0, domain.clone())], false),
                Ok(MailHosts::NullMx) => {
                    return Err(NoRoute::permanent(format!(
                        "5.1.10 {domain} does not accept mail: its MX record is the null MX (RFC 7505)"
                    )));
                }
                Err(DnsFailure::NotFound(why)) => {
                    return Err(NoRoute::permanent(format!("5.4.4 {why}")));
                }
                Err(DnsFailure::Temporary(why)) => {
                    return Err(NoRoute::temporary(format!("4.4.3 {why}")));
                }
            };
            let (hosts, client) = match (policy, &settings.mta_sts) {
                (PolicyAnswer::Policy(p), Some((_, roots))) if p.mode == Mode::Enforce => {
                    let named: Vec<(u16, String)> = hosts
                        .iter()
                        .filter(|(_, h)| p.matches(h))
                        .cloned()
                        .collect();
                    if named.is_empty() {
                        let all: Vec<&str> = hosts.iter().map(|(_, h)| h.as_str()).collect();
                        return Err(NoRoute::temporary(format!(
                            "4.7.5 no MX host of {domain} ({}) is named by its MTA-STS policy \
                             (mode enforce, mx {})",
                            all.join(", "),
                            p.mx.join(", ")
                        )));
                    }
                    (named, settings.mx_client_enforced(roots.clone()))
                }
                _ => (hosts, settings.mx_client()),
            };
            let client = Arc::new(client);
            let mut list: Vec<Host> = hosts
                .into_iter()
                .map(|(preference, name)| Host {
                    preference,
                    name,
                    client: client.clone(),
                    tlsa: None,
                })
                .collect();
            let mut unusable = Vec::new();
            if let Some(dane) = dane
                && has_mx
                && dane.mx_is_secure(domain).await
            {
                list = with_dane(settings, dane, list, &mut unusable).await;
            }
            let found = resolve(settings, resolver, &list, settings.mx_port, unusable).await;
            finish(found, domain, || format!("the MX hosts of {domain}"))
        }
    }
}

/// What looking up the hosts' addresses gave.
struct Found {
    targets: Vec<Target>,
    /// We are one of the hosts, at least as preferred as any left.
    looped: bool,
    /// Why hosts were left out.
    temporary: Vec<String>,
    not_found: Vec<String>,
}

/// The hosts with DANE's demands: secure TLSA records make TLS with a matching
/// certificate required; a failed TLSA lookup takes the host out (its reason kept in
/// `unusable`).
async fn with_dane(
    settings: &DeliverySettings,
    dane: &Dane,
    hosts: Vec<Host>,
    unusable: &mut Vec<String>,
) -> Vec<Host> {
    let mut kept = Vec::with_capacity(hosts.len());
    for mut host in hosts {
        match dane.tlsa(&host.name, settings.mx_port).await {
            TlsaAnswer::None => kept.push(host),
            TlsaAnswer::Records(records) => {
                host.tlsa = Some(Arc::new(records.iter().map(|r| r.to_string()).collect()));
                host.client = Arc::new(ClientSettings {
                    tls: TlsPolicy::Required,
                    verify_certificate: None,
                    verifier: Some(Arc::new(DaneVerifier::new(records))),
                    ..settings.mx_client()
                });
                kept.push(host);
            }
            TlsaAnswer::Failed(why) => {
                tracing::warn!(host = %host.name, error = %why, "DANE: host not used");
                unusable.push(format!("4.7.5 {}: {why}", host.name));
            }
        }
    }
    kept
}

async fn resolve(
    settings: &DeliverySettings,
    resolver: &TokioResolver,
    hosts: &[Host],
    port: u16,
    unusable: Vec<String>,
) -> Found {
    let mut found = Found {
        targets: Vec::new(),
        looped: false,
        temporary: unusable,
        not_found: Vec::new(),
    };
    // RFC 5321 §5.1: when we are in the list, we and every host not preferred over us
    // are dropped
    let mut cut: Option<u16> = None;
    for host in hosts {
        let (preference, name) = (&host.preference, &host.name);
        if cut.is_some_and(|c| *preference >= c) {
            continue;
        }
        if name.eq_ignore_ascii_case(&settings.hostname) {
            cut = Some(*preference);
            found.looped = true;
            continue;
        }
        let ips = match dns::addresses(resolver, name).await {
            Ok(ips) => ips,
            Err(DnsFailure::NotFound(why)) => {
                found.not_found.push(why);
                continue;
            }
            Err(DnsFailure::Temporary(why)) => {
                found.temporary.push(why);
                continue;
            }
        };
        let addrs: Vec<SocketAddr> = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        if addrs.iter().any(|a| is_own(settings, *a)) {
            cut = Some(*preference);
            found.looped = true;
            continue;
        }
        for addr in addrs {
            found.targets.push(Target {
                name: name.clone(),
                addr,
                client: host.client.clone(),
                tlsa: host.tlsa.clone(),
            });
        }
    }
    if let Some(c) = cut {
        // hosts of our preference found before we were seen go too
        let keep: Vec<&str> = hosts
            .iter()
            .filter(|h| h.preference < c)
            .map(|h| h.name.as_str())
            .collect();
        found.targets.retain(|t| keep.contains(&t.name.as_str()));
    }
    found.targets.truncate(MAX_ADDRESSES);
    found
}

fn finish(found: Found, what: &str, describe: impl Fn() -> String) -> Result<Vec<Target>, NoRoute> {
    if !found.targets.is_empty() {
        return Ok(found.targets);
    }
    if found.looped {
        return Err(NoRoute::permanent(format!(
            "5.4.6 mail for {what} loops back to myself: {} names this server",
            describe()
        )));
    }
    if let Some(why) = found.temporary.first() {
        return Err(NoRoute::temporary(format!("4.4.3 {why}")));
    }
    let why = found
        .not_found
        .first()
        .cloned()
        .unwrap_or_else(|| format!("{what} has no host to deliver to"));
    Err(NoRoute::permanent(format!("5.4.4 {why}")))
}

/// Whether a host address is one of our own SMTP listeners: the same socket, or the same
/// port on a listener bound to every address and an address of this machine.
pub fn is_own(settings: &DeliverySettings, addr: SocketAddr) -> bool {
    settings.own_addresses.iter().any(|own| {
        own.port() == addr.port()
            && (own.ip() == addr.ip() || (own.ip().is_unspecified() && is_local_ip(addr.ip())))
    })
}

/// An address of this machine: loopback, or one a socket can be bound to.
fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::TcpListener::bind(SocketAddr::new(ip, 0)).is_ok()
}
