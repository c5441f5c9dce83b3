//! The entry points the fuzz targets use (`crates/fuzzing`: `jmap_request`,
//! `jmap_email`): the same readers the API endpoint and the webmail run on a client's
//! bytes and on a message, without a server around them.

use serde_json::Value;

use super::{message, read_request, resolve_references, state::Snapshot};

/// The request object read, and each call's arguments with references resolved.
pub fn request(body: &[u8], responses: &[Value]) -> Result<Vec<Value>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let (_, calls, _) = read_request(&v)?;
    let mut out = Vec::with_capacity(calls.len());
    for (_, args, _) in calls {
        match resolve_references(args, responses) {
            Ok(a) => out.push(Value::Object(a)),
            Err(e) => out.push(Value::String(e.kind.to_string())),
        }
    }
    Ok(out)
}

/// A state read back and written again.
pub fn state(text: &str) -> Option<String> {
    let s = Snapshot::read(text)?;
    Some(if s.digest.is_some() {
        s.mailbox_state()
    } else {
        s.email_state()
    })
}

/// What JMAP and the webmail make of a message.
pub struct EmailView {
    pub parts: usize,
    pub text: Vec<usize>,
    pub html: Vec<usize>,
    pub attachments: Vec<usize>,
    /// Indexes of the parts that are leaves (content).
    pub leaves: Vec<usize>,
    pub structure: String,
    pub headers: String,
    pub rendered: String,
    pub blocked_images: usize,
}

pub fn email(raw: &[u8]) -> EmailView {
    let msg = estafeta_mime::parse(raw);
    let lists = message::body_lists(&msg);
    let props: Vec<String> = message::BODY_PROPERTIES
        .iter()
        .map(|s| s.to_string())
        .chain(["headers".to_string()])
        .collect();
    let structure = message::body_structure(&msg, &"0".repeat(64), &props).to_string();
    let mut headers = String::new();
    for h in msg.root().headers() {
        let name = h.name.as_str().to_string();
        for form in [
            message::Form::Raw,
            message::Form::Text,
            message::Form::Addresses,
            message::Form::GroupedAddresses,
            message::Form::MessageIds,
            message::Form::Date,
            message::Form::Urls,
        ] {
            headers.push_str(&message::header_of(&msg, msg.root(), &name, form, true).to_string());
        }
    }
    for i in lists.text.iter().chain(&lists.html) {
        let _ = message::body_value(&msg, *i, 100);
    }
    let leaves = msg
        .parts
        .iter()
        .enumerate()
        .filter(|(_, p)| !matches!(p.kind, estafeta_mime::Kind::Multipart(_)))
        .map(|(i, _)| i)
        .collect();
    let (rendered, blocked_images) = crate::webmail::body_html(raw, false);
    EmailView {
        parts: msg.parts.len(),
        text: lists.text,
        html: lists.html,
        attachments: lists.attachments,
        leaves,
        structure,
        headers,
        rendered,
        blocked_images,
    }
}
