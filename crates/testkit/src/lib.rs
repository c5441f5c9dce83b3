//! Test support for the protocol crates' end-to-end suites: a mail host on loopback — a
//! Store on a temporary SQLite file with `example.com` and its users, and an SMTP listener
//! to deliver through, started from a test configuration by the same
//! `estafeta_server::Server` as `estafeta serve` — to which a suite adds its own protocol's
//! listeners;
//! for the outbound side, a scripted SMTP server ([`scripted_smtp`]) and a DNS server with
//! test zones ([`dns`]), both on loopback; Debian's ACME test server ([`pebble`]); and an
//! independent SCRAM client ([`scram_client`]).

pub mod dns;
pub mod https;
pub mod pebble;
pub mod postgres;
pub mod scram_client;
pub mod scripted_smtp;

use std::net::SocketAddr;
use std::sync::Arc;

use estafeta_config::{Config, Listener, ListenerTls, Protocol};
use estafeta_server::{RunningServer, Server};
use estafeta_store::{Backend, NewUser, Store, StoreOptions};

/// The host name the test servers use.
pub const HOST: &str = "mail.test";

/// A user to create: address, password, POP3 keeps mail.
pub struct TestUser<'a>(pub &'a str, pub &'a str, pub bool);

pub struct MailHost {
    pub store: Arc<dyn Store>,
    /// An SMTP listener (MX role, plaintext) to deliver through.
    pub smtp: SocketAddr,
    /// The suite's own listeners, in the order asked for.
    pub listeners: Vec<SocketAddr>,
    /// The first of them again (plaintext, STARTTLS offered) behind a PROXY-protocol proxy:
    /// `proxied` trusts loopback as its proxy, `proxy_elsewhere` only 192.0.2.0/24 (so it
    /// refuses every test client).
    pub proxied: Option<SocketAddr>,
    pub proxy_elsewhere: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    /// Every listener; stops when dropped.
    pub server: RunningServer,
}

/// A listener on a free loopback port.
pub fn loopback(protocol: Protocol, tls: ListenerTls) -> Listener {
    Listener {
        address: "127.0.0.1".parse().expect("ip"),
        port: 0,
        protocol,
        tls,
        proxy_protocol: false,
        proxy_trusted: Vec::new(),
    }
}

/// The same behind a PROXY-protocol proxy from `proxies`.
pub fn proxied(protocol: Protocol, tls: ListenerTls, proxies: &str) -> Listener {
    Listener {
        proxy_protocol: true,
        proxy_trusted: vec![proxies.to_string()],
        ..loopback(protocol, tls)
    }
}

/// A test configuration: the built-in defaults with [`HOST`], `dir` as the data
/// directory, nobody trusted to relay, `listeners`, and no checks of mail from outside
/// (they would ask the machine's DNS; tests of the checks turn them on with a [`TestDns`]).
pub fn config(dir: &std::path::Path, listeners: Vec<Listener>) -> Config {
    let mut config = Config::defaults().expect("defaults");
    config.hostname = HOST.into();
    config.data_dir = dir.to_path_buf();
    config.smtp.trusted_networks = vec![];
    config.trust.checks = false;
    config.listeners = listeners;
    config
}

/// A store on a SQLite file in `dir`.
pub async fn sqlite_store(dir: &std::path::Path) -> Arc<dyn Store> {
    estafeta_store::open(&StoreOptions {
        backend: Backend::Sqlite {
            path: dir.join("estafeta.db"),
        },
        max_connections: 8,
    })
    .await
    .expect("store")
}

/// Starts the server `config` describes over `store`, without delivery (the queue stays
/// as acceptance leaves it), as `estafeta serve` does.
pub async fn serve(config: &Config, store: Arc<dyn Store>) -> RunningServer {
    Server::bind(config)
        .await
        .expect("bind")
        .without_delivery()
        .start(store)
        .await
        .expect("start")
}

