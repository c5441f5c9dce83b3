//! `Mailbox/get|changes|query|set` (RFC 8621 §2) over the user's folders: a folder
//! `A/B` is Mailbox `B` whose parent is `A` (when `A` exists; otherwise its name is the
//! whole rest), its role the folder's special use (INBOX is `inbox`). Counts come from
//! one read of the user's messages; thread counts only when asked for.

use std::collections::{HashMap, HashSet};

use estafeta_store::{Mailbox, SEPARATOR, StoreError};
use serde_json::{Map, Value, json};

use super::emails::user_emails;
use super::state::Snapshot;
use super::{
    Ctx, MethodError, MethodResult, SetOutcome, check_set_size, get_ids, get_properties, ids,
    set_error, since_state, threads,
};

/// Longest Mailbox name, in octets.
pub const MAX_NAME: usize = 255;

const PROPERTIES: &[&str] = &[
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
];

const ROLES: &[(&str, &str)] = &[
    ("Drafts", "drafts"),
    ("Sent", "sent"),
    ("Archive", "archive"),
    ("Junk", "junk"),
    ("Trash", "trash"),
    ("All", "all"),
    ("Flagged", "flagged"),
    ("Important", "important"),
];

fn is_inbox(m: &Mailbox) -> bool {
    m.name.eq_ignore_ascii_case("INBOX")
}

fn role(m: &Mailbox) -> Option<&'static str> {
    if is_inbox(m) {
        return Some("inbox");
    }
    let su = m.special_use.as_deref()?;
    ROLES
        .iter()
        .find(|(imap, _)| imap.eq_ignore_ascii_case(su))
        .map(|(_, r)| *r)
}

fn special_use_of(role: &str) -> Option<&'static str> {
    ROLES
        .iter()
        .find(|(_, r)| *r == role)
        .map(|(imap, _)| *imap)
}

/// The user's folder a Mailbox id (or `#creation` reference) names.
fn named(ctx: &Ctx<'_>, boxes: &[Mailbox], id: &str) -> Option<Mailbox> {
    let n = ids::mailbox_of(&ctx.resolve_id(id)?)?;
    boxes.iter().find(|m| m.id == n).cloned()
}

/// The parent of each folder (the longest existing proper prefix) and its JMAP name.
fn tree(boxes: &[Mailbox]) -> HashMap<i64, (Option<i64>, String)> {
    let by_name: HashMap<&str, i64> = boxes.iter().map(|m| (m.name.as_str(), m.id)).collect();
    boxes
        .iter()
        .map(|m| {
            let mut parent = None;
            let mut cut = 0;
            for (i, c) in m.name.char_indices() {
                if c == SEPARATOR
                    && let Some(id) = by_name.get(&m.name[..i])
                {
                    parent = Some(*id);
                    cut = i + 1;
                }
            }
            (m.id, (parent, m.name[cut..].to_string()))
        })
        .collect()
}

