//! What Dovecot's imaptest checks of every server, end to end over TLS with a raw client
//! (the exact lines matter here): each found failure stays as a test.

mod common;

use common::{Client, Harness};

async fn logged_in(h: &Harness, user: &str) -> Client {
    let mut c = Client::tls(h.imaps).await;
    c.line().await;
    let r = c.run("l", &format!("LOGIN {user} secret")).await;
    assert!(r.starts_with("l OK"), "{r}");
    c
}

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
    let mut a = logged_in(&h, "bob@example.com").await;
    let mut b = logged_in(&h, "bob@example.com").await;
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
        flags < permanent && permanent < at(&r, "* 1 FETCH (FLAGS ($Work))"),
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
    // a new session learns them all at SELECT; EXAMINE offers no permanent flag
    let mut c = logged_in(&h, "bob@example.com").await;
    let r = c.run("e", "EXAMINE INBOX").await;
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work Later)\r\n"),
        "{r}"
    );
    assert!(r.contains("* OK [PERMANENTFLAGS ()]"), "{r}");
}
