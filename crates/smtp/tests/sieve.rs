//! Sieve at delivery, over real sockets: mail arrives over SMTP for users whose active
//! scripts file it (IMAP then shows the folder), answer it while away (once per sender,
//! never to the null sender or a list), discard or refuse it; a broken script keeps the
//! message and says why. Delivery is off in these hosts: what would leave (vacation
//! replies, reports) is looked at in the queue.

use std::time::{Duration, Instant};

use estafeta_config::{ListenerTls, Protocol};
use estafeta_store::{QueuedMessage, Store};
use estafeta_testkit::{MailHost, python};

async fn host() -> MailHost {
    MailHost::two_ports_with(&[(Protocol::Imap, ListenerTls::Implicit)], |_| {}).await
}

async fn script(h: &MailHost, user: &str, text: &str) {
    let u = h.store.get_user(user).await.unwrap().unwrap();
    h.store
        .put_sieve_script(u.id, "main", text, 20, 1 << 20)
        .await
        .expect("stored");
    h.store
        .activate_sieve_script(u.id, Some("main"))
        .await
        .expect("active");
}

/// One SMTP transaction from `from` to `to` with `message`: the RCPT replies and the
/// reply at the end of DATA.
async fn send(h: &MailHost, from: &str, to: &[&str], message: &str) -> (Vec<String>, String) {
    let mut c = estafeta_net::testing::LineClient::plain(h.smtp).await;
    c.smtp_reply().await;
    c.send("EHLO client.test\r\n").await;
    c.smtp_reply().await;
    c.send(&format!("MAIL FROM:<{from}>\r\n")).await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("250"), "MAIL: {r}");
    let mut rcpts = Vec::new();
    for t in to {
        c.send(&format!("RCPT TO:<{t}>\r\n")).await;
        rcpts.push(c.smtp_reply().await);
    }
    c.send("DATA\r\n").await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("354"), "DATA: {r}");
    c.send(&format!("{message}.\r\n")).await;
    let end = c.smtp_reply().await;
    c.send("QUIT\r\n").await;
    (rcpts, end)
}

fn message(from: &str, to: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@outside.test>\r\n{extra}\r\nHello.\r\n"
    )
}

