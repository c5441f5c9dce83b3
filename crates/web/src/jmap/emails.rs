//! Reading Emails: `Email/get`, `Email/changes` and `Email/parse` (RFC 8621 §4.2, 4.3,
//! 4.9), and what the other Email methods share: the user's Emails grouped by body, the
//! keywords of IMAP flags and back.
//!
//! An Email's `mailboxIds` are the folders holding a copy of its body; its keywords,
//! `receivedAt` and `size` are those of its first copy (by folder, then UID).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use estafeta_store::{Flags, MailboxEntry};
use serde_json::{Map, Value, json};

use super::state::Snapshot;
use super::{
    Ctx, MethodError, MethodResult, get_ids, get_properties, ids, message, since_state, threads,
};

/// The Email properties `Email/get` returns when none are named (RFC 8621 §4.2).
pub const DEFAULT_PROPERTIES: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// Properties read from the store's rows alone, without the message.
const FROM_ROWS: &[&str] = &[
    "id",
    "blobId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
];

/// The JMAP keyword of an IMAP flag; `None` for flags JMAP does not show.
pub fn keyword_of(flag: &str) -> Option<String> {
    Some(match flag.to_ascii_lowercase().as_str() {
        "\\seen" => "$seen".into(),
        "\\flagged" => "$flagged".into(),
        "\\answered" => "$answered".into(),
        "\\draft" => "$draft".into(),
        f if f.starts_with('\\') => return None,
        f => f.to_string(),
    })
}

/// The IMAP flag of a JMAP keyword; `None` for one IMAP cannot hold (RFC 8621 §4.1.1:
/// 1–255 of `%x21-7E` but `( ) { ] % * " \`).
pub fn flag_of(keyword: &str) -> Option<String> {
    let k = keyword.to_ascii_lowercase();
    if k.is_empty()
        || k.len() > 255
        || !k
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"(){]%*\"\\".contains(&b))
    {
        return None;
    }
    Some(match k.as_str() {
        "$seen" => "\\Seen".into(),
        "$flagged" => "\\Flagged".into(),
        "$answered" => "\\Answered".into(),
        "$draft" => "\\Draft".into(),
        _ => k,
    })
}

pub fn keywords_json(flags: &Flags) -> Value {
    let mut m = Map::new();
    for f in flags.iter() {
        if let Some(k) = keyword_of(f) {
            m.insert(k, Value::Bool(true));
        }
    }
    Value::Object(m)
}

pub fn utc(seconds: i64) -> String {
    estafeta_net::dates::rfc3339(seconds)
}

/// The user's Emails: body hash → its copies, and the Email state read before them.
pub async fn user_emails(
    ctx: &Ctx<'_>,
) -> Result<(BTreeMap<String, Vec<MailboxEntry>>, String), MethodError> {
    let store = &ctx.state.store;
    let state = Snapshot::of(&store.list_mailboxes(ctx.user.id).await?).email_state();
    let mut all: BTreeMap<String, Vec<MailboxEntry>> = BTreeMap::new();
    for e in store.user_messages(ctx.user.id).await? {
        all.entry(e.blob_hash.clone()).or_default().push(e);
    }
    Ok((all, state))
}

/// The user's copies of the Emails named by their ids, by body hash (ids that name no
/// Email of theirs are left out).
pub async fn copies(
    ctx: &Ctx<'_>,
    email_ids: &[String],
) -> Result<HashMap<String, Vec<MailboxEntry>>, MethodError> {
    let hashes: Vec<String> = email_ids
        .iter()
        .filter_map(|i| ids::email_hash(i).map(str::to_string))
        .collect();
    let rows = ctx
        .state
        .store
        .messages_by_hash(ctx.user.id, &hashes)
        .await?;
    let mut out: HashMap<String, Vec<MailboxEntry>> = HashMap::new();
    for r in rows {
        out.entry(r.blob_hash.clone()).or_default().push(r);
    }
    Ok(out)
}

/// The current Email state.
pub async fn current_state(ctx: &Ctx<'_>) -> Result<String, MethodError> {
    Ok(Snapshot::of(&ctx.state.store.list_mailboxes(ctx.user.id).await?).email_state())
}

/// What `fetchTextBodyValues` and its kin ask for.
pub struct BodyFetch {
    pub text: bool,
    pub html: bool,
    pub all: bool,
    pub max: usize,
    pub body_properties: Vec<String>,
}

