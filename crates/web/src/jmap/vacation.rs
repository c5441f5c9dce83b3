//! `VacationResponse/get|set` (RFC 8621 §8): the one `singleton` object, kept as the
//! user's Sieve vacation script the account page also writes (`crate::vacation`), so a
//! reply set here is the one delivery runs and ManageSieve shows. Sieve's vacation has no
//! dates and sends text: `fromDate`, `toDate` and `htmlBody` are null, and setting them
//! is refused.

use serde_json::{Value, json};

use super::{Ctx, MethodResult, SetOutcome, set_error};

fn object(v: &crate::vacation::Vacation) -> Value {
    json!({
        "id": "singleton",
        "isEnabled": v.on,
        "fromDate": null,
        "toDate": null,
        "subject": if v.subject.is_empty() { Value::Null } else { json!(v.subject) },
        "textBody": if v.text.is_empty() { Value::Null } else { json!(v.text) },
        "htmlBody": null,
    })
}

fn state_of(v: &crate::vacation::Vacation) -> String {
    format!("{}-{}-{}", u8::from(v.on), v.subject.len(), v.text.len())
}

/// `VacationResponse/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let v = crate::vacation::current(&*ctx.state.store, ctx.user).await;
    let wanted = super::get_ids(ctx, args)?;
    let (list, not_found): (Vec<Value>, Vec<String>) = match wanted {
        None => (vec![object(&v)], vec![]),
        Some(w) => (
            if w.iter().any(|i| i == "singleton") {
                vec![object(&v)]
            } else {
                vec![]
            },
            w.into_iter().filter(|i| i != "singleton").collect(),
        ),
    };
    Ok(
        json!({"accountId": ctx.account_id(), "state": state_of(&v), "list": list, "notFound": not_found}),
    )
}

/// `VacationResponse/set`: updates of `singleton` only.
pub async fn set(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let store = ctx.state.store.clone();
    let old = crate::vacation::current(&*store, ctx.user).await;
    let old_state = state_of(&old);
    let mut out = SetOutcome::default();
    out.refuse_all(
        args,
        "create",
        &set_error("singleton", "there is one VacationResponse: update it"),
    );
    out.refuse_all(
        args,
        "destroy",
        &set_error("singleton", "the VacationResponse cannot be destroyed"),
    );
    for (id, patch) in args
        .get("update")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if id != "singleton" {
            out.not_updated.insert(
                id.clone(),
                set_error("notFound", "the VacationResponse is singleton"),
            );
            continue;
        }
        let Some(patch) = patch.as_object() else {
            out.not_updated
                .insert(id.clone(), set_error("invalidPatch", "not an object"));
            continue;
        };
        let (mut on, mut subject, mut text) = (old.on, old.subject.clone(), old.text.clone());
        let mut error = None;
        for (k, v) in patch {
            match (k.as_str(), v) {
                ("isEnabled", Value::Bool(b)) => on = *b,
                ("subject", Value::String(s)) => subject = s.clone(),
                ("subject", Value::Null) => subject.clear(),
                ("textBody", Value::String(s)) => text = s.clone(),
                ("textBody", Value::Null) => text.clear(),
                ("fromDate" | "toDate" | "htmlBody", Value::Null) => {}
                (other, _) => {
                    error = Some(set_error(
                        "invalidProperties",
                        format!(
                            "{other} cannot be set so (Sieve's vacation has no dates and sends text)"
                        ),
                    ))
                }
            }
        }
        if let Some(e) = error {
            out.not_updated.insert(id.clone(), e);
            continue;
        }
        if subject.len() > crate::vacation::MAX_SUBJECT || text.len() > crate::vacation::MAX_TEXT {
            out.not_updated.insert(
                id.clone(),
                set_error(
                    "invalidProperties",
                    format!(
                        "subject at most {} and text at most {} octets",
                        crate::vacation::MAX_SUBJECT,
                        crate::vacation::MAX_TEXT
                    ),
                ),
            );
            continue;
        }
        let days = if old.days == 0 { 7 } else { old.days };
        match crate::vacation::apply(
            &*store,
            &ctx.state.config.sieve,
            ctx.user,
            on,
            days,
            &subject,
            &text,
        )
        .await
        {
            Ok(_) => {
                out.updated.insert(id.clone(), Value::Null);
            }
            Err(e) => {
                out.not_updated
                    .insert(id.clone(), set_error("serverFail", e.to_string()));
            }
        }
    }
    let new = crate::vacation::current(&*store, ctx.user).await;
    Ok(out.response(ctx, json!(old_state), json!(state_of(&new))))
}
