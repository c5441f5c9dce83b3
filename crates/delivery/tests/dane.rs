//! DANE (RFC 7672) over real sockets: a DNS server on loopback whose zone is signed
//! (DNSSEC, its key given to the sender as `trust.dnssec_trust_anchor`), TLSA records for
//! a scripted MX host with STARTTLS (a self-signed certificate for `scripted.test`), and
//! the sender's validating resolver deciding whether the records count.

mod common;

use std::net::Ipv4Addr;

use common::*;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::scripted_smtp::{Script, ScriptedSmtp};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

const MX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

struct World {
    mx: ScriptedSmtp,
    sender: Sender,
    _dns: TestDns,
    _anchor: tempfile::TempDir,
}

/// What a TLSA record of the MX host says, as `usage selector matching`, and whether its
/// data is right.
struct Case {
    what: &'static str,
    usage: u8,
    selector: u8,
    matching: u8,
    right: bool,
    starttls: bool,
    signed: bool,
}

async fn world(case: &Case) -> World {
    let mx = ScriptedSmtp::start_on(
        "127.0.0.2:0".parse().unwrap(),
        Script {
            starttls: case.starttls,
            ..Script::new()
        },
    )
    .await;
    let cert = CertificateDer::from_pem_slice(&mx.certificate_pem()).unwrap();
    let mut data =
        estafeta_trust::dane::association(&cert, case.selector == 1, case.matching).unwrap();
    if !case.right {
        data[0] ^= 0xff;
    }
    let records = Records::new()
        .mx("dane.test", 10, "scripted.test")
        .a("scripted.test", MX_IP)
        .tlsa(
            &format!("_{}._tcp.scripted.test", mx.addr.port()),
            case.usage,
            case.selector,
            case.matching,
            &data,
        );
    // the sender's anchor is the key of a signed zone; an unsigned zone then fails to
    // validate, as a forged answer would
    let signed = TestDns::start_signed(Records::new()).await;
    let dns = if case.signed {
        TestDns::start_signed(records).await
    } else {
        TestDns::start(records).await
    };
    let anchor_dir = tempfile::tempdir().unwrap();
    let anchor = anchor_dir.path().join("anchor.txt");
    let key = if case.signed {
        dns.trust_anchor()
    } else {
        signed.trust_anchor()
    };
    std::fs::write(&anchor, format!("{key}\n")).unwrap();
    let tables = format!(
        "[trust]\nmta_sts = false\ndnssec_trust_anchor = \"{}\"\n",
        anchor.display()
    );
    let sender = Sender::start(&dns, mx.addr.port(), Options::tables(&tables)).await;
    World {
        mx,
        sender,
        _dns: dns,
        _anchor: anchor_dir,
    }
}

const fn case(what: &'static str, usage: u8, selector: u8, matching: u8) -> Case {
    Case {
        what,
        usage,
        selector,
        matching,
        right: true,
        starttls: true,
        signed: true,
    }
}

/// Secure TLSA records that match the MX host's certificate: delivered over TLS, a
/// self-signed certificate no authority vouches for included (DANE-EE: the key is the
/// identity; DANE-TA: the certificate named is the one root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_tlsa_records_deliver_over_tls() {
    for c in [
        case("DANE-EE SPKI SHA-256", 3, 1, 1),
        case("DANE-EE certificate SHA-512", 3, 0, 2),
        case("DANE-EE SPKI in full", 3, 1, 0),
        case("DANE-TA certificate SHA-256", 2, 0, 1),
    ] {
        let w = world(&c).await;
        w.sender.queue(ANN, &["a@dane.test"], "dane").await;
        wait_messages(&w.mx, 1).await;
        w.sender.wait_empty().await;
        assert!(w.mx.sessions().iter().all(|s| s.tls), "{}", c.what);
    }
}

/// Secure TLSA records the certificate does not match, or a host without STARTTLS: the
/// mail waits, and nothing is sent in plaintext instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_records_do_not_match_is_not_used() {
    for c in [
        Case {
            right: false,
            ..case("DANE-EE SPKI SHA-256, wrong digest", 3, 1, 1)
        },
        Case {
            right: false,
            ..case("DANE-TA certificate SHA-256, wrong digest", 2, 0, 1)
        },
        Case {
            starttls: false,
            ..case("no STARTTLS", 3, 1, 1)
        },
    ] {
        let w = world(&c).await;
        let id = w.sender.queue(ANN, &["a@dane.test"], "dane-refused").await;
        let r = w.sender.wait_deferred(&id).await;
        let reply = r.last_reply.unwrap_or_default();
        assert!(reply.starts_with('4'), "{}: {reply}", c.what);
        assert!(
            reply.contains("certificate") || reply.contains("STARTTLS"),
            "{}: {reply}",
            c.what
        );
        assert!(w.mx.messages().is_empty(), "{}", c.what);
        for s in w.mx.sessions() {
            assert!(
                !s.lines().iter().any(|l| l.starts_with("MAIL")),
                "{}",
                c.what
            );
        }
    }
}

/// TLSA records that do not count: in a zone that does not validate (unsigned, under an
/// anchor that says it should be), or with usages SMTP does not use (PKIX-EE): delivered
/// as without DANE, even though the digest is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_do_not_count_leave_tls_opportunistic() {
    for c in [
        Case {
            right: false,
            signed: false,
            ..case("unsigned zone", 3, 1, 1)
        },
        Case {
            right: false,
            ..case("PKIX-EE", 1, 1, 1)
        },
    ] {
        let w = world(&c).await;
        w.sender.queue(ANN, &["a@dane.test"], "no-dane").await;
        wait_messages(&w.mx, 1).await;
        w.sender.wait_empty().await;
    }
}