impl BodyFetch {
    pub fn from_args(args: &Value) -> Result<BodyFetch, MethodError> {
        let flag = |n: &str| args.get(n).and_then(Value::as_bool).unwrap_or(false);
        let body_properties = match args.get("bodyProperties") {
            None | Some(Value::Null) => message::BODY_PROPERTIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(Value::Array(a)) if a.len() > super::MAX_PROPERTIES => {
                return Err(MethodError::invalid(format!(
                    "at most {} bodyProperties",
                    super::MAX_PROPERTIES
                )));
            }
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| MethodError::invalid("bodyProperties holds a non-string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(MethodError::invalid("bodyProperties is not an array")),
        };
        Ok(BodyFetch {
            text: flag("fetchTextBodyValues"),
            html: flag("fetchHTMLBodyValues"),
            all: flag("fetchAllBodyValues"),
            max: match args
                .get("maxBodyValueBytes")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize
            {
                0 => super::MAX_BODY_VALUE,
                n => n.min(super::MAX_BODY_VALUE),
            },
            body_properties,
        })
    }
}

/// The properties of a message read from its bytes (those that need them).
pub fn message_properties(
    raw: &[u8],
    hash: &str,
    properties: &[String],
    fetch: &BodyFetch,
    out: &mut Map<String, Value>,
) -> Result<(), MethodError> {
    let msg = estafeta_mime::parse(raw);
    let lists = message::body_lists(&msg);
    let addresses =
        |name: &str| message::header_of(&msg, msg.root(), name, message::Form::Addresses, false);
    let ids_of =
        |name: &str| message::header_of(&msg, msg.root(), name, message::Form::MessageIds, false);
    for p in properties {
        let v = match p.as_str() {
            "messageId" => ids_of("Message-ID"),
            "inReplyTo" => ids_of("In-Reply-To"),
            "references" => ids_of("References"),
            "sender" => addresses("Sender"),
            "from" => addresses("From"),
            "to" => addresses("To"),
            "cc" => addresses("Cc"),
            "bcc" => addresses("Bcc"),
            "replyTo" => addresses("Reply-To"),
            "subject" => {
                message::header_of(&msg, msg.root(), "Subject", message::Form::Text, false)
            }
            "sentAt" => message::header_of(&msg, msg.root(), "Date", message::Form::Date, false),
            "hasAttachment" => Value::Bool(!lists.attachments.is_empty()),
            "preview" => Value::String(estafeta_mime::text::preview(&msg)),
            "headers" => message::all_headers(&msg, msg.root()),
            "bodyStructure" => message::body_structure(&msg, hash, &fetch.body_properties),
            "textBody" => message::part_list(&msg, hash, &lists.text, &fetch.body_properties),
            "htmlBody" => message::part_list(&msg, hash, &lists.html, &fetch.body_properties),
            "attachments" => {
                message::part_list(&msg, hash, &lists.attachments, &fetch.body_properties)
            }
            "bodyValues" => {
                let mut wanted: BTreeSet<usize> = BTreeSet::new();
                if fetch.text || fetch.all {
                    wanted.extend(&lists.text);
                }
                if fetch.html || fetch.all {
                    wanted.extend(&lists.html);
                }
                let mut values = Map::new();
                for i in wanted {
                    if let Some(v) = message::body_value(&msg, i, fetch.max) {
                        values.insert(i.to_string(), v);
                    }
                }
                Value::Object(values)
            }
            other => match message::header_property(other) {
                Some((name, form, all)) => message::header_of(&msg, msg.root(), &name, form, all),
                None => return Err(MethodError::invalid(format!("unknown property {other}"))),
            },
        };
        out.insert(p.clone(), v);
    }
    Ok(())
}

fn check_properties(properties: &[String]) -> Result<(), MethodError> {
    for p in properties {
        let known = DEFAULT_PROPERTIES.contains(&p.as_str())
            || ["headers", "bodyStructure"].contains(&p.as_str())
            || message::header_property(p).is_some();
        if !known {
            return Err(MethodError::invalid(format!("unknown property {p}")));
        }
    }
    Ok(())
}

/// `Email/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let fetch = BodyFetch::from_args(args)?;
    let mut properties = get_properties(args)?
        .unwrap_or_else(|| DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect());
    check_properties(&properties)?;
    if !properties.iter().any(|p| p == "id") {
        properties.insert(0, "id".into());
    }
    let state = current_state(ctx).await?;
    let wanted = match get_ids(ctx, args)? {
        Some(w) => w,
        None => {
            return Err(MethodError::new(
                "requestTooLarge",
                "Email/get needs ids: use Email/query to find them",
            ));
        }
    };
    let by_hash = copies(ctx, &wanted).await?;
    let needs_message = properties.iter().any(|p| !FROM_ROWS.contains(&p.as_str()));
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    let mut seen = HashSet::new();
    for id in wanted {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(copies) = ids::email_hash(&id).and_then(|h| by_hash.get(h)) else {
            not_found.push(Value::String(id));
            continue;
        };
        let first = &copies[0];
        let hash = first.blob_hash.as_str();
        let mut o = Map::new();
        let raw = if needs_message {
            match ctx
                .state
                .store
                .read_message(first.mailbox_id, first.uid)
                .await?
            {
                Some(raw) => Some(raw),
                None => {
                    // expunged meanwhile
                    not_found.push(Value::String(id));
                    continue;
                }
            }
        } else {
            None
        };
        let mut rest = Vec::new();
        for p in &properties {
            let v = match p.as_str() {
                "id" => Value::String(id.clone()),
                "blobId" => Value::String(ids::raw_blob(hash)),
                "mailboxIds" => {
                    let m: Map<String, Value> = copies
                        .iter()
                        .map(|c| (ids::mailbox(c.mailbox_id), Value::Bool(true)))
                        .collect();
                    Value::Object(m)
                }
                "keywords" => keywords_json(&first.flags),
                "size" => json!(first.size),
                "receivedAt" => Value::String(utc(first.internal_date)),
                "threadId" => match &raw {
                    Some(raw) => Value::String(threads::of_message(ctx, hash, raw)),
                    None => Value::Null,
                },
                _ => {
                    rest.push(p.clone());
                    continue;
                }
            };
            o.insert(p.clone(), v);
        }
        if let Some(raw) = &raw {
            message_properties(raw, hash, &rest, &fetch, &mut o)?;
        }
        list.push(Value::Object(o));
    }
    Ok(json!({"accountId": ctx.account_id(), "state": state, "list": list, "notFound": not_found}))
}

