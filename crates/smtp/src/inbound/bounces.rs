//! Delivery status notifications (RFC 3464) arriving for our users: which recipients a
//! remote server reports as failed for good, and what identifies the message the report is
//! about in the headers it returns (the Message-ID, the queue ids of the `Received:`
//! fields — ours among them). Whether the report is about mail that left this server, and
//! so may touch a suppression list, is decided with those in `super::reports`.

use estafeta_mime::Kind;
use mail_parser::{HeaderName, HeaderValue, MimeHeaders};

/// Most recipient blocks read from one report; the rest are ignored (a report about one
/// message has one block per recipient, and no message has more recipients than this).
pub const MAX_REPORTED: usize = 1000;
/// Most queue ids read from the returned `Received:` fields (a message that made more hops
/// than this is not one of ours coming back: ours is near the top).
pub const MAX_RECEIVED_IDS: usize = 8;
/// Longest Message-ID or queue id kept (longer ones are not ours).
pub const MAX_ID: usize = 250;
/// Longest diagnostic kept (characters): it becomes part of the suppression's reason,
/// which a later `550` reply quotes, so it is one short line of text.
pub const MAX_DIAGNOSTIC: usize = 200;

/// One recipient the report says failed permanently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardBounce {
    /// The Final-Recipient (else the Original-Recipient).
    pub address: String,
    /// The Original-Recipient when both are given: the address the message was sent to,
    /// when the remote side forwarded it to the final one.
    pub original: Option<String>,
    /// `5.1.1` (RFC 3463: `5.` and two numbers of one to three digits).
    pub status: String,
    /// `smtp; 550 5.1.1 user unknown`, when given: continuation lines joined, control
    /// characters made spaces, at most [`MAX_DIAGNOSTIC`] characters.
    pub diagnostic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub failed: Vec<HardBounce>,
    /// What identifies the message the report is about, from its returned headers.
    pub returned: Returned,
}

/// Identifiers of the reported message, read from the headers a report returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Returned {
    /// Its Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The `id` of its `Received:` fields, newest first, at most [`MAX_RECEIVED_IDS`].
    pub queue_ids: Vec<String>,
}

/// The report a message carries, or `None` when it is no delivery status notification.
/// The message is read through `estafeta_mime`'s bounded tree.
pub fn read_report(message: &[u8]) -> Option<Report> {
    let parsed = estafeta_mime::parse(message);
    let root = parsed.root();
    let ct = root.mime.content_type()?;
    let is_report = ct.c_type.eq_ignore_ascii_case("multipart")
        && ct
            .c_subtype
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut failed = Vec::new();
    let mut returned: Option<Returned> = None;
    for part in &parsed.parts {
        let Some(pct) = part.mime.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            pct.c_type.to_ascii_lowercase(),
            pct.c_subtype.as_deref().unwrap_or("").to_ascii_lowercase()
        );
        let body = parsed.body(part);
        match kind.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                let room = MAX_REPORTED.saturating_sub(failed.len());
                failed.extend(hard_bounces(body).into_iter().take(room))
            }
            "text/rfc822-headers" | "message/global-headers" if returned.is_none() => {
                let mut headers = body.to_vec();
                headers.extend_from_slice(b"\r\n");
                let m = estafeta_mime::parse(&headers);
                returned = Some(identifiers(m.root()));
            }
            "message/rfc822" | "message/global" if returned.is_none() => {
                if let Kind::Message(inner) = part.kind {
                    returned = Some(identifiers(&parsed.parts[inner]));
                }
            }
            _ => {}
        }
    }
    Some(Report {
        failed,
        returned: returned.unwrap_or_default(),
    })
}

/// The Message-ID and the `Received:` queue ids of a returned header section.
fn identifiers(part: &estafeta_mime::Part<'_>) -> Returned {
    let mut r = Returned::default();
    for h in part.headers() {
        match (&h.name, &h.value) {
            (HeaderName::MessageId, HeaderValue::Text(id)) if r.message_id.is_none() => {
                r.message_id = usable_id(id);
            }
            (HeaderName::Received, HeaderValue::Received(received))
                if r.queue_ids.len() < MAX_RECEIVED_IDS =>
            {
                if let Some(id) = received.id().and_then(usable_id) {
                    r.queue_ids.push(id);
                }
            }
            _ => {}
        }
    }
    r
}

