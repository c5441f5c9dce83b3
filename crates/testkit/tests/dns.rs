//! The loopback DNS server answers hickory-resolver 0.26 as delivery will ask it: MX in
//! preference order, A and AAAA of the hosts, a null MX, TXT, and nothing for unknown names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use estafeta_testkit::dns::{Records, TestDns};
use hickory_resolver::proto::rr::RData;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_mx_a_aaaa_txt_and_null_mx() {
    let dns = TestDns::start(
        Records::new()
            .mx("example.test", 20, "mx2.example.test")
            .mx("example.test", 10, "mx1.example.test")
            .a("mx1.example.test", Ipv4Addr::new(127, 0, 0, 2))
            .a("mx2.example.test", Ipv4Addr::new(127, 0, 0, 3))
            .aaaa("mx2.example.test", Ipv6Addr::LOCALHOST)
            .a("nomx.test", Ipv4Addr::new(127, 0, 0, 4))
            .null_mx("nomail.test")
            .txt("example.test", "v=spf1 ip4:127.0.0.2 -all"),
    )
    .await;
    assert!(dns.addr.ip().is_loopback());
    let resolver = dns.resolver();

    let mx = resolver.mx_lookup("example.test.").await.expect("MX");
    let mut hosts: Vec<(u16, String)> = mx
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        [
            (10, "mx1.example.test.".to_string()),
            (20, "mx2.example.test.".to_string())
        ]
    );

    let ips: Vec<IpAddr> = resolver
        .lookup_ip("mx2.example.test.")
        .await
        .expect("A/AAAA")
        .iter()
        .collect();
    assert!(
        ips.contains(&IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))),
        "{ips:?}"
    );
    assert!(ips.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)), "{ips:?}");
    let a = resolver.ipv4_lookup("mx1.example.test.").await.expect("A");
    assert!(
        a.answers()
            .iter()
            .any(|r| matches!(&r.data, RData::A(ip) if ip.0 == Ipv4Addr::new(127, 0, 0, 2)))
    );

    // a domain without MX but with an address: no MX records (delivery falls back to A)
    let none = resolver.mx_lookup("nomx.test.").await;
    assert!(
        none.as_ref().map_or(true, |l| l.answers().is_empty()),
        "{none:?}"
    );

    // null MX: one record, preference 0, exchange the root
    let null = resolver.mx_lookup("nomail.test.").await.expect("null MX");
    let records: Vec<(u16, bool)> = null
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.is_root())),
            _ => None,
        })
        .collect();
    assert_eq!(records, [(0, true)]);

    let txt = resolver.txt_lookup("example.test.").await.expect("TXT");
    let texts: Vec<String> = txt
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["v=spf1 ip4:127.0.0.2 -all"]);

    // an unknown name: an error, not an answer
    assert!(resolver.mx_lookup("unknown.test.").await.is_err());
}
