//! MTA-STS (RFC 8461) over real sockets: recipient domains whose `_mta-sts` TXT records
//! are served by a DNS server on loopback, policies served by an HTTPS server on loopback
//! (its certificate in `trust.ca_file`, or not), and scripted MX hosts with STARTTLS
//! (a certificate for `scripted.test`, also in `trust.ca_file`).

mod common;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use common::*;
use estafeta_store::RecipientState;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::https::{HttpsServer, answer, policy_answer};
use estafeta_testkit::scripted_smtp::{Script, ScriptedSmtp};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const MX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn enforce(mx: &str) -> String {
    format!("version: STSv1\r\nmode: enforce\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

/// `domain` with one MX `mx` at 127.0.0.2, an MTA-STS TXT record and its policy host.
fn sts_domain(records: Records, domain: &str, mx: &str) -> Records {
    mx_of(records, domain, mx).a(mx, MX_IP)
}

/// `domain` with one MX `mx`, an MTA-STS TXT record and its policy host.
fn mx_of(records: Records, domain: &str, mx: &str) -> Records {
    records
        .mx(domain, 10, mx)
        .txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=20261130")
        .a(&format!("mta-sts.{domain}"), LOCAL)
}

/// The world of one test: an MX, a policy server, DNS and the sender trusting both
/// certificates.
struct World {
    mx: ScriptedSmtp,
    https: HttpsServer,
    sender: Sender,
    _dns: TestDns,
    _ca: tempfile::TempDir,
}

async fn world(script: Script, records: Records, policies: HashMap<String, Vec<u8>>) -> World {
    let mx = ScriptedSmtp::start_on("127.0.0.2:0".parse().unwrap(), script).await;
    // the certificate names every policy host but mta-sts.badcert.test
    let mut names: Vec<String> = policies
        .keys()
        .filter(|h| !h.contains("badcert"))
        .cloned()
        .collect();
    names.extend(["mta-sts.sts.test".into(), "mta-sts.missing.test".into()]);
    let https = HttpsServer::start(&names, policies).await;
    let dns = TestDns::start(records).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        [mx.certificate_pem(), https.certificate_pem()].concat(),
    )
    .unwrap();
    let delivery = format!("https_port = {}", https.addr.port());
    let tables = format!("[trust]\nca_file = \"{}\"\n", ca.display());
    let sender = Sender::start(
        &dns,
        mx.addr.port(),
        Options {
            delivery: &delivery,
            tables: &tables,
            ..Options::default()
        },
    )
    .await;
    World {
        mx,
        https,
        sender,
        _dns: dns,
        _ca: dir,
    }
}

fn starttls() -> Script {
    Script {
        starttls: true,
        ..Script::new()
    }
}

async fn deferred(s: &Sender, id: &str) -> String {
    let store = s.store.clone();
    let r = wait_for("the recipient to be deferred", || {
        let store = store.clone();
        let id = id.to_string();
        async move {
            let r = store.queue_get(&id).await.ok()??.recipients[0].clone();
            (r.state == RecipientState::Deferred).then_some(r)
        }
    })
    .await;
    r.last_reply.unwrap_or_default()
}

/// `enforce`, the MX named by the policy and its certificate valid: delivered over TLS;
/// the policy is fetched once and then taken from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_delivers_over_verified_tls_and_fetches_the_policy_once() {
    let records = sts_domain(Records::new(), "sts.test", "scripted.test");
    let policies = HashMap::from([(
        "mta-sts.sts.test".to_string(),
        policy_answer(&enforce("scripted.test")),
    )]);
    let w = world(starttls(), records, policies).await;
    w.sender.queue(ANN, &["a@sts.test"], "sts-1").await;
    wait_messages(&w.mx, 1).await;
    w.sender.wait_empty().await;
    w.sender.queue(ANN, &["b@sts.test"], "sts-2").await;
    wait_messages(&w.mx, 2).await;
    w.sender.wait_empty().await;
    assert!(w.mx.sessions().iter().all(|s| s.tls), "both over TLS");
    assert_eq!(w.https.asked(), vec!["mta-sts.sts.test"], "fetched once");
}

