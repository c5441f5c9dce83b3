//! ManageSieve (RFC 5804) for estafeta: the server of the `managesieve` listeners (port
//! 4190), where users' mail clients (Thunderbird's Sieve add-on, Roundcube's managesieve
//! plugin, sieve-connect) upload, check, activate and remove their Sieve scripts. The
//! command syntax (`command`) is parsed by hand (no crate speaks ManageSieve) and fuzzed
//! apart from the session (`session`); scripts are compiled by `estafeta_sieve` before
//! they are stored, and kept by the store's `SieveScripts`.

pub mod command;
mod session;

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use estafeta_config::Config;
use estafeta_net::{AuthThrottle, Connection, RefusalWords, Service, TlsSetup};
use estafeta_store::Store;

pub(crate) struct SieveState {
    pub store: Arc<dyn Store>,
    pub tls: TlsSetup,
    pub throttle: Arc<AuthThrottle>,
    pub allow_plaintext_on_loopback: bool,
    pub limits: estafeta_sieve::Limits,
    pub max_scripts: usize,
    pub max_storage: usize,
    pub connections: Arc<estafeta_net::ConnectionLimits>,
    /// Commands per minute per client before login (IMAP's budget).
    pub commands: estafeta_net::CommandBudget,
}

#[derive(Clone)]
pub struct ManageSieveServer {
    shared: Arc<SieveState>,
}

impl ManageSieveServer {
    /// The server of the `managesieve` listeners, from `[sieve]` (and
    /// `auth.allow_plaintext_on_loopback`, `imap.unauthenticated_commands_per_minute`),
    /// with the failed-login throttle every protocol shares.
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        tls: TlsSetup,
        throttle: Arc<AuthThrottle>,
    ) -> ManageSieveServer {
        let sieve = &config.sieve;
        ManageSieveServer {
            shared: Arc::new(SieveState {
                commands: estafeta_net::CommandBudget::new(
                    config.imap.unauthenticated_commands_per_minute,
                    throttle.ipv6_prefix(),
                    estafeta_net::Networks::parse(&config.smtp.trusted_networks),
                ),
                store,
                tls,
                throttle,
                allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
                limits: estafeta_sieve::Limits {
                    max_script_bytes: sieve.max_script_size,
                    max_actions: sieve.max_actions,
                    max_redirects: sieve.max_redirects,
                    ..estafeta_sieve::Limits::default()
                },
                max_scripts: sieve.max_scripts,
                max_storage: sieve.max_storage,
                connections: estafeta_net::ConnectionLimits::new(
                    sieve.max_connections,
                    sieve.max_connections_per_ip,
                ),
            }),
        }
    }
}

#[async_trait]
impl Service for ManageSieveServer {
    async fn handle(&self, conn: Connection) {
        session::run(self.shared.clone(), conn).await;
    }

    fn limits(&self) -> &Arc<estafeta_net::ConnectionLimits> {
        &self.shared.connections
    }

    fn refusal_words(&self) -> &RefusalWords {
        static WORDS: RefusalWords = RefusalWords {
            permanent: Cow::Borrowed("BYE"),
            temporary: Cow::Borrowed("BYE (TRYLATER)"),
        };
        &WORDS
    }
}
