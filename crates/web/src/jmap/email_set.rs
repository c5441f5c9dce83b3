//! Changing Emails: `Email/set` (RFC 8621 §4.6: drafts made from their properties with
//! mail-builder, keywords and mailboxes patched, Emails destroyed) and `Email/import`
//! (§4.8: messages from uploaded blobs). Each change is the IMAP one on every copy: keywords
//! are STORE, a mailbox added is COPY, one removed is EXPUNGE, one swapped for another is
//! MOVE, so IMAP sessions see them as they see each other's.

use std::collections::BTreeSet;

use estafeta_store::{FlagChange, Flags, MailboxEntry, NewMessage, StoreError};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;
use serde_json::{Map, Value, json};

use super::emails::{blob_bytes, copies, current_state, flag_of, keyword_of};
use super::{Ctx, MethodError, MethodResult, SetOutcome, check_set_size, ids, set_error, threads};

fn store_error(e: StoreError) -> Value {
    match e {
        StoreError::OverQuota(m) => set_error("overQuota", m),
        StoreError::NotFound(m) => set_error("notFound", m),
        StoreError::Invalid(m) => set_error("invalidProperties", m),
        other => {
            tracing::warn!(error = %other, "JMAP Email change failed");
            set_error("serverFail", other.to_string())
        }
    }
}

/// The user's mailbox ids named by a `mailboxIds` object (all must be theirs).
async fn mailbox_set(ctx: &Ctx<'_>, v: &Value) -> Result<BTreeSet<i64>, Value> {
    let o = v
        .as_object()
        .ok_or_else(|| set_error("invalidProperties", "mailboxIds is not an object"))?;
    let boxes = ctx
        .state
        .store
        .list_mailboxes(ctx.user.id)
        .await
        .map_err(store_error)?;
    let mut out = BTreeSet::new();
    for (id, on) in o {
        if on != &Value::Bool(true) {
            return Err(set_error("invalidProperties", "mailboxIds values are true"));
        }
        let n = ctx
            .resolve_id(id)
            .as_deref()
            .and_then(ids::mailbox_of)
            .filter(|n| boxes.iter().any(|b| b.id == *n))
            .ok_or_else(|| set_error("invalidProperties", format!("no mailbox {id}")))?;
        out.insert(n);
    }
    if out.is_empty() {
        return Err(set_error(
            "invalidProperties",
            "an Email is in at least one mailbox",
        ));
    }
    Ok(out)
}

fn keywords_to_flags(v: &Value) -> Result<Flags, Value> {
    let o = v
        .as_object()
        .ok_or_else(|| set_error("invalidProperties", "keywords is not an object"))?;
    let mut flags = Vec::new();
    for (k, on) in o {
        if on != &Value::Bool(true) {
            return Err(set_error("invalidProperties", "keywords values are true"));
        }
        flags.push(
            flag_of(k)
                .ok_or_else(|| set_error("invalidProperties", format!("{k} is not a keyword")))?,
        );
    }
    Ok(Flags::new(flags.iter().map(String::as_str)))
}

