//! The keywords (flags without a backslash) a selected mailbox's client has been told in
//! FLAGS and PERMANENTFLAGS. RFC 9051 §7.3.5 and imaptest expect every flag a FETCH shows
//! to be in the last FLAGS response, so a keyword first seen in a STORE, in another
//! session's change or in an appended message gets new FLAGS and PERMANENTFLAGS lines
//! before the FETCH that shows it. The set only grows while the mailbox stays selected,
//! as in Dovecot: a keyword no message carries any more is still offered.
//!
//! The sessions of this process also share what they told ([`KeywordMemory`]): a keyword
//! once told for a mailbox is offered at the next SELECT of it, and to the sessions that
//! have it selected at their next refresh, even when no message carries it any more (as
//! Dovecot keeps a mailbox's keywords in its index). Otherwise a session selecting after
//! the last message lost a keyword is not offered it, while an older session still is.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use estafeta_store::Flags;

const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// Keywords told so far, by lower-cased name (keywords compare case-insensitively).
#[derive(Default)]
pub(super) struct Keywords(BTreeMap<String, String>);

impl Keywords {
    /// The keywords of `flags` (each a message's flags).
    pub fn of<'a>(flags: impl IntoIterator<Item = &'a Flags>) -> Keywords {
        let mut k = Keywords::default();
        k.learn(flags);
        k
    }

    /// Adds the keywords of `flags`; true when one was new.
    pub fn learn<'a>(&mut self, flags: impl IntoIterator<Item = &'a Flags>) -> bool {
        let mut new = false;
        for f in flags.into_iter().flat_map(Flags::iter) {
            if !f.starts_with('\\') && !self.0.contains_key(&f.to_ascii_lowercase()) {
                self.0.insert(f.to_ascii_lowercase(), f.to_string());
                new = true;
            }
        }
        new
    }

    /// Adds the keywords of `other`; true when one was new.
    fn absorb(&mut self, other: &Keywords) -> bool {
        let mut new = false;
        for (lower, k) in &other.0 {
            if !self.0.contains_key(lower) {
                self.0.insert(lower.clone(), k.clone());
                new = true;
            }
        }
        new
    }

    /// The FLAGS and PERMANENTFLAGS lines (no keyword may be created read-only).
    pub fn lines(&self, read_only: bool) -> [String; 2] {
        let mut list = SYSTEM_FLAGS.to_string();
        for k in self.0.values() {
            list.push(' ');
            list.push_str(k);
        }
        let permanent = if read_only {
            "* OK [PERMANENTFLAGS ()] read-only mailbox".to_string()
        } else {
            format!("* OK [PERMANENTFLAGS ({list} \\*)] flags permitted")
        };
        [format!("* FLAGS ({list})"), permanent]
    }
}

/// How many mailboxes [`KeywordMemory`] remembers; beyond, one is forgotten for each new one.
const MAILBOXES: usize = 512;
/// Keywords remembered per mailbox; those beyond are offered only where messages carry them.
const PER_MAILBOX: usize = 256;

/// The keywords told for each mailbox (by id and UIDVALIDITY) by the sessions of this process.
#[derive(Default)]
pub(super) struct KeywordMemory {
    map: Mutex<HashMap<(i64, u32), Keywords>>,
}

impl KeywordMemory {
    /// Remembers the keywords of `view` for the mailbox and adds to `view` those told
    /// before by other sessions; true when `view` gained one (new FLAGS to tell).
    pub fn share(&self, mailbox: (i64, u32), view: &mut Keywords) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAILBOXES
            && !map.contains_key(&mailbox)
            && let Some(&victim) = map.keys().next()
        {
            map.remove(&victim);
        }
        let known = map.entry(mailbox).or_default();
        for (lower, k) in &view.0 {
            if known.0.len() >= PER_MAILBOX {
                break;
            }
            if !known.0.contains_key(lower) {
                known.0.insert(lower.clone(), k.clone());
            }
        }
        view.absorb(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keywords_only_once_whatever_the_case() {
        let mut k = Keywords::of([&Flags::parse("\\Seen $Junk")]);
        assert!(!k.learn([&Flags::parse("$junk \\Flagged")]));
        assert!(k.learn([&Flags::parse("work")]));
        let [flags, permanent] = k.lines(false);
        assert_eq!(
            flags,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk work)"
        );
        assert!(permanent.contains("$Junk work \\*)]"));
        assert!(k.lines(true)[1].contains("[PERMANENTFLAGS ()]"));
    }

    #[test]
    fn keywords_told_once_are_shared_by_later_views() {
        let memory = KeywordMemory::default();
        let mut first = Keywords::of([&Flags::parse("$Work \\Seen")]);
        assert!(!memory.share((1, 7), &mut first));
        // a later view of the same mailbox, whose messages no longer carry $Work
        let mut later = Keywords::of([&Flags::parse("Later")]);
        assert!(memory.share((1, 7), &mut later));
        assert!(later.lines(false)[0].ends_with("\\Draft $Work Later)"));
        // and the first view learns Later at its next share
        assert!(memory.share((1, 7), &mut first));
        assert!(!memory.share((1, 7), &mut first));
        // another mailbox, or the same id with another UIDVALIDITY, shares nothing
        let mut other = Keywords::default();
        assert!(!memory.share((1, 8), &mut other));
        assert!(!memory.share((2, 7), &mut other));
    }
}
