//! Hostile input over real sockets: SMTP smuggling in every form, content rules for BDAT,
//! mail loops (too many Received: fields), error and time limits per session, and sizes
//! meant to exhaust the server (the 100 MiB line, which measures the process's memory,
//! has a process of its own: `memory.rs`). Each test checks the reply, what the mailboxes hold, and
//! that the server still serves a new connection afterwards.

mod common;

use std::time::{Duration, Instant};

use common::{
    BOB_PASSWORD, Client, HOST, Harness, REPLY_WAIT, good_message, nothing_pending, open_data,
    reply_within, still_serving,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

// ---------------------------------------------------------------------------------------
// SMTP smuggling

/// Every fake end of data a lone CR or LF can make, each followed by a whole second
/// transaction. The server must see one message (refused: it holds a bare CR or LF), give
/// one reply, run none of the smuggled commands, and go on serving the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_variants_yield_one_refused_transaction() {
    let h = Harness::start().await;
    let variants = [
        ("<LF>.<CR><LF>", "\n.\r\n"),
        ("<CR>.<CR><LF>", "\r.\r\n"),
        ("<LF>.<LF>", "\n.\n"),
        ("<CR><LF>.<LF>", "\r\n.\n"),
        ("<CR><LF>.<CR>", "\r\n.\r"),
        ("<LF>.<CR><LF> at the start", "\n.\r\n"),
    ];
    for (i, (name, fake_end)) in variants.iter().enumerate() {
        let (mut c, _) = Client::connect(h.mx).await;
        c.cmd("EHLO attacker.test").await;
        open_data(&mut c, "attacker@outside.test", "bob@example.com").await;
        let before = if i == variants.len() - 1 {
            "" // the fake end as the very first octets of the data
        } else {
            "Subject: innocent\r\n\r\nhello"
        };
        c.send(&format!(
            "{before}{fake_end}MAIL FROM:<ceo@example.com>\r\nRCPT TO:<ann@example.com>\r\n\
             DATA\r\nSubject: smuggled\r\n\r\nwire the money\r\n.\r\n"
        ))
        .await;
        let r = reply_within(&mut c).await;
        assert_eq!(
            r, "550 5.6.0 Message refused: bare CR or LF found; lines must end with CRLF\r\n",
            "{name}"
        );
        nothing_pending(&mut c, name).await;
        let r = good_message(&mut c, "bob@example.com", &format!("after {name}")).await;
        assert!(r.starts_with("250 2.0.0 Ok: queued as"), "{name}: {r}");
        assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    }
    assert!(
        h.inbox("ann@example.com").await.is_empty(),
        "no smuggled message"
    );
    let bob = h.inbox_text("bob@example.com").await;
    assert_eq!(bob.len(), variants.len(), "only the messages sent after");
    for m in &bob {
        assert!(m.contains("Subject: after "), "{m}");
        assert!(!m.contains("innocent") && !m.contains("smuggled"), "{m}");
    }
    still_serving(h.mx).await;
}

/// `.<CR><LF>` ends the data after a line that ended with CRLF, even one too long to
/// keep, and not after one that ended with a bare LF, however long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_data_needs_crlf_before_the_dot_even_after_long_lines() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    // an empty message: the dot is the first line
    open_data(&mut c, "a@outside.test", "bob@example.com").await;
    c.send(".\r\n").await;
    assert!(reply_within(&mut c).await.starts_with("250 2.0.0"));
    // a line too long to keep, ended with CRLF: the dot after it is the end
    open_data(&mut c, "a@outside.test", "bob@example.com").await;
    c.send(&format!(
        "Subject: long\r\n\r\n{}\r\n.\r\n",
        "y".repeat(5000)
    ))
    .await;
    assert_eq!(
        reply_within(&mut c).await,
        "500 5.5.2 Error: line too long (lines are limited to 1000 octets)\r\n"
    );
    nothing_pending(&mut c, "after a long CRLF line").await;
    // a line too long to keep, ended with a bare LF: the dot after it is content
    open_data(&mut c, "a@outside.test", "bob@example.com").await;
    c.send(&format!(
        "Subject: long\r\n\r\n{}\n.\r\nRSET\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\nx\r\n.\r\n",
        "y".repeat(5000)
    ))
    .await;
    assert!(
        reply_within(&mut c).await.starts_with("550 5.6.0"),
        "bare LF found"
    );
    nothing_pending(&mut c, "after a long bare-LF line").await;
    assert!(h.inbox("ann@example.com").await.is_empty());
    assert_eq!(h.inbox("bob@example.com").await.len(), 1, "the empty one");
}

