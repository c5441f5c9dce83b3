//! Message structure for FETCH: ENVELOPE, BODY/BODYSTRUCTURE and BODY[section], over the
//! bounded MIME tree of `estafeta_mime` (depth, parts and time bounded there; no walk here
//! recurses). Header values go out as they stand in the message (encoded words and RFC
//! 2231 values are the client's to decode), as Dovecot does; tests/corpus.rs compares the
//! answers with Dovecot's on a corpus, deep and malformed nesting included.

use estafeta_mime::{Kind, Message, Part};
use mail_parser::{HeaderName, HeaderValue, MimeHeaders};

use crate::address;

use crate::command::{Section, SectionText};
use crate::response::{nstring, string};

pub use estafeta_mime::text::UnknownEncoding;

pub fn parse(bytes: &[u8]) -> Message<'_> {
    estafeta_mime::parse(bytes)
}

fn raw_header<'a>(msg: &Message<'a>, part: &Part<'_>, name: HeaderName<'_>) -> Option<&'a [u8]> {
    // the last of repeated headers counts, as in Dovecot
    let h = part.headers().iter().rev().find(|h| h.name == name)?;
    let raw = msg
        .raw
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

/// ENVELOPE (RFC 9051 §7.5.2) of the message whose root is part `id`.
pub fn envelope(out: &mut Vec<u8>, msg: &Message<'_>, id: usize) {
    let Some(root) = msg.parts.get(id) else {
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
fn raw_text(msg: &Message<'_>, part: &Part<'_>, name: HeaderName<'_>) -> Option<Vec<u8>> {
    raw_header(msg, part, name).map(unfold)
}

/// BODY (`extended` false) or BODYSTRUCTURE (`extended` true) of part `id` of `msg`.
/// Written with an explicit stack: the tree is at most `estafeta_mime::MAX_DEPTH` deep,
/// and the walk does not recurse on it either.
pub fn body_structure(out: &mut Vec<u8>, msg: &Message<'_>, id: usize, extended: bool) {
    enum Step {
        Part(usize),
        /// `"SUBTYPE" params extension)` of a multipart.
        MultipartTail(usize),
        /// ` lines md5 extension)` of a message/rfc822 part.
        MessageTail(usize),
    }
    let mut steps = vec![Step::Part(id)];
    while let Some(step) = steps.pop() {
        match step {
            Step::Part(id) => {
                let Some(part) = msg.parts.get(id) else {
                    out.extend_from_slice(b"NIL");
                    continue;
                };
                match &part.kind {
                    Kind::Multipart(children) => {
                        out.push(b'(');
                        steps.push(Step::MultipartTail(id));
                        steps.extend(children.iter().rev().map(|&c| Step::Part(c)));
                    }
                    Kind::Message(child) => {
                        leaf_head(out, msg, part);
                        out.push(b' ');
                        envelope(out, msg, *child);
                        out.push(b' ');
                        steps.push(Step::MessageTail(id));
                        steps.push(Step::Part(*child));
                    }
                    Kind::Leaf => leaf(out, msg, part, extended),
                    Kind::Cut => {
                        // nested beyond the bound: opaque octets, as Dovecot shows them
                        head(out, msg, part, "APPLICATION", "OCTET-STREAM");
                        leaf_tail(out, msg, part, extended);
                    }
                }
            }
            Step::MultipartTail(id) => {
                let part = &msg.parts[id];
                out.push(b' ');
                string(out, subtype(part, "mixed").as_bytes());
                if extended {
                    out.push(b' ');
                    params(out, &ct_params(msg, part));
                    extension(out, msg, part);
                }
                out.push(b')');
            }
            Step::MessageTail(id) => {
                let part = &msg.parts[id];
                out.extend_from_slice(format!(" {}", msg.lines(part)).as_bytes());
                leaf_tail(out, msg, part, extended);
            }
        }
    }
}

fn subtype(part: &Part<'_>, default: &str) -> String {
    part.mime
        .content_type()
        .and_then(|c| c.c_subtype.as_deref())
        .unwrap_or(default)
        .to_ascii_uppercase()
}

fn ct_params(msg: &Message<'_>, part: &Part<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw_header(msg, part, HeaderName::ContentType)
        .map(|v| raw_params(&unfold(v)))
        .unwrap_or_default()
}

/// A part with no parts of its own (or cut by a bound).
fn leaf(out: &mut Vec<u8>, msg: &Message<'_>, part: &Part<'_>, extended: bool) {
    if part
        .mime
        .content_type()
        .is_some_and(|c| c.c_type.eq_ignore_ascii_case("multipart"))
    {
        // a multipart without a usable boundary (or nested beyond the bound): one empty
        // text part, as Dovecot has it
        out.extend_from_slice(
            b"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0",
        );
        if extended {
            out.extend_from_slice(b" NIL NIL NIL NIL");
        }
        out.extend_from_slice(b") ");
        string(out, subtype(part, "mixed").as_bytes());
        if extended {
            out.push(b' ');
            params(out, &ct_params(msg, part));
            out.extend_from_slice(b" NIL NIL NIL");
        }
        out.push(b')');
        return;
    }
    let text = leaf_head(out, msg, part);
    if text {
        out.extend_from_slice(format!(" {}", msg.lines(part)).as_bytes());
    }
    leaf_tail(out, msg, part, extended);
}

/// `("TYPE" "SUBTYPE" params id description encoding size` with the part's own type;
/// whether the type is TEXT.
fn leaf_head(out: &mut Vec<u8>, msg: &Message<'_>, part: &Part<'_>) -> bool {
    let (ty, subtype) = match part.mime.content_type() {
        Some(c) => (
            c.c_type.to_ascii_uppercase(),
            c.c_subtype
                .as_deref()
                .unwrap_or("plain")
                .to_ascii_uppercase(),
        ),
        None if matches!(part.kind, Kind::Message(_)) => ("MESSAGE".into(), "RFC822".into()),
        None => ("TEXT".to_string(), "PLAIN".to_string()),
    };
    head(out, msg, part, &ty, &subtype);
    ty == "TEXT"
}

/// `("TYPE" "SUBTYPE" params id description encoding size`.
fn head(out: &mut Vec<u8>, msg: &Message<'_>, part: &Part<'_>, ty: &str, subtype: &str) {
    let ct_params = ct_params(msg, part);
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
        .mime
        .content_transfer_encoding()
        .unwrap_or("7bit")
        .to_ascii_uppercase();
    string(out, encoding.as_bytes());
    out.extend_from_slice(format!(" {}", msg.body(part).len()).as_bytes());
}

/// `md5 extension)` (extended) or `)`.
fn leaf_tail(out: &mut Vec<u8>, msg: &Message<'_>, part: &Part<'_>, extended: bool) {
    if extended {
        out.push(b' ');
        nstring(out, raw_text(msg, part, HeaderName::ContentMd5).as_deref());
        extension(out, msg, part);
    }
    out.push(b')');
}

/// Disposition, language and location (the shared tail of extension data).
fn extension(out: &mut Vec<u8>, msg: &Message<'_>, part: &Part<'_>) {
    out.push(b' ');
    match part.mime.content_disposition() {
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
    match part.mime.content_language() {
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

/// The part a section's numbers name. A message/rfc822 part's numbers continue inside
/// the enclosed message; a single-part body is part 1 (RFC 9051 §6.4.5).
fn locate(msg: &Message<'_>, numbers: &[u32]) -> Option<usize> {
    let mut id = 0usize;
    for (i, &n) in numbers.iter().enumerate() {
        if i > 0
            && let Kind::Message(child) = msg.parts.get(id)?.kind
        {
            id = child;
        }
        match &msg.parts.get(id)?.kind {
            Kind::Multipart(children) => id = *children.get((n as usize).checked_sub(1)?)?,
            _ if n == 1 => {}
            _ => return None,
        }
    }
    Some(id)
}

/// The bytes of BODY[section]; `None` when the section does not exist.
pub fn section(msg: &Message<'_>, section: &Section) -> Option<Vec<u8>> {
    let id = if section.parts.is_empty() {
        0
    } else {
        locate(msg, &section.parts)?
    };
    let part = msg.parts.get(id)?;
    let bytes = |a: usize, b: usize| msg.raw.get(a..b.max(a)).map(<[u8]>::to_vec);
    // for a message/rfc822 part, HEADER and TEXT are those of the enclosed message
    let hpart = match (&part.kind, &section.text) {
        (
            Kind::Message(child),
            Some(SectionText::Header | SectionText::HeaderFields { .. } | SectionText::Text),
        ) if !section.parts.is_empty() => msg.parts.get(*child)?,
        _ => part,
    };
    match &section.text {
        None if section.parts.is_empty() => Some(msg.raw.to_vec()),
        None => bytes(part.body_start(), part.end()),
        Some(SectionText::Mime) => bytes(part.header_start(), part.body_start()),
        Some(SectionText::Header) => bytes(hpart.header_start(), hpart.body_start()),
        Some(SectionText::Text) => bytes(hpart.body_start(), hpart.end()),
        Some(SectionText::HeaderFields { not, fields }) => {
            let mut out = Vec::new();
            for h in hpart.headers() {
                let name = h.name.as_str();
                let listed = fields.iter().any(|f| f.eq_ignore_ascii_case(name));
                if listed != *not
                    && let Some(line) = msg.raw.get(h.offset_field as usize..h.offset_end as usize)
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
    let root = msg.root();
    root.headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .filter_map(|h| {
            let raw = msg
                .raw
                .get(h.offset_start as usize..h.offset_end as usize)?;
            let raw = String::from_utf8_lossy(&unfold(raw)).into_owned();
            // decoded forms too, so that a search for "é" finds =?utf-8?q?=C3=A9?=
            Some(match &h.value {
                HeaderValue::Text(t) => format!("{raw} {t}"),
                HeaderValue::Address(mail_parser::Address::List(list)) => {
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
            })
        })
        .collect()
}

pub fn body_text(msg: &Message<'_>) -> String {
    estafeta_mime::text::body_text(msg)
}

/// The bytes of BINARY[parts] (RFC 3516): a leaf part's body with its content transfer
/// encoding undone; the whole message, or a multipart's body, as they are. `Ok(None)`
/// when the part does not exist.
pub fn binary(msg: &Message<'_>, parts: &[u32]) -> Result<Option<Vec<u8>>, UnknownEncoding> {
    if parts.is_empty() {
        return Ok(Some(msg.raw.to_vec()));
    }
    let Some(part) = locate(msg, parts).and_then(|id| msg.parts.get(id)) else {
        return Ok(None);
    };
    if part.kind != Kind::Leaf {
        return Ok(Some(msg.body(part).to_vec()));
    }
    estafeta_mime::text::decoded(msg, part).map(Some)
}
