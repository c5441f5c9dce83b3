//! Vacation (RFC 5230, RFC 6131): whether a reply is allowed at all (§4.5, §4.6: not to
//! the null sender or list and daemon addresses, not to automatic or list mail, only to
//! mail addressed to the user), the period, and the default handle (§4.2). Once per
//! sender per period is the caller's memory, keyed by the handle.

use crate::address;
use crate::message::Mail;

const DAY: u64 = 86_400;
const MAX_PERIOD: u64 = 30 * DAY;

/// The period in seconds: `:days` clamped to 1..=30 days (7 when absent), `:seconds`
/// clamped to one hour..=30 days, 0 kept (RFC 6131: reply every time).
pub fn period(given: Option<(bool, u64)>) -> u64 {
    match given {
        None => 7 * DAY,
        Some((true, days)) => days.clamp(1, 30).saturating_mul(DAY),
        Some((false, 0)) => 0,
        Some((false, s)) => s.clamp(3600, MAX_PERIOD),
    }
}

/// FNV-1a, 64 bits: a stable hash (std's hasher may change between releases, and the
/// handle is stored by the caller).
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xffu8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The handle RFC 5230 §4.2 derives when none is given: from reason, subject, from and
/// mime.
pub fn default_handle(
    reason: &str,
    subject: Option<&str>,
    from: Option<&str>,
    mime: bool,
) -> String {
    format!(
        "{:016x}",
        fnv(&[
            reason,
            subject.unwrap_or("\u{0}"),
            from.unwrap_or("\u{0}"),
            if mime { "1" } else { "0" }
        ])
    )
}

/// Senders never answered: daemons and lists (RFC 5230 §4.6 and common practice).
fn sender_refused(from: &str) -> bool {
    let local = from
        .rsplit_once('@')
        .map_or(from, |(l, _)| l)
        .to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon"
            | "listserv"
            | "majordomo"
            | "mailer"
            | "postmaster"
            | "noreply"
            | "no-reply"
            | "do-not-reply"
            | "donotreply"
            | "nobody"
            | "root"
    ) || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-owner")
        || local.ends_with("-bounces")
}

/// Fields that mark a message from a list or an automaton.
const LIST_FIELDS: &[&str] = &[
    "list-id",
    "list-post",
    "list-unsubscribe",
    "list-subscribe",
    "list-help",
    "list-owner",
    "list-archive",
];

/// Is a vacation reply to this message allowed? `extra` are the `:addresses`.
pub fn reply_allowed(mail: &Mail<'_>, extra: &[String]) -> bool {
    let from = mail.envelope_from.trim();
    if from.is_empty() || sender_refused(from) {
        return false;
    }
    if mail
        .user_addresses
        .iter()
        .chain(extra)
        .chain(std::iter::once(&mail.envelope_to.to_string()))
        .any(|a| address::same(a, from))
    {
        return false; // never to oneself
    }
    for f in &mail.fields {
        let value = f.text.trim();
        let first = value.split(';').next().unwrap_or("").trim();
        match f.name.as_str() {
            "auto-submitted" if !first.eq_ignore_ascii_case("no") => return false,
            "precedence"
                if ["bulk", "list", "junk"]
                    .iter()
                    .any(|p| first.eq_ignore_ascii_case(p)) =>
            {
                return false;
            }
            "x-auto-response-suppress"
                if value.to_ascii_lowercase().contains("all")
                    || value.to_ascii_lowercase().contains("oof") =>
            {
                return false;
            }
            n if LIST_FIELDS.contains(&n) => return false,
            _ => {}
        }
    }
    // addressed to the user
    let mine: Vec<&str> = mail
        .user_addresses
        .iter()
        .chain(extra)
        .map(String::as_str)
        .chain(std::iter::once(mail.envelope_to))
        .filter(|a| !a.trim().is_empty())
        .collect();
    mail.fields
        .iter()
        .filter(|f| {
            matches!(
                f.name.as_str(),
                "to" | "cc" | "bcc" | "resent-to" | "resent-cc" | "resent-bcc"
            )
        })
        .flat_map(|f| address::addresses_of(&f.raw))
        .any(|a| mine.iter().any(|m| address::same(m, &a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_handles() {
        assert_eq!(period(None), 7 * DAY);
        assert_eq!(period(Some((true, 0))), DAY);
        assert_eq!(period(Some((true, 365))), 30 * DAY);
        assert_eq!(period(Some((false, 0))), 0);
        assert_eq!(period(Some((false, 60))), 3600);
        assert_eq!(period(Some((false, u64::MAX))), 30 * DAY);
        let h = default_handle("away", None, None, false);
        assert_eq!(h, default_handle("away", None, None, false));
        assert_ne!(h, default_handle("away", Some(""), None, false));
        assert_eq!(h.len(), 16);
        assert!(sender_refused("MAILER-DAEMON@x.org"));
        assert!(sender_refused("owner-list@x.org"));
        assert!(sender_refused("list-request@x.org"));
        assert!(!sender_refused("alice@x.org"));
    }
}