/// BDAT chunks get DATA's rules: bare LF, bare CR, NUL and long lines refuse the whole
/// message after its LAST chunk, with DATA's replies; a CRLF split between two chunks is
/// one CRLF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdat_chunks_follow_the_data_rules() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    let bare = "550 5.6.0 Message refused: bare CR or LF found; lines must end with CRLF\r\n";
    let nul = "550 5.6.0 Message refused: NUL character in message\r\n";
    let long = "500 5.5.2 Error: line too long (lines are limited to 1000 octets)\r\n";
    let long_line = format!("{}\r\n", "z".repeat(1200));
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "bare LF",
            &["Subject: a\r\n\r\nbare\nlf\r\n", "more\r\n"],
            bare,
        ),
        ("bare CR", &["Subject: a\r\n\r\n", "bare\rcr\r\n"], bare),
        ("CR at the very end", &["Subject: a\r\n\r\n", "x\r"], bare),
        (
            "CR before a chunk without LF",
            &["Subject: a\r\n\r\nx\r", "y\r\n"],
            bare,
        ),
        ("NUL", &["Subject: a\r\n\r\nnul\0", "byte\r\n"], nul),
        ("long line", &["Subject: a\r\n\r\n", &long_line], long),
    ];
    for (what, chunks, refusal) in cases {
        c.cmd("MAIL FROM:<a@outside.test>").await;
        c.cmd("RCPT TO:<bob@example.com>").await;
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i == chunks.len() - 1;
            c.send(&format!(
                "BDAT {}{}\r\n{chunk}",
                chunk.len(),
                if last { " LAST" } else { "" }
            ))
            .await;
            let r = reply_within(&mut c).await;
            if last {
                assert_eq!(r, refusal, "{what}");
            } else {
                assert_eq!(
                    r,
                    format!("250 2.0.0 {} octets received\r\n", chunk.len()),
                    "{what}: refused only after LAST"
                );
            }
        }
        nothing_pending(&mut c, what).await;
    }
    // the transaction is over after a refusal
    c.send("BDAT 3 LAST\r\nabc").await;
    assert!(reply_within(&mut c).await.starts_with("503 5.5.1"));
    // CR | LF across chunks is a CRLF
    c.cmd("MAIL FROM:<a@outside.test>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    for (chunk, last) in [
        ("Subject: split\r", ""),
        ("\n\r\nbody\r", ""),
        ("\n", " LAST"),
    ] {
        c.send(&format!("BDAT {}{last}\r\n{chunk}", chunk.len()))
            .await;
        assert!(reply_within(&mut c).await.starts_with("250 2.0.0"));
    }
    let inbox = h.inbox_text("bob@example.com").await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].ends_with("Subject: split\r\n\r\nbody\r\n"),
        "{}",
        inbox[0]
    );
    still_serving(h.mx).await;
}

// ---------------------------------------------------------------------------------------
// Mail loops

fn received(n: usize) -> String {
    "Received: from relay.test (relay.test [192.0.2.1])\r\n\tby next.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        .repeat(n)
}

