//! The inbound SMTP server end to end over real sockets: raw protocol exchanges, lettre,
//! and Python's smtplib; assertions on replies and on what the mailboxes hold.

mod common;

use common::{BOB_PASSWORD, Client, HOST, Harness};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sends one message over an open session; returns the reply to the end of data.
async fn transaction(c: &mut Client, from: &str, to: &[&str], body: &str) -> String {
    let r = c.cmd(&format!("MAIL FROM:<{from}>")).await;
    assert!(r.starts_with("250"), "MAIL: {r}");
    for rcpt in to {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        assert!(r.starts_with("250"), "RCPT {rcpt}: {r}");
    }
    let r = c.cmd("DATA").await;
    assert!(r.starts_with("354"), "DATA: {r}");
    c.send(body).await;
    c.send(".\r\n").await;
    c.reply().await
}

fn lettre_message(from: &str, to: &str, subject: &str) -> Message {
    Message::builder()
        .from(from.parse::<Mailbox>().unwrap())
        .to(to.parse::<Mailbox>().unwrap())
        .subject(subject)
        .body(format!("body of {subject}\r\n"))
        .unwrap()
}

fn tls_params() -> TlsParameters {
    TlsParameters::builder(HOST.to_string())
        .dangerous_accept_invalid_certs(true)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_delivery_on_port_25_with_exact_bytes() {
    let h = Harness::start().await;
    let (mut c, greeting) = Client::connect(h.mx).await;
    assert!(greeting.starts_with("220 mail.test ESMTP"), "{greeting}");
    let ehlo = c.cmd("EHLO client.test").await;
    for ext in [
        "PIPELINING",
        "SIZE 26214400",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "DSN",
        "STARTTLS",
    ] {
        assert!(ehlo.contains(ext), "EHLO lacks {ext}: {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "no AUTH before TLS: {ehlo}");
    let body = "From: sender@outside.test\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nline one\r\n..leading dot\r\n";
    let r = transaction(&mut c, "sender@outside.test", &["bob@example.com"], body).await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let queue_id = r.trim_end().rsplit(' ').next().unwrap().to_string();
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");

    let inbox = h.inbox_text("bob@example.com").await;
    assert_eq!(inbox.len(), 1);
    let m = &inbox[0];
    let (received, original) = m.split_at(m.find("From: sender@outside.test").unwrap());
    assert!(
        received.starts_with(
            "Return-Path: <sender@outside.test>\r\nReceived: from client.test ([127.0.0.1])\r\n"
        ),
        "{received}"
    );
    assert!(
        received.contains(&format!(
            "\tby mail.test (estafeta) with ESMTP id {queue_id}"
        )),
        "{received}"
    );
    assert!(received.contains("\tfor <bob@example.com>;"), "{received}");
    assert!(!received.contains("using TLS"), "{received}");
    // what was sent, dot-unstuffed, and nothing else
    assert_eq!(original, body.replace("\r\n..", "\r\n."));
    // MX does not add Message-ID or Date
    assert!(!m.contains("Message-ID:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_sender_vrfy_help_noop() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    assert!(c.cmd("VRFY bob@example.com").await.starts_with("252"));
    assert!(c.cmd("EXPN team@example.com").await.starts_with("252"));
    assert!(c.cmd("HELP").await.starts_with("214"));
    assert!(c.cmd("NOOP").await.starts_with("250 2.0.0"));
    let r = transaction(
        &mut c,
        "",
        &["bob@example.com"],
        "Subject: bounce\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(h.inbox_text("bob@example.com").await[0].starts_with("Return-Path: <>\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_auth_on_submission_ports_with_lettre() {
    let h = Harness::start().await;
    for (i, port) in [h.submission.port(), h.submission_alt.port()]
        .into_iter()
        .enumerate()
    {
        let mailer: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(port)
                .tls(Tls::Required(tls_params()))
                .credentials(Credentials::new(
                    "bob@example.com".into(),
                    BOB_PASSWORD.into(),
                ))
                .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
                    "laptop.test".into(),
                ))
                .build();
        let subject = format!("via submission {i}");
        let response = mailer
            .send(lettre_message(
                "Bob <bob@example.com>",
                "ann@example.com",
                &subject,
            ))
            .await
            .expect("lettre send");
        assert!(response.is_positive());
    }
    let inbox = h.inbox_text("ann@example.com").await;
    assert_eq!(inbox.len(), 2);
    let m = &inbox[0];
    assert!(m.contains("Subject: via submission 0"));
    assert!(m.contains("with ESMTPSA id "), "{m}");
    assert!(m.contains("(using TLSv1.3 with cipher TLS13_"), "{m}");
    assert!(
        !m.contains("authenticated sender"),
        "the user is not named by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_on_465_with_lettre_relays_to_remote() {
    let h = Harness::start().await;
    let mailer: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(h.submissions.port())
            .tls(Tls::Wrapper(tls_params()))
            .credentials(Credentials::new(
                "bob@example.com".into(),
                BOB_PASSWORD.into(),
            ))
            .build();
    mailer
        .send(lettre_message(
            "bob@example.com",
            "friend@remote.test",
            "to the world",
        ))
        .await
        .expect("send over implicit TLS");
    let queue = h.store.queue_list().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].sender, "bob@example.com");
    assert_eq!(queue[0].recipients[0].address, "friend@remote.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_refused_before_tls_and_mail_before_auth() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.submission).await;
    let ehlo = c.cmd("EHLO laptop.test").await;
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    let r = c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    assert!(r.starts_with("538 5.7.11"), "{r}");
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("530 5.7.0")
    );
    // after STARTTLS, AUTH is offered and works; wrong password first
    let mut c = c.starttls().await;
    let ehlo = c.cmd("EHLO laptop.test").await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("530 5.7.0")
    );
    assert!(
        c.auth_plain("bob@example.com", "wrong")
            .await
            .starts_with("535 5.7.8")
    );
    assert!(
        c.auth_plain("bob@example.com", BOB_PASSWORD)
            .await
            .starts_with("235 2.7.0")
    );
    assert!(
        c.auth_plain("bob@example.com", BOB_PASSWORD)
            .await
            .starts_with("503 5.5.1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_login_works() {
    let h = Harness::start().await;
    let (c, _) = Client::connect(h.submission).await;
    let mut c = c.starttls().await;
    c.cmd("EHLO laptop.test").await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd("Ym9iQGV4YW1wbGUuY29t").await, "334 UGFzc3dvcmQ6\r\n"); // bob@example.com
    assert!(c.cmd("Ym9iLXBhc3N3b3Jk").await.starts_with("235 2.7.0")); // bob-password
    // PLAIN without an initial response, and a cancelled exchange
    let (c, _) = Client::connect(h.submission).await;
    let mut c = c.starttls().await;
    c.cmd("EHLO laptop.test").await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert!(c.cmd("*").await.starts_with("501 5.0.0"));
    assert!(c.cmd("AUTH CRAM-MD5").await.starts_with("504 5.5.4"));
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    // "\0bob@example.com\0bob-password"
    assert!(
        c.cmd("AGJvYkBleGFtcGxlLmNvbQBib2ItcGFzc3dvcmQ=")
            .await
            .starts_with("235 2.7.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_denied_without_auth_allowed_with_it() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO other-mta.test").await;
    c.cmd("MAIL FROM:<someone@outside.test>").await;
    let r = c.cmd("RCPT TO:<victim@elsewhere.test>").await;
    assert_eq!(
        r,
        "554 5.7.1 <victim@elsewhere.test>: Relay access denied\r\n"
    );
    // local recipients still fine in the same transaction
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250"));
    // authenticated (after STARTTLS on port 25), relaying is allowed
    c.cmd("RSET").await;
    let mut c = c.starttls().await;
    c.cmd("EHLO laptop.test").await;
    assert!(
        c.auth_plain("bob@example.com", BOB_PASSWORD)
            .await
            .starts_with("235")
    );
    let r = transaction(
        &mut c,
        "bob@example.com",
        &["victim@elsewhere.test"],
        "Subject: ok\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(h.store.queue_list().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_network_may_relay() {
    let h = Harness::with(|c| c.smtp.trusted_networks = vec!["127.0.0.0/8".into()]).await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO crm.internal").await;
    let r = transaction(
        &mut c,
        "crm@example.com",
        &["customer@elsewhere.test"],
        "Subject: invoice\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_must_belong_to_the_user() {
    let h = Harness::start().await;
    let (c, _) = Client::connect(h.submission).await;
    let mut c = c.starttls().await;
    c.cmd("EHLO laptop.test").await;
    c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    let r = c.cmd("MAIL FROM:<ann@example.com>").await;
    assert_eq!(
        r,
        "553 5.7.1 <ann@example.com>: Sender address rejected: not owned by user bob@example.com\r\n"
    );
    let r = c.cmd("MAIL FROM:<ceo@bank.test>").await;
    assert!(r.starts_with("553 5.7.1"), "{r}");
    for own in [
        "bob@example.com",
        "Bob+news@Example.com",
        "bob.alias@example.com",
        "team@example.com",
        "",
    ] {
        let r = c.cmd(&format!("MAIL FROM:<{own}>")).await;
        assert!(r.starts_with("250 2.1.0"), "{own}: {r}");
        c.cmd("RSET").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_bad_addresses() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    assert!(
        c.cmd("MAIL FROM:<a@outside.test>")
            .await
            .starts_with("503 5.5.1"),
        "EHLO first"
    );
    c.cmd("EHLO other-mta.test").await;
    assert!(
        c.cmd("RCPT TO:<bob@example.com>")
            .await
            .starts_with("503 5.5.1"),
        "MAIL first"
    );
    assert!(c.cmd("MAIL FROM:<a@outside.test>").await.starts_with("250"));
    assert!(
        c.cmd("MAIL FROM:<a@outside.test>")
            .await
            .starts_with("503 5.5.1"),
        "nested MAIL"
    );
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.com>").await,
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n"
    );
    assert!(c.cmd("RCPT TO:<no-at-sign>").await.starts_with("501 5.1.3"));
    assert!(
        c.cmd("DATA").await.starts_with("554 5.5.1"),
        "no valid recipients"
    );
    assert!(c.cmd("BOGUS command").await.starts_with("500 5.5.1"));
    assert!(c.cmd("NOOP").await.starts_with("250"), "still usable");
    // plus-addressing, aliases and case
    assert!(
        c.cmd("RCPT TO:<Bob+Lists@EXAMPLE.com>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<team@example.com>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: to the team\r\n\r\nhi\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    assert_eq!(
        h.inbox("bob@example.com").await.len(),
        1,
        "bob once, though addressed twice"
    );
    assert_eq!(h.inbox("ann@example.com").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_too_big_both_ways() {
    let h = Harness::with(|c| c.smtp.max_message_size = 10_000).await;
    let (mut c, _) = Client::connect(h.mx).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.contains("SIZE 10000"), "{ehlo}");
    let r = c.cmd("MAIL FROM:<a@outside.test> SIZE=20000").await;
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert!(
        c.cmd("MAIL FROM:<a@outside.test> SIZE=5000")
            .await
            .starts_with("250")
    );
    c.cmd("RCPT TO:<bob@example.com>").await;
    c.cmd("DATA").await;
    let line = "x".repeat(99);
    for _ in 0..200 {
        c.send(&format!("{line}\r\n")).await;
    }
    c.send(".\r\n").await;
    assert!(c.reply().await.starts_with("552 5.3.4"));
    // the session goes on and a small message passes
    let r = transaction(
        &mut c,
        "a@outside.test",
        &["bob@example.com"],
        "Subject: small\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_recipients() {
    let h = Harness::with(|c| c.smtp.max_recipients = 2).await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@outside.test>").await;
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<ann@example.com>").await.starts_with("250"));
    assert_eq!(
        c.cmd("RCPT TO:<team@example.com>").await,
        "452 4.5.3 Error: too many recipients\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_too_long() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd(&format!("NOOP {}", "a".repeat(600))).await;
    assert_eq!(r, "500 5.5.2 Error: line too long\r\n");
    let r = c
        .cmd(&format!("MAIL FROM:<{}@outside.test>", "a".repeat(2000)))
        .await;
    assert!(r.starts_with("500 5.5.2"), "{r}");
    assert!(
        c.cmd("NOOP").await.starts_with("250"),
        "connection still usable"
    );
    // a text line over 1000 octets in DATA
    c.cmd("MAIL FROM:<a@outside.test>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    c.cmd("DATA").await;
    c.send(&format!(
        "Subject: long\r\n\r\n{}\r\n.\r\n",
        "y".repeat(1200)
    ))
    .await;
    assert!(c.reply().await.starts_with("500 5.5.2"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(h.inbox("bob@example.com").await.is_empty());
    // 998 octets plus CRLF is the limit, and a transparency dot does not count
    let r = transaction(
        &mut c,
        "a@outside.test",
        &["bob@example.com"],
        &format!(
            "Subject: limit\r\n\r\n{}\r\n.{}\r\n",
            "z".repeat(998),
            ".".repeat(998)
        ),
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let m = &h.inbox_text("bob@example.com").await[0];
    assert!(m.ends_with(&format!("\r\n{}\r\n", ".".repeat(998))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_with_bare_lf_yields_no_message() {
    let h = Harness::start().await;
    for (form, terminator) in [("\\n.\\n", "\n.\n"), ("\\r\\n.\\n", "\r\n.\n")] {
        let (mut c, _) = Client::connect(h.mx).await;
        c.cmd("EHLO attacker.test").await;
        c.cmd("MAIL FROM:<attacker@outside.test>").await;
        c.cmd("RCPT TO:<bob@example.com>").await;
        assert!(c.cmd("DATA").await.starts_with("354"));
        // a first message, a fake end, and a smuggled second transaction behind it
        let payload = format!(
            "Subject: innocent\r\n\r\nhello{terminator}MAIL FROM:<ceo@example.com>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
        );
        c.send(&payload).await;
        let r = c.reply().await;
        assert!(r.starts_with("550 5.6.0"), "{form}: {r}");
        // nothing else is pending: the next reply answers NOOP
        assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n", "{form}");
    }
    assert!(h.inbox("bob@example.com").await.is_empty());
    assert!(
        h.inbox("ann@example.com").await.is_empty(),
        "no smuggled message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_cr_and_nul_are_refused() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    for (body, what) in [
        ("Subject: a\r\n\r\nbare\rcr\r\n", "bare CR"),
        ("Subject: a\r\n\r\nnul\0byte\r\n", "NUL"),
    ] {
        c.cmd("MAIL FROM:<a@outside.test>").await;
        c.cmd("RCPT TO:<bob@example.com>").await;
        c.cmd("DATA").await;
        c.send(body).await;
        c.send(".\r\n").await;
        let r = c.reply().await;
        assert!(r.starts_with("550 5.6.0"), "{what}: {r}");
    }
    assert!(h.inbox("bob@example.com").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_transaction_with_one_bad_recipient() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    c.send("MAIL FROM:<a@outside.test>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<ghost@example.com>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\n").await;
    let mut replies = Vec::new();
    for _ in 0..5 {
        replies.push(c.reply().await);
    }
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(
        codes,
        vec!["250", "250", "550", "250", "354"],
        "{replies:?}"
    );
    c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.reply().await.starts_with("221"));
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);
    let ann = h.inbox_text("ann@example.com").await;
    assert_eq!(ann.len(), 1);
    assert!(
        !ann[0].contains("\tfor <"),
        "several recipients: no `for` clause"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdat_in_several_chunks() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@outside.test>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let parts = [
        "Subject: chunked\r\n",
        "\r\nfirst part, ",
        "second part\r\n",
    ];
    for (i, p) in parts.iter().enumerate() {
        let last = if i == parts.len() - 1 { " LAST" } else { "" };
        c.send(&format!("BDAT {}{last}\r\n{p}", p.len())).await;
        let r = c.reply().await;
        if last.is_empty() {
            assert_eq!(r, format!("250 2.0.0 {} octets received\r\n", p.len()));
        } else {
            assert!(r.starts_with("250 2.0.0 Ok: queued as"), "{r}");
        }
    }
    // BDAT without MAIL: the chunk is consumed, not taken as commands
    c.send("BDAT 6 LAST\r\nNOOP\r\n").await;
    assert!(c.reply().await.starts_with("503 5.5.1"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    let inbox = h.inbox_text("bob@example.com").await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].ends_with("Subject: chunked\r\n\r\nfirst part, second part\r\n"),
        "{}",
        inbox[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rset_clears_the_transaction() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@outside.test>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok\r\n");
    assert!(c.cmd("DATA").await.starts_with("503 5.5.1"));
    assert!(
        c.cmd("RCPT TO:<bob@example.com>")
            .await
            .starts_with("503 5.5.1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_with_421() {
    let h = Harness::with(|c| c.smtp.idle_timeout = 1).await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    // say nothing: the server speaks first, then closes
    let r = c.reply().await;
    assert_eq!(r, "421 4.4.2 mail.test Error: timeout exceeded\r\n");
    assert_eq!(c.reply().await, "", "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_errors_disconnects() {
    let h = Harness::with(|c| c.smtp.max_errors = 3).await;
    let (mut c, _) = Client::connect(h.mx).await;
    assert!(c.cmd("BAD1").await.starts_with("500"));
    assert!(c.cmd("BAD2").await.starts_with("500"));
    let r = c.cmd("BAD3").await;
    assert!(r.starts_with("500"), "{r}");
    assert_eq!(
        c.reply().await,
        "421 4.7.0 mail.test Error: too many errors\r\n"
    );
    assert_eq!(c.reply().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_per_ip() {
    let h = Harness::with(|c| c.smtp.max_connections_per_ip = 1).await;
    let (_first, greeting) = Client::connect(h.mx).await;
    assert!(greeting.starts_with("220"));
    let (_second, refused) = Client::connect(h.mx).await;
    assert_eq!(
        refused,
        "421 4.7.0 mail.test Error: too many connections from your address, try again later\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_auth_is_throttled_then_blocked() {
    let h = Harness::with(|c| c.auth.max_failures = 2).await;
    let (c, _) = Client::connect(h.submission).await;
    let mut c = c.starttls().await;
    c.cmd("EHLO laptop.test").await;
    assert!(
        c.auth_plain("bob@example.com", "guess1")
            .await
            .starts_with("535 5.7.8")
    );
    assert!(
        c.auth_plain("bob@example.com", "guess2")
            .await
            .starts_with("535 5.7.8")
    );
    // blocked now, even with the right password, from this address
    let r = c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    assert_eq!(
        r,
        "454 4.7.0 Too many failed authentication attempts, try again later\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pipelined_after_starttls_are_discarded() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    // the injected MAIL would be answered on the TLS side if it were kept
    c.send("STARTTLS\r\nMAIL FROM:<injected@outside.test>\r\n")
        .await;
    assert!(c.reply().await.starts_with("220 2.0.0"));
    let mut c = c.upgrade().await;
    // state was reset: MAIL needs EHLO again, and no stray reply precedes this one
    assert!(
        c.cmd("MAIL FROM:<a@outside.test>")
            .await
            .starts_with("503 5.5.1 Error: send HELO/EHLO first")
    );
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(c.cmd("STARTTLS").await.starts_with("503 5.5.1"));
    let r = transaction(
        &mut c,
        "a@outside.test",
        &["bob@example.com"],
        "Subject: tls\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let m = &h.inbox_text("bob@example.com").await[0];
    assert!(m.contains("with ESMTPS id"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_adds_message_id_and_date_when_missing() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect_tls(h.submissions).await;
    c.cmd("EHLO app.test").await;
    c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    let r = transaction(
        &mut c,
        "bob@example.com",
        &["ann@example.com"],
        "Subject: from a form\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let r = transaction(
        &mut c,
        "bob@example.com",
        &["ann@example.com"],
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <mine@bob>\r\nSubject: complete\r\n\r\nx\r\n",
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let inbox = h.inbox_text("ann@example.com").await;
    assert!(
        inbox[0].contains("\r\nDate: ") && inbox[0].contains("\r\nMessage-ID: <"),
        "{}",
        inbox[0]
    );
    assert!(inbox[0].contains("@mail.test>\r\n"));
    assert_eq!(inbox[1].matches("Message-ID:").count(), 1);
    assert_eq!(inbox[1].matches("Date:").count(), 1);
    assert!(inbox[1].contains("Message-ID: <mine@bob>"));
}

/// Python's smtplib, as applications use it: plain on 25, STARTTLS + LOGIN on 587.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_clients() {
    let h = Harness::start().await;
    let script = format!(
        r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", {mx}) as s:
    s.ehlo("py.test")
    refused = s.sendmail("py@outside.test", ["bob@example.com"], "Subject: from python 25\r\n\r\nhello\r\n")
    assert refused == {{}}, refused
with smtplib.SMTP("127.0.0.1", {sub}) as s:
    s.starttls(context=ctx)
    s.login("bob@example.com", "{pw}")
    s.sendmail("bob@example.com", ["ann@example.com"], "Subject: from python 587\r\n\r\nhello\r\n")
    try:
        s.sendmail("bob@example.com", ["ghost@example.com"], "Subject: x\r\n\r\nx\r\n")
        sys.exit("unknown recipient accepted")
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = e.recipients["ghost@example.com"]
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
print("ok")
"#,
        mx = h.mx.port(),
        sub = h.submission.port(),
        pw = BOB_PASSWORD
    );
    let stdout = estafeta_testkit::python(&script).await;
    assert_eq!(String::from_utf8_lossy(&stdout).trim(), "ok");
    assert!(h.inbox_text("bob@example.com").await[0].contains("Subject: from python 25"));
    assert!(h.inbox_text("ann@example.com").await[0].contains("Subject: from python 587"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mailbox_is_refused_at_rcpt_and_at_the_end_of_data() {
    let h = Harness::start().await;
    h.store
        .update_user(
            "ann@example.com",
            estafeta_store::UserChanges {
                quota_bytes: Some(600),
                pop3_keep: None,
            },
        )
        .await
        .unwrap();
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO client.test").await;
    // room for a small message; a declared size that does not fit is refused
    c.cmd("MAIL FROM:<a@outside.test> SIZE=5000").await;
    let r = c.cmd("RCPT TO:<ann@example.com>").await;
    assert_eq!(
        r,
        "552 5.2.2 <ann@example.com>: Mailbox full: quota exceeded\r\n"
    );
    c.cmd("RSET").await;
    // no size declared: the real one decides at the end of DATA, and nothing is stored
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(700));
    let r = transaction(&mut c, "a@outside.test", &["ann@example.com"], &big).await;
    assert_eq!(
        r,
        "552 5.2.2 Mailbox full: quota exceeded, message not accepted\r\n"
    );
    assert!(h.inbox("ann@example.com").await.is_empty());
    assert!(h.store.queue_list().await.unwrap().is_empty());
    let body = format!("Subject: fill\r\n\r\n{}\r\n", "x".repeat(300));
    let r = transaction(&mut c, "a@outside.test", &["ann@example.com"], &body).await;
    assert!(r.starts_with("250"), "{r}");
    // the quota lowered under what is stored: now full
    h.store
        .update_user(
            "ann@example.com",
            estafeta_store::UserChanges {
                quota_bytes: Some(300),
                pop3_keep: None,
            },
        )
        .await
        .unwrap();
    // refused directly; as an alias member, queued failing for a report
    c.cmd("MAIL FROM:<a@outside.test>").await;
    assert!(
        c.cmd("RCPT TO:<ann@example.com>")
            .await
            .starts_with("552 5.2.2")
    );
    assert!(c.cmd("RCPT TO:<team@example.com>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: team\r\n\r\nx\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    assert_eq!(h.inbox("ann@example.com").await.len(), 1);
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);
    let queue = h.store.queue_list().await.unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    let failing = &queue[0].recipients;
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0].address, "ann@example.com");
    assert_eq!(failing[0].orcpt.as_deref(), Some("rfc822;team@example.com"));
    assert!(
        failing[0]
            .failure
            .as_deref()
            .is_some_and(|f| f.starts_with("5.2.2 mailbox full")),
        "{failing:?}"
    );
}
