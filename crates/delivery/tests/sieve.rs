//! Sieve's mail that leaves, over real sockets between two estafeta servers: a redirect
//! arrives at the second server (with an SRS sender for mail from outside, and the mark
//! that stops a loop), `:copy` keeps a copy too, a message already redirected by the
//! same user is kept instead of sent round again, and a refusal by one of two recipients
//! reaches the sender as a delivery report.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use estafeta_store::{NewUser, Store};
use estafeta_testkit::dns::{Records, TestDns};

/// example.com (ann, bob) here with delivery and an MX listener; remote.test (carol,
/// sender) on a second estafeta at 127.0.0.2.
struct Site {
    here: Sender,
    smtp: SocketAddr,
    there: Receiver,
    _dns: TestDns,
}

impl Site {
    async fn start() -> Site {
        let there = Receiver::start(
            "127.0.0.2:0".parse().unwrap(),
            "remote.test",
            &["carol@remote.test", "sender@remote.test"],
        )
        .await;
        let dns =
            TestDns::start(Records::new().mx_at("remote.test", Ipv4Addr::new(127, 0, 0, 2))).await;
        let mut here = Sender::open().await;
        here.store
            .add_user(NewUser {
                address: "bob@example.com".into(),
                password: "pw".into(),
                quota_bytes: 0,
                pop3_keep: true,
            })
            .await
            .expect("bob");
        let options = Options {
            smtp_trusting: Some(&[]),
            ..Options::default()
        };
        here.deliver(&dns, there.addr.port(), options).await;
        Site {
            smtp: here.smtp.expect("an SMTP listener"),
            here,
            there,
            _dns: dns,
        }
    }

    async fn script(&self, user: &str, text: &str) {
        let store: &dyn Store = &*self.here.store;
        let u = store.get_user(user).await.unwrap().unwrap();
        store
            .put_sieve_script(u.id, "main", text, 20, 1 << 20)
            .await
            .expect("stored");
        store
            .activate_sieve_script(u.id, Some("main"))
            .await
            .expect("active");
    }
}

fn message(subject: &str, extra: &str) -> String {
    format!(
        "From: sender@remote.test\r\nTo: ann@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@remote.test>\r\n{extra}\r\nHello.\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_arrives_at_the_second_server_and_a_loop_is_stopped() {
    let site = Site::start().await;
    site.script(ANN, "redirect \"carol@remote.test\";").await;
    site.script(
        "bob@example.com",
        "require \"copy\";\nredirect :copy \"carol@remote.test\";",
    )
    .await;
    let (_, end) = smtp_transaction(
        site.smtp,
        "<sender@remote.test>",
        &["<ann@example.com>"],
        &message("redirected", ""),
    )
    .await;
    assert!(end.expect("data").starts_with("250 2.0.0"));
    let got = site.there.wait_inbox("carol@remote.test", 1).await;
    let text = String::from_utf8_lossy(&got[0]);
    assert!(
        text.contains("X-Sieve-Redirected-From: <ann@example.com>"),
        "{text}"
    );
    assert!(text.contains("Subject: redirected"), "{text}");
    // mail from outside leaves with an SRS sender of our domain
    assert!(text.contains("Return-Path: <SRS0="), "{text}");
    assert!(
        estafeta_testkit::inbox(&*site.here.store, ANN)
            .await
            .is_empty(),
        "no copy kept without :copy"
    );

    // :copy: redirected and kept
    let (_, end) = smtp_transaction(
        site.smtp,
        "<sender@remote.test>",
        &["<bob@example.com>"],
        &message("copied", ""),
    )
    .await;
    assert!(end.expect("data").starts_with("250 2.0.0"));
    let got = site.there.wait_inbox("carol@remote.test", 2).await;
    assert!(String::from_utf8_lossy(&got[1]).contains("Subject: copied"));
    assert_eq!(
        estafeta_testkit::inbox(&*site.here.store, "bob@example.com")
            .await
            .len(),
        1
    );

    // a message ann redirected before comes back: kept, not sent round again
    let (_, end) = smtp_transaction(
        site.smtp,
        "<sender@remote.test>",
        &["<ann@example.com>"],
        &message("looped", "X-Sieve-Redirected-From: <ann@example.com>\r\n"),
    )
    .await;
    assert!(end.expect("data").starts_with("250 2.0.0"));
    let kept = estafeta_testkit::inbox(&*site.here.store, ANN).await;
    assert_eq!(kept.len(), 1);
    let text = String::from_utf8_lossy(&kept[0]);
    assert!(
        text.contains("X-Sieve-Error:") && text.contains("loop"),
        "{text}"
    );
    site.here.wait_empty().await;
    assert_eq!(
        estafeta_testkit::inbox(&*site.there.store, "carol@remote.test")
            .await
            .len(),
        2,
        "the looped message was not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reject_by_one_recipient_reaches_the_sender_as_a_report() {
    let site = Site::start().await;
    site.script(
        ANN,
        "require \"reject\";\nreject \"Ann does not take orders by mail.\";",
    )
    .await;
    let (rcpts, end) = smtp_transaction(
        site.smtp,
        "<sender@remote.test>",
        &["<ann@example.com>", "<bob@example.com>"],
        &message("order", ""),
    )
    .await;
    assert!(rcpts.iter().all(|r| r.starts_with("250")), "{rcpts:?}");
    assert!(end.expect("data").starts_with("250 2.0.0"));
    assert_eq!(
        estafeta_testkit::inbox(&*site.here.store, "bob@example.com")
            .await
            .len(),
        1
    );
    assert!(
        estafeta_testkit::inbox(&*site.here.store, ANN)
            .await
            .is_empty()
    );
    let reports = site.there.wait_inbox("sender@remote.test", 1).await;
    let (_, status, _) = parse_dsn(&reports[0]);
    assert!(
        status.contains("Action: failed") && status.contains("Status: 5.7.1"),
        "{status}"
    );
    assert!(status.contains("ann@example.com"), "{status}");
    let text = String::from_utf8_lossy(&reports[0]);
    assert!(text.contains("Ann does not take orders by mail."), "{text}");
    assert!(text.contains("ann@example.com"), "{text}");
}
