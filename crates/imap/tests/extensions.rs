//! The IMAP extensions beyond the base protocol, end to end over TLS with a raw client:
//! QRESYNC (VANISHED at SELECT, in UID FETCH and unsolicited), ESEARCH and the IMAP4rev2
//! forms after ENABLE, BINARY, and LIST-EXTENDED / LIST-STATUS.

mod common;

use common::{Client, Harness};

/// The number after `code ` in a response, e.g. `UIDVALIDITY 17`.
fn number_after(text: &str, code: &str) -> u64 {
    let at = text
        .find(code)
        .unwrap_or_else(|| panic!("{code} in {text}"))
        + code.len();
    text[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("number after {code} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_reports_vanished_and_changes() {
    let h = Harness::start().await;
    for s in ["one", "two", "three"] {
        h.deliver("bob@example.com", s).await;
    }
    let mut a = h.logged_in("bob@example.com").await;
    // QRESYNC at SELECT needs ENABLE first
    let r = a.run("q", "SELECT INBOX (QRESYNC (1 1))").await;
    assert!(r.contains("q BAD"), "{r}");
    let r = a.run("e", "ENABLE QRESYNC").await;
    assert!(r.contains("* ENABLED QRESYNC\r\n"), "{r}");
    let r = a.run("s", "SELECT INBOX").await;
    let validity = number_after(&r, "[UIDVALIDITY");
    let before = number_after(&r, "[HIGHESTMODSEQ");

    // another session, without QRESYNC: expunges as EXPUNGE
    let mut b = h.logged_in("bob@example.com").await;
    b.run("s", "SELECT INBOX").await;
    b.run("d", "STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let r = b.run("x", "EXPUNGE").await;
    assert!(r.contains("* 2 EXPUNGE\r\n"), "{r}");
    b.run("f", "STORE 1 +FLAGS.SILENT (\\Flagged)").await;

    // the QRESYNC session hears VANISHED, and the flag change with its MODSEQ
    let r = a.run("n", "NOOP").await;
    assert!(r.contains("* VANISHED 2\r\n"), "{r}");
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(
        r.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r}"
    );
    // selecting another mailbox says the first one closed
    let r = a.run("c", "SELECT Sent").await;
    assert!(r.contains("* OK [CLOSED]"), "{r}");
    a.run("o", "LOGOUT").await;

    // a client coming back with its state gets only what changed since
    let mut c = h.logged_in("bob@example.com").await;
    c.run("e", "ENABLE QRESYNC").await;
    let r = c
        .run(
            "s",
            &format!("SELECT INBOX (QRESYNC ({validity} {before} 1:3))"),
        )
        .await;
    assert!(r.contains("* VANISHED (EARLIER) 2\r\n"), "{r}");
    assert!(
        r.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ ("),
        "{r}"
    );
    assert!(
        !r.contains("UID 3 FLAGS"),
        "unchanged message reported: {r}"
    );
    assert!(r.contains("* 2 EXISTS"), "{r}");
    let r = c
        .run(
            "u",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {before} VANISHED)"),
        )
        .await;
    assert!(r.contains("* VANISHED (EARLIER) 2\r\n"), "{r}");
    assert!(r.contains("FETCH (FLAGS (\\Flagged) UID 1 MODSEQ ("), "{r}");
    assert!(!r.contains("UID 3"), "{r}");
    // a stale UIDVALIDITY gets a plain SELECT, no VANISHED
    let r = c
        .run(
            "t",
            &format!("SELECT INBOX (QRESYNC ({} 1))", validity + 1000),
        )
        .await;
    assert!(!r.contains("VANISHED"), "{r}");
    assert!(r.contains("t OK [READ-WRITE]"), "{r}");
    // VANISHED without CHANGEDSINCE is refused
    let r = c.run("v", "UID FETCH 1:* (FLAGS) (VANISHED)").await;
    assert!(r.contains("v BAD"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condstore_changes_since() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    h.deliver("bob@example.com", "two").await;
    let mut c = h.logged_in("bob@example.com").await;
    let r = c.run("s", "SELECT INBOX (CONDSTORE)").await;
    let start = number_after(&r, "[HIGHESTMODSEQ");
    let r = c.run("t", "STORE 2 +FLAGS (\\Seen)").await;
    let changed = number_after(&r, "MODSEQ (");
    assert!(changed > start, "{r}");
    let r = c
        .run("f", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {start})"))
        .await;
    assert!(
        r.contains(&format!(
            "* 2 FETCH (FLAGS (\\Recent \\Seen) MODSEQ ({changed}))"
        )),
        "{r}"
    );
    assert!(!r.contains("* 1 FETCH"), "{r}");
    // a conditional STORE that lost the race names the message
    let r = c
        .run(
            "u",
            &format!("STORE 2 (UNCHANGEDSINCE {start}) +FLAGS (\\Flagged)"),
        )
        .await;
    assert!(r.contains("u OK [MODIFIED 2]"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esearch_and_imap4rev2() {
    let h = Harness::start().await;
    for s in ["alpha", "beta", "alpha two"] {
        h.deliver("bob@example.com", s).await;
    }
    let mut c = h.logged_in("bob@example.com").await;
    let r = c.run("s", "SELECT INBOX").await;
    assert!(r.contains("* 3 RECENT"), "IMAP4rev1 until ENABLE: {r}");
    let r = c
        .run("a", "SEARCH RETURN (MIN MAX COUNT) SUBJECT alpha")
        .await;
    assert!(
        r.contains("* ESEARCH (TAG \"a\") MIN 1 MAX 3 COUNT 2\r\n"),
        "{r}"
    );
    let r = c.run("b", "UID SEARCH RETURN () ALL").await;
    assert!(r.contains("* ESEARCH (TAG \"b\") UID ALL 1:3\r\n"), "{r}");
    let r = c
        .run("n", "SEARCH RETURN (COUNT) SUBJECT nothing-like-this")
        .await;
    assert!(r.contains("* ESEARCH (TAG \"n\") COUNT 0\r\n"), "{r}");
    let r = c.run("p", "SEARCH SUBJECT beta").await;
    assert!(r.contains("* SEARCH 2\r\n"), "{r}");
    let r = c.run("m", "SEARCH MODSEQ 1").await;
    assert!(r.contains("* SEARCH 1 2 3 (MODSEQ "), "{r}");
    let r = c.run("x", "SEARCH RETURN (PARTIAL 1:2) ALL").await;
    assert!(r.contains("x BAD RETURN option PARTIAL"), "{r}");
    let r = c.run("k", "SEARCH CHARSET KOI8-R SUBJECT alpha").await;
    assert!(r.contains("k NO [BADCHARSET"), "{r}");
    // the connection is still usable after those refusals
    let r = c.run("e", "ENABLE IMAP4rev2").await;
    assert!(r.contains("* ENABLED IMAP4REV2"), "{r}");
    let r = c.run("s2", "SELECT INBOX").await;
    assert!(!r.contains("RECENT"), "{r}");
    assert!(r.contains("* OK [CLOSED]"), "{r}");
    let r = c.run("c", "SEARCH SUBJECT beta").await;
    assert!(r.contains("* ESEARCH (TAG \"c\") ALL 2\r\n"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_fetch_decodes_parts() {
    let h = Harness::start().await;
    let message = "From: a@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
        caf=C3=A9 is =\r\nsoft\r\n\
        --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        YWIAY2QB\r\n\
        --b\r\nContent-Type: application/x-odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n\
        begin 644\r\n\
        --b--\r\n";
    let mut c = h.logged_in("bob@example.com").await;
    c.send(&format!(
        "a APPEND INBOX {{{}+}}\r\n{message}\r\n",
        message.len()
    ))
    .await;
    let r = c.until_tagged("a").await;
    assert!(r.contains("a OK [APPENDUID"), "{r}");
    c.run("s", "SELECT INBOX").await;
    let r = c.run("b", "FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])").await;
    assert!(r.contains("BINARY.SIZE[2] 6"), "{r}");
    assert!(r.contains("BINARY[2] ~{6}\r\nab\0cd\u{1}"), "{r}");
    let r = c.run("q", "FETCH 1 BINARY.PEEK[1]").await;
    assert!(r.contains("BINARY[1] {13}\r\ncafé is soft"), "{r}");
    let r = c.run("p", "FETCH 1 BINARY.PEEK[2]<1.2>").await;
    assert!(r.contains("BINARY[2]<1> ~{2}\r\nb\0"), "{r}");
    let r = c.run("u", "FETCH 1 BINARY.PEEK[3]").await;
    assert!(r.contains("u NO [UNKNOWN-CTE]"), "{r}");
    let r = c.run("f", "FETCH 1 FLAGS").await;
    assert!(
        r.contains("FLAGS (\\Recent)"),
        "PEEK leaves \\Seen alone: {r}"
    );
    let r = c.run("n", "FETCH 1 BINARY[2]").await;
    assert!(r.contains("FLAGS (\\Recent \\Seen)"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_extended_and_list_status() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    let mut c = h.logged_in("bob@example.com").await;
    for box_ in ["Projects", "Projects/Alpha"] {
        let r = c.run("c", &format!("CREATE {box_}")).await;
        assert!(r.contains("c OK"), "{r}");
    }
    c.run("u", "UNSUBSCRIBE Projects").await;
    c.run("v", "SUBSCRIBE Projects/Alpha").await;
    let r = c
        .run("r", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"Proj%\"")
        .await;
    assert!(
        r.contains("* LIST (\\HasChildren) \"/\" \"Projects\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"),
        "{r}"
    );
    let r = c.run("p", "LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert!(r.contains("\\Sent) \"/\" \"Sent\""), "{r}");
    assert!(!r.contains("INBOX") && !r.contains("Projects"), "{r}");
    let r = c
        .run(
            "s",
            "LIST \"\" \"INBOX\" RETURN (SUBSCRIBED STATUS (MESSAGES UIDNEXT))",
        )
        .await;
    assert!(
        r.contains("* STATUS \"INBOX\" (MESSAGES 1 UIDNEXT 2)"),
        "{r}"
    );
    let r = c.run("b", "LIST (NONSENSE) \"\" \"*\"").await;
    assert!(r.contains("b BAD"), "{r}");
    let r = c.run("m", "LIST (RECURSIVEMATCH) \"\" \"*\"").await;
    assert!(r.contains("m BAD"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_special_use_gives_a_role_or_refuses_with_useattr() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    let r = c.run("k", "CAPABILITY").await;
    assert!(r.contains(" CREATE-SPECIAL-USE"), "{r}");
    let r = c.run("a", "CREATE \"Old mail\" (USE (\\archive))").await;
    assert!(r.contains("a OK"), "{r}");
    let r = c.run("e", "CREATE Nothing (USE ())").await;
    assert!(r.contains("e OK"), "{r}");
    // refused, and nothing created: an unknown use, a virtual one, two at once
    for (tag, name, attrs) in [
        ("u", "Odd", "\\Important"),
        ("v", "Every", "\\All"),
        ("f", "Stars", "\\Flagged"),
        ("t", "Both", "\\Sent \\Trash"),
    ] {
        let r = c.run(tag, &format!("CREATE {name} (USE ({attrs}))")).await;
        assert!(r.contains(&format!("{tag} NO [USEATTR]")), "{r}");
    }
    let r = c.run("b", "CREATE Bad (COLOR (red))").await;
    assert!(r.contains("b BAD"), "{r}");
    let r = c.run("p", "LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert!(
        r.contains("(\\HasNoChildren \\Archive) \"/\" \"Old mail\""),
        "{r}"
    );
    assert!(!r.contains("Nothing"), "{r}");
    let r = c.run("l", "LIST \"\" \"*\"").await;
    assert!(r.contains("\"Nothing\""), "{r}");
    for name in ["Odd", "Every", "Stars", "Both", "Bad"] {
        assert!(!r.contains(&format!("\"{name}\"")), "{name} created: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_limit_are_refused() {
    let h = Harness::start_with(|c| c.imap.max_connections_per_ip = 2).await;
    let mut first = Client::tls(h.imaps).await;
    assert!(first.line().await.starts_with("* OK"));
    let mut second = Client::plain(h.imap).await;
    assert!(second.line().await.starts_with("* OK"));
    // over the limit on the implicit-TLS port: closed before any handshake
    assert!(estafeta_net::testing::closed_without_handshake(h.imaps).await);
    // on the plaintext port: told why, then closed
    let mut third = Client::plain(h.imap).await;
    let refused = third.line().await;
    assert!(
        refused.starts_with("* BYE [UNAVAILABLE] too many connections"),
        "{refused}"
    );
    assert_eq!(third.line().await, "", "closed after the refusal");
    // those admitted are unaffected
    assert!(first.run("n", "NOOP").await.contains("n OK"));
    assert!(second.run("c", "CAPABILITY").await.contains("c OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunges_by_others_wait_for_a_command_that_may_tell_them() {
    let h = Harness::start().await;
    for s in ["one", "two", "three"] {
        h.deliver("bob@example.com", s).await;
    }
    let mut a = h.logged_in("bob@example.com").await;
    let mut b = h.logged_in("bob@example.com").await;
    a.run("s", "SELECT INBOX").await;
    b.run("s", "SELECT INBOX").await;
    b.run("d", "STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.run("x", "EXPUNGE").await;
    b.run("f", "UID STORE 3 +FLAGS.SILENT (\\Flagged)").await;
    // FETCH by sequence number: flag news yes, EXPUNGE no (numbers must not shift)
    let r = a.run("f", "FETCH 1:* (UID)").await;
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(
        r.contains("* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent))"),
        "{r}"
    );
    let r = a.run("s2", "SEARCH ALL").await;
    assert!(!r.contains("EXPUNGE"), "{r}");
    // NOOP tells the expunge, once
    let r = a.run("n", "NOOP").await;
    assert!(r.contains("* 2 EXPUNGE\r\n"), "{r}");
    let r = a.run("n2", "NOOP").await;
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = a.run("c", "SEARCH ALL").await;
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
}

/// The messages of the SEARCH TEXT/BODY tests: delivered over SMTP (with a Return-Path:
/// line before them) and appended (without); plain, base64 and quoted-printable text,
/// and query syntax of the search index's engines in a header.
async fn search_corpus(h: &Harness) {
    let deliver = |body: &str| {
        let body = format!("From: someone@outside.test\r\nTo: bob@example.com\r\n{body}");
        async move {
            estafeta_net::testing::smtp_send(
                h.smtp,
                "someone@outside.test",
                "bob@example.com",
                &body,
            )
            .await
        }
    };
    deliver("Subject: Alpha\r\n\r\nThe quick brown FOX jumps.\r\n").await;
    deliver(
        "Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nSGlkZGVuIFRyZWFzdXJlLCA1MCUgb2ZmX25vdw==\r\n",
    )
    .await;
    let mut c = h.logged_in("bob@example.com").await;
    for message in [
        "Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Caf=C3=A9 CR=C3=88ME br=\r\nul=C3=A9e, the quick one\r\n--b--\r\n",
        "Subject: odd \"NEAR\" OR -x:y* (a b) {raw}: 1\r\n\r\nplain fox-free text\r\n",
    ] {
        c.send(&format!(
            "a APPEND INBOX {{{}+}}\r\n{message}\r\n",
            message.len()
        ))
        .await;
        let r = c.until_tagged("a").await;
        assert!(r.contains("a OK [APPENDUID"), "{r}");
    }
}

/// The SEARCH commands compared (the keys after `SEARCH`), with what they find.
const TEXT_SEARCHES: &[(&str, &str)] = &[
    ("TEXT fox", "1 4"),
    ("BODY FOX", "1 4"),
    ("BODY \"quick brown fox\"", "1"),
    ("BODY \"jumps nowhere\"", ""),
    ("TEXT nothing-like-this", ""),
    // base64: the decoded text is the body's, the encoded one only TEXT's
    ("BODY treasure", "2"),
    ("BODY \"50% off_now\"", "2"),
    ("TEXT SGlkZGVu", "2"),
    ("BODY SGlkZGVu", ""),
    // quoted-printable, UTF-8, a soft line break inside a word
    ("CHARSET UTF-8 BODY {14+}\r\ncrème brulée", "3"),
    ("BODY \"the quick\"", "1 3"),
    // the engines' query syntax is only text here
    ("TEXT \"\\\"near\\\" or -x:y*\"", "4"),
    ("TEXT \"{raw}: 1\"", "4"),
    ("TEXT \"NEAR(\"", ""),
    ("TEXT \"*\"", "4"),
    ("TEXT \"\\\"\"", "4"),
    ("TEXT \"(a b)\"", "4"),
    ("BODY \"%_\"", ""),
    // the Return-Path: line delivery puts before a message is TEXT's too
    ("TEXT \"return-path: <someone\"", "1 2"),
    // short strings, combinations the index narrows and those it does not
    ("BODY ox", "1 4"),
    ("BODY quick BODY fox", "1"),
    ("BODY quick SUBJECT qp", "3"),
    ("OR BODY fox BODY treasure", "1 2 4"),
    ("NOT BODY fox", "2 3"),
    ("TEXT quick NOT BODY fox", "3"),
    ("UNSEEN TEXT quick", "1 3"),
];

/// Runs every search of [`TEXT_SEARCHES`]; the `* SEARCH` line of each.
async fn text_searches(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (keys, expected)) in TEXT_SEARCHES.iter().enumerate() {
        let tag = format!("s{i}");
        c.send(&format!("{tag} SEARCH {keys}\r\n")).await;
        let r = c.until_tagged(&tag).await;
        assert!(r.contains(&format!("{tag} OK")), "{keys}: {r}");
        let line = r.lines().find(|l| l.starts_with("* SEARCH")).unwrap_or("");
        let want = format!("* SEARCH {expected}");
        assert_eq!(line.trim_end(), want.trim_end(), "SEARCH {keys}");
        out.push(line.to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_text_and_body_use_the_index_and_answer_as_a_scan() {
    let indexed = Harness::start().await;
    let scanned = Harness::start_with(|c| c.imap.search_index = false).await;
    search_corpus(&indexed).await;
    search_corpus(&scanned).await;
    // whatever the background indexer has done, the answer is the same...
    let mut c = indexed.logged_in("bob@example.com").await;
    c.run("s", "SELECT INBOX").await;
    let early = text_searches(&mut c).await;
    // ...and once every body is indexed
    while indexed
        .store
        .index_pending(estafeta_store::INDEX_BATCH)
        .await
        .expect("index")
        > 0
    {}
    let mailbox = (indexed.store.get_user("bob@example.com").await)
        .expect("user")
        .expect("bob");
    let inbox = (indexed.store.get_mailbox(mailbox.id, "INBOX").await)
        .expect("inbox")
        .expect("INBOX");
    let narrowed = indexed
        .store
        .search_candidates(inbox.id, "treasure", estafeta_store::SearchScope::Body)
        .await
        .expect("candidates");
    assert_eq!(narrowed, Some(vec![2]), "the index answers");
    let late = text_searches(&mut c).await;
    let mut s = scanned.logged_in("bob@example.com").await;
    s.run("s", "SELECT INBOX").await;
    let scan = text_searches(&mut s).await;
    assert_eq!(early, scan);
    assert_eq!(late, scan);
    // a search string of 64 KiB is refused, and the session goes on
    let huge = "x".repeat(64 * 1024);
    c.send(&format!("h SEARCH TEXT {{{}+}}\r\n{huge}\r\n", huge.len()))
        .await;
    let r = c.until_tagged("h").await;
    assert!(r.contains("h BAD"), "{}", &r[..r.len().min(300)]);
    let r = c.run("n", "NOOP").await;
    assert!(r.contains("n OK"), "{r}");
}
