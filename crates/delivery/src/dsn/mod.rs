//! Delivery status notifications (RFC 3464): the report a sender gets for recipients that
//! failed, are delayed, or were relayed to a server that does not take DSN. One report
//! per message covers every recipient owed one at that moment: a `multipart/report;
//! report-type=delivery-status` with a text for people, the `message/delivery-status`
//! fields for programs, and the original message (RET=FULL) or its header
//! (`text/rfc822-headers`, RET=HDRS) — built with mail-builder.
//!
//! Which outcome owes a report (NOTIFY, the null sender) is decided here too.

use estafeta_store::{QueueRecipient, QueuedMessage, ReportKind, Ret};
use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

/// Without RET, the whole message is returned when it is at most this large; else its
/// header only (as Postfix's `bounce_size_limit`).
const FULL_RETURN_LIMIT: usize = 100 * 1024;

/// A report for a recipient that failed: unless the sender is `<>` or asked for none
/// (NOTIFY without FAILURE, or NEVER). Without NOTIFY, failures are reported.
pub fn on_failure(message: &QueuedMessage, r: &QueueRecipient) -> Option<ReportKind> {
    if message.sender.is_empty() {
        return None;
    }
    r.notify
        .is_none_or(|n| n.failure)
        .then_some(ReportKind::Failed)
}

/// A "delayed" report, once, for a recipient that asked for it with NOTIFY=DELAY and has
/// waited longer than the warning time.
pub fn on_delay(
    message: &QueuedMessage,
    r: &QueueRecipient,
    warning: Option<i64>,
    now: i64,
) -> Option<ReportKind> {
    let warning = warning?;
    let asked = r.notify.is_some_and(|n| n.delay);
    (asked
        && !message.sender.is_empty()
        && !r.delay_reported
        && now - message.created_at >= warning)
        .then_some(ReportKind::Delayed)
}

/// A "relayed" report for NOTIFY=SUCCESS when the next hop does not take DSN and so will
/// not report success itself (RFC 3461 §4.1).
pub fn on_success(
    message: &QueuedMessage,
    r: &QueueRecipient,
    dsn_passed: bool,
) -> Option<ReportKind> {
    let asked = r.notify.is_some_and(|n| n.success);
    (asked && !dsn_passed && !message.sender.is_empty()).then_some(ReportKind::Relayed)
}

/// Builds reports (see `crate::reports` for how they reach the store).
pub struct DsnBuilder {
    /// Our host name: Reporting-MTA, and the domain of the From: address.
    pub hostname: String,
    /// Seconds a message may stay queued, for Will-Retry-Until in "delayed" reports.
    pub max_queue_time: i64,
}

