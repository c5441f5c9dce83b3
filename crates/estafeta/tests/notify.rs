//! IMAP NOTIFY (RFC 5465) end to end on `estafeta serve`, over SQLite and over
//! PostgreSQL (LISTEN/NOTIFY feeding the change broadcast): session A sets NOTIFY and
//! then sends nothing, while session B changes the mailboxes; A must be told each change
//! unasked (EXISTS and the FETCH of its MessageNew attributes, FETCH FLAGS, EXPUNGE,
//! STATUS of another folder, LIST for created, renamed, subscribed and deleted folders,
//! METADATA). Each expected line is waited for with a timeout; no sleeps. Then NOTIFY
//! NONE stops them, and the refusals: BADEVENT and BAD for the RFC's rules.

mod common;

use std::time::Duration;

use common::Env;
use estafeta_net::testing::LineClient;

/// Reads lines until one satisfies `want` (within 20 s); all lines read, for messages.
async fn wait_for(c: &mut LineClient, what: &str, want: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), c.line()).await {
            Ok(l) if l.is_empty() => panic!("connection closed waiting for {what}; read:\n{seen}"),
            Ok(l) => {
                seen.push_str(&l);
                if want(&l) {
                    return l;
                }
            }
            Err(_) => panic!("no {what} within 20 s; read:\n{seen}"),
        }
    }
}

async fn login(addr: std::net::SocketAddr) -> LineClient {
    let mut c = LineClient::plain(addr).await;
    let greeting = c.line().await;
    assert!(
        !greeting.contains(" NOTIFY"),
        "NOTIFY before login: {greeting}"
    );
    let r = c.run("l", "LOGIN bob@example.com secret").await;
    assert!(r.contains("l OK"), "{r}");
    c
}

async fn ok(c: &mut LineClient, command: &str) -> String {
    let r = c.run("b", command).await;
    assert!(r.contains("b OK"), "{command}: {r}");
    r
}

async fn append(c: &mut LineClient, mailbox: &str, subject: &str) {
    let msg = format!("From: x@example.com\r\nSubject: {subject}\r\n\r\nhello\r\n");
    c.send(&format!(
        "b APPEND {mailbox} {{{}+}}\r\n{msg}\r\n",
        msg.len()
    ))
    .await;
    let r = c.until_tagged("b").await;
    assert!(r.contains("b OK"), "APPEND {mailbox}: {r}");
}

