//! Decoded content of leaf parts: transfer encodings (base64, quoted-printable) undone and
//! text turned into UTF-8 from its charset. Bounded: SEARCH reads at most
//! [`MAX_SEARCH_TEXT`] octets of decoded text per message.

use mail_parser::MimeHeaders;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;

use crate::{Kind, Message, Part};

/// Most octets of decoded body text that SEARCH BODY/TEXT looks through in one message.
pub const MAX_SEARCH_TEXT: usize = 16 * 1024 * 1024;

/// A transfer encoding that cannot be undone (unknown, or not valid base64).
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownEncoding;

/// The octets of `part`'s body with its Content-Transfer-Encoding undone.
pub fn decoded<'a>(msg: &Message<'a>, part: &Part<'_>) -> Result<Vec<u8>, UnknownEncoding> {
    let body = msg.body(part);
    let encoding = part
        .mime
        .content_transfer_encoding()
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "7bit" | "8bit" | "binary") => Ok(body.to_vec()),
        Some("base64") => base64_decode(body).ok_or(UnknownEncoding),
        Some("quoted-printable") => Ok(quoted_printable(body)),
        Some(_) => Err(UnknownEncoding),
    }
}

/// Undoes quoted-printable (RFC 2045 §6.7), keeping the part's line breaks as they are:
/// soft breaks (`=` at a line's end) go, `=XX` becomes the octet, anything malformed
/// passes through unchanged.
pub fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        match (body.get(i + 1), body.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&a), Some(&b)) => match (hex(a), hex(b)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The text of a leaf `text/*` part (or a part with no type) in UTF-8, HTML turned into
/// text; `None` for other parts.
pub fn part_text(msg: &Message<'_>, part: &Part<'_>) -> Option<String> {
    if part.kind != Kind::Leaf {
        return None;
    }
    let (is_text, is_html) = match part.mime.content_type() {
        None => (true, false),
        Some(ct) => (
            ct.c_type.eq_ignore_ascii_case("text"),
            ct.c_subtype
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("html")),
        ),
    };
    if !is_text {
        return None;
    }
    let bytes = decoded(msg, part).unwrap_or_else(|_| msg.body(part).to_vec());
    let decoder = part
        .mime
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .and_then(|c| charset_decoder(c.as_bytes()));
    let text = match decoder {
        Some(decode) => decode(&bytes),
        None => String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    };
    Some(if is_html { html_to_text(&text) } else { text })
}

/// The decoded text of every text part of the message, one after the other, at most
/// [`MAX_SEARCH_TEXT`] octets (cut at a character boundary).
pub fn body_text(msg: &Message<'_>) -> String {
    let mut out = String::new();
    for part in &msg.parts {
        if out.len() >= MAX_SEARCH_TEXT {
            break;
        }
        // the header block of an enclosed message is not body text; its parts are
        if let Some(text) = part_text(msg, part) {
            let room = MAX_SEARCH_TEXT - out.len();
            let mut cut = text.len().min(room);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&text[..cut]);
            out.push('\n');
        }
    }
    out
}
