//! An SMTP server on loopback ports for tests: a real Store on a temporary SQLite file,
//! the real listeners and TLS, and a small raw client for exact protocol checks.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use estafeta_config::{Config, ListenerTls, Protocol};
use estafeta_net::testing::LineClient;
use estafeta_testkit::{MailHost, TestUser, proxied};

pub const HOST: &str = estafeta_testkit::HOST;
pub const BOB_PASSWORD: &str = "bob-password";

/// The test mail host with SMTP's listeners; its store, data directory and INBOX reader
/// through `Deref`.
pub struct Harness {
    host: MailHost,
    /// port 25 role: MX, STARTTLS offered
    pub mx: SocketAddr,
    /// 587 and 2525 roles: submission with STARTTLS
    pub submission: SocketAddr,
    pub submission_alt: SocketAddr,
    /// 465 role: submission over implicit TLS
    pub submissions: SocketAddr,
    /// Behind a PROXY-protocol proxy on loopback: MX (STARTTLS) and submission (implicit
    /// TLS), `proxy_trusted = ["127.0.0.1/32"]`.
    pub mx_proxied: SocketAddr,
    pub submissions_proxied: SocketAddr,
    /// A PROXY-protocol MX whose proxies are elsewhere (192.0.2.0/24): loopback is refused.
    pub mx_proxy_elsewhere: SocketAddr,
}

impl std::ops::Deref for Harness {
    type Target = MailHost;
    fn deref(&self) -> &MailHost {
        &self.host
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(|_| {}).await
    }

    /// Starts with the test defaults (nobody trusted to relay, failed logins answered
    /// after 1 ms) changed by `tweak`; bob and ann in example.com, the aliases team (both)
    /// and bob.alias.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let host = MailHost::start(
            &[
                TestUser("bob@example.com", BOB_PASSWORD, true),
                TestUser("ann@example.com", "ann-password", true),
            ],
            &[
                (Protocol::Smtp, ListenerTls::Starttls),
                (Protocol::Submission, ListenerTls::Starttls),
                (Protocol::Submission, ListenerTls::Starttls),
                (Protocol::Submission, ListenerTls::Implicit),
            ],
            |c| {
                c.auth.failure_delay_ms = 1;
                let behind = proxied(Protocol::Submission, ListenerTls::Implicit, "127.0.0.1/32");
                c.listeners.push(behind);
                tweak(c);
            },
        )
        .await;
        let store = &host.store;
        let team = ["bob@example.com".into(), "ann@example.com".into()];
        store
            .add_alias("team@example.com", &team)
            .await
            .expect("alias");
        let bob = ["bob@example.com".into()];
        store
            .add_alias("bob.alias@example.com", &bob)
            .await
            .expect("alias");
        let all = host.server.addresses();
        Harness {
            mx: host.listeners[0],
            submission: host.listeners[1],
            submission_alt: host.listeners[2],
            submissions: host.listeners[3],
            mx_proxied: host.proxied.expect("proxied"),
            submissions_proxied: all[all.len() - 1],
            mx_proxy_elsewhere: host.proxy_elsewhere.expect("proxied"),
            host,
        }
    }

    pub async fn inbox_text(&self, address: &str) -> Vec<String> {
        self.inbox(address)
            .await
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect()
    }
}

/// A raw SMTP client: send exact bytes, read whole replies.
pub struct Client(LineClient);

impl Client {
    /// Connects and returns the client with the greeting read.
    pub async fn connect(addr: SocketAddr) -> (Client, String) {
        let mut c = Client(LineClient::plain(addr).await);
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Connects as a proxy would: `header` first, then the greeting is read (empty when
    /// the server closed the connection instead).
    pub async fn proxied(addr: SocketAddr, header: &[u8]) -> (Client, String) {
        let mut c = Client(LineClient::proxied(addr, header).await);
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// `header`, then TLS from the next byte.
    pub async fn proxied_tls(addr: SocketAddr, header: &[u8]) -> (Client, String) {
        let mut c = Client(LineClient::proxied_tls(addr, header).await);
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Connects with TLS from the first byte (port 465 role).
    pub async fn connect_tls(addr: SocketAddr) -> (Client, String) {
        let mut c = Client(LineClient::tls(addr).await);
        let greeting = c.reply().await;
        (c, greeting)
    }

    pub async fn send(&mut self, text: &str) {
        self.0.send(text).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.0.send_bytes(bytes).await;
    }

    /// Reads one reply (all its lines); empty when the server closed the connection.
    pub async fn reply(&mut self) -> String {
        self.0.smtp_reply().await
    }

    /// Sends a command line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }

    /// STARTTLS, then the TLS handshake; returns the client on TLS.
    pub async fn starttls(mut self) -> Client {
        let r = self.cmd("STARTTLS").await;
        assert!(r.starts_with("220 2.0.0"), "{r}");
        self.upgrade().await
    }

    /// TLS handshake on the current connection (after a 220 to STARTTLS was read).
    pub async fn upgrade(self) -> Client {
        Client(self.0.upgrade().await)
    }

    pub async fn auth_plain(&mut self, user: &str, password: &str) -> String {
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.cmd(&format!("AUTH PLAIN {token}")).await
    }
}

// Waiting for replies, and the checks that follow hostile input.

/// How long a test waits for a reply before it calls the server stuck.
pub const REPLY_WAIT: Duration = Duration::from_secs(10);

pub async fn reply_within(c: &mut Client) -> String {
    tokio::time::timeout(REPLY_WAIT, c.reply())
        .await
        .expect("a reply in time")
}

/// MAIL, RCPT and DATA up to the 354.
pub async fn open_data(c: &mut Client, from: &str, to: &str) {
    let r = c.cmd(&format!("MAIL FROM:<{from}>")).await;
    assert!(r.starts_with("250"), "MAIL: {r}");
    let r = c.cmd(&format!("RCPT TO:<{to}>")).await;
    assert!(r.starts_with("250"), "RCPT: {r}");
    let r = c.cmd("DATA").await;
    assert!(r.starts_with("354"), "DATA: {r}");
}

/// A whole transaction with a correct message; returns the final reply.
pub async fn good_message(c: &mut Client, to: &str, subject: &str) -> String {
    open_data(c, "sender@outside.test", to).await;
    c.send(&format!("Subject: {subject}\r\n\r\nfine\r\n.\r\n"))
        .await;
    reply_within(c).await
}

/// The server greets a new connection and takes a command: nothing took it down.
pub async fn still_serving(addr: std::net::SocketAddr) {
    let (mut c, greeting) = Client::connect(addr).await;
    assert!(greeting.starts_with("220 mail.test"), "{greeting}");
    assert!(c.cmd("EHLO after.test").await.starts_with("250"));
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
}

/// The next reply is the one to NOOP: no other reply was pending.
pub async fn nothing_pending(c: &mut Client, what: &str) {
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n", "{what}");
}
