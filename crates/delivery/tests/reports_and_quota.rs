//! Over real sockets, one estafeta (store, SMTP listener, delivery) and a scripted remote
//! server at 127.0.0.2: delivery reports change a suppression list only when they are
//! about a message that left this server and name recipients it was sent to; a local
//! recipient that cannot take a message after the 250 (mailbox full on the real size) gets
//! the sender a report, and when no recipient can take it the end of DATA says so.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use estafeta_store::{NewUser, Store};
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::scripted_smtp::{Script, ScriptedSmtp};

/// The sending side with its own MX listener (loopback may relay), and the remote server.
struct Site {
    s: Sender,
    smtp: SocketAddr,
    mx: ScriptedSmtp,
    _dns: TestDns,
}

impl Site {
    async fn start() -> Site {
        let mx = ScriptedSmtp::start_on("127.0.0.2:0".parse().unwrap(), Script::new()).await;
        let dns =
            TestDns::start(Records::new().mx_at("remote.test", Ipv4Addr::new(127, 0, 0, 2))).await;
        let options = Options {
            smtp_trusting: Some(&["127.0.0.0/8"]),
            ..Options::default()
        };
        let s = Sender::start(&dns, mx.addr.port(), options).await;
        Site {
            smtp: s.smtp.expect("an SMTP listener"),
            s,
            mx,
            _dns: dns,
        }
    }

    fn store(&self) -> &dyn Store {
        &*self.s.store
    }

    async fn suppressed(&self) -> Vec<String> {
        self.store()
            .list_suppressions(Some("example.com"))
            .await
            .expect("list")
            .into_iter()
            .map(|s| s.address)
            .collect()
    }

    /// Sends a report from `<>` to ann; it is accepted (and delivered) in every case.
    async fn report(&self, dsn: &str) {
        let (rcpts, end) = smtp_transaction(self.smtp, "<>", &["<ann@example.com>"], dsn).await;
        assert!(rcpts[0].starts_with("250"), "{rcpts:?}");
        let end = end.expect("data");
        assert!(end.starts_with("250 2.0.0"), "{end}");
    }
}

/// A report as a remote MTA writes it: `failed` failed for good, `returned` the header
/// section it returns.
fn dsn(failed: &[&str], returned: &str) -> String {
    let mut blocks = String::new();
    for f in failed {
        blocks.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {f}\r\nOriginal-Recipient: rfc822;{f}\r\n\
             Action: failed\r\nStatus: 5.1.1\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 <{f}>: Recipient address rejected: User unknown\r\n"
        ));
    }
    format!(
        "From: MAILER-DAEMON@mx.remote.test (Mail Delivery System)\r\nTo: ann@example.com\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.remote.test\r\nX-Postfix-Queue-ID: 4Xq1Zb2c\r\n{blocks}\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}\
         --B--\r\n"
    )
}

