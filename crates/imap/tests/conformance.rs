//! What Dovecot's imaptest checks of every server, end to end over TLS with a raw client
//! (the exact lines matter here): each found failure stays as a test.

mod common;

use common::{Client, Harness};

/// Position of `needle` in `text`, which must hold it.
fn at(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_keyword_is_in_flags_before_any_fetch_shows_it() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    h.deliver("bob@example.com", "two").await;
    let mut a = h.logged_in("bob@example.com").await;
    let mut b = h.logged_in("bob@example.com").await;
    let r = a.run("s", "SELECT INBOX").await;
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"),
        "{r}"
    );
    // our own STORE: FLAGS and PERMANENTFLAGS first, then the FETCH
    let r = a.run("k", "STORE 1 +FLAGS ($Work)").await;
    let flags = at(
        &r,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n",
    );
    let permanent = at(
        &r,
        "[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)]",
    );
    assert!(
        flags < permanent && permanent < at(&r, "* 1 FETCH (FLAGS ($Work \\Recent))"),
        "{r}"
    );
    // told once: the same keyword again brings no FLAGS
    let r = a.run("k2", "STORE 2 +FLAGS.SILENT ($work)").await;
    assert!(!r.contains("* FLAGS"), "{r}");
    // another session's keyword, at the next NOOP
    b.run("s", "SELECT INBOX").await;
    let r = b.run("k", "STORE 2 +FLAGS.SILENT (Later)").await;
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work Later)"),
        "{r}"
    );
    let r = a.run("n", "NOOP").await;
    assert!(at(&r, "Later)\r\n") < at(&r, "* 2 FETCH"), "{r}");
    // a STORE that changes nothing still tells the flags, as they are now (the refresh
    // before it tells b's change first)
    b.run("k", "STORE 2 +FLAGS.SILENT (Urgent)").await;
    let r = a.run("k3", "STORE 2 +FLAGS ($Work)").await;
    let told = at(&r, "* 2 FETCH (UID 2 FLAGS ($work \\Recent Later Urgent))");
    assert!(
        told < at(&r, "* 2 FETCH (FLAGS ($work \\Recent Later Urgent))"),
        "{r}"
    );
    // a new session learns them all at SELECT; EXAMINE offers no permanent flag
    let mut c = h.logged_in("bob@example.com").await;
    let r = c.run("e", "EXAMINE INBOX").await;
    assert!(
        r.contains(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work Later Urgent)\r\n"
        ),
        "{r}"
    );
    assert!(r.contains("* OK [PERMANENTFLAGS ()]"), "{r}");
}

/// imaptest's own_flags "Owned keyword changed": a STORE on a message another session
/// expunged meanwhile answers with the flags it would have left, and the view keeps them
/// until the EXPUNGE may be told (a FETCH before that shows the same flags).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_a_message_expunged_meanwhile_is_kept_until_its_expunge() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    h.deliver("bob@example.com", "two").await;
    let mut a = h.logged_in("bob@example.com").await;
    let mut b = h.logged_in("bob@example.com").await;
    a.run("s", "SELECT INBOX").await;
    b.run("s", "SELECT INBOX").await;
    b.run("d", "STORE 1 +FLAGS.SILENT (\\Deleted $Theirs)")
        .await;
    assert!(b.run("e", "EXPUNGE").await.contains("* 1 EXPUNGE"));
    // sequence numbers in use: the EXPUNGE waits, the STORE answers as if it had landed
    let r = a.run("k", "STORE 1 +FLAGS ($Mine)").await;
    assert!(r.contains("* 1 FETCH (FLAGS ($Mine \\Recent))"), "{r}");
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = a.run("f", "FETCH 1:2 (UID FLAGS)").await;
    assert!(
        r.contains("* 1 FETCH (UID 1 FLAGS ($Mine \\Recent))"),
        "{r}"
    );
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = a.run("r", "STORE 1 -FLAGS ($Mine)").await;
    assert!(r.contains("* 1 FETCH (FLAGS (\\Recent))"), "{r}");
    let r = a.run("f2", "FETCH 1 (UID FLAGS)").await;
    assert!(r.contains("* 1 FETCH (UID 1 FLAGS (\\Recent))"), "{r}");
    // then told, and gone
    let r = a.run("n", "NOOP").await;
    assert!(r.contains("* 1 EXPUNGE"), "{r}");
    let r = a.run("f3", "FETCH 1 (UID FLAGS)").await;
    assert!(r.contains("* 1 FETCH (UID 2 FLAGS (\\Recent))"), "{r}");
}

