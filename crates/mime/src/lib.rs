//! The structure of a message read within fixed bounds: the MIME tree (depth, number of
//! parts and boundary length bounded, linear time, no recursion), each part's header
//! fields, and decoded text for searching. Every protocol that walks over a message (IMAP
//! FETCH and SEARCH, the DSN reader at SMTP acceptance) goes through here, so a hostile
//! message meets the same bounds everywhere. The bounds are the constants below and in
//! [`text`].

pub mod edit;
pub mod structure;
pub mod text;

pub use structure::{Kind, MAX_BOUNDARY, MAX_DEPTH, MAX_PARTS, Message, Part, parse};

use mail_parser::{HeaderName, HeaderValue};

/// The calendar day the `Date:` of `part` names, as written (year, month, day), whatever
/// its zone: what SEARCH SENTON and its kin compare (RFC 9051 §6.4.4).
pub fn date_as_written(part: &Part<'_>) -> Option<(i64, i64, i64)> {
    part.headers()
        .iter()
        .rev()
        .find(|h| h.name == HeaderName::Date)
        .and_then(|h| match &h.value {
            HeaderValue::DateTime(d) => Some((d.year as i64, d.month as i64, d.day as i64)),
            _ => None,
        })
}

/// The `Date:` of `part` in seconds since 1970, when it can be read.
pub fn date(part: &Part<'_>) -> Option<i64> {
    part.headers()
        .iter()
        .rev()
        .find(|h| h.name == HeaderName::Date)
        .and_then(|h| match &h.value {
            HeaderValue::DateTime(d) => Some(d.to_timestamp()),
            _ => None,
        })
}