/// With ours, at most `smtp.max_hops` (50) Received: fields: 49 pass, 50 get `554 5.4.6`
/// at the end of DATA and of BDAT. Received: lines in the body do not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_hops_are_refused_at_the_end_of_data_and_bdat() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    let message = |n: usize, subject: &str| {
        format!(
            "{}Subject: {subject}\r\n\r\n{}",
            received(n),
            received(100) // in the body: not counted
        )
    };
    open_data(&mut c, "a@outside.test", "bob@example.com").await;
    c.send(&format!("{}.\r\n", message(49, "forty-nine"))).await;
    let r = reply_within(&mut c).await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as"), "{r}");

    open_data(&mut c, "a@outside.test", "bob@example.com").await;
    c.send(&format!("{}.\r\n", message(50, "fifty"))).await;
    assert_eq!(reply_within(&mut c).await, "554 5.4.6 Too many hops\r\n");
    nothing_pending(&mut c, "after DATA").await;

    c.cmd("MAIL FROM:<a@outside.test>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let m = message(60, "sixty by BDAT");
    let (one, two) = m.split_at(m.len() / 2);
    c.send(&format!("BDAT {}\r\n{one}", one.len())).await;
    assert!(reply_within(&mut c).await.starts_with("250 2.0.0"));
    c.send(&format!("BDAT {} LAST\r\n{two}", two.len())).await;
    assert_eq!(reply_within(&mut c).await, "554 5.4.6 Too many hops\r\n");
    nothing_pending(&mut c, "after BDAT").await;

    let inbox = h.inbox_text("bob@example.com").await;
    assert_eq!(inbox.len(), 1);
    let end = inbox[0].find("\r\n\r\n").expect("a header section");
    let header = &inbox[0][..end];
    assert_eq!(
        header.matches("\nReceived: ").count(),
        50,
        "theirs and ours"
    );
}

// ---------------------------------------------------------------------------------------
// Limits per session

/// 25 bad commands in one go: the default limit (20, Postfix's smtpd_hard_error_limit)
/// answers the 20th with its error and `421 4.7.0`, and closes; the last 5 get nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_bad_commands_close_the_session() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    let bad: String = (0..25).map(|i| format!("XYZZY {i}\r\n")).collect();
    c.send(&bad).await;
    for i in 0..20 {
        assert_eq!(
            reply_within(&mut c).await,
            "500 5.5.1 Error: command not recognized\r\n",
            "bad command {i}"
        );
    }
    assert_eq!(
        reply_within(&mut c).await,
        format!("421 4.7.0 {HOST} Error: too many errors\r\n")
    );
    assert_eq!(reply_within(&mut c).await, "", "closed");
    still_serving(h.mx).await;
}

/// A raw client whose halves work apart: one task dribbles octets while the test reads.
struct Raw {
    rd: BufReader<OwnedReadHalf>,
}

impl Raw {
    /// Connects and reads the greeting; returns the writing half too.
    async fn connect(addr: std::net::SocketAddr) -> (Raw, OwnedWriteHalf) {
        let (rd, wr) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut raw = Raw {
            rd: BufReader::new(rd),
        };
        assert!(raw.reply().await.starts_with("220"));
        (raw, wr)
    }

    /// One whole reply; empty when the connection closed.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match tokio::time::timeout(REPLY_WAIT, self.rd.read_line(&mut line)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return all,
                Ok(Ok(_)) => {}
                Err(_) => panic!("no reply within {REPLY_WAIT:?}; got so far: {all:?}"),
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    async fn cmd(&mut self, wr: &mut OwnedWriteHalf, line: &str) -> String {
        wr.write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        self.reply().await
    }
}

/// Sends `bytes` one octet every `every`, as a slow-loris client does, until they run
/// out or the server closes.
fn dribble(mut wr: OwnedWriteHalf, bytes: Vec<u8>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        for b in bytes {
            tick.tick().await;
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
        }
    })
}

/// The slow client gets `421 4.4.2` about `limit` after it started, and the connection
/// closes; each octet came well within the idle timeout.
async fn cut_off(mut raw: Raw, started: Instant, limit: Duration) {
    let r = raw.reply().await;
    let took = started.elapsed();
    assert_eq!(r, format!("421 4.4.2 {HOST} Error: timeout exceeded\r\n"));
    assert!(
        took >= limit / 2 && took < limit + Duration::from_secs(4),
        "cut off after {took:?}, the limit being {limit:?}"
    );
    assert_eq!(raw.reply().await, "", "closed");
}

/// A command line that comes one octet at a time, each long before the idle timeout,
/// must still be whole within `smtp.command_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_command_line_is_cut_off() {
    let h = Harness::with(|c| c.smtp.command_timeout = 1).await;
    let (mut raw, mut wr) = Raw::connect(h.mx).await;
    assert!(raw.cmd(&mut wr, "EHLO slow.test").await.starts_with("250"));
    let started = Instant::now();
    let writer = dribble(wr, b"NOOP ".repeat(40), Duration::from_millis(100));
    cut_off(raw, started, Duration::from_secs(1)).await;
    writer.abort();
    still_serving(h.mx).await;
}