/// Applies an update patch to one Email (its copies `rows`, non-empty).
pub async fn update(
    ctx: &Ctx<'_>,
    rows: &[MailboxEntry],
    patch: &Map<String, Value>,
) -> Result<(), Value> {
    let store = &ctx.state.store;
    let first = &rows[0];
    // keywords: the first copy's, patched
    let mut keywords: BTreeSet<String> = first.flags.iter().filter_map(keyword_of).collect();
    let mut keywords_changed = false;
    let mut boxes: BTreeSet<i64> = rows.iter().map(|r| r.mailbox_id).collect();
    let before = boxes.clone();
    for (k, v) in patch {
        if k == "keywords" {
            let flags = keywords_to_flags(v)?;
            keywords = flags.iter().filter_map(keyword_of).collect();
            keywords_changed = true;
        } else if let Some(kw) = k.strip_prefix("keywords/") {
            let kw = kw.replace("~1", "/").replace("~0", "~");
            let flag = flag_of(&kw)
                .ok_or_else(|| set_error("invalidPatch", format!("{kw} is not a keyword")))?;
            let key = keyword_of(&flag).unwrap_or_default();
            match v {
                Value::Bool(true) => keywords.insert(key),
                Value::Null | Value::Bool(false) => keywords.remove(&key),
                _ => return Err(set_error("invalidPatch", "keywords/… is true or null")),
            };
            keywords_changed = true;
        } else if k == "mailboxIds" {
            boxes = mailbox_set(ctx, v).await?;
        } else if let Some(m) = k.strip_prefix("mailboxIds/") {
            let id = ctx
                .resolve_id(m)
                .as_deref()
                .and_then(ids::mailbox_of)
                .ok_or_else(|| set_error("invalidPatch", format!("no mailbox {m}")))?;
            match v {
                Value::Bool(true) => {
                    let theirs = store
                        .list_mailboxes(ctx.user.id)
                        .await
                        .map_err(store_error)?;
                    if !theirs.iter().any(|b| b.id == id) {
                        return Err(set_error("invalidProperties", format!("no mailbox {m}")));
                    }
                    boxes.insert(id);
                }
                Value::Null | Value::Bool(false) => {
                    boxes.remove(&id);
                }
                _ => return Err(set_error("invalidPatch", "mailboxIds/… is true or null")),
            }
        } else {
            return Err(set_error(
                "invalidProperties",
                format!("{k} cannot be changed"),
            ));
        }
    }
    if boxes.is_empty() {
        return Err(set_error(
            "invalidProperties",
            "an Email is in at least one mailbox",
        ));
    }
    if keywords_changed {
        let wanted: Vec<String> = keywords.iter().filter_map(|k| flag_of(k)).collect();
        for r in rows {
            let mut flags: Vec<&str> = wanted.iter().map(String::as_str).collect();
            if r.flags.contains("\\Deleted") {
                flags.push("\\Deleted");
            }
            let flags = Flags::new(flags);
            if flags != r.flags {
                store
                    .store_flags(r.mailbox_id, &[r.uid], FlagChange::Replace, &flags, None)
                    .await
                    .map_err(store_error)?;
            }
        }
    }
    let added: Vec<i64> = boxes.difference(&before).copied().collect();
    let removed: Vec<i64> = before.difference(&boxes).copied().collect();
    // one folder for another, with one copy there: a MOVE
    if added.len() == 1 && removed.len() == 1 {
        let from: Vec<&MailboxEntry> = rows.iter().filter(|r| r.mailbox_id == removed[0]).collect();
        if from.len() == 1 {
            store
                .move_messages(removed[0], &[from[0].uid], added[0])
                .await
                .map_err(store_error)?;
            return Ok(());
        }
    }
    for to in &added {
        store
            .copy_messages(first.mailbox_id, &[first.uid], *to)
            .await
            .map_err(store_error)?;
    }
    for from in &removed {
        let uids: Vec<u32> = rows
            .iter()
            .filter(|r| r.mailbox_id == *from)
            .map(|r| r.uid)
            .collect();
        store.expunge(*from, &uids).await.map_err(store_error)?;
    }
    Ok(())
}

/// Removes every copy of an Email.
pub async fn destroy(ctx: &Ctx<'_>, rows: &[MailboxEntry]) -> Result<(), Value> {
    let mut by_box: std::collections::BTreeMap<i64, Vec<u32>> = Default::default();
    for r in rows {
        by_box.entry(r.mailbox_id).or_default().push(r.uid);
    }
    for (b, uids) in by_box {
        ctx.state
            .store
            .expunge(b, &uids)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

fn addresses(v: &Value) -> Result<Option<Address<'static>>, Value> {
    let Some(list) = v.as_array() else {
        return if v.is_null() {
            Ok(None)
        } else {
            Err(set_error("invalidProperties", "addresses are a list"))
        };
    };
    let mut out = Vec::new();
    for a in list {
        let email = a
            .get("email")
            .and_then(Value::as_str)
            .ok_or_else(|| set_error("invalidProperties", "an address without email"))?;
        if email.is_empty()
            || email.len() > 320
            || email
                .chars()
                .any(|c| c.is_control() || c == '<' || c == '>' || c == ',')
        {
            return Err(set_error(
                "invalidProperties",
                format!("bad address {email:?}"),
            ));
        }
        let name = a
            .get("name")
            .and_then(Value::as_str)
            .map(|n| n.replace(['\r', '\n'], " "));
        out.push(Address::new_address(name, email.to_string()));
    }
    Ok(Some(Address::new_list(out)))
}

fn message_ids(v: &Value) -> Result<Option<MessageId<'static>>, Value> {
    let Some(list) = v.as_array() else {
        return Ok(None);
    };
    let ids: Vec<String> = list
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 250
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        })
        .map(str::to_string)
        .collect();
    if ids.len() != list.len() {
        return Err(set_error("invalidProperties", "bad message id"));
    }
    Ok((!ids.is_empty()).then(|| MessageId::new_list(ids.into_iter())))
}

