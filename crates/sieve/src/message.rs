//! What the tests read from the message: its header fields (unfolded, RFC 2047 words
//! decoded by mail-parser), addresses, dates, and the body for the body test (MIME
//! structure and decoding from `estafeta_mime`).
//!
//! Bounds: at most [`MAX_HEADER_FIELDS`] fields are read, each value's raw octets and
//! decoded text cut at `max_header_bytes`; reading the header section is one pass over
//! its lines. The body test reads at most `max_body_bytes` of text in all; the MIME
//! structure is read once per run (linear in the message, with `estafeta_mime`'s own
//! bounds on depth and parts) and the `:raw` and `:text` forms are kept once made.

use std::cell::OnceCell;

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, MimeHeaders};

use crate::ast::Index;
use crate::strings::cut;
use crate::{Limits, MAX_HEADER_FIELDS, Message};

pub struct Field {
    /// The name in lower case.
    pub name: String,
    /// The raw value after the colon, folds kept, cut at `max_header_bytes`.
    pub raw: Vec<u8>,
    /// The value unfolded, encoded words decoded, trimmed, cut at `max_header_bytes`.
    pub text: String,
}

pub struct Mail<'m> {
    pub raw: &'m [u8],
    pub fields: Vec<Field>,
    pub envelope_from: &'m str,
    pub envelope_to: &'m str,
    pub user_addresses: &'m [String],
    pub now: i64,
    max_body: usize,
    mime: OnceCell<estafeta_mime::Message<'m>>,
    body_raw: OnceCell<Vec<String>>,
    body_text: OnceCell<Vec<String>>,
}

/// The line starting at `pos`: its content without the line break, and where the next
/// one starts.
fn line_at(raw: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = raw.get(pos..).unwrap_or_default();
    let (line, next) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], pos + i + 1),
        None => (rest, raw.len()),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), next)
}

fn decode_text(raw: &[u8], max: usize) -> String {
    let mut buf = Vec::with_capacity(raw.len() + 2);
    buf.push(b' ');
    buf.extend_from_slice(raw);
    buf.push(b'\n');
    let mut text = match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => t.trim().to_string(),
        _ => String::new(),
    };
    cut(&mut text, max);
    text
}

fn read_fields(raw: &[u8], max: usize) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (line, next) = line_at(raw, pos);
        pos = next;
        if line.is_empty() {
            break;
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some(last) = fields.last_mut()
                && last.raw.len() < max
            {
                last.raw.extend_from_slice(b"\r\n");
                let room = max.saturating_sub(last.raw.len());
                last.raw.extend_from_slice(&line[..line.len().min(room)]);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if fields.len() == MAX_HEADER_FIELDS {
            break;
        }
        let name = String::from_utf8_lossy(&line[..colon])
            .trim_end()
            .to_ascii_lowercase();
        let value = &line[colon + 1..];
        fields.push(Field {
            name,
            raw: value[..value.len().min(max)].to_vec(),
            text: String::new(),
        });
    }
    for f in &mut fields {
        f.text = decode_text(&f.raw, max);
    }
    fields
}

impl<'m> Mail<'m> {
    pub fn new(msg: &Message<'m>, limits: &Limits) -> Self {
        Mail {
            raw: msg.raw,
            fields: read_fields(msg.raw, limits.max_header_bytes),
            envelope_from: msg.envelope_from,
            envelope_to: msg.envelope_to,
            user_addresses: msg.user_addresses,
            now: msg.now,
            max_body: limits.max_body_bytes,
            mime: OnceCell::new(),
            body_raw: OnceCell::new(),
            body_text: OnceCell::new(),
        }
    }

