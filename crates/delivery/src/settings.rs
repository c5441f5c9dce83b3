//! What delivery needs to know, taken from the configuration once at start: limits,
//! the retry policy, where DNS is asked, the relays with their TLS and credentials (the
//! password files and CA files read here), and this server's own names and addresses
//! (so that mail never loops back to us).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::{Config, Relay, RelayAuth, RelayTls};
use estafeta_smtp::outbound::{AuthMechanism, ClientSettings, Credentials, Timeouts, TlsPolicy};
use rustls::RootCertStore;

use crate::retry::RetryPolicy;

/// A server mail is handed to instead of the recipient domain's MX.
#[derive(Debug)]
pub struct RelayTarget {
    /// For logs: `smarthost` or `route for example.org`.
    pub name: String,
    /// A host name (A/AAAA, no MX) or an IP address.
    pub host: String,
    pub port: u16,
    pub client: ClientSettings,
}

/// Everything delivery needs, fixed for the life of the scheduler.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Our name: EHLO, the DSN's Reporting-MTA, and a host that must not be an MX.
    pub hostname: String,
    pub max_connections: usize,
    pub per_destination: usize,
    pub messages_per_connection: usize,
    /// How long a worker keeps its connection for the destination's next message.
    pub connection_cache_time: Duration,
    pub retry: RetryPolicy,
    /// Seconds after which NOTIFY=DELAY recipients get a "delayed" report; `None`: never.
    pub delay_warning: Option<i64>,
    pub host_retry_after: Duration,
    /// Seconds of a lease; renewed every third of it.
    pub lease_time: i64,
    pub scan_interval: Duration,
    /// The port of MX hosts and A/AAAA fallbacks.
    pub mx_port: u16,
    /// Apply recipient domains' MTA-STS policies, fetched on this port (443) and checked,
    /// like the certificates of MX hosts under a policy, against these roots; `None`:
    /// MTA-STS is off (`trust.mta_sts = false`).
    pub mta_sts: Option<(u16, Arc<RootCertStore>)>,
    /// Roots that HTTPS servers (MTA-STS policy hosts, TLS report addresses) must chain
    /// to: `trust.ca_file`, or the system's.
    pub web_roots: Arc<RootCertStore>,
    /// Which reports go out once a period, and the period.
    pub reports: crate::daily_reports::Reports,
    pub timeouts: Timeouts,
    pub smarthost: Option<Arc<RelayTarget>>,
    /// By recipient domain (lower case).
    pub routes: HashMap<String, Arc<RelayTarget>>,
    /// The SMTP sockets this server listens on: a host at one of them is ourselves.
    pub own_addresses: Vec<SocketAddr>,
    /// Messages at most in memory waiting for a connection (leased, not yet sent).
    pub backlog: usize,
    /// A message with more `Received:` fields is not sent (`smtp.max_hops`): its
    /// recipients fail with 5.4.6.
    pub max_hops: usize,
}

