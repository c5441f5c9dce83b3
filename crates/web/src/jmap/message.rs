//! A message read as JMAP shows it (RFC 8621 §4.1): header fields in their parsed forms,
//! the body structure and the `textBody`/`htmlBody`/`attachments` lists of §4.1.4, body
//! values, the preview. Everything comes from `estafeta_mime`'s bounded reading (depth,
//! parts, boundary length: see that crate); the structure is walked with explicit stacks,
//! never by recursion. The `bodyStructure` value nests as deep as the MIME tree, at most
//! `estafeta_mime::MAX_DEPTH` (100) levels, so serialising and dropping it (which
//! serde_json does recursively) goes no deeper than that; a test builds the deepest on a
//! 256 KiB stack.

use estafeta_mime::{Kind, Message, Part};
use mail_parser::{Address, HeaderValue, MimeHeaders};
use serde_json::{Map, Value, json};

use super::ids;

/// The default `bodyProperties` (RFC 8621 §4.2).
pub const BODY_PROPERTIES: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
];

/// The root part's header fields named `name`, in order.
fn fields<'a>(part: &'a Part<'_>, name: &str) -> impl Iterator<Item = &'a mail_parser::Header<'a>> {
    let name = name.to_string();
    part.headers()
        .iter()
        .filter(move |h| h.name.as_str().eq_ignore_ascii_case(&name))
}

/// The raw value of a header field (after the colon, folding kept).
fn raw_value<'a>(msg: &Message<'a>, h: &mail_parser::Header<'_>) -> String {
    let raw = msg
        .raw
        .get(h.offset_start as usize..h.offset_end as usize)
        .unwrap_or_default();
    String::from_utf8_lossy(raw).into_owned()
}

fn addr_json(a: &mail_parser::Addr<'_>) -> Value {
    json!({"name": a.name.as_deref(), "email": a.address.as_deref().unwrap_or("")})
}

/// Addresses of a parsed header value, groups flattened.
fn addresses_of(v: &HeaderValue<'_>) -> Option<Vec<Value>> {
    match v {
        HeaderValue::Address(Address::List(list)) => Some(list.iter().map(addr_json).collect()),
        HeaderValue::Address(Address::Group(groups)) => Some(
            groups
                .iter()
                .flat_map(|g| g.addresses.iter().map(addr_json))
                .collect(),
        ),
        _ => None,
    }
}

fn grouped_of(v: &HeaderValue<'_>) -> Option<Vec<Value>> {
    match v {
        HeaderValue::Address(Address::List(list)) => Some(vec![
            json!({"name": null, "addresses": list.iter().map(addr_json).collect::<Vec<_>>()}),
        ]),
        HeaderValue::Address(Address::Group(groups)) => Some(
            groups
                .iter()
                .map(|g| json!({"name": g.name.as_deref(), "addresses": g.addresses.iter().map(addr_json).collect::<Vec<_>>()}))
                .collect(),
        ),
        _ => None,
    }
}

fn ids_of(v: &HeaderValue<'_>) -> Option<Vec<String>> {
    match v {
        HeaderValue::Text(t) => Some(vec![t.to_string()]),
        HeaderValue::TextList(l) => Some(l.iter().map(|t| t.to_string()).collect()),
        _ => None,
    }
}

fn text_of(msg: &Message<'_>, h: &mail_parser::Header<'_>) -> String {
    match &h.value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(", "),
        _ => raw_value(msg, h).trim().replace(['\r', '\n'], ""),
    }
}

fn date_of(v: &HeaderValue<'_>) -> Option<String> {
    match v {
        HeaderValue::DateTime(d) => Some(d.to_rfc3339()),
        _ => None,
    }
}

/// A header form of RFC 8621 §4.1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Raw,
    Text,
    Addresses,
    GroupedAddresses,
    MessageIds,
    Date,
    Urls,
}

/// `header:Name[:asForm][:all]`, read.
pub fn header_property(p: &str) -> Option<(String, Form, bool)> {
    let rest = p.strip_prefix("header:")?;
    let mut parts = rest.split(':');
    let name = parts.next().filter(|n| !n.is_empty())?.to_string();
    let mut form = Form::Raw;
    let mut all = false;
    for part in parts {
        match part {
            "all" if !all => all = true,
            "asRaw" => form = Form::Raw,
            "asText" => form = Form::Text,
            "asAddresses" => form = Form::Addresses,
            "asGroupedAddresses" => form = Form::GroupedAddresses,
            "asMessageIds" => form = Form::MessageIds,
            "asDate" => form = Form::Date,
            "asURLs" => form = Form::Urls,
            _ => return None,
        }
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return None;
    }
    Some((name, form, all))
}

