//! Hostile input over real sockets: whatever a client sends, the POP3 server answers
//! within its bounds, keeps its memory, and goes on serving other connections. Every
//! wait on the server is a tokio timeout of several seconds whose expiry is the failure.

mod common;

use std::time::Duration;

use common::Harness;
use estafeta_config::Config;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

/// Generous: the failure condition, never a synchronisation.
const PROMPTLY: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PROMPTLY, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {PROMPTLY:?}"))
}

/// Plaintext (the harnesses here allow passwords on loopback), raw octets out, lines in.
struct Raw {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Raw {
    /// Connected, greeting read.
    async fn connect(addr: std::net::SocketAddr) -> Raw {
        let (r, w) = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut raw = Raw {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = within("greeting", raw.line()).await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        raw
    }

    /// One line, lossily; empty at the end of the connection.
    async fn line(&mut self) -> String {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).await.unwrap_or(0);
        String::from_utf8_lossy(&line).into_owned()
    }

    /// The rest of a multi-line reply, up to its "." line.
    async fn multiline(&mut self) -> String {
        let mut all = String::new();
        loop {
            let l = within("multi-line reply", self.line()).await;
            if l == ".\r\n" || l.is_empty() {
                return all;
            }
            all.push_str(&l);
        }
    }

    /// Sends one command line and reads the first line of the reply.
    async fn cmd(&mut self, line: &[u8]) -> String {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes).await.expect("write");
        within("reply", self.line()).await
    }

    /// Writes `bytes` from a task of its own (ignoring a connection the server closed),
    /// `GAP` apart in pieces of `piece` octets, then keeps sending `x`s the same way.
    fn send_in_task(
        self,
        bytes: Vec<u8>,
        piece: usize,
        gap: Duration,
    ) -> (BufReader<OwnedReadHalf>, JoinHandle<()>) {
        let mut writer = self.writer;
        let task = tokio::spawn(async move {
            for chunk in bytes.chunks(piece.max(1)) {
                if writer.write_all(chunk).await.is_err() {
                    return;
                }
                if !gap.is_zero() {
                    // the stimulus: a slow client, not a wait for the server
                    tokio::time::sleep(gap).await;
                }
            }
            while !gap.is_zero() && writer.write_all(b"x").await.is_ok() {
                tokio::time::sleep(gap).await;
            }
        });
        (self.reader, task)
    }
}

/// Everything the server sends until it closes the connection, lossily.
async fn until_closed(reader: &mut BufReader<OwnedReadHalf>) -> String {
    within("the end of the connection", async {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.unwrap_or(0);
        String::from_utf8_lossy(&all).into_owned()
    })
    .await
}

/// A new connection is greeted and can log in: the server is still serving.
async fn still_serving(h: &Harness) {
    let mut c = Raw::connect(h.pop3).await;
    assert!(c.cmd(b"USER bob@example.com").await.starts_with("+OK"));
    let r = c.cmd(b"PASS secret").await;
    assert!(r.starts_with("+OK"), "{r}");
    assert!(c.cmd(b"QUIT").await.starts_with("+OK"));
}