/// `Mailbox/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let properties: Vec<String> =
        get_properties(args)?.unwrap_or_else(|| PROPERTIES.iter().map(|s| s.to_string()).collect());
    if let Some(p) = properties
        .iter()
        .find(|p| !PROPERTIES.contains(&p.as_str()))
    {
        return Err(MethodError::invalid(format!("unknown property {p}")));
    }
    let wanted = get_ids(ctx, args)?;
    let boxes = ctx.state.store.list_mailboxes(ctx.user.id).await?;
    let state = Snapshot::of(&boxes).mailbox_state();
    let tree = tree(&boxes);
    let counts_wanted = properties
        .iter()
        .any(|p| p.ends_with("Emails") || p.ends_with("Threads"));
    let threads_wanted = properties.iter().any(|p| p.ends_with("Threads"));
    // mailbox → (emails, unread emails, threads, unread threads)
    let mut counts: HashMap<i64, (usize, usize, usize, usize)> = HashMap::new();
    if counts_wanted {
        let (all, _) = user_emails(ctx).await?;
        let thread_of = if threads_wanted {
            let firsts: Vec<_> = all.values().map(|rows| &rows[0]).collect();
            threads::of_entries(ctx, &firsts).await?
        } else {
            HashMap::new()
        };
        let mut threads: HashMap<i64, (HashSet<&str>, HashSet<&str>)> = HashMap::new();
        for (hash, rows) in &all {
            let unread = !rows[0].flags.contains("\\Seen");
            let mut in_boxes: Vec<i64> = rows.iter().map(|r| r.mailbox_id).collect();
            in_boxes.dedup();
            for b in in_boxes {
                let c = counts.entry(b).or_default();
                c.0 += 1;
                c.1 += usize::from(unread);
                if let Some(t) = thread_of.get(hash) {
                    let e = threads.entry(b).or_default();
                    e.0.insert(t);
                    if unread {
                        e.1.insert(t);
                    }
                }
            }
        }
        for (b, (t, u)) in threads {
            let c = counts.entry(b).or_default();
            c.2 = t.len();
            c.3 = u.len();
        }
    }
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    let chosen: Vec<&Mailbox> = match &wanted {
        None => boxes.iter().collect(),
        Some(w) => {
            let mut out = Vec::new();
            for id in w {
                match ids::mailbox_of(id).and_then(|n| boxes.iter().find(|m| m.id == n)) {
                    Some(m) => out.push(m),
                    None => not_found.push(id.clone()),
                }
            }
            out
        }
    };
    for m in chosen {
        let (parent, name) = tree.get(&m.id).cloned().unwrap_or((None, m.name.clone()));
        let c = counts.get(&m.id).copied().unwrap_or_default();
        let mut o = Map::new();
        for p in &properties {
            let v = match p.as_str() {
                "id" => json!(ids::mailbox(m.id)),
                "name" => json!(if is_inbox(m) {
                    "Inbox".to_string()
                } else {
                    name.clone()
                }),
                "parentId" => parent.map_or(Value::Null, |p| json!(ids::mailbox(p))),
                "role" => role(m).map_or(Value::Null, |r| json!(r)),
                "sortOrder" => json!(match role(m) {
                    Some("inbox") => 1,
                    Some(_) => 2,
                    None => 10,
                }),
                "totalEmails" => json!(c.0),
                "unreadEmails" => json!(c.1),
                "totalThreads" => json!(c.2),
                "unreadThreads" => json!(c.3),
                "myRights" => json!({
                    "mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true,
                    "maySetSeen": true, "maySetKeywords": true, "mayCreateChild": true,
                    "mayRename": !is_inbox(m), "mayDelete": !is_inbox(m), "maySubmit": true,
                }),
                "isSubscribed" => json!(m.subscribed),
                _ => continue,
            };
            o.insert(p.clone(), v);
        }
        if !o.contains_key("id") {
            o.insert("id".into(), json!(ids::mailbox(m.id)));
        }
        list.push(Value::Object(o));
    }
    Ok(json!({"accountId": ctx.account_id(), "state": state, "list": list, "notFound": not_found}))
}

/// `Mailbox/changes`: created and destroyed by the folders each state lists; updated those
/// whose MODSEQ or UIDNEXT moved (counts only: `updatedProperties` says so), or every
/// folder when a name, role or subscription changed.
pub async fn changes(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let since = since_state(args)?;
    let old = Snapshot::read(since)
        .filter(|s| s.digest.is_some())
        .ok_or_else(|| {
            MethodError::new("cannotCalculateChanges", "that state was not made here")
        })?;
    let boxes = ctx.state.store.list_mailboxes(ctx.user.id).await?;
    let now = Snapshot::of(&boxes);
    let renamed = old.digest != now.digest;
    let mut created = Vec::new();
    let mut updated = Vec::new();
    for m in &now.boxes {
        match old.get(m.id) {
            None => created.push(ids::mailbox(m.id)),
            Some(was) if renamed || was != *m => updated.push(ids::mailbox(m.id)),
            Some(_) => {}
        }
    }
    let destroyed: Vec<String> = old
        .boxes
        .iter()
        .filter(|b| now.get(b.id).is_none())
        .map(|b| ids::mailbox(b.id))
        .collect();
    let counts_only = !renamed && !updated.is_empty();
    let max = super::max_changes(args)?;
    if max.is_some_and(|m| created.len() + updated.len() + destroyed.len() > m) {
        return Err(MethodError::new(
            "cannotCalculateChanges",
            "more changes than maxChanges: fetch the Mailboxes again",
        ));
    }
    Ok(json!({
        "accountId": ctx.account_id(),
        "oldState": since,
        "newState": now.mailbox_state(),
        "hasMoreChanges": false,
        "created": created,
        "updated": updated,
        "destroyed": destroyed,
        "updatedProperties": if counts_only {
            json!(["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"])
        } else {
            Value::Null
        },
    }))
}

