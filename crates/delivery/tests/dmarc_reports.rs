//! DMARC aggregate reports (RFC 7489 §7.2) over real sockets: mail from outside (a client
//! on loopback that is not trusted) checked against records served by a DNS server on
//! loopback, and once the period ends the report the From: domain asked for, delivered to
//! a scripted MX host, read back with mail-auth.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::scripted_smtp::{Script, ScriptedSmtp};
use mail_auth::report::{ActionDisposition, DmarcResult, Report};

/// The report goes to the domain's own address and to another domain that consents
/// (`sender.test._report._dmarc.consent.test`), never to one that does not; it counts the
/// message with its source address, identifiers and results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_from_domain_gets_its_aggregate_report() {
    let mx = ScriptedSmtp::start_on("127.0.0.2:0".parse().unwrap(), Script::new()).await;
    let dns = TestDns::start(
        Records::new()
            .txt(
                "_dmarc.sender.test",
                "v=DMARC1; p=quarantine; rua=mailto:dmarc@sender.test,mailto:agg@consent.test,mailto:agg@refuse.test",
            )
            .txt("sender.test._report._dmarc.consent.test", "v=DMARC1")
            .txt("sender.test", "v=spf1 ip4:127.0.0.1 -all")
            .mx("sender.test", 10, "mx.test")
            .mx("consent.test", 10, "mx.test")
            .mx("refuse.test", 10, "mx.test")
            .a("mx.test", Ipv4Addr::new(127, 0, 0, 2)),
    )
    .await;
    let s = Sender::start(
        &dns,
        mx.addr.port(),
        Options {
            tables: "[trust]\ndmarc_reports = true\nreport_period = 2\n",
            smtp_trusting: Some(&[]),
            ..Options::default()
        },
    )
    .await;
    let smtp = s.smtp.expect("SMTP listener");
    let data =
        "From: Bob <bob@sender.test>\r\nTo: ann@example.com\r\nSubject: counted\r\n\r\nHi.\r\n";
    let (rcpts, end) =
        smtp_transaction(smtp, "<bob@sender.test>", &["<ann@example.com>"], data).await;
    assert!(rcpts[0].starts_with("250"), "{rcpts:?}");
    assert!(
        end.as_deref().is_some_and(|e| e.starts_with("250")),
        "{end:?}"
    );
    let reports = wait_for("the DMARC report at both addresses", || {
        let got: Vec<_> = mx
            .messages()
            .into_iter()
            .filter(|m| String::from_utf8_lossy(&m.body).contains("DMARC aggregate report"))
            .collect();
        let to: Vec<String> = got.iter().flat_map(|m| m.rcpts.clone()).collect();
        std::future::ready(
            (to.contains(&"RCPT TO:<dmarc@sender.test>".to_string())
                && to.contains(&"RCPT TO:<agg@consent.test>".to_string()))
            .then_some(got),
        )
    })
    .await;
    for m in &reports {
        assert!(m.mail.starts_with("MAIL FROM:<>"), "{}", m.mail);
        assert!(
            !m.rcpts.iter().any(|r| r.contains("refuse.test")),
            "no report to a domain that does not consent: {:?}",
            m.rcpts
        );
        let report = Report::parse_rfc5322(&m.body, 1 << 20).unwrap();
        assert_eq!(report.domain(), "sender.test");
        assert_eq!(report.org_name(), "out.test");
        assert_eq!(report.date_range_end() - report.date_range_begin(), 2);
        let records = report.records();
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(r.count(), 1);
        assert_eq!(r.source_ip(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(r.header_from(), "sender.test");
        assert_eq!(r.dmarc_spf_result(), DmarcResult::Pass);
        assert_ne!(r.dmarc_dkim_result(), DmarcResult::Pass, "no signature");
        assert_eq!(
            r.action_disposition(),
            ActionDisposition::None,
            "SPF aligned: delivered"
        );
    }
    assert_eq!(
        s.wait_ann(1).await.len(),
        1,
        "the message itself was delivered"
    );
}
