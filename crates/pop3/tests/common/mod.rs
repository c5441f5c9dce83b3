//! A POP3 server (with an SMTP server to deliver through) on loopback ports, over a real
//! Store on a temporary SQLite file; and a raw POP3 client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::{Listener, Protocol, SmtpConfig, TlsConfig, TlsMode};
use estafeta_net::{AuthThrottle, Service, TlsSetup};
use estafeta_pop3::{Pop3Server, Pop3Settings};
use estafeta_smtp::SmtpServer;
use estafeta_smtp::inbound::SmtpSettings;
use estafeta_store::{Backend, NewUser, Store, StoreOptions, UserChanges};
use tokio::sync::watch;

pub const HOST: &str = "mail.test";

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub smtp: SocketAddr,
    /// port 110 role: plaintext, STLS offered
    pub pop3: SocketAddr,
    /// port 995 role: implicit TLS
    pub pop3s: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
}

impl Harness {
    pub async fn start() -> Harness {
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
        for address in ["bob@example.com", "ann@example.com"] {
            store
                .add_user(NewUser {
                    address: address.into(),
                    password: "secret".into(),
                    quota_bytes: 0,
                    pop3_keep: true,
                })
                .await
                .expect("user");
        }
        // ann's mail is deleted once downloaded
        store
            .update_user(
                "ann@example.com",
                UserChanges {
                    pop3_keep: Some(false),
                    ..Default::default()
                },
            )
            .await
            .expect("ann");
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
            },
            stopped.clone(),
        ));
        let throttle = Arc::new(AuthThrottle::new(
            3,
            Duration::from_millis(1),
            Duration::from_secs(300),
        ));
        let pop3: Arc<dyn Service> = Arc::new(Pop3Server::new(
            store.clone(),
            tls.clone(),
            throttle,
            Pop3Settings::default(),
        ));
        let listener = |protocol, tls| Listener {
            address: "127.0.0.1".parse().expect("ip"),
            port: 0,
            protocol,
            tls,
        };
        let bound = estafeta_net::bind_all(&[
            listener(Protocol::Smtp, TlsMode::Starttls),
            listener(Protocol::Pop3, TlsMode::Starttls),
            listener(Protocol::Pop3, TlsMode::Implicit),
        ])
        .await
        .expect("bind");
        let addrs: Vec<SocketAddr> = bound.iter().map(|b| b.local_addr).collect();
        tokio::spawn(estafeta_net::serve(
            bound,
            move |p| {
                if p == Protocol::Smtp {
                    smtp.clone()
                } else {
                    pop3.clone()
                }
            },
            tls,
            stopped,
        ));
        Harness {
            store,
            smtp: addrs[0],
            pop3: addrs[1],
            pop3s: addrs[2],
            dir,
            stop,
        }
    }

    /// Delivers a message over SMTP; returns the message as the client meant it (what the
    /// store holds after our headers).
    pub async fn deliver(&self, to: &str, subject: &str) -> String {
        let body = format!(
            "From: someone@outside.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello.\r\n. a dot line\r\n"
        );
        estafeta_net::testing::smtp_send(self.smtp, "someone@outside.test", to, &body).await;
        body
    }

    /// The messages in a user's INBOX as the store holds them.
    pub async fn inbox(&self, address: &str) -> Vec<Vec<u8>> {
        let user = self.store.get_user(address).await.unwrap().expect("user");
        let mb = self
            .store
            .get_mailbox(user.id, "INBOX")
            .await
            .unwrap()
            .expect("inbox");
        let mut out = Vec::new();
        for e in self.store.list_messages(mb.id).await.unwrap() {
            out.push(
                self.store
                    .read_message(mb.id, e.uid)
                    .await
                    .unwrap()
                    .expect("message"),
            );
        }
        out
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The raw line client.
pub type Client = estafeta_net::testing::LineClient;

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
