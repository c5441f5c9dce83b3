//! The DSN builder alone: which outcomes owe a report, status codes, and the report's
//! structure as an independent parser (mail-parser) reads it.

use estafeta_store::{Notify, QueueRecipient, QueuedMessage, RecipientState, ReportKind};

use super::*;

fn message(sender: &str, ret: Option<&str>) -> QueuedMessage {
    QueuedMessage {
        id: "0123456789ABCDEF".into(),
        blob_hash: String::new(),
        sender: sender.into(),
        envid: Some("env 1".into()),
        ret: ret.and_then(Ret::parse),
        size: 0,
        created_at: 1_700_000_000,
        auth_user: None,
        recipients: Vec::new(),
    }
}

fn rcpt(address: &str, notify: Option<&str>, reply: &str, report: ReportKind) -> QueueRecipient {
    QueueRecipient {
        id: 1,
        queue_id: "0123456789ABCDEF".into(),
        address: address.into(),
        domain: address.rsplit('@').next().unwrap_or("").into(),
        orcpt: Some("rfc822;Orig@x.test".into()),
        notify: notify.and_then(Notify::parse),
        state: RecipientState::Failed,
        attempts: 1,
        next_attempt: 0,
        last_reply: Some(reply.into()),
        last_host: Some("mx.x.test[192.0.2.1]:25".into()),
        last_attempt: Some(1_700_000_100),
        report: Some(report),
        delay_reported: false,
        lease_owner: None,
        lease_until: None,
        failure: None,
    }
}

#[test]
fn who_gets_a_report() {
    let m = message("a@example.com", None);
    let null = message("", None);
    let r = |n| rcpt("b@x.test", n, "550 5.1.1 no", ReportKind::Failed);
    assert_eq!(on_failure(&m, &r(None)), Some(ReportKind::Failed));
    assert_eq!(on_failure(&m, &r(Some("NEVER"))), None);
    assert_eq!(on_failure(&m, &r(Some("SUCCESS"))), None);
    assert_eq!(on_failure(&null, &r(None)), None, "null sender");
    assert_eq!(
        on_success(&m, &r(Some("SUCCESS")), false),
        Some(ReportKind::Relayed)
    );
    assert_eq!(
        on_success(&m, &r(Some("SUCCESS")), true),
        None,
        "the next hop reports"
    );
    assert_eq!(on_success(&m, &r(None), false), None);
    let t = m.created_at;
    assert_eq!(
        on_delay(&m, &r(Some("DELAY")), Some(3600), t + 3600),
        Some(ReportKind::Delayed)
    );
    assert_eq!(
        on_delay(&m, &r(Some("DELAY")), Some(3600), t + 10),
        None,
        "too early"
    );
    assert_eq!(
        on_delay(&m, &r(None), Some(3600), t + 9999),
        None,
        "not asked"
    );
    assert_eq!(
        on_delay(&m, &r(Some("DELAY")), None, t + 9999),
        None,
        "switched off"
    );
    let mut sent = r(Some("DELAY"));
    sent.delay_reported = true;
    assert_eq!(on_delay(&m, &sent, Some(1), t + 9999), None, "once");
}

#[test]
fn status_codes() {
    let code = |reply: &str, kind| status_code(&rcpt("b@x.test", None, reply, kind), kind);
    assert_eq!(code("550 5.1.1 no such user", ReportKind::Failed), "5.1.1");
    assert_eq!(code("554 rejected", ReportKind::Failed), "5.0.0");
    assert_eq!(code("5.1.10 null MX", ReportKind::Failed), "5.1.10");
    assert_eq!(
        code("4.4.7 expired; last error: 451 x", ReportKind::Failed),
        "4.4.7"
    );
    assert_eq!(code("451 4.3.0 later", ReportKind::Failed), "4.4.7");
    assert_eq!(code("451 4.3.0 later", ReportKind::Delayed), "4.3.0");
    assert_eq!(code("250 2.0.0 ok", ReportKind::Relayed), "2.0.0");
}

#[test]
fn report_structure_parses() {
    use mail_parser::{MessageParser, MimeHeaders};
    let b = DsnBuilder {
        hostname: "out.test".into(),
        max_queue_time: 86_400,
    };
    let body = "From: a@example.com\r\nSubject: caf\u{e9}\r\n\r\nBody \u{e9}t\u{e9}\r\n";
    let m = message("a@example.com", None);
    let rs = vec![
        rcpt(
            "b@x.test",
            None,
            "550 5.1.1 <b@x.test>: no such user",
            ReportKind::Failed,
        ),
        rcpt(
            "c@x.test",
            Some("DELAY"),
            "451 4.2.0 later",
            ReportKind::Delayed,
        ),
    ];
    let raw = b.report(&m, body.as_bytes(), &rs, 1_700_000_200);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let msg = MessageParser::default().parse(&raw).expect("parses");
    assert_eq!(msg.subject(), Some("Undelivered Mail Returned to Sender"));
    let ct = msg.content_type().unwrap();
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    let ids = msg.root_part().sub_parts().unwrap().to_vec();
    let status = String::from_utf8_lossy(msg.parts[ids[1] as usize].contents()).into_owned();
    assert!(
        status.contains("Original-Envelope-Id: env 1\r\n"),
        "{status}"
    );
    assert!(
        status.contains("Original-Recipient: rfc822;Orig@x.test\r\n"),
        "{status}"
    );
    assert!(
        status.contains("Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.x.test\r\n"),
        "{status}"
    );
    assert!(
        status.contains("Action: delayed\r\nStatus: 4.2.0\r\n"),
        "{status}"
    );
    assert!(status.contains("Will-Retry-Until: "), "{status}");
    // the 8-bit message goes back whole, 8bit, unchanged
    let returned = &msg.parts[ids[2] as usize];
    assert!(returned.is_message(), "{text}");
    assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
    assert!(raw.windows(body.len()).any(|w| w == body.as_bytes()));
}