/// `enforce` and an MX whose certificate does not name it, or that offers no STARTTLS:
/// the mail waits (4.x), and is never sent in plaintext instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_defers_rather_than_send_without_verified_tls() {
    for (script, mx, why) in [
        (starttls(), "wrong-name.test", "certificate"),
        (Script::new(), "scripted.test", "STARTTLS"),
    ] {
        let records = sts_domain(Records::new(), "sts.test", mx);
        let policies =
            HashMap::from([("mta-sts.sts.test".to_string(), policy_answer(&enforce(mx)))]);
        let w = world(script, records, policies).await;
        let id = w.sender.queue(ANN, &["a@sts.test"], "no-tls").await;
        let reply = deferred(&w.sender, &id).await;
        assert!(reply.contains(why), "{mx}: {reply}");
        assert!(reply.starts_with('4'), "{reply}");
        assert!(w.mx.messages().is_empty(), "{mx}: nothing sent");
        for session in w.mx.sessions() {
            assert!(
                !session.lines().iter().any(|l| l.starts_with("MAIL")),
                "{:?}",
                session.lines()
            );
        }
    }
}

/// `enforce` naming none of the domain's MX hosts: no connection at all, 4.7.5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_defers_when_the_policy_names_no_mx_of_the_domain() {
    let records = sts_domain(Records::new(), "sts.test", "scripted.test");
    for pattern in [
        "mail.sts.test",
        "*.scripted.test",
        "*.sts.test",
        "scripted.test.evil",
    ] {
        let policies = HashMap::from([(
            "mta-sts.sts.test".to_string(),
            policy_answer(&enforce(pattern)),
        )]);
        let w = world(starttls(), records.clone(), policies).await;
        let id = w.sender.queue(ANN, &["a@sts.test"], "unnamed").await;
        let reply = deferred(&w.sender, &id).await;
        assert!(
            reply.starts_with("4.7.5 no MX host of sts.test"),
            "{pattern}: {reply}"
        );
        assert!(w.mx.sessions().is_empty(), "{pattern}: no connection");
    }
}

/// A policy that cannot be had (a policy host whose certificate does not check out, a
/// 404, a redirect, HTML, a malformed or oversized policy) is no policy: the mail goes
/// as it would without MTA-STS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_cannot_be_had_is_no_policy() {
    let huge = format!("{}{}", enforce("wrong-name.test"), "x".repeat(70_000));
    let cases: Vec<(&str, Option<Vec<u8>>)> = vec![
        (
            "badcert.test",
            Some(policy_answer(&enforce("wrong-name.test"))),
        ),
        ("missing.test", None),
        (
            "moved.test",
            Some(answer(
                "301 Moved Permanently\r\nLocation: https://mta-sts.sts.test/",
                "text/plain",
                "",
            )),
        ),
        (
            "html.test",
            Some(answer("200 OK", "text/html", &enforce("wrong-name.test"))),
        ),
        (
            "garbled.test",
            Some(policy_answer("version: STSv1\r\nmode: strict\r\n")),
        ),
        ("huge.test", Some(policy_answer(&huge))),
    ];
    let mut records = Records::new().a("wrong-name.test", MX_IP);
    let mut policies = HashMap::new();
    for (domain, answer) in &cases {
        records = mx_of(records, domain, "wrong-name.test");
        if let Some(a) = answer {
            policies.insert(format!("mta-sts.{domain}"), a.clone());
        }
    }
    let w = world(starttls(), records, policies).await;
    let to: Vec<String> = cases.iter().map(|(d, _)| format!("u@{d}")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    w.sender.queue(ANN, &to, "no-policy").await;
    wait_messages(&w.mx, cases.len()).await;
    w.sender.wait_empty().await;
    let asked = w.https.asked();
    for (domain, _) in &cases[1..] {
        assert!(
            asked.contains(&format!("mta-sts.{domain}")),
            "{domain}: {asked:?}"
        );
    }
    assert!(
        !asked.contains(&"mta-sts.badcert.test".to_string()),
        "no request over a bad certificate"
    );
}

/// `testing`: delivered as without a policy, even to an MX whose certificate fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_mode_delivers_anyway() {
    let records = sts_domain(Records::new(), "sts.test", "wrong-name.test");
    let policy = "version: STSv1\nmode: testing\nmx: wrong-name.test\nmax_age: 600\n";
    let policies = HashMap::from([("mta-sts.sts.test".to_string(), policy_answer(policy))]);
    let w = world(starttls(), records, policies).await;
    w.sender.queue(ANN, &["a@sts.test"], "testing").await;
    wait_messages(&w.mx, 1).await;
    w.sender.wait_empty().await;
    assert_eq!(w.https.asked(), vec!["mta-sts.sts.test"]);
}
