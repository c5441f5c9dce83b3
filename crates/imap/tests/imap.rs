//! IMAP end to end over real sockets: mail delivered over SMTP, read and changed with a
//! raw client and with Python's imaplib, over STARTTLS (143) and implicit TLS (993).

mod common;

use common::{Client, Harness};

async fn logged_in(h: &Harness, user: &str) -> Client {
    let mut c = Client::tls(h.imaps).await;
    let greeting = c.line().await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev2 IMAP4rev1 "),
        "{greeting}"
    );
    let r = c.run("l", &format!("LOGIN {user} secret")).await;
    assert!(r.starts_with("l OK [CAPABILITY"), "{r}");
    c
}

/// The literal that follows `marker` in a response.
fn literal_after(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"))
        + marker.len();
    let rest = &text[at..];
    let open = rest.find('{').expect("literal");
    let close = rest.find("}\r\n").expect("literal end");
    let n: usize = rest[open + 1..close].parse().expect("size");
    rest[close + 3..close + 3 + n].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_and_fetch_are_byte_identical_to_smtp() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "hello imap").await;
    let stored = String::from_utf8(h.inbox("bob@example.com").await.remove(0)).unwrap();
    let mut c = logged_in(&h, "bob@example.com").await;
    let r = c.run("s", "SELECT INBOX").await;
    assert!(r.contains("* 1 EXISTS\r\n"), "{r}");
    assert!(r.contains("* OK [UIDVALIDITY "), "{r}");
    assert!(r.contains("* OK [UIDNEXT 2]"), "{r}");
    assert!(r.contains("s OK [READ-WRITE]"), "{r}");
    let r = c
        .run(
            "f",
            "FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])",
        )
        .await;
    assert!(r.contains(&format!("RFC822.SIZE {}", stored.len())), "{r}");
    assert!(r.contains("UID 1 FLAGS (\\Recent)"), "{r}");
    assert!(
        r.contains("ENVELOPE (NIL \"hello imap\" ((NIL NIL \"someone\" \"outside.test\"))"),
        "{r}"
    );
    assert!(
        r.contains("BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\""),
        "{r}"
    );
    assert_eq!(literal_after(&r, "BODY[] "), stored, "byte-identical");
    // PEEK left \Seen alone; BODY[TEXT] sets it
    let r = c.run("g", "FETCH 1 BODY[TEXT]").await;
    assert!(
        literal_after(&r, "BODY[TEXT] ").starts_with("Hello.\r\n"),
        "{r}"
    );
    assert!(r.contains("FLAGS (\\Recent \\Seen)"), "{r}");
    let r = c
        .run(
            "h",
            "UID FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])",
        )
        .await;
    assert!(r.contains("FLAGS (\\Recent \\Seen)"), "{r}");
    assert_eq!(
        literal_after(&r, "BODY[HEADER.FIELDS (\"Subject\")] "),
        "Subject: hello imap\r\n\r\n"
    );
    assert!(c.run("o", "LOGOUT").await.contains("* BYE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_set_in_one_session_appear_in_another_and_idle_wakes() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    let mut a = logged_in(&h, "bob@example.com").await;
    let mut b = logged_in(&h, "bob@example.com").await;
    a.run("s", "SELECT INBOX").await;
    b.run("s", "SELECT INBOX").await;
    let r = a.run("t", "STORE 1 +FLAGS (\\Flagged)").await;
    assert!(r.contains("* 1 FETCH (FLAGS (\\Flagged \\Recent))"), "{r}");
    let r = b.run("n", "NOOP").await;
    assert!(r.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged))"), "{r}");
    // a changes the message, then b opens it: b hears of a's change before its FETCH
    // answer, which carries the flags with \Seen added
    a.run("t2", "STORE 1 +FLAGS.SILENT (\\Answered)").await;
    let r = b.run("f", "FETCH 1 (FLAGS BODY[TEXT])").await;
    assert!(
        r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered \\Flagged))\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* 1 FETCH (FLAGS (\\Answered \\Flagged \\Seen) BODY[TEXT]"),
        "{r}"
    );
    let r = b.run("n2", "NOOP").await;
    assert!(!r.contains("FETCH"), "nothing new to tell: {r}");
    let r = a.run("n3", "NOOP").await;
    assert!(
        r.contains("FLAGS (\\Answered \\Flagged \\Recent \\Seen)"),
        "{r}"
    );
    // \Deleted taken off by a: b's EXPUNGE must not remove the message
    b.run("d", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    a.run("u", "STORE 1 -FLAGS.SILENT (\\Deleted)").await;
    let r = b.run("e", "EXPUNGE").await;
    assert!(
        !r.contains("EXPUNGE\r\n* ") && !r.contains("* 1 EXPUNGE"),
        "{r}"
    );
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);

    // IDLE: a delivery over SMTP is announced without the client asking
    b.send("i IDLE\r\n").await;
    assert!(b.line().await.starts_with("+ "));
    h.deliver("bob@example.com", "two").await;
    let pushed = tokio::time::timeout(std::time::Duration::from_secs(5), b.line())
        .await
        .expect("IDLE reported the delivery within 5 s");
    assert_eq!(pushed, "* 2 EXISTS\r\n");
    // b is the first to see it: recent to b
    assert_eq!(b.line().await, "* 1 RECENT\r\n");
    b.send("DONE\r\n").await;
    assert!(b.until_tagged("i").await.starts_with("i OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_copy_move_expunge_with_uidplus() {
    let h = Harness::start().await;
    let mut c = logged_in(&h, "bob@example.com").await;
    let r = c
        .run(
            "a",
            "APPEND Drafts (\\Draft) {22+}\r\nSubject: draft\r\n\r\nhi\r\n",
        )
        .await;
    assert!(r.contains("a OK [APPENDUID "), "{r}");
    let r = c.run("s", "SELECT Drafts").await;
    assert!(r.contains("* 1 EXISTS"), "{r}");
    let r = c.run("c", "UID COPY 1 Archive").await;
    assert!(r.contains("c OK [COPYUID ") && r.contains(" 1 1]"), "{r}");
    let r = c.run("m", "UID MOVE 1 Trash").await;
    assert!(r.contains("[COPYUID ") && r.contains("* 1 EXPUNGE"), "{r}");
    assert!(
        c.run("x", "COPY 1 Nowhere")
            .await
            .contains("x NO [TRYCREATE]")
    );
    let r = c
        .run("st", "STATUS Trash (MESSAGES UIDNEXT UNSEEN SIZE)")
        .await;
    assert!(
        r.contains("* STATUS \"Trash\" (MESSAGES 1 UIDNEXT 2 UNSEEN 1 SIZE 22)"),
        "{r}"
    );

    c.run("s2", "SELECT Archive").await;
    c.run("d", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.run("e", "EXPUNGE").await;
    assert!(r.contains("* 1 EXPUNGE"), "{r}");
    assert!(
        c.run("f", "FETCH 1 FLAGS").await.contains("f OK"),
        "an empty set is not an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_create_rename_search() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "invoice march").await;
    h.deliver("bob@example.com", "holiday").await;
    let mut c = logged_in(&h, "bob@example.com").await;
    let r = c.run("l", "LIST \"\" \"*\"").await;
    for folder in [
        "\"INBOX\"",
        "(\\HasNoChildren \\Sent) \"/\" \"Sent\"",
        "\\Trash",
        "\\Junk",
        "\\Drafts",
        "\\Archive",
    ] {
        assert!(r.contains(folder), "{folder} in {r}");
    }
    // the parent comes with its child (RFC 9051 §6.3.4)
    assert!(c.run("c", "CREATE Work/2026").await.contains("c OK"));
    assert!(
        c.run("c3", "CREATE Work")
            .await
            .contains("c3 NO [ALREADYEXISTS]")
    );
    let r = c.run("l2", "LIST \"\" \"Work*\"").await;
    assert!(r.contains("(\\HasChildren) \"/\" \"Work\""), "{r}");
    assert!(c.run("r", "RENAME Work Job").await.contains("r OK"));
    assert!(
        c.run("l3", "LIST \"\" \"Job/%\"")
            .await
            .contains("\"Job/2026\"")
    );

    c.run("s", "SELECT INBOX").await;
    let r = c.run("q", "SEARCH SUBJECT invoice").await;
    assert!(r.contains("* SEARCH 1\r\n"), "{r}");
    let r = c.run("q2", "UID SEARCH NOT SUBJECT invoice").await;
    assert!(r.contains("* SEARCH 2\r\n"), "{r}");
    let r = c
        .run("q3", "SEARCH BODY \"a dot line\" LARGER 10 UNSEEN")
        .await;
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
    let r = c.run("q4", "SEARCH OR FROM nobody@nowhere SMALLER 5").await;
    assert!(r.contains("* SEARCH\r\n"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_needs_tls_and_bad_commands_keep_the_session() {
    let h = Harness::start().await;
    let mut c = Client::plain(h.imap).await;
    let greeting = c.line().await;
    assert!(
        greeting.contains("STARTTLS") && greeting.contains("LOGINDISABLED"),
        "{greeting}"
    );
    assert!(
        c.run("a", "LOGIN bob@example.com secret")
            .await
            .contains("a NO [PRIVACYREQUIRED]")
    );
    assert!(c.run("b", "SELECT INBOX").await.contains("b BAD"));
    assert!(
        c.run("c", "FROB")
            .await
            .contains("c BAD unknown command FROB")
    );
    assert!(c.run("d", "FETCH x").await.contains("d BAD"));
    assert!(c.run("e", "NOOP").await.contains("e OK"), "still usable");
    // a literal larger than any command is refused before it is sent
    assert!(
        c.run("f", "APPEND INBOX {999999999999}")
            .await
            .contains("f NO [TOOBIG]")
    );
    // before login, even a modest literal is refused
    assert!(
        c.run("f2", "LOGIN {100000}")
            .await
            .contains("f2 NO [TOOBIG]")
    );
    assert!(c.run("g", "NOOP").await.contains("g OK"));
    c.send("s STARTTLS\r\n").await;
    assert!(c.until_tagged("s").await.starts_with("s OK"));
    let mut c = c.upgrade().await;
    let r = c.run("k", "CAPABILITY").await;
    assert!(r.contains("AUTH=PLAIN") && !r.contains("STARTTLS"), "{r}");
    assert!(
        c.run("l", "LOGIN bob@example.com wrong")
            .await
            .contains("l NO [AUTHENTICATIONFAILED]")
    );
    // SASL-IR: "\0bob@example.com\0secret"
    assert!(
        c.run("m", "AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLmNvbQBzZWNyZXQ=")
            .await
            .contains("m OK")
    );
}

/// Python's imaplib, as scripts and simple clients use IMAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_client() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "for imaplib").await;
    let stored = String::from_utf8(h.inbox("bob@example.com").await.remove(0)).unwrap();
    let script = format!(
        r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", {plain})
m.starttls(ssl_context=ctx)
m.login("bob@example.com", "secret")
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"1"], (typ, data)
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[])")
sys.stdout.buffer.write(data[0][1])
typ, data = m.search(None, "SUBJECT", '"for imaplib"')
assert data == [b"1"], data
m.store("1", "+FLAGS", "\\Deleted")
m.expunge()
typ, data = m.append("Sent", "(\\Seen)", None, b"Subject: sent\r\n\r\nbody\r\n")
assert typ == "OK", (typ, data)
m.logout()
"#,
        plain = h.imap.port()
    );
    let stdout = estafeta_testkit::python(&script).await;
    assert_eq!(String::from_utf8_lossy(&stdout), stored);
    assert!(
        h.inbox("bob@example.com").await.is_empty(),
        "STORE \\Deleted + EXPUNGE removed it"
    );
}
