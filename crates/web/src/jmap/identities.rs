//! `Identity/get|changes|set` (RFC 8621 §6): who the user sends as. The first identity,
//! `i0`, is the user's own address and cannot be destroyed; others may name any address
//! the user may send as (the same check as MAIL on port 587). Kept as one IMAP METADATA
//! entry of the user's ([`ENTRY`]), so every node reads the same; at most
//! [`MAX_IDENTITIES`] of them, each field at most [`MAX_FIELD`] octets.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{
    Ctx, MethodError, MethodResult, SetOutcome, check_set_size, get_ids, set_error, since_state,
};

pub const ENTRY: &str = "/private/vendor/estafeta/jmap-identities";
pub const MAX_IDENTITIES: usize = 50;
pub const MAX_FIELD: usize = 8 * 1024;

fn default_identity(address: &str) -> Value {
    json!({
        "id": "i0", "name": "", "email": address, "replyTo": null, "bcc": null,
        "textSignature": "", "htmlSignature": "", "mayDelete": false,
    })
}

/// The user's identities.
pub async fn load(ctx: &Ctx<'_>) -> Result<Vec<Value>, MethodError> {
    let entries = ctx.state.store.metadata(ctx.user.id, None).await?;
    let stored = entries
        .iter()
        .find(|(n, _)| n == ENTRY)
        .and_then(|(_, v)| serde_json::from_slice::<Vec<Value>>(v).ok());
    let mut list = stored.unwrap_or_default();
    if !list.iter().any(|i| i["id"] == "i0") {
        list.insert(0, default_identity(&ctx.user.address));
    }
    Ok(list)
}

async fn save(ctx: &Ctx<'_>, list: &[Value]) -> Result<(), MethodError> {
    let bytes = serde_json::to_vec(list).map_err(MethodError::server)?;
    ctx.state
        .store
        .set_metadata(
            ctx.user.id,
            None,
            &[(ENTRY.to_string(), Some(bytes))],
            usize::MAX,
        )
        .await?;
    Ok(())
}

fn state_of(list: &[Value]) -> String {
    let text = serde_json::to_vec(list).unwrap_or_default();
    hex::encode(&Sha256::digest(&text)[..8])
}

/// `Identity/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let list = load(ctx).await?;
    let state = state_of(&list);
    let (found, not_found) = match get_ids(ctx, args)? {
        None => (list, Vec::new()),
        Some(w) => {
            let found = list
                .iter()
                .filter(|i| w.iter().any(|x| i["id"] == x.as_str()))
                .cloned()
                .collect();
            let nf = w
                .into_iter()
                .filter(|x| !list.iter().any(|i| i["id"] == x.as_str()))
                .collect();
            (found, nf)
        }
    };
    Ok(json!({"accountId": ctx.account_id(), "state": state, "list": found, "notFound": not_found}))
}

/// `Identity/changes`: none when the state is the current one.
pub async fn changes(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let since = since_state(args)?;
    let state = state_of(&load(ctx).await?);
    if since != state {
        return Err(MethodError::new(
            "cannotCalculateChanges",
            "fetch the identities again",
        ));
    }
    Ok(
        json!({"accountId": ctx.account_id(), "oldState": since, "newState": state, "hasMoreChanges": false, "created": [], "updated": [], "destroyed": []}),
    )
}

/// Copies the settable fields of `patch` into `identity`.
fn apply(identity: &mut Value, patch: &Map<String, Value>, creating: bool) -> Result<(), Value> {
    for (k, v) in patch {
        let ok = match k.as_str() {
            "name" | "textSignature" | "htmlSignature" => {
                v.as_str().is_some_and(|s| s.len() <= MAX_FIELD)
            }
            "replyTo" | "bcc" => {
                v.is_null()
                    || v.as_array().is_some_and(|a| {
                        a.len() <= 20
                            && a.iter()
                                .all(|x| x["email"].as_str().is_some_and(|e| e.len() <= 320))
                    })
            }
            "email" => creating && v.as_str().is_some_and(|s| s.len() <= 320),
            "id" | "mayDelete" => false,
            _ => false,
        };
        if !ok {
            return Err(set_error(
                "invalidProperties",
                format!("{k} cannot be set so"),
            ));
        }
        identity[k] = v.clone();
    }
    Ok(())
}

/// `Identity/set`.
pub async fn set(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    check_set_size(args)?;
    let mut list = load(ctx).await?;
    let old_state = state_of(&list);
    super::check_in_state(args, &old_state, "identities")?;
    let mut out = SetOutcome::default();
    for (cid, o) in args
        .get("create")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(o) = o.as_object() else { continue };
        if list.len() >= MAX_IDENTITIES {
            out.not_created.insert(
                cid.clone(),
                set_error("overQuota", format!("at most {MAX_IDENTITIES} identities")),
            );
            continue;
        }
        let email = o
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let allowed = match &ctx.state.submitter {
            Some(s) => s
                .may_send_as(ctx.user, &email)
                .await
                .map_err(MethodError::server)?,
            None => email.eq_ignore_ascii_case(&ctx.user.address),
        };
        if email.is_empty() || !allowed {
            out.not_created.insert(
                cid.clone(),
                set_error("forbiddenFrom", format!("you may not send as {email:?}")),
            );
            continue;
        }
        let id = format!("i{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut identity = default_identity(&email);
        identity["id"] = json!(id);
        identity["mayDelete"] = json!(true);
        if let Err(e) = apply(&mut identity, o, true) {
            out.not_created.insert(cid.clone(), e);
            continue;
        }
        identity["email"] = json!(email);
        list.push(identity);
        ctx.created.insert(cid.clone(), id.clone());
        out.created
            .insert(cid.clone(), json!({"id": id, "mayDelete": true}));
    }
    for (id, patch) in args
        .get("update")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let id = ctx.resolve_id(id).unwrap_or_else(|| id.clone());
        let Some(identity) = list.iter_mut().find(|i| i["id"] == id.as_str()) else {
            out.not_updated
                .insert(id, set_error("notFound", "no such identity"));
            continue;
        };
        match patch
            .as_object()
            .ok_or_else(|| set_error("invalidPatch", "not an object"))
            .and_then(|p| apply(identity, p, false))
        {
            Ok(()) => {
                out.updated.insert(id, Value::Null);
            }
            Err(e) => {
                out.not_updated.insert(id, e);
            }
        }
    }
    for id in args
        .get("destroy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if id == "i0" {
            out.not_destroyed.insert(
                id.to_string(),
                set_error("forbidden", "the user's own address stays"),
            );
        } else if let Some(at) = list.iter().position(|i| i["id"] == id) {
            list.remove(at);
            out.destroyed.push(id.to_string());
        } else {
            out.not_destroyed
                .insert(id.to_string(), set_error("notFound", "no such identity"));
        }
    }
    if out.changed() {
        save(ctx, &list).await?;
    }
    let new_state = state_of(&list);
    Ok(out.response(ctx, json!(old_state), json!(new_state)))
}