impl DsnBuilder {
    /// The report's bytes.
    pub fn report(
        &self,
        message: &QueuedMessage,
        body: &[u8],
        reported: &[QueueRecipient],
        now: i64,
    ) -> Vec<u8> {
        let kind_of = |r: &QueueRecipient| r.report.unwrap_or(ReportKind::Failed);
        let any = |k: ReportKind| reported.iter().any(|r| kind_of(r) == k);
        let (subject, worst) = if any(ReportKind::Failed) {
            ("Undelivered Mail Returned to Sender", ReportKind::Failed)
        } else if any(ReportKind::Delayed) {
            ("Delayed Mail (still being retried)", ReportKind::Delayed)
        } else {
            ("Successful Mail Delivery Report", ReportKind::Relayed)
        };
        let header_end = header_end(body);
        let whole = match message.ret {
            Some(ret) => ret == Ret::Full,
            None => body.len() <= FULL_RETURN_LIMIT,
        } && worst == ReportKind::Failed;

        let text = self.human_text(message, reported, whole);
        let status = self.status_fields(message, reported, now);
        let returned = if whole {
            MimePart::new(ContentType::new("message/rfc822"), body.to_vec())
                .transfer_encoding(encoding(body))
        } else {
            let headers = &body[..header_end];
            MimePart::new(ContentType::new("text/rfc822-headers"), headers.to_vec())
                .transfer_encoding(encoding(headers))
        };
        let report = MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            vec![
                MimePart::new(ContentType::new("text/plain"), text),
                MimePart::new(
                    ContentType::new("message/delivery-status"),
                    status.into_bytes(),
                )
                .transfer_encoding("7bit"),
                returned,
            ],
        );
        let id = format!(
            "{}.report.{:08x}@{}",
            message.id,
            rand::random::<u32>(),
            self.hostname
        );
        MessageBuilder::new()
            .from((
                "Mail Delivery System".to_string(),
                format!("MAILER-DAEMON@{}", self.hostname),
            ))
            .to(message.sender.as_str())
            .subject(subject)
            .date(Date::new(now))
            .message_id(id)
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .body(report)
            .write_to_vec()
            .unwrap_or_default()
    }

    fn human_text(
        &self,
        message: &QueuedMessage,
        reported: &[QueueRecipient],
        whole: bool,
    ) -> String {
        let mut t = format!("This is the mail system at host {}.\r\n\r\n", self.hostname);
        let failed: Vec<&QueueRecipient> = reported
            .iter()
            .filter(|r| r.report == Some(ReportKind::Failed))
            .collect();
        let delayed: Vec<&QueueRecipient> = reported
            .iter()
            .filter(|r| r.report == Some(ReportKind::Delayed))
            .collect();
        let relayed: Vec<&QueueRecipient> = reported
            .iter()
            .filter(|r| r.report == Some(ReportKind::Relayed))
            .collect();
        if !failed.is_empty() {
            t.push_str(
                "I'm sorry to have to inform you that your message could not be delivered\r\n\
                 to one or more recipients. The reasons are below.\r\n\r\n",
            );
            for r in &failed {
                t.push_str(&recipient_line(r));
            }
        }
        if !delayed.is_empty() {
            let until = message.created_at + self.max_queue_time;
            t.push_str(&format!(
                "Your message could not be delivered yet to the recipients below. It is\r\n\
                 still in the queue and will be tried again until {}; you do not need to\r\n\
                 send it again.\r\n\r\n",
                Date::new(until).to_rfc822()
            ));
            for r in &delayed {
                t.push_str(&recipient_line(r));
            }
        }
        if !relayed.is_empty() {
            t.push_str(
                "Your message was handed over to the next server for the recipients below.\r\n\
                 That server does not report delivery status, so no further notice will\r\n\
                 come from it.\r\n\r\n",
            );
            for r in &relayed {
                t.push_str(&recipient_line(r));
            }
        }
        t.push_str(if whole {
            "Your message is attached.\r\n"
        } else {
            "The header of your message is attached.\r\n"
        });
        t
    }

    /// The `message/delivery-status` content (RFC 3464 §2.2, §2.3).
    fn status_fields(
        &self,
        message: &QueuedMessage,
        reported: &[QueueRecipient],
        now: i64,
    ) -> String {
        let mut s = format!("Reporting-MTA: dns; {}\r\n", self.hostname);
        s.push_str(&format!("X-Estafeta-Queue-ID: {}\r\n", message.id));
        if let Some(envid) = message.envid.as_deref().filter(|e| is_field_safe(e)) {
            s.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
        }
        s.push_str(&format!(
            "Arrival-Date: {}\r\n",
            Date::new(message.created_at).to_rfc822()
        ));
        for r in reported {
            let kind = r.report.unwrap_or(ReportKind::Failed);
            s.push_str("\r\n");
            if let Some(orcpt) = r.orcpt.as_deref().filter(|o| is_field_safe(o)) {
                let orcpt = if orcpt.contains(';') {
                    orcpt.to_string()
                } else {
                    format!("rfc822;{orcpt}")
                };
                s.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
            }
            s.push_str(&format!("Final-Recipient: rfc822;{}\r\n", r.address));
            s.push_str(&format!("Action: {}\r\n", kind.as_str()));
            s.push_str(&format!("Status: {}\r\n", status_code(r, kind)));
            let reply = r.last_reply.as_deref().map(one_line);
            match (&r.last_host, &reply) {
                (Some(host), Some(reply)) if starts_with_code(reply) => {
                    let name = host.split('[').next().unwrap_or(host);
                    s.push_str(&format!("Remote-MTA: dns; {name}\r\n"));
                    s.push_str(&format!("Diagnostic-Code: smtp; {reply}\r\n"));
                }
                (_, Some(reply)) => {
                    s.push_str(&format!("Diagnostic-Code: X-Estafeta; {reply}\r\n"));
                }
                _ => {}
            }
            let last = r.last_attempt.unwrap_or(now);
            s.push_str(&format!(
                "Last-Attempt-Date: {}\r\n",
                Date::new(last).to_rfc822()
            ));
            if kind == ReportKind::Delayed {
                s.push_str(&format!(
                    "Will-Retry-Until: {}\r\n",
                    Date::new(message.created_at + self.max_queue_time).to_rfc822()
                ));
            }
        }
        s
    }
}