fn plaintext_allowed(c: &mut Config) {
    c.auth.allow_plaintext_on_loopback = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_line_gets_err_without_being_buffered() {
    let h = Harness::start_with(plaintext_allowed).await;
    // 10 MB without a line feed, sent as fast as the server takes it: the answer comes
    // after the first 12 KiB, without waiting for an end that never comes
    let c = Raw::connect(h.pop3).await;
    let (mut reader, writer) = c.send_in_task(vec![b'A'; 10_000_000], 64 * 1024, Duration::ZERO);
    let rest = until_closed(&mut reader).await;
    writer.abort();
    assert_eq!(rest, "-ERR line too long\r\n");
    // a line too long for a command but short enough to read is answered, and the session
    // goes on
    let mut c = Raw::connect(h.pop3).await;
    let r = c.cmd(format!("NOOP {}", "x".repeat(1000)).as_bytes()).await;
    assert_eq!(r, "-ERR line too long\r\n");
    assert!(c.cmd(b"CAPA").await.starts_with("+OK"));
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_auth_is_refused() {
    let h = Harness::start_with(plaintext_allowed).await;
    let blob = "QUFB".repeat(256 * 1024); // 1 MiB of base64
    // as an initial response
    let c = Raw::connect(h.pop3).await;
    let (mut reader, writer) = c.send_in_task(
        format!("AUTH PLAIN {blob}\r\n").into_bytes(),
        64 * 1024,
        Duration::ZERO,
    );
    assert_eq!(until_closed(&mut reader).await, "-ERR line too long\r\n");
    writer.abort();
    // after the continuation request
    let mut c = Raw::connect(h.pop3).await;
    assert_eq!(c.cmd(b"AUTH PLAIN").await, "+ \r\n");
    let (mut reader, writer) = c.send_in_task(
        format!("{blob}\r\n").into_bytes(),
        64 * 1024,
        Duration::ZERO,
    );
    assert_eq!(
        until_closed(&mut reader).await,
        "-ERR authentication response too long\r\n"
    );
    writer.abort();
    still_serving(&h).await;
}

/// A reply of either kind: the command was answered, the session lives.
fn answered(reply: &str) -> bool {
    reply.starts_with("+OK") || reply.starts_with("-ERR") || reply.starts_with("+ ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_bit_and_invalid_utf8_in_every_argument() {
    let h = Harness::start_with(|c| {
        plaintext_allowed(c);
        c.pop3.max_errors = 1000;
    })
    .await;
    h.deliver("bob@example.com", "one").await;
    let mut c = Raw::connect(h.pop3).await;
    let before_login: [&[u8]; 12] = [
        b"\xff\xfe",
        b"CAPA \xff",
        b"USER \xff\xfe",
        b"PASS \xff\x00\xfe",
        b"USER bob\xc3\xa9@example.com",
        b"PASS s\xffcret",
        b"AUTH \xff",
        b"AUTH PLAIN \xff\xfe",
        b"AUTH PLAIN AGJvYgD/",
        b"STLS \xff",
        b"LIST \xff",
        b"\xc3\xa9USER bob@example.com",
    ];
    for cmd in before_login {
        let r = c.cmd(cmd).await;
        assert!(answered(&r), "{}: {r}", String::from_utf8_lossy(cmd));
    }
    assert!(c.cmd(b"USER bob@example.com").await.starts_with("+OK"));
    let r = c.cmd(b"PASS secret").await;
    assert!(r.starts_with("+OK 1 messages"), "{r}");
    let after_login: [&[u8]; 13] = [
        b"STAT \xff",
        b"LIST \xff",
        b"LIST 1\xff",
        b"UIDL \xfe",
        b"RETR \xff",
        b"RETR \xd9\xa3",
        b"TOP \xff \xfe",
        b"TOP 1 \xff",
        b"DELE \xff",
        b"NOOP \xff",
        b"RSET \xff",
        b"\xff\xfe\xfd",
        b"QUIT \xff",
    ];
    for cmd in after_login {
        let r = c.cmd(cmd).await;
        assert!(answered(&r), "{}: {r}", String::from_utf8_lossy(cmd));
    }
    assert_eq!(
        c.cmd(b"STAT").await,
        c.cmd(b"STAT").await,
        "nothing changed"
    );
    assert!(c.cmd(b"QUIT").await.starts_with("+OK"));
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_errors_end_the_session() {
    let h = Harness::start_with(|c| {
        plaintext_allowed(c);
        c.pop3.max_errors = 3;
    })
    .await;
    let mut c = Raw::connect(h.pop3).await;
    assert_eq!(c.cmd(b"FROB").await, "-ERR unknown command FROB\r\n");
    assert!(c.cmd(b"CAPA").await.starts_with("+OK"));
    c.multiline().await;
    assert!(c.cmd(b"STAT").await.starts_with("-ERR"));
    assert!(c.cmd(b"RETR x").await.starts_with("-ERR"));
    assert_eq!(
        until_closed(&mut c.reader).await,
        "-ERR too many errors, closing\r\n"
    );
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_line_must_arrive_within_the_command_timeout() {
    let h = Harness::start_with(|c| {
        plaintext_allowed(c);
        c.pop3.command_timeout = 1;
    })
    .await;
    // waiting between commands is the idle timeout's business, not this one's
    let mut c = Raw::connect(h.pop3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // idle longer than the budget
    assert!(c.cmd(b"NOOP").await.starts_with("-ERR not allowed"));
    let started = tokio::time::Instant::now();
    // a command and a SASL response, an octet every 150 ms, never a line feed
    let gap = Duration::from_millis(150);
    let line = Raw::connect(h.pop3)
        .await
        .send_in_task(b"USER bob".to_vec(), 1, gap);
    let mut auth = Raw::connect(h.pop3).await;
    assert_eq!(auth.cmd(b"AUTH PLAIN").await, "+ \r\n");
    let auth = auth.send_in_task(b"AGJvYkBleGFt".to_vec(), 1, gap);
    for (what, (mut reader, writer)) in [("line", line), ("AUTH", auth)] {
        let rest = until_closed(&mut reader).await;
        writer.abort();
        assert_eq!(rest, "-ERR command not received in time\r\n", "{what}");
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    still_serving(&h).await;
}