fn form_value(msg: &Message<'_>, h: &mail_parser::Header<'_>, form: Form) -> Value {
    match form {
        Form::Raw => Value::String(raw_value(msg, h)),
        Form::Text => Value::String(text_of(msg, h)),
        Form::Addresses => addresses_of(&h.value).map_or(Value::Null, Value::from),
        Form::GroupedAddresses => grouped_of(&h.value).map_or(Value::Null, Value::from),
        Form::MessageIds => ids_of(&h.value).map_or(Value::Null, |v| json!(v)),
        Form::Date => date_of(&h.value).map_or(Value::Null, Value::String),
        Form::Urls => {
            let raw = raw_value(msg, h);
            let urls: Vec<String> = raw
                .split(',')
                .filter_map(|u| {
                    let u = u.trim();
                    u.strip_prefix('<')
                        .and_then(|u| u.strip_suffix('>'))
                        .map(str::to_string)
                })
                .collect();
            if urls.is_empty() {
                Value::Null
            } else {
                json!(urls)
            }
        }
    }
}

/// The value of a header property of `part` (RFC 8621 §4.1.3): the last field of that
/// name, or all of them.
pub fn header_of(msg: &Message<'_>, part: &Part<'_>, name: &str, form: Form, all: bool) -> Value {
    let found: Vec<_> = fields(part, name).collect();
    if all {
        Value::Array(found.iter().map(|h| form_value(msg, h, form)).collect())
    } else {
        found
            .last()
            .map_or(Value::Null, |h| form_value(msg, h, form))
    }
}

/// The header fields of `part`, raw (`headers`).
pub fn all_headers(msg: &Message<'_>, part: &Part<'_>) -> Value {
    Value::Array(
        part.headers()
            .iter()
            .map(|h| {
                let name = match &h.name {
                    mail_parser::HeaderName::Other(n) => n.to_string(),
                    other => other.as_str().to_string(),
                };
                json!({"name": name, "value": raw_value(msg, h)})
            })
            .collect(),
    )
}

/// The `textBody`, `htmlBody` and `attachments` part indexes (RFC 8621 §4.1.4's
/// algorithm, with a stack of frames in place of its recursion).
pub struct BodyLists {
    pub text: Vec<usize>,
    pub html: Vec<usize>,
    pub attachments: Vec<usize>,
}

fn media_type(part: &Part<'_>) -> (String, String) {
    match part.mime.content_type() {
        Some(ct) => (
            ct.c_type.to_ascii_lowercase(),
            ct.c_subtype.as_deref().unwrap_or("").to_ascii_lowercase(),
        ),
        None => ("text".into(), "plain".into()),
    }
}

fn is_inline_media(ty: &str) -> bool {
    ty == "image" || ty == "audio" || ty == "video"
}

pub fn body_lists(msg: &Message<'_>) -> BodyLists {
    struct Frame {
        parts: Vec<usize>,
        next: usize,
        multipart: String,
        in_alternative: bool,
        text_on: bool,
        html_on: bool,
        text_len: Option<usize>,
        html_len: Option<usize>,
    }
    let mut lists = BodyLists {
        text: Vec::new(),
        html: Vec::new(),
        attachments: Vec::new(),
    };
    let mut stack = vec![Frame {
        parts: vec![0],
        next: 0,
        multipart: "mixed".into(),
        in_alternative: false,
        text_on: true,
        html_on: true,
        text_len: Some(0),
        html_len: Some(0),
    }];
    while let Some(frame) = stack.last_mut() {
        if frame.next >= frame.parts.len() {
            let done = stack.pop().unwrap_or_else(|| unreachable!());
            if done.multipart == "alternative" && done.text_on && done.html_on {
                let (tl, hl) = (done.text_len.unwrap_or(0), done.html_len.unwrap_or(0));
                if tl == lists.text.len() && hl != lists.html.len() {
                    let extra: Vec<usize> = lists.html[hl..].to_vec();
                    lists.text.extend(extra);
                }
                if hl == lists.html.len() && tl != lists.text.len() {
                    let extra: Vec<usize> = lists.text[tl..].to_vec();
                    lists.html.extend(extra);
                }
            }
            continue;
        }
        let i = frame.next;
        frame.next += 1;
        let index = frame.parts[i];
        let part = &msg.parts[index];
        let (ty, sub) = media_type(part);
        if let Kind::Multipart(children) = &part.kind {
            let in_alternative = frame.in_alternative || sub == "alternative";
            let (text_on, html_on) = (frame.text_on, frame.html_on);
            stack.push(Frame {
                parts: children.clone(),
                next: 0,
                multipart: sub,
                in_alternative,
                text_on,
                html_on,
                text_len: text_on.then_some(lists.text.len()),
                html_len: html_on.then_some(lists.html.len()),
            });
            continue;
        }
        let attachment = part
            .mime
            .content_disposition()
            .is_some_and(|d| d.c_type.eq_ignore_ascii_case("attachment"));
        let named = part.mime.attachment_name().is_some();
        let is_text = ty == "text" && (sub == "plain" || sub == "html");
        let leaf = matches!(part.kind, Kind::Leaf);
        let inline = leaf
            && !attachment
            && (is_text || is_inline_media(&ty))
            && (i == 0 || (frame.multipart != "related" && (is_inline_media(&ty) || !named)));
        if !inline {
            lists.attachments.push(index);
            continue;
        }
        if frame.multipart == "alternative" {
            match (ty.as_str(), sub.as_str()) {
                ("text", "plain") => lists.text.push(index),
                ("text", "html") => lists.html.push(index),
                _ => lists.attachments.push(index),
            }
            continue;
        } else if frame.in_alternative {
            if ty == "text" && sub == "plain" {
                frame.html_on = false;
            }
            if ty == "text" && sub == "html" {
                frame.text_on = false;
            }
        }
        if frame.text_on {
            lists.text.push(index);
        }
        if frame.html_on {
            lists.html.push(index);
        }
        if (!frame.text_on || !frame.html_on) && is_inline_media(&ty) {
            lists.attachments.push(index);
        }
    }
    lists
}

