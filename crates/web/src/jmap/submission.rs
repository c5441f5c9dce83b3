//! Sending: `EmailSubmission/get|query|set` (RFC 8621 §7). A submission goes through the
//! SMTP server's own submission path ([`Submitter`], wired by the server to
//! `SmtpServer::submit`): the sender ownership check, rate limits, recipient verdicts,
//! content rules, DKIM signing and queueing a client of port 587 meets, as that user from
//! the HTTP client's address. `Bcc:` is removed before sending. The submission's id is
//! the queue id; what it was sent as is remembered in this process (the last
//! [`MAX_REMEMBERED`] submissions), its delivery status read from the queue.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

use async_trait::async_trait;
use estafeta_store::{RecipientState, User};
use serde_json::{Map, Value, json};

use super::emails::utc;
use super::{
    Ctx, MethodError, MethodResult, SetOutcome, email_set, get_ids, identities, ids, message,
    set_error,
};

/// Submissions whose details a process remembers for `EmailSubmission/get`.
pub const MAX_REMEMBERED: usize = 10_000;

/// The submission path of port 587, for other protocols.
#[async_trait]
pub trait Submitter: Send + Sync {
    /// Whether `user` may use `address` as sender.
    async fn may_send_as(&self, user: &User, address: &str) -> Result<bool, String>;
    /// Submits the message: the queue id, or the SMTP reply that refused it.
    async fn submit(
        &self,
        user: &User,
        ip: IpAddr,
        sender: &str,
        recipients: &[String],
        message: Vec<u8>,
    ) -> Result<String, String>;
}

#[derive(Clone)]
struct Record {
    id: String,
    user_id: i64,
    identity_id: String,
    email_id: String,
    thread_id: Option<String>,
    envelope: Value,
    send_at: i64,
}

/// The submissions this process made, newest last.
#[derive(Default)]
pub struct Submissions(Mutex<VecDeque<Record>>);

impl Submissions {
    fn push(&self, r: Record) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= MAX_REMEMBERED {
            q.pop_front();
        }
        q.push_back(r);
    }

    fn of_user(&self, user_id: i64) -> Vec<Record> {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().filter(|r| r.user_id == user_id).cloned().collect()
    }
}

async fn to_json(ctx: &Ctx<'_>, r: &Record) -> Result<Value, MethodError> {
    let queued = ctx.state.store.queue_get(&r.id).await?;
    let mut status = Map::new();
    let rcpts: Vec<String> = r.envelope["rcptTo"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["email"].as_str().map(str::to_string))
        .collect();
    for rcpt in rcpts {
        let delivered = match queued.as_ref().and_then(|q| {
            q.recipients
                .iter()
                .find(|x| x.address.eq_ignore_ascii_case(&rcpt))
        }) {
            Some(x) => match x.state {
                RecipientState::Queued | RecipientState::Deferred => "queued",
                RecipientState::Delivered => "yes",
                RecipientState::Failed => "no",
            },
            None => "unknown",
        };
        status.insert(
            rcpt,
            json!({"smtpReply": "250 2.0.0 Ok", "delivered": delivered, "displayed": "unknown"}),
        );
    }
    Ok(json!({
        "id": r.id,
        "identityId": r.identity_id,
        "emailId": r.email_id,
        "threadId": r.thread_id,
        "envelope": r.envelope,
        "sendAt": utc(r.send_at),
        "undoStatus": "final",
        "deliveryStatus": status,
        "dsnBlobIds": [],
        "mdnBlobIds": [],
    }))
}

/// `EmailSubmission/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let wanted = get_ids(ctx, args)?;
    let mine = ctx.state.submissions.of_user(ctx.user.id);
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    match wanted {
        None => {
            for r in &mine {
                list.push(to_json(ctx, r).await?);
            }
        }
        Some(w) => {
            for id in w {
                match mine.iter().find(|r| r.id == id) {
                    Some(r) => list.push(to_json(ctx, r).await?),
                    None => not_found.push(id),
                }
            }
        }
    }
    Ok(
        json!({"accountId": ctx.account_id(), "state": mine.len().to_string(), "list": list, "notFound": not_found}),
    )
}

