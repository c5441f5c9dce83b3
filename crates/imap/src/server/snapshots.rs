//! The last known contents of recently selected mailboxes, shared by the sessions of this
//! process, so that SELECT reads only what changed since (by MODSEQ) instead of listing
//! every message again. A snapshot is only a starting point: the store stays the truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use estafeta_store::MailboxEntry;

/// How many mailboxes are remembered; beyond, one is forgotten for each new one.
const CAPACITY: usize = 512;

/// A mailbox's entries (in UID order) as they were at `modseq`: every change up to that
/// MODSEQ is in them; later ones may be too.
pub(super) struct Snapshot {
    pub modseq: i64,
    pub entries: Arc<Vec<MailboxEntry>>,
}

#[derive(Default)]
pub(super) struct Snapshots {
    map: Mutex<HashMap<i64, Snapshot>>,
}

impl Snapshots {
    pub fn get(&self, mailbox_id: i64) -> Option<(i64, Arc<Vec<MailboxEntry>>)> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&mailbox_id)
            .map(|s| (s.modseq, Arc::clone(&s.entries)))
    }

    /// Keeps `entries` unless a newer snapshot of the mailbox is already kept.
    pub fn put(&self, mailbox_id: i64, modseq: i64, entries: Arc<Vec<MailboxEntry>>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&mailbox_id).is_some_and(|s| s.modseq >= modseq) {
            return;
        }
        if map.len() >= CAPACITY
            && !map.contains_key(&mailbox_id)
            && let Some(&victim) = map.keys().next()
        {
            map.remove(&victim);
        }
        map.insert(mailbox_id, Snapshot { modseq, entries });
    }
}