/// A message after DATA that comes slowly, in lines that each end in time, must be whole
/// within `smtp.data_timeout`; nothing of it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_message_is_cut_off() {
    let h = Harness::with(|c| c.smtp.data_timeout = 1).await;
    let (mut raw, mut wr) = Raw::connect(h.mx).await;
    raw.cmd(&mut wr, "EHLO slow.test").await;
    raw.cmd(&mut wr, "MAIL FROM:<a@outside.test>").await;
    raw.cmd(&mut wr, "RCPT TO:<bob@example.com>").await;
    assert!(raw.cmd(&mut wr, "DATA").await.starts_with("354"));
    let started = Instant::now();
    let writer = dribble(wr, b"x\r\n".repeat(100), Duration::from_millis(100));
    cut_off(raw, started, Duration::from_secs(1)).await;
    writer.abort();
    assert!(h.inbox("bob@example.com").await.is_empty());
    still_serving(h.mx).await;
}

/// The same for one BDAT chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bdat_chunk_is_cut_off() {
    let h = Harness::with(|c| c.smtp.data_timeout = 1).await;
    let (mut raw, mut wr) = Raw::connect(h.mx).await;
    raw.cmd(&mut wr, "EHLO slow.test").await;
    raw.cmd(&mut wr, "MAIL FROM:<a@outside.test>").await;
    raw.cmd(&mut wr, "RCPT TO:<bob@example.com>").await;
    wr.write_all(b"BDAT 300 LAST\r\n").await.expect("write");
    let started = Instant::now();
    let writer = dribble(wr, b"x\r\n".repeat(100), Duration::from_millis(100));
    cut_off(raw, started, Duration::from_secs(1)).await;
    writer.abort();
    assert!(h.inbox("bob@example.com").await.is_empty());
    still_serving(h.mx).await;
}

// ---------------------------------------------------------------------------------------
// Hostile sizes

/// 10,000 RCPT: the first 100 (`smtp.max_recipients`) are taken, each of the others gets
/// `452 4.5.3` (not counted as errors: the session is not closed), and the message goes
/// to the accepted ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_recipients() {
    // 10,002 commands in one go: over the default command budget before AUTH (3000 a
    // minute, which would end the session with 421; see tests/throttles.rs)
    let h = Harness::with(|c| c.smtp.unauthenticated_commands_per_minute = 20_000).await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO many.test").await;
    c.cmd("MAIL FROM:<list@outside.test>").await;
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for batch in 0..20 {
        let lines: String = (0..500)
            .map(|i| {
                let n = batch * 500 + i;
                let who = if n % 2 == 0 { "bob" } else { "ann" };
                format!("RCPT TO:<{who}+{n}@example.com>\r\n")
            })
            .collect();
        c.send(&lines).await;
        for _ in 0..500 {
            *codes.entry(reply_within(&mut c).await).or_default() += 1;
        }
    }
    assert_eq!(codes.get("250 2.1.5 Ok\r\n"), Some(&100), "{codes:?}");
    assert_eq!(
        codes.get("452 4.5.3 Error: too many recipients\r\n"),
        Some(&9_900),
        "{codes:?}"
    );
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: to many\r\n\r\nhello\r\n.\r\n").await;
    let r = reply_within(&mut c).await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as"), "{r}");
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);
    assert_eq!(h.inbox("ann@example.com").await.len(), 1);
    still_serving(h.mx).await;
}

/// AUTH with a 1 MB blob, as initial response or as the answer to 334: `500 5.5.6`
/// (RFC 4954 §4), the session stays usable and a real login works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_with_a_megabyte_blob() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO big.test").await;
    let blob = "QUFB".repeat(256 * 1024); // 1 MiB of base64
    let too_long = "500 5.5.6 Authentication exchange line is too long\r\n";
    assert_eq!(c.cmd(&format!("AUTH PLAIN {blob}")).await, too_long);
    nothing_pending(&mut c, "initial response").await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    assert_eq!(c.cmd(&blob).await, too_long);
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&blob).await, too_long);
    nothing_pending(&mut c, "responses").await;
    let r = c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    assert!(r.starts_with("235 2.7.0"), "{r}");
    still_serving(h.mx).await;
}

