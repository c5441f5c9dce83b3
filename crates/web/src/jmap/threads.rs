//! Threads (RFC 8621 §3): messages whose thread starts at the same Message-ID (the first
//! of their References, else what they reply to, else their own) are one Thread, whose id
//! carries that Message-ID (`ids::thread`), so nothing is stored for it. A body's Thread
//! is read from the start of one copy (at most [`HEADER_READ`] octets) and remembered in
//! [`ThreadKeys`], at most [`MAX_KEYS`] bodies per process (forgotten all at once past
//! that). Thread/get groups the user's Emails by it; Thread/changes names the Threads
//! of the Emails that changed; Thread/get finds a thread's Emails through the search
//! index (its root Message-ID is in each of its messages' header).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use estafeta_store::{MailboxEntry, SearchScope};
use serde_json::{Value, json};

use super::{Ctx, MethodError, MethodResult, emails, get_ids, ids, message};

/// Octets read from the start of a message to find its thread.
pub const HEADER_READ: u64 = 32 * 1024;
/// Bodies whose Thread a process remembers.
pub const MAX_KEYS: usize = 200_000;

/// Body hash → Thread id, for every user (the same body has the same Thread).
#[derive(Default)]
pub struct ThreadKeys(Mutex<HashMap<String, String>>);

impl ThreadKeys {
    fn get(&self, hash: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }

    pub fn remember(&self, hash: &str, thread: &str) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_KEYS {
            m.clear();
        }
        m.insert(hash.to_string(), thread.to_string());
    }
}

/// The Thread of a message already read.
pub fn of_message(ctx: &Ctx<'_>, hash: &str, raw: &[u8]) -> String {
    if let Some(t) = ctx.state.threads.get(hash) {
        return t;
    }
    let msg = estafeta_mime::parse(raw);
    let t = ids::thread(message::thread_root(&msg).as_deref(), hash);
    ctx.state.threads.remember(hash, &t);
    t
}

/// The Thread of each body of `entries` (one copy read for those not remembered).
pub async fn of_entries(
    ctx: &Ctx<'_>,
    entries: &[&MailboxEntry],
) -> Result<HashMap<String, String>, MethodError> {
    let mut out = HashMap::with_capacity(entries.len());
    for e in entries {
        if out.contains_key(&e.blob_hash) {
            continue;
        }
        let t = match ctx.state.threads.get(&e.blob_hash) {
            Some(t) => t,
            None => {
                let head = ctx
                    .state
                    .store
                    .read_message_range(e.mailbox_id, e.uid, 0, HEADER_READ)
                    .await?
                    .unwrap_or_default();
                // the header section only: a cut body part must not look like one
                let end = head
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(head.len(), |p| p + 4);
                of_message(ctx, &e.blob_hash, &head[..end])
            }
        };
        out.insert(e.blob_hash.clone(), t);
    }
    Ok(out)
}

/// `Thread/get`. A thread's Emails are looked for where the search index says its root
/// Message-ID may be (in every folder; a superset, each confirmed by its own Thread),
/// or among all the user's Emails when the index cannot narrow it.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let wanted = get_ids(ctx, args)?.ok_or_else(|| MethodError::invalid("Thread/get needs ids"))?;
    let (all, state) = emails::user_emails(ctx).await?;
    let store = &ctx.state.store;
    let boxes = store.list_mailboxes(ctx.user.id).await?;
    let by_copy: HashMap<(i64, u32), &str> = all
        .iter()
        .flat_map(|(h, rows)| {
            rows.iter()
                .map(move |r| ((r.mailbox_id, r.uid), h.as_str()))
        })
        .collect();
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in wanted {
        let candidates: Vec<&str> = match ids::thread_of(&id) {
            None => Vec::new(),
            Some(ids::ThreadOf::Lone(h)) => all
                .get_key_value(&h)
                .map(|(k, _)| k.as_str())
                .into_iter()
                .collect(),
            Some(ids::ThreadOf::Root(root)) => {
                let mut found: Option<Vec<&str>> = Some(Vec::new());
                for b in &boxes {
                    match store
                        .search_candidates(b.id, &root, SearchScope::Text)
                        .await?
                    {
                        Some(uids) => {
                            if let Some(f) = found.as_mut() {
                                f.extend(
                                    uids.iter()
                                        .filter_map(|u| by_copy.get(&(b.id, *u)).copied()),
                                );
                            }
                        }
                        None => {
                            found = None;
                            break;
                        }
                    }
                }
                found.unwrap_or_else(|| all.keys().map(String::as_str).collect())
            }
        };
        let firsts: Vec<&MailboxEntry> = candidates
            .iter()
            .filter_map(|h| all.get(*h).map(|rows| &rows[0]))
            .collect();
        let keys = of_entries(ctx, &firsts).await?;
        // oldest first (by receivedAt, then id)
        let mut members: BTreeMap<(i64, String), ()> = BTreeMap::new();
        for e in firsts {
            if keys.get(&e.blob_hash) == Some(&id) {
                members.insert((e.internal_date, ids::email(&e.blob_hash)), ());
            }
        }
        if members.is_empty() {
            not_found.push(id);
        } else {
            list.push(json!({"id": id, "emailIds": members.keys().map(|(_, e)| e.clone()).collect::<Vec<_>>()}));
        }
    }
    Ok(json!({"accountId": ctx.account_id(), "state": state, "list": list, "notFound": not_found}))
}

/// `Thread/changes`: the Threads of the Emails created or changed are updated; a Thread
/// whose last Email went cannot be told (its messages are gone), so Emails destroyed make
/// the answer `cannotCalculateChanges`.
pub async fn changes(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let diff = emails::email_changes(ctx, args).await?;
    if !diff.destroyed.is_empty() {
        return Err(MethodError::new(
            "cannotCalculateChanges",
            "Emails were destroyed since that state: fetch the threads again",
        ));
    }
    let changed: Vec<String> = diff
        .created
        .iter()
        .chain(diff.updated.iter())
        .cloned()
        .collect();
    let copies = emails::copies(ctx, &changed).await?;
    let firsts: Vec<&MailboxEntry> = copies.values().map(|c| &c[0]).collect();
    let threads = of_entries(ctx, &firsts).await?;
    let mut updated: Vec<&String> = threads.values().collect();
    updated.sort();
    updated.dedup();
    Ok(json!({
        "accountId": ctx.account_id(),
        "oldState": diff.old_state,
        "newState": diff.new_state,
        "hasMoreChanges": false,
        "created": [],
        "updated": updated,
        "destroyed": [],
    }))
}
