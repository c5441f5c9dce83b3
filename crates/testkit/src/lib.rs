//! Test support for the protocol crates' end-to-end suites: a mail host on loopback — a
//! Store on a temporary SQLite file with `example.com` and its users, a TLS set-up, and an
//! SMTP listener to deliver through — to which a suite adds its own protocol's listeners;
//! for the outbound side, a scripted SMTP server ([`scripted_smtp`]) and a DNS server with
//! test zones ([`dns`]), both on loopback; and an independent SCRAM client
//! ([`scram_client`]).

pub mod dns;
pub mod postgres;
pub mod scram_client;
pub mod scripted_smtp;

use std::net::SocketAddr;
use std::sync::Arc;

use estafeta_config::{Listener, Protocol, SmtpConfig, TlsConfig, TlsMode};
use estafeta_net::{Service, TlsSetup};
use estafeta_smtp::SmtpServer;
use estafeta_smtp::inbound::SmtpSettings;
use estafeta_store::{Backend, NewUser, Store, StoreOptions};
use tokio::sync::watch;

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
    stop: watch::Sender<bool>,
}

impl MailHost {
    /// Starts the host with `users` in `example.com`, and `service` on each of `listeners`.
    pub async fn start(
        users: &[TestUser<'_>],
        listeners: &[(Protocol, TlsMode)],
        service: impl FnOnce(Arc<dyn Store>, TlsSetup) -> Arc<dyn Service>,
    ) -> MailHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = estafeta_store::open(&StoreOptions {
            backend: Backend::Sqlite {
                path: dir.path().join("estafeta.db"),
            },
            max_connections: 8,
        })
        .await
        .expect("store");
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
        let tls = TlsSetup::load_or_generate(&TlsConfig::default(), HOST, dir.path()).expect("tls");
        let (stop, stopped) = watch::channel(false);
        let smtp: Arc<dyn Service> = Arc::new(SmtpServer::new(
            store.clone(),
            tls.clone(),
            SmtpSettings {
                hostname: HOST.into(),
                smtp: SmtpConfig {
                    trusted_networks: vec![],
                    ..SmtpConfig::default()
                },
                allow_plaintext_on_loopback: false,
                spool_dir: None,
            },
            stopped.clone(),
        ));
        let own = service(store.clone(), tls.clone());
        let listener = |(protocol, tls): (Protocol, TlsMode)| Listener {
            address: "127.0.0.1".parse().expect("ip"),
            port: 0,
            protocol,
            tls,
            proxy_protocol: false,
            proxy_trusted: Vec::new(),
        };
        let mut specs = vec![listener((Protocol::Smtp, TlsMode::None))];
        specs.extend(listeners.iter().copied().map(listener));
        let proxied_specs = listeners.first().map(|(protocol, _)| {
            let behind = |proxies: &str| Listener {
                proxy_protocol: true,
                proxy_trusted: vec![proxies.to_string()],
                ..listener((*protocol, TlsMode::Starttls))
            };
            [behind("127.0.0.1/32"), behind("192.0.2.0/24")]
        });
        specs.extend(proxied_specs.into_iter().flatten());
        let bound = estafeta_net::bind_all(&specs).await.expect("bind");
        let addrs: Vec<SocketAddr> = bound.iter().map(|b| b.local_addr).collect();
        tokio::spawn(estafeta_net::serve(
            bound,
            move |p| {
                if p == Protocol::Smtp {
                    smtp.clone()
                } else {
                    own.clone()
                }
            },
            tls,
            stopped,
        ));
        MailHost {
            store,
            smtp: addrs[0],
            listeners: addrs[1..=listeners.len()].to_vec(),
            proxied: addrs.get(listeners.len() + 1).copied(),
            proxy_elsewhere: addrs.get(listeners.len() + 2).copied(),
            dir,
            stop,
        }
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

impl Drop for MailHost {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
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