/// The header section of a message, as the remote server would return it (with its own
/// Received: field on top).
fn returned_headers(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let end = text.find("\r\n\r\n").expect("a header section") + 2;
    format!(
        "Received: from out.test (out.test [127.0.0.1])\r\n\
         \tby mx.remote.test (Postfix) with ESMTP id 4Xq1Zb2c\r\n\
         \tfor <a@remote.test>; Mon,  1 Jan 2024 10:00:00 +0000 (UTC)\r\n{}",
        &text[..end]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_reports_about_mail_we_sent_suppress_and_only_its_recipients() {
    let site = Site::start().await;
    // ann's message leaves through the scheduler to the remote server
    let (rcpts, end) = smtp_transaction(
        site.smtp,
        "<ann@example.com>",
        &["<a@remote.test>", "<b@remote.test>"],
        "From: ann@example.com\r\nTo: a@remote.test, b@remote.test\r\nSubject: news\r\n\
         Message-ID: <news-1@example.com>\r\n\r\nHello.\r\n",
    )
    .await;
    assert!(rcpts.iter().all(|r| r.starts_with("250")), "{rcpts:?}");
    assert!(end.expect("data").starts_with("250"));
    let sent = wait_messages(&site.mx, 1).await;
    site.s.wait_empty().await;
    let headers = returned_headers(&sent[0].body);
    assert!(headers.contains("by out.test (estafeta)"), "{headers}");

    // forged: the null sender, From: our domain, but about no message that left here
    let forged = "From: Ann <ann@example.com>\r\nTo: a@remote.test\r\nSubject: news\r\n\
                  Message-ID: <never-sent@example.com>\r\n";
    site.report(&dsn(&["a@remote.test", "victim@remote.test"], forged))
        .await;
    assert!(site.suppressed().await.is_empty(), "a forged report");
    // about our message, but naming an address it was never sent to: nothing at all
    site.report(&dsn(&["a@remote.test", "victim@remote.test"], &headers))
        .await;
    assert!(site.suppressed().await.is_empty(), "a foreign address");
    // a report without returned headers names no message
    site.report(&dsn(&["a@remote.test"], "")).await;
    assert!(site.suppressed().await.is_empty(), "no returned headers");

    // the real report, found by our queue id in the returned Received: field
    let by_queue_id: String = headers
        .lines()
        .filter(|l| !l.starts_with("Message-ID:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    site.report(&dsn(&["a@remote.test"], &by_queue_id)).await;
    assert_eq!(site.suppressed().await, vec!["a@remote.test"]);
    let list = site
        .store()
        .list_suppressions(Some("example.com"))
        .await
        .unwrap();
    assert!(
        list[0].reason.starts_with("5.1.1 smtp; 550 5.1.1"),
        "{list:?}"
    );
    // and one found by its Message-ID only
    let by_message_id = "From: ann@example.com\r\nSubject: news\r\n\
                         Message-ID: <news-1@example.com>\r\n";
    site.report(&dsn(&["B@Remote.test"], by_message_id)).await;
    assert_eq!(
        site.suppressed().await,
        vec!["a@remote.test", "b@remote.test"]
    );
    // every report reached ann all the same
    assert_eq!(site.s.ann_inbox().await.len(), 5);
}

async fn add_user(store: &dyn Store, address: &str, quota: i64) {
    store
        .add_user(NewUser {
            address: address.into(),
            password: "pw".into(),
            quota_bytes: quota,
            pop3_keep: true,
        })
        .await
        .expect("user");
}

fn message(subject: &str, size: usize) -> String {
    format!(
        "From: s@remote.test\r\nTo: team@example.com\r\nSubject: {subject}\r\n\r\n{}\r\n",
        "x".repeat(size)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_member_over_quota_gets_the_sender_a_report() {
    let site = Site::start().await;
    add_user(site.store(), "full@example.com", 400).await;
    site.store()
        .add_alias(
            "team@example.com",
            &["ann@example.com".into(), "full@example.com".into()],
        )
        .await
        .unwrap();
    // no SIZE declared: RCPT cannot tell; the real size (~600 octets) does not fit
    let (rcpts, end) = smtp_transaction(
        site.smtp,
        "<s@remote.test>",
        &["<team@example.com>"],
        &message("to the team", 500),
    )
    .await;
    assert!(rcpts[0].starts_with("250"), "{rcpts:?}");
    assert!(end.expect("data").starts_with("250 2.0.0"));
    assert_eq!(site.s.ann_inbox().await.len(), 1, "the member with room");
    assert!(
        estafeta_testkit::inbox(site.store(), "full@example.com")
            .await
            .is_empty()
    );
    // the sender hears about the member that did not get it
    let got = wait_messages(&site.mx, 1).await;
    assert!(got[0].mail.starts_with("MAIL FROM:<> "), "{}", got[0].mail);
    assert_eq!(got[0].rcpts, vec!["RCPT TO:<s@remote.test>"]);
    let (human, status, _) = parse_dsn(&got[0].body);
    for want in [
        "Original-Recipient: rfc822;team@example.com",
        "Final-Recipient: rfc822;full@example.com",
        "Action: failed",
        "Status: 5.2.2",
    ] {
        assert!(status.contains(want), "{want} missing:\n{status}");
    }
    assert!(!status.contains("ann@example.com"), "{status}");
    assert!(
        human.contains("<full@example.com>: 5.2.2 mailbox full"),
        "{human}"
    );
    assert_eq!(
        python_dsn(&got[0].body).await.trim(),
        "full@example.com failed 5.2.2"
    );
    site.s.wait_empty().await;

    // NOTIFY=NEVER: the member is still not served, and no report is sent
    let (rcpts, end) = smtp_transaction(
        site.smtp,
        "<s@remote.test>",
        &["<team@example.com> NOTIFY=NEVER"],
        &message("quiet", 500),
    )
    .await;
    assert!(rcpts[0].starts_with("250"), "{rcpts:?}");
    assert!(end.expect("data").starts_with("250"));
    assert_eq!(site.s.ann_inbox().await.len(), 2);
    // a message owing a report stays queued until its report is, and the report until it
    // is sent: once the queue is empty, a report would have been sent already
    site.s.wait_empty().await;
    assert_eq!(site.mx.messages().len(), 1, "no report for NOTIFY=NEVER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_recipient_with_room_for_the_real_size_is_refused_at_the_end_of_data() {
    let site = Site::start().await;
    add_user(site.store(), "full@example.com", 400).await;
    add_user(site.store(), "tiny@example.com", 300).await;
    site.store()
        .add_alias(
            "both@example.com",
            &["full@example.com".into(), "tiny@example.com".into()],
        )
        .await
        .unwrap();
    for (mail, rcpt) in [
        ("<s@remote.test>", "<full@example.com>"),
        ("<s@remote.test> SIZE=100", "<full@example.com>"),
        ("<s@remote.test>", "<both@example.com>"),
    ] {
        let (rcpts, end) = smtp_transaction(site.smtp, mail, &[rcpt], &message("big", 500)).await;
        assert!(rcpts[0].starts_with("250"), "{mail} {rcpt}: {rcpts:?}");
        let end = end.expect("data");
        assert!(
            end.starts_with("552 5.2.2 Mailbox full"),
            "{mail} {rcpt}: {end}"
        );
    }
    for user in ["full@example.com", "tiny@example.com"] {
        assert!(estafeta_testkit::inbox(site.store(), user).await.is_empty());
    }
    assert!(site.store().queue_list().await.unwrap().is_empty());
    // a message that fits is taken
    let (_, end) = smtp_transaction(
        site.smtp,
        "<s@remote.test>",
        &["<full@example.com>"],
        &message("small", 10),
    )
    .await;
    assert!(end.expect("data").starts_with("250"));
    assert_eq!(
        estafeta_testkit::inbox(site.store(), "full@example.com")
            .await
            .len(),
        1
    );
    assert!(site.mx.messages().is_empty(), "nothing went out");
}