/// `EmailSubmission/query`: the user's submissions this process remembers, newest first
/// (filters `emailIds`, `threadIds`, `identityIds`, `undoStatus`).
pub async fn query(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let mine = ctx.state.submissions.of_user(ctx.user.id);
    let filter = args
        .get("filter")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let within = |name: &str, v: &str| {
        filter
            .get(name)
            .and_then(Value::as_array)
            .is_none_or(|a| a.iter().any(|x| x.as_str() == Some(v)))
    };
    let ids_: Vec<String> = mine
        .iter()
        .rev()
        .filter(|r| {
            within("emailIds", &r.email_id)
                && within("identityIds", &r.identity_id)
                && within("threadIds", r.thread_id.as_deref().unwrap_or(""))
                && filter
                    .get("undoStatus")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == "final")
        })
        .map(|r| r.id.clone())
        .collect();
    Ok(json!({
        "accountId": ctx.account_id(),
        "queryState": mine.len().to_string(),
        "canCalculateChanges": false,
        "position": 0,
        "ids": ids_,
        "total": ids_.len(),
    }))
}

/// The message without its `Bcc:` fields (RFC 8621 §7.5).
fn without_bcc(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 2);
    let (head, body) = raw.split_at(end);
    let mut out = Vec::with_capacity(raw.len());
    let mut dropping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            dropping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// The reply of a refused submission as a SetError.
fn refusal(reply: &str) -> Value {
    let kind = if reply.contains("Sender address rejected") || reply.starts_with("501 5.1.7") {
        "forbiddenMailFrom"
    } else if reply.contains(" 5.1.") || reply.starts_with("501") {
        "invalidRecipients"
    } else if reply.starts_with("452 4.5.3") {
        "tooManyRecipients"
    } else if reply.starts_with("554 5.5.1") {
        "noRecipients"
    } else if reply.starts_with("552") {
        "tooLarge"
    } else {
        "forbiddenToSend"
    };
    set_error(kind, reply)
}

