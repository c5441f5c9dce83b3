//! Changing the HTML parts of a message in place, and nothing else: the HTML body of each
//! `text/html` part that is shown as the message (not an attachment, not inside an
//! enclosed message) is decoded, handed to an editor, and written back in the part's
//! transfer encoding — base64 stays base64, anything else becomes quoted-printable (its
//! `Content-Transfer-Encoding:` changed to say so) so that no line of the result is longer
//! than SMTP allows. Every other octet of the message is kept. A message its sender signed
//! (S/MIME, OpenPGP, DKIM) is never changed: that would break the signature. Open and click tracking
//! (`estafeta_trust::tracking`) is the one user.
//!
//! Bounds: the structure is read by [`crate::parse`] (its bounds); at most
//! [`MAX_EDITED_PARTS`] parts are edited, each at most [`MAX_EDITED_PART`] octets as sent
//! (larger ones are left as they are); one pass over each.

use mail_builder::encoders::base64::Base64Encoder;
use mail_builder::encoders::quoted_printable::QuotedPrintableEncoder;
use mail_parser::MimeHeaders;

use crate::{Kind, Message, Part, parse, text};

/// The largest HTML part (as sent, encoded) that is edited.
pub const MAX_EDITED_PART: usize = 16 * 1024 * 1024;
/// The most HTML parts edited in one message.
pub const MAX_EDITED_PARTS: usize = 16;

/// One part's new octets: its header block (when the encoding changes) and its body.
struct Change {
    header: Option<(usize, usize, Vec<u8>)>,
    body: (usize, usize, Vec<u8>),
}

/// The message with each shown HTML part replaced by what `edit` makes of its decoded
/// octets (`None` from `edit`: that part stays as it is); `None` when nothing changed.
pub fn edit_html_parts(
    raw: &[u8],
    mut edit: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let msg = parse(raw);
    if sealed(&msg) {
        return None;
    }
    let mut changes = Vec::new();
    for (index, part) in msg.parts.iter().enumerate() {
        if changes.len() >= MAX_EDITED_PARTS {
            break;
        }
        if part.kind != Kind::Leaf
            || !part.is_type("text", Some("html"))
            || is_attachment(part)
            || in_enclosed_message(&msg, index)
        {
            continue;
        }
        let body = msg.body(part);
        if body.len() > MAX_EDITED_PART {
            continue;
        }
        let Ok(decoded) = text::decoded(&msg, part) else {
            continue;
        };
        let Some(edited) = edit(&decoded) else {
            continue;
        };
        let base64 = encoding(part).as_deref() == Some("base64");
        let mut encoded = match base64 {
            true => Base64Encoder::new().wrap_lines().encode(&edited),
            false => QuotedPrintableEncoder::new()
                .preserve_line_breaks()
                .encode(&edited),
        }
        .unwrap_or_default();
        // the line break before a boundary belongs to the boundary: keep the part's own
        while encoded.ends_with(b"\n") {
            encoded.pop();
            if encoded.ends_with(b"\r") {
                encoded.pop();
            }
        }
        if body.ends_with(b"\n") {
            encoded.extend_from_slice(b"\r\n");
        }
        let header = match base64 || encoding(part).as_deref() == Some("quoted-printable") {
            true => None,
            false => Some((
                part.header_start(),
                part.body_start(),
                with_quoted_printable(msg.header_block(part)),
            )),
        };
        changes.push(Change {
            header,
            body: (
                part.body_start(),
                part.end().max(part.body_start()),
                encoded,
            ),
        });
    }
    if changes.is_empty() {
        return None;
    }
    // from the end, so that the offsets of what is still to change hold
    let mut out = raw.to_vec();
    for change in changes.into_iter().rev() {
        let (start, end, body) = change.body;
        out.splice(start..end, body);
        if let Some((start, end, header)) = change.header {
            out.splice(start..end, header);
        }
    }
    Some(out)
}

/// Whether changing the message would break a signature its sender made: S/MIME or
/// OpenPGP (`multipart/signed`, `multipart/encrypted`, `application/pkcs7-mime`), or a
/// `DKIM-Signature:` already in its header.
fn sealed(msg: &Message<'_>) -> bool {
    let dkim = msg
        .root()
        .headers()
        .iter()
        .any(|h| h.name.as_str().eq_ignore_ascii_case("dkim-signature"));
    dkim || msg.parts.iter().any(|p| {
        p.is_type("multipart", Some("signed"))
            || p.is_type("multipart", Some("encrypted"))
            || p.is_type("application", Some("pkcs7-mime"))
            || p.is_type("application", Some("x-pkcs7-mime"))
    })
}

fn encoding(part: &Part<'_>) -> Option<String> {
    part.mime
        .content_transfer_encoding()
        .map(|v| v.trim().to_ascii_lowercase())
}

