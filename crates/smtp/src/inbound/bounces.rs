//! Delivery status notifications (RFC 3464) arriving for our users: which recipients a
//! remote server reports as failed for good, so that they go on the suppression list of
//! the domain that sent the original message. A report counts only when it comes with the
//! null sender and returns the original headers, whose From is in the domain of the user
//! it is delivered to: a forged "bounce" about some other domain's mail changes nothing.

use estafeta_mime::Kind;
use mail_parser::{HeaderName, MimeHeaders};

/// Most recipient blocks read from one report; the rest are ignored (a report about one
/// message has one block per recipient, and no message has more recipients than this).
pub const MAX_REPORTED: usize = 1000;
/// Longest diagnostic kept (characters): it becomes part of the suppression's reason,
/// which a later `550` reply quotes, so it is one short line of text.
pub const MAX_DIAGNOSTIC: usize = 200;

/// One recipient the report says failed permanently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardBounce {
    pub address: String,
    /// `5.1.1` (RFC 3463: `5.` and two numbers of one to three digits).
    pub status: String,
    /// `smtp; 550 5.1.1 user unknown`, when given: continuation lines joined, control
    /// characters made spaces, at most [`MAX_DIAGNOSTIC`] characters.
    pub diagnostic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub failed: Vec<HardBounce>,
    /// The From address of the message the report is about, from its returned headers.
    pub original_from: Option<String>,
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
    let mut original_from = None;
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
            "text/rfc822-headers" | "message/global-headers" => {
                let mut headers = body.to_vec();
                headers.extend_from_slice(b"\r\n");
                original_from = original_from.or_else(|| first_from(&headers));
            }
            "message/rfc822" | "message/global" => {
                if let Kind::Message(inner) = part.kind {
                    original_from = original_from.or_else(|| {
                        estafeta_mime::first_address(&parsed.parts[inner], HeaderName::From)
                    });
                }
            }
            _ => {}
        }
    }
    Some(Report {
        failed,
        original_from,
    })
}

fn first_from(headers: &[u8]) -> Option<String> {
    let m = estafeta_mime::parse(headers);
    estafeta_mime::first_address(m.root(), HeaderName::From)
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
        let Some(recipient) = get("Final-Recipient").or_else(|| get("Original-Recipient")) else {
            continue;
        };
        // `rfc822; user@example.com`
        let address = recipient
            .split_once(';')
            .map_or(recipient.as_str(), |(_, a)| a)
            .trim()
            .trim_matches(|c| c == '<' || c == '>');
        // what a report says goes into the store, logs and replies: a mailbox without
        // white space or control characters, a status of the RFC 3463 form
        let plain_address =
            address.contains('@') && !address.chars().any(|c| c.is_whitespace() || c.is_control());
        if failed && is_permanent_status(status) && plain_address {
            out.push(HardBounce {
                address: address.to_string(),
                status: status.to_string(),
                diagnostic: get("Diagnostic-Code").map(|d| one_line(&d)),
            });
        }
    }
    out
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
        From: Alice <alice@example.com>\r\nTo: gone@remote.example\r\nSubject: hi\r\n\
        --b--\r\n";

    #[test]
    fn reads_hard_bounces_and_the_original_sender() {
        let report = read_report(DSN.as_bytes()).expect("a DSN");
        assert_eq!(
            report.failed,
            vec![HardBounce {
                address: "gone@remote.example".into(),
                status: "5.1.1".into(),
                diagnostic: Some("smtp; 550 5.1.1 user unknown".into()),
            }]
        );
        assert_eq!(report.original_from.as_deref(), Some("alice@example.com"));
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
                     --b\r\nContent-Type: message/rfc822\r\n\r\nFrom: alice@example.com\r\n",
                );
                for _ in 0..100_000 {
                    dsn.push_str("Content-Type: message/rfc822\r\n\r\n");
                }
                dsn.push_str("\r\n--b--\r\n");
                read_report(dsn.as_bytes())
            })
            .expect("thread");
        let report = handle.join().expect("no stack overflow").expect("a DSN");
        assert_eq!(report.original_from.as_deref(), Some("alice@example.com"));
    }
}