async fn scenario(imap: std::net::SocketAddr) {
    let mut a = login(imap).await;
    let mut b = login(imap).await;
    let r = a.run("c", "CAPABILITY").await;
    assert!(r.contains(" NOTIFY"), "{r}");
    ok(&mut b, "CREATE Other").await;
    ok(&mut a, "SELECT INBOX").await;

    // refusals: an unsupported event is NO [BADEVENT (the supported ones)], not BAD;
    // the RFC's composition rules are BAD
    let r = a
        .run(
            "e",
            "NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))",
        )
        .await;
    assert!(r.starts_with("e NO [BADEVENT ("), "{r}");
    assert!(r.contains("MessageNew") && r.contains("MailboxName"), "{r}");
    for bad in [
        "NOTIFY SET (selected (MessageNew))",
        "NOTIFY SET (selected (FlagChange))",
        "NOTIFY SET (selected (MailboxName))",
        "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
        "NOTIFY SET (selected NONE) (selected-delayed NONE)",
    ] {
        let r = a.run("e", bad).await;
        assert!(r.starts_with("e BAD"), "{bad}: {r}");
    }

    let r = a
        .run(
            "n",
            "NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) \
             (personal (MessageNew MessageExpunge MailboxName SubscriptionChange \
             MailboxMetadataChange))",
        )
        .await;
    assert!(r.contains("n OK"), "{r}");
    // STATUS: the other folder at once, never the selected one
    assert!(
        r.contains("* STATUS \"Other\" (MESSAGES 0 UIDNEXT 1 "),
        "{r}"
    );
    assert!(!r.contains("* STATUS \"INBOX\""), "{r}");

    // from here A sends nothing: every line below comes unasked
    append(&mut b, "INBOX", "one").await;
    wait_for(&mut a, "EXISTS", |l| l == "* 1 EXISTS\r\n").await;
    wait_for(&mut a, "the FETCH of MessageNew", |l| {
        l.starts_with("* 1 FETCH (UID 1 FLAGS (")
    })
    .await;

    append(&mut b, "Other", "two").await;
    wait_for(&mut a, "STATUS of Other", |l| {
        l.starts_with("* STATUS \"Other\" (MESSAGES 1 UIDNEXT 2 ")
    })
    .await;

    ok(&mut b, "SELECT INBOX").await;
    ok(&mut b, "STORE 1 +FLAGS (\\Flagged)").await;
    wait_for(&mut a, "FETCH FLAGS", |l| {
        l.starts_with("* 1 FETCH (") && l.contains("\\Flagged")
    })
    .await;

    ok(&mut b, "CREATE Projects").await;
    wait_for(&mut a, "LIST of a new folder", |l| {
        l == "* LIST (\\HasNoChildren) \"/\" \"Projects\"\r\n"
    })
    .await;
    ok(&mut b, "RENAME Projects Work").await;
    wait_for(&mut a, "LIST with OLDNAME", |l| {
        l == "* LIST (\\HasNoChildren) \"/\" \"Work\" (\"OLDNAME\" (\"Projects\"))\r\n"
    })
    .await;
    ok(&mut b, "SUBSCRIBE Work").await;
    wait_for(&mut a, "LIST \\Subscribed", |l| {
        l == "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work\"\r\n"
    })
    .await;
    ok(&mut b, "SETMETADATA Work (/private/comment \"hi\")").await;
    wait_for(&mut a, "METADATA", |l| {
        l == "* METADATA \"Work\" \"/private/comment\"\r\n"
    })
    .await;
    ok(&mut b, "DELETE Work").await;
    // DELETE keeps the subscription (RFC 9051 §6.3.4)
    wait_for(&mut a, "LIST \\NonExistent", |l| {
        l == "* LIST (\\NonExistent \\Subscribed) \"/\" \"Work\"\r\n"
    })
    .await;
    ok(&mut b, "UNSUBSCRIBE Work").await;
    wait_for(&mut a, "LIST unsubscribed", |l| {
        l == "* LIST (\\NonExistent) \"/\" \"Work\"\r\n"
    })
    .await;

    ok(&mut b, "STORE 1 +FLAGS (\\Deleted)").await;
    ok(&mut b, "EXPUNGE").await;
    wait_for(&mut a, "EXPUNGE", |l| l == "* 1 EXPUNGE\r\n").await;

    // IDLE tells what NOTIFY asks for: the other folder's STATUS too
    a.send("i IDLE\r\n").await;
    wait_for(&mut a, "IDLE's continuation", |l| l.starts_with("+ ")).await;
    append(&mut b, "Other", "three").await;
    wait_for(&mut a, "STATUS in IDLE", |l| {
        l.starts_with("* STATUS \"Other\" (MESSAGES 2 UIDNEXT 3 ")
    })
    .await;
    a.send("DONE\r\n").await;
    let r = a.until_tagged("i").await;
    assert!(r.contains("i OK"), "{r}");

    // NOTIFY NONE: nothing more unasked. Changes are told before the next command is
    // read, so anything still told would come before the NOOP's answer
    ok(&mut a, "NOTIFY NONE").await;
    append(&mut b, "Other", "four").await;
    ok(&mut b, "CREATE Later").await;
    let r = a.run("x", "NOOP").await;
    assert!(!r.contains("* STATUS") && !r.contains("* LIST"), "{r}");
    let r = a.run("y", "NOOP").await;
    assert!(!r.contains("* STATUS") && !r.contains("* LIST"), "{r}");

    // and another user's changes are never told
    let mut ann = LineClient::plain(imap).await;
    ann.line().await;
    let r = ann.run("l", "LOGIN ann@example.com secret").await;
    assert!(r.contains("l OK"), "{r}");
    ok(
        &mut a,
        "NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))",
    )
    .await;
    ok(&mut ann, "CREATE AnnOnly").await;
    append(&mut ann, "INBOX", "ann's").await;
    ok(&mut b, "CREATE BobToo").await;
    // bob's own change arrives; ann's, announced before it, never does
    let l = wait_for(&mut a, "LIST of bob's folder", |l| l.starts_with("* ")).await;
    assert_eq!(l, "* LIST (\\HasNoChildren) \"/\" \"BobToo\"\r\n");
}

fn run(storage: &str) {
    let env = Env::new();
    let server = common::serve_with_users(&env, storage, &["bob@example.com", "ann@example.com"]);
    let imap = server.address("imap");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(scenario(imap));
}

#[test]
fn notify_tells_changes_unasked_sqlite() {
    run("");
}

#[test]
fn notify_tells_changes_unasked_postgres() {
    if let Some(db) = common::PgDatabase::create("estafeta_notify") {
        run(&db.storage_config());
    }
}