/// What changed between two Email states: body hashes.
pub struct Diff {
    pub old_state: String,
    pub new_state: String,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub destroyed: Vec<String>,
}

fn cannot(why: &str) -> MethodError {
    MethodError::new("cannotCalculateChanges", why.to_string())
}

/// The Emails created, updated and destroyed since the `sinceState` of `args`.
///
/// An Email existed at the old state when one of its copies did: a copy there now with a
/// UID under its folder's UIDNEXT of then, or a copy expunged since with such a UID. It
/// exists now when a copy does.
pub async fn email_changes(ctx: &Ctx<'_>, args: &Value) -> Result<Diff, MethodError> {
    let since = since_state(args)?;
    let old = Snapshot::read(since).ok_or_else(|| cannot("that state was not made here"))?;
    let store = &ctx.state.store;
    let mailboxes = store.list_mailboxes(ctx.user.id).await?;
    let now = Snapshot::of(&mailboxes);
    let new_state = now.email_state();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // (mailbox, uid, hash) of copies expunged since, that may have existed then
    let mut gone_then: HashSet<String> = HashSet::new();
    for seen in &old.boxes {
        if now.get(seen.id).is_none() {
            return Err(cannot("a mailbox was deleted since that state"));
        }
    }
    for m in &now.boxes {
        let was = old.get(m.id);
        let since_modseq = was.map_or(0, |w| w.modseq);
        if was.is_some_and(|w| w.modseq == m.modseq) {
            continue;
        }
        for e in store.changed_since(m.id, since_modseq).await? {
            touched.insert(e.blob_hash);
        }
        if let Some(was) = was {
            for (uid, hash) in store.expunged_since(m.id, since_modseq).await? {
                let hash = hash.ok_or_else(|| cannot("messages expunged by an older version"))?;
                if uid < was.uidnext {
                    gone_then.insert(hash.clone());
                }
                touched.insert(hash);
            }
        }
    }
    let hashes: Vec<String> = touched.iter().cloned().collect();
    let rows = store.messages_by_hash(ctx.user.id, &hashes).await?;
    let mut now_rows: HashMap<&str, Vec<&MailboxEntry>> = HashMap::new();
    for r in &rows {
        now_rows.entry(r.blob_hash.as_str()).or_default().push(r);
    }
    let mut diff = Diff {
        old_state: since.to_string(),
        new_state,
        created: Vec::new(),
        updated: Vec::new(),
        destroyed: Vec::new(),
    };
    for h in touched {
        let copies = now_rows.get(h.as_str());
        let existed = gone_then.contains(&h)
            || copies.is_some_and(|c| {
                c.iter()
                    .any(|r| old.get(r.mailbox_id).is_some_and(|w| r.uid < w.uidnext))
            });
        match (existed, copies.is_some()) {
            (false, true) => diff.created.push(ids::email(&h)),
            (true, true) => diff.updated.push(ids::email(&h)),
            (true, false) => diff.destroyed.push(ids::email(&h)),
            (false, false) => {}
        }
    }
    Ok(diff)
}

