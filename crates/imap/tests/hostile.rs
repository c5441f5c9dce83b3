//! Hostile input over real sockets: whatever a client sends, the server answers within
//! its bounds, keeps its memory, and goes on serving other connections. Every wait on
//! the server is a tokio timeout of several seconds whose expiry is the failure.

mod common;

use std::time::Duration;

use common::{Client, Harness};
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

async fn logged_in(h: &Harness) -> Client {
    let mut c = Client::tls(h.imaps).await;
    assert!(c.line().await.starts_with("* OK"));
    let r = c.run("l", "LOGIN bob@example.com secret").await;
    assert!(r.starts_with("l OK"), "{r}");
    c
}

/// A new connection is greeted and answers NOOP: the server is still serving.
async fn still_serving(h: &Harness) {
    within("a new connection", async {
        let mut c = Client::plain(h.imap).await;
        assert!(c.line().await.starts_with("* OK"));
        assert!(c.run("n", "NOOP").await.starts_with("n OK"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_patterns_are_matched_in_linear_time() {
    let h = Harness::start().await;
    let mut c = logged_in(&h).await;
    let long = "a".repeat(200);
    let r = c.run("c", &format!("CREATE {long}")).await;
    assert!(r.starts_with("c OK"), "{r}");
    // `*a*a…*a*b`, 25 wildcards: a backtracking matcher spends minutes on the 200 a's
    let hostile = format!("{}*b", "*a".repeat(24));
    let r = within("LIST", c.run("l1", &format!("LIST \"\" \"{hostile}\""))).await;
    assert!(r.ends_with("l1 OK LIST completed\r\n"), "{r}");
    assert!(!r.contains(&long), "no b, no match: {r}");
    let r = within("LSUB", c.run("l2", &format!("LSUB \"\" \"{hostile}\""))).await;
    assert!(r.ends_with("l2 OK LSUB completed\r\n"), "{r}");
    let percent = format!("{}%b", "%a".repeat(24));
    let r = within("LIST %", c.run("l3", &format!("LIST \"\" \"{percent}\""))).await;
    assert!(r.ends_with("l3 OK LIST completed\r\n"), "{r}");
    assert!(!r.contains(&long), "{r}");
    // the same shape that does match
    let matching = format!("{}*", "*a".repeat(24));
    let r = within("LIST", c.run("l4", &format!("LIST \"\" \"{matching}\""))).await;
    assert!(
        r.contains(&format!("* LIST (\\HasNoChildren) \"/\" \"{long}\"\r\n")),
        "{r}"
    );
    // several patterns, and the reference in front of each
    let r = c
        .run("l5", &format!("LIST \"a\" (\"{}\" \"%\")", "*a".repeat(10)))
        .await;
    assert!(r.contains(&format!("\"{long}\"")), "{r}");
    // longer than the bound: refused with the reason, nothing matched
    let r = c
        .run("l6", &format!("LIST \"\" \"{}\"", "*a".repeat(513)))
        .await;
    assert_eq!(
        r,
        "l6 BAD LIST patterns longer than 1024 octets in all (reference included)\r\n"
    );
    let patterns = vec!["\"%\""; 600].join(" ");
    let r = c.run("l7", &format!("LIST \"x\" ({patterns})")).await;
    assert!(r.starts_with("l7 BAD"), "{r}");
    let r = c.run("l8", "LIST \"\" %").await;
    assert!(r.contains("\"INBOX\""), "{r}");
    still_serving(&h).await;
}

/// The process's virtual size, in KiB (Linux): what an allocation on a promise would
/// grow, touched or not.
fn virtual_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_announcements_cost_nothing_until_their_octets_come() {
    let h = Harness::start().await;
    // before login: a 4 GiB promise is refused before the client sends anything
    let mut c = Client::plain(h.imap).await;
    c.line().await;
    let r = within("LOGIN", c.run("a", "LOGIN {4294967296}")).await;
    assert_eq!(
        r,
        "a NO [TOOBIG] literal of 4294967296 octets: a command may hold 65536 octets\r\n"
    );
    assert!(c.run("b", "NOOP").await.starts_with("b OK"), "usable");

    // after login: the APPENDLIMIT bounds a command; no "+" is sent for a larger one
    let mut c = logged_in(&h).await;
    let r = within("APPEND", c.run("c", "APPEND INBOX {4294967296}")).await;
    assert!(
        r.starts_with("c NO [TOOBIG] literal of 4294967296 octets"),
        "{r}"
    );
    assert!(!r.contains("+ Ready"), "{r}");
    let r = c.run("d", "APPEND INBOX {1048576000}").await;
    assert!(r.starts_with("d NO [TOOBIG]"), "{r}");
    assert!(c.run("e", "NOOP").await.starts_with("e OK"), "usable");
    // a non-synchronizing one is already on its way: BAD [TOOBIG] (RFC 7888), BYE, closed
    c.send("f APPEND INBOX {68719476736+}\r\nFrom: x\r\n").await;
    let r = within("BYE", c.until_tagged("never")).await;
    assert!(
        r.starts_with("f BAD [TOOBIG] literal of 68719476736 octets")
            && r.ends_with("* BYE literal too large, closing the connection\r\n"),
        "{r}"
    );
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_literal_grows_with_its_octets_not_its_size() {
    // an APPENDLIMIT so large that a 4 GiB literal is accepted
    let h = Harness::start_with(|c| c.smtp.max_message_size = 8 << 30).await;
    let mut c = logged_in(&h).await;
    let before = virtual_kib();
    c.send("a APPEND INBOX {4294967296}\r\n").await;
    // the server asks for the octets only once it is ready to take them
    let go = within("continuation", c.line()).await;
    assert_eq!(go, "+ Ready for literal data\r\n");
    c.send(&"x".repeat(100_000)).await;
    let grown = virtual_kib().saturating_sub(before);
    // other tests' threads may add a few malloc arenas meanwhile; 4 GiB would not fit
    assert!(
        grown < 2 << 20,
        "the process grew {grown} KiB on a 4 GiB promise"
    );
    // others are served meanwhile, and the literal's session is still waiting for more
    still_serving(&h).await;
    drop(c);
    still_serving(&h).await;
}

/// A plaintext client that sends and reads raw octets (replies are read as octets and
/// shown lossily, so 8-bit text in them cannot end a read early).
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
        assert!(greeting.starts_with("* OK"), "{greeting}");
        raw
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// One line, lossily; empty at the end of the connection.
    async fn line(&mut self) -> String {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).await.unwrap_or(0);
        String::from_utf8_lossy(&line).into_owned()
    }

    async fn until_tagged(&mut self, tag: &str) -> String {
        within(tag, async {
            let mut all = String::new();
            loop {
                let l = self.line().await;
                all.push_str(&l);
                if l.is_empty() || l.starts_with(&format!("{tag} ")) {
                    return all;
                }
            }
        })
        .await
    }

    async fn run(&mut self, tag: &str, command: &[u8]) -> String {
        let mut bytes = format!("{tag} ").into_bytes();
        bytes.extend_from_slice(command);
        bytes.extend_from_slice(b"\r\n");
        self.send(&bytes).await;
        self.until_tagged(tag).await
    }

    /// Sends `bytes` then an `x` every `GAP`, one octet at a time and never a line end,
    /// until the server closes; the writing goes on in a task of its own.
    fn dribble(self, bytes: &'static [u8]) -> (BufReader<OwnedReadHalf>, JoinHandle<()>) {
        const GAP: Duration = Duration::from_millis(150);
        let mut writer = self.writer;
        let task = tokio::spawn(async move {
            for b in bytes.iter().chain(std::iter::repeat(&b'x')) {
                if writer.write_all(&[*b]).await.is_err() {
                    return;
                }
                // the stimulus: a client that is slow, not a wait for the server
                tokio::time::sleep(GAP).await;
            }
        });
        (self.reader, task)
    }
}

/// The rest of what the server sends until it closes the connection, lossily.
async fn until_closed(reader: &mut BufReader<OwnedReadHalf>) -> String {
    within("the end of the connection", async {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.unwrap_or(0);
        String::from_utf8_lossy(&all).into_owned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_gets_bad_and_the_session_goes_on() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    let mut c = logged_in(&h).await;
    c.run("s", "SELECT INBOX").await;
    let open = "(".repeat(60_000);
    let nested = "a BAD search criteria nested too deeply (at most 64 levels)\r\n";
    let r = within("SEARCH", c.run("a", &format!("SEARCH {open}ALL"))).await;
    assert_eq!(r, nested);
    let r = within(
        "SEARCH",
        c.run("a", &format!("SEARCH {}ALL", "NOT ".repeat(15_000))),
    )
    .await;
    assert_eq!(r, nested);
    // deeper than one line can hold: lines joined by (non-synchronizing) literals
    let mut or = String::from("a UID SEARCH ");
    for _ in 0..4 {
        or.push_str(&"OR ".repeat(20_000));
        or.push_str("SUBJECT {1+}\r\nx ");
    }
    or.push_str("ALL\r\n");
    c.send(&or).await;
    assert_eq!(within("SEARCH OR", c.until_tagged("a")).await, nested);
    let r = within("FETCH", c.run("f", &format!("FETCH 1 {open}FLAGS"))).await;
    assert!(r.starts_with("f BAD"), "{r}");
    let r = c.run("st", &format!("STORE 1 +FLAGS {open}\\Seen")).await;
    assert!(r.starts_with("st BAD"), "{r}");
    c.send(&format!("ap APPEND INBOX {open}\\Seen {{5+}}\r\nhello\r\n"))
        .await;
    let r = within("APPEND", c.until_tagged("ap")).await;
    assert!(r.starts_with("ap BAD"), "{r}");
    let r = c.run("sa", &format!("STATUS INBOX {open}MESSAGES")).await;
    assert!(r.starts_with("sa BAD"), "{r}");
    // the deepest allowed is answered
    let r = c
        .run(
            "d",
            &format!("SEARCH {}ALL{}", "(".repeat(64), ")".repeat(64)),
        )
        .await;
    assert!(
        r.contains("* SEARCH 1\r\n") && r.ends_with("d OK SEARCH completed\r\n"),
        "{r}"
    );
    let r = c
        .run("d2", &format!("SEARCH {}ALL", "NOT NOT ".repeat(32)))
        .await;
    assert!(r.contains("* SEARCH 1\r\n"), "{r}");
    assert!(c.run("n", "NOOP").await.starts_with("n OK"));
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_invalid_commands_end_the_session() {
    let h = Harness::start_with(|c| c.imap.max_bad_commands = 3).await;
    let mut c = Client::plain(h.imap).await;
    c.line().await;
    assert_eq!(c.run("a", "FROB").await, "a BAD unknown command FROB\r\n");
    assert!(
        c.run("b", "NOOP").await.starts_with("b OK"),
        "OK is not counted"
    );
    let r = c.run("c", "LOGIN bob@example.com wrong").await;
    assert!(r.starts_with("c NO"), "NO is not counted: {r}");
    assert!(c.run("d", "SELECT INBOX").await.starts_with("d BAD"));
    // a refused literal counts too
    let r = c.run("e", "LOGIN {99999999}").await;
    assert!(r.starts_with("e NO [TOOBIG]"), "{r}");
    assert_eq!(c.line().await, "* BYE Too many invalid commands\r\n");
    assert_eq!(c.line().await, "", "closed");

    // the default, 20, pipelined: the 20th BAD is followed by BYE
    let h = Harness::start().await;
    let mut c = Client::plain(h.imap).await;
    c.line().await;
    c.send(&"x FROB\r\n".repeat(25)).await;
    let rest = within("BYE", c.until_tagged("never")).await;
    assert_eq!(
        rest.matches("x BAD unknown command FROB\r\n").count(),
        20,
        "{rest}"
    );
    assert!(
        rest.ends_with("* BYE Too many invalid commands\r\n"),
        "{rest}"
    );
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_must_arrive_within_the_command_timeout() {
    let h = Harness::start_with(|c| {
        c.imap.command_timeout = 1;
        c.auth.allow_plaintext_on_loopback = true;
    })
    .await;
    // waiting between commands is the idle timeout's business, not this one's
    let mut c = Raw::connect(h.imap).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // idle longer than the budget
    assert!(c.run("a", b"NOOP").await.starts_with("a OK"));

    let logged_in = || async {
        let mut c = Raw::connect(h.imap).await;
        let r = c.run("l", b"LOGIN bob@example.com secret").await;
        assert!(r.starts_with("l OK"), "{r}");
        c
    };
    let started = tokio::time::Instant::now();
    // a command line, an APPEND's literal, an AUTHENTICATE response and IDLE's DONE, each
    // dribbled an octet at a time: every gap is far shorter than the idle timeout
    let line = Raw::connect(h.imap).await.dribble(b"b NOOP");
    let mut append = logged_in().await;
    append.send(b"c APPEND INBOX {100}\r\n").await;
    assert_eq!(
        within("+", append.line()).await,
        "+ Ready for literal data\r\n"
    );
    let literal = append.dribble(b"From: slow\r\n");
    let mut auth = Raw::connect(h.imap).await;
    auth.send(b"d AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(within("+", auth.line()).await, "+ \r\n");
    let auth = auth.dribble(b"AGJvYkBleGFt");
    let mut idle = logged_in().await;
    idle.run("s", b"SELECT INBOX").await;
    idle.send(b"i IDLE\r\n").await;
    assert_eq!(within("+", idle.line()).await, "+ idling\r\n");
    let idle = idle.dribble(b"DO");
    for (what, (mut reader, writer)) in [
        ("line", line),
        ("literal", literal),
        ("AUTHENTICATE", auth),
        ("IDLE", idle),
    ] {
        let rest = until_closed(&mut reader).await;
        writer.abort();
        assert!(
            rest.ends_with("* BYE command not received in time\r\n"),
            "{what}: {rest}"
        );
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    still_serving(&h).await;
}

/// A tagged reply of any kind: the command was answered, the session lives.
fn answered(reply: &str, tag: &str) -> bool {
    let last = reply.lines().last().unwrap_or("");
    ["OK", "NO", "BAD"]
        .iter()
        .any(|w| last.starts_with(&format!("{tag} {w}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_bit_and_invalid_utf8_in_every_field() {
    let h = Harness::start_with(|c| {
        c.auth.allow_plaintext_on_loopback = true;
        c.imap.max_bad_commands = 1000;
    })
    .await;
    h.deliver("bob@example.com", "one").await;
    let mut c = Raw::connect(h.imap).await;
    // a tag that is not one
    c.send(b"\xff\xfe NOOP\r\n").await;
    assert_eq!(
        within("tag", c.line()).await,
        "* BAD a command starts with a tag, then a space\r\n"
    );
    let before_login: [&[u8]; 7] = [
        b"LOGIN \xff\xfe secret",
        b"LOGIN \"bob\xff@example.com\" \"s\xffcret\"",
        b"LOGIN {4+}\r\n\xff\x00\x80\xc3 {2+}\r\n\xfe\xff",
        b"AUTHENTICATE PLAIN \xff\xfe",
        b"AUTHENTICATE \xff",
        b"ID (\"\xff\" \"\xfe\" \"caf\xc3\xa9\" NIL)",
        b"ENABLE \xff",
    ];
    for (i, cmd) in before_login.iter().enumerate() {
        let tag = format!("p{i}");
        let r = c.run(&tag, cmd).await;
        assert!(answered(&r, &tag), "{}: {r}", String::from_utf8_lossy(cmd));
    }
    let r = c.run("l", b"LOGIN bob@example.com secret").await;
    assert!(r.starts_with("l OK"), "{r}");
    let after_login: [&[u8]; 38] = [
        b"CREATE \"\xff\xfe\"",
        b"CREATE \"caf\xc3\xa9\"",
        b"CREATE \xff",
        b"CREATE {3+}\r\n\x00\x01\x02",
        b"RENAME \"\xff\xfe\" \"\xfe\xff\"",
        b"SUBSCRIBE \"\xfe\xff\"",
        b"UNSUBSCRIBE \"\xfe\xff\"",
        b"LIST \"\xff\" \"*\xff%\"",
        b"LIST \"\" *",
        b"LIST (SUBSCRIBED \xff) \"\" *",
        b"LSUB \"\" \"\xff*\"",
        b"STATUS \"\xfe\xff\" (MESSAGES)",
        b"STATUS INBOX (\xff)",
        b"APPEND \"\xfe\xff\" (\\Seen) {5+}\r\nhello",
        b"APPEND INBOX (\xff) {5+}\r\nhello",
        b"APPEND INBOX ($caf\xc3\xa9) {5+}\r\nhello",
        b"APPEND INBOX \"\xff-Jan-2026 00:00:00 +0000\" {5+}\r\nhello",
        b"APPEND INBOX {19+}\r\nSubject: \xff\xfe\r\n\r\n\xc3(\r\n",
        b"EXAMINE \"\xff\"",
        b"SELECT \"\xfe\xff\"",
        b"SELECT INBOX",
        b"SEARCH SUBJECT \"\xff\xfe\"",
        b"SEARCH BODY {2+}\r\n\xff\xfe",
        b"SEARCH TEXT \"\xc3\"",
        b"SEARCH HEADER \"\xff\" \"\xfe\"",
        b"SEARCH FROM \"\xff\" TO \"\xfe\" CC \"\x80\" BCC \"\x81\"",
        b"SEARCH KEYWORD \"\xff\" UNKEYWORD \"\xfe\"",
        b"SEARCH CHARSET \"\xff\" ALL",
        b"SEARCH CHARSET UTF-8 SUBJECT \"\xff\"",
        b"SEARCH SINCE \"\xff-Jan-2026\"",
        b"SEARCH \xff",
        b"STORE 1 +FLAGS (\xff)",
        b"STORE 1 +FLAGS (\\\xff $\xfe)",
        b"FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (\"\xff\" Subject)])",
        b"FETCH 1 (FLAGS \xff)",
        b"COPY 1 \"\xfe\xff\"",
        b"GETQUOTAROOT \"\xff\"",
        b"DELETE \"\xfe\xff\"",
    ];
    for (i, cmd) in after_login.iter().enumerate() {
        let tag = format!("q{i}");
        let r = c.run(&tag, cmd).await;
        assert!(answered(&r, &tag), "{}: {r}", String::from_utf8_lossy(cmd));
    }
    let r = c.run("m", b"MOVE 1 \"\xff\xff\"").await;
    assert_eq!(r, "m BAD mailbox names are UTF-8; this one is not\r\n");
    // names that are not UTF-8 were refused, not repaired into another folder's name;
    // UTF-8 ones are kept as they are
    let r = c.run("o", b"LIST \"\" *").await;
    assert!(!r.contains('\u{fffd}'), "{r}");
    assert!(r.contains("\"/\" {5}\r\ncaf\u{e9}\r\n"), "{r}");
    let r = c.run("n", b"NOOP \x00").await;
    assert!(r.starts_with("n BAD"), "{r}");
    assert!(c.run("z", b"NOOP").await.starts_with("z OK"));
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_authenticate_is_refused() {
    let h = Harness::start_with(|c| c.auth.allow_plaintext_on_loopback = true).await;
    let blob = "QUFB".repeat(256 * 1024); // 1 MiB of base64
    let mut c = Raw::connect(h.imap).await;
    // as an initial response: a line longer than any command line
    c.send(format!("a AUTHENTICATE PLAIN {blob}\r\n").as_bytes())
        .await;
    assert_eq!(within("BAD", c.line()).await, "* BAD line too long\r\n");
    // after the continuation request
    c.send(b"b AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(within("+", c.line()).await, "+ \r\n");
    c.send(format!("{blob}\r\n").as_bytes()).await;
    assert_eq!(
        c.until_tagged("b").await,
        "b BAD authentication response too long\r\n"
    );
    // longer than a PLAIN response can be, though the line is short enough
    let r = c
        .run(
            "c",
            format!("AUTHENTICATE PLAIN {}", &blob[..20_000]).as_bytes(),
        )
        .await;
    assert_eq!(r, "c BAD authentication response too long\r\n");
    let r = c
        .run("d", b"AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLmNvbQBzZWNyZXQ=")
        .await;
    assert!(r.starts_with("d OK"), "the session goes on: {r}");
    still_serving(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_commands_are_bounded() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    let mut c = logged_in(&h).await;
    c.run("s", "SELECT INBOX").await;
    // a SEARCH of 4000 keys over lines joined by literals (one line could not hold them)
    let mut search = String::from("a SEARCH");
    for _ in 0..4 {
        search.push_str(&" SEEN".repeat(999));
        search.push_str(" SUBJECT {1+}\r\nx");
    }
    search.push_str("\r\n");
    c.send(&search).await;
    assert_eq!(
        within("SEARCH", c.until_tagged("a")).await,
        "a BAD more than 1000 search keys\r\n"
    );
    let r = c
        .run("b", &format!("FETCH 1 ({})", vec!["FLAGS"; 1001].join(" ")))
        .await;
    assert_eq!(r, "b BAD more than 1000 items in a list\r\n");
    // a header field name as a literal: it would be echoed for every message
    c.send(&format!(
        "c FETCH 1:* BODY.PEEK[HEADER.FIELDS ({{2000+}}\r\n{})]\r\n",
        "F".repeat(2000)
    ))
    .await;
    assert_eq!(
        within("FETCH", c.until_tagged("c")).await,
        "c BAD header field name longer than 998 octets\r\n"
    );
    // a set of 10,000 ranges (as many as a line holds) is answered like a short one
    let set: Vec<String> = (1..20_000u32).step_by(2).map(|n| n.to_string()).collect();
    let r = within(
        "UID SEARCH",
        c.run("d", &format!("UID SEARCH UID {}", set.join(","))),
    )
    .await;
    assert!(
        r.starts_with("* SEARCH 1\r\n") && r.ends_with("d OK SEARCH completed\r\n"),
        "{r}"
    );
    let r = within(
        "FETCH",
        c.run("e", &format!("UID FETCH {} FLAGS", set.join(","))),
    )
    .await;
    assert!(r.ends_with("e OK FETCH completed\r\n"), "{r}");
    still_serving(&h).await;
}
