//! SEARCHRES (RFC 5182): the result a `SEARCH RETURN (SAVE)` keeps for the selected
//! mailbox, and `$` in later commands replaced by it. The result is kept as UIDs, so
//! messages expunged since drop out of it by themselves; SELECT, EXAMINE, UNSELECT and
//! CLOSE forget it with the view. It holds at most one UID per message of the mailbox.

use super::*;

impl Session {
    /// Keeps what a SEARCH with `RETURN (SAVE …)` found (`hits` as UIDs, ascending by
    /// sequence number): with MIN and/or MAX alone, only those (RFC 5182 §2.4).
    pub(super) fn save_result(&mut self, options: &[String], hits: &[u32]) {
        let has = |o: &str| options.iter().any(|x| x == o);
        let whole = has("ALL") || has("COUNT") || !(has("MIN") || has("MAX"));
        let mut saved: Vec<u32> = if whole {
            hits.to_vec()
        } else {
            let mut picked = Vec::new();
            if has("MIN") {
                picked.extend(hits.first());
            }
            if has("MAX") {
                picked.extend(hits.last());
            }
            picked
        };
        saved.sort_unstable();
        saved.dedup();
        if let Some(view) = self.view.as_mut() {
            view.saved = saved;
        }
    }

    /// A SEARCH with SAVE that failed leaves `$` empty (RFC 5182 §2.1).
    pub(super) fn forget_result(&mut self) {
        if let Some(view) = self.view.as_mut() {
            view.saved.clear();
        }
    }

    /// `$` as the set a command names: the saved UIDs, or their current sequence numbers.
    fn saved_set(&self, uid: bool) -> SequenceSet {
        let Some(view) = self.view.as_ref() else {
            return SequenceSet::of(&[]);
        };
        if uid {
            return SequenceSet::of(&view.saved);
        }
        let seqs: Vec<u32> = view
            .saved
            .iter()
            .filter_map(|u| view.entries.binary_search_by_key(u, |e| e.uid).ok())
            .map(|i| i as u32 + 1)
            .collect();
        SequenceSet::of(&seqs)
    }

    /// Replaces every `$` in the command by the saved result.
    pub(super) fn fill_saved(&self, body: &mut CommandBody) {
        use CommandBody as C;
        let fill = |set: &mut SequenceSet, uid: bool| {
            if set.is_saved() {
                *set = self.saved_set(uid);
            }
        };
        match body {
            C::Fetch { uid, set, .. }
            | C::Store { uid, set, .. }
            | C::Copy { uid, set, .. }
            | C::Move { uid, set, .. } => fill(set, *uid),
            C::UidExpunge(set) => fill(set, true),
            C::Search { key, .. } | C::Sort { key, .. } | C::Thread { key, .. } => {
                // without recursion: the parser bounds the depth, this does not rely on it
                let mut stack = vec![key];
                while let Some(k) = stack.pop() {
                    match k {
                        SearchKey::SequenceSet(set) => fill(set, false),
                        SearchKey::Uid(set) => fill(set, true),
                        SearchKey::And(keys) => stack.extend(keys.iter_mut()),
                        SearchKey::Or(a, b) => {
                            stack.push(a);
                            stack.push(b);
                        }
                        SearchKey::Not(k) => stack.push(k),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a command that could not be parsed was a SEARCH with SAVE: its first line
/// names both (case aside).
pub(super) fn saves(command: &[u8]) -> bool {
    let line = command.split(|&b| b == b'\n').next().unwrap_or_default();
    let upper = line.to_ascii_uppercase();
    let has = |word: &[u8]| upper.windows(word.len()).any(|w| w == word);
    has(b" SEARCH ") && has(b"SAVE")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_search_with_save_is_known() {
        assert!(super::saves(b"a uid search return (save) frob\r\n"));
        assert!(!super::saves(b"a FETCH 1 (UID)\r\n"));
        assert!(!super::saves(b"a SEARCH FROM x\r\n"));
    }
}
