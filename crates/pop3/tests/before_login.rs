//! POP3 before login, over real sockets: the command budget per client and a PROXY
//! header from an address that is not a trusted proxy.

mod common;

use std::net::SocketAddr;

use common::{Client, Harness};
use estafeta_net::testing::proxy_v1;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_command_budget_before_login_gets_err() {
    let h = Harness::start_with(|c| {
        c.pop3.unauthenticated_commands_per_minute = 4;
        c.auth.allow_plaintext_on_loopback = true;
    })
    .await;
    let mut user = Client::plain(h.pop3).await;
    user.line().await;
    assert!(user.cmd("USER bob@example.com").await.starts_with("+OK"));
    assert!(user.cmd("PASS secret").await.starts_with("+OK"));
    for _ in 0..10 {
        assert!(user.cmd("NOOP").await.starts_with("+OK"));
    }
    let mut c = Client::plain(h.pop3).await;
    c.line().await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    c.multiline().await;
    assert!(c.cmd("NOOP").await.starts_with("-ERR"), "NOOP before login");
    assert_eq!(
        c.cmd("CAPA").await,
        "-ERR [SYS/TEMP] too many commands, try again later\r\n"
    );
    assert_eq!(c.line().await, "", "closed");
    assert!(
        user.cmd("STAT").await.starts_with("+OK"),
        "the logged-in session goes on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_from_an_untrusted_address_gets_err() {
    let h = Harness::start().await;
    let header = proxy_v1(sa("203.0.113.9:40000"), sa("198.51.100.1:110"));
    let mut c = Client::proxied(h.proxy_elsewhere.expect("listener"), &header).await;
    assert_eq!(
        c.line().await,
        "-ERR this port takes connections from its proxies only\r\n"
    );
    assert_eq!(c.line().await, "", "closed");
}
