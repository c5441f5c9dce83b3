//! Message structure for FETCH: ENVELOPE, BODY/BODYSTRUCTURE and BODY[section], from
//! mail-parser's parse of the stored message. Header values go out as they stand in the
//! message (encoded words are the client's to decode, as Dovecot does).

use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::command::{Section, SectionText};
use crate::response::{nstring, string};

pub fn parse(bytes: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(bytes)
}

fn raw_header<'a>(
    msg: &'a Message<'_>,
    part: &MessagePart<'_>,
    name: HeaderName<'_>,
) -> Option<&'a [u8]> {
    let h = part.headers.iter().find(|h| h.name == name)?;
    let raw = msg
        .raw_message
        .get(h.offset_start as usize..h.offset_end as usize)?;
    Some(trim(raw))
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|i| i + 1)
        .unwrap_or(start);
    &b[start..end.max(start)]
}

/// Unfolds a header value (CRLF + whitespace become one space).
fn unfold(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' || b[i] == b'\n' {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn addresses(out: &mut Vec<u8>, value: Option<&HeaderValue<'_>>) {
    let list: Vec<(Option<String>, Option<String>)> = match value {
        Some(HeaderValue::Address(Address::List(list))) => list
            .iter()
            .map(|a| {
                (
                    a.name.as_ref().map(|n| n.to_string()),
                    a.address.as_ref().map(|a| a.to_string()),
                )
            })
            .collect(),
        Some(HeaderValue::Address(Address::Group(groups))) => groups
            .iter()
            .flat_map(|g| g.addresses.iter())
            .map(|a| {
                (
                    a.name.as_ref().map(|n| n.to_string()),
                    a.address.as_ref().map(|a| a.to_string()),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (name, address) in list {
        out.push(b'(');
        nstring(out, name.as_deref().map(str::as_bytes));
        out.extend_from_slice(b" NIL ");
        let (mailbox, host) = match address.as_deref().and_then(|a| a.rsplit_once('@')) {
            Some((m, h)) => (Some(m.to_string()), Some(h.to_string())),
            None => (address.clone(), None),
        };
        nstring(out, mailbox.as_deref().map(str::as_bytes));
        out.push(b' ');
        nstring(out, host.as_deref().map(str::as_bytes));
        out.push(b')');
    }
    out.push(b')');
}

/// ENVELOPE (RFC 9051 §7.5.2).
pub fn envelope(out: &mut Vec<u8>, msg: &Message<'_>) {
    let Some(root) = msg.parts.first() else {
        out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        return;
    };
    let header = |name| {
        root.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    };
    out.push(b'(');
    nstring(
        out,
        raw_header(msg, root, HeaderName::Date)
            .map(unfold)
            .as_deref(),
    );
    out.push(b' ');
    nstring(
        out,
        raw_header(msg, root, HeaderName::Subject)
            .map(unfold)
            .as_deref(),
    );
    let from = header(HeaderName::From);
    for (name, fallback) in [
        (HeaderName::From, None),
        (HeaderName::Sender, from),
        (HeaderName::ReplyTo, from),
        (HeaderName::To, None),
        (HeaderName::Cc, None),
        (HeaderName::Bcc, None),
    ] {
        out.push(b' ');
        addresses(out, header(name).or(fallback));
    }
    out.push(b' ');
    nstring(
        out,
        raw_header(msg, root, HeaderName::InReplyTo)
            .map(unfold)
            .as_deref(),
    );
    out.push(b' ');
    nstring(
        out,
        raw_header(msg, root, HeaderName::MessageId)
            .map(unfold)
            .as_deref(),
    );
    out.push(b')');
}

fn params(out: &mut Vec<u8>, attrs: Option<&Vec<mail_parser::Attribute<'_>>>) {
    match attrs {
        Some(a) if !a.is_empty() => {
            out.push(b'(');
            for (i, attr) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, attr.name.to_ascii_uppercase().as_bytes());
                out.push(b' ');
                string(out, attr.value.as_bytes());
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
}

/// BODY (`extended` false) or BODYSTRUCTURE (`extended` true) of part `id` of `msg`.
pub fn body_structure(out: &mut Vec<u8>, msg: &Message<'_>, id: usize, extended: bool) {
    let Some(part) = msg.parts.get(id) else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let ct = part.content_type();
    if let PartType::Multipart(children) = &part.body {
        out.push(b'(');
        for &child in children {
            body_structure(out, msg, child as usize, extended);
        }
        out.push(b' ');
        let subtype = ct.and_then(|c| c.c_subtype.as_deref()).unwrap_or("mixed");
        string(out, subtype.to_ascii_uppercase().as_bytes());
        if extended {
            out.push(b' ');
            params(out, ct.and_then(|c| c.attributes.as_ref()));
            extension(out, part);
        }
        out.push(b')');
        return;
    }
    let (ty, subtype) = match ct {
        Some(c) => (
            c.c_type.to_ascii_uppercase(),
            c.c_subtype
                .as_deref()
                .unwrap_or("plain")
                .to_ascii_uppercase(),
        ),
        None => ("TEXT".to_string(), "PLAIN".to_string()),
    };
    let body = msg
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or(&[]);
    out.push(b'(');
    string(out, ty.as_bytes());
    out.push(b' ');
    string(out, subtype.as_bytes());
    out.push(b' ');
    if ty == "TEXT" && ct.and_then(|c| c.attributes.as_ref()).is_none() {
        out.extend_from_slice(b"(\"CHARSET\" \"US-ASCII\")");
    } else {
        params(out, ct.and_then(|c| c.attributes.as_ref()));
    }
    out.push(b' ');
    nstring(out, part.content_id().map(str::as_bytes));
    out.push(b' ');
    nstring(out, part.content_description().map(str::as_bytes));
    out.push(b' ');
    let encoding = part
        .content_transfer_encoding()
        .unwrap_or("7bit")
        .to_ascii_uppercase();
    string(out, encoding.as_bytes());
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    if let PartType::Message(inner) = &part.body {
        out.push(b' ');
        envelope(out, inner);
        out.push(b' ');
        body_structure(out, inner, 0, extended);
        out.extend_from_slice(format!(" {}", count_lines(body)).as_bytes());
    } else if ty == "TEXT" {
        out.extend_from_slice(format!(" {}", count_lines(body)).as_bytes());
    }
    if extended {
        out.extend_from_slice(b" NIL");
        extension(out, part);
    }
    out.push(b')');
}

/// Disposition, language and location (the shared tail of extension data).
fn extension(out: &mut Vec<u8>, part: &MessagePart<'_>) {
    out.push(b' ');
    match part.content_disposition() {
        Some(d) => {
            out.push(b'(');
            string(out, d.c_type.to_ascii_uppercase().as_bytes());
            out.push(b' ');
            params(out, d.attributes.as_ref());
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match part.content_language() {
        HeaderValue::Text(t) => string(out, t.as_bytes()),
        HeaderValue::TextList(list) if !list.is_empty() => {
            out.push(b'(');
            for (i, l) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, l.as_bytes());
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    nstring(out, part.content_location().map(str::as_bytes));
}

fn count_lines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

/// The part a section's numbers name: (message whose raw bytes hold it, part index).
/// A message/rfc822 part's numbers continue inside the enclosed message; a single-part
/// body is part 1 (RFC 9051 §6.4.5).
fn locate<'m>(msg: &'m Message<'m>, numbers: &[u32]) -> Option<(&'m Message<'m>, usize)> {
    let mut m = msg;
    let mut id = 0usize;
    for (i, &n) in numbers.iter().enumerate() {
        if i > 0
            && let PartType::Message(inner) = &m.parts.get(id)?.body
        {
            m = inner;
            id = 0;
        }
        match &m.parts.get(id)?.body {
            PartType::Multipart(children) => {
                id = *children.get((n as usize).checked_sub(1)?)? as usize
            }
            _ if n == 1 => {}
            _ => return None,
        }
    }
    Some((m, id))
}

/// The bytes of BODY[section]; `None` when the section does not exist.
pub fn section(msg: &Message<'_>, raw: &[u8], section: &Section) -> Option<Vec<u8>> {
    let (m, id) = if section.parts.is_empty() {
        (msg, 0)
    } else {
        locate(msg, &section.parts)?
    };
    let part = m.parts.get(id)?;
    let bytes = |a: u32, b: u32| {
        m.raw_message
            .get(a as usize..b as usize)
            .map(<[u8]>::to_vec)
    };
    // for a message/rfc822 part, HEADER and TEXT are those of the enclosed message
    let (hm, hpart) = match (&part.body, &section.text) {
        (
            PartType::Message(inner),
            Some(SectionText::Header | SectionText::HeaderFields { .. } | SectionText::Text),
        ) if !section.parts.is_empty() => (inner, inner.parts.first()?),
        _ => (m, part),
    };
    let hbytes = |a: u32, b: u32| {
        hm.raw_message
            .get(a as usize..b as usize)
            .map(<[u8]>::to_vec)
    };
    match &section.text {
        None if section.parts.is_empty() => Some(raw.to_vec()),
        None => bytes(part.offset_body, part.offset_end),
        Some(SectionText::Mime) => bytes(part.offset_header, part.offset_body),
        Some(SectionText::Header) => hbytes(hpart.offset_header, hpart.offset_body),
        Some(SectionText::Text) => hbytes(hpart.offset_body, hpart.offset_end),
        Some(SectionText::HeaderFields { not, fields }) => {
            let mut out = Vec::new();
            for h in &hpart.headers {
                let name = h.name.as_str();
                let listed = fields.iter().any(|f| f.eq_ignore_ascii_case(name));
                if listed != *not
                    && let Some(line) = hm
                        .raw_message
                        .get(h.offset_field as usize..h.offset_end as usize)
                {
                    out.extend_from_slice(line);
                }
            }
            out.extend_from_slice(b"\r\n");
            Some(out)
        }
    }
}

/// The text a SEARCH key looks into: a header's value, or the decoded body texts.
pub fn header_text(msg: &Message<'_>, name: &str) -> Vec<String> {
    let Some(root) = msg.parts.first() else {
        return Vec::new();
    };
    root.headers
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .filter_map(|h| {
            msg.raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
        })
        .map(|raw| {
            let raw = String::from_utf8_lossy(&unfold(raw)).into_owned();
            // decoded forms too, so that a search for "é" finds =?utf-8?q?=C3=A9?=
            match root
                .headers
                .iter()
                .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
                .map(|h| &h.value)
            {
                Some(HeaderValue::Text(t)) => format!("{raw} {t}"),
                Some(HeaderValue::Address(Address::List(list))) => {
                    let names: Vec<String> = list
                        .iter()
                        .map(|a| {
                            format!(
                                "{} {}",
                                a.name.as_deref().unwrap_or(""),
                                a.address.as_deref().unwrap_or("")
                            )
                        })
                        .collect();
                    format!("{raw} {}", names.join(" "))
                }
                _ => raw,
            }
        })
        .collect()
}

pub fn body_text(msg: &Message<'_>) -> String {
    let mut text = String::new();
    for i in 0..msg.text_body.len().max(msg.html_body.len()) {
        if let Some(t) = msg.body_text(i) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    text
}

/// Why BINARY cannot decode a part.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownEncoding;

/// The bytes of BINARY[parts] (RFC 3516): a leaf part's body with its content transfer
/// encoding undone; the whole message, or a multipart's body, as they are. `Ok(None)`
/// when the part does not exist.
pub fn binary(
    msg: &Message<'_>,
    raw: &[u8],
    parts: &[u32],
) -> Result<Option<Vec<u8>>, UnknownEncoding> {
    if parts.is_empty() {
        return Ok(Some(raw.to_vec()));
    }
    let Some((m, id)) = locate(msg, parts) else {
        return Ok(None);
    };
    let Some(part) = m.parts.get(id) else {
        return Ok(None);
    };
    let Some(body) = m
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
    else {
        return Ok(None);
    };
    if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
        return Ok(Some(body.to_vec()));
    }
    let encoding = part
        .headers
        .iter()
        .find(|h| matches!(h.name, mail_parser::HeaderName::ContentTransferEncoding))
        .and_then(|h| h.value.as_text())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("7bit" | "8bit" | "binary") => Ok(Some(body.to_vec())),
        Some("base64") => mail_parser::decoders::base64::base64_decode(body)
            .map(Some)
            .ok_or(UnknownEncoding),
        Some("quoted-printable") => Ok(Some(quoted_printable(body))),
        Some(_) => Err(UnknownEncoding),
    }
}

/// Undoes quoted-printable (RFC 2045 §6.7), keeping the part's line breaks as they are:
/// soft breaks (`=` at a line's end) go, `=XX` becomes the octet, anything malformed
/// passes through unchanged.
fn quoted_printable(body: &[u8]) -> Vec<u8> {
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
            (Some(&a), Some(&b)) if hex(a).is_some() && hex(b).is_some() => {
                out.push(hex(a).unwrap_or(0) << 4 | hex(b).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}