/// `Email/changes`. A reply over `maxChanges` cannot be cut at a state in between (the
/// state is every mailbox's MODSEQ), so it is `cannotCalculateChanges` then.
pub async fn changes(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let max = super::max_changes(args)?;
    let diff = email_changes(ctx, args).await?;
    let n = diff.created.len() + diff.updated.len() + diff.destroyed.len();
    if max.is_some_and(|m| n > m) {
        return Err(cannot(
            "more changes than maxChanges: fetch the Emails again",
        ));
    }
    Ok(json!({
        "accountId": ctx.account_id(),
        "oldState": diff.old_state,
        "newState": diff.new_state,
        "hasMoreChanges": false,
        "created": diff.created,
        "updated": diff.updated,
        "destroyed": diff.destroyed,
    }))
}

/// The bytes a blob id names, for this user: an upload, a message, or a part of one
/// (decoded). `None` when it names nothing of theirs.
pub async fn blob_bytes(
    ctx_state: &crate::WebState,
    user_id: i64,
    blob: &str,
) -> Result<Option<(Vec<u8>, String)>, MethodError> {
    let store = &ctx_state.store;
    let Some(kind) = ids::blob_of(blob) else {
        return Ok(None);
    };
    match kind {
        ids::Blob::Upload(id) => Ok(store
            .upload(user_id, &id, estafeta_store::now())
            .await?
            .map(|u| (u.data, u.content_type))),
        ids::Blob::Raw(ref hash) | ids::Blob::Part(ref hash, _) => {
            let rows = store
                .messages_by_hash(user_id, std::slice::from_ref(hash))
                .await?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let Some(raw) = store.read_message(first.mailbox_id, first.uid).await? else {
                return Ok(None);
            };
            match kind {
                ids::Blob::Part(_, index) => {
                    let msg = estafeta_mime::parse(&raw);
                    let Some(part) = msg.parts.get(index) else {
                        return Ok(None);
                    };
                    if !matches!(
                        part.kind,
                        estafeta_mime::Kind::Leaf
                            | estafeta_mime::Kind::Cut
                            | estafeta_mime::Kind::Message(_)
                    ) {
                        return Ok(None);
                    }
                    let bytes = estafeta_mime::text::decoded(&msg, part)
                        .unwrap_or_else(|_| msg.body(part).to_vec());
                    let ty = part
                        .mime
                        .content_type()
                        .map(|c| {
                            format!(
                                "{}/{}",
                                c.c_type,
                                c.c_subtype.as_deref().unwrap_or("octet-stream")
                            )
                        })
                        .unwrap_or_else(|| "text/plain".into());
                    Ok(Some((bytes, ty.to_ascii_lowercase())))
                }
                _ => Ok(Some((raw, "message/rfc822".into()))),
            }
        }
    }
}

use mail_parser::MimeHeaders;

/// `Email/parse`: messages held in blobs, read as Emails (without the properties of a
/// stored Email).
pub async fn parse(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let fetch = BodyFetch::from_args(args)?;
    let properties: Vec<String> = get_properties(args)?.unwrap_or_else(|| {
        DEFAULT_PROPERTIES
            .iter()
            .filter(|p| !["id", "threadId", "mailboxIds", "keywords", "receivedAt"].contains(p))
            .map(|s| s.to_string())
            .collect()
    });
    check_properties(&properties)?;
    let blob_ids: Vec<String> = args
        .get("blobIds")
        .and_then(Value::as_array)
        .ok_or_else(|| MethodError::invalid("blobIds is missing"))?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if blob_ids.len() > super::MAX_OBJECTS_IN_GET {
        return Err(MethodError::new("requestTooLarge", "too many blobIds"));
    }
    let mut parsed = Map::new();
    let mut not_found = Vec::new();
    for blob in blob_ids {
        let Some((bytes, _)) = blob_bytes(ctx.state, ctx.user.id, &blob).await? else {
            not_found.push(blob);
            continue;
        };
        let hash = estafeta_store::body_hash(&bytes);
        let mut o = Map::new();
        let mut rest = Vec::new();
        for p in &properties {
            match p.as_str() {
                "id" | "threadId" | "mailboxIds" | "keywords" | "receivedAt" => {
                    o.insert(p.clone(), Value::Null);
                }
                "blobId" => {
                    o.insert(p.clone(), Value::String(blob.clone()));
                }
                "size" => {
                    o.insert(p.clone(), json!(bytes.len()));
                }
                _ => rest.push(p.clone()),
            }
        }
        message_properties(&bytes, &hash, &rest, &fetch, &mut o)?;
        parsed.insert(blob, Value::Object(o));
    }
    Ok(
        json!({"accountId": ctx.account_id(), "parsed": parsed, "notParsable": [], "notFound": not_found}),
    )
}
