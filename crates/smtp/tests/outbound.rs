//! The outbound SMTP client over real sockets: against the scripted test server (to make
//! the other side say exactly what a test needs, and see exactly what it received) and
//! against our own inbound server (MX with STARTTLS, submission on 587 and 465).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::{ListenerTls, Protocol};
use estafeta_smtp::outbound::{
    AuthMechanism, ClientSettings, Credentials, Error, Notify, OutboundMessage, Rcpt, RcptStatus,
    Ret, SmtpClient, Stage, Timeouts, TlsPolicy, Transfer, normalize_line_endings,
};
use estafeta_testkit::scripted_smtp::{Action, Script, ScriptedSmtp};
use estafeta_testkit::{MailHost, TestUser};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tracing::Instrument;

const BODY: &[u8] = b"From: a@sender.test\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello.\r\n";

fn settings() -> ClientSettings {
    ClientSettings {
        timeouts: Timeouts::all(Duration::from_secs(10)),
        ..ClientSettings::new("client.test")
    }
}

fn message<'a>(from: &str, to: &[&str], body: &'a [u8]) -> OutboundMessage<'a> {
    OutboundMessage {
        from: from.to_string(),
        recipients: to.iter().map(|a| Rcpt::new(*a)).collect(),
        body,
        envid: None,
        ret: None,
        smtputf8: false,
    }
}

async fn connect(addr: SocketAddr, settings: &ClientSettings) -> SmtpClient {
    SmtpClient::connect(addr, "scripted.test", settings)
        .await
        .expect("session opened")
}

fn statuses(outcome: &estafeta_smtp::outbound::TransactionOutcome) -> Vec<RcptStatus> {
    outcome.recipients.iter().map(|r| r.status).collect()
}

/// Our own server on loopback: the MX role with STARTTLS, submission on 587 (STARTTLS)
/// and 465 (implicit TLS), users bob and ann in example.com.
struct OurServer {
    host: MailHost,
    mx: SocketAddr,
    submission: SocketAddr,
    submissions: SocketAddr,
}