/// A header line of 1 MiB in DATA is refused by the line-length rule, after the end of
/// the message; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_header_line_is_refused() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO big.test").await;
    open_data(&mut c, "a@outside.test", "bob@example.com").await;
    c.send(&format!(
        "Subject: big\r\nX-Huge: {}\r\n\r\nbody\r\n.\r\n",
        "h".repeat(1 << 20)
    ))
    .await;
    assert_eq!(
        reply_within(&mut c).await,
        "500 5.5.2 Error: line too long (lines are limited to 1000 octets)\r\n"
    );
    nothing_pending(&mut c, "after the big header").await;
    assert!(h.inbox("bob@example.com").await.is_empty());
    still_serving(h.mx).await;
}

/// Sends a raw command line and checks the start of its reply.
async fn expect(c: &mut Client, line: &[u8], reply: &str) {
    c.send_bytes(&[line, b"\r\n"].concat()).await;
    let r = reply_within(c).await;
    assert!(
        r.starts_with(reply),
        "{:?}: expected {reply}…, got {r}",
        String::from_utf8_lossy(line)
    );
}

/// 8-bit octets and invalid UTF-8 in EHLO, MAIL FROM, RCPT TO and AUTH: each gets a 5xx
/// that says what is wrong, never an address with U+FFFD in it, and the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_bit_and_invalid_utf8_in_commands() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    expect(&mut c, b"EHLO \xff\xfe.test", "501 5.5.2").await;
    expect(&mut c, "EHLO café.test".as_bytes(), "501 5.5.2").await;
    expect(&mut c, b"HELO \xe9t\xe9.test", "501 5.5.2").await;
    expect(&mut c, b"EHLO client.test", "250").await;
    expect(&mut c, b"MAIL FROM:<\xff@outside.test>", "501 5.1.7").await;
    expect(
        &mut c,
        b"MAIL FROM:<\xe9@outside.test> SMTPUTF8",
        "501 5.1.7",
    )
    .await;
    expect(
        &mut c,
        "MAIL FROM:<josé@outside.test>".as_bytes(),
        "553 5.6.7",
    )
    .await;
    expect(&mut c, b"MAIL FROM:<a@outside.test>", "250").await;
    expect(&mut c, b"RCPT TO:<b\xf6b@example.com>", "501 5.1.3").await;
    expect(&mut c, "RCPT TO:<böb@example.com>".as_bytes(), "553 5.6.7").await;
    expect(&mut c, b"AUTH PLAIN \xff\xfe", "501 5.5.2").await;
    expect(&mut c, b"\xc3\x28 NOOP", "500 5.5.2").await;
    expect(&mut c, b"RSET", "250").await;
    // with SMTPUTF8, a valid UTF-8 address is fine
    expect(
        &mut c,
        "MAIL FROM:<josé@outside.test> SMTPUTF8".as_bytes(),
        "250",
    )
    .await;
    expect(&mut c, b"RSET", "250").await;

    // AUTH over TLS, where it is allowed
    let (mut t, _) = Client::connect_tls(h.submissions).await;
    expect(&mut t, b"EHLO laptop.test", "250").await;
    expect(&mut t, b"AUTH PLAIN \xff\xfe\xfd", "501 5.5.2").await;
    expect(&mut t, "AUTH PLAIN é".as_bytes(), "501 5.5.2").await;
    expect(&mut t, b"AUTH PLAIN", "334").await;
    expect(&mut t, b"\xff\xfe\xfd\xfc", "501 5.5.2").await;
    expect(&mut t, b"AUTH LOGIN", "334").await;
    expect(&mut t, b"\xe9", "334").await;
    expect(&mut t, b"x", "501 5.5.2").await;
    expect(&mut t, "AUTH PLÄIN".as_bytes(), "5").await;
    let r = t.auth_plain("bob@example.com", BOB_PASSWORD).await;
    assert!(r.starts_with("235 2.7.0"), "{r}");
    still_serving(h.mx).await;
    let r = good_message(&mut c, "bob@example.com", "after 8-bit").await;
    assert!(r.starts_with("250"), "{r}");
}
