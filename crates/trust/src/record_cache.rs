//! A cache of parsed TXT records (SPF, DKIM keys, DMARC) for mail-auth, beside the
//! resolver's cache of answers: a key or policy seen for one message is not looked up in
//! the resolver and parsed again for the next, until its TTL runs out. At most
//! [`MAX_RECORDS`] records; when full, the expired go, then everything (a rare reset is
//! cheaper than an eviction order kept on every lookup).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use mail_auth::{ResolverCache, Txt};

/// Records kept at most.
pub const MAX_RECORDS: usize = 10_000;

#[derive(Default)]
pub struct TxtCache(Mutex<HashMap<Box<str>, (Txt, Instant)>>);

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(txt, _)| txt.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(name).map(|(txt, _)| txt)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_RECORDS && !map.contains_key(&key) {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_RECORDS {
                map.clear();
            }
        }
        map.insert(key, (value, valid_until));
    }
}
