//! An IMAP server on loopback ports, on the test mail host (a real Store, an SMTP server
//! to deliver through); the raw line client.

#![allow(dead_code)]

use std::net::SocketAddr;

use estafeta_config::{Config, Protocol};
use estafeta_testkit::MailHost;

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
        Harness::start_with(|_| {}).await
    }

    /// With the test configuration changed by `tweak`: 3 failed logins block a user name
    /// or a client, each answered after 1 ms.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let host = MailHost::two_ports(Protocol::Imap, true, tweak).await;
        let (imap, imaps) = (host.listeners[0], host.listeners[1]);
        Harness { host, imap, imaps }
    }
}