/// An identifier as the store may be asked about it: printable ASCII, no white space, at
/// most [`MAX_ID`] characters.
fn usable_id(id: &str) -> Option<String> {
    let id = id.trim().trim_matches(|c| c == '<' || c == '>');
    (!id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| id.to_string())
}

/// The per-recipient blocks of a message/delivery-status body with `Action: failed` and
/// a `5.x.x` status.
fn hard_bounces(body: &[u8]) -> Vec<HardBounce> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let mut out = Vec::new();
    // blocks are separated by blank lines; the first is about the message
    for block in text.split("\n\n").skip(1).take(MAX_REPORTED) {
        let fields = fields(block);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let failed = get("Action").is_some_and(|a| a.eq_ignore_ascii_case("failed"));
        // `5.1.1`, maybe followed by a comment
        let status = get("Status").unwrap_or_default();
        let status = status.split_whitespace().next().unwrap_or("");
        let original = get("Original-Recipient").and_then(|r| plain_address(&r));
        let Some(address) = get("Final-Recipient")
            .and_then(|r| plain_address(&r))
            .or_else(|| original.clone())
        else {
            continue;
        };
        if failed && is_permanent_status(status) {
            let original = original.filter(|o| *o != address);
            out.push(HardBounce {
                address,
                original,
                status: status.to_string(),
                diagnostic: get("Diagnostic-Code").map(|d| one_line(&d)),
            });
        }
    }
    out
}