    /// The fields named `name` (any case), or with `index` only the one it selects.
    pub fn named(&self, name: &str, index: Option<Index>) -> Vec<&Field> {
        let all: Vec<&Field> = self
            .fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name.trim()))
            .collect();
        match index {
            None => all,
            Some(Index { n, last }) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n == 0 || n > all.len() {
                    return Vec::new();
                }
                let at = if last { all.len() - n } else { n - 1 };
                all.get(at).map(|f| vec![*f]).unwrap_or_default()
            }
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name.trim()))
    }

    fn mime(&self) -> &estafeta_mime::Message<'m> {
        self.mime.get_or_init(|| estafeta_mime::parse(self.raw))
    }

    /// The body as it is (`body :raw`).
    pub fn body_raw(&self) -> &[String] {
        self.body_raw.get_or_init(|| {
            let mime = self.mime();
            let start = mime.root().body_start().min(self.raw.len());
            let end = self.raw.len().min(start.saturating_add(self.max_body));
            let mut s =
                String::from_utf8_lossy(self.raw.get(start..end).unwrap_or_default()).into_owned();
            cut(&mut s, self.max_body);
            vec![s]
        })
    }

    /// The decoded text of the text parts (`body :text`), one string per part.
    pub fn body_text(&self) -> &[String] {
        self.body_text
            .get_or_init(|| self.parts(|t, _| t.eq_ignore_ascii_case("text")))
    }

    /// The decoded content of the leaf parts whose type is one of `types` (`""` any,
    /// `type` or `type/subtype`), one string per part.
    pub fn body_content(&self, types: &[String]) -> Vec<String> {
        self.parts(|t, st| {
            types.iter().any(|want| {
                let want = want.trim();
                match want.split_once('/') {
                    _ if want.is_empty() => true,
                    None => want.eq_ignore_ascii_case(t),
                    Some((wt, wst)) => wt.eq_ignore_ascii_case(t) && wst.eq_ignore_ascii_case(st),
                }
            })
        })
    }

    fn parts(&self, want: impl Fn(&str, &str) -> bool) -> Vec<String> {
        let mime = self.mime();
        let mut out = Vec::new();
        let mut total = 0usize;
        for part in &mime.parts {
            if total >= self.max_body {
                break;
            }
            if part.kind != estafeta_mime::Kind::Leaf {
                continue;
            }
            let (t, st) = match part.mime.content_type() {
                Some(ct) => (
                    ct.c_type.to_string(),
                    ct.c_subtype.as_deref().unwrap_or("").to_string(),
                ),
                None => ("text".to_string(), "plain".to_string()),
            };
            if !want(&t, &st) {
                continue;
            }
            let mut text = match estafeta_mime::text::part_text(mime, part) {
                Some(text) => text,
                None => {
                    let bytes = estafeta_mime::text::decoded(mime, part)
                        .unwrap_or_else(|_| mime.body(part).to_vec());
                    let end = bytes.len().min(self.max_body - total);
                    String::from_utf8_lossy(&bytes[..end]).into_owned()
                }
            };
            cut(&mut text, self.max_body - total);
            total += text.len();
            out.push(text);
        }
        out
    }
}

/// The instant a date field names (unix seconds) and its own zone (seconds east of UTC).
/// For `Received`, the date after the last `;`.
pub fn date_of(field: &Field) -> Option<(i64, i64)> {
    let raw: &[u8] = if field.name == "received" {
        let at = field.raw.iter().rposition(|&b| b == b';')?;
        &field.raw[at + 1..]
    } else {
        &field.raw
    };
    let mut buf = Vec::with_capacity(raw.len() + 2);
    buf.push(b' ');
    buf.extend_from_slice(raw);
    buf.push(b'\n');
    let HeaderValue::DateTime(d) = MessageStream::new(&buf).parse_date() else {
        return None;
    };
    if !d.is_valid() || d.tz_hour > 23 || d.tz_minute > 59 {
        return None;
    }
    let zone = (i64::from(d.tz_hour) * 3600 + i64::from(d.tz_minute) * 60)
        * if d.tz_before_gmt { -1 } else { 1 };
    Some((d.to_timestamp(), zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unfolded_decoded_and_bounded() {
        let raw =
            b"Subject: =?utf-8?q?caf=C3=A9?= and\r\n more\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody\r\n";
        let f = read_fields(raw, 1000);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, "subject");
        assert_eq!(f[0].text, "café and more");
        assert_eq!(f[2].text, "2");
        let long = format!(
            "Subject: {}\r\n {}\r\n\r\n",
            "a".repeat(100),
            "b".repeat(100)
        );
        let f = read_fields(long.as_bytes(), 50);
        assert!(f[0].raw.len() <= 50 && f[0].text.len() <= 50);
        let many = "X: y\r\n".repeat(MAX_HEADER_FIELDS + 10);
        assert_eq!(read_fields(many.as_bytes(), 50).len(), MAX_HEADER_FIELDS);
    }

    #[test]
    fn dates() {
        let f = Field {
            name: "date".into(),
            raw: b" Fri, 13 Feb 2009 23:31:30 +0100".to_vec(),
            text: String::new(),
        };
        assert_eq!(date_of(&f), Some((1_234_567_890 - 3600, 3600)));
    }
}
