//! What a stored message's Sieve plans leave to do once it is durable: the duplicate
//! test's ids (RFC 7352, recorded only for a message that was stored) and the errors
//! recorded on the scripts, before the 250; vacation replies (RFC 5230) after it.
//!
//! A vacation reply goes to the envelope sender at most once per `:days` (or
//! `:seconds`) per handle: the store remembers the SHA-256 of handle and sender until
//! then. The interpreter has already refused to answer the null sender, mailing lists,
//! bulk and automatic mail, and mail not addressed to the user. The reply is sent from
//! the null sender (RFC 5230 §5.1, RFC 3834 §3.3), with `Auto-Submitted: auto-replied`,
//! `In-Reply-To:`/`References:`, signed with the user's domain's DKIM key, and queued
//! (or delivered here, for a local sender) like a delivery report. A reply lost to a
//! crash before it is queued is not sent: the message itself is already safe.

use std::sync::Arc;

use estafeta_sieve::Vacation;
use estafeta_store::{Envelope, Store, new_queue_id, now};

use super::filters::{Plan, memory_key};

/// The subject a reply gets without `:subject`: "Auto: " and the original's, cut.
const MAX_SUBJECT: usize = 200;
/// The shortest period between two replies to one sender, in seconds.
const MIN_PERIOD: u64 = 3600;
/// Duplicate ids one message records, at most (the rest are not remembered).
const MAX_DUPLICATE_MARKS: usize = 16;

/// The duplicate ids and script errors of `plans`, for the message `queue_id` (just
/// stored): done before the 250, so that the same message sent again right after it is
/// known.
pub async fn remember(store: &Arc<dyn Store>, queue_id: &str, plans: &[Plan]) {
    let at = now();
    for plan in plans {
        for mark in plan.duplicates.iter().take(MAX_DUPLICATE_MARKS) {
            let key = memory_key(&[&mark.key]);
            let until = at.saturating_add(i64::try_from(mark.seconds).unwrap_or(i64::MAX));
            if let Err(e) = store
                .sieve_remember(plan.user.id, "duplicate", &key, until, at)
                .await
            {
                tracing::warn!(queue_id, error = %e, "Sieve duplicate id not recorded");
            }
        }
        if let Some((script, error)) = &plan.error
            && let Err(e) = store
                .set_sieve_error(plan.user.id, script, Some(error))
                .await
        {
            tracing::warn!(queue_id, error = %e, "Sieve error not recorded on the script");
        }
    }
}

/// The vacation replies of `plans`, for the message `queue_id` (just stored) from
/// `sender`.
pub async fn replies(
    store: &Arc<dyn Store>,
    signer: &estafeta_trust::signing::Signer,
    hostname: &str,
    queue_id: &str,
    sender: &str,
    message: &[u8],
    plans: Vec<Plan>,
) {
    let at = now();
    for plan in plans {
        if let Some(vacation) = &plan.vacation
            && plan.reject.is_none()
        {
            reply(
                store, signer, hostname, queue_id, sender, message, &plan, vacation, at,
            )
            .await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn reply(
    store: &Arc<dyn Store>,
    signer: &estafeta_trust::signing::Signer,
    hostname: &str,
    queue_id: &str,
    sender: &str,
    message: &[u8],
    plan: &Plan,
    vacation: &Vacation,
    at: i64,
) {
    let user = &plan.user;
    let to = vacation.to.to_ascii_lowercase();
    let key = memory_key(&[&vacation.handle, &to]);
    // at least an hour between two replies to one sender, whatever the script asks
    // (`:seconds 0` would make every forged sender a target of signed replies)
    let seconds = vacation.seconds.max(MIN_PERIOD);
    let until = at.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX));
    // remembered first, in one statement (two messages at once get one reply): a failure
    // below costs a reply, never a second one
    match store
        .sieve_remember_once(user.id, "vacation", &key, until, at)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(queue_id, user = %user.address, to = %to, "vacation: already answered within the period");
            return;
        }
        Err(e) => {
            tracing::warn!(queue_id, error = %e, "vacation not sent: memory not written");
            return;
        }
    }
    let reply_id = new_queue_id();
    let mut text = build(vacation, &user.address, message, hostname, &reply_id, at);
    let signatures = signer.sign(&user.domain, &text).await;
    text.splice(0..0, signatures.into_bytes());
    let resolution = match store.resolve(&vacation.to).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(queue_id, error = %e, "vacation not sent: recipient lookup failed");
            return;
        }
    };
    let Some(envelope) = Envelope::to_resolved("", &vacation.to, resolution) else {
        tracing::info!(queue_id, to = %vacation.to, "vacation not sent: no such local user");
        return;
    };
    let message_id = Some(format!("{reply_id}@{hostname}"));
    match store
        .accept(envelope.accept(reply_id.clone(), text, message_id, at))
        .await
    {
        Ok(_) => {
            tracing::info!(queue_id, reply = %reply_id, user = %user.address, to = %vacation.to, sender, "vacation reply queued")
        }
        Err(e) => tracing::warn!(queue_id, error = %e, "vacation reply not stored"),
    }
}

/// The header section of `message` (with the empty line that ends it), at most 64 KiB:
/// all a reply reads of the original.
pub fn header_of(message: &[u8]) -> &[u8] {
    let head = &message[..message.len().min(64 * 1024)];
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |i| i + 4);
    &head[..end]
}