impl OurServer {
    async fn start() -> OurServer {
        let host = MailHost::start(
            &[
                TestUser("bob@example.com", "bob-password", true),
                TestUser("ann@example.com", "ann-password", true),
            ],
            &[
                (Protocol::Smtp, ListenerTls::Starttls),
                (Protocol::Submission, ListenerTls::Starttls),
                (Protocol::Submission, ListenerTls::Implicit),
            ],
            |_| {},
        )
        .await;
        OurServer {
            mx: host.listeners[0],
            submission: host.listeners[1],
            submissions: host.listeners[2],
            host,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_recipients_one_refused_in_one_transaction() {
    let server = ScriptedSmtp::start(Script::new().on(|c| {
        (c.verb == "RCPT" && c.arg.contains("<b@"))
            .then(|| Action::Reply("550 5.1.1 <b@dest.test>: no such user".into()))
    }))
    .await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client
        .send(&message(
            "s@src.test",
            &["a@dest.test", "b@dest.test", "c@dest.test"],
            BODY,
        ))
        .await
        .expect("transaction");
    client.quit().await;

    use RcptStatus::*;
    assert_eq!(statuses(&outcome), [Delivered, PermanentFailure, Delivered]);
    let refused = &outcome.recipients[1];
    assert_eq!(refused.address, "b@dest.test");
    assert_eq!(
        (refused.reply.code, refused.reply.enhanced),
        (550, Some([5, 1, 1]))
    );
    assert!(!refused.reply.local);
    assert_eq!(
        refused.reply.to_string(),
        "550 5.1.1 <b@dest.test>: no such user"
    );
    assert_eq!(
        outcome.recipients[0].reply.to_string(),
        "250 2.0.0 queued as SCRIPTED"
    );

    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    let lines = sessions[0].lines();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("RCPT")).count(),
        3,
        "{lines:?}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("MAIL")).count(), 1);
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].rcpts,
        ["RCPT TO:<a@dest.test>", "RCPT TO:<c@dest.test>"]
    );
    assert_eq!(messages[0].body, BODY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_refuses_one_of_three_and_delivers_the_others_over_starttls() {
    let ours = OurServer::start().await;
    let mut client = SmtpClient::connect(ours.mx, "mail.test", &settings())
        .await
        .expect("session");
    let tls = client.tls().expect("opportunistic STARTTLS").clone();
    assert_eq!(tls.version, "TLSv1.3");
    assert!(tls.cipher.starts_with("TLS13_"), "{}", tls.cipher);
    assert!(client.server().esmtp);
    assert!(
        !client.server().extensions.starttls,
        "extensions are those after TLS"
    );
    let outcome = client
        .send(&message(
            "someone@outside.test",
            &["bob@example.com", "nobody@example.com", "ann@example.com"],
            BODY,
        ))
        .await
        .expect("transaction");
    client.quit().await;

    use RcptStatus::*;
    assert_eq!(statuses(&outcome), [Delivered, PermanentFailure, Delivered]);
    assert_eq!(outcome.recipients[1].reply.code, 550);
    assert_eq!(outcome.transfer, Transfer::Bdat);
    assert!(outcome.dsn_passed);
    let reply = outcome
        .data_reply
        .as_ref()
        .expect("reply after the message");
    assert!(reply.text.starts_with("Ok: queued as "), "{reply}");
    for user in ["bob@example.com", "ann@example.com"] {
        let inbox = ours.host.inbox(user).await;
        assert_eq!(inbox.len(), 1, "{user}");
        let text = String::from_utf8_lossy(&inbox[0]);
        assert!(inbox[0].ends_with(BODY), "{text}");
        assert!(text.contains("using TLSv1.3"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_when_offered_one_by_one_otherwise() {
    let to = ["a@dest.test", "b@dest.test", "c@dest.test"];
    // offered: MAIL and every RCPT in one write
    let server = ScriptedSmtp::start(Script::new()).await;
    let mut client = connect(server.addr, &settings()).await;
    client
        .send(&message("s@src.test", &to, BODY))
        .await
        .unwrap();
    client.quit().await;
    let commands = &server.sessions()[0].commands;
    let mail = commands
        .iter()
        .position(|c| c.line.starts_with("MAIL"))
        .unwrap();
    let behind: Vec<bool> = commands[mail..mail + 4]
        .iter()
        .map(|c| c.pipelined)
        .collect();
    // the last RCPT is the end of the write: nothing was waiting behind it
    assert_eq!(behind, [true, true, true, false], "{commands:?}");

    // not offered, or not wanted: the client waits for each reply
    for (script, client_wants) in [
        (Script::new().without("PIPELINING"), true),
        (Script::new(), false),
    ] {
        let server = ScriptedSmtp::start(script).await;
        let settings = ClientSettings {
            pipelining: client_wants,
            ..settings()
        };
        let mut client = connect(server.addr, &settings).await;
        let outcome = client
            .send(&message("s@src.test", &to, BODY))
            .await
            .unwrap();
        client.quit().await;
        assert!(outcome.delivered().count() == 3);
        // (BDAT's data follows its command line, so only MAIL and RCPT are looked at)
        let commands = &server.sessions()[0].commands;
        assert!(
            commands
                .iter()
                .filter(|c| c.line.starts_with("MAIL") || c.line.starts_with("RCPT"))
                .all(|c| !c.pipelined),
            "{commands:?}"
        );
        assert_eq!(server.messages().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_when_offered_plaintext_when_not_required_fails_without_it() {
    let offered = ScriptedSmtp::start(Script {
        starttls: true,
        ..Script::new()
    })
    .await;
    let mut client = connect(offered.addr, &settings()).await;
    assert_eq!(client.tls().map(|t| t.version.as_str()), Some("TLSv1.3"));
    client
        .send(&message("s@src.test", &["a@dest.test"], BODY))
        .await
        .unwrap();
    client.quit().await;
    let session = &offered.sessions()[0];
    assert!(session.tls);
    assert_eq!(
        session.lines()[..3],
        ["EHLO client.test", "STARTTLS", "EHLO client.test"]
    );

    let plain = ScriptedSmtp::start(Script::new()).await;
    let mut client = connect(plain.addr, &settings()).await;
    assert!(client.tls().is_none());
    let outcome = client
        .send(&message("s@src.test", &["a@dest.test"], BODY))
        .await
        .unwrap();
    assert_eq!(outcome.delivered().count(), 1);
    client.quit().await;

    let required = ClientSettings {
        tls: TlsPolicy::Required,
        ..settings()
    };
    let e = SmtpClient::connect(plain.addr, "scripted.test", &required)
        .await
        .err()
        .expect("TLS required");
    assert!(matches!(e, Error::Tls(_)), "{e}");
    assert!(
        !plain.sessions()[1]
            .lines()
            .contains(&"MAIL FROM:<s@src.test>")
    );

    // a policy may demand TLS disabled (a retry after a failed handshake)
    let disabled = ClientSettings {
        tls: TlsPolicy::Disabled,
        ..settings()
    };
    let client = connect(offered.addr, &disabled).await;
    assert!(client.tls().is_none());
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_verification_when_asked() {
    let server = ScriptedSmtp::start(Script {
        starttls: true,
        ..Script::new()
    })
    .await;
    // roots that do not hold the server's self-signed certificate: the handshake fails
    let strict = ClientSettings {
        verify_certificate: Some(Arc::new(rustls::RootCertStore::empty())),
        ..settings()
    };
    let e = SmtpClient::connect(server.addr, "scripted.test", &strict)
        .await
        .err()
        .expect("untrusted certificate");
    assert!(matches!(e, Error::Tls(_)), "{e}");

    // roots that hold it: verified
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&server.certificate_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let trusting = ClientSettings {
        verify_certificate: Some(Arc::new(roots)),
        ..settings()
    };
    let client = SmtpClient::connect(server.addr, "scripted.test", &trusting)
        .await
        .expect("verified TLS");
    assert!(client.tls().is_some());
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_plain_and_login_against_a_server_that_requires_it() {
    let server = ScriptedSmtp::start(Script {
        starttls: true,
        auth: Some(("relay-user".into(), "s3cret".into())),
        ..Script::new()
    })
    .await;
    for mechanism in [None, Some(AuthMechanism::Plain), Some(AuthMechanism::Login)] {
        let settings = ClientSettings {
            credentials: Some(Credentials {
                username: "relay-user".into(),
                password: "s3cret".into(),
                mechanism,
            }),
            ..settings()
        };
        let mut client = connect(server.addr, &settings).await;
        assert!(client.server().authenticated);
        let outcome = client
            .send(&message("s@src.test", &["a@dest.test"], BODY))
            .await
            .unwrap();
        assert_eq!(outcome.delivered().count(), 1);
        client.quit().await;
    }
    let sessions = server.sessions();
    assert!(
        sessions
            .iter()
            .all(|s| s.user.as_deref() == Some("relay-user"))
    );
    assert!(
        sessions[0]
            .lines()
            .iter()
            .any(|l| l.starts_with("AUTH PLAIN "))
    );
    assert!(
        sessions[1]
            .lines()
            .iter()
            .any(|l| l.starts_with("AUTH PLAIN "))
    );
    assert!(sessions[2].lines().contains(&"AUTH LOGIN"));

    // a wrong password: the reply, and no message
    let wrong = ClientSettings {
        credentials: Some(Credentials {
            username: "relay-user".into(),
            password: "guess".into(),
            mechanism: None,
        }),
        ..settings()
    };
    match SmtpClient::connect(server.addr, "scripted.test", &wrong).await {
        Err(Error::Rejected {
            stage: Stage::Auth,
            reply,
        }) => assert_eq!(reply.code, 535),
        other => panic!("expected 535, got {:?}", other.err()),
    }

    // without TLS, credentials stay home unless allowed
    let plain_server = ScriptedSmtp::start(Script {
        auth: Some(("relay-user".into(), "s3cret".into())),
        ..Script::new()
    })
    .await;
    let e = SmtpClient::connect(plain_server.addr, "scripted.test", &wrong)
        .await
        .err()
        .expect("refused to send credentials");
    assert!(matches!(e, Error::Auth(_)), "{e}");
    assert!(
        !plain_server.sessions()[0]
            .lines()
            .iter()
            .any(|l| l.starts_with("AUTH")),
        "no AUTH in plaintext"
    );
    let allowed = ClientSettings {
        allow_plaintext_auth: true,
        credentials: Some(Credentials {
            username: "relay-user".into(),
            password: "s3cret".into(),
            mechanism: None,
        }),
        ..settings()
    };
    let client = connect(plain_server.addr, &allowed).await;
    assert!(client.server().authenticated);
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_our_submission_ports_587_starttls_and_465_implicit() {
    let ours = OurServer::start().await;
    let bob = |mechanism, tls| ClientSettings {
        tls,
        credentials: Some(Credentials {
            username: "bob@example.com".into(),
            password: "bob-password".into(),
            mechanism: Some(mechanism),
        }),
        ..settings()
    };
    for (addr, settings) in [
        (
            ours.submission,
            bob(AuthMechanism::Plain, TlsPolicy::Required),
        ),
        (
            ours.submission,
            bob(AuthMechanism::Login, TlsPolicy::Required),
        ),
        (
            ours.submissions,
            bob(AuthMechanism::Plain, TlsPolicy::Implicit),
        ),
        (
            ours.submissions,
            bob(AuthMechanism::Login, TlsPolicy::Implicit),
        ),
    ] {
        let mut client = SmtpClient::connect(addr, "mail.test", &settings)
            .await
            .expect("session");
        assert!(client.server().authenticated);
        assert!(client.tls().is_some());
        let outcome = client
            .send(&message("bob@example.com", &["ann@example.com"], BODY))
            .await
            .unwrap();
        assert_eq!(statuses(&outcome), [RcptStatus::Delivered], "{outcome:?}");
        client.quit().await;
    }
    assert_eq!(ours.host.inbox("ann@example.com").await.len(), 4);

    // without AUTH, submission refuses MAIL: every recipient gets that reply
    let mut client = SmtpClient::connect(ours.submission, "mail.test", &settings())
        .await
        .unwrap();
    let outcome = client
        .send(&message("bob@example.com", &["ann@example.com"], BODY))
        .await
        .unwrap();
    assert_eq!(outcome.recipients[0].reply.code, 530);
    assert_eq!(outcome.transfer, Transfer::NotSent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdat_when_chunking_is_offered_data_otherwise() {
    let body = b"Subject: x\r\n\r\n.starts with a dot\r\n.\r\nend\r\n";
    for (script, transfer) in [
        (Script::new(), Transfer::Bdat),
        (Script::new().without("CHUNKING"), Transfer::Data),
    ] {
        let server = ScriptedSmtp::start(script).await;
        let mut client = connect(server.addr, &settings()).await;
        let outcome = client
            .send(&message("s@src.test", &["a@dest.test"], body))
            .await
            .unwrap();
        client.quit().await;
        assert_eq!(outcome.transfer, transfer);
        let messages = server.messages();
        assert_eq!(messages[0].bdat, transfer == Transfer::Bdat);
        assert_eq!(messages[0].body, body);
        let lines = server.sessions()[0].lines().join("\n");
        match transfer {
            Transfer::Bdat => assert!(lines.contains(&format!("BDAT {} LAST", body.len()))),
            _ => assert!(lines.contains("DATA") && !lines.contains("BDAT")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_line_endings_are_normalised_and_dots_stuffed() {
    // bare LF, bare CR, lone dots, a dot line that would end DATA, no final newline
    let raw: &[u8] = b"Subject: bare\n\n.\nline\rtwo\r\n..two dots\n.\r\nlast line without newline";
    let normalised = normalize_line_endings(raw);
    assert_eq!(
        normalised,
        b"Subject: bare\r\n\r\n.\r\nline\r\ntwo\r\n..two dots\r\n.\r\nlast line without newline\r\n"
    );

    let server = ScriptedSmtp::start(Script::new().without("CHUNKING")).await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client
        .send(&message("s@src.test", &["a@dest.test"], raw))
        .await
        .unwrap();
    client.quit().await;
    assert_eq!(outcome.size, normalised.len());
    assert_eq!(server.messages()[0].body, normalised);

    // our server refuses bare LF and CR outright: this passes only if none are left,
    // by DATA and by BDAT
    let ours = OurServer::start().await;
    for chunking in [false, true] {
        let settings = ClientSettings {
            chunking,
            ..settings()
        };
        let mut client = SmtpClient::connect(ours.mx, "mail.test", &settings)
            .await
            .unwrap();
        let outcome = client
            .send(&message("s@outside.test", &["bob@example.com"], raw))
            .await
            .unwrap();
        client.quit().await;
        assert_eq!(statuses(&outcome), [RcptStatus::Delivered], "{outcome:?}");
    }
    let inbox = ours.host.inbox("bob@example.com").await;
    assert_eq!(inbox.len(), 2);
    for stored in inbox {
        assert!(
            stored.ends_with(&normalised),
            "{}",
            String::from_utf8_lossy(&stored)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_addresses_need_smtputf8() {
    let server = ScriptedSmtp::start(Script::new().without("SMTPUTF8")).await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client
        .send(&message(
            "s@src.test",
            &["jos\u{e9}@dest.test", "ascii@dest.test"],
            BODY,
        ))
        .await
        .unwrap();
    assert_eq!(
        statuses(&outcome),
        [RcptStatus::PermanentFailure, RcptStatus::Delivered]
    );
    let refused = &outcome.recipients[0].reply;
    assert!(refused.local);
    assert_eq!((refused.code, refused.enhanced), (553, Some([5, 6, 7])));
    assert!(refused.text.contains("SMTPUTF8"), "{refused}");
    // a UTF-8 sender: nobody gets it, nothing is sent
    let outcome = client
        .send(&message("s\u{f8}ren@src.test", &["ascii@dest.test"], BODY))
        .await
        .unwrap();
    assert_eq!(statuses(&outcome), [RcptStatus::PermanentFailure]);
    assert_eq!(outcome.transfer, Transfer::NotSent);
    client.quit().await;
    let lines = server.sessions()[0].lines().join("\n");
    assert!(!lines.contains("jos"), "{lines}");
    assert!(!lines.contains("ren@"), "{lines}");
    assert_eq!(server.messages().len(), 1);

    // offered: the parameter goes with MAIL and the UTF-8 address goes through
    let server = ScriptedSmtp::start(Script::new()).await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client
        .send(&message("s@src.test", &["jos\u{e9}@dest.test"], BODY))
        .await
        .unwrap();
    client.quit().await;
    assert_eq!(statuses(&outcome), [RcptStatus::Delivered]);
    let mail = server.messages()[0].mail.clone();
    assert!(mail.ends_with(" SMTPUTF8"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_over_the_servers_limit_fails_without_sending() {
    let server = ScriptedSmtp::start(Script::new().with("SIZE 100")).await;
    let mut client = connect(server.addr, &settings()).await;
    let big = vec![b'x'; 200];
    let outcome = client
        .send(&message(
            "s@src.test",
            &["a@dest.test", "b@dest.test"],
            &big,
        ))
        .await
        .unwrap();
    assert_eq!(
        statuses(&outcome),
        [RcptStatus::PermanentFailure, RcptStatus::PermanentFailure]
    );
    let reply = &outcome.recipients[0].reply;
    assert!(reply.local);
    assert_eq!((reply.code, reply.enhanced), (552, Some([5, 3, 4])));
    assert!(reply.text.contains("202 octets"), "{reply}");
    assert!(reply.text.contains("100 octets"), "{reply}");
    // a message that fits declares its size
    let outcome = client
        .send(&message("s@src.test", &["a@dest.test"], b"small\r\n"))
        .await
        .unwrap();
    client.quit().await;
    assert_eq!(statuses(&outcome), [RcptStatus::Delivered]);
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].mail, "MAIL FROM:<s@src.test> SIZE=7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_mid_data_is_a_temporary_error() {
    for script in [Script::new().without("CHUNKING"), Script::new()] {
        let server = ScriptedSmtp::start(Script {
            drop_mid_data: true,
            ..script
        })
        .await;
        let mut client = connect(server.addr, &settings()).await;
        let e = client
            .send(&message(
                "s@src.test",
                &["a@dest.test", "b@dest.test"],
                BODY,
            ))
            .await
            .expect_err("dropped");
        assert!(
            matches!(e, Error::Io { .. }),
            "a broken connection, not a reply: {e}"
        );
        assert!(!e.is_permanent());
        assert!(!client.is_usable());
        assert!(matches!(
            client
                .send(&message("s@src.test", &["a@dest.test"], BODY))
                .await,
            Err(Error::Unusable)
        ));
        assert!(server.messages().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helo_when_ehlo_is_refused() {
    let server = ScriptedSmtp::start(Script {
        refuse_ehlo: true,
        ..Script::new()
    })
    .await;
    let mut client = connect(server.addr, &settings()).await;
    assert!(!client.server().esmtp);
    assert!(client.server().extensions.names().is_empty());
    let outcome = client
        .send(&message(
            "s@src.test",
            &["a@dest.test"],
            "caf\u{e9}\r\n".as_bytes(),
        ))
        .await
        .unwrap();
    client.quit().await;
    assert_eq!(outcome.transfer, Transfer::Data);
    assert!(!outcome.dsn_passed);
    let sessions = server.sessions();
    let lines = sessions[0].lines();
    assert_eq!(
        lines[..4],
        [
            "EHLO client.test",
            "HELO client.test",
            "MAIL FROM:<s@src.test>",
            "RCPT TO:<a@dest.test>"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_messages_on_one_connection_with_rset() {
    let server = ScriptedSmtp::start(Script::new()).await;
    let mut client = connect(server.addr, &settings()).await;
    for n in 1..=2 {
        let body = format!("Subject: {n}\r\n\r\nmessage {n}\r\n");
        let outcome = client
            .send(&message("s@src.test", &["a@dest.test"], body.as_bytes()))
            .await
            .unwrap();
        assert_eq!(statuses(&outcome), [RcptStatus::Delivered]);
    }
    client.quit().await;
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    let verbs: Vec<&str> = sessions[0]
        .lines()
        .into_iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        verbs,
        [
            "EHLO", "MAIL", "RCPT", "BDAT", "RSET", "MAIL", "RCPT", "BDAT", "QUIT"
        ]
    );
    assert_eq!(sessions[0].messages.len(), 2);

    // and with our own server, without pipelining and over DATA
    let ours = OurServer::start().await;
    let settings = ClientSettings {
        pipelining: false,
        chunking: false,
        ..settings()
    };
    let mut client = SmtpClient::connect(ours.mx, "mail.test", &settings)
        .await
        .unwrap();
    for _ in 0..2 {
        let outcome = client
            .send(&message("s@outside.test", &["ann@example.com"], BODY))
            .await
            .unwrap();
        assert_eq!(statuses(&outcome), [RcptStatus::Delivered]);
    }
    client.quit().await;
    assert_eq!(ours.host.inbox("ann@example.com").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_refused_once_then_accepted() {
    let server = ScriptedSmtp::start(Script::new().on(|c| {
        (c.verb == "MAIL" && c.nth == 1).then(|| Action::Reply("451 4.3.0 try again later".into()))
    }))
    .await;
    let mut client = connect(server.addr, &settings()).await;
    let to = ["a@dest.test", "b@dest.test"];
    let first = client
        .send(&message("s@src.test", &to, BODY))
        .await
        .unwrap();
    assert_eq!(
        statuses(&first),
        [RcptStatus::TemporaryFailure, RcptStatus::TemporaryFailure]
    );
    assert_eq!(
        first.recipients[1].reply.to_string(),
        "451 4.3.0 try again later"
    );
    assert_eq!(first.transfer, Transfer::NotSent);
    let second = client
        .send(&message("s@src.test", &to, BODY))
        .await
        .unwrap();
    client.quit().await;
    assert_eq!(second.delivered().count(), 2);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accepted_recipient_means_rset_instead_of_data() {
    let server = ScriptedSmtp::start(
        Script::new()
            .on(|c| (c.verb == "RCPT").then(|| Action::Reply("550 5.7.1 relay denied".into()))),
    )
    .await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client
        .send(&message(
            "s@src.test",
            &["a@dest.test", "b@dest.test"],
            BODY,
        ))
        .await
        .unwrap();
    assert!(outcome.with(RcptStatus::PermanentFailure).count() == 2);
    assert_eq!(outcome.transfer, Transfer::NotSent);
    // the next message needs no second RSET
    client
        .send(&message("s@src.test", &["c@dest.test"], BODY))
        .await
        .unwrap();
    client.quit().await;
    let verbs: Vec<String> = server.sessions()[0]
        .lines()
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        verbs,
        [
            "EHLO", "MAIL", "RCPT", "RCPT", "RSET", "MAIL", "RCPT", "RSET", "QUIT"
        ]
    );
    assert!(server.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_to_data_and_to_the_message_apply_to_every_accepted_recipient() {
    for (hook_verb, code, status) in [
        ("DATA", 554, RcptStatus::PermanentFailure),
        (".", 452, RcptStatus::TemporaryFailure),
    ] {
        let server = ScriptedSmtp::start(Script::new().without("CHUNKING").on(move |c| {
            (c.verb == hook_verb).then(|| Action::Reply(format!("{code} no thanks")))
        }))
        .await;
        let mut client = connect(server.addr, &settings()).await;
        let outcome = client
            .send(&message(
                "s@src.test",
                &["a@dest.test", "b@dest.test"],
                BODY,
            ))
            .await
            .unwrap();
        assert_eq!(statuses(&outcome), [status, status], "{hook_verb}");
        assert_eq!(outcome.recipients[0].reply.code, code);
        assert!(client.is_usable());
        client.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsn_and_8bitmime_parameters_only_where_offered() {
    let rcpt = Rcpt {
        address: "a@dest.test".into(),
        notify: Notify::parse("SUCCESS,FAILURE"),
        orcpt: Some("rfc822;a@dest.test".into()),
    };
    let msg = OutboundMessage {
        recipients: vec![rcpt],
        envid: Some("Q123".into()),
        ret: Some(Ret::Headers),
        ..message("s@src.test", &[], "8-bit: \u{e9}\r\n".as_bytes())
    };
    let server = ScriptedSmtp::start(Script::new()).await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client.send(&msg).await.unwrap();
    client.quit().await;
    assert!(outcome.dsn_passed);
    let m = &server.messages()[0];
    assert_eq!(
        m.mail,
        format!(
            "MAIL FROM:<s@src.test> SIZE={} BODY=8BITMIME RET=HDRS ENVID=Q123",
            outcome.size
        )
    );
    assert_eq!(
        m.rcpts,
        ["RCPT TO:<a@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@dest.test"]
    );

    let server = ScriptedSmtp::start(Script::new().without("DSN").without("8BITMIME")).await;
    let mut client = connect(server.addr, &settings()).await;
    let outcome = client.send(&msg).await.unwrap();
    client.quit().await;
    assert!(!outcome.dsn_passed, "delivery must report success itself");
    let m = &server.messages()[0];
    assert_eq!(
        m.mail,
        format!("MAIL FROM:<s@src.test> SIZE={}", outcome.size)
    );
    assert_eq!(m.rcpts, ["RCPT TO:<a@dest.test>"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_refusal_silence_and_no_listener_are_host_failures() {
    let server = ScriptedSmtp::start(Script {
        greeting: "554 5.7.1 no service for you".into(),
        ..Script::new()
    })
    .await;
    let e = SmtpClient::connect(server.addr, "scripted.test", &settings())
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(
            e,
            Error::Rejected {
                stage: Stage::Greeting,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_permanent());
    assert_eq!(
        e.reply().unwrap().to_string(),
        "554 5.7.1 no service for you"
    );

    // a server that accepts and says nothing: the greeting timeout
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let (conn, _) = silent.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(conn);
    });
    let quick = ClientSettings {
        timeouts: Timeouts::all(Duration::from_millis(300)),
        ..settings()
    };
    let e = SmtpClient::connect(addr, "silent.test", &quick)
        .await
        .err()
        .expect("timeout");
    assert!(matches!(e, Error::Timeout(Stage::Greeting)), "{e}");
    holder.abort();

    // nobody listening: a connect error
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = SmtpClient::connect(closed, "nobody.test", &settings())
        .await
        .err()
        .expect("refused");
    assert!(matches!(e, Error::Connect(_)), "{e}");
}

/// A log sink for the test below.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_go_under_the_callers_span_message_by_message() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    // on another loopback address, as the multi-server tests will have it
    let server = ScriptedSmtp::start_on(
        "127.0.0.2:0".parse().unwrap(),
        Script {
            starttls: true,
            ..Script::new()
        },
    )
    .await;
    let mut client = connect(server.addr, &settings())
        .instrument(tracing::info_span!("delivery", queue_id = "Q1"))
        .await;
    for queue_id in ["Q1", "Q2"] {
        client
            .send(&message("s@src.test", &["a@dest.test"], BODY))
            .instrument(tracing::info_span!("delivery", queue_id))
            .await
            .unwrap();
    }
    client.quit().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = |queue_id: &str, what: &str| {
        text.lines()
            .find(|l| l.contains(&format!("queue_id=\"{queue_id}\"")) && l.contains(what))
            .unwrap_or_else(|| panic!("no {what} line for {queue_id} in:\n{text}"))
            .to_string()
    };
    let opened = line("Q1", "session opened");
    assert!(opened.contains("smtp_out{remote=127.0.0.2:"), "{opened}");
    assert!(opened.contains("host=scripted.test"), "{opened}");
    assert!(opened.contains("tls_version=\"TLSv1.3\""), "{opened}");
    for queue_id in ["Q1", "Q2"] {
        let rcpt = line(queue_id, "recipient");
        assert!(rcpt.contains("rcpt=a@dest.test"), "{rcpt}");
        assert!(rcpt.contains("status=Delivered"), "{rcpt}");
        assert!(
            rcpt.contains("reply=250 2.0.0 queued as SCRIPTED"),
            "{rcpt}"
        );
    }
}