/// The decoded size of a leaf part.
fn decoded_size(msg: &Message<'_>, part: &Part<'_>) -> usize {
    estafeta_mime::text::decoded(msg, part).map_or(msg.body(part).len(), |d| d.len())
}

/// One EmailBodyPart object with the properties asked for; `sub` holds the parts of a
/// multipart, already built (the caller builds bottom-up).
fn body_part(
    msg: &Message<'_>,
    hash: &str,
    index: usize,
    properties: &[String],
    sub: Option<Vec<Value>>,
) -> Value {
    let part = &msg.parts[index];
    let (ty, subtype) = media_type(part);
    let multipart = matches!(part.kind, Kind::Multipart(_));
    let mut o = Map::new();
    for p in properties {
        let v = match p.as_str() {
            "partId" => {
                if multipart {
                    Value::Null
                } else {
                    Value::String(index.to_string())
                }
            }
            "blobId" => {
                if multipart {
                    Value::Null
                } else {
                    Value::String(ids::part_blob(hash, index))
                }
            }
            "size" => json!(if multipart {
                0
            } else {
                decoded_size(msg, part)
            }),
            "headers" => all_headers(msg, part),
            "name" => part
                .mime
                .attachment_name()
                .map_or(Value::Null, |n| Value::String(n.to_string())),
            "type" => Value::String(format!("{ty}/{subtype}")),
            "charset" => match part
                .mime
                .content_type()
                .and_then(|c| c.attribute("charset"))
            {
                Some(c) => Value::String(c.to_string()),
                None if ty == "text" => Value::String("us-ascii".into()),
                None => Value::Null,
            },
            "disposition" => part.mime.content_disposition().map_or(Value::Null, |d| {
                Value::String(d.c_type.to_ascii_lowercase())
            }),
            "cid" => part.mime.content_id().map_or(Value::Null, |c| {
                Value::String(c.trim_matches(['<', '>']).to_string())
            }),
            "language" => match part.mime.content_language() {
                HeaderValue::Text(t) => json!([t.to_string()]),
                HeaderValue::TextList(l) => {
                    json!(l.iter().map(|t| t.to_string()).collect::<Vec<_>>())
                }
                _ => Value::Null,
            },
            "location" => part
                .mime
                .content_location()
                .map_or(Value::Null, |l| Value::String(l.to_string())),
            "subParts" => match &sub {
                Some(s) if multipart => Value::Array(s.clone()),
                _ => Value::Null,
            },
            other => {
                if let Some((name, form, all)) = header_property(other) {
                    header_of(msg, part, &name, form, all)
                } else {
                    continue;
                }
            }
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

/// The `bodyStructure`: the part tree, built bottom-up in one pass over the parts in
/// reverse (children always come after their parent in the flat list).
pub fn body_structure(msg: &Message<'_>, hash: &str, properties: &[String]) -> Value {
    let mut props: Vec<String> = properties.to_vec();
    if !props.iter().any(|p| p == "subParts") {
        props.push("subParts".into());
    }
    let mut built: Vec<Option<Value>> = vec![None; msg.parts.len()];
    for index in (0..msg.parts.len()).rev() {
        let sub = match &msg.parts[index].kind {
            Kind::Multipart(children) => Some(
                children
                    .iter()
                    .map(|c| built[*c].take().unwrap_or(Value::Null))
                    .collect(),
            ),
            _ => None,
        };
        built[index] = Some(body_part(msg, hash, index, &props, sub));
    }
    built
        .first_mut()
        .and_then(Option::take)
        .unwrap_or(Value::Null)
}

/// A list of parts as EmailBodyPart objects.
pub fn part_list(msg: &Message<'_>, hash: &str, indexes: &[usize], properties: &[String]) -> Value {
    Value::Array(
        indexes
            .iter()
            .map(|i| body_part(msg, hash, *i, properties, None))
            .collect(),
    )
}

/// An EmailBodyValue: the part's text, cut at `max` octets (0: whole) on a character
/// boundary.
pub fn body_value(msg: &Message<'_>, index: usize, max: usize) -> Option<Value> {
    let part = msg.parts.get(index)?;
    let (mut text, _) = estafeta_mime::text::part_content(msg, part)?;
    let problem = estafeta_mime::text::decoded(msg, part).is_err();
    let mut truncated = false;
    if max > 0 && text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        truncated = true;
    }
    Some(json!({"value": text, "isEncodingProblem": problem, "isTruncated": truncated}))
}

/// The Message-IDs of the root's `name` field (without angle brackets).
pub fn message_ids(msg: &Message<'_>, name: &str) -> Vec<String> {
    fields(msg.root(), name)
        .last()
        .and_then(|h| ids_of(&h.value))
        .unwrap_or_default()
}

/// Where the message's thread starts: the first of its References, else what it replies
/// to, else its own Message-ID.
pub fn thread_root(msg: &Message<'_>) -> Option<String> {
    message_ids(msg, "References")
        .into_iter()
        .next()
        .or_else(|| message_ids(msg, "In-Reply-To").into_iter().next())
        .or_else(|| message_ids(msg, "Message-ID").into_iter().next())
}

/// The decoded text of the root's last `name` field, or "".
pub fn header_text(msg: &Message<'_>, name: &str) -> String {
    fields(msg.root(), name)
        .last()
        .map(|h| text_of(msg, h))
        .unwrap_or_default()
}

/// The addresses of the root's last `name` field, as (name, email) pairs.
pub fn header_addresses(msg: &Message<'_>, name: &str) -> Vec<(String, String)> {
    let Some(h) = fields(msg.root(), name).last() else {
        return Vec::new();
    };
    addresses_of(&h.value)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or("").to_string(),
                a["email"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The `Date:` in seconds, if readable.
pub fn sent_at(msg: &Message<'_>) -> Option<i64> {
    estafeta_mime::date(msg.root())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(raw: &str) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
        let msg = estafeta_mime::parse(raw.as_bytes());
        let l = body_lists(&msg);
        (l.text, l.html, l.attachments)
    }

    #[test]
    fn alternative_parts_go_to_their_lists() {
        let raw = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
            Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n\
            --a\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\nPDF\r\n--a--\r\n";
        let msg = estafeta_mime::parse(raw.as_bytes());
        let (text, html, att) = lists(raw);
        assert_eq!(text.len(), 1);
        assert_eq!(html.len(), 1);
        assert_eq!(att.len(), 1);
        assert!(msg.parts[text[0]].is_type("text", Some("plain")));
        assert!(msg.parts[html[0]].is_type("text", Some("html")));
        assert!(msg.parts[att[0]].is_type("application", Some("pdf")));
    }

    #[test]
    fn a_plain_message_is_its_own_text_and_html_body() {
        let (text, html, att) = lists("Subject: x\r\n\r\nhello\r\n");
        assert_eq!((text, html, att), (vec![0], vec![0], vec![]));
    }

    #[test]
    fn header_properties_are_read() {
        assert_eq!(
            header_property("header:Subject"),
            Some(("Subject".into(), Form::Raw, false))
        );
        assert_eq!(
            header_property("header:To:asAddresses:all"),
            Some(("To".into(), Form::Addresses, true))
        );
        for bad in [
            "header:",
            "header:X:asNothing",
            "header:X:all:all",
            "subject",
            "header:a b",
        ] {
            assert_eq!(header_property(bad), None, "{bad}");
        }
    }

    /// The deepest structure the reader keeps (100 levels) is built and walked without
    /// recursion, on a small stack.
    #[test]
    fn deep_structures_are_walked_without_recursion() {
        let mut raw = String::new();
        for i in 0..150 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
        let props: Vec<String> = BODY_PROPERTIES.iter().map(|s| s.to_string()).collect();
        let h = "0".repeat(64);
        let (depth, listed, cut) = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let msg = estafeta_mime::parse(raw.as_bytes());
                let v = body_structure(&msg, &h, &props);
                let l = body_lists(&msg);
                let mut depth = 0;
                let mut cur = &v;
                while let Some(next) = cur.get("subParts").and_then(|s| s.get(0)) {
                    depth += 1;
                    cur = next;
                }
                (
                    depth,
                    l.text.len() + l.html.len() + l.attachments.len(),
                    msg.cut,
                )
            })
            .expect("thread")
            .join()
            .expect("no overflow");
        assert!(depth >= 98, "{depth}");
        assert!(listed >= 1);
        assert!(cut);
    }
}