/// `Mailbox/query`: filters `parentId`, `name` (contains, case-insensitively), `role`,
/// `hasAnyRole`, `isSubscribed`; sorts `name` and `sortOrder`.
pub async fn query(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let boxes = ctx.state.store.list_mailboxes(ctx.user.id).await?;
    let state = Snapshot::of(&boxes).mailbox_state();
    let tree = tree(&boxes);
    let filter = args.get("filter").cloned().unwrap_or(Value::Null);
    if !(filter.is_null() || filter.is_object()) {
        return Err(MethodError::invalid("filter is not an object"));
    }
    let mut chosen: Vec<&Mailbox> = Vec::new();
    for m in &boxes {
        let (parent, name) = tree.get(&m.id).cloned().unwrap_or((None, m.name.clone()));
        let mut ok = true;
        if let Some(f) = filter.as_object() {
            for (k, v) in f {
                ok &= match k.as_str() {
                    "parentId" => match v {
                        Value::Null => parent.is_none(),
                        Value::String(p) => parent.map(ids::mailbox).as_deref() == Some(p.as_str()),
                        _ => false,
                    },
                    "name" => v
                        .as_str()
                        .is_some_and(|n| name.to_lowercase().contains(&n.to_lowercase())),
                    "role" => match v {
                        Value::Null => role(m).is_none(),
                        Value::String(r) => role(m) == Some(r.as_str()),
                        _ => false,
                    },
                    "hasAnyRole" => v.as_bool() == Some(role(m).is_some()),
                    "isSubscribed" => v.as_bool() == Some(m.subscribed),
                    other => {
                        return Err(MethodError::new(
                            "unsupportedFilter",
                            format!("no Mailbox filter {other}"),
                        ));
                    }
                };
            }
        }
        if ok {
            chosen.push(m);
        }
    }
    if let Some(sort) = args.get("sort").and_then(Value::as_array) {
        for s in sort.iter().rev() {
            let asc = s
                .get("isAscending")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            match s.get("property").and_then(Value::as_str) {
                Some("name") => chosen.sort_by_key(|m| m.name.to_lowercase()),
                Some("sortOrder") => chosen.sort_by_key(|m| match role(m) {
                    Some("inbox") => 1,
                    Some(_) => 2,
                    None => 10,
                }),
                other => {
                    return Err(MethodError::new(
                        "unsupportedSort",
                        format!("no Mailbox sort {other:?}"),
                    ));
                }
            }
            if !asc {
                chosen.reverse();
            }
        }
    }
    let all: Vec<String> = chosen.iter().map(|m| ids::mailbox(m.id)).collect();
    let position = args.get("position").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map(|l| l as usize);
    let page: Vec<&String> = all
        .iter()
        .skip(position)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(json!({
        "accountId": ctx.account_id(),
        "queryState": state,
        "canCalculateChanges": false,
        "position": position.min(all.len()),
        "ids": page,
        "total": all.len(),
    }))
}

fn store_set_error(e: StoreError) -> Value {
    match e {
        StoreError::AlreadyExists(m) => set_error(
            "invalidProperties",
            format!("a mailbox of that name exists: {m}"),
        ),
        StoreError::NotFound(m) => set_error("notFound", m),
        StoreError::Invalid(m) => set_error("invalidProperties", m),
        other => set_error("serverFail", other.to_string()),
    }
}

