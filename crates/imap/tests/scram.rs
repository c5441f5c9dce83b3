//! IMAP AUTHENTICATE SCRAM-SHA-256 and -PLUS (RFC 5802/7677, RFC 9266) against an
//! independent client: Python's scramp through imaplib, or (for -PLUS, whose
//! `tls-exporter` binding Python cannot compute) fed by the Rust line client, which
//! computes the binding with rustls on its side of the connection.

mod common;

use common::{Client, Harness};
use estafeta_testkit::scram_client::{ScramClient, forget_scram_keys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scramp_through_imaplib() {
    let h = Harness::start().await;
    let script = format!(
        r#"
import imaplib, ssl, scramp
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def login(user, password):
    m = imaplib.IMAP4_SSL("127.0.0.1", {port}, ssl_context=ctx)
    c = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    steps = []
    def answer(challenge):
        steps.append(challenge)
        if len(steps) == 1: return c.get_client_first()
        if len(steps) == 2:
            c.set_server_first(challenge.decode())
            return c.get_client_final()
        c.set_server_final(challenge.decode())
        return ""
    try:
        typ, data = m.authenticate("SCRAM-SHA-256", answer)
        typ, _ = m.select("INBOX")
        return typ + " select " + str(len(steps))
    except imaplib.IMAP4.error as e:
        return "NO after " + str(len(steps)) + " steps: " + str(e)
print("caps", " ".join(imaplib.IMAP4_SSL("127.0.0.1", {port}, ssl_context=ctx).capabilities))
print("good", login("bob@example.com", "secret"))
print("wrong", login("bob@example.com", "guess"))
print("unknown", login("nobody@example.com", "secret"))
print("again", login("bob@example.com", "secret"))
"#,
        port = h.imaps.port()
    );
    let out = String::from_utf8(estafeta_testkit::python(&script).await).expect("utf-8");
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{k} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("caps").contains("AUTH=SCRAM-SHA-256 ")
            && line("caps").contains("AUTH=SCRAM-SHA-256-PLUS"),
        "{out}"
    );
    assert_eq!(line("good"), "good OK select 3", "{out}");
    // a wrong password and an unknown user fail at the same step, with the same reply
    assert!(
        line("wrong").contains("NO after 2 steps")
            && line("wrong").contains("[AUTHENTICATIONFAILED]"),
        "{out}"
    );
    assert_eq!(
        line("wrong").replace("wrong", ""),
        line("unknown").replace("unknown", ""),
        "{out}"
    );
    assert_eq!(line("again"), "again OK select 3", "{out}");
}

/// The whole exchange on `c` with scramp (SASL-IR); everything up to the tagged reply.
async fn exchange(
    c: &mut Client,
    tag: &str,
    mechanism: &str,
    user: &str,
    binding: Option<&[u8]>,
) -> String {
    let (mut scram, first) = ScramClient::start(mechanism, user, "secret", binding).await;
    c.send(&format!("{tag} AUTHENTICATE {mechanism} {first}\r\n"))
        .await;
    loop {
        let line = c.line().await;
        match line.strip_prefix("+ ") {
            Some(challenge) => {
                let response = scram.answer(challenge).await;
                c.send(&format!("{response}\r\n")).await;
            }
            None => {
                assert!(line.starts_with(tag), "{line}");
                return line;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plus_binding_downgrade_and_missing_keys() {
    let h = Harness::start().await;
    let mut c = Client::tls(h.imaps).await;
    c.line().await;
    let cb = c.tls_exporter().expect("TLS 1.3");
    // another connection's binding data
    let mut other = Client::tls(h.imaps).await;
    other.line().await;
    let r = exchange(
        &mut other,
        "a1",
        "SCRAM-SHA-256-PLUS",
        "bob@example.com",
        Some(&cb),
    )
    .await;
    assert_eq!(
        r,
        "a1 NO [AUTHENTICATIONFAILED] invalid user name or password\r\n"
    );
    // "y" while -PLUS was offered: a downgrade
    let r = exchange(&mut c, "a2", "SCRAM-SHA-256", "bob@example.com", Some(&cb)).await;
    assert_eq!(
        r,
        "a2 NO [AUTHENTICATIONFAILED] invalid user name or password\r\n"
    );
    // bound to this connection
    let r = exchange(
        &mut c,
        "a3",
        "SCRAM-SHA-256-PLUS",
        "bob@example.com",
        Some(&cb),
    )
    .await;
    assert!(r.starts_with("a3 OK [CAPABILITY"), "{r}");
    assert!(c.run("a4", "SELECT INBOX").await.contains("a4 OK"));

    // a user without keys fails like a wrong password, then gets them with LOGIN
    forget_scram_keys(&h.dir.path().join("estafeta.db"), "ann@example.com").await;
    let mut c = Client::tls(h.imaps).await;
    c.line().await;
    let r = exchange(&mut c, "b1", "SCRAM-SHA-256", "ann@example.com", None).await;
    assert_eq!(
        r,
        "b1 NO [AUTHENTICATIONFAILED] invalid user name or password\r\n"
    );
    let r = c.run("b2", "LOGIN ann@example.com secret").await;
    assert!(r.contains("b2 OK"), "{r}");
    let mut c = Client::tls(h.imaps).await;
    c.line().await;
    let r = exchange(&mut c, "b3", "SCRAM-SHA-256", "ann@example.com", None).await;
    assert!(r.starts_with("b3 OK"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cancelled_tls12_and_plaintext() {
    let h = Harness::start().await;
    let mut c = Client::tls12(h.imaps).await;
    let greeting = c.line().await;
    assert!(
        greeting.contains("AUTH=SCRAM-SHA-256") && !greeting.contains("-PLUS"),
        "{greeting}"
    );
    assert!(
        c.run("a1", "AUTHENTICATE SCRAM-SHA-256-PLUS biws")
            .await
            .starts_with("a1 NO [CANNOT]")
    );
    assert!(
        c.run("a2", "AUTHENTICATE SCRAM-SHA-256 bm90IHNjcmFt")
            .await
            .starts_with("a2 BAD")
    );
    // "*" at the second step cancels
    let (_scram, first) = ScramClient::start("SCRAM-SHA-256", "bob@example.com", "x", None).await;
    c.send(&format!("a3 AUTHENTICATE SCRAM-SHA-256 {first}\r\n"))
        .await;
    assert!(c.line().await.starts_with("+ "));
    assert_eq!(c.cmd("*").await, "a3 BAD authentication cancelled\r\n");
    // "y" is right on TLS 1.2, where no binding is offered
    let r = exchange(
        &mut c,
        "a4",
        "SCRAM-SHA-256",
        "bob@example.com",
        Some(&[1; 32]),
    )
    .await;
    assert!(r.starts_with("a4 OK"), "{r}");

    // plaintext: SCRAM under the same rule as PLAIN
    let mut c = Client::plain(h.imap).await;
    let greeting = c.line().await;
    assert!(!greeting.contains("SCRAM"), "{greeting}");
    assert!(
        c.run("p1", "AUTHENTICATE SCRAM-SHA-256")
            .await
            .starts_with("p1 NO [PRIVACYREQUIRED]")
    );
}
