//! DANE's DNSSEC-validated lookups against a signed zone served on loopback (its key as
//! the trust anchor): what counts as secure, and what is no DANE at all.

use std::net::Ipv4Addr;

use estafeta_testkit::dns::{Records, TestDns};
use estafeta_trust::dane::{Dane, Tlsa, TlsaAnswer};

fn records() -> Records {
    Records::new()
        .mx("dane.test", 10, "mx.dane.test")
        .a("mx.dane.test", Ipv4Addr::new(127, 0, 0, 2))
        .tlsa("_25._tcp.mx.dane.test", 3, 1, 1, &[7; 32])
        .tlsa("_25._tcp.mx.dane.test", 1, 1, 1, &[8; 32])
        .tlsa("_25._tcp.pkix.dane.test", 0, 0, 1, &[9; 32])
}

fn anchored(dns: &TestDns, key: &str) -> (Dane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("anchor.txt");
    std::fs::write(&anchor, format!("{key}\n")).unwrap();
    (Dane::new(&[dns.addr], Some(&anchor)).unwrap(), dir)
}

#[tokio::test]
async fn secure_records_count_and_nothing_else_does() {
    let dns = TestDns::start_signed(records()).await;
    let (dane, _dir) = anchored(&dns, &dns.trust_anchor());
    assert!(dane.mx_is_secure("dane.test").await);
    assert!(
        !dane.mx_is_secure("nothing.dane.test").await,
        "no MX is not a secure MX"
    );
    // the PKIX-EE record is left out; the DANE-EE one is kept
    assert_eq!(
        dane.tlsa("mx.dane.test", 25).await,
        TlsaAnswer::Records(vec![Tlsa {
            end_entity: true,
            spki: true,
            matching: 1,
            data: vec![7; 32],
        }])
    );
    assert_eq!(
        dane.tlsa("mx.dane.test", 587).await,
        TlsaAnswer::None,
        "other port"
    );
    assert_eq!(
        dane.tlsa("pkix.dane.test", 25).await,
        TlsaAnswer::None,
        "usage 0 only"
    );
}

#[tokio::test]
async fn answers_that_do_not_validate_are_never_secure() {
    // the same records unsigned, and signed by another key than the anchor
    let other = TestDns::start_signed(Records::new()).await;
    for dns in [
        TestDns::start(records()).await,
        TestDns::start_signed(records()).await,
    ] {
        let (dane, _dir) = anchored(&dns, &other.trust_anchor());
        assert!(!dane.mx_is_secure("dane.test").await);
        assert!(
            matches!(dane.tlsa("mx.dane.test", 25).await, TlsaAnswer::Failed(_)),
            "a TLSA answer that does not validate is a failure, not a pass"
        );
    }
}

#[tokio::test]
async fn a_bad_trust_anchor_file_is_a_clear_error() {
    let dns = TestDns::start(Records::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let e = Dane::new(&[dns.addr], Some(&missing)).err().unwrap();
    assert!(
        e.starts_with("trust.dnssec_trust_anchor: cannot read"),
        "{e}"
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let e = Dane::new(&[dns.addr], Some(&empty)).err().unwrap();
    assert!(e.contains("holds no DNSKEY record"), "{e}");
}
