//! MTA-STS (RFC 8461) over real sockets: recipient domains whose `_mta-sts` TXT records
//! are served by a DNS server on loopback, policies served by an HTTPS server on loopback
//! (its certificate in `trust.ca_file`, or not), and scripted MX hosts with STARTTLS
//! (a certificate for `scripted.test`, also in `trust.ca_file`); and the TLS reports
//! (RFC 8460) of those sessions, sent by mail to the domains that ask.

mod common;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use common::*;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::https::{HttpsServer, answer, policy_answer};
use estafeta_testkit::scripted_smtp::{Script, ScriptedSmtp};
use mail_auth::report::tlsrpt::{PolicyType, ResultType, TlsReport};

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
    world_with(script, move |_| records, policies, "").await
}

/// [`world`] with more `[trust]` keys, and records that may name the HTTPS server's port.
async fn world_with(
    script: Script,
    records: impl FnOnce(u16) -> Records,
    policies: HashMap<String, Vec<u8>>,
    trust: &str,
) -> World {
    let mx = ScriptedSmtp::start_on("127.0.0.2:0".parse().unwrap(), script).await;
    // the certificate names every policy host but mta-sts.badcert.test
    let mut names: Vec<String> = policies
        .keys()
        .filter(|h| !h.contains("badcert"))
        .cloned()
        .collect();
    names.extend(["mta-sts.sts.test".into(), "mta-sts.missing.test".into()]);
    let https = HttpsServer::start(&names, policies).await;
    let dns = TestDns::start(records(https.addr.port())).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        [mx.certificate_pem(), https.certificate_pem()].concat(),
    )
    .unwrap();
    let delivery = format!("https_port = {}", https.addr.port());
    let tables = format!("[trust]\nca_file = \"{}\"\n{trust}\n", ca.display());
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
        let reply = w
            .sender
            .wait_deferred(&id)
            .await
            .last_reply
            .unwrap_or_default();
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
        let reply = w
            .sender
            .wait_deferred(&id)
            .await
            .last_reply
            .unwrap_or_default();
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

/// TLS reports: each domain that publishes an `_smtp._tls` record gets, once the period
/// ends, a report of our sessions with its MX hosts under its policy: successes, and
/// failures by result type and host. The report goes to its `mailto:` from `<>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_reports_count_successes_and_failures_per_domain() {
    let records =
        |port: u16| {
            let records = sts_domain(Records::new(), "sts.test", "scripted.test");
            sts_domain(records, "bad.test", "wrong-name.test")
            .txt(
                "_smtp._tls.sts.test",
                &format!(
                    "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test,https://reports.test:{port}/tlsrpt"
                ),
            )
            .a("reports.test", LOCAL)
            .txt("_smtp._tls.bad.test", "v=TLSRPTv1;rua=mailto:tlsrpt@reports.test")
            .mx("reports.test", 10, "scripted.test")
        };
    let policies = HashMap::from([
        (
            "mta-sts.sts.test".to_string(),
            policy_answer(&enforce("scripted.test")),
        ),
        (
            "mta-sts.bad.test".to_string(),
            policy_answer(&enforce("wrong-name.test")),
        ),
        (
            "reports.test".to_string(),
            answer("201 Created", "text/plain", ""),
        ),
    ]);
    let w = world_with(starttls(), records, policies, "report_period = 2").await;
    w.sender.queue(ANN, &["a@sts.test"], "counted").await;
    w.sender.queue(ANN, &["a@bad.test"], "refused").await;
    let reports = wait_for("the TLS reports of sts.test and bad.test", || {
        let got: Vec<_> =
            w.mx.messages()
                .into_iter()
                .filter(|m| m.rcpts == vec!["RCPT TO:<tlsrpt@reports.test>"])
                .collect();
        let domains: std::collections::HashSet<String> = got
            .iter()
            .filter_map(|m| TlsReport::parse_rfc5322(&m.body, 1 << 20).ok())
            .map(|r| r.policies[0].policy.policy_domain.clone())
            .collect();
        std::future::ready((domains.len() == 2).then_some(got))
    })
    .await;
    for m in &reports {
        assert!(m.mail.starts_with("MAIL FROM:<>"), "{}", m.mail);
        let text = String::from_utf8_lossy(&m.body);
        assert!(text.contains("TLS-Report-Submitter: out.test"), "{text}");
        let report = TlsReport::parse_rfc5322(&m.body, 1 << 20).unwrap();
        let end = report.date_range.end_datetime.to_timestamp();
        assert_eq!(end - report.date_range.start_datetime.to_timestamp(), 2);
        for p in &report.policies {
            assert_eq!(p.policy.policy_type, PolicyType::Sts);
            assert!(
                p.policy.policy_string.iter().any(|l| l == "mode: enforce"),
                "{p:?}"
            );
            match p.policy.policy_domain.as_str() {
                "sts.test" => {
                    assert_eq!(
                        (p.summary.total_success, p.summary.total_failure),
                        (1, 0),
                        "{p:?}"
                    );
                    assert_eq!(p.policy.mx_host, vec!["scripted.test"]);
                }
                "bad.test" => {
                    assert_eq!(p.summary.total_success, 0, "{p:?}");
                    assert!(p.summary.total_failure >= 1, "{p:?}");
                    let d = &p.failure_details[0];
                    assert_eq!(d.result_type, ResultType::CertificateHostMismatch, "{d:?}");
                    assert_eq!(d.receiving_mx_hostname.as_deref(), Some("wrong-name.test"));
                    assert_eq!(d.receiving_ip, Some(MX_IP.into()));
                }
                other => panic!("a report for {other}"),
            }
        }
    }
    // sts.test's report was also posted to its https: address, the same report
    let posted = wait_for("the TLS report posted over HTTPS", || {
        let posted: Vec<_> = w
            .https
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        std::future::ready((!posted.is_empty()).then_some(posted))
    })
    .await;
    assert_eq!(posted[0].path, "/tlsrpt");
    assert_eq!(posted[0].content_type, "application/tlsrpt+gzip");
    let mut json = String::new();
    std::io::Read::read_to_string(
        &mut mail_auth::flate2::read::GzDecoder::new(&posted[0].body[..]),
        &mut json,
    )
    .unwrap();
    let report = TlsReport::parse_json(json.as_bytes()).unwrap();
    assert_eq!(report.policies[0].policy.policy_domain, "sts.test");
}
