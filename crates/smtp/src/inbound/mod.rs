//! The inbound SMTP server: one [`SmtpServer`] serves every `smtp` and `submission`
//! listener; each connection is one [`session`].

mod assembly;
pub mod bounces;
mod client;
pub mod data;
pub mod filters;
mod headers;
mod policy;
mod quota;
mod rates;
mod recipients;
mod reports;
mod sender;
mod session;
pub use submit::Handover;
mod spool;
mod submit;
mod tracking;
mod transaction;
mod vacation;

use std::sync::Arc;

use async_trait::async_trait;
use estafeta_config::{Config, SmtpConfig, TrustConfig};
use estafeta_net::{AuthThrottle, Connection, RefusalWords, Service, TlsSetup};
use estafeta_store::Store;

/// What the SMTP server needs from the configuration.
#[derive(Clone)]
pub(crate) struct SmtpSettings {
    pub hostname: String,
    pub smtp: SmtpConfig,
    /// Accept AUTH over plaintext from loopback addresses.
    pub allow_plaintext_on_loopback: bool,
    /// Where message data over 256 KiB waits while it arrives (unlinked temporary files):
    /// `<data_dir>/spool`.
    pub spool_dir: std::path::PathBuf,
    /// What the checks of mail from outside do (`[trust]`).
    pub trust: TrustConfig,
}

impl SmtpSettings {
    fn from_config(config: &Config) -> SmtpSettings {
        SmtpSettings {
            hostname: config.hostname.clone(),
            smtp: config.smtp.clone(),
            allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
            spool_dir: config.data_dir.join("spool"),
            trust: config.trust.clone(),
        }
    }
}

pub(crate) struct SmtpState {
    pub store: Arc<dyn Store>,
    pub tls: TlsSetup,
    pub settings: SmtpSettings,
    pub trusted: policy::Networks,
    pub connections: Arc<estafeta_net::ConnectionLimits>,
    /// Turns true when the server stops: sessions say 421 and close.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub auth_throttle: Arc<AuthThrottle>,
    /// Commands per minute per client before authentication.
    pub commands: estafeta_net::CommandBudget,
    pub rates: Arc<rates::RateLimits>,
    /// Message octets held in memory for the store at one time.
    pub body_budget: spool::BodyBudget,
    /// How a connection over the limits is refused.
    pub refusal: RefusalWords,
    /// SPF, DKIM, ARC and DMARC of mail from outside; `None` with `trust.checks = false`.
    pub checker: Option<estafeta_trust::Checker>,
    /// DKIM signatures on our users' mail, with their domains' keys.
    pub signer: Arc<estafeta_trust::signing::Signer>,
    /// Where the web side is reached (`https://host`), for the links of open and click
    /// tracking; `None` without an `http`/`https` listener (no tracking then).
    pub tracking_base: Option<String>,
    /// Sieve at delivery (`[sieve]`).
    pub filters: Arc<filters::Filters>,
}

impl SmtpState {
    fn spool(&self) -> spool::Spool {
        spool::Spool::new(self.settings.spool_dir.clone())
    }
}

#[derive(Clone)]
pub struct SmtpServer {
    shared: Arc<SmtpState>,
}

impl SmtpServer {
    /// The server of the `smtp` and `submission` listeners, from the `[smtp]` section
    /// (and `hostname`, `data_dir`, `auth.allow_plaintext_on_loopback`), with the
    /// failed-login throttle every protocol shares. `shutdown` turning true makes every
    /// session answer `421 4.3.2` and close. `checker` checks mail from outside. `Err`
    /// names a `[sieve]` server-wide script that cannot be read or compiled.
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        tls: TlsSetup,
        auth_throttle: Arc<AuthThrottle>,
        shutdown: tokio::sync::watch::Receiver<bool>,
        checker: Option<estafeta_trust::Checker>,
        tracking_base: Option<String>,
    ) -> Result<SmtpServer, String> {
        // Sieve at delivery; a server-wide script that does not compile stops the start
        let filters = Arc::new(filters::Filters::from_config(
            &config.sieve,
            &config.hostname,
        )?);
        let settings = SmtpSettings::from_config(config);
        let s = &settings.smtp;
        let host = &settings.hostname;
        let shared = SmtpState {
            refusal: RefusalWords {
                permanent: format!("554 5.7.1 {host} Error:").into(),
                temporary: format!("421 4.7.0 {host} Error:").into(),
            },
            body_budget: spool::BodyBudget::default(),
            rates: Arc::new(rates::RateLimits::new(s)),
            trusted: policy::Networks::parse(&s.trusted_networks),
            connections: estafeta_net::ConnectionLimits::new(
                s.max_connections,
                s.max_connections_per_ip,
            ),
            auth_throttle,
            commands: estafeta_net::CommandBudget::new(
                s.unauthenticated_commands_per_minute,
                s.ipv6_prefix,
                estafeta_net::Networks::parse(&s.trusted_networks),
            ),
            signer: Arc::new(estafeta_trust::signing::Signer::new(store.clone())),
            store,
            tls,
            settings,
            shutdown,
            checker,
            tracking_base,
            filters,
        };
        Ok(SmtpServer {
            shared: Arc::new(shared),
        })
    }
}

impl SmtpServer {
    /// This node's sending-rate counts, for the other nodes of a cluster.
    pub fn shared_rate_counts(&self) -> Vec<(String, u64)> {
        self.shared.rates.shared_counts()
    }

    /// The other nodes' sending-rate counts.
    pub fn set_shared_rate_counts(&self, counts: Vec<(String, u64)>) {
        self.shared.rates.set_shared(counts);
    }

    /// Stores a message a signed-in user hands over through another protocol (JMAP), with
    /// the checks of a submission session (`submit`).
    pub async fn submit(&self, handover: submit::Handover<'_>) -> Result<(String, String), String> {
        submit::submit(&self.shared, handover).await
    }

    /// Whether `user` may use `address` as sender, as MAIL on a submission port decides.
    pub async fn may_send_as(
        &self,
        user: &estafeta_store::User,
        address: &str,
    ) -> Result<bool, String> {
        policy::may_send_as(&*self.shared.store, user, address)
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits until every SMTP session has ended.
    pub async fn wait_idle(&self) {
        self.shared.connections.wait_idle().await;
    }
}

#[async_trait]
impl Service for SmtpServer {
    async fn handle(&self, conn: Connection) {
        session::run(self.shared.clone(), conn).await;
    }

    fn limits(&self) -> &Arc<estafeta_net::ConnectionLimits> {
        &self.shared.connections
    }

    fn refusal_words(&self) -> &RefusalWords {
        &self.shared.refusal
    }
}