/// The reply message.
fn build(
    vacation: &Vacation,
    user: &str,
    original: &[u8],
    hostname: &str,
    reply_id: &str,
    at: i64,
) -> Vec<u8> {
    let subject = match &vacation.subject {
        Some(s) => s.clone(),
        None => {
            // the header alone, read by mail-parser (RFC 2047 words)
            let parsed = mail_parser::MessageParser::default().parse(header_of(original));
            let theirs = parsed
                .as_ref()
                .and_then(|m| m.subject())
                .unwrap_or_default();
            let cut: String = theirs.chars().take(MAX_SUBJECT).collect();
            format!("Auto: {cut}")
        }
    };
    // `:from` only where it is the user's own address (with a display name or not): the
    // reply is signed in the user's domain's name and must not speak for another
    let from = vacation
        .from
        .clone()
        .filter(|f| {
            // one mailbox: one `@`, no list separators, the address the user's own
            let address = f
                .rsplit_once('<')
                .map_or(f.as_str(), |(_, a)| a.trim_end_matches('>'));
            f.matches('@').count() == 1
                && !f.contains([',', ';', ':'])
                && address.trim().eq_ignore_ascii_case(user)
        })
        .unwrap_or_else(|| user.to_string());
    let their_id = estafeta_mime::message_id_of(original);
    let mut head = String::new();
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(998)
            .collect()
    };
    head.push_str(&format!("From: {}\r\n", clean(&from)));
    head.push_str(&format!("To: <{}>\r\n", clean(&vacation.to)));
    head.push_str(&format!("Subject: {}\r\n", encode_word(&clean(&subject))));
    head.push_str(&format!("Date: {}\r\n", rfc5322_date(at)));
    head.push_str(&format!("Message-ID: <{reply_id}@{hostname}>\r\n"));
    if let Some(id) = their_id.as_deref().filter(|i| i.len() < 900) {
        head.push_str(&format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n"));
    }
    head.push_str(
        "Auto-Submitted: auto-replied (vacation)\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n",
    );
    if vacation.mime {
        // the reason is a MIME entity: its own header fields, a blank line, its body;
        // of its fields only Content-* ones are kept (no second From: or To:)
        let entity = vacation.reason.replace("\r\n", "\n");
        let (fields, body) = entity.split_once("\n\n").unwrap_or((entity.as_str(), ""));
        let mut kept = false;
        for line in fields.split('\n') {
            let continued = line.starts_with([' ', '\t']);
            if !continued {
                kept = line
                    .get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case("content-"));
            }
            if kept {
                head.push_str(line);
                head.push_str("\r\n");
            }
        }
        head.push_str("\r\n");
        for line in body.split('\n') {
            head.push_str(line);
            head.push_str("\r\n");
        }
    } else {
        head.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        let body = vacation.reason.replace("\r\n", "\n");
        for line in body.split('\n') {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.into_bytes()
}

/// A subject with characters outside ASCII as one RFC 2047 word per 40 characters.
fn encode_word(subject: &str) -> String {
    if subject.is_ascii() {
        return subject.to_string();
    }
    use base64::Engine;
    let chars: Vec<char> = subject.chars().collect();
    chars
        .chunks(40)
        .map(|c| {
            let piece: String = c.iter().collect();
            format!(
                "=?utf-8?b?{}?=",
                base64::engine::general_purpose::STANDARD.encode(piece.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn rfc5322_date(at: i64) -> String {
    super::headers::date_header(at)
        .trim_start_matches("Date: ")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vacation(from: Option<&str>, subject: Option<&str>) -> Vacation {
        Vacation {
            to: "amy@outside.test".into(),
            handle: "h".into(),
            seconds: 86400,
            subject: subject.map(String::from),
            from: from.map(String::from),
            reason: "Away.\nBack soon.".into(),
            mime: false,
        }
    }

    fn reply(v: &Vacation) -> String {
        let original = b"From: amy@outside.test\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <m1@outside.test>\r\n\r\nhi\r\n";
        String::from_utf8(build(v, "bob@example.com", original, "mail.test", "Q1", 0))
            .expect("utf-8")
    }

    #[test]
    fn the_reply_speaks_only_for_the_user_and_answers_the_thread() {
        let own = reply(&vacation(Some("Bob Smith <Bob@Example.com>"), None));
        assert!(
            own.starts_with("From: Bob Smith <Bob@Example.com>\r\n"),
            "{own}"
        );
        // another address in :from is not used: the reply is signed in bob's domain
        let spoof = reply(&vacation(Some("CEO <ceo@bank.test>"), None));
        assert!(spoof.starts_with("From: bob@example.com\r\n"), "{spoof}");
        // the original's subject decoded, re-encoded as RFC 2047 since it is not ASCII
        assert!(own.contains("Subject: =?utf-8?b?"), "{own}");
        assert!(
            own.contains("In-Reply-To: <m1@outside.test>\r\nReferences: <m1@outside.test>\r\n")
        );
        assert!(own.contains("Auto-Submitted: auto-replied"));
        assert!(own.ends_with("\r\n\r\nAway.\r\nBack soon.\r\n"), "{own}");
        // a :mime reason gives its Content-* fields only: no second From:
        let mut v = vacation(None, None);
        v.mime = true;
        v.reason =
            "From: CEO <ceo@bank.test>\nContent-Type: text/plain;\n charset=utf-8\n\nAway.".into();
        let mime = reply(&v);
        assert_eq!(mime.matches("From:").count(), 1, "{mime}");
        assert!(
            mime.contains("Content-Type: text/plain;\r\n charset=utf-8\r\n\r\nAway.\r\n"),
            "{mime}"
        );
        // two addresses in :from, the user's among them: not used
        let two = reply(&vacation(Some("ceo@bank.test, <bob@example.com>"), None));
        assert!(two.starts_with("From: bob@example.com\r\n"), "{two}");
        // line breaks in a subject never make a second header field
        let injected = reply(&vacation(None, Some("hi\r\nBcc: x@evil.test")));
        assert!(!injected.contains("\r\nBcc:"), "{injected}");
    }
}
