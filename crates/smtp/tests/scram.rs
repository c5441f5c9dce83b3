//! SMTP AUTH SCRAM-SHA-256 and -PLUS (RFC 4954 with RFC 5802/7677, RFC 9266) against an
//! independent client: Python's scramp through smtplib, or (for -PLUS, whose
//! `tls-exporter` binding Python cannot compute) fed by the Rust line client, which
//! computes the binding with rustls on its side of the connection.

mod common;

use common::{BOB_PASSWORD, Harness};
use estafeta_net::testing::LineClient;
use estafeta_testkit::scram_client::{ScramClient, forget_scram_keys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scramp_through_smtplib() {
    let h = Harness::start().await;
    let script = format!(
        r#"
import smtplib, ssl, scramp
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def login(user, password):
    s = smtplib.SMTP("127.0.0.1", {port})
    s.starttls(context=ctx)
    s.ehlo()
    c = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    steps = []
    def answer(challenge=None):
        steps.append(challenge)
        if challenge is None: return c.get_client_first()
        if len(steps) == 2:
            c.set_server_first(challenge.decode())
            return c.get_client_final()
        c.set_server_final(challenge.decode())
        return ""
    try:
        code, _ = s.auth("SCRAM-SHA-256", answer)
        s.sendmail(user, ["ann@example.com"], "Subject: scram\r\n\r\nhi\r\n")
        return str(code) + " sent after " + str(len(steps))
    except smtplib.SMTPAuthenticationError as e:
        return str(e.smtp_code) + " " + e.smtp_error.decode() + " after " + str(len(steps))
    finally:
        print("auth", s.esmtp_features.get("auth"))
print("good", login("bob@example.com", "{BOB_PASSWORD}"))
print("wrong", login("bob@example.com", "guess"))
print("unknown", login("nobody@example.com", "guess"))
"#,
        port = h.submission.port()
    );
    let out = String::from_utf8(estafeta_testkit::python(&script).await).expect("utf-8");
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{k} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("auth").contains("PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS"),
        "{out}"
    );
    assert_eq!(line("good"), "good 235 sent after 3", "{out}");
    let refused = "535 5.7.8 Error: authentication credentials invalid after 2";
    assert_eq!(line("wrong"), format!("wrong {refused}"), "{out}");
    assert_eq!(line("unknown"), format!("unknown {refused}"), "{out}");
    assert!(
        h.inbox_text("ann@example.com").await[0].contains("Subject: scram"),
        "{out}"
    );
}

/// The whole exchange on `c` with scramp (initial response); the last reply.
async fn exchange(
    c: &mut LineClient,
    mechanism: &str,
    user: &str,
    binding: Option<&[u8]>,
) -> String {
    let (mut scram, first) = ScramClient::start(mechanism, user, BOB_PASSWORD, binding).await;
    let mut reply = c.cmd(&format!("AUTH {mechanism} {first}")).await;
    while let Some(challenge) = reply.strip_prefix("334 ") {
        let response = scram.answer(challenge).await;
        reply = c.cmd(&response).await;
    }
    reply
}

async fn connect_tls(h: &Harness) -> LineClient {
    let mut c = LineClient::tls(h.submissions).await;
    c.smtp_reply().await;
    c.send("EHLO client.test\r\n").await;
    let ehlo = c.smtp_reply().await;
    assert!(ehlo.contains("SCRAM-SHA-256-PLUS"), "{ehlo}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plus_binding_downgrade_missing_keys_and_bad_input() {
    let h = Harness::start().await;
    let mut c = connect_tls(&h).await;
    let cb = c.tls_exporter().expect("TLS 1.3");
    let mut other = connect_tls(&h).await;
    let r = exchange(
        &mut other,
        "SCRAM-SHA-256-PLUS",
        "bob@example.com",
        Some(&cb),
    )
    .await;
    assert_eq!(r, "535 5.7.8 Error: authentication credentials invalid\r\n");
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", Some(&cb)).await;
    assert_eq!(r, "535 5.7.8 Error: authentication credentials invalid\r\n");
    // malformed, cancelled: the session goes on
    assert_eq!(
        c.cmd("AUTH SCRAM-SHA-256 bm90IHNjcmFt").await,
        "501 5.5.2 Error: cannot decode the authentication response\r\n"
    );
    let (_scram, first) = ScramClient::start("SCRAM-SHA-256", "bob@example.com", "x", None).await;
    assert!(
        c.cmd(&format!("AUTH SCRAM-SHA-256 {first}"))
            .await
            .starts_with("334 ")
    );
    assert_eq!(
        c.cmd("*").await,
        "501 5.0.0 Error: authentication cancelled\r\n"
    );
    let r = exchange(&mut c, "SCRAM-SHA-256-PLUS", "bob@example.com", Some(&cb)).await;
    assert_eq!(r, "235 2.7.0 Authentication successful\r\n");

    // a user without keys fails like a wrong password, then gets them with PLAIN
    forget_scram_keys(&h.dir.path().join("estafeta.db"), "bob@example.com").await;
    let mut c = connect_tls(&h).await;
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", None).await;
    assert_eq!(r, "535 5.7.8 Error: authentication credentials invalid\r\n");
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD
        .encode(format!("\0bob@example.com\0{BOB_PASSWORD}"));
    assert!(
        c.cmd(&format!("AUTH PLAIN {plain}"))
            .await
            .starts_with("235")
    );
    let mut c = connect_tls(&h).await;
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", None).await;
    assert_eq!(r, "235 2.7.0 Authentication successful\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_offers_no_plus_and_plaintext_no_scram() {
    let h = Harness::start().await;
    let mut c = LineClient::tls12(h.submissions).await;
    c.smtp_reply().await;
    c.send("EHLO client.test\r\n").await;
    let ehlo = c.smtp_reply().await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN SCRAM-SHA-256\r\n"),
        "{ehlo}"
    );
    assert!(
        c.cmd("AUTH SCRAM-SHA-256-PLUS biws")
            .await
            .starts_with("504 5.5.4")
    );
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", Some(&[1; 32])).await;
    assert_eq!(r, "235 2.7.0 Authentication successful\r\n");

    let mut c = LineClient::plain(h.submission).await;
    c.smtp_reply().await;
    c.send("EHLO client.test\r\n").await;
    assert!(!c.smtp_reply().await.contains("SCRAM"));
    assert!(c.cmd("AUTH SCRAM-SHA-256").await.starts_with("538 5.7.11"));
}
