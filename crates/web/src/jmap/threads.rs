//! Threads (RFC 8621 §3): messages whose thread starts at the same Message-ID (the first
//! of their References, else what they reply to, else their own) are one Thread, whose id
//! carries that Message-ID (`ids::thread`), so nothing is stored for it. A body's Thread
//! is read from the start of one copy (at most [`HEADER_READ`] octets) and remembered in
//! [`ThreadKeys`], at most [`MAX_KEYS`] bodies per process (forgotten all at once past
//! that). Thread/get groups the user's Emails by it; Thread/changes names the Threads
//! of the Emails that changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use estafeta_store::MailboxEntry;
use serde_json::{Value, json};

use super::{Ctx, MethodError, MethodResult, emails, get_ids, ids, message};

/// Octets read from the start of a message to find its thread.
pub const HEADER_READ: u64 = 32 * 1024;
/// Bodies whose Thread a process remembers.
pub const MAX_KEYS: usize = 500_000;

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

/// `Thread/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let wanted = get_ids(ctx, args)?.ok_or_else(|| MethodError::invalid("Thread/get needs ids"))?;
    let (all, state) = emails::user_emails(ctx).await?;
    let firsts: Vec<&MailboxEntry> = all.values().map(|rows| &rows[0]).collect();
    let threads = of_entries(ctx, &firsts).await?;
    // each thread's Emails, oldest first (by receivedAt, then id)
    let mut members: HashMap<&str, BTreeMap<(i64, String), ()>> = HashMap::new();
    for (hash, t) in &threads {
        if let Some(rows) = all.get(hash) {
            members
                .entry(t.as_str())
                .or_default()
                .insert((rows[0].internal_date, ids::email(hash)), ());
        }
    }
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in wanted {
        match members.get(id.as_str()) {
            Some(m) => list.push(
                json!({"id": id, "emailIds": m.keys().map(|(_, e)| e.clone()).collect::<Vec<_>>()}),
            ),
            None => not_found.push(id),
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
    let hashes: Vec<String> = diff
        .created
        .iter()
        .chain(diff.updated.iter())
        .cloned()
        .collect();
    let rows = ctx
        .state
        .store
        .messages_by_hash(ctx.user.id, &hashes)
        .await?;
    let firsts: Vec<&MailboxEntry> = rows.iter().collect();
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
