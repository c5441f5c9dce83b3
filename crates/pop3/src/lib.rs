//! POP3 for estafeta (RFC 1939 with CAPA, STLS, SASL PLAIN and response codes): the server
//! of the `pop3` listeners. The command parser (`command`) is separate from the session
//! (`session`) and fuzzed on its own.

pub mod command;
mod input;
mod session;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use estafeta_config::Config;
use estafeta_net::{AuthThrottle, Connection, RefusalWords, Service, TlsSetup};
use estafeta_store::Store;

pub use session::dot_stuff;

/// RFC 1939 §3: the autologout timer is at least 10 minutes; not configurable.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) struct Pop3State {
    pub store: Arc<dyn Store>,
    pub tls: TlsSetup,
    pub throttle: Arc<AuthThrottle>,
    /// Accept USER/PASS and AUTH over plaintext from loopback addresses.
    pub allow_plaintext_on_loopback: bool,
    pub idle_timeout: Duration,
    /// From its first octet, the time a command line may take to arrive
    /// (`pop3.command_timeout`).
    pub command_timeout: Duration,
    /// `-ERR` replies in a session before `-ERR too many errors` (`pop3.max_errors`).
    pub max_errors: u32,
    pub connections: Arc<estafeta_net::ConnectionLimits>,
    /// Commands per minute per client before login
    /// (`pop3.unauthenticated_commands_per_minute`); `smtp.trusted_networks` are exempt.
    pub commands: estafeta_net::CommandBudget,
    /// Users with an open POP3 session in this process (one at a time, RFC 1939 §8).
    open: Arc<Mutex<HashSet<i64>>>,
}

/// Held while a user's maildrop is open; released when dropped.
pub(crate) struct MaildropLock {
    open: Arc<Mutex<HashSet<i64>>>,
    user_id: i64,
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.user_id);
    }
}

impl Pop3State {
    pub fn lock(&self, user_id: i64) -> Option<MaildropLock> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.insert(user_id).then(|| MaildropLock {
            open: self.open.clone(),
            user_id,
        })
    }
}

#[derive(Clone)]
pub struct Pop3Server {
    shared: Arc<Pop3State>,
}

impl Pop3Server {
    /// The server of the `pop3` listeners, from the `[pop3]` section (and
    /// `auth.allow_plaintext_on_loopback`, `smtp.trusted_networks`), with the failed-login
    /// throttle every protocol shares.
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        tls: TlsSetup,
        throttle: Arc<AuthThrottle>,
    ) -> Pop3Server {
        let pop3 = &config.pop3;
        Pop3Server {
            shared: Arc::new(Pop3State {
                commands: estafeta_net::CommandBudget::new(
                    pop3.unauthenticated_commands_per_minute,
                    throttle.ipv6_prefix(),
                    estafeta_net::Networks::parse(&config.smtp.trusted_networks),
                ),
                store,
                tls,
                throttle,
                allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
                idle_timeout: IDLE_TIMEOUT,
                command_timeout: Duration::from_secs(pop3.command_timeout),
                max_errors: pop3.max_errors,
                connections: estafeta_net::ConnectionLimits::new(
                    pop3.max_connections,
                    pop3.max_connections_per_ip,
                ),
                open: Arc::new(Mutex::new(HashSet::new())),
            }),
        }
    }
}

#[async_trait]
impl Service for Pop3Server {
    async fn handle(&self, conn: Connection) {
        session::run(self.shared.clone(), conn).await;
    }

    fn limits(&self) -> &Arc<estafeta_net::ConnectionLimits> {
        &self.shared.connections
    }

    fn refusal_words(&self) -> &RefusalWords {
        static WORDS: RefusalWords = RefusalWords {
            permanent: Cow::Borrowed("-ERR"),
            temporary: Cow::Borrowed("-ERR [SYS/TEMP]"),
        };
        &WORDS
    }
}
