//! An IMAP server (with an SMTP server to deliver through) on loopback ports, over a real
//! Store on a temporary SQLite file; and a raw line client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::{Listener, Protocol, SmtpConfig, TlsConfig, TlsMode};
use estafeta_imap::{ImapServer, ImapSettings};
use estafeta_net::{AuthThrottle, Service, TlsSetup};
use estafeta_smtp::SmtpServer;
use estafeta_smtp::inbound::SmtpSettings;
use estafeta_store::{Backend, NewUser, Store, StoreOptions, UserChanges};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub const HOST: &str = "mail.test";

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub smtp: SocketAddr,
    /// port 143 role: plaintext, STLS offered
    pub imap: SocketAddr,
    /// port 993 role: implicit TLS
    pub imaps: SocketAddr,
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
        let imap: Arc<dyn Service> = Arc::new(ImapServer::new(
            store.clone(),
            tls.clone(),
            throttle,
            ImapSettings::default(),
        ));
        let listener = |protocol, tls| Listener {
            address: "127.0.0.1".parse().expect("ip"),
            port: 0,
            protocol,
            tls,
        };
        let bound = estafeta_net::bind_all(&[
            listener(Protocol::Smtp, TlsMode::Starttls),
            listener(Protocol::Imap, TlsMode::Starttls),
            listener(Protocol::Imap, TlsMode::Implicit),
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
                    imap.clone()
                }
            },
            tls,
            stopped,
        ));
        Harness {
            store,
            smtp: addrs[0],
            imap: addrs[1],
            imaps: addrs[2],
            dir,
            stop,
        }
    }

    /// Delivers a message over SMTP; returns the body as sent.
    pub async fn deliver(&self, to: &str, subject: &str) -> String {
        let body = format!(
            "From: someone@outside.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello.\r\n.. a dot line\r\n"
        );
        let mut c = Client::plain(self.smtp).await;
        c.line().await;
        for cmd in [
            "EHLO outside.test".to_string(),
            "MAIL FROM:<someone@outside.test>".into(),
            format!("RCPT TO:<{to}>"),
            "DATA".into(),
        ] {
            let r = c.cmd(&cmd).await;
            assert!(r.starts_with('2') || r.starts_with('3'), "{cmd}: {r}");
            if cmd == "EHLO outside.test" {
                // multi-line EHLO reply: read until the last line
                let mut r = r;
                while r.as_bytes().get(3) == Some(&b'-') {
                    r = c.line().await;
                }
            }
        }
        c.send(&format!("{body}.\r\n")).await;
        let r = c.line().await;
        assert!(r.starts_with("250"), "{r}");
        c.cmd("QUIT").await;
        body.replace("\r\n..", "\r\n.")
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

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A raw line client.
pub struct Client {
    stream: BufReader<Box<dyn Stream>>,
}

impl Client {
    pub async fn plain(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Client {
            stream: BufReader::new(Box::new(tcp)),
        }
    }

    pub async fn tls(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Client::plain_to_tls(Box::new(tcp)).await
    }

    async fn plain_to_tls(inner: Box<dyn Stream>) -> Client {
        let tls = estafeta_net::testing::insecure_tls_connector()
            .connect(ServerName::try_from(HOST).expect("name"), inner)
            .await
            .expect("TLS handshake");
        Client {
            stream: BufReader::new(Box::new(tls)),
        }
    }

    /// After "+OK" to STLS.
    pub async fn upgrade(self) -> Client {
        Client::plain_to_tls(self.stream.into_inner()).await
    }

    pub async fn send(&mut self, text: &str) {
        let s = self.stream.get_mut();
        s.write_all(text.as_bytes()).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// One line; empty when the connection closed.
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap_or(0);
        line
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.line().await
    }

    /// Everything up to and including the tagged reply to `tag`.
    pub async fn until_tagged(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let l = self.line().await;
            if l.is_empty() {
                return all;
            }
            all.push_str(&l);
            if l.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// Sends a tagged command and returns all it produced.
    pub async fn run(&mut self, tag: &str, command: &str) -> String {
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until_tagged(tag).await
    }
}