/// The text of a body part a draft names (`partId` in `bodyValues`).
fn part_text<'a>(part: &Value, values: &'a Map<String, Value>) -> Result<(&'a str, String), Value> {
    let id = part
        .get("partId")
        .and_then(Value::as_str)
        .ok_or_else(|| set_error("invalidProperties", "a body part without partId"))?;
    let text = values
        .get(id)
        .and_then(|v| v.get("value"))
        .and_then(Value::as_str)
        .ok_or_else(|| set_error("invalidProperties", format!("no bodyValues for part {id}")))?;
    let ty = part
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok((text, ty))
}

/// A draft's message from its JMAP properties.
async fn build(ctx: &Ctx<'_>, o: &Map<String, Value>) -> Result<Vec<u8>, Value> {
    let mut b = MessageBuilder::new();
    let values = o
        .get("bodyValues")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in o {
        b = match k.as_str() {
            "from" | "to" | "cc" | "bcc" | "replyTo" | "sender" => {
                let set: fn(MessageBuilder<'static>, Address<'static>) -> MessageBuilder<'static> =
                    match k.as_str() {
                        "from" => MessageBuilder::from,
                        "to" => MessageBuilder::to,
                        "cc" => MessageBuilder::cc,
                        "bcc" => MessageBuilder::bcc,
                        "replyTo" => MessageBuilder::reply_to,
                        _ => MessageBuilder::sender,
                    };
                match addresses(v)? {
                    Some(a) => set(b, a),
                    None => b,
                }
            }
            "subject" => match v.as_str() {
                Some(s) => b.subject(s.replace(['\r', '\n'], " ")),
                None => b,
            },
            "messageId" => match message_ids(v)? {
                Some(m) => b.message_id(m),
                None => b,
            },
            "inReplyTo" => match message_ids(v)? {
                Some(m) => b.in_reply_to(m),
                None => b,
            },
            "references" => match message_ids(v)? {
                Some(m) => b.references(m),
                None => b,
            },
            "sentAt" => match v.as_str().and_then(estafeta_net::dates::parse_rfc3339) {
                Some(t) => b.date(t),
                None => return Err(set_error("invalidProperties", "sentAt is not a date")),
            },
            "mailboxIds" | "keywords" | "receivedAt" | "bodyValues" | "textBody" | "htmlBody"
            | "attachments" => b,
            h if h.starts_with("header:") => {
                let Some((name, form, false)) = super::message::header_property(h) else {
                    return Err(set_error("invalidProperties", format!("{h} cannot be set")));
                };
                let text = v
                    .as_str()
                    .ok_or_else(|| set_error("invalidProperties", format!("{h} is not text")))?;
                if text.contains(['\r', '\n']) && form != super::message::Form::Raw {
                    return Err(set_error(
                        "invalidProperties",
                        format!("{h} holds a line break"),
                    ));
                }
                match form {
                    super::message::Form::Raw => b.header(name, Raw::new(text.to_string())),
                    super::message::Form::Text => b.header(name, Text::new(text.to_string())),
                    _ => {
                        return Err(set_error(
                            "invalidProperties",
                            format!("{h}: only asRaw and asText are set"),
                        ));
                    }
                }
            }
            other => {
                return Err(set_error(
                    "invalidProperties",
                    format!("{other} cannot be set on a new Email"),
                ));
            }
        };
    }
    for part in o
        .get("textBody")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(1)
    {
        let (text, _) = part_text(part, &values)?;
        b = b.text_body(text.to_string());
    }
    for part in o
        .get("htmlBody")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(1)
    {
        let (text, _) = part_text(part, &values)?;
        b = b.html_body(text.to_string());
    }
    let max = ctx.state.config.smtp.max_message_size as usize;
    let mut total = 0usize;
    for a in o
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let blob = a
            .get("blobId")
            .and_then(Value::as_str)
            .ok_or_else(|| set_error("invalidProperties", "an attachment without blobId"))?;
        let blob = ctx.resolve_id(blob).unwrap_or_else(|| blob.to_string());
        let (bytes, stored_type) = blob_bytes(ctx.state, ctx.user.id, &blob)
            .await
            .map_err(|e| set_error("serverFail", e.description))?
            .ok_or_else(|| set_error("blobNotFound", format!("no blob {blob}")))?;
        total += bytes.len();
        if total > max {
            return Err(set_error(
                "tooLarge",
                format!("attachments over {max} octets"),
            ));
        }
        let ty = a
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(stored_type);
        let ty: String = ty
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != ';' && *c != '"')
            .take(100)
            .collect();
        let name = a
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("attachment")
            .replace(['\r', '\n', '"'], "_");
        let inline = a.get("disposition").and_then(Value::as_str) == Some("inline");
        b = match (inline, a.get("cid").and_then(Value::as_str)) {
            (true, Some(cid)) => b.inline(ty, cid.replace(['\r', '\n', '<', '>'], ""), bytes),
            _ => b.attachment(ty, name, bytes),
        };
    }
    if o.get("textBody").is_none() && o.get("htmlBody").is_none() && o.get("attachments").is_none()
    {
        b = b.body(MimePart::new("text/plain", ""));
    }
    let bytes = b
        .write_to_vec()
        .map_err(|e| set_error("serverFail", e.to_string()))?;
    if bytes.len() > max {
        return Err(set_error(
            "tooLarge",
            format!("the message is over {max} octets"),
        ));
    }
    Ok(bytes)
}

