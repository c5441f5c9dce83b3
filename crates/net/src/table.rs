//! Per-client tables with a hard size bound, for the login throttle and the command
//! budgets: when a table is full, the half that was used longest ago is forgotten at once
//! (one sort per half a table of new clients, so the cost per insert stays logarithmic).
//! Hand-written: it is a dozen lines over `HashMap`, and an LRU crate would update an
//! order on every look-up.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// Entries a table keeps at most.
pub const MAX_ENTRIES: usize = 100_000;

/// A value that knows when it was last used.
pub trait Recent {
    fn last_used(&self) -> Instant;
}

pub struct Table<K, V> {
    map: HashMap<K, V>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V: Recent> Table<K, V> {
    pub fn new(cap: usize) -> Self {
        Table {
            map: HashMap::new(),
            cap: cap.max(2),
        }
    }

    /// The entry of `key`, made with `fresh` when missing (after making room).
    pub fn entry(&mut self, key: K, fresh: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.forget_older_half();
        }
        self.map.entry(key).or_insert_with(fresh)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.map.iter_mut()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    fn forget_older_half(&mut self) {
        let mut ages: Vec<Instant> = self.map.values().map(Recent::last_used).collect();
        let middle = ages.len() / 2;
        let (_, cut, _) = ages.select_nth_unstable(middle);
        let cut = *cut;
        self.map.retain(|_, v| v.last_used() > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct At(Instant);
    impl Recent for At {
        fn last_used(&self) -> Instant {
            self.0
        }
    }

    #[test]
    fn a_full_table_forgets_its_older_half() {
        let start = Instant::now();
        let mut t = Table::new(10);
        for i in 0..10u64 {
            t.entry(i, || At(start + Duration::from_secs(i)));
        }
        assert_eq!(t.len(), 10);
        t.entry(99, || At(start + Duration::from_secs(99)));
        assert!(t.len() <= 6, "{}", t.len());
        assert!(t.get_mut(&9).is_some(), "the newest are kept");
        assert!(t.get_mut(&0).is_none(), "the oldest are forgotten");
        assert!(t.get_mut(&99).is_some());
        for i in 100..10_000u64 {
            t.entry(i, || At(start + Duration::from_secs(i)));
            assert!(t.len() <= 10);
        }
    }
}