/// `EmailSubmission/set`: creations only (sent at once, nothing to undo); the
/// `onSuccessUpdateEmail`/`onSuccessDestroyEmail` changes follow as an `Email/set`.
pub async fn set(ctx: &mut Ctx<'_>, args: &Value) -> Result<Vec<(String, Value)>, MethodError> {
    ctx.check_account(args)?;
    super::check_set_size(args)?;
    let Some(submitter) = ctx.state.submitter.clone() else {
        return Err(MethodError::new(
            "forbidden",
            "this server has no submission path",
        ));
    };
    let identities = identities::load(ctx).await?;
    let mut out = SetOutcome::default();
    // creation id → Email id, for the onSuccess… references
    let mut sent: Vec<(String, String)> = Vec::new();
    for (cid, o) in args
        .get("create")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let identity_id = o.get("identityId").and_then(Value::as_str).unwrap_or("");
        if !identities
            .iter()
            .any(|i| i["id"].as_str() == Some(identity_id))
        {
            out.not_created.insert(
                cid.clone(),
                set_error("invalidProperties", "no such identityId"),
            );
            continue;
        }
        let email_id = o
            .get("emailId")
            .and_then(Value::as_str)
            .and_then(|e| ctx.resolve_id(e))
            .unwrap_or_default();
        let Some(hash) = ids::email_hash(&email_id).map(str::to_string) else {
            out.not_created.insert(
                cid.clone(),
                set_error("invalidProperties", "no such emailId"),
            );
            continue;
        };
        let rows = ctx
            .state
            .store
            .messages_by_hash(ctx.user.id, std::slice::from_ref(&hash))
            .await?;
        let Some(first) = rows.first() else {
            out.not_created.insert(
                cid.clone(),
                set_error("invalidProperties", "no such emailId"),
            );
            continue;
        };
        let Some(raw) = ctx
            .state
            .store
            .read_message(first.mailbox_id, first.uid)
            .await?
        else {
            out.not_created.insert(
                cid.clone(),
                set_error("invalidProperties", "no such emailId"),
            );
            continue;
        };
        let msg = estafeta_mime::parse(&raw);
        let from = message::header_addresses(&msg, "From");
        // the From (or Sender) must be an address the user may send as
        let sender_field = message::header_addresses(&msg, "Sender");
        let shown = sender_field
            .first()
            .or(from.first())
            .map(|(_, e)| e.clone());
        let Some(shown) = shown else {
            out.not_created.insert(
                cid.clone(),
                set_error("invalidEmail", "the message has no From"),
            );
            continue;
        };
        match submitter.may_send_as(ctx.user, &shown).await {
            Ok(true) => {}
            Ok(false) => {
                out.not_created.insert(
                    cid.clone(),
                    set_error("forbiddenFrom", format!("you may not send as {shown}")),
                );
                continue;
            }
            Err(e) => return Err(MethodError::server(e)),
        }
        let (mail_from, rcpt_to) = match o.get("envelope").filter(|e| !e.is_null()) {
            Some(env) => {
                let mf = env["mailFrom"]["email"].as_str().unwrap_or("").to_string();
                let rt: Vec<String> = env["rcptTo"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["email"].as_str().map(str::to_string))
                    .collect();
                (mf, rt)
            }
            None => {
                let mut rt: Vec<String> = Vec::new();
                for field in ["To", "Cc", "Bcc"] {
                    for (_, e) in message::header_addresses(&msg, field) {
                        if !e.is_empty() && !rt.iter().any(|r| r.eq_ignore_ascii_case(&e)) {
                            rt.push(e);
                        }
                    }
                }
                // RFC 8621 §7.5: the envelope sender is the Sender (or From) address
                (shown.clone(), rt)
            }
        };
        if rcpt_to.is_empty() {
            out.not_created
                .insert(cid.clone(), set_error("noRecipients", "no recipients"));
            continue;
        }
        let thread_id = super::threads::of_message(ctx, &hash, &raw);
        drop(msg);
        let outgoing = without_bcc(&raw);
        match submitter
            .submit(
                ctx.user,
                ctx.client.peer.ip(),
                &mail_from,
                &rcpt_to,
                outgoing,
            )
            .await
        {
            Ok(queue_id) => {
                let now = estafeta_store::now();
                let envelope = json!({
                    "mailFrom": {"email": mail_from, "parameters": null},
                    "rcptTo": rcpt_to.iter().map(|r| json!({"email": r, "parameters": null})).collect::<Vec<_>>(),
                });
                tracing::info!(queue_id = %queue_id, user = %ctx.user.address, recipients = rcpt_to.len(), "JMAP submission");
                ctx.state.submissions.push(Record {
                    id: queue_id.clone(),
                    user_id: ctx.user.id,
                    identity_id: identity_id.to_string(),
                    email_id: email_id.clone(),
                    thread_id: Some(thread_id.clone()),
                    envelope,
                    send_at: now,
                });
                ctx.created.insert(cid.clone(), queue_id.clone());
                sent.push((cid.clone(), email_id.clone()));
                out.created.insert(cid.clone(), json!({"id": queue_id, "undoStatus": "final", "sendAt": utc(now), "threadId": thread_id}));
            }
            Err(reply) => {
                tracing::info!(user = %ctx.user.address, reply = %reply, "JMAP submission refused");
                out.not_created.insert(cid.clone(), refusal(&reply));
            }
        }
    }
    let unsend = set_error("cannotUnsend", "submissions are sent at once");
    out.refuse_all(args, "update", &unsend);
    out.refuse_all(args, "destroy", &unsend);
    let new_state = ctx.state.submissions.of_user(ctx.user.id).len().to_string();
    let mut responses = vec![(
        "EmailSubmission/set".to_string(),
        out.response(ctx, Value::Null, json!(new_state)),
    )];
    // the Email changes asked for on success, with `#creation` naming a submission's Email
    let email_of = |key: &str| -> Option<String> {
        match key.strip_prefix('#') {
            Some(c) => sent
                .iter()
                .find(|(cid, _)| cid == c)
                .map(|(_, e)| e.clone()),
            None => Some(key.to_string()),
        }
    };
    let mut update = Map::new();
    for (k, patch) in args
        .get("onSuccessUpdateEmail")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(e) = email_of(k) {
            update.insert(e, patch.clone());
        }
    }
    let destroy: Vec<String> = args
        .get("onSuccessDestroyEmail")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(email_of)
        .collect();
    if !update.is_empty() || !destroy.is_empty() {
        let implied = email_set::implied(ctx, update, destroy).await?;
        responses.push(("Email/set".to_string(), implied));
    }
    Ok(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_fields_are_removed_with_their_folded_lines() {
        let raw = b"From: a@x\r\nBcc: hidden@y,\r\n more@z\r\nTo: b@x\r\nbcc: x@y\r\n\r\nBcc: in the body stays\r\n";
        let out = String::from_utf8(without_bcc(raw)).unwrap();
        assert_eq!(
            out,
            "From: a@x\r\nTo: b@x\r\n\r\nBcc: in the body stays\r\n"
        );
    }

    #[test]
    fn refusals_become_set_errors() {
        assert_eq!(
            refusal("553 5.7.1 <x@y>: Sender address rejected: not owned by user a@b")["type"],
            "forbiddenMailFrom"
        );
        assert_eq!(
            refusal("550 5.1.1 <nobody@example.test>: Recipient address rejected")["type"],
            "invalidRecipients"
        );
        assert_eq!(
            refusal("451 4.7.0 rate limit exceeded")["type"],
            "forbiddenToSend"
        );
    }
}
