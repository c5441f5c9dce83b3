//! Delivery over real sockets: a DNS server on loopback whose MX records point at
//! 127.0.0.2, 127.0.0.3 … where scripted SMTP servers and a second estafeta listen, and
//! the sending side's scheduler delivering what its store queues. Every wait is on
//! observable state (the store, the servers' records), bounded in time.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use estafeta_store::{
    DeliveryOutcome, Notify, RecipientState, RecipientUpdate, RemoteRecipient, ReportKind, Ret, now,
};
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::scripted_smtp::{Action, Script, ScriptedSmtp};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

async fn scripted(last: u8, port: u16, script: Script) -> ScriptedSmtp {
    ScriptedSmtp::start_on(format!("127.0.0.{last}:{port}").parse().unwrap(), script).await
}

fn rcpt(address: &str, notify: Option<&str>) -> RemoteRecipient {
    RemoteRecipient {
        address: address.into(),
        orcpt: None,
        notify: notify.and_then(Notify::parse),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_domains_three_recipients_in_one_transaction() {
    let one = scripted(2, 0, Script::new()).await;
    let port = one.addr.port();
    let two = Receiver::start(
        format!("127.0.0.3:{port}").parse().unwrap(),
        "two.test",
        &["x@two.test"],
    )
    .await;
    let dns = TestDns::start(
        Records::new()
            .mx_at("one.test", ip(2))
            .mx_at("two.test", ip(3)),
    )
    .await;
    let s = Sender::start(&dns, port, Options::default()).await;
    s.queue(
        ANN,
        &["a@one.test", "b@one.test", "c@one.test", "x@two.test"],
        "two-domains",
    )
    .await;

    let got = wait_messages(&one, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].rcpts,
        vec![
            "RCPT TO:<a@one.test>",
            "RCPT TO:<b@one.test>",
            "RCPT TO:<c@one.test>"
        ]
    );
    assert!(
        got[0].mail.starts_with("MAIL FROM:<ann@example.com>"),
        "{}",
        got[0].mail
    );
    assert!(String::from_utf8_lossy(&got[0].body).contains("Subject: two-domains"));
    let sessions = one.sessions();
    assert_eq!(sessions.len(), 1, "one connection, one transaction");
    let rcpt_lines = sessions[0]
        .lines()
        .iter()
        .filter(|l| l.starts_with("RCPT"))
        .count();
    assert_eq!(rcpt_lines, 3);

    // the other domain went to the second estafeta, over STARTTLS
    let inbox = two.wait_inbox("x@two.test", 1).await;
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(text.contains("Subject: two-domains"), "{text}");
    assert!(text.contains("with ESMTPS"), "{text}");
    s.wait_empty().await;
    assert!(
        s.ann_inbox().await.is_empty(),
        "no report for delivered mail"
    );
}

/// Mail that comes one message at a time goes out over one connection: the worker keeps
/// it open a moment for the destination's next message (a connection cache), and sends
/// RSET before trusting it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_in_a_stream_share_one_connection() {
    let host = scripted(2, 0, Script::new()).await;
    let dns = TestDns::start(Records::new().mx_at("stream.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    for (n, subject) in ["first", "second", "third"].into_iter().enumerate() {
        s.queue(ANN, &["u@stream.test"], subject).await;
        wait_messages(&host, n + 1).await;
    }
    s.wait_empty().await;
    let sessions = host.sessions();
    assert_eq!(sessions.len(), 1, "one connection for the three");
    assert_eq!(mail_commands(&host), 3);
    let lines = sessions[0].lines();
    assert!(lines.contains(&"RSET"), "{lines:?}");
}

/// At the total connection limit, an idle connection gives its slot up to another
/// destination that has mail waiting, instead of holding it for its whole idle time
/// (here 5 minutes: without the hand-over the second message would wait that long).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_gives_its_slot_to_a_destination_waiting() {
    let first = scripted(2, 0, Script::new()).await;
    let port = first.addr.port();
    let second = scripted(3, port, Script::new()).await;
    let dns = TestDns::start(
        Records::new()
            .mx_at("first.test", ip(2))
            .mx_at("second.test", ip(3)),
    )
    .await;
    let s = Sender::start(
        &dns,
        port,
        Options::delivery("max_connections = 1\nconnection_cache_time = 300"),
    )
    .await;
    s.queue(ANN, &["u@first.test"], "to the first").await;
    wait_messages(&first, 1).await;
    s.queue(ANN, &["u@second.test"], "to the second").await;
    let got = wait_messages(&second, 1).await;
    assert!(String::from_utf8_lossy(&got[0].body).contains("Subject: to the second"));
    s.wait_empty().await;
    let lines = first.sessions()[0].lines().join(" ");
    assert!(
        lines.ends_with("QUIT"),
        "the idle one ended politely: {lines}"
    );
}

