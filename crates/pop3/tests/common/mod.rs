//! A POP3 server on loopback ports, on the test mail host (a real Store, an SMTP server to
//! deliver through); the raw line client.

#![allow(dead_code)]

use std::net::SocketAddr;

use estafeta_config::{Config, Protocol};
use estafeta_testkit::MailHost;

/// The raw line client.
pub type Client = estafeta_net::testing::LineClient;

pub struct Harness {
    host: MailHost,
    /// port 110 role: plaintext, STLS offered
    pub pop3: SocketAddr,
    /// port 995 role: implicit TLS
    pub pop3s: SocketAddr,
}

impl std::ops::Deref for Harness {
    type Target = MailHost;
    fn deref(&self) -> &MailHost {
        &self.host
    }
}

impl Harness {
    /// bob keeps his mail on the server; ann's is deleted once downloaded.
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// With the test configuration changed by `tweak`: 3 failed logins block a user name
    /// or a client, each answered after 1 ms.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let host = MailHost::two_ports(Protocol::Pop3, false, tweak).await;
        let (pop3, pop3s) = (host.listeners[0], host.listeners[1]);
        Harness { host, pop3, pop3s }
    }
}

/// USER and PASS in one step.
pub trait Pop3Login {
    async fn login(&mut self, user: &str, password: &str) -> String;
}

impl Pop3Login for Client {
    async fn login(&mut self, user: &str, password: &str) -> String {
        let r = self.cmd(&format!("USER {user}")).await;
        assert!(r.starts_with("+OK"), "{r}");
        self.cmd(&format!("PASS {password}")).await
    }
}