/// imaptest's own_flags "Owned keyword changed", mid-run: a keyword no message carried any
/// more was left out of FLAGS for sessions selecting after that (and never told to those
/// selected before it was first used), so imaptest's clients took it for an unknown keyword
/// anyone may set. Once told for a mailbox, a keyword stays offered, as in Dovecot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyword_once_told_stays_in_flags_for_every_session() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    let mut a = h.logged_in("bob@example.com").await;
    let mut b = h.logged_in("bob@example.com").await;
    a.run("s", "SELECT INBOX").await;
    b.run("s", "SELECT INBOX").await;
    a.run("k", "STORE 1 +FLAGS.SILENT ($Work)").await;
    a.run("r", "STORE 1 -FLAGS.SILENT ($Work)").await;
    // a -FLAGS of a keyword no message has changes no message, and still creates it
    let r = a.run("n", "STORE 1 -FLAGS ($New)").await;
    assert!(r.contains("$New $Work)\r\n"), "{r}");
    // b, selected before either was used, is told both at its next command
    let r = b.run("n", "NOOP").await;
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $New $Work)\r\n"),
        "{r}"
    );
    // and a new session at SELECT, though no message carries either
    let mut c = h.logged_in("bob@example.com").await;
    let r = c.run("s", "SELECT INBOX").await;
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $New $Work)\r\n"),
        "{r}"
    );
    assert!(r.contains("$New $Work \\*)] flags permitted"), "{r}");
}

