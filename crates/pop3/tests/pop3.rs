//! POP3 end to end over real sockets: mail delivered over SMTP, read with a raw client and
//! with Python's poplib, over STLS (110) and implicit TLS (995).

mod common;

use common::{Client, Harness, Pop3Login};

/// The stored message, unstuffed from the RETR text.
fn unstuff(text: &str) -> String {
    text.split_inclusive("\r\n")
        .map(|l| l.strip_prefix('.').unwrap_or(l))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retr_is_byte_identical_to_what_smtp_stored() {
    let h = Harness::start().await;
    let sent = h.deliver("bob@example.com", "first").await;
    let mut c = Client::tls(h.pop3s).await;
    assert!(c.line().await.starts_with("+OK"));
    let r = c.login("bob@example.com", "secret").await;
    assert!(r.starts_with("+OK 1 messages ("), "{r}");
    let stored = String::from_utf8(h.inbox("bob@example.com").await.remove(0)).unwrap();
    assert!(
        stored.ends_with(&sent),
        "the store holds what was sent, after our headers"
    );
    assert_eq!(c.cmd("STAT").await, format!("+OK 1 {}\r\n", stored.len()));
    assert_eq!(
        c.cmd("RETR 1").await,
        format!("+OK {} octets\r\n", stored.len())
    );
    let text = c.multiline().await;
    assert!(
        text.contains("\r\n.. a dot line\r\n"),
        "dot-stuffed on the wire"
    );
    assert_eq!(unstuff(&text), stored);
    // TOP: header and the first body line only
    assert!(c.cmd("TOP 1 1").await.starts_with("+OK"));
    let top = c.multiline().await;
    assert!(top.ends_with("Subject: first\r\n\r\nHello.\r\n"), "{top}");
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    // bob keeps mail on the server
    assert_eq!(h.inbox("bob@example.com").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dele_takes_effect_only_at_quit() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    h.deliver("bob@example.com", "two").await;

    // DELE then the connection drops: nothing is deleted
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    c.login("bob@example.com", "secret").await;
    assert_eq!(c.cmd("DELE 1").await, "+OK message 1 deleted\r\n");
    assert!(
        c.cmd("RETR 1")
            .await
            .starts_with("-ERR message 1 is deleted")
    );
    assert!(c.cmd("DELE 1").await.starts_with("-ERR"));
    assert!(c.cmd("STAT").await.starts_with("+OK 1 "));
    drop(c);
    // the lock is released when the session ends; wait for it through the protocol
    let mut attempts = 0;
    let mut c = loop {
        attempts += 1;
        assert!(attempts < 1000, "the maildrop lock was never released");
        let mut c = Client::tls(h.pop3s).await;
        c.line().await;
        let r = c.login("bob@example.com", "secret").await;
        if r.starts_with("+OK") {
            assert!(r.starts_with("+OK 2 messages"), "{r}");
            break c;
        }
        assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    };
    assert_eq!(h.inbox("bob@example.com").await.len(), 2);

    // RSET undoes DELE; DELE then QUIT deletes
    c.cmd("DELE 2").await;
    assert!(c.cmd("RSET").await.starts_with("+OK 2 messages"));
    c.cmd("DELE 1").await;
    assert_eq!(c.cmd("QUIT").await, "+OK bye (1 messages left)\r\n");
    let left = h.inbox("bob@example.com").await;
    assert_eq!(left.len(), 1);
    assert!(String::from_utf8_lossy(&left[0]).contains("Subject: two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_download_for_users_who_want_it() {
    let h = Harness::start().await;
    h.deliver("ann@example.com", "a1").await;
    h.deliver("ann@example.com", "a2").await;
    let mut c = Client::tls(h.pop3s).await;
    c.line().await;
    c.login("ann@example.com", "secret").await;
    c.cmd("RETR 1").await;
    c.multiline().await;
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    let left = h.inbox("ann@example.com").await;
    assert_eq!(
        left.len(),
        1,
        "the retrieved message is gone, the other stays"
    );
    assert!(String::from_utf8_lossy(&left[0]).contains("Subject: a2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidl_is_stable_and_matches_uid_and_uidvalidity() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "one").await;
    h.deliver("bob@example.com", "two").await;
    let bob = h.store.get_user("bob@example.com").await.unwrap().unwrap();
    let inbox = h.store.get_mailbox(bob.id, "INBOX").await.unwrap().unwrap();
    let expected = format!(
        "1 {:08X}{:08X}\r\n2 {:08X}{:08X}\r\n",
        1, inbox.uidvalidity, 2, inbox.uidvalidity
    );
    let mut listings = Vec::new();
    for _ in 0..2 {
        let mut c = Client::tls(h.pop3s).await;
        c.line().await;
        c.login("bob@example.com", "secret").await;
        let r = c.cmd("UIDL").await;
        assert!(r.starts_with("+OK"), "{r:?}");
        listings.push(c.multiline().await);
        assert_eq!(
            c.cmd("UIDL 2").await,
            format!("+OK 2 {:08X}{:08X}\r\n", 2, inbox.uidvalidity)
        );
        c.cmd("QUIT").await;
    }
    assert_eq!(listings[0], expected);
    assert_eq!(listings[0], listings[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_login_needs_stls_and_bad_commands_keep_the_session() {
    let h = Harness::start().await;
    let mut c = Client::plain(h.pop3).await;
    assert!(c.line().await.starts_with("+OK"));
    assert_eq!(c.cmd("CAPA").await, "+OK capability list follows\r\n");
    let capa = c.multiline().await;
    assert!(
        capa.contains("STLS\r\n") && !capa.contains("USER\r\n") && !capa.contains("SASL"),
        "{capa}"
    );
    assert!(
        c.cmd("USER bob@example.com")
            .await
            .starts_with("-ERR [AUTH]")
    );
    assert!(
        c.cmd("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBzZWNyZXQ=")
            .await
            .starts_with("-ERR [AUTH]")
    );
    assert!(
        c.cmd("STAT")
            .await
            .starts_with("-ERR not allowed before login")
    );
    assert!(c.cmd("FROB").await.starts_with("-ERR unknown command FROB"));
    assert!(c.cmd("RETR x").await.starts_with("-ERR syntax: RETR msg"));
    assert!(
        c.cmd(&format!("NOOP {}", "x".repeat(300)))
            .await
            .starts_with("-ERR line too long")
    );
    // STLS, then the pipelined plaintext is not executed and login works
    c.send("STLS\r\nUSER injected@example.com\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let mut c = c.upgrade().await;
    assert!(
        c.cmd("PASS secret")
            .await
            .starts_with("-ERR send USER first"),
        "injected USER was discarded"
    );
    assert_eq!(c.cmd("CAPA").await, "+OK capability list follows\r\n");
    let capa = c.multiline().await;
    assert!(
        !capa.contains("STLS") && capa.contains("USER\r\n") && capa.contains("SASL PLAIN"),
        "{capa}"
    );
    // SASL PLAIN with a challenge
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ \r\n");
    assert!(
        c.cmd("AGJvYkBleGFtcGxlLmNvbQBzZWNyZXQ=")
            .await
            .starts_with("+OK 0 messages")
    );
    assert!(
        c.cmd("USER x")
            .await
            .starts_with("-ERR not allowed after login")
    );
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    assert!(
        c.multiline().await.contains("EXPIRE NEVER\r\n"),
        "bob keeps mail"
    );
    assert!(c.cmd("RETR 1").await.starts_with("-ERR no message 1"));
    assert_eq!(c.cmd("NOOP").await, "+OK\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_per_maildrop_and_wrong_passwords() {
    let h = Harness::start().await;
    let mut first = Client::tls(h.pop3s).await;
    first.line().await;
    assert!(
        first
            .login("bob@example.com", "secret")
            .await
            .starts_with("+OK")
    );
    let mut second = Client::tls(h.pop3s).await;
    second.line().await;
    let r = second.login("bob@example.com", "secret").await;
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    assert!(
        second
            .login("bob@example.com", "wrong")
            .await
            .starts_with("-ERR [AUTH] invalid")
    );
    assert!(
        second
            .login("nobody@example.com", "secret")
            .await
            .starts_with("-ERR [AUTH] invalid")
    );
    assert!(
        second
            .login("bob@example.com", "wrong")
            .await
            .starts_with("-ERR [AUTH] invalid")
    );
    // three failures: this address is blocked, even with the right password
    let r = second.login("ann@example.com", "secret").await;
    assert!(r.starts_with("-ERR [AUTH] too many failed logins"), "{r}");
}

/// Python's poplib, as fetchmail-like clients use POP3: STLS on 110, then implicit TLS on 995.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_poplib_clients() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "for poplib").await;
    let stored = String::from_utf8(h.inbox("bob@example.com").await.remove(0)).unwrap();
    let script = format!(
        r#"
import poplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", {plain})
p.stls(context=ctx)
p.user("bob@example.com")
p.pass_("secret")
count, size = p.stat()
assert count == 1, count
resp, lines, octets = p.retr(1)
sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n")
uidl = p.uidl()[1][0]
p.quit()
s = poplib.POP3_SSL("127.0.0.1", {tls}, context=ctx)
s.user("bob@example.com")
s.pass_("secret")
assert s.uidl()[1][0] == uidl, (s.uidl(), uidl)
s.dele(1)
s.quit()
"#,
        plain = h.pop3.port(),
        tls = h.pop3s.port()
    );
    let stdout = estafeta_testkit::python(&script).await;
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        stored,
        "poplib got the stored bytes"
    );
    assert!(
        h.inbox("bob@example.com").await.is_empty(),
        "DELE + QUIT over poplib deleted it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_limit_are_refused() {
    let h = Harness::start_with(|c| c.pop3.max_connections_per_ip = 2).await;
    let mut first = Client::tls(h.pop3s).await;
    assert!(first.line().await.starts_with("+OK"));
    let mut second = Client::plain(h.pop3).await;
    assert!(second.line().await.starts_with("+OK"));
    // over the limit on the implicit-TLS port: closed before any handshake
    assert!(estafeta_net::testing::closed_without_handshake(h.pop3s).await);
    // on the plaintext port: told why, then closed
    let mut third = Client::plain(h.pop3).await;
    let refused = third.line().await;
    assert!(
        refused.starts_with("-ERR [SYS/TEMP] too many connections"),
        "{refused}"
    );
    assert_eq!(third.line().await, "", "closed after the refusal");
    // those admitted are unaffected
    assert!(first.cmd("CAPA").await.starts_with("+OK"));
    assert!(second.cmd("CAPA").await.starts_with("+OK"));
}
