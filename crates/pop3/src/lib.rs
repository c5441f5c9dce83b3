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
use estafeta_net::{AuthThrottle, Connection, RefusalWords, Service, TlsSetup};
use estafeta_store::Store;

pub use session::dot_stuff;

/// What the POP3 server needs from the configuration.
#[derive(Clone)]
pub struct Pop3Settings {
    /// Accept USER/PASS and AUTH over plaintext from loopback addresses.
    pub allow_plaintext_on_loopback: bool,
    /// RFC 1939 §3: the autologout timer is at least 10 minutes.
    pub idle_timeout: Duration,
    /// Simultaneous connections in total and from one IP address.
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    /// From its first octet, the time a command line may take to arrive
    /// (`pop3.command_timeout`).
    pub command_timeout: Duration,
    /// `-ERR` replies in a session before `-ERR too many errors` (`pop3.max_errors`).
    pub max_errors: u32,
    /// Commands per minute from one client, over all its sessions, before login; 0: no
    /// limit (`pop3.unauthenticated_commands_per_minute`).
    pub unauthenticated_commands_per_minute: u32,
    /// Networks whose clients have no such budget (`smtp.trusted_networks`).
    pub command_budget_exempt: Vec<String>,
}

impl Default for Pop3Settings {
    fn default() -> Self {
        Pop3Settings {
            allow_plaintext_on_loopback: false,
            idle_timeout: Duration::from_secs(600),
            max_connections: estafeta_config::Pop3Config::default().max_connections,
            max_connections_per_ip: estafeta_config::Pop3Config::default().max_connections_per_ip,
            command_timeout: Duration::from_secs(
                estafeta_config::Pop3Config::default().command_timeout,
            ),
            max_errors: estafeta_config::Pop3Config::default().max_errors,
            unauthenticated_commands_per_minute: estafeta_config::Pop3Config::default()
                .unauthenticated_commands_per_minute,
            command_budget_exempt: Vec::new(),
        }
    }
}

pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub tls: TlsSetup,
    pub throttle: Arc<AuthThrottle>,
    pub allow_plaintext_on_loopback: bool,
    pub idle_timeout: Duration,
    pub command_timeout: Duration,
    pub max_errors: u32,
    pub connections: Arc<estafeta_net::ConnectionLimits>,
    /// Commands per minute per client before login.
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

impl Shared {
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
    shared: Arc<Shared>,
}

impl Pop3Server {
    pub fn new(
        store: Arc<dyn Store>,
        tls: TlsSetup,
        throttle: Arc<AuthThrottle>,
        settings: Pop3Settings,
    ) -> Pop3Server {
        Pop3Server {
            shared: Arc::new(Shared {
                commands: estafeta_net::CommandBudget::new(
                    settings.unauthenticated_commands_per_minute,
                    throttle.ipv6_prefix(),
                    estafeta_net::Networks::parse(&settings.command_budget_exempt),
                ),
                store,
                tls,
                throttle,
                allow_plaintext_on_loopback: settings.allow_plaintext_on_loopback,
                idle_timeout: settings.idle_timeout,
                command_timeout: settings.command_timeout,
                max_errors: settings.max_errors,
                connections: estafeta_net::ConnectionLimits::new(
                    settings.max_connections,
                    settings.max_connections_per_ip,
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
