//! The keywords (flags without a backslash) a selected mailbox's client has been told in
//! FLAGS and PERMANENTFLAGS. RFC 9051 §7.3.5 and imaptest expect every flag a FETCH shows
//! to be in the last FLAGS response, so a keyword first seen in a STORE, in another
//! session's change or in an appended message gets new FLAGS and PERMANENTFLAGS lines
//! before the FETCH that shows it. The set only grows while the mailbox stays selected,
//! as in Dovecot: a keyword no message carries any more is still offered.

use std::collections::BTreeMap;

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
}
