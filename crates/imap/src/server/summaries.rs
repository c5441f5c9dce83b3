//! Recently used message summaries (ENVELOPE, BODY, BODYSTRUCTURE) in memory, by body
//! hash, shared by the sessions of this process: a client listing a large mailbox again
//! is answered without a query. Bounded by size; the store's copy stays the reference.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::summary::Summary;

/// Bytes of summaries kept; past this the cache starts again from empty.
const BUDGET: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub(super) struct SummaryCache {
    inner: Mutex<(HashMap<String, Arc<Summary>>, usize)>,
}

impl SummaryCache {
    pub fn get(&self, hash: &str) -> Option<Arc<Summary>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0.get(hash).cloned()
    }

    pub fn put(&self, hash: &str, summary: Arc<Summary>) {
        let size = hash.len()
            + summary.envelope.len()
            + summary.body.len()
            + summary.body_structure.len()
            + 64;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, bytes) = &mut *inner;
        if *bytes + size > BUDGET {
            map.clear();
            *bytes = 0;
        }
        if map.insert(hash.to_string(), summary).is_none() {
            *bytes += size;
        }
    }
}
