//! The delivery suites' harness: a sending side (a store on SQLite with `example.com` and
//! its user ann, and an estafeta configured from TOML — delivery, and an SMTP listener
//! when asked — asking a TestDns on loopback and delivering to a test port on
//! 127.0.0.x), a receiving estafeta (store and SMTP listener on another loopback address),
//! and waiting on observable state.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use estafeta_config::{Config, Listener, ListenerTls, Protocol};
use estafeta_server::{RunningServer, Server};
use estafeta_store::{
    Accept, NewUser, QueueRecipient, QueuedMessage, RecipientState, RemoteRecipient, Ret, Store,
    new_queue_id,
};
use estafeta_testkit::dns::TestDns;

/// The sending server's host name.
pub const HOSTNAME: &str = "out.test";
/// Its local user: reports to her land in her INBOX.
pub const ANN: &str = "ann@example.com";

/// The sending side.
pub struct Sender {
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    /// Its SMTP listener (port 25 role, STARTTLS offered), when asked for.
    pub smtp: Option<SocketAddr>,
    /// Stops when dropped; `None` until delivery starts.
    server: Option<RunningServer>,
}

/// What a test changes in the configuration.
#[derive(Default)]
pub struct Options<'a> {
    /// Keys of `[delivery]` (TOML lines).
    pub delivery: &'a str,
    /// Tables after it: `[delivery.smarthost]`, `[[delivery.route]]`.
    pub tables: &'a str,
    /// More addresses that are this server (loop detection), beside its SMTP listener.
    pub own: Vec<SocketAddr>,
    /// An SMTP listener on 127.0.0.1, from which these networks may relay.
    pub smtp_trusting: Option<&'a [&'a str]>,
}

