//! IMAP before login, over real sockets: the command budget per client, the PROXY
//! protocol's client driving the failed-login throttle, and a non-proxy refused.

mod common;

use std::net::SocketAddr;

use common::{Client, Harness};
use estafeta_net::testing::{proxy_v1, proxy_v2};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_command_budget_before_login_gets_bye() {
    let h = Harness::start_with(|c| {
        c.imap.unauthenticated_commands_per_minute = 5;
        c.auth.allow_plaintext_on_loopback = true;
    })
    .await;
    // a logged-in session is not counted (its LOGIN is)
    let mut user = Client::plain(h.imap).await;
    user.line().await;
    assert!(
        user.run("l", "LOGIN bob@example.com secret")
            .await
            .contains("l OK")
    );
    for i in 0..10 {
        assert!(user.run(&format!("n{i}"), "NOOP").await.contains("OK"));
    }
    let mut c = Client::plain(h.imap).await;
    c.line().await;
    for i in 0..4 {
        let r = c.run(&format!("c{i}"), "CAPABILITY").await;
        assert!(r.contains(&format!("c{i} OK")), "{r}");
    }
    assert_eq!(
        c.cmd("x CAPABILITY").await,
        "* BYE [UNAVAILABLE] too many commands, try again later\r\n"
    );
    assert_eq!(c.line().await, "", "closed");
    // the budget is the address's: another session is over it too
    let mut c = Client::plain(h.imap).await;
    c.line().await;
    assert!(
        c.cmd("y NOOP")
            .await
            .starts_with("* BYE [UNAVAILABLE] too many commands")
    );
    // the logged-in session goes on
    assert!(user.run("n", "NOOP").await.contains("n OK"));
}

/// Through the loopback proxy as `client`: STARTTLS, then a LOGIN; the tagged reply.
async fn proxied_login(h: &Harness, header: &[u8], password: &str) -> String {
    let mut c = Client::proxied(h.proxied.expect("proxied listener"), header).await;
    let greeting = c.line().await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    assert!(c.run("s", "STARTTLS").await.contains("s OK"));
    let mut c = c.upgrade().await;
    let r = c
        .run("l", &format!("LOGIN bob@example.com {password}"))
        .await;
    r.lines().last().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_counts_the_client_the_proxy_names() {
    // the harness blocks a client after 3 failures
    let h = Harness::start().await;
    let guesser = proxy_v1(sa("203.0.113.9:40000"), sa("198.51.100.1:143"));
    for _ in 0..3 {
        let r = proxied_login(&h, &guesser, "wrong").await;
        assert!(r.starts_with("l NO [AUTHENTICATIONFAILED]"), "{r}");
    }
    let r = proxied_login(&h, &guesser, "secret").await;
    assert!(r.starts_with("l NO [UNAVAILABLE]"), "{r}");
    // another client through the same proxy is not blocked
    let other = proxy_v2(sa("[2001:db8:5::1]:40000"), sa("[2001:db8::1]:143"));
    let r = proxied_login(&h, &other, "secret").await;
    assert!(r.starts_with("l OK"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_from_an_untrusted_address_gets_bye() {
    let h = Harness::start().await;
    let header = proxy_v1(sa("203.0.113.9:40000"), sa("198.51.100.1:143"));
    let mut c = Client::proxied(h.proxy_elsewhere.expect("listener"), &header).await;
    assert_eq!(
        c.line().await,
        "* BYE this port takes connections from its proxies only\r\n"
    );
    assert_eq!(c.line().await, "", "closed");
}