/// Stores a new message in the mailboxes named, with the keywords and date given:
/// `(id, blobId, threadId, size)`.
async fn store_new(ctx: &Ctx<'_>, bytes: &[u8], o: &Map<String, Value>) -> Result<Value, Value> {
    let boxes = mailbox_set(ctx, o.get("mailboxIds").unwrap_or(&Value::Null)).await?;
    let flags = match o.get("keywords") {
        None | Some(Value::Null) => Flags::default(),
        Some(k) => keywords_to_flags(k)?,
    };
    let received = match o.get("receivedAt") {
        None | Some(Value::Null) => estafeta_store::now(),
        Some(v) => v
            .as_str()
            .and_then(estafeta_net::dates::parse_rfc3339)
            .ok_or_else(|| set_error("invalidProperties", "receivedAt is not a date"))?,
    };
    let mut targets = boxes.iter();
    let Some(&first) = targets.next() else {
        return Err(set_error("invalidProperties", "no mailbox"));
    };
    let store = &ctx.state.store;
    let delivered = store
        .append_many(
            first,
            &[NewMessage {
                message: bytes,
                flags: &flags,
                internal_date: received,
            }],
        )
        .await
        .map_err(store_error)?;
    let Some(d) = delivered.first() else {
        return Err(set_error("serverFail", "nothing stored"));
    };
    for &to in targets {
        store
            .copy_messages(first, &[d.uid], to)
            .await
            .map_err(store_error)?;
    }
    let hash = estafeta_store::body_hash(bytes);
    Ok(json!({
        "id": ids::email(&hash),
        "blobId": ids::raw_blob(&hash),
        "threadId": threads::of_message(ctx, &hash, bytes),
        "size": bytes.len(),
    }))
}