/// `<a@b.example>: 550 5.1.1 no such user (from mx.b.example)` for the text part.
fn recipient_line(r: &QueueRecipient) -> String {
    let reply = r
        .last_reply
        .as_deref()
        .map(one_line)
        .unwrap_or_else(|| "no reply recorded".into());
    match &r.last_host {
        Some(host) => format!("<{}>: host {host} said: {reply}\r\n\r\n", r.address),
        None => format!("<{}>: {reply}\r\n\r\n", r.address),
    }
}

/// The reply on one line, printable ASCII only, for a header-like field.
fn one_line(reply: &str) -> String {
    reply
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_field_safe(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic() || c == ' ')
}

/// `550 …`: an SMTP reply (from a server), not one of our own reasons (`5.1.10 …`).
fn starts_with_code(reply: &str) -> bool {
    let b = reply.as_bytes();
    b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && b.get(3).is_none_or(|c| *c == b' ')
}

/// The enhanced status code: the one the reply carries (`550 5.1.1 …` or our `5.1.10 …`),
/// else one made from the reply's class; expiry is 4.4.7 whatever the last reply was.
pub fn status_code(r: &QueueRecipient, kind: ReportKind) -> String {
    let reply = r.last_reply.as_deref().unwrap_or("");
    let mut words = reply.split_whitespace();
    let first = words.next().unwrap_or("");
    let enhanced = |w: &str| {
        let parts: Vec<&str> = w.split('.').collect();
        (parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())))
        .then(|| w.to_string())
    };
    let found = if starts_with_code(first) {
        words.next().and_then(enhanced).or_else(|| {
            first
                .chars()
                .next()
                .filter(|c| matches!(c, '2' | '4' | '5'))
                .map(|c| format!("{c}.0.0"))
        })
    } else {
        enhanced(first)
    };
    match (kind, found) {
        (ReportKind::Relayed, _) => "2.0.0".to_string(),
        (ReportKind::Delayed, Some(code)) if code.starts_with('4') => code,
        (ReportKind::Delayed, _) => "4.0.0".to_string(),
        (ReportKind::Failed, Some(code)) if code.starts_with('5') || code == "4.4.7" => code,
        (ReportKind::Failed, Some(code)) if code.starts_with('4') => "4.4.7".to_string(),
        (ReportKind::Failed, _) => "5.0.0".to_string(),
    }
}

/// 7bit when every octet is ASCII, else 8bit (the returned message is not re-encoded).
fn encoding(bytes: &[u8]) -> &'static str {
    if bytes.is_ascii() { "7bit" } else { "8bit" }
}

/// Where the header section ends (after its blank line), or the whole message.
fn header_end(body: &[u8]) -> usize {
    for (i, w) in body.windows(4).enumerate() {
        if w == b"\r\n\r\n" {
            return i + 4;
        }
    }
    for (i, w) in body.windows(2).enumerate() {
        if w == b"\n\n" {
            return i + 2;
        }
    }
    body.len()
}

#[cfg(test)]
mod tests;