impl MailHost {
    /// Starts the host with `users` in `example.com`, serving `listeners` after an SMTP
    /// one, with the test configuration (see [`config`]) changed by `tweak`.
    pub async fn start(
        users: &[TestUser<'_>],
        listeners: &[(Protocol, ListenerTls)],
        tweak: impl FnOnce(&mut Config),
    ) -> MailHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = sqlite_store(dir.path()).await;
        store.add_domain("example.com").await.expect("domain");
        for TestUser(address, password, pop3_keep) in users {
            store
                .add_user(NewUser {
                    address: address.to_string(),
                    password: password.to_string(),
                    quota_bytes: 0,
                    pop3_keep: *pop3_keep,
                })
                .await
                .expect("user");
        }
        let mut specs = vec![loopback(Protocol::Smtp, ListenerTls::None)];
        specs.extend(listeners.iter().map(|&(p, tls)| loopback(p, tls)));
        if let Some(&(protocol, _)) = listeners.first() {
            specs.push(proxied(protocol, ListenerTls::Starttls, "127.0.0.1/32"));
            specs.push(proxied(protocol, ListenerTls::Starttls, "192.0.2.0/24"));
        }
        let mut config = config(dir.path(), specs);
        tweak(&mut config);
        let server = serve(&config, store.clone()).await;
        let addrs = server.addresses();
        MailHost {
            store,
            smtp: addrs[0],
            listeners: addrs[1..=listeners.len()].to_vec(),
            proxied: addrs.get(listeners.len() + 1).copied(),
            proxy_elsewhere: addrs.get(listeners.len() + 2).copied(),
            dir,
            server,
        }
    }

    /// A mailbox protocol's host: bob and ann of example.com (password "secret"; ann's
    /// POP3 mail kept when `ann_keeps`), `protocol` on a STARTTLS listener then an
    /// implicit-TLS one; 3 failed logins block a user name or a client, each answered
    /// after 1 ms; then `tweak`.
    pub async fn two_ports(
        protocol: Protocol,
        ann_keeps: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> MailHost {
        MailHost::with_bob_and_ann(
            &[
                (protocol, ListenerTls::Starttls),
                (protocol, ListenerTls::Implicit),
            ],
            ann_keeps,
            tweak,
        )
        .await
    }

    /// bob and ann as for [`MailHost::two_ports`] (ann's POP3 mail kept), on `listeners`.
    pub async fn two_ports_with(
        listeners: &[(Protocol, ListenerTls)],
        tweak: impl FnOnce(&mut Config),
    ) -> MailHost {
        MailHost::with_bob_and_ann(listeners, true, tweak).await
    }

    async fn with_bob_and_ann(
        listeners: &[(Protocol, ListenerTls)],
        ann_keeps: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> MailHost {
        MailHost::start(
            &[
                TestUser("bob@example.com", "secret", true),
                TestUser("ann@example.com", "secret", ann_keeps),
            ],
            listeners,
            |c| {
                c.auth.max_failures = 3;
                c.auth.max_failures_per_address = 3;
                c.auth.failure_delay_ms = 1;
                tweak(c);
            },
        )
        .await
    }

    /// Delivers a message over SMTP; returns it as the client meant it (what the store
    /// holds after our headers).
    pub async fn deliver(&self, to: &str, subject: &str) -> String {
        let body = format!(
            "From: someone@outside.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello.\r\n. a dot line\r\n"
        );
        estafeta_net::testing::smtp_send(self.smtp, "someone@outside.test", to, &body).await;
        body
    }

    pub async fn inbox(&self, address: &str) -> Vec<Vec<u8>> {
        inbox(&*self.store, address).await
    }
}

/// The messages in a user's INBOX, as the store holds them, oldest first.
pub async fn inbox(store: &dyn Store, address: &str) -> Vec<Vec<u8>> {
    let user = store
        .get_user(address)
        .await
        .expect("lookup")
        .expect("user");
    let mb = store
        .get_mailbox(user.id, "INBOX")
        .await
        .expect("lookup")
        .expect("inbox");
    let mut out = Vec::new();
    for e in store.list_messages(mb.id).await.expect("list") {
        out.push(
            store
                .read_message(mb.id, e.uid)
                .await
                .expect("read")
                .expect("message"),
        );
    }
    out
}

/// Runs a Python 3 script (a real client: smtplib, imaplib, poplib); panics with its
/// error output unless it succeeds; returns what it printed.
pub async fn python(script: &str) -> Vec<u8> {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