/// `Email/set`.
pub async fn set(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    check_set_size(args)?;
    let old_state = current_state(ctx).await?;
    super::check_in_state(args, &old_state, "Emails")?;
    let mut out = SetOutcome::default();
    if let Some(create) = args.get("create").and_then(Value::as_object) {
        for (cid, o) in create {
            let Some(o) = o.as_object() else {
                out.not_created
                    .insert(cid.clone(), set_error("invalidProperties", "not an object"));
                continue;
            };
            let result = match build(ctx, o).await {
                Ok(bytes) => store_new(ctx, &bytes, o).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => {
                    if let Some(id) = v["id"].as_str() {
                        ctx.created.insert(cid.clone(), id.to_string());
                    }
                    out.created.insert(cid.clone(), v);
                }
                Err(e) => {
                    out.not_created.insert(cid.clone(), e);
                }
            }
        }
    }
    if let Some(updates) = args.get("update").and_then(Value::as_object) {
        let names: Vec<String> = updates
            .keys()
            .map(|k| ctx.resolve_id(k).unwrap_or_else(|| k.clone()))
            .collect();
        let rows = copies(ctx, &names).await?;
        for ((given, patch), id) in updates.iter().zip(names) {
            let Some(copies) = ids::email_hash(&id).and_then(|h| rows.get(h)) else {
                out.not_updated
                    .insert(given.clone(), set_error("notFound", "no such Email"));
                continue;
            };
            let Some(patch) = patch.as_object() else {
                out.not_updated
                    .insert(given.clone(), set_error("invalidPatch", "not an object"));
                continue;
            };
            match update(ctx, copies, patch).await {
                Ok(()) => {
                    out.updated.insert(given.clone(), Value::Null);
                }
                Err(e) => {
                    out.not_updated.insert(given.clone(), e);
                }
            }
        }
    }
    if let Some(list) = args.get("destroy").and_then(Value::as_array) {
        let names: Vec<String> = list
            .iter()
            .filter_map(Value::as_str)
            .map(|k| ctx.resolve_id(k).unwrap_or_else(|| k.to_string()))
            .collect();
        let rows = copies(ctx, &names).await?;
        for id in names {
            let Some(copies) = ids::email_hash(&id).and_then(|h| rows.get(h)) else {
                out.not_destroyed
                    .insert(id, set_error("notFound", "no such Email"));
                continue;
            };
            match destroy(ctx, copies).await {
                Ok(()) => out.destroyed.push(id),
                Err(e) => {
                    out.not_destroyed.insert(id, e);
                }
            }
        }
    }
    let new_state = current_state(ctx).await?;
    Ok(out.response(ctx, json!(old_state), json!(new_state)))
}

/// `Email/import`: messages in blobs, stored.
pub async fn import(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let emails = args
        .get("emails")
        .and_then(Value::as_object)
        .ok_or_else(|| MethodError::invalid("emails is missing"))?;
    if emails.len() > super::MAX_OBJECTS_IN_SET {
        return Err(MethodError::new("requestTooLarge", "too many emails"));
    }
    let old_state = current_state(ctx).await?;
    super::check_in_state(args, &old_state, "Emails")?;
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, o) in emails {
        let Some(o) = o.as_object() else {
            not_created.insert(cid.clone(), set_error("invalidProperties", "not an object"));
            continue;
        };
        let Some(blob) = o.get("blobId").and_then(Value::as_str) else {
            not_created.insert(
                cid.clone(),
                set_error("invalidProperties", "blobId is missing"),
            );
            continue;
        };
        let blob = ctx.resolve_id(blob).unwrap_or_else(|| blob.to_string());
        let bytes = match blob_bytes(ctx.state, ctx.user.id, &blob).await? {
            Some((b, _)) => b,
            None => {
                not_created.insert(
                    cid.clone(),
                    set_error("blobNotFound", format!("no blob {blob}")),
                );
                continue;
            }
        };
        match store_new(ctx, &bytes, o).await {
            Ok(v) => {
                if let Some(id) = v["id"].as_str() {
                    ctx.created.insert(cid.clone(), id.to_string());
                }
                created.insert(cid.clone(), v);
            }
            Err(e) => {
                not_created.insert(cid.clone(), e);
            }
        }
    }
    let new_state = current_state(ctx).await?;
    Ok(json!({
        "accountId": ctx.account_id(),
        "oldState": old_state,
        "newState": new_state,
        "created": created,
        "notCreated": not_created,
    }))
}

/// Applies `Email/set`-style update patches (EmailSubmission's `onSuccessUpdateEmail`)
/// and destructions: the implied `Email/set` response.
pub async fn implied(
    ctx: &mut Ctx<'_>,
    update: Map<String, Value>,
    destroy: Vec<String>,
) -> MethodResult {
    let mut args = json!({"accountId": ctx.account_id()});
    if !update.is_empty() {
        args["update"] = Value::Object(update);
    }
    if !destroy.is_empty() {
        args["destroy"] = json!(destroy);
    }
    set(ctx, &args).await
}
