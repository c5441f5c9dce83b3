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
/// spaces and tabs at a line's end are transport padding and go (rule 3), a line ending in
/// `=` (after that padding) is a soft break and joins the next (rule 5), `=XX` becomes
/// the octet, anything malformed passes through unchanged. One pass, line by line.
pub fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (content, ending) = match line {
            [c @ .., b'\r', b'\n'] => (c, &b"\r\n"[..]),
            [c @ .., b'\n'] => (c, &b"\n"[..]),
            c => (c, &b""[..]),
        };
        let end = content
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        let content = &content[..end];
        match content.strip_suffix(b"=") {
            Some(joined) => decode_qp_line(joined, &mut out),
            None => {
                decode_qp_line(content, &mut out);
                out.extend_from_slice(ending);
            }
        }
    }
    out
}

/// `=XX` escapes of one line (without its break) decoded into `out`.
fn decode_qp_line(line: &[u8], out: &mut Vec<u8>) {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if c == b'='
            && i + 2 < line.len()
            && let (Some(h), Some(l)) = (hex(line[i + 1]), hex(line[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
}

/// The text of a leaf `text/*` part (or a part with no type) in UTF-8, HTML turned into
/// text; `None` for other parts.
pub fn part_text(msg: &Message<'_>, part: &Part<'_>) -> Option<String> {
    let (text, is_html) = part_content(msg, part)?;
    Some(if is_html { html_to_text(&text) } else { text })
}

/// The content of a leaf `text/*` part (or a part with no type) in UTF-8 as it is written
/// (HTML stays HTML), with whether it is `text/html`; `None` for other parts. Transfer
/// encoding undone (an unknown one left as it is), charset converted (an unknown one read
/// as UTF-8, invalid sequences replaced).
pub fn part_content(msg: &Message<'_>, part: &Part<'_>) -> Option<(String, bool)> {
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
    Some((text, is_html))
}

/// Most characters of a preview (RFC 8970 allows 256).
pub const MAX_PREVIEW: usize = 200;

/// A preview of the message (IMAP PREVIEW, RFC 8970): the start of its first text part,
/// decoded, HTML as text, runs of white space as one space, at most [`MAX_PREVIEW`]
/// characters. Empty when the message has no text part. Linear in that part's size.
pub fn preview(msg: &Message<'_>) -> String {
    let Some(text) = msg.parts.iter().find_map(|p| part_text(msg, p)) else {
        return String::new();
    };
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        let space = (!out.is_empty()).then_some(' ');
        for c in space.into_iter().chain(word.chars()) {
            if chars == MAX_PREVIEW {
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
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

/// Most octets of a message a search index keeps for SEARCH TEXT: a longer message is
/// indexed as "partial" and always looked through.
pub const MAX_INDEX_RAW: usize = 256 * 1024;
/// Most octets of decoded body text a search index keeps for SEARCH BODY (and TEXT).
pub const MAX_INDEX_BODY: usize = 256 * 1024;

/// What a substring index keeps of one message: exactly the texts SEARCH TEXT and BODY
/// look through, in the same lower case (`str::to_lowercase`, as the matcher does), so
/// that a string found by the matcher is found in these texts too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexText {
    /// The whole message as text (invalid UTF-8 replaced), lower case; empty when the
    /// message is longer than [`MAX_INDEX_RAW`] (then `raw_complete` is false).
    pub raw: String,
    /// The decoded text of its text parts ([`body_text`]), lower case; empty when longer
    /// than [`MAX_INDEX_BODY`] (then `body_complete` is false).
    pub body: String,
    pub raw_complete: bool,
    pub body_complete: bool,
}

/// The texts a search index keeps for `message` (see [`IndexText`]). NUL characters are
/// kept as spaces (PostgreSQL's text cannot hold them; a searched string holds none, so
/// no match is lost). Linear in the message's size, bounded by [`MAX_SEARCH_TEXT`].
pub fn index_text(message: &[u8]) -> IndexText {
    let clean = |s: String| {
        if s.contains('\0') {
            s.replace('\0', " ")
        } else {
            s
        }
    };
    let raw_complete = message.len() <= MAX_INDEX_RAW;
    let raw = match raw_complete {
        true => clean(String::from_utf8_lossy(message).to_lowercase()),
        false => String::new(),
    };
    let body = body_text(&crate::parse(message)).to_lowercase();
    let body_complete = body.len() <= MAX_INDEX_BODY;
    let body = match body_complete {
        true => clean(body),
        false => String::new(),
    };
    IndexText {
        raw,
        body,
        raw_complete,
        body_complete,
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_INDEX_RAW, MAX_PREVIEW, index_text, preview, quoted_printable};

    #[test]
    fn index_text_is_lower_case_decoded_and_bounded() {
        let raw = b"Subject: Hi\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV8OWcmxkIQ==\r\n";
        let t = index_text(raw);
        assert!(t.raw_complete && t.body_complete);
        assert!(t.raw.contains("subject: hi") && t.raw.contains("sgvsbg8"));
        assert_eq!(t.body.trim_end(), "hello wörld!");
        let big = vec![b'a'; MAX_INDEX_RAW + 1];
        let t = index_text(&big);
        assert!(!t.raw_complete && t.raw.is_empty());
        assert!(index_text(b"a\0b").raw == "a b");
    }

    #[test]
    fn previews_are_short_single_spaced_text() {
        let raw = b"Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/html\r\n\r\n<p>Hello   <b>there</b></p>\r\n\r\n<p>again</p>\r\n--b--\r\n";
        assert_eq!(preview(&crate::parse(raw)), "Hello there again");
        let long = format!("Subject: x\r\n\r\n{}\r\n", "word ".repeat(100));
        let p = preview(&crate::parse(long.as_bytes()));
        assert_eq!(p.chars().count(), MAX_PREVIEW);
        assert!(p.starts_with("word word"));
        let none = b"Content-Type: image/png\r\n\r\nxx\r\n";
        assert_eq!(preview(&crate::parse(none)), "");
    }

    #[test]
    fn quoted_printable_padding_soft_breaks_and_escapes() {
        // imaptest's fetch-binary-mime-qp body
        let body = b"hello  \r\nbar\r\nfoo\tbar\r\nfoo\t \t= \r\nb\r\nfoo = \t\r\nbar\r\nfoo b\r\nfoo  \r\nbar\r\nfoo_bar\r\n";
        assert_eq!(
            quoted_printable(body),
            b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n"
        );
        assert_eq!(quoted_printable(b"a=3Db=\nc=\r\nd"), b"a=bcd");
        // malformed escapes pass through; a bare `=` at the very end is a soft break
        assert_eq!(quoted_printable(b"=zz =4 x="), b"=zz =4 x");
        assert_eq!(quoted_printable(b"no break"), b"no break");
    }
}