async fn append(c: &mut Client, message: &str) {
    c.send(&format!(
        "a APPEND INBOX {{{}+}}\r\n{message}\r\n",
        message.len()
    ))
    .await;
    let r = c.until_tagged("a").await;
    assert!(r.contains("a OK [APPENDUID"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atoms_sets_and_store_replies() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    // `~` starts a literal8 only before `{`: `~foo` is an atom
    assert!(c.run("c", "CREATE ~foo").await.contains("c OK"));
    let r = c.run("l", "LIST \"\" ~foo").await;
    assert!(r.contains("\"~foo\"\r\n") && r.contains("l OK"), "{r}");
    assert!(c.run("s", "SELECT ~foo").await.contains("s OK"));
    for s in ["one", "two", "three"] {
        h.deliver("bob@example.com", s).await;
    }
    c.run("s", "SELECT INBOX").await;
    // 4294967295 is the largest UID, not `*`
    let r = c.run("u", "UID SEARCH UID 4:4294967295").await;
    assert!(r.contains("* SEARCH\r\n"), "{r}");
    let r = c.run("u2", "UID FETCH 4:4294967295 FLAGS").await;
    assert!(!r.contains("FETCH ("), "{r}");
    // STORE tells the flags of every message named, changed or not
    c.run("f", "STORE 1:2 +FLAGS.SILENT (\\Seen)").await;
    let r = c.run("f2", "STORE 1:3 +FLAGS (\\Seen)").await;
    for n in 1..=3 {
        assert!(
            r.contains(&format!("* {n} FETCH (FLAGS (\\Recent \\Seen))")),
            "{r}"
        );
    }
    let r = c.run("f3", "STORE 1 -FLAGS ($absent)").await;
    assert!(r.contains("* 1 FETCH (FLAGS (\\Recent \\Seen))"), "{r}");
    let r = c.run("f4", "STORE 2 +FLAGS.SILENT (\\Seen)").await;
    assert!(!r.contains("FETCH"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_dates_are_the_senders_day() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    // 25 March at +0200 is 24 March in UTC: SENTON compares the day as written
    append(
        &mut c,
        "Date: Sun, 25 Mar 2007 00:00:00 +0200\r\nSubject: a\r\n\r\nx\r\n",
    )
    .await;
    append(
        &mut c,
        "Date: Sun, 25 Mar 2007 23:30:00 -0500\r\nSubject: b\r\n\r\nx\r\n",
    )
    .await;
    c.run("s", "SELECT INBOX").await;
    let r = c.run("o", "SEARCH SENTON 25-Mar-2007").await;
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
    let r = c.run("b", "SEARCH SENTBEFORE 25-Mar-2007").await;
    assert!(r.contains("* SEARCH\r\n"), "{r}");
    let r = c.run("n", "SEARCH SENTSINCE 26-Mar-2007").await;
    assert!(r.contains("* SEARCH\r\n"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_binary_and_condstore_details() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    // quoted-printable with transport padding and soft breaks after it
    append(
        &mut c,
        "Subject: qp\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         hello  \r\nfoo\t \t= \r\nb\r\nfoo = \t\r\nbar\r\n",
    )
    .await;
    // a NUL in an 8bit body may not go out in a literal: 0x80 instead, as Dovecot
    c.send("a APPEND INBOX {21+}\r\nSubject: nul\r\n\r\na\0b\r\n\r\n")
        .await;
    assert!(c.until_tagged("a").await.contains("a OK"));
    c.run("s", "SELECT INBOX").await;
    let r = c.run("q", "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])").await;
    assert!(r.contains("BINARY.SIZE[1] 25"), "{r}");
    assert!(
        r.contains("BINARY[1] {25}\r\nhello\r\nfoo\t \tb\r\nfoo bar\r\n"),
        "{r}"
    );
    let r = c.run("n", "FETCH 2 BODY.PEEK[TEXT]").await;
    assert!(r.contains("BODY[TEXT] {5}\r\na\u{FFFD}b\r\n"), "{r}");
    // the first CONDSTORE-enabling command tells HIGHESTMODSEQ
    let r = c.run("m", "FETCH 1 MODSEQ").await;
    assert!(r.contains("* OK [HIGHESTMODSEQ "), "{r}");
    assert!(
        !c.run("m2", "FETCH 1 MODSEQ")
            .await
            .contains("HIGHESTMODSEQ")
    );
    c.run("f", "STORE 1 +FLAGS.SILENT (\\Seen)").await;
    c.run("f", "STORE 2 +FLAGS.SILENT (\\Seen)").await;
    let modseq = |r: &str, uid: u32| -> String {
        let at = at(r, &format!("* {uid} FETCH (MODSEQ ("));
        r[at..]
            .split(['(', ')'])
            .nth(2)
            .unwrap_or_default()
            .to_string()
    };
    let all = c.run("a", "FETCH 1:2 MODSEQ").await;
    let (m1, m2) = (modseq(&all, 1), modseq(&all, 2));
    assert_ne!(m1, m2, "{all}");
    // RFC 7162 §3.1.5: MIN alone carries the MODSEQ of the message it returns
    let r = c.run("e", "SEARCH RETURN (MIN) MODSEQ 1").await;
    assert!(r.contains(&format!("MIN 1 MODSEQ {m1}\r\n")), "{r}");
    let r = c.run("e2", "SEARCH RETURN (MAX) MODSEQ 1").await;
    assert!(r.contains(&format!("MAX 2 MODSEQ {m2}\r\n")), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hierarchy_and_subscriptions() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    // a trailing separator declares a parent-to-be: the name is made without it
    assert!(c.run("c", "CREATE top/").await.contains("c OK"));
    assert!(c.run("c2", "CREATE top/mid/leaf").await.contains("c2 OK"));
    let r = c.run("l", "LIST \"\" top/%").await;
    assert!(
        r.contains("* LIST (\\HasChildren) \"/\" \"top/mid\"\r\n"),
        "{r}"
    );
    assert!(c.run("s", "SELECT top/mid").await.contains("s OK"));
    // CREATE does not subscribe; SUBSCRIBE takes a name with no mailbox
    let r = c.run("ls", "LSUB \"\" top*").await;
    assert!(!r.contains("* LSUB"), "{r}");
    assert!(c.run("u", "SUBSCRIBE top/mid/leaf").await.contains("u OK"));
    assert!(c.run("u2", "SUBSCRIBE ghost").await.contains("u2 OK"));
    // LSUB with `%` gives the unsubscribed parent, \Noselect (RFC 3501 §6.3.9)
    let r = c.run("ls2", "LSUB \"\" top/%").await;
    assert!(
        r.contains("* LSUB (\\Noselect) \"/\" \"top/mid\"\r\n"),
        "{r}"
    );
    // DELETE keeps the subscription: \NonExistent under LIST (SUBSCRIBED)
    c.run("x", "UNSELECT").await;
    assert!(c.run("d", "DELETE top/mid/leaf").await.contains("d OK"));
    let r = c.run("l2", "LIST (SUBSCRIBED) \"\" *").await;
    assert!(
        r.contains("(\\NonExistent \\Subscribed) \"/\" \"top/mid/leaf\""),
        "{r}"
    );
    assert!(
        r.contains("(\\NonExistent \\Subscribed) \"/\" \"ghost\""),
        "{r}"
    );
    assert!(
        r.contains("\"Sent\""),
        "default folders stay subscribed: {r}"
    );
    // RECURSIVEMATCH: the parent for its subscribed child, with CHILDINFO
    let r = c
        .run("l3", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" top/%")
        .await;
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" \"top/mid\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"),
        "{r}"
    );
    // unknown selection options and RECURSIVEMATCH alone are BAD, even with an empty pattern
    for (tag, cmd) in [
        ("b1", "LIST (imaptest) \"\" \"\""),
        ("b2", "LIST (RECURSIVEMATCH) \"\" \"\""),
        ("b3", "LIST (RECURSIVEMATCH REMOTE) \"\" *"),
    ] {
        let r = c.run(tag, cmd).await;
        assert!(r.contains(&format!("{tag} BAD")), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_belongs_to_the_first_session_that_selects() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    h.deliver("bob@example.com", "two").await;
    let mut a = h.logged_in("bob@example.com").await;
    let mut b = h.logged_in("bob@example.com").await;
    // EXAMINE looks without taking
    let r = b.run("e", "EXAMINE INBOX").await;
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    let r = a.run("st", "STATUS INBOX (RECENT MESSAGES)").await;
    assert!(r.contains("(RECENT 2 MESSAGES 2)"), "{r}");
    let r = a.run("s", "SELECT INBOX").await;
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    let r = a.run("f", "FETCH 1 FLAGS").await;
    assert!(r.contains("* 1 FETCH (FLAGS (\\Recent))"), "{r}");
    let r = a.run("q", "SEARCH RECENT").await;
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
    a.run("q", "STORE 1 +FLAGS.SILENT (\\Seen \\Recent)").await;
    let r = a.run("q", "SEARCH NEW").await;
    assert!(r.contains("* SEARCH 2\r\n"), "{r}");
    let r = a.run("q", "SEARCH OLD").await;
    assert!(r.contains("* SEARCH\r\n"), "{r}");
    // taken: another SELECT sees none; new mail goes to the session that sees it first
    let r = b.run("s", "SELECT INBOX").await;
    assert!(r.contains("* 0 RECENT\r\n"), "{r}");
    let r = b.run("f", "FETCH 1 FLAGS").await;
    assert!(
        r.contains("* 1 FETCH (FLAGS (\\Seen))"),
        "\\Recent is never stored: {r}"
    );
    h.deliver("bob@example.com", "three").await;
    let r = a.run("n", "NOOP").await;
    assert!(r.contains("* 3 EXISTS\r\n* 3 RECENT\r\n"), "{r}");
    let r = b.run("n", "NOOP").await;
    assert!(r.contains("* 3 EXISTS\r\n* 0 RECENT\r\n"), "{r}");
    // IMAP4rev2 has no \Recent
    let mut c = h.logged_in("bob@example.com").await;
    c.run("en", "ENABLE IMAP4rev2").await;
    let r = c.run("s", "SELECT INBOX").await;
    assert!(!r.contains("RECENT"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectid_and_preview_through_imaplib() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
assert "OBJECTID" in m.capabilities and "PREVIEW" in m.capabilities, m.capabilities
typ, data = m.create("Work")
made = re.search(rb"MAILBOXID \((M\w+)\)", data[0])
assert typ == "OK" and made, data
body = b"Subject: hi\r\nContent-Type: text/html\r\n\r\n<p>Dear   team,</p>\r\n<p>lunch at noon</p>\r\n"
assert m.append("Work", None, None, body)[0] == "OK"
typ, data = m.status("Work", "(MAILBOXID MESSAGES)")
assert made.group(1) in data[0], data
# RENAME keeps the MAILBOXID; SELECT tells it
m.rename("Work", "Job")
typ, _ = m.select("Job")
assert m.untagged_responses.get("OK") and any(made.group(1) in r for r in m.response("OK")[1] if r), m.response("OK")
typ, data = m.fetch("1", "(EMAILID THREADID PREVIEW)")
line = data[0]
assert b"THREADID NIL" in line, line
assert b'PREVIEW "Dear team, lunch at noon"' in line, line
first = re.search(rb"EMAILID \((E\w+)\)", line).group(1)
# a copy has the same EMAILID, PREVIEW (LAZY) the same text
m.copy("1", "INBOX")
m.select("INBOX")
typ, data = m.fetch("1", "(EMAILID PREVIEW (LAZY))")
assert first in data[0] and b"lunch at noon" in data[0], data
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_and_esort_through_imaplib() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
assert "SORT" in m.capabilities and "SORT=DISPLAY" in m.capabilities, m.capabilities
msgs = [
    (b"From: Zoe <zoe@b.test>\r\nTo: x@a.test\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nSubject: Re: [list] budget\r\n\r\nbig " + b"x" * 500 + b"\r\n"),
    (b"From: adam@c.test\r\nTo: y@a.test\r\nDate: Sun, 1 Mar 2026 10:00:00 +0000\r\nSubject: Agenda\r\n\r\nsmall\r\n"),
    (b"From: \"Bea\" <bea@a.test>\r\nTo: z@a.test\r\nDate: Mon, 2 Mar 2026 23:30:00 -0500\r\nSubject: Fwd: Budget (fwd)\r\n\r\nmid " + b"y" * 100 + b"\r\n"),
]
for i, body in enumerate(msgs):
    arrived = imaplib.Time2Internaldate(1_700_000_000 + 100 * i)
    assert m.append("INBOX", None, arrived, body)[0] == "OK"
m.select("INBOX")
def sort(criteria, *keys):
    typ, data = m.sort(criteria, "UTF-8", *keys)
    assert typ == "OK", (typ, data)
    return data[0].decode()
# 2 Mar 23:30 -0500 is 3 Mar 04:30 UTC: between the other two
assert sort("(DATE)", "ALL") == "2 3 1", sort("(DATE)", "ALL")
assert sort("(REVERSE DATE)", "ALL") == "1 3 2"
assert sort("(SUBJECT)", "ALL") == "2 1 3", sort("(SUBJECT)", "ALL")
assert sort("(FROM)", "ALL") == "2 3 1", sort("(FROM)", "ALL")
assert sort("(DISPLAYFROM)", "ALL") == "2 3 1"
assert sort("(REVERSE SIZE)", "ALL") == "1 3 2"
assert sort("(SUBJECT REVERSE ARRIVAL)", "NOT", "FROM", "adam") == "3 1", sort("(SUBJECT REVERSE ARRIVAL)", "NOT", "FROM", "adam")
typ, data = m.uid("SORT", "(SIZE)", "UTF-8", "ALL")
assert data[0] == b"2 3 1", data
assert "ESORT" in m.capabilities, m.capabilities
typ, data = m._simple_command("SORT", "RETURN (MIN MAX COUNT ALL)", "(REVERSE SIZE)", "UTF-8", "ALL")
typ, data = m._untagged_response(typ, data, "ESEARCH")
assert typ == "OK" and b"MIN 1 MAX 2 COUNT 3 ALL 1,3,2" in data[0], (typ, data)
typ, data = m.sort("(DATE)", "KOI8-R", "ALL")
assert typ == "NO" and b"BADCHARSET" in data[0], (typ, data)
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searchres_keeps_a_result_for_later_commands() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
assert "SEARCHRES" in m.capabilities, m.capabilities
for i, who in enumerate(["ann", "bob", "ann", "cid", "ann"]):
    body = f"From: {who}@a.test\r\nSubject: n{i}\r\n\r\nbody {i}\r\n".encode()
    assert m.append("INBOX", None, None, body)[0] == "OK"
m.select("INBOX")
# before any SAVE, $ is empty: commands on it succeed with nothing
typ, data = m.fetch("$", "(UID)")
assert typ == "OK" and data == [None], data
# SAVE alone: no ESEARCH response, just OK
typ, data = m._simple_command("SEARCH", "RETURN (SAVE)", "FROM", "ann")
assert typ == "OK", (typ, data)
assert "ESEARCH" not in m.untagged_responses, m.untagged_responses
typ, data = m.fetch("$", "(UID)")
assert [d for d in data] == [b"1 (UID 1)", b"3 (UID 3)", b"5 (UID 5)"], data
# $ in SEARCH, combined with other keys; in STORE and UID FETCH
typ, data = m.search(None, "$", "SUBJECT", "n2")
assert data == [b"3"], data
typ, data = m.store("$", "+FLAGS", "(\\Flagged)")
assert typ == "OK" and len(data) == 3, data
typ, data = m.uid("FETCH", "$", "(FLAGS)")
assert all(b"\\Flagged" in d for d in data) and len(data) == 3, data
# SAVE MIN MAX keeps only those two, and still answers them
typ, data = m._simple_command("SEARCH", "RETURN (SAVE MIN MAX)", "FROM", "ann")
typ, data = m._untagged_response(typ, data, "ESEARCH")
assert b"MIN 1 MAX 5" in data[0], data
typ, data = m.fetch("$", "(UID)")
assert data == [b"1 (UID 1)", b"5 (UID 5)"], data
# expunged messages leave the result; sequence numbers follow
typ, data = m._simple_command("SEARCH", "RETURN (SAVE)", "NOT", "FROM", "bob")
m.store("1", "+FLAGS", "(\\Deleted)")
m.expunge()
typ, data = m.fetch("$", "(UID)")
assert data == [b"2 (UID 3)", b"3 (UID 4)", b"4 (UID 5)"], data
m.create("Archive")
typ, data = m.copy("$", "Archive")
assert typ == "OK" and re.search(rb"COPYUID \d+ (3:5|3,4,5) ", data[0]), data
# a failed SEARCH with SAVE empties $
try:
    m._simple_command("SEARCH", "RETURN (SAVE)", "FROB")
except m.error:
    pass
typ, data = m.fetch("$", "(UID)")
assert data == [None], data
# `$` does not combine with numbers
try:
    m._simple_command("FETCH", "1,$", "(UID)")
    raise SystemExit("1,$ accepted")
except m.error as e:
    assert "sequence set" in str(e), e
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_through_imaplib() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
assert "THREAD=REFERENCES" in m.capabilities and "THREAD=ORDEREDSUBJECT" in m.capabilities, m.capabilities
msgs = [
    ("Mon, 2 Mar 2026 10:00:00 +0000", "Plans", "<a@x>", ""),
    ("Mon, 2 Mar 2026 11:00:00 +0000", "Re: Plans", "<b@x>", "References: <a@x>\r\n"),
    ("Mon, 2 Mar 2026 09:00:00 +0000", "Lunch", "<c@x>", ""),
    ("Mon, 2 Mar 2026 12:00:00 +0000", "Re: Plans", "<d@x>", "In-Reply-To: <a@x> <zz@x>\r\n"),
    ("Mon, 2 Mar 2026 13:00:00 +0000", "Re: Re: Plans", "<e@x>", "References: <a@x>\r\n <b@x>\r\n"),
    # its parent never arrived: joined to Lunch by its subject
    ("Mon, 2 Mar 2026 14:00:00 +0000", "Re: Lunch", "<f@x>", "References: <gone@x>\r\n"),
]
for date, subject, mid, extra in msgs:
    body = f"From: a@x\r\nDate: {date}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n{extra}\r\nhi\r\n".encode()
    assert m.append("INBOX", None, None, body)[0] == "OK"
m.select("INBOX")
typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
assert typ == "OK" and data == [b"(3 6)(1 (2 5)(4))"], data
typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
assert data == [b"(3 6)(1 (2)(4)(5))"], data
typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "NOT", "SUBJECT", "lunch")
assert data == [b"(1 (2 5)(4))"], data
typ, data = m.thread("REFERENCES", "UTF-8", "SUBJECT", "nothing-matches")
assert typ == "OK" and data in ([None], [b""]), data
typ, data = m.thread("REFERENCES", "KOI8-R", "ALL")
assert typ == "NO" and b"BADCHARSET" in data[0], data
try:
    m.thread("BYWEATHER", "UTF-8", "ALL")
    raise SystemExit("unknown algorithm accepted")
except m.error as e:
    assert "THREAD algorithm" in str(e), e
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_are_streamed_whole_and_in_ranges() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
# 6 MiB: over the streaming threshold (1 MiB), several pieces (1 MiB each) and batches;
# every line numbered, so that a piece out of place shows
big = b"From: a@x\r\nSubject: big\r\n\r\n" + b"".join(
    b"%06d " % i + b"abcdefghij"[i % 10:] * 7 + b"\r\n" for i in range(80_000))
small = b"From: a@x\r\nSubject: small\r\n\r\nhello\r\n"
for body in (small, big, small):
    assert m.append("INBOX", None, None, body)[0] == "OK"
m.select("INBOX")
typ, data = m.fetch("2", "(BODY.PEEK[])")
assert typ == "OK" and data[0][1] == big, (len(data[0][1]), len(big))
# with other items around it, and its structure from the summary
typ, data = m.fetch("1:3", "(UID RFC822.SIZE ENVELOPE BODY.PEEK[] FLAGS)")
bodies = [d[1] for d in data if isinstance(d, tuple)]
assert bodies == [small, big, small], [len(b) for b in bodies]
assert b"RFC822.SIZE %d" % len(big) in data[2][0] and b'"big"' in data[2][0], data[2][0][:300]
assert b" FLAGS (" in data[3], data[3]
# ranges: inside, across the end, past the end
for start, count in [(0, 10), (1_000_000, 300_000), (len(big) - 5, 100), (len(big) + 10, 5)]:
    typ, data = m.fetch("2", f"(BODY.PEEK[]<{start}.{count}>)")
    assert data[0][1] == big[start:start + count] or (data[0][1] is None and not big[start:start + count]), (start, count, data[0][0])
    assert f"BODY[]<{min(start, len(big))}>".encode() in data[0][0], data[0][0]
typ, data = m.fetch("2", "(BINARY.PEEK[] BINARY.SIZE[])")
assert data[0][1] == big and b"~{%d}" % len(big) in data[0][0], data[0][0]
# RFC822 sets \Seen and says so
typ, data = m.fetch("2", "RFC822")
assert data[0][1] == big and b"\\Seen" in data[1], data[1]
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidonly_speaks_in_uids() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
assert "UIDONLY" in m.capabilities, m.capabilities
for i in range(4):
    assert m.append("INBOX", None, None, f"Subject: n{i}\r\n\r\nbody\r\n".encode())[0] == "OK"
typ, data = m._simple_command("ENABLE", "UIDONLY")
assert m.untagged_responses.pop("ENABLED") == [b"UIDONLY"], (typ, data)
m.select("INBOX")
# UID FETCH answers UIDFETCH, keyed by UID, without a UID item
typ, data = m.uid("FETCH", "2:3", "(UID FLAGS RFC822.SIZE)")
got = m.untagged_responses.pop("UIDFETCH")
assert typ == "OK" and got[0].startswith(b"2 (FLAGS (") and b"UID" not in got[0], got
assert len(got) == 2 and got[1].startswith(b"3 ("), got
# sequence numbers are refused, the session goes on
for cmd, args in [("FETCH", ("1", "(FLAGS)")), ("STORE", ("1", "+FLAGS", "(\\Seen)")),
                  ("SEARCH", ("ALL",)), ("COPY", ("1", "INBOX")), ("UID", ("SEARCH", "1:2")),
                  ("UID", ("SEARCH", "NOT", "(OR", "SUBJECT", "x", "3)"))]:
    try:
        m._simple_command(cmd, *args)
        raise SystemExit(f"{cmd} accepted")
    except m.error as e:
        assert "UIDREQUIRED" in str(e), (cmd, e)
typ, data = m.uid("SEARCH", "UID", "2:*")
assert data == [b"2 3 4"], data
# the saved result is not a sequence number
typ, data = m._simple_command("UID", "SEARCH", "RETURN", "(SAVE)", "UID", "3:4")
typ, data = m.uid("SEARCH", "$")
assert data == [b"3 4"], data
# a STORE answers UIDFETCH; an expunge is VANISHED, never EXPUNGE
m.uid("STORE", "4", "+FLAGS", "(\\Deleted)")
got = m.untagged_responses.pop("UIDFETCH")
assert got[0].startswith(b"4 (FLAGS (\\Deleted"), got
typ, data = m.uid("EXPUNGE", "4")
assert "EXPUNGE" not in m.untagged_responses, m.untagged_responses
assert m.untagged_responses.pop("VANISHED") == [b"4"], m.untagged_responses
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savedate_is_when_the_message_was_saved() {
    let h = Harness::start().await;
    let out = h
        .imaplib(
            r#"
import time
assert "SAVEDATE" in m.capabilities, m.capabilities
old = imaplib.Time2Internaldate(1_600_000_000)
assert m.append("INBOX", None, old, b"Subject: old\r\n\r\nbody\r\n")[0] == "OK"
m.select("INBOX")
typ, data = m.fetch("1", "(INTERNALDATE SAVEDATE)")
line = data[0].decode()
assert 'INTERNALDATE "13-Sep-2020' in line, line
today = time.strftime("%d-%b-%Y", time.gmtime())
assert f'SAVEDATE "{today}' in line or f'SAVEDATE "{today.lstrip("0")}' in line, (line, today)
assert m.search(None, "SAVEDSINCE", today)[1] == [b"1"]
assert m.search(None, "SAVEDON", today)[1] == [b"1"]
assert m.search(None, "SAVEDBEFORE", today)[1] == [b""]
assert m.search(None, "SINCE", today)[1] == [b""]
assert m.search(None, "SAVEDATESUPPORTED")[1] == [b"1"]
try:
    m.search(None, "SAVEDSINCE", "yesterday")
    raise SystemExit("bad date accepted")
except m.error as e:
    assert "bad date" in str(e), e
m.logout()
print("ok")
"#,
        )
        .await;
    assert_eq!(out.trim(), "ok");
}
