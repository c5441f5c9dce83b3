//! An SMTP server on loopback ports for tests: a real Store on a temporary SQLite file,
//! the real listeners and TLS, and a small raw client for exact protocol checks.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use estafeta_config::{Config, ListenerTls, Protocol};
use estafeta_net::testing::LineClient;
use estafeta_server::RunningServer;
use estafeta_store::{NewUser, Store};
use estafeta_testkit::{loopback, proxied};

pub const HOST: &str = estafeta_testkit::HOST;
pub const BOB_PASSWORD: &str = "bob-password";

pub struct Harness {
    pub store: Arc<dyn Store>,
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
    pub dir: tempfile::TempDir,
    /// Stops when dropped.
    _server: RunningServer,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(|_| {}).await
    }

    /// Starts with the test defaults (nobody trusted to relay, failed logins answered
    /// after 1 ms) changed by `tweak`.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = estafeta_testkit::sqlite_store(dir.path()).await;
        store.add_domain("example.com").await.expect("domain");
        for (address, password) in [
            ("bob@example.com", BOB_PASSWORD),
            ("ann@example.com", "ann-password"),
        ] {
            store
                .add_user(NewUser {
                    address: address.into(),
                    password: password.into(),
                    quota_bytes: 0,
                    pop3_keep: true,
                })
                .await
                .expect("user");
        }
        store
            .add_alias(
                "team@example.com",
                &["bob@example.com".into(), "ann@example.com".into()],
            )
            .await
            .expect("alias");
        store
            .add_alias("bob.alias@example.com", &["bob@example.com".into()])
            .await
            .expect("alias");

        let mut config = estafeta_testkit::config(
            dir.path(),
            vec![
                loopback(Protocol::Smtp, ListenerTls::Starttls),
                loopback(Protocol::Submission, ListenerTls::Starttls),
                loopback(Protocol::Submission, ListenerTls::Starttls),
                loopback(Protocol::Submission, ListenerTls::Implicit),
                proxied(Protocol::Smtp, ListenerTls::Starttls, "127.0.0.1/32"),
                proxied(Protocol::Submission, ListenerTls::Implicit, "127.0.0.1/32"),
                proxied(Protocol::Smtp, ListenerTls::Starttls, "192.0.2.0/24"),
            ],
        );
        config.auth.failure_delay_ms = 1;
        tweak(&mut config);
        let server = estafeta_testkit::serve(&config, store.clone()).await;
        let addrs = server.addresses();
        Harness {
            store,
            mx: addrs[0],
            submission: addrs[1],
            submission_alt: addrs[2],
            submissions: addrs[3],
            mx_proxied: addrs[4],
            submissions_proxied: addrs[5],
            mx_proxy_elsewhere: addrs[6],
            dir,
            _server: server,
        }
    }

    /// The messages in a user's INBOX, oldest first.
    pub async fn inbox(&self, address: &str) -> Vec<Vec<u8>> {
        estafeta_testkit::inbox(&*self.store, address).await
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