fn is_attachment(part: &Part<'_>) -> bool {
    part.mime
        .content_disposition()
        .is_some_and(|d| d.c_type.eq_ignore_ascii_case("attachment"))
}

/// Whether a `message/*` part encloses part `index` (a forwarded message is not ours to
/// change). Walks up the parents: at most the tree's depth bound.
fn in_enclosed_message(msg: &Message<'_>, index: usize) -> bool {
    let mut at = msg.parts.get(index).and_then(|p| p.parent);
    while let Some(i) = at {
        let Some(parent) = msg.parts.get(i) else {
            return false;
        };
        if matches!(parent.kind, Kind::Message(_)) {
            return true;
        }
        at = parent.parent;
    }
    false
}

/// A header block with its `Content-Transfer-Encoding:` fields (folded lines included)
/// replaced by one saying quoted-printable, just before the empty line that ends it.
fn with_quoted_printable(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + 48);
    let mut skipping = false;
    let mut ending: &[u8] = b"";
    for line in block.split_inclusive(|&b| b == b'\n') {
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if content.is_empty() {
            ending = line;
            break;
        }
        let folded = matches!(content.first(), Some(b' ' | b'\t'));
        if !folded {
            skipping = content.len() >= 26
                && content[..26].eq_ignore_ascii_case(b"content-transfer-encoding:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    // a block without its empty line (a part with no body) still ends one field cleanly
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\r\n");
    out.extend_from_slice(if ending.is_empty() { b"\r\n" } else { ending });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(html: &[u8]) -> Option<Vec<u8>> {
        Some(html.to_ascii_uppercase())
    }

    fn html_of(raw: &[u8]) -> Vec<Vec<u8>> {
        let msg = parse(raw);
        msg.parts
            .iter()
            .filter(|p| p.kind == Kind::Leaf && p.is_type("text", Some("html")))
            .map(|p| text::decoded(&msg, p).unwrap())
            .collect()
    }

    #[test]
    fn a_single_html_part_becomes_quoted_printable() {
        let long = "x".repeat(2000);
        let raw = format!(
            "From: a@b.test\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\
             Subject: hi\r\n\r\n<p>caf\u{e9} {long}</p>\r\n"
        );
        let out = edit_html_parts(raw.as_bytes(), upper).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
        assert!(!text.contains("8bit"));
        assert!(text.contains("Subject: hi\r\n"), "other fields kept");
        assert!(
            out.split(|&b| b == b'\n').all(|l| l.len() <= 78),
            "short lines"
        );
        let want = format!("<P>CAF\u{e9} {}</P>\r\n", long.to_uppercase()).into_bytes();
        assert!(html_of(&out) == vec![want], "decodes to the edited HTML");
    }

    #[test]
    fn only_the_shown_html_changes() {
        let raw = b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
            --b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n\
            --b2\r\nContent-Type: text/plain\r\n\r\n<a href=x>plain</a>\r\n\
            --b2\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            PGEgaHJlZj14Pmh0bWw8L2E+\r\n--b2--\r\n\
            --b1\r\nContent-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n<b>att</b>\r\n\
            --b1\r\nContent-Type: message/rfc822\r\n\r\n\
            Content-Type: text/html\r\n\r\n<i>forwarded</i>\r\n\
            --b1--\r\n";
        let out = edit_html_parts(raw, upper).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("<a href=x>plain</a>"), "plain text untouched");
        assert!(text.contains("<b>att</b>"), "attachment untouched");
        assert!(
            text.contains("<i>forwarded</i>"),
            "enclosed message untouched"
        );
        assert!(text.contains(
            "Content-Transfer-Encoding: base64\r\n\r\nPEEgSFJFRj1YPkhUTUw8L0E+\r\n--b2--"
        ));
        assert_eq!(out.len(), raw.len(), "the rest octet for octet");
    }

    #[test]
    fn nothing_to_edit_is_none() {
        assert!(edit_html_parts(b"Subject: x\r\n\r\nplain\r\n", upper).is_none());
        let html = b"Content-Type: text/html\r\n\r\n<p>x</p>";
        assert!(edit_html_parts(html, |_| None).is_none());
    }

    #[test]
    fn signed_messages_are_left_alone() {
        let signed = b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=b\r\n\r\n\
            --b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--b--\r\n";
        assert!(edit_html_parts(signed, upper).is_none());
        let dkim = b"DKIM-Signature: v=1; d=a.test\r\nContent-Type: text/html\r\n\r\n<p>x</p>";
        assert!(edit_html_parts(dkim, upper).is_none());
        let smime = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIAG";
        assert!(edit_html_parts(smime, upper).is_none());
    }

    #[test]
    fn folded_encoding_fields_are_replaced() {
        let block =
            b"Content-Type: text/html\r\nContent-Transfer-Encoding:\r\n 7bit\r\nX-A: b\r\n\r\n";
        assert_eq!(
            with_quoted_printable(block),
            b"Content-Type: text/html\r\nX-A: b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        );
    }
}
