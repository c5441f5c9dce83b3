//! The structure of a message read within fixed bounds: the MIME tree (depth, number of
//! parts and boundary length bounded, linear time, no recursion), each part's header
//! fields, and decoded text for searching. Every protocol that walks over a message (IMAP
//! FETCH and SEARCH, the DSN reader at SMTP acceptance) goes through here, so a hostile
//! message meets the same bounds everywhere. The bounds are the constants below and in
//! [`text`].

pub mod edit;
pub mod html;
pub mod local_input;
pub mod mailfiles;
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

/// Longest Message-ID kept for the store (a longer one is not recorded).
pub const MAX_MESSAGE_ID: usize = 250;

/// The Message-ID of a message (without angle brackets), from its header section only:
/// the first `Message-ID:` field, folded lines joined, at most [`MAX_MESSAGE_ID`]
/// printable ASCII characters; `None` otherwise.
pub fn message_id_of(message: &[u8]) -> Option<String> {
    let mut value: Option<Vec<u8>> = None;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // end of the header section
        }
        match &mut value {
            Some(v) if line.starts_with(b" ") || line.starts_with(b"\t") => {
                if v.len() > MAX_MESSAGE_ID + 2 {
                    return None;
                }
                v.extend_from_slice(line);
            }
            Some(_) => break,
            None => {
                if line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
                    value = Some(line[11..].to_vec());
                }
            }
        }
    }
    let value = value?;
    let text = std::str::from_utf8(&value).ok()?.trim();
    let id = text.strip_prefix('<')?.strip_suffix('>')?;
    (!id.is_empty() && id.len() <= MAX_MESSAGE_ID && id.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| id.to_string())
}