/// The mailbox of an `rfc822; user@example.com` field: what a report says goes into the
/// store, logs and replies, so a mailbox without white space or control characters.
fn plain_address(field: &str) -> Option<String> {
    let address = field
        .split_once(';')
        .map_or(field, |(_, a)| a)
        .trim()
        .trim_matches(|c| c == '<' || c == '>');
    (address.contains('@') && !address.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then(|| address.to_string())
}

/// `5.d.d` with one to three digits in each number (RFC 3463 §2, class 5).
fn is_permanent_status(status: &str) -> bool {
    let mut numbers = status.split('.');
    numbers.next() == Some("5")
        && numbers
            .by_ref()
            .take(2)
            .filter(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
            .count()
            == 2
        && numbers.next().is_none()
}

/// `text` as one short line: control characters (CR and LF among them) made spaces, at
/// most [`MAX_DIAGNOSTIC`] characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DIAGNOSTIC)
        .collect()
}

/// `Name: value` fields of a block, continuation lines joined.
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: MAILER-DAEMON@mx.remote.example\r\nTo: alice@example.com\r\n\
        Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n\
        --b\r\nContent-Type: message/delivery-status\r\n\r\n\
        Reporting-MTA: dns; mx.remote.example\r\n\r\n\
        Final-Recipient: rfc822; gone@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
        Diagnostic-Code: smtp; 550 5.1.1 user\r\n unknown\r\n\r\n\
        Final-Recipient: rfc822; busy@remote.example\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n\
        Final-Recipient: rfc822;<full@remote.example>\r\nAction: failed\r\nStatus: 4.2.2\r\n\
        --b\r\nContent-Type: text/rfc822-headers\r\n\r\n\
        Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n\
        \tby mx.remote.example (Postfix) with ESMTPS id 4XyZ12AbC\r\n\
        \tfor <gone@remote.example>; Mon, 1 Jan 2024 10:00:01 +0000 (UTC)\r\n\
        Received: from laptop.test ([192.0.2.9])\r\n\
        \tby mail.example.com (estafeta) with ESMTPSA id 018C2F3A4B5C6D7E\r\n\
        \t(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\
        \tfor <gone@remote.example>;\r\n\
        \tMon, 1 Jan 2024 10:00:00 +0000\r\n\
        From: Alice <alice@example.com>\r\nTo: gone@remote.example\r\nSubject: hi\r\n\
        Message-ID: <018C2F3A4B5C6D7E.1a2b3c4d@mail.example.com>\r\n\
        --b--\r\n";

    #[test]
    fn reads_hard_bounces_and_the_returned_identifiers() {
        let report = read_report(DSN.as_bytes()).expect("a DSN");
        assert_eq!(
            report.failed,
            vec![HardBounce {
                address: "gone@remote.example".into(),
                original: None,
                status: "5.1.1".into(),
                diagnostic: Some("smtp; 550 5.1.1 user unknown".into()),
            }]
        );
        assert_eq!(
            report.returned,
            Returned {
                message_id: Some("018C2F3A4B5C6D7E.1a2b3c4d@mail.example.com".into()),
                queue_ids: vec!["4XyZ12AbC".into(), "018C2F3A4B5C6D7E".into()],
            }
        );
    }

    #[test]
    fn identifiers_with_white_space_or_of_any_length_are_dropped() {
        let dsn = DSN
            .replace(
                "<018C2F3A4B5C6D7E.1a2b3c4d@mail.example.com>",
                &format!("<{}@x>", "a".repeat(MAX_ID)),
            )
            .replace("id 4XyZ12AbC", "id \"a b\"");
        let report = read_report(dsn.as_bytes()).expect("a DSN");
        assert_eq!(report.returned.message_id, None);
        assert!(
            report.returned.queue_ids.len() <= 2,
            "{:?}",
            report.returned
        );
        assert!(
            report.returned.queue_ids.iter().all(|q| !q.contains(' ')),
            "{:?}",
            report.returned
        );
        // a thousand Received: fields: the first few are read
        let many = "Received: from a by b with ESMTP id Q1; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            .repeat(1000);
        let dsn = DSN.replace("From: Alice", &format!("{many}From: Alice"));
        let report = read_report(dsn.as_bytes()).expect("a DSN");
        assert_eq!(report.returned.queue_ids.len(), MAX_RECEIVED_IDS);
    }

    #[test]
    fn fields_with_control_characters_or_bad_statuses_are_refused_or_cleaned() {
        // found by fuzzing: a bare CR survived the CRLF-to-LF step into the address,
        // and any status starting with "5." was taken
        let dsn = DSN
            .replace("gone@remote.example", "gone@remote.example\rX-Injected: 1")
            .replace(
                "Status: 4.2.2\r\n--b",
                "Status: 5.2.2 (mailbox full)\r\n--b",
            )
            .replace("user\r\n unknown", "user\runknown\x07 and more");
        let report = read_report(dsn.as_bytes()).expect("a DSN");
        assert_eq!(
            report.failed,
            vec![HardBounce {
                address: "full@remote.example".into(),
                original: None,
                status: "5.2.2".into(),
                diagnostic: None,
            }]
        );
        let long = DSN.replace("user\r\n unknown", &"x".repeat(100_000));
        let report = read_report(long.as_bytes()).expect("a DSN");
        let d = report.failed[0]
            .diagnostic
            .as_deref()
            .expect("a diagnostic");
        assert_eq!(d.chars().count(), MAX_DIAGNOSTIC);
        for bad in [
            "5.1", "5.1.1.1", "5.1.x", "5.1111.1", "5.\r.1", "4.1.1", "51.1.1",
        ] {
            assert!(!is_permanent_status(bad), "{bad}");
        }
        assert!(is_permanent_status("5.7.26"));
    }

    #[test]
    fn other_messages_are_no_reports() {
        assert!(read_report(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n").is_none());
        let other = DSN.replace("delivery-status;", "disposition-notification;");
        assert!(read_report(other.as_bytes()).is_none());
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    #[test]
    fn a_hundred_thousand_report_blocks_are_read_up_to_the_bound() {
        let mut dsn = String::from(
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n",
        );
        for i in 0..100_000 {
            dsn.push_str(&format!(
                "\r\nFinal-Recipient: rfc822; u{i}@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            ));
        }
        dsn.push_str("--b--\r\n");
        let report = read_report(dsn.as_bytes()).expect("a DSN");
        assert_eq!(report.failed.len(), MAX_REPORTED);
    }

    #[test]
    fn deeply_nested_returned_messages_are_read_without_recursion() {
        let handle = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                let mut dsn = String::from(
                    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
                     --b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <m1@example.com>\r\n",
                );
                for _ in 0..100_000 {
                    dsn.push_str("Content-Type: message/rfc822\r\n\r\n");
                }
                dsn.push_str("\r\n--b--\r\n");
                read_report(dsn.as_bytes())
            })
            .expect("thread");
        let report = handle.join().expect("no stack overflow").expect("a DSN");
        assert_eq!(
            report.returned.message_id.as_deref(),
            Some("m1@example.com")
        );
    }
}