impl<'a> Options<'a> {
    /// These `[delivery]` keys, the rest as by default.
    pub fn delivery(keys: &'a str) -> Options<'a> {
        Options {
            delivery: keys,
            ..Options::default()
        }
    }

    /// These tables after `[delivery]`, the rest as by default.
    pub fn tables(tables: &'a str) -> Options<'a> {
        Options {
            tables,
            ..Options::default()
        }
    }
}

impl Sender {
    /// Delivers to port `mx_port` of MX hosts, asking `dns`. Retries come after a second,
    /// a failed host is skipped for a second, and the queue is never scanned on a timer
    /// (scan interval one hour): only wake-ups and due times drive it.
    pub async fn start(dns: &TestDns, mx_port: u16, o: Options<'_>) -> Sender {
        let mut s = Sender::open().await;
        s.deliver(dns, mx_port, o).await;
        s
    }

    /// The sending side before its server (and delivery) starts.
    pub async fn open() -> Sender {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = estafeta_testkit::sqlite_store(dir.path()).await;
        store.add_domain("example.com").await.expect("domain");
        store
            .add_user(NewUser {
                address: ANN.into(),
                password: "pw".into(),
                quota_bytes: 0,
                pop3_keep: true,
            })
            .await
            .expect("user");
        Sender {
            store,
            dir,
            smtp: None,
            server: None,
        }
    }

    /// Starts the server, and with it delivery (see [`Sender::start`]).
    pub async fn deliver(&mut self, dns: &TestDns, mx_port: u16, o: Options<'_>) {
        let toml = format!(
            "hostname = \"{HOSTNAME}\"\ndata_dir = {:?}\nlistener = []\n\
             [delivery]\ndns_servers = [\"{}\"]\nmx_port = {mx_port}\n\
             retry_schedule = [1]\nhost_retry_after = 1\nscan_interval = 3600\nconnect_timeout = 5\n{}\n{}",
            self.dir.path().display().to_string(),
            dns.addr,
            o.delivery,
            o.tables
        );
        let mut config = Config::from_toml(&toml, "test").unwrap_or_else(|e| panic!("{e}\n{toml}"));
        if let Some(trusted) = o.smtp_trusting {
            config.listeners = vec![estafeta_testkit::loopback(
                Protocol::Smtp,
                ListenerTls::Starttls,
            )];
            config.smtp.trusted_networks = trusted.iter().map(|t| t.to_string()).collect();
        }
        let server = Server::bind(&config)
            .await
            .expect("bind")
            .also_reachable_at(o.own)
            .start(self.store.clone())
            .await
            .expect("start");
        self.smtp = server.addresses().first().copied();
        self.server = Some(server);
    }

    /// Queues a message as SMTP acceptance would; returns its queue id.
    pub async fn queue(&self, from: &str, to: &[&str], subject: &str) -> String {
        let rcpts = to
            .iter()
            .map(|a| RemoteRecipient {
                address: a.to_string(),
                ..RemoteRecipient::default()
            })
            .collect();
        self.queue_with(from, rcpts, subject, None).await
    }

    pub async fn queue_with(
        &self,
        from: &str,
        remote: Vec<RemoteRecipient>,
        subject: &str,
        ret: Option<Ret>,
    ) -> String {
        self.queue_body(from, remote, message(from, subject), ret)
            .await
    }

    /// Queues `body` as it is (it must end with CRLF); returns its queue id.
    pub async fn queue_body(
        &self,
        from: &str,
        remote: Vec<RemoteRecipient>,
        body: String,
        ret: Option<Ret>,
    ) -> String {
        let queue_id = new_queue_id();
        self.store
            .accept(Accept {
                queue_id: queue_id.clone(),
                body: body.into_bytes(),
                sender: from.to_string(),
                ret,
                envid: Some(format!("env-{queue_id}")),
                remote,
                internal_date: estafeta_store::now(),
                ..Accept::default()
            })
            .await
            .expect("accept");
        queue_id
    }

    pub async fn queued(&self, queue_id: &str) -> Option<QueuedMessage> {
        self.store.queue_get(queue_id).await.expect("queue_get")
    }

    /// Waits until the first recipient of `queue_id` is deferred; gives it.
    pub async fn wait_deferred(&self, queue_id: &str) -> QueueRecipient {
        let store = self.store.clone();
        wait_for("the recipient to be deferred", || {
            let store = store.clone();
            let id = queue_id.to_string();
            async move {
                let r = store.queue_get(&id).await.ok()??.recipients[0].clone();
                (r.state == RecipientState::Deferred).then_some(r)
            }
        })
        .await
    }

    /// Waits until the queue is empty.
    pub async fn wait_empty(&self) {
        let store = self.store.clone();
        wait_for("the queue to be empty", || {
            let store = store.clone();
            async move { store.queue_list().await.ok()?.is_empty().then_some(()) }
        })
        .await
    }

    /// Ann's INBOX.
    pub async fn ann_inbox(&self) -> Vec<Vec<u8>> {
        estafeta_testkit::inbox(&*self.store, ANN).await
    }

    /// Waits for `n` messages in Ann's INBOX.
    pub async fn wait_ann(&self, n: usize) -> Vec<Vec<u8>> {
        let store = self.store.clone();
        wait_for(&format!("{n} message(s) in {ANN}'s INBOX"), || {
            let store = store.clone();
            async move {
                let inbox = estafeta_testkit::inbox(&*store, ANN).await;
                (inbox.len() >= n).then_some(inbox)
            }
        })
        .await
    }
}

pub fn message(from: &str, subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: someone@elsewhere.test\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\n\r\nHello.\r\n.a line with a dot\r\n"
    )
}

/// A second estafeta receiving mail: a store with `domain` and its `users`, an SMTP
/// listener (STARTTLS offered) at `addr`.
pub struct Receiver {
    pub store: Arc<dyn Store>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Stops when dropped.
    _server: RunningServer,
}

impl Receiver {
    pub async fn start(addr: SocketAddr, domain: &str, users: &[&str]) -> Receiver {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = estafeta_testkit::sqlite_store(dir.path()).await;
        store.add_domain(domain).await.expect("domain");
        for u in users {
            store
                .add_user(NewUser {
                    address: u.to_string(),
                    password: "pw".into(),
                    quota_bytes: 0,
                    pop3_keep: true,
                })
                .await
                .expect("user");
        }
        let mut config = estafeta_testkit::config(
            dir.path(),
            vec![Listener {
                address: addr.ip(),
                port: addr.port(),
                ..estafeta_testkit::loopback(Protocol::Smtp, ListenerTls::Starttls)
            }],
        );
        config.hostname = format!("mx.{domain}");
        let server = estafeta_testkit::serve(&config, store.clone()).await;
        Receiver {
            store,
            addr: server.addresses()[0],
            dir,
            _server: server,
        }
    }

