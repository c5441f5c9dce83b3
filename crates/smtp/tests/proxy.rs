//! PROXY protocol v1/v2 on SMTP listeners, over real sockets: the client the header names
//! drives relay policy, `Received:` and the per-IP limit; a header from an address that
//! is not a trusted proxy is refused; bad, oversize and missing headers are closed.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use estafeta_net::testing::{proxy_v1, proxy_v2};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// The test proxy says the client came from here, to this address.
const OUTSIDE: &str = "203.0.113.9:40000";
const FRONT: &str = "198.51.100.1:25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_v1_client_drives_relay_policy_and_received() {
    // loopback is trusted to relay, as by default: the proxy is on loopback
    let h = Harness::with(|c| c.smtp.trusted_networks = vec!["127.0.0.0/8".into()]).await;
    // directly from loopback, relaying is allowed…
    let (mut direct, _) = Client::connect(h.mx).await;
    direct.cmd("EHLO local.test").await;
    direct.cmd("MAIL FROM:<a@local.test>").await;
    let r = direct.cmd("RCPT TO:<someone@elsewhere.test>").await;
    assert!(r.starts_with("250"), "{r}");
    // …through the proxy, the real client outside is not
    let (mut c, greeting) = Client::proxied(h.mx_proxied, &proxy_v1(sa(OUTSIDE), sa(FRONT))).await;
    assert!(greeting.starts_with("220 mail.test"), "{greeting}");
    c.cmd("EHLO outside.test").await;
    c.cmd("MAIL FROM:<a@outside.test>").await;
    let r = c.cmd("RCPT TO:<someone@elsewhere.test>").await;
    assert!(r.starts_with("554 5.7.1"), "{r}");
    let r = c.cmd("RCPT TO:<bob@example.com>").await;
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send("Subject: via proxy\r\n\r\nx\r\n.\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("250"), "{r}");
    let m = &h.inbox_text("bob@example.com").await[0];
    assert!(m.contains("([203.0.113.9])"), "{m}");
    assert!(!m.contains("127.0.0.1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_v2_before_implicit_tls_names_the_ipv6_client() {
    let h = Harness::start().await;
    let header = proxy_v2(sa("[2001:db8::9]:40000"), sa("[2001:db8::1]:465"));
    let (mut c, greeting) = Client::proxied_tls(h.submissions_proxied, &header).await;
    assert!(greeting.starts_with("220 mail.test"), "{greeting}");
    c.cmd("EHLO laptop.test").await;
    let r = c.auth_plain("bob@example.com", BOB_PASSWORD).await;
    assert!(r.starts_with("235"), "{r}");
    c.cmd("MAIL FROM:<bob@example.com>").await;
    c.cmd("RCPT TO:<ann@example.com>").await;
    c.cmd("DATA").await;
    c.send("Subject: v2\r\n\r\nx\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    let m = &h.inbox_text("ann@example.com").await[0];
    assert!(m.contains("2001:db8::9"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_ip_limit_counts_the_real_client() {
    let h = Harness::with(|c| c.smtp.max_connections_per_ip = 1).await;
    let one = proxy_v1(sa("203.0.113.1:1000"), sa(FRONT));
    let two = proxy_v2(sa("203.0.113.2:1000"), sa(FRONT));
    let (_a, g) = Client::proxied(h.mx_proxied, &one).await;
    assert!(g.starts_with("220"), "{g}");
    // the same proxy, another client: admitted
    let (_b, g) = Client::proxied(h.mx_proxied, &two).await;
    assert!(g.starts_with("220"), "{g}");
    // the first client again: over its limit
    let (_c, g) = Client::proxied(h.mx_proxied, &one).await;
    assert_eq!(
        g,
        "421 4.7.0 mail.test Error: too many connections from your address, try again later\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_from_an_untrusted_address_is_refused() {
    let h = Harness::with(|c| c.smtp.trusted_networks = vec!["127.0.0.0/8".into()]).await;
    // a spoofer on loopback claims to be a proxy for some outside client
    let (mut c, r) = Client::proxied(h.mx_proxy_elsewhere, &proxy_v1(sa(OUTSIDE), sa(FRONT))).await;
    assert_eq!(
        r,
        "554 5.7.1 mail.test Error: this port takes connections from its proxies only\r\n"
    );
    assert_eq!(c.reply().await, "", "closed after the refusal");
    // on a listener without proxy_protocol a PROXY line is just an unknown command, and
    // the session goes on as the socket's client
    let (mut c, _) = Client::connect(h.mx).await;
    let r = c.cmd("PROXY TCP4 203.0.113.9 198.51.100.1 40000 25").await;
    assert!(r.starts_with("500"), "{r}");
    c.cmd("EHLO local.test").await;
    assert!(c.cmd("MAIL FROM:<a@local.test>").await.starts_with("250"));
}

/// Connects to a PROXY listener, sends `bytes` and returns what the server said before it
/// closed (nothing, for a bad header) and how long it took.
async fn closed_after(addr: SocketAddr, bytes: &[u8]) -> (String, Duration) {
    let start = Instant::now();
    let (mut c, first) = Client::proxied(addr, bytes).await;
    let mut said = first;
    if !said.is_empty() {
        said.push_str(&c.reply().await);
    }
    (said, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_oversize_and_missing_headers_are_closed_within_the_bound() {
    let h = Harness::start().await;
    let oversize = format!("PROXY TCP4 {}\r\n", "1".repeat(300));
    let mut v2_huge = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".to_vec();
    v2_huge.extend([0u8; 64]);
    for (what, bytes) in [
        ("malformed", b"PROXY TCP4 nonsense here 1 2\r\n".to_vec()),
        ("oversize v1", oversize.into_bytes()),
        ("oversize v2", v2_huge),
        ("no header", b"EHLO direct.test\r\n".to_vec()),
        ("truncated", b"PROXY TCP4 203.0.113.9".to_vec()),
        ("nothing", Vec::new()),
    ] {
        let (said, took) = closed_after(h.mx_proxied, &bytes).await;
        assert_eq!(said, "", "{what}: closed without a greeting");
        assert!(took < Duration::from_secs(8), "{what}: took {took:?}");
    }
    // the server still serves proxied clients
    let (_c, g) = Client::proxied(h.mx_proxied, &proxy_v1(sa(OUTSIDE), sa(FRONT))).await;
    assert!(g.starts_with("220"), "{g}");
}