/// Waits (polling, up to 30 s) until the queue holds `n` messages from the null sender.
async fn wait_replies(store: &dyn Store, n: usize) -> Vec<QueuedMessage> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let replies: Vec<QueuedMessage> = store
            .queue_list()
            .await
            .expect("queue")
            .into_iter()
            .filter(|m| m.sender.is_empty())
            .collect();
        if replies.len() >= n {
            return replies;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} replies"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_files_mail_into_a_new_folder_with_a_flag_and_imap_shows_it() {
    let h = host().await;
    script(
        &h,
        "bob@example.com",
        r#"require ["fileinto", "mailbox", "imap4flags"];
if header :contains "subject" "invoice" {
    fileinto :create :flags "\\Flagged" "Billing/2026";
    stop;
}"#,
    )
    .await;
    let (_, end) = send(
        &h,
        "shop@outside.test",
        &["bob@example.com"],
        &message(
            "shop@outside.test",
            "bob@example.com",
            "Your invoice 42",
            "",
        ),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    let (_, end) = send(
        &h,
        "friend@outside.test",
        &["bob@example.com"],
        &message("friend@outside.test", "bob@example.com", "lunch", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    let imap = h.listeners[0];
    let out = python(&format!(
        r#"
import imaplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("{ip}", {port}, ssl_context=ctx)
m.login("bob@example.com", "secret")
typ, folders = m.list()
print([f.decode() for f in folders])
typ, n = m.select('"Billing/2026"')
typ, data = m.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(data)
typ, n = m.select("INBOX")
print("INBOX", n[0].decode())
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(data)
m.logout()
"#,
        ip = imap.ip(),
        port = imap.port()
    ))
    .await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("Billing/2026"), "{out}");
    assert!(
        out.contains("\\\\Flagged") && out.contains("Your invoice 42"),
        "{out}"
    );
    assert!(out.contains("INBOX 1") && out.contains("lunch"), "{out}");
    assert!(!out.contains("INBOX 2"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacation_answers_once_per_sender_and_never_the_null_sender_or_a_list() {
    let h = host().await;
    script(
        &h,
        "bob@example.com",
        r#"require "vacation";
vacation :days 3 :subject "Away until Monday" "I am away; back on Monday.";"#,
    )
    .await;
    let to = "bob@example.com";
    for (from, extra) in [
        ("amy@outside.test", ""),
        ("amy@outside.test", ""),
        ("", ""),
        ("list@outside.test", "List-Id: <news.outside.test>\r\n"),
        ("robot@outside.test", "Auto-Submitted: auto-generated\r\n"),
        ("carl@outside.test", "Precedence: bulk\r\n"),
    ] {
        let header_from = if from.is_empty() {
            "mailer-daemon@outside.test"
        } else {
            from
        };
        let (_, end) = send(&h, from, &[to], &message(header_from, to, "hello", extra)).await;
        assert!(end.starts_with("250"), "{end}");
        // every message is kept as well
    }
    assert_eq!(h.inbox(to).await.len(), 6);
    // one more, from someone new, so that the count below cannot be early
    let (_, end) = send(
        &h,
        "dan@outside.test",
        &[to],
        &message("dan@outside.test", to, "hi", ""),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    let replies = wait_replies(&*h.store, 2).await;
    let mut to_whom: Vec<String> = replies
        .iter()
        .flat_map(|m| m.recipients.iter().map(|r| r.address.clone()))
        .collect();
    to_whom.sort();
    assert_eq!(to_whom, ["amy@outside.test", "dan@outside.test"]);
    let body = h
        .store
        .queue_body(&replies[0].id)
        .await
        .expect("read")
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Subject: Away until Monday"), "{text}");
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
    assert!(
        text.contains("In-Reply-To: <hello@outside.test>")
            || text.contains("In-Reply-To: <hi@outside.test>"),
        "{text}"
    );
    assert!(text.contains("I am away; back on Monday."), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_script_keeps_the_message_and_says_why() {
    let h = host().await;
    // stored behind the compiler's back, as an older release might have left it
    script(&h, "bob@example.com", "if true { fileinto \"x\" ").await;
    let to = "bob@example.com";
    let (_, end) = send(
        &h,
        "amy@outside.test",
        &[to],
        &message("amy@outside.test", to, "kept", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    let inbox = h.inbox(to).await;
    assert_eq!(inbox.len(), 1);
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(
        text.contains("X-Sieve-Error: main: the script does not compile"),
        "{text}"
    );
    let u = h.store.get_user(to).await.unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = h.store.sieve_scripts(u.id).await.unwrap();
        if listed[0].last_error.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the error was not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // a run that fails (more redirects than allowed) keeps it too
    script(
        &h,
        to,
        r#"redirect "a@outside.test"; redirect "b@outside.test"; redirect "c@outside.test";
redirect "d@outside.test"; redirect "e@outside.test";"#,
    )
    .await;
    let (_, end) = send(
        &h,
        "amy@outside.test",
        &[to],
        &message("amy@outside.test", to, "kept too", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    let inbox = h.inbox(to).await;
    assert_eq!(inbox.len(), 2);
    assert!(String::from_utf8_lossy(&inbox[1]).contains("X-Sieve-Error:"));
    let queued = h.store.queue_list().await.unwrap();
    assert!(queued.is_empty(), "nothing was redirected: {queued:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_and_reject_at_data_and_the_others_still_get_it() {
    let h = host().await;
    script(
        &h,
        "bob@example.com",
        "require \"reject\";\nreject \"I do not take mail from you.\";",
    )
    .await;
    script(&h, "ann@example.com", "discard;").await;
    let from = "amy@outside.test";
    // bob alone refuses it: the end of DATA says so, with his reason
    let (_, end) = send(
        &h,
        from,
        &["bob@example.com"],
        &message(from, "bob@example.com", "one", ""),
    )
    .await;
    assert!(
        end.starts_with("550 5.7.1") && end.contains("I do not take mail from you."),
        "{end}"
    );
    // ann alone discards it: accepted, and nowhere
    let (_, end) = send(
        &h,
        from,
        &["ann@example.com"],
        &message(from, "ann@example.com", "two", ""),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    assert!(h.inbox("ann@example.com").await.is_empty());
    // with a third user who keeps mail, bob's refusal is queued to be reported to the sender
    let u = h
        .store
        .add_user(estafeta_store::NewUser {
            address: "cy@example.com".into(),
            password: "secret".into(),
            quota_bytes: 0,
            pop3_keep: true,
        })
        .await;
    u.expect("user");
    let (_, end) = send(
        &h,
        from,
        &["bob@example.com", "cy@example.com"],
        &message(from, "bob@example.com", "three", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    assert_eq!(h.inbox("cy@example.com").await.len(), 1);
    assert!(h.inbox("bob@example.com").await.is_empty());
    let queued = h.store.queue_list().await.unwrap();
    let failed: Vec<_> = queued
        .iter()
        .flat_map(|m| m.recipients.iter())
        .filter(|r| r.address == "bob@example.com")
        .collect();
    assert_eq!(failed.len(), 1, "{queued:?}");
    let why = failed[0].failure.clone().unwrap_or_default();
    assert!(
        why.contains("5.7.1") && why.contains("I do not take mail from you."),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_wide_script_runs_first_and_duplicates_are_dropped() {
    let dir = tempfile::tempdir().expect("dir");
    let before = dir.path().join("before.sieve");
    std::fs::write(
        &before,
        "require [\"fileinto\", \"mailbox\"];\nif header :contains \"X-Spam-Flag\" \"YES\" { fileinto :create \"Spam\"; stop; }\n",
    )
    .expect("write");
    let global = dir.path().join("global");
    std::fs::create_dir(&global).expect("dir");
    std::fs::write(
        global.join("lists.sieve"),
        "require [\"fileinto\", \"mailbox\"];\nif exists \"List-Id\" { fileinto :create \"Lists\"; }\n",
    )
    .expect("write");
    let (b, g) = (before.display().to_string(), global.display().to_string());
    let h = MailHost::two_ports_with(&[(Protocol::Imap, ListenerTls::Implicit)], move |c| {
        c.sieve.before = Some(b);
        c.sieve.global_dir = Some(g);
    })
    .await;
    script(
        &h,
        "bob@example.com",
        r#"require ["duplicate", "include", "fileinto"];
if duplicate { discard; stop; }
include :global "lists";
if header :contains "subject" "spam-looking" { fileinto "INBOX"; }"#,
    )
    .await;
    let to = "bob@example.com";
    let from = "amy@outside.test";
    for (subject, extra) in [
        ("first", ""),
        ("first", ""), // the same Message-ID again: a duplicate
        ("spam-looking", "X-Spam-Flag: YES\r\n"),
        ("news", "List-Id: <news.outside.test>\r\n"),
    ] {
        let (_, end) = send(&h, from, &[to], &message(from, to, subject, extra)).await;
        assert!(end.starts_with("250"), "{end}");
    }
    let u = h.store.get_user(to).await.unwrap().unwrap();
    let count = |name: &'static str| {
        let store = h.store.clone();
        async move {
            let mb = store.get_mailbox(u.id, name).await.unwrap().expect(name);
            store.list_messages(mb.id).await.unwrap().len()
        }
    };
    assert_eq!(
        count("INBOX").await,
        1,
        "one 'first', its duplicate dropped"
    );
    assert_eq!(
        count("Spam").await,
        1,
        "the server-wide script filed it and stopped"
    );
    assert_eq!(count("Lists").await, 1, "the global include filed it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_sender_puts_in_a_header_cannot_break_the_folder_or_the_flags() {
    let h = host().await;
    let to = "bob@example.com";
    script(
        &h,
        to,
        r#"require ["fileinto", "mailbox", "imap4flags", "variables"];
if header :matches "subject" "*" {
    fileinto :create :flags ["${1}", "ok", "\\Seen", "bad)flag"] "lists/${1}";
}"#,
    )
    .await;
    // a NUL in the subject, as an encoded word: the folder name and the flag hold it
    let (_, end) = send(
        &h,
        "amy@outside.test",
        &[to],
        &message("amy@outside.test", to, "=?utf-8?q?a=00b?=", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    let u = h.store.get_user(to).await.unwrap().unwrap();
    let inbox = h.store.get_mailbox(u.id, "INBOX").await.unwrap().unwrap();
    let kept = h.store.list_messages(inbox.id).await.unwrap();
    assert_eq!(
        kept.len(),
        1,
        "kept in INBOX, not in a folder named with a NUL"
    );
    let flags: Vec<&str> = kept[0].flags.iter().collect();
    assert_eq!(flags, ["\\Seen", "ok"], "only flags IMAP can show");
    // a plain subject files as asked
    let (_, end) = send(
        &h,
        "amy@outside.test",
        &[to],
        &message("amy@outside.test", to, "rust", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    assert!(
        h.store
            .get_mailbox(u.id, "lists/rust")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_unknown_local_user_keeps_the_message() {
    let h = host().await;
    let to = "bob@example.com";
    script(&h, to, "redirect \"nobody@example.com\";").await;
    let (_, end) = send(
        &h,
        "amy@outside.test",
        &[to],
        &message("amy@outside.test", to, "typo", ""),
    )
    .await;
    assert!(end.starts_with("250 2.0.0"), "{end}");
    let inbox = h.inbox(to).await;
    assert_eq!(inbox.len(), 1, "not lost");
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(
        text.contains("X-Sieve-Error: redirect to nobody@example.com not made"),
        "{text}"
    );
}