/// The full folder name of a Mailbox called `name` under `parent`.
fn full_name(boxes: &[Mailbox], parent: Option<i64>, name: &str) -> Result<String, Value> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || name.contains(SEPARATOR)
        || name.chars().any(char::is_control)
    {
        return Err(set_error(
            "invalidProperties",
            format!(
                "a name is 1 to {MAX_NAME} octets, without control characters or '{SEPARATOR}'"
            ),
        ));
    }
    match parent {
        None => Ok(name.to_string()),
        Some(p) => match boxes.iter().find(|m| m.id == p) {
            Some(m) => Ok(format!("{}{SEPARATOR}{name}", m.name)),
            None => Err(set_error("invalidProperties", "no such parentId")),
        },
    }
}

/// `Mailbox/set`.
pub async fn set(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    check_set_size(args)?;
    let store = ctx.state.store.clone();
    let user_id = ctx.user.id;
    let old_state = Snapshot::of(&store.list_mailboxes(user_id).await?).mailbox_state();
    super::check_in_state(args, &old_state, "mailboxes")?;
    let mut out = SetOutcome::default();
    if let Some(create) = args.get("create").and_then(Value::as_object) {
        // parents before the children that name them by creation id
        let mut order: Vec<&String> = Vec::with_capacity(create.len());
        let mut pending: Vec<&String> = create.keys().collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|cid| {
                let waits = create[cid.as_str()]
                    .get("parentId")
                    .and_then(Value::as_str)
                    .and_then(|p| p.strip_prefix('#'))
                    .is_some_and(|p| {
                        create.contains_key(p) && !order.iter().any(|o| o.as_str() == p)
                    });
                if !waits {
                    order.push(cid);
                }
                waits
            });
            if pending.len() == before {
                // a cycle: what is left fails on its unknown parent
                order.append(&mut pending);
            }
        }
        for cid in order {
            let obj = &create[cid.as_str()];
            let boxes = store.list_mailboxes(user_id).await?;
            let parent = match obj.get("parentId") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => {
                    match ctx.resolve_id(p).as_deref().and_then(ids::mailbox_of) {
                        Some(id) => Some(id),
                        None => {
                            out.not_created.insert(
                                cid.clone(),
                                set_error("invalidProperties", "no such parentId"),
                            );
                            continue;
                        }
                    }
                }
                Some(_) => {
                    out.not_created
                        .insert(cid.clone(), set_error("invalidProperties", "parentId"));
                    continue;
                }
            };
            let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
            let full = match full_name(&boxes, parent, name) {
                Ok(f) => f,
                Err(e) => {
                    out.not_created.insert(cid.clone(), e);
                    continue;
                }
            };
            let special = match obj.get("role") {
                None | Some(Value::Null) => None,
                Some(Value::String(r)) => match special_use_of(r) {
                    Some(s) => Some(s),
                    None => {
                        out.not_created.insert(
                            cid.clone(),
                            set_error(
                                "invalidProperties",
                                format!("role {r} is not one this server keeps"),
                            ),
                        );
                        continue;
                    }
                },
                Some(_) => None,
            };
            match store.create_mailbox(user_id, &full, special).await {
                Ok(m) => {
                    if obj.get("isSubscribed").and_then(Value::as_bool) == Some(false) {
                        store.set_subscribed(user_id, &full, false).await?;
                    }
                    let id = ids::mailbox(m.id);
                    ctx.created.insert(cid.clone(), id.clone());
                    out.created.insert(cid.clone(), json!({
                        "id": id, "totalEmails": 0, "unreadEmails": 0, "totalThreads": 0,
                        "unreadThreads": 0, "sortOrder": if special.is_some() { 2 } else { 10 },
                        "isSubscribed": obj.get("isSubscribed").and_then(Value::as_bool).unwrap_or(true),
                        "myRights": {"mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true, "maySetKeywords": true, "mayCreateChild": true, "mayRename": true, "mayDelete": true, "maySubmit": true},
                    }));
                }
                Err(e) => {
                    out.not_created.insert(cid.clone(), store_set_error(e));
                }
            }
        }
    }
    if let Some(update) = args.get("update").and_then(Value::as_object) {
        for (id, patch) in update {
            let boxes = store.list_mailboxes(user_id).await?;
            let Some(m) = named(ctx, &boxes, id) else {
                out.not_updated
                    .insert(id.clone(), set_error("notFound", "no such mailbox"));
                continue;
            };
            let tree = tree(&boxes);
            let (mut parent, mut name) = tree.get(&m.id).cloned().unwrap_or((None, m.name.clone()));
            let Some(patch) = patch.as_object() else {
                out.not_updated
                    .insert(id.clone(), set_error("invalidPatch", "not an object"));
                continue;
            };
            let mut error = None;
            let mut subscribe = None;
            for (k, v) in patch {
                match (k.as_str(), v) {
                    ("name", Value::String(n)) => name = n.clone(),
                    ("parentId", Value::Null) => parent = None,
                    ("parentId", Value::String(p)) => {
                        match ctx.resolve_id(p).as_deref().and_then(ids::mailbox_of) {
                            Some(p) => parent = Some(p),
                            None => {
                                error = Some(set_error("invalidProperties", "no such parentId"))
                            }
                        }
                    }
                    ("isSubscribed", Value::Bool(b)) => subscribe = Some(*b),
                    ("sortOrder", _) => {}
                    ("role", r) if *r == role(&m).map_or(Value::Null, |r| json!(r)) => {}
                    (other, _) => {
                        error = Some(set_error(
                            "invalidProperties",
                            format!("{other} cannot be set so"),
                        ))
                    }
                }
            }
            if let Some(e) = error {
                out.not_updated.insert(id.clone(), e);
                continue;
            }
            let display = if is_inbox(&m) {
                "Inbox".to_string()
            } else {
                tree.get(&m.id).map(|t| t.1.clone()).unwrap_or_default()
            };
            let same_name =
                (name == display || name == m.name) && parent == tree.get(&m.id).and_then(|t| t.0);
            if !same_name {
                if is_inbox(&m) {
                    out.not_updated.insert(
                        id.clone(),
                        set_error("forbidden", "the inbox keeps its name"),
                    );
                    continue;
                }
                let full = match full_name(&boxes, parent, &name) {
                    Ok(f) => f,
                    Err(e) => {
                        out.not_updated.insert(id.clone(), e);
                        continue;
                    }
                };
                if let Err(e) = store.rename_mailbox(user_id, &m.name, &full).await {
                    out.not_updated.insert(id.clone(), store_set_error(e));
                    continue;
                }
                if let Some(s) = subscribe {
                    store.set_subscribed(user_id, &full, s).await?;
                }
            } else if let Some(s) = subscribe {
                store.set_subscribed(user_id, &m.name, s).await?;
            }
            out.updated.insert(id.clone(), Value::Null);
        }
    }
    if let Some(destroy) = args.get("destroy").and_then(Value::as_array) {
        let remove_emails = args
            .get("onDestroyRemoveEmails")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        for id in destroy.iter().filter_map(Value::as_str) {
            let boxes = store.list_mailboxes(user_id).await?;
            let Some(m) = named(ctx, &boxes, id) else {
                out.not_destroyed
                    .insert(id.to_string(), set_error("notFound", "no such mailbox"));
                continue;
            };
            if is_inbox(&m) {
                out.not_destroyed.insert(
                    id.to_string(),
                    set_error("forbidden", "the inbox cannot be destroyed"),
                );
                continue;
            }
            let child = format!("{}{SEPARATOR}", m.name);
            if boxes.iter().any(|b| b.name.starts_with(&child)) {
                out.not_destroyed.insert(
                    id.to_string(),
                    set_error("mailboxHasChild", "destroy its children first"),
                );
                continue;
            }
            if !remove_emails && !store.list_messages(m.id).await?.is_empty() {
                out.not_destroyed.insert(
                    id.to_string(),
                    set_error(
                        "mailboxHasEmail",
                        "it holds messages: set onDestroyRemoveEmails",
                    ),
                );
                continue;
            }
            match store.delete_mailbox(user_id, &m.name).await {
                Ok(()) => out.destroyed.push(id.to_string()),
                Err(e) => {
                    out.not_destroyed.insert(id.to_string(), store_set_error(e));
                }
            }
        }
    }
    let new_state = Snapshot::of(&store.list_mailboxes(user_id).await?).mailbox_state();
    Ok(out.response(ctx, json!(old_state), json!(new_state)))
}
