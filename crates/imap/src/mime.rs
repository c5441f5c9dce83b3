//! Message structure for FETCH: ENVELOPE, BODY/BODYSTRUCTURE and BODY[section], from
//! mail-parser's parse of the stored message. Header values go out as they stand in the
//! message (encoded words and RFC 2231 values are the client's to decode), as Dovecot
//! does; tests/corpus.rs compares the answers with Dovecot's on a corpus.

use mail_parser::{
    HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::address;

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
    // the last of repeated headers counts, as in Dovecot
    let h = part.headers.iter().rev().find(|h| h.name == name)?;
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

fn addresses(out: &mut Vec<u8>, raw: Option<&[u8]>) {
    let list = raw.map(address::parse_list).unwrap_or_default();
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
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
    let header = |name| raw_header(msg, root, name);
    out.push(b'(');
    nstring(out, raw_text(msg, root, HeaderName::Date).as_deref());
    out.push(b' ');
    nstring(out, raw_text(msg, root, HeaderName::Subject).as_deref());
    let from = header(HeaderName::From).filter(|v| !v.is_empty());
    for (name, fallback) in [
        (HeaderName::From, None),
        (HeaderName::Sender, from),
        (HeaderName::ReplyTo, from),
        (HeaderName::To, None),
        (HeaderName::Cc, None),
        (HeaderName::Bcc, None),
    ] {
        out.push(b' ');
        addresses(out, header(name).filter(|v| !v.is_empty()).or(fallback));
    }
    out.push(b' ');
    nstring(out, raw_text(msg, root, HeaderName::InReplyTo).as_deref());
    out.push(b' ');
    nstring(out, raw_text(msg, root, HeaderName::MessageId).as_deref());
    out.push(b')');
}

/// The parameters of a raw Content-Type or Content-Disposition value, as written:
/// RFC 2231 continuations (`name*0`, `name*1*`) joined, values left encoded.
fn raw_params(value: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut i = 0;
    // skip the type itself
    while i < value.len() && value[i] != b';' {
        i += 1;
    }
    while i < value.len() {
        i += 1; // the ';'
        while i < value.len() && value[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < value.len() && value[i] != b'=' && value[i] != b';' {
            i += 1;
        }
        let name = trim(&value[start..i]).to_vec();
        if i >= value.len() || value[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < value.len() && value[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut v = Vec::new();
        if value.get(i) == Some(&b'"') {
            i += 1;
            while i < value.len() && value[i] != b'"' {
                if value[i] == b'\\' && i + 1 < value.len() {
                    i += 1;
                }
                v.push(value[i]);
                i += 1;
            }
            while i < value.len() && value[i] != b';' {
                i += 1;
            }
        } else {
            let start = i;
            while i < value.len() && value[i] != b';' {
                i += 1;
            }
            v = trim(&value[start..i]).to_vec();
        }
        if !name.is_empty() {
            pairs.push((name, v));
        }
    }
    join_continuations(pairs)
}

/// A parameter's sections, by number, while continuations are joined.
type Sections = Vec<(u32, Vec<u8>)>;

/// `title*0*=a; title*1*=b` → `title*=ab`; `title*0=a; title*1=b` → `title=ab`.
fn join_continuations(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Sections)> = Vec::new();
    for (name, value) in pairs {
        let text = String::from_utf8_lossy(&name).into_owned();
        let (base, section) = match text.split_once('*') {
            Some((base, rest)) => {
                let extended = rest.ends_with('*');
                match rest.trim_end_matches('*').parse::<u32>() {
                    Ok(n) => (format!("{base}{}", if extended { "*" } else { "" }), n),
                    Err(_) => (text.clone(), 0),
                }
            }
            None => (text.clone(), 0),
        };
        match out
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(base.as_bytes()))
        {
            Some((_, parts)) => parts.push((section, value)),
            None => out.push((base.into_bytes(), vec![(section, value)])),
        }
    }
    out.into_iter()
        .map(|(name, mut parts)| {
            parts.sort_by_key(|(n, _)| *n);
            (name, parts.into_iter().flat_map(|(_, v)| v).collect())
        })
        .collect()
}

fn params(out: &mut Vec<u8>, list: &[(Vec<u8>, Vec<u8>)]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in list.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, &name.to_ascii_uppercase());
        out.push(b' ');
        string(out, value);
    }
    out.push(b')');
}

/// A header's raw value with folding undone, or `None`.
fn raw_text(msg: &Message<'_>, part: &MessagePart<'_>, name: HeaderName<'_>) -> Option<Vec<u8>> {
    raw_header(msg, part, name).map(unfold)
}

/// BODY (`extended` false) or BODYSTRUCTURE (`extended` true) of part `id` of `msg`.
pub fn body_structure(out: &mut Vec<u8>, msg: &Message<'_>, id: usize, extended: bool) {
    let Some(part) = msg.parts.get(id) else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let ct = part.content_type();
    let ct_params = raw_header(msg, part, HeaderName::ContentType)
        .map(|v| raw_params(&unfold(v)))
        .unwrap_or_default();
    let is_multipart = ct.is_some_and(|c| c.c_type.eq_ignore_ascii_case("multipart"));
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
            params(out, &ct_params);
            extension(out, msg, part);
        }
        out.push(b')');
        return;
    }
    if is_multipart {
        // a multipart without a usable boundary: one empty text part, as Dovecot has it
        out.extend_from_slice(
            b"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0",
        );
        if extended {
            out.extend_from_slice(b" NIL NIL NIL NIL");
        }
        out.extend_from_slice(b") ");
        let subtype = ct.and_then(|c| c.c_subtype.as_deref()).unwrap_or("mixed");
        string(out, subtype.to_ascii_uppercase().as_bytes());
        if extended {
            out.push(b' ');
            params(out, &ct_params);
            out.extend_from_slice(b" NIL NIL NIL");
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
    if ty == "TEXT"
        && !ct_params
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"charset"))
    {
        let mut with_charset = vec![(b"CHARSET".to_vec(), b"US-ASCII".to_vec())];
        with_charset.extend(ct_params.iter().cloned());
        params(out, &with_charset);
    } else {
        params(out, &ct_params);
    }
    out.push(b' ');
    nstring(out, raw_text(msg, part, HeaderName::ContentId).as_deref());
    out.push(b' ');
    nstring(
        out,
        raw_text(msg, part, HeaderName::ContentDescription).as_deref(),
    );
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
        out.push(b' ');
        nstring(out, raw_text(msg, part, HeaderName::ContentMd5).as_deref());
        extension(out, msg, part);
    }
    out.push(b')');
}

/// Disposition, language and location (the shared tail of extension data).
fn extension(out: &mut Vec<u8>, msg: &Message<'_>, part: &MessagePart<'_>) {
    out.push(b' ');
    match part.content_disposition() {
        Some(d) => {
            out.push(b'(');
            string(out, d.c_type.to_ascii_uppercase().as_bytes());
            out.push(b' ');
            let list = raw_header(msg, part, HeaderName::ContentDisposition)
                .map(|v| raw_params(&unfold(v)))
                .unwrap_or_default();
            params(out, &list);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match part.content_language() {
        HeaderValue::Text(t) => {
            out.push(b'(');
            string(out, t.as_bytes());
            out.push(b')');
        }
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
    nstring(
        out,
        raw_text(msg, part, HeaderName::ContentLocation).as_deref(),
    );
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
                Some(HeaderValue::Address(mail_parser::Address::List(list))) => {
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