    pub async fn wait_inbox(&self, address: &str, n: usize) -> Vec<Vec<u8>> {
        let store = self.store.clone();
        let address = address.to_string();
        wait_for(&format!("{n} message(s) in {address}'s INBOX"), || {
            let store = store.clone();
            let address = address.clone();
            async move {
                let inbox = estafeta_testkit::inbox(&*store, &address).await;
                (inbox.len() >= n).then_some(inbox)
            }
        })
        .await
    }
}

/// Checks `probe` every 20 ms until it gives a value, for up to 30 s; panics naming
/// `what` otherwise. Waiting on observable state, not on time.
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a scripted server has received `n` messages in all.
pub async fn wait_messages(
    server: &estafeta_testkit::scripted_smtp::ScriptedSmtp,
    n: usize,
) -> Vec<estafeta_testkit::scripted_smtp::Message> {
    wait_for(&format!("{n} message(s) at {}", server.addr), || {
        let m = server.messages();
        std::future::ready((m.len() >= n).then_some(m))
    })
    .await
}

/// Parses a delivery status notification independently (mail-parser): returns the
/// `message/delivery-status` text and the third part's content type.
pub fn parse_dsn(raw: &[u8]) -> (String, String, String) {
    use mail_parser::{MessageParser, MimeHeaders};
    let text = String::from_utf8_lossy(raw).into_owned();
    let msg = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("a DSN mail-parser can read:\n{text}"));
    let ct = msg.content_type().expect("content type");
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("report")),
        "{text}"
    );
    assert_eq!(
        ct.attribute("report-type"),
        Some("delivery-status"),
        "{text}"
    );
    assert!(msg.subject().is_some());
    let root = msg.root_part();
    let ids = root.sub_parts().expect("parts");
    assert_eq!(ids.len(), 3, "{text}");
    let part = |i: usize| &msg.parts[ids[i] as usize];
    let kind = |i: usize| {
        let ct = part(i).content_type().expect("part type");
        format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
    };
    assert_eq!(kind(0), "text/plain", "{text}");
    assert_eq!(kind(1), "message/delivery-status", "{text}");
    let human = part(0).text_contents().unwrap_or("").to_string();
    let status = String::from_utf8_lossy(part(1).contents()).into_owned();
    (human, status, kind(2))
}

/// Runs Python's email module over a DSN: it must see a multipart/report with a
/// message/delivery-status part whose per-recipient blocks name each address; prints
/// "address action status" per recipient.
pub async fn python_dsn(raw: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dsn.eml");
    std::fs::write(&path, raw).expect("write");
    let script = format!(
        r#"
import email, email.policy
with open({path:?}, "rb") as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
assert msg.get_content_type() == "multipart/report", msg.get_content_type()
assert msg.get_param("report-type") == "delivery-status"
parts = list(msg.iter_parts())
assert [p.get_content_type() for p in parts][:2] == ["text/plain", "message/delivery-status"]
blocks = parts[1].get_payload()
assert blocks[0]["Reporting-MTA"].startswith("dns;"), blocks[0]["Reporting-MTA"]
for b in blocks[1:]:
    print(b["Final-Recipient"].split(";")[1].strip(), b["Action"], b["Status"])
"#,
        path = path.display().to_string()
    );
    String::from_utf8_lossy(&estafeta_testkit::python(&script).await).into_owned()
}

/// One SMTP transaction over a fresh connection: the reply to each recipient, and the
/// reply at the end of the data (`None` when no recipient was accepted).
pub async fn smtp_transaction(
    addr: SocketAddr,
    mail_from: &str,
    rcpts: &[&str],
    data: &str,
) -> (Vec<String>, Option<String>) {
    let mut c = estafeta_net::testing::LineClient::plain(addr).await;
    c.smtp_reply().await;
    c.send("EHLO client.test\r\n").await;
    c.smtp_reply().await;
    c.send(&format!("MAIL FROM:{mail_from}\r\n")).await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("250"), "MAIL: {r}");
    let mut replies = Vec::new();
    for rcpt in rcpts {
        c.send(&format!("RCPT TO:{rcpt}\r\n")).await;
        replies.push(c.smtp_reply().await);
    }
    if !replies.iter().any(|r| r.starts_with("250")) {
        return (replies, None);
    }
    c.send("DATA\r\n").await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("354"), "DATA: {r}");
    let stuffed = data.replace("\r\n.", "\r\n..");
    c.send(&format!("{stuffed}.\r\n")).await;
    let end = c.smtp_reply().await;
    c.send("QUIT\r\n").await;
    (replies, Some(end))
}