/// A connection the remote closed while it sat idle is found out by the RSET before the
/// next message, which goes over a new connection at once, never deferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closed_by_the_remote_is_replaced_without_a_deferral() {
    let host = scripted(
        2,
        0,
        Script::new().on(|c| {
            // the first RSET ends its session, as a server that closed an idle
            // connection would appear
            (c.verb == "RSET" && c.nth == 1).then_some(Action::Close)
        }),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("closing.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    s.queue(ANN, &["u@closing.test"], "first").await;
    wait_messages(&host, 1).await;
    s.queue(ANN, &["u@closing.test"], "second").await;
    let got = wait_messages(&host, 2).await;
    assert!(String::from_utf8_lossy(&got[1].body).contains("Subject: second"));
    s.wait_empty().await;
    let sessions = host.sessions();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0].lines().last(),
        Some(&"RSET"),
        "the idle session was tried"
    );
    s.store.flush_stats().await.expect("flush");
    let failures = s.store.recent_failures(10).await.expect("failures");
    assert!(failures.is_empty(), "nothing deferred: {failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_preference_order_and_fallback_when_the_first_refuses() {
    let mx2 = scripted(3, 0, Script::new()).await;
    let port = mx2.addr.port();
    let mx3 = scripted(4, port, Script::new()).await;
    // mx1 (127.0.0.2) has nobody listening: the connection is refused
    let dns = TestDns::start(
        Records::new()
            .mx("pref.test", 30, "mx3.pref.test")
            .mx("pref.test", 10, "mx1.pref.test")
            .mx("pref.test", 20, "mx2.pref.test")
            .a("mx1.pref.test", ip(2))
            .a("mx2.pref.test", ip(3))
            .a("mx3.pref.test", ip(4)),
    )
    .await;
    let s = Sender::start(&dns, port, Options::default()).await;
    s.queue(ANN, &["u@pref.test"], "preference").await;
    wait_messages(&mx2, 1).await;
    s.wait_empty().await;
    assert!(
        mx3.sessions().is_empty(),
        "the least preferred host is not needed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_when_there_is_no_mx() {
    let host = scripted(2, 0, Script::new()).await;
    let dns = TestDns::start(Records::new().a("plain.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    s.queue(ANN, &["u@plain.test"], "a-fallback").await;
    let got = wait_messages(&host, 1).await;
    assert_eq!(got[0].rcpts, vec!["RCPT TO:<u@plain.test>"]);
    s.wait_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_mx_fails_at_once_with_5_1_10() {
    let dns = TestDns::start(Records::new().null_mx("nomail.test")).await;
    let s = Sender::start(&dns, 2525, Options::default()).await;
    s.queue(ANN, &["u@nomail.test"], "null-mx").await;
    let inbox = s.wait_ann(1).await;
    let (human, status, _) = parse_dsn(&inbox[0]);
    assert!(
        status.contains("Final-Recipient: rfc822;u@nomail.test"),
        "{status}"
    );
    assert!(status.contains("Action: failed"), "{status}");
    assert!(status.contains("Status: 5.1.10"), "{status}");
    assert!(
        !status.contains("Remote-MTA"),
        "no host was contacted: {status}"
    );
    assert!(human.contains("null MX"), "{human}");
    s.wait_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failure_then_success_on_retry() {
    let host = scripted(
        2,
        0,
        Script::new().on(|c| {
            (c.verb == "RCPT" && c.nth == 1)
                .then(|| Action::Reply("451 4.7.1 greylisted, try again later".into()))
        }),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("grey.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    let id = s.queue(ANN, &["u@grey.test"], "greylisted").await;
    // first attempt: deferred, with the reply, the host and the next attempt kept
    let store = s.store.clone();
    let deferred = wait_for("the recipient to be deferred", || {
        let store = store.clone();
        let id = id.clone();
        async move {
            let m = store.queue_get(&id).await.ok()??;
            let r = m.recipients[0].clone();
            (r.state == RecipientState::Deferred).then_some((m, r))
        }
    })
    .await;
    let (m, r) = deferred;
    assert_eq!(r.attempts, 1);
    assert_eq!(
        r.last_reply.as_deref(),
        Some("451 4.7.1 greylisted, try again later")
    );
    assert!(
        r.last_host
            .as_deref()
            .is_some_and(|h| h.starts_with("mx.grey.test[127.0.0.2]:")),
        "{r:?}"
    );
    // one schedule step (1 s) after the attempt (its outcome is written a moment later)
    let last = r.last_attempt.expect("last attempt");
    assert!(
        (last..=last + 1).contains(&r.next_attempt) && last >= m.created_at,
        "{r:?}"
    );
    // then delivered at the retry, once
    let got = wait_messages(&host, 1).await;
    s.wait_empty().await;
    assert_eq!(got.len(), 1);
    // two transactions (the retry may reuse the idle connection of the first)
    assert_eq!(mail_commands(&host), 2);
    assert!(
        s.ann_inbox().await.is_empty(),
        "no report: NOTIFY=DELAY was not asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_bounces_a_dsn_that_parses() {
    let host = scripted(
        2,
        0,
        Script::new().on(|c| {
            (c.verb == "RCPT")
                .then(|| Action::Reply("550 5.1.1 <nobody@perm.test>: no such user".into()))
        }),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("perm.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    let full = s.queue(ANN, &["nobody@perm.test"], "returned-whole").await;
    let inbox = s.wait_ann(1).await;
    s.queue_with(
        ANN,
        vec![rcpt("nobody@perm.test", None)],
        "headers-only",
        Some(Ret::Headers),
    )
    .await;
    let inbox2 = s.wait_ann(2).await;
    s.wait_empty().await;

    let raw = &inbox[0];
    let text = String::from_utf8_lossy(raw);
    assert!(
        text.starts_with("Return-Path: <>\r\n"),
        "from the null sender: {text}"
    );
    assert!(
        text.contains("From: \"Mail Delivery System\" <MAILER-DAEMON@out.test>"),
        "{text}"
    );
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
    let (human, status, third) = parse_dsn(raw);
    assert!(
        human.contains("<nobody@perm.test>: host mx.perm.test[127.0.0.2]"),
        "{human}"
    );
    for field in [
        "Reporting-MTA: dns; out.test",
        &format!("Original-Envelope-Id: env-{full}"),
        "Final-Recipient: rfc822;nobody@perm.test",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.perm.test",
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@perm.test>: no such user",
        "Last-Attempt-Date: ",
    ] {
        assert!(status.contains(field), "{field} missing from:\n{status}");
    }
    assert_eq!(third, "message/rfc822");
    assert!(text.contains("Subject: returned-whole\r\n"), "{text}");
    assert_eq!(python_dsn(raw).await, "nobody@perm.test failed 5.1.1\n");

    // RET=HDRS: the header only
    let (_, _, third) = parse_dsn(&inbox2[1]);
    assert_eq!(third, "text/rfc822-headers");
    let text = String::from_utf8_lossy(&inbox2[1]);
    assert!(
        text.contains("Subject: headers-only") && !text.contains("a line with a dot"),
        "{text}"
    );
}

/// A process that stopped after recording a failure and before queuing the report it
/// owes (the two are separate transactions): the next start finds the report owed and
/// sends it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_owed_when_delivery_stopped_is_sent_at_the_next_start() {
    let mut s = Sender::open().await;
    let queue_id = s.queue(ANN, &["nobody@perm.test"], "owed").await;
    let store = s.store.clone();
    let leased = store.lease_due("gone-node", now(), 10, 60).await.unwrap();
    let failure = RecipientUpdate {
        recipient_id: leased[0].id,
        queue_id: queue_id.clone(),
        outcome: DeliveryOutcome::Failed {
            reply: "550 5.1.1 no such user".into(),
        },
        host: Some("mx.perm.test[127.0.0.2]:25".into()),
        report: Some(ReportKind::Failed),
    };
    let done = store.record_attempt("gone-node", &[failure]).await.unwrap();
    assert_eq!(done.owed, vec![queue_id.clone()], "the process stops here");

    let dns = TestDns::start(Records::new()).await;
    s.deliver(&dns, 25, Options::default()).await;
    let inbox = s.wait_ann(1).await;
    s.wait_empty().await;
    let (_, status, _) = parse_dsn(&inbox[0]);
    for field in [
        &format!("X-Estafeta-Queue-ID: {queue_id}"),
        "Final-Recipient: rfc822;nobody@perm.test",
        "Action: failed",
        "Status: 5.1.1",
    ] {
        assert!(status.contains(field), "{field} missing from:\n{status}");
    }
    assert_eq!(s.ann_inbox().await.len(), 1, "sent once");
    assert!(store.reports_owed(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_bounces_to_an_outside_sender() {
    let host = scripted(
        2,
        0,
        Script::new().on(|c| (c.verb == "RCPT").then(|| Action::Reply("451 4.3.0 not now".into()))),
    )
    .await;
    let port = host.addr.port();
    let bounce = Receiver::start(
        format!("127.0.0.3:{port}").parse().unwrap(),
        "bounce.test",
        &["bob@bounce.test"],
    )
    .await;
    let dns = TestDns::start(
        Records::new()
            .mx_at("slow.test", ip(2))
            .mx_at("bounce.test", ip(3)),
    )
    .await;
    let s = Sender::start(&dns, port, Options::delivery("max_queue_time = 2")).await;
    s.queue("bob@bounce.test", &["u@slow.test"], "expires")
        .await;
    let inbox = bounce.wait_inbox("bob@bounce.test", 1).await;
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(
        text.starts_with("Return-Path: <>\r\n"),
        "sent from <>: {text}"
    );
    let (_, status, _) = parse_dsn(&inbox[0]);
    assert!(status.contains("Action: failed"), "{status}");
    assert!(status.contains("Status: 4.4.7"), "{status}");
    assert!(status.contains("expired"), "{status}");
    assert!(
        status.contains("451 4.3.0 not now"),
        "the last error is kept: {status}"
    );
    s.wait_empty().await;
    assert!(mail_commands(&host) >= 2, "retried before expiring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_sender_is_never_bounced() {
    let host = scripted(
        2,
        0,
        Script::new()
            .on(|c| (c.verb == "RCPT").then(|| Action::Reply("550 5.1.1 no such user".into()))),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("perm.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    s.queue("", &["nobody@perm.test"], "a-bounce-itself").await;
    wait_for("the RCPT to be refused", || {
        std::future::ready(
            host.sessions()
                .iter()
                .any(|s| s.lines().iter().any(|l| l.starts_with("RCPT")))
                .then_some(()),
        )
    })
    .await;
    s.wait_empty().await;
    assert!(s.ann_inbox().await.is_empty());
    assert!(
        s.store.queue_list().await.unwrap().is_empty(),
        "no report queued"
    );
    let lines = host.sessions()[0]
        .lines()
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>();
    assert!(
        lines.iter().any(|l| l.starts_with("MAIL FROM:<> ")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rcpt_refused_among_three() {
    let host = scripted(
        2,
        0,
        Script::new().on(|c| {
            (c.verb == "RCPT" && c.arg.contains("<b@"))
                .then(|| Action::Reply("550 5.1.1 <b@three.test>: no such user".into()))
        }),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("three.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    s.queue(
        ANN,
        &["a@three.test", "b@three.test", "c@three.test"],
        "one-refused",
    )
    .await;
    let inbox = s.wait_ann(1).await;
    s.wait_empty().await;
    let got = host.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].rcpts,
        vec!["RCPT TO:<a@three.test>", "RCPT TO:<c@three.test>"]
    );
    assert_eq!(python_dsn(&inbox[0]).await, "b@three.test failed 5.1.1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_success_gets_a_relayed_report_and_never_gets_none() {
    let host = scripted(
        2,
        0,
        Script::new().without("DSN").on(|c| {
            (c.verb == "RCPT" && c.arg.contains("<quiet@"))
                .then(|| Action::Reply("550 5.1.1 no such user".into()))
        }),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("nodsn.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    s.queue_with(
        ANN,
        vec![
            rcpt("quiet@nodsn.test", Some("NEVER")),
            rcpt("loud@nodsn.test", Some("SUCCESS,FAILURE")),
        ],
        "notify",
        None,
    )
    .await;
    let inbox = s.wait_ann(1).await;
    s.wait_empty().await;
    assert_eq!(inbox.len(), 1, "nothing for NOTIFY=NEVER");
    let (human, status, third) = parse_dsn(&inbox[0]);
    assert!(
        status.contains("Final-Recipient: rfc822;loud@nodsn.test"),
        "{status}"
    );
    assert!(status.contains("Action: relayed"), "{status}");
    assert!(status.contains("Status: 2.0.0"), "{status}");
    assert!(!status.contains("quiet@"), "{status}");
    assert!(human.contains("does not report delivery status"), "{human}");
    assert_eq!(third, "text/rfc822-headers");
    assert!(
        String::from_utf8_lossy(&inbox[0]).contains("Subject: Successful Mail Delivery Report")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_delay_gets_one_delayed_report() {
    let host = scripted(
        2,
        0,
        Script::new()
            .on(|c| (c.verb == "RCPT").then(|| Action::Reply("452 4.2.2 mailbox full".into()))),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("full.test", ip(2))).await;
    let s = Sender::start(
        &dns,
        host.addr.port(),
        Options::delivery("delay_warning = 1"),
    )
    .await;
    let id = s
        .queue_with(
            ANN,
            vec![rcpt("u@full.test", Some("DELAY,FAILURE"))],
            "delayed",
            None,
        )
        .await;
    let inbox = s.wait_ann(1).await;
    let (_, status, third) = parse_dsn(&inbox[0]);
    assert!(status.contains("Action: delayed"), "{status}");
    assert!(status.contains("Status: 4.2.2"), "{status}");
    assert!(status.contains("Will-Retry-Until: "), "{status}");
    assert_eq!(third, "text/rfc822-headers");
    // more attempts, no second "delayed" report
    let store = s.store.clone();
    wait_for("two more attempts", || {
        let store = store.clone();
        let id = id.clone();
        async move {
            let m = store.queue_get(&id).await.ok()??;
            (m.recipients[0].attempts >= 4).then_some(())
        }
    })
    .await;
    assert_eq!(s.ann_inbox().await.len(), 1);
    let r = &s.queued(&id).await.unwrap().recipients[0];
    assert!(r.delay_reported && r.report.is_none(), "{r:?}");
}

/// The relay's password from a file, AUTH PLAIN over implicit TLS (465), with the
/// certificate check explicitly turned off (`tls_verify = false`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_with_auth_over_implicit_tls() {
    let relay = scripted(
        2,
        0,
        Script {
            implicit_tls: true,
            auth: Some(("relayuser".into(), "s3cret pass".into())),
            ..Script::new()
        },
    )
    .await;
    let dns = TestDns::start(Records::new()).await; // no records: MX is never asked
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("relay.password");
    std::fs::write(&pw, "s3cret pass\n").unwrap();
    let tables = format!(
        "[delivery.smarthost]\nhost = \"127.0.0.2\"\nport = {}\ntls = \"implicit\"\nusername = \"relayuser\"\npassword_file = \"{}\"\ntls_verify = false\n",
        relay.addr.port(),
        pw.display()
    );
    let s = Sender::start(&dns, 25, Options::tables(&tables)).await;
    s.queue(ANN, &["x@far.test", "y@other.test"], "via-465")
        .await;
    let got = wait_messages(&relay, 1).await;
    s.wait_empty().await;
    assert_eq!(
        got[0].rcpts.len(),
        2,
        "every domain through the smarthost, in one transaction"
    );
    let session = &relay.sessions()[0];
    assert!(session.tls);
    assert_eq!(session.user.as_deref(), Some("relayuser"));
    assert!(
        session.lines().iter().any(|l| l.starts_with("AUTH PLAIN")),
        "{:?}",
        session.lines()
    );
}

/// STARTTLS required (587), AUTH LOGIN, and the relay's certificate checked against a CA
/// file (its name in DNS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_with_auth_over_starttls() {
    let relay = scripted(
        2,
        0,
        Script {
            starttls: true,
            auth: Some(("relayuser".into(), "pw".into())),
            ..Script::new()
        },
    )
    .await;
    let dns = TestDns::start(Records::new().a("scripted.test", ip(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, relay.certificate_pem()).unwrap();
    let tables = format!(
        "[delivery.smarthost]\nhost = \"scripted.test\"\nport = {}\ntls = \"starttls\"\nusername = \"relayuser\"\npassword = \"pw\"\nauth_mechanism = \"login\"\nca_file = \"{}\"\n",
        relay.addr.port(),
        ca.display()
    );
    let s = Sender::start(&dns, 25, Options::tables(&tables)).await;
    s.queue(ANN, &["x@far.test"], "via-587").await;
    wait_messages(&relay, 1).await;
    s.wait_empty().await;
    let session = &relay.sessions()[0];
    assert!(session.tls);
    assert_eq!(session.user.as_deref(), Some("relayuser"));
    let lines = session.lines();
    let starttls = lines
        .iter()
        .position(|l| *l == "STARTTLS")
        .expect("STARTTLS");
    let auth = lines
        .iter()
        .position(|l| l.starts_with("AUTH LOGIN"))
        .expect("AUTH LOGIN");
    assert!(starttls < auth, "{lines:?}");
}

/// By default the relay's certificate is checked against the system's roots: a relay with
/// a self-signed certificate (a server in the middle, as far as we can tell) is not used,
/// the password never goes to it, and the recipient is deferred with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_with_a_certificate_nobody_vouches_for_gets_no_password() {
    for tls in ["starttls", "implicit", "opportunistic"] {
        let relay = scripted(
            2,
            0,
            Script {
                starttls: tls != "implicit",
                implicit_tls: tls == "implicit",
                auth: Some(("relayuser".into(), "pw".into())),
                ..Script::new()
            },
        )
        .await;
        let dns = TestDns::start(Records::new().a("scripted.test", ip(2))).await;
        let tables = format!(
            "[delivery.smarthost]\nhost = \"scripted.test\"\nport = {}\ntls = \"{tls}\"\nusername = \"relayuser\"\npassword = \"pw\"\n",
            relay.addr.port(),
        );
        let s = Sender::start(&dns, 25, Options::tables(&tables)).await;
        let id = s.queue(ANN, &["x@far.test"], "not-via-mitm").await;
        let r = s.wait_deferred(&id).await;
        let reply = r.last_reply.clone().unwrap_or_default();
        assert!(reply.to_lowercase().contains("certificate"), "{tls}: {r:?}");
        assert!(relay.messages().is_empty(), "{tls}");
        for session in relay.sessions() {
            assert!(
                !session.lines().iter().any(|l| l.starts_with("AUTH")),
                "{tls}: {:?}",
                session.lines()
            );
            assert!(session.user.is_none(), "{tls}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_mid_data_is_deferred_then_delivered_once() {
    let first = scripted(
        2,
        0,
        Script {
            drop_mid_data: true,
            ..Script::new()
        },
    )
    .await;
    let addr = first.addr;
    let dns = TestDns::start(Records::new().mx_at("drop.test", ip(2))).await;
    let s = Sender::start(&dns, addr.port(), Options::default()).await;
    let id = s.queue(ANN, &["u@drop.test"], "dropped").await;
    let r = s.wait_deferred(&id).await;
    assert!(
        r.last_reply
            .as_deref()
            .is_some_and(|x| x.starts_with("4.4.2 mx.drop.test[127.0.0.2]")),
        "{r:?}"
    );
    assert!(first.messages().is_empty());
    drop(first);
    let second = ScriptedSmtp::start_on(addr, Script::new()).await;
    wait_messages(&second, 1).await;
    s.wait_empty().await;
    assert_eq!(second.messages().len(), 1, "delivered exactly once");
    assert!(s.ann_inbox().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_pointing_at_ourselves_fails_as_a_loop() {
    let other = scripted(3, 0, Script::new()).await;
    let port = other.addr.port();
    let dns = TestDns::start(
        Records::new()
            // an MX whose address is one we listen on (every address, this port)
            .mx_at("loop.test", ip(2))
            // an MX named as we are
            .mx("self.test", 10, HOSTNAME)
            // we are the best MX; the backup must not get it (it would send it back)
            .mx("backup.test", 10, "mx.loop.test")
            .mx("backup.test", 20, "mx.other.test")
            .a("mx.other.test", ip(3)),
    )
    .await;
    let s = Sender::start(
        &dns,
        port,
        Options {
            own: vec![format!("0.0.0.0:{port}").parse().unwrap()],
            ..Options::default()
        },
    )
    .await;
    s.queue(
        ANN,
        &["a@loop.test", "b@self.test", "c@backup.test"],
        "loops",
    )
    .await;
    let inbox = s.wait_ann(1).await;
    s.wait_empty().await;
    assert_eq!(inbox.len(), 1, "one report for the message");
    let (human, status, _) = parse_dsn(&inbox[0]);
    for who in ["a@loop.test", "b@self.test", "c@backup.test"] {
        assert!(
            status.contains(&format!("Final-Recipient: rfc822;{who}")),
            "{status}"
        );
    }
    assert_eq!(status.matches("Status: 5.4.6").count(), 3, "{status}");
    assert!(human.contains("loops back to myself"), "{human}");
    assert!(other.sessions().is_empty(), "never handed to a backup MX");
}

/// A message with more Received: fields than `smtp.max_hops` (50) is a loop: it is never
/// sent, its recipient fails with 5.4.6 and the sender gets a report. Fields in the body
/// do not count, and 50 in the header pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_hops_fails_with_5_4_6_and_is_never_sent() {
    let host = scripted(2, 0, Script::new()).await;
    let dns = TestDns::start(Records::new().mx_at("far.test", ip(2))).await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    let received = |n: usize| {
        "Received: from a.test by b.test;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n".repeat(n)
    };
    let fifty = format!(
        "{}{}Received: in the body, not counted\r\n{}",
        received(50),
        message(ANN, "fifty"),
        received(20)
    );
    s.queue_body(ANN, vec![rcpt("ok@far.test", None)], fifty, None)
        .await;
    let sent = wait_messages(&host, 1).await;
    assert!(
        sent[0].rcpts[0].contains("ok@far.test"),
        "{:?}",
        sent[0].rcpts
    );

    let looped = format!("{}{}", received(51), message(ANN, "fifty-one"));
    let id = s
        .queue_body(ANN, vec![rcpt("loop@far.test", None)], looped, None)
        .await;
    let inbox = s.wait_ann(1).await;
    s.wait_empty().await;
    let (human, status, _) = parse_dsn(&inbox[0]);
    for field in [
        "Final-Recipient: rfc822;loop@far.test",
        "Action: failed",
        "Status: 5.4.6",
    ] {
        assert!(status.contains(field), "{field} missing from:\n{status}");
    }
    assert!(
        !status.contains("Remote-MTA"),
        "no host was asked: {status}"
    );
    assert!(human.contains("too many hops"), "{human}");
    assert!(String::from_utf8_lossy(&inbox[0]).contains(&id));
    assert_eq!(host.sessions().len(), 1, "the loop was never sent");
    assert_eq!(host.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_and_reuse() {
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (o, m) = (open.clone(), most.clone());
    let host = scripted(
        2,
        0,
        Script::new().on(move |c| {
            match c.verb.as_str() {
                "EHLO" => {
                    let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                }
                "QUIT" => {
                    o.fetch_sub(1, Ordering::SeqCst);
                }
                _ => {}
            }
            None
        }),
    )
    .await;
    let dns = TestDns::start(Records::new().mx_at("busy.test", ip(2))).await;
    let s = Sender::start(
        &dns,
        host.addr.port(),
        Options::delivery("max_connections_per_destination = 2\nmax_messages_per_connection = 3"),
    )
    .await;
    for i in 0..9 {
        s.queue(ANN, &[&format!("u{i}@busy.test")], &format!("m{i}"))
            .await;
    }
    wait_messages(&host, 9).await;
    s.wait_empty().await;
    let sessions = host.sessions();
    assert!(sessions.len() >= 3, "{} sessions", sessions.len());
    for session in &sessions {
        assert!(
            session.messages.len() <= 3,
            "at most 3 messages per connection"
        );
        if session.messages.len() > 1 {
            assert!(
                session.lines().contains(&"RSET"),
                "reused with RSET: {:?}",
                session.lines()
            );
        }
    }
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "at most 2 connections at once"
    );
}

/// Mail an alias forwarded left with an SRS sender; when the far end refuses it, our
/// report goes to the original sender, not to the SRS address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_about_forwarded_mail_goes_to_the_original_sender() {
    let host = scripted(
        2,
        0,
        Script::new().on(|c| {
            (c.verb == "RCPT" && c.arg.contains("@perm.test"))
                .then(|| Action::Reply("550 5.1.1 no such user".into()))
        }),
    )
    .await;
    let dns = TestDns::start(
        Records::new()
            .mx_at("perm.test", ip(2))
            .mx_at("outside.test", ip(2)),
    )
    .await;
    let s = Sender::start(&dns, host.addr.port(), Options::default()).await;
    let srs =
        estafeta_trust::srs::sender_for_forwarding(&*s.store, "alice@outside.test", "example.com")
            .await
            .unwrap();
    assert!(srs.starts_with("SRS0="), "{srs}");
    s.queue(&srs, &["nobody@perm.test"], "forwarded").await;
    let got = wait_messages(&host, 1).await;
    assert_eq!(got[0].rcpts, vec!["RCPT TO:<alice@outside.test>"]);
    assert!(
        String::from_utf8_lossy(&got[0].body).contains("nobody@perm.test"),
        "the report names the refused recipient"
    );
    s.wait_empty().await;
}

/// The MAIL commands a host received, over all its connections.
fn mail_commands(host: &ScriptedSmtp) -> usize {
    host.sessions()
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| l.to_ascii_uppercase().starts_with("MAIL FROM"))
        .count()
}
