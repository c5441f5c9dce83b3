//! Incoming bounces and sending limits, over real sockets: a DSN about a message that left
//! this server puts the failed address it was sent to on the domain's suppression list;
//! forged ones (no such message, or an address it never went to) change nothing; with
//! enforcement on, submission refuses RCPT to it with 550 5.1.1; per-user rate limits
//! answer 451 4.7.0 and let mail through again once the window has passed.

mod common;

use common::{BOB_PASSWORD, Client, Harness};
use estafeta_store::{
    Accept, DeliveryOutcome, RecipientUpdate, RemoteRecipient, new_queue_id, now,
};

/// A report about the message `<hello.1@example.com>`.
fn dsn(original_from: &str, failed: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.remote.example\r\nTo: bob@example.com\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.remote.example\r\n\r\n\
         Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: Bob <{original_from}>\r\nTo: {failed}\r\nSubject: hello\r\n\
         Message-ID: <hello.1@example.com>\r\n\
         --b--\r\n"
    )
}

/// Sends `data` over the MX port from `sender` to bob.
async fn deliver(h: &Harness, sender: &str, data: &str) {
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO mx.remote.example").await;
    assert!(
        c.cmd(&format!("MAIL FROM:<{sender}>"))
            .await
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(data).await;
    let r = c.cmd(".").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
}

async fn submit(h: &Harness) -> Client {
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO laptop.test").await;
    let r = c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    assert!(r.starts_with("235"), "{r}");
    c
}

/// Records a message from bob as delivered to `rcpts` by a remote server, as delivery
/// does: accepted into the queue, leased, delivered.
async fn sent_by_bob(h: &Harness, message_id: &str, rcpts: &[&str]) {
    let store = &h.store;
    store
        .accept(Accept {
            queue_id: new_queue_id(),
            body: b"From: bob@example.com\r\nSubject: hello\r\n\r\nhi\r\n".to_vec(),
            sender: "bob@example.com".into(),
            remote: rcpts
                .iter()
                .map(|a| RemoteRecipient {
                    address: a.to_string(),
                    ..RemoteRecipient::default()
                })
                .collect(),
            message_id: Some(message_id.into()),
            internal_date: now(),
            ..Accept::default()
        })
        .await
        .unwrap();
    let delivered: Vec<RecipientUpdate> = store
        .lease_due("test", now(), 100, 60)
        .await
        .unwrap()
        .into_iter()
        .map(|r| RecipientUpdate {
            recipient_id: r.id,
            queue_id: r.queue_id,
            outcome: DeliveryOutcome::Delivered {
                reply: "250 2.0.0 ok".into(),
            },
            host: None,
            report: None,
        })
        .collect();
    let done = store.record_attempt("test", &delivered).await.unwrap();
    assert!(done.conflicts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_bounces_fill_the_suppression_list_which_submission_enforces() {
    let h = Harness::start().await;
    // forged: the null sender and From: our domain, but no message of ours behind it
    deliver(&h, "", &dsn("bob@example.com", "gone@remote.example")).await;
    // forged: about a message some other domain sent
    deliver(
        &h,
        "",
        &dsn("eve@elsewhere.example", "victim@remote.example"),
    )
    .await;
    assert!(
        h.store.list_suppressions(None).await.unwrap().is_empty(),
        "forged reports change nothing"
    );
    sent_by_bob(
        &h,
        "hello.1@example.com",
        &["gone@remote.example", "ok@remote.example"],
    )
    .await;
    // about bob's message, but naming an address it never went to: nothing
    deliver(&h, "", &dsn("bob@example.com", "victim@remote.example")).await;
    assert!(h.store.list_suppressions(None).await.unwrap().is_empty());
    // not a bounce: a DSN-looking message with a real sender
    deliver(
        &h,
        "prankster@remote.example",
        &dsn("bob@example.com", "gone@remote.example"),
    )
    .await;
    assert!(h.store.list_suppressions(None).await.unwrap().is_empty());
    // the real report
    deliver(&h, "", &dsn("bob@example.com", "gone@remote.example")).await;
    assert_eq!(h.inbox("bob@example.com").await.len(), 5, "all delivered");
    let list = h
        .store
        .list_suppressions(Some("example.com"))
        .await
        .unwrap();
    assert_eq!(
        list.iter().map(|s| s.address.as_str()).collect::<Vec<_>>(),
        vec!["gone@remote.example"]
    );
    assert!(list[0].reason.contains("5.1.1"), "{:?}", list[0]);

    // listed only: still sent
    let mut c = submit(&h).await;
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("250")
    );
    assert!(
        c.cmd("RCPT TO:<gone@remote.example>")
            .await
            .starts_with("250")
    );
    c.cmd("RSET").await;
    // enforced: refused, with the reason; the session goes on
    h.store
        .set_suppression_enforced("example.com", true)
        .await
        .unwrap();
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("250")
    );
    let r = c.cmd("RCPT TO:<gone@remote.example>").await;
    assert!(r.starts_with("550 5.1.1 <gone@remote.example>"), "{r}");
    assert!(r.contains("suppression list of example.com"), "{r}");
    assert!(
        c.cmd("RCPT TO:<fine@remote.example>")
            .await
            .starts_with("250")
    );
    // the MX side is not affected: the world may still write to bob
    deliver(
        &h,
        "gone@remote.example",
        "Subject: hi\r\n\r\nstill here\r\n",
    )
    .await;
}

/// One whole transaction on an open session: MAIL, the RCPTs, DATA; the final reply.
async fn send_one(c: &mut Client, from: &str, to: &[&str]) -> String {
    let r = c.cmd(&format!("MAIL FROM:<{from}>")).await;
    if !r.starts_with("250") {
        return r;
    }
    for rcpt in to {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        if !r.starts_with("250") {
            c.cmd("RSET").await;
            return r;
        }
    }
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: counted\r\n\r\nhello\r\n").await;
    c.cmd(".").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_451_until_the_window_passes() {
    let window = std::time::Duration::from_secs(2);
    let h = Harness::with(|c| {
        c.smtp.user_messages_per_hour = 2;
        c.smtp.user_recipients_per_hour = 3;
        c.smtp.rate_limit_window = window.as_secs();
    })
    .await;
    let mut c = submit(&h).await;
    // MAIL/RSET loops and refused recipients spend nothing: only accepted mail counts
    for _ in 0..10 {
        assert!(
            c.cmd("MAIL FROM:<bob@example.com>")
                .await
                .starts_with("250")
        );
        assert!(c.cmd("RCPT TO:<x@remote.example>").await.starts_with("250"));
        assert!(c.cmd("RSET").await.starts_with("250"));
    }
    for _ in 0..2 {
        let r = send_one(&mut c, "bob@example.com", &["r@remote.example"]).await;
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    // every place counted was taken before this instant
    let started = std::time::Instant::now();
    let r = c.cmd("MAIL FROM:<bob@example.com>").await;
    assert!(
        r.starts_with("451 4.7.0 rate limit exceeded, try again later"),
        "{r}"
    );
    assert!(r.contains("user bob@example.com"), "{r}");
    // the limit is a window of time: after it, mail goes through again
    tokio::time::sleep(
        window.saturating_sub(started.elapsed()) + std::time::Duration::from_millis(50),
    )
    .await;
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("250")
    );
    for n in 0..3 {
        let r = c.cmd(&format!("RCPT TO:<r{n}@remote.example>")).await;
        assert!(r.starts_with("250"), "{r}");
    }
    let r = c.cmd("RCPT TO:<r3@remote.example>").await;
    assert!(r.starts_with("451 4.7.0 rate limit exceeded"), "{r}");
    // another user has a count of their own; without a limit set, nothing is counted
    let (mut ann, _) = Client::connect_tls(h.submissions).await;
    ann.cmd("EHLO laptop.test").await;
    assert!(
        ann.auth_plain("ann@example.com", "ann-password")
            .await
            .starts_with("235")
    );
    assert!(
        ann.cmd("MAIL FROM:<ann@example.com>")
            .await
            .starts_with("250")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_on_port_25_never_spend_a_domains_sending_limit() {
    let h = Harness::with(|c| {
        c.smtp.domain_messages_per_hour = 2;
        c.smtp.domain_recipients_per_hour = 2;
    })
    .await;
    // a stranger writing as our domain, over and over, to one of our users
    let (mut mx, _) = Client::connect(h.mx).await;
    mx.cmd("EHLO mx.remote.example").await;
    for _ in 0..5 {
        let r = send_one(&mut mx, "ann@example.com", &["bob@example.com"]).await;
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    // our own user still has the domain's whole allowance
    let mut c = submit(&h).await;
    for _ in 0..2 {
        let r = send_one(&mut c, "bob@example.com", &["r@remote.example"]).await;
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    let r = c.cmd("MAIL FROM:<bob@example.com>").await;
    assert!(r.starts_with("451 4.7.0"), "{r}");
    assert!(r.contains("domain example.com"), "{r}");
}
