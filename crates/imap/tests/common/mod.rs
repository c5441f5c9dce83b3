//! An IMAP server on loopback ports, on the test mail host (a real Store, an SMTP server
//! to deliver through); the raw line client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::{Protocol, TlsMode};
use estafeta_imap::{ImapServer, ImapSettings};
use estafeta_net::{AuthThrottle, ThrottleSettings};
use estafeta_testkit::{MailHost, TestUser};

/// The raw line client.
pub type Client = estafeta_net::testing::LineClient;

pub struct Harness {
    host: MailHost,
    /// port 143 role: plaintext, STARTTLS offered
    pub imap: SocketAddr,
    /// port 993 role: implicit TLS
    pub imaps: SocketAddr,
}

impl std::ops::Deref for Harness {
    type Target = MailHost;
    fn deref(&self) -> &MailHost {
        &self.host
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(ImapSettings::default()).await
    }

    pub async fn start_with(settings: ImapSettings) -> Harness {
        let host = MailHost::start(
            &[
                TestUser("bob@example.com", "secret", true),
                TestUser("ann@example.com", "secret", true),
            ],
            &[
                (Protocol::Imap, TlsMode::Starttls),
                (Protocol::Imap, TlsMode::Implicit),
            ],
            |store, tls| {
                let throttle = Arc::new(AuthThrottle::new(ThrottleSettings {
                    per_user: 3,
                    per_address: 3,
                    delay: Duration::from_millis(1),
                    block: Duration::from_secs(300),
                    ipv6_prefix: 64,
                }));
                Arc::new(ImapServer::new(store, tls, throttle, settings))
            },
        )
        .await;
        let (imap, imaps) = (host.listeners[0], host.listeners[1]);
        Harness { host, imap, imaps }
    }
}