impl DeliverySettings {
    /// From the configuration; `own_addresses` are the bound SMTP listeners. Fails with a
    /// message naming the key when a password or CA file cannot be read.
    pub fn from_config(
        config: &Config,
        own_addresses: Vec<SocketAddr>,
    ) -> Result<DeliverySettings, String> {
        let d = &config.delivery;
        let timeouts = Timeouts {
            connect: Duration::from_secs(d.connect_timeout),
            ..Timeouts::default()
        };
        let relay = |key: &str, r: &Relay, is_route: bool, name: String| {
            relay_target(&config.hostname, timeouts, key, r, is_route, name).map(Arc::new)
        };
        let smarthost = match &d.smarthost {
            Some(r) => Some(relay(
                "delivery.smarthost",
                r,
                false,
                "smarthost".to_string(),
            )?),
            None => None,
        };
        let mut routes = HashMap::new();
        for (i, r) in d.routes.iter().enumerate() {
            let domain = r.domain.clone().unwrap_or_default().to_ascii_lowercase();
            let target = relay(
                &format!("delivery.route[{i}]"),
                r,
                true,
                format!("route for {domain}"),
            )?;
            routes.insert(domain, target);
        }
        let max_connections = d.max_connections as usize;
        let web_roots = match &config.trust.ca_file {
            Some(file) => estafeta_net::roots::from_file("trust", file)?,
            None => estafeta_net::roots::system(),
        };
        Ok(DeliverySettings {
            hostname: config.hostname.to_ascii_lowercase(),
            max_connections,
            per_destination: d.max_connections_per_destination as usize,
            messages_per_connection: d.max_messages_per_connection as usize,
            connection_cache_time: Duration::from_secs(d.connection_cache_time),
            retry: RetryPolicy::new(d.retry_schedule.clone(), d.max_queue_time),
            delay_warning: (d.delay_warning > 0).then_some(d.delay_warning as i64),
            host_retry_after: Duration::from_secs(d.host_retry_after),
            lease_time: d.lease_time as i64,
            scan_interval: Duration::from_secs(d.scan_interval),
            mx_port: d.mx_port,
            mta_sts: config
                .trust
                .mta_sts
                .then(|| (d.https_port, web_roots.clone())),
            web_roots,
            reports: crate::daily_reports::Reports {
                period: config.trust.report_period as i64,
                tls: config.trust.tls_reports,
                dmarc: config.trust.dmarc_reports,
            },
            timeouts,
            smarthost,
            routes,
            own_addresses,
            backlog: (max_connections * 20).clamp(200, 5000),
            max_hops: config.smtp.max_hops as usize,
        })
    }

    /// The client settings for MX hosts: opportunistic TLS, no AUTH.
    pub fn mx_client(&self) -> ClientSettings {
        ClientSettings {
            timeouts: self.timeouts,
            ..ClientSettings::new(self.hostname.clone())
        }
    }

    /// The client settings for MX hosts under an MTA-STS policy in `enforce` mode: TLS
    /// required, the certificate valid for the MX name.
    pub fn mx_client_enforced(&self, roots: Arc<RootCertStore>) -> ClientSettings {
        ClientSettings {
            tls: TlsPolicy::Required,
            verify_certificate: Some(roots),
            ..self.mx_client()
        }
    }
}

fn relay_target(
    hostname: &str,
    timeouts: Timeouts,
    key: &str,
    r: &Relay,
    is_route: bool,
    name: String,
) -> Result<RelayTarget, String> {
    let password = match (&r.password, &r.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("{key}.password_file: cannot read {}: {e}", file.display()))?;
            Some(text.lines().next().unwrap_or("").to_string())
        }
        (None, None) => None,
    };
    let credentials = match (&r.username, password) {
        (Some(username), Some(password)) => Some(Credentials {
            username: username.clone(),
            password,
            mechanism: r.auth_mechanism.map(|m| match m {
                RelayAuth::Plain => AuthMechanism::Plain,
                RelayAuth::Login => AuthMechanism::Login,
            }),
        }),
        _ => None,
    };
    let verify_certificate = match (&r.ca_file, r.tls_verify) {
        (Some(file), _) => Some(estafeta_net::roots::from_file(key, file)?),
        (None, true) => Some(estafeta_net::roots::system()),
        (None, false) => {
            if r.tls_mode(is_route) != RelayTls::None {
                tracing::warn!(
                    relay = %key,
                    host = %r.host,
                    "{key}.tls_verify = false: the relay's certificate is not checked, so \
                     whoever answers at {} gets the mail{}; set ca_file or remove tls_verify",
                    r.host,
                    if r.username.is_some() { " and the password" } else { "" }
                );
            }
            None
        }
    };
    let tls = match r.tls_mode(is_route) {
        RelayTls::Starttls => TlsPolicy::Required,
        RelayTls::Implicit => TlsPolicy::Implicit,
        RelayTls::Opportunistic => TlsPolicy::Opportunistic,
        RelayTls::None => TlsPolicy::Disabled,
    };
    Ok(RelayTarget {
        name,
        host: r.host.trim_end_matches('.').to_ascii_lowercase(),
        port: r.port_number(is_route),
        client: ClientSettings {
            timeouts,
            tls,
            verify_certificate,
            credentials,
            allow_plaintext_auth: r.allow_plaintext_auth,
            ..ClientSettings::new(hostname.to_string())
        },
    })
}
