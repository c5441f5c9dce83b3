//! An IMAP server on loopback ports, on the test mail host (a real Store, an SMTP server
//! to deliver through); the raw line client.

#![allow(dead_code)]

pub mod deflate;

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
    /// A client logged in as `user` (password `secret`) over implicit TLS.
    pub async fn logged_in(&self, user: &str) -> Client {
        let mut c = Client::tls(self.imaps).await;
        c.line().await;
        let r = c.run("l", &format!("LOGIN {user} secret")).await;
        assert!(r.starts_with("l OK"), "{r}");
        c
    }

    /// Runs `body` in Python after it has logged in as bob@example.com over implicit TLS
    /// with `imaplib` (as `m`); what it prints.
    pub async fn imaplib(&self, body: &str) -> String {
        let script = format!(
            "import imaplib, re, ssl\n\
             ctx = ssl.create_default_context()\n\
             ctx.check_hostname = False\n\
             ctx.verify_mode = ssl.CERT_NONE\n\
             m = imaplib.IMAP4_SSL(\"127.0.0.1\", {}, ssl_context=ctx)\n\
             m.login(\"bob@example.com\", \"secret\")\n{body}",
            self.imaps.port()
        );
        String::from_utf8_lossy(&estafeta_testkit::python(&script).await).into_owned()
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let host = MailHost::two_ports(Protocol::Imap, true, tweak).await;
        let (imap, imaps) = (host.listeners[0], host.listeners[1]);
        Harness { host, imap, imaps }
    }
}
