//! POP3 AUTH SCRAM-SHA-256 and -PLUS (RFC 5034, RFC 5802/7677, RFC 9266) against an
//! independent client: Python's scramp, driven through poplib, or (for -PLUS, whose
//! `tls-exporter` binding Python cannot compute) fed by the Rust line client, which
//! computes the binding with rustls on its side of the connection.

mod common;

use common::{Client, Harness, Pop3Login};
use estafeta_testkit::scram_client::{ScramClient, forget_scram_keys};

/// The poplib/scramp script's set-up; `login(user, password)` runs the whole exchange
/// on a new implicit-TLS connection and returns the final reply or the error.
fn python(h: &Harness, body: &str) -> String {
    format!(
        r#"
import base64, poplib, ssl, scramp
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def b64(s): return base64.b64encode(s.encode()).decode()
def unb64(r): return base64.b64decode(r[2:]).decode()
def connect(): return poplib.POP3_SSL("127.0.0.1", {port}, context=ctx)
def login(user, password):
    p = connect()
    c = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    try:
        r = p._shortcmd("AUTH SCRAM-SHA-256 " + b64(c.get_client_first()))
        c.set_server_first(unb64(r))
        r = p._shortcmd(b64(c.get_client_final()))
        c.set_server_final(unb64(r))
        r = p._shortcmd("")
        stat = p.stat()
        p.quit()
        return r.decode() + " stat=" + str(stat)
    except poplib.error_proto as e:
        return "refused after client-final: " + e.args[0].decode()
{body}
"#,
        port = h.pop3s.port()
    )
}

async fn run(h: &Harness, body: &str) -> String {
    String::from_utf8(estafeta_testkit::python(&python(h, body)).await).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scramp_through_poplib_wrong_password_and_unknown_user() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    let out = run(
        &h,
        r#"
caps = connect().capa()
print("caps", caps["SASL"])
print("good", login("bob@example.com", "secret"))
print("wrong", login("bob@example.com", "guess"))
print("unknown", login("nobody@example.com", "secret"))
print("again", login("bob@example.com", "secret"))
"#,
    )
    .await;
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{k} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("caps").contains("'SCRAM-SHA-256'") && line("caps").contains("'SCRAM-SHA-256-PLUS'"),
        "{out}"
    );
    assert!(
        line("good").contains("+OK 1 messages") && line("good").contains("stat=(1,"),
        "{out}"
    );
    // a wrong password and an unknown user fail at the same step, with the same reply
    let refused = "refused after client-final: -ERR [AUTH] invalid user name or password";
    assert_eq!(line("wrong"), format!("wrong {refused}"), "{out}");
    assert_eq!(line("unknown"), format!("unknown {refused}"), "{out}");
    assert!(line("again").contains("+OK 1 messages"), "{out}");
}

/// The whole exchange on `c` with scramp; the last reply.
async fn exchange(c: &mut Client, mechanism: &str, user: &str, binding: Option<&[u8]>) -> String {
    let (mut scram, first) = ScramClient::start(mechanism, user, "secret", binding).await;
    let mut reply = c.cmd(&format!("AUTH {mechanism} {first}")).await;
    while let Some(challenge) = reply.strip_prefix("+ ") {
        let response = scram.answer(challenge).await;
        reply = c.cmd(&response).await;
    }
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plus_binds_to_this_tls_connection() {
    let h = Harness::start().await;
    // bound to this connection's tls-exporter value
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    let cb = c.tls_exporter().expect("TLS 1.3");
    let r = exchange(&mut c, "SCRAM-SHA-256-PLUS", "bob@example.com", Some(&cb)).await;
    assert!(r.starts_with("+OK 0 messages"), "{r}");
    assert!(c.cmd("QUIT").await.starts_with("+OK"));

    // binding data of another connection
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    let r = exchange(&mut c, "SCRAM-SHA-256-PLUS", "bob@example.com", Some(&cb)).await;
    assert_eq!(r, "-ERR [AUTH] invalid user name or password\r\n");
    // "y": the client could bind but believes the server cannot, while it offered -PLUS
    let own = c.tls_exporter().expect("TLS 1.3");
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", Some(&own)).await;
    assert_eq!(r, "-ERR [AUTH] invalid user name or password\r\n");
    // the connection is still usable
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", None).await;
    assert!(r.starts_with("+OK 0 messages"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_and_plaintext_get_no_plus() {
    let h = Harness::start().await;
    let mut c = Client::tls12(h.pop3s).await;
    c.line().await;
    assert!(c.tls_exporter().is_none());
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let capa = c.multiline().await;
    assert!(capa.contains("SASL PLAIN SCRAM-SHA-256\r\n"), "{capa}");
    assert_eq!(
        c.cmd("AUTH SCRAM-SHA-256-PLUS biws").await,
        "-ERR SCRAM-SHA-256-PLUS needs a TLS 1.3 connection\r\n"
    );
    // "y" is right here: the server offers no binding on TLS 1.2
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", Some(&[1; 32])).await;
    assert!(r.starts_with("+OK 0 messages"), "{r}");

    // plaintext: SCRAM under the same rule as PLAIN
    let mut c = Client::plain(h.pop3).await;
    c.line().await;
    assert_eq!(
        c.cmd("AUTH SCRAM-SHA-256").await,
        "-ERR [AUTH] authentication is not allowed without TLS: use STLS first\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_with_the_next_plain_login() {
    let h = Harness::start().await;
    forget_scram_keys(&h.dir.path().join("estafeta.db"), "ann@example.com").await;
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    let r = exchange(&mut c, "SCRAM-SHA-256", "ann@example.com", None).await;
    assert_eq!(r, "-ERR [AUTH] invalid user name or password\r\n");
    assert!(
        c.login("ann@example.com", "secret")
            .await
            .starts_with("+OK")
    );
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    let r = exchange(&mut c, "SCRAM-SHA-256", "ann@example.com", None).await;
    assert!(r.starts_with("+OK 0 messages"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_and_cancel_keep_the_session() {
    let h = Harness::start().await;
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    for bad in [
        "AUTH SCRAM-SHA-256 bm90IHNjcmFt",                 // "not scram"
        "AUTH SCRAM-SHA-256 ***",                          // not base64
        "AUTH SCRAM-SHA-256 bixhPWFkbWluLG49Ym9iLHI9eA==", // authzid "admin" for "bob"
    ] {
        let r = c.cmd(bad).await;
        assert!(r.starts_with("-ERR [AUTH] "), "{bad}: {r}");
        assert!(!r.contains("invalid user name"), "{bad}: {r}");
    }
    // "*" cancels at the second step
    let (_scram, first) = ScramClient::start("SCRAM-SHA-256", "bob@example.com", "x", None).await;
    assert!(
        c.cmd(&format!("AUTH SCRAM-SHA-256 {first}"))
            .await
            .starts_with("+ ")
    );
    assert_eq!(c.cmd("*").await, "-ERR authentication cancelled\r\n");
    // a client-final that is not one
    assert!(
        c.cmd(&format!("AUTH SCRAM-SHA-256 {first}"))
            .await
            .starts_with("+ ")
    );
    assert_eq!(
        c.cmd("Yz1iaXdzLHI9eCxwPXg=").await,
        "-ERR [AUTH] cannot decode the SCRAM message\r\n"
    );
    let r = exchange(&mut c, "SCRAM-SHA-256", "bob@example.com", None).await;
    assert!(r.starts_with("+OK 0 messages"), "{r}");
}
