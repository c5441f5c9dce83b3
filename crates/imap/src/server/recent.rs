//! Which messages are recent to this session: `\Recent` of IMAP4rev1 (RFC 3501 §2.3.2),
//! which IMAP4rev2 dropped. A message is recent to the first session that selects its
//! mailbox (or sees it arrive there) with SELECT; the store hands out each UID once
//! (`claim_recent`). EXAMINE takes nothing: it shows as recent what nobody took yet.
//! Shown in FETCH FLAGS, counted in `* N RECENT` and STATUS, matched by SEARCH RECENT,
//! NEW and OLD; never stored, and STORE and APPEND ignore it.

use estafeta_store::{Flags, Mailbox, MailboxEntry, Store, StoreError};

/// The UID ranges `from+1..=to` taken by this session.
#[derive(Default, Clone)]
pub(super) struct Recent(Vec<(u32, u32)>);

impl Recent {
    pub fn add(&mut self, (from, to): (u32, u32)) {
        if to <= from {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.1 >= from => last.1 = last.1.max(to),
            _ => self.0.push((from, to)),
        }
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.0.iter().any(|&(from, to)| uid > from && uid <= to)
    }

    /// How many of `entries` are recent.
    pub fn count(&self, entries: &[MailboxEntry]) -> usize {
        entries.iter().filter(|e| self.contains(e.uid)).count()
    }
}

/// `flags` with `\Recent` when `recent`.
pub(super) fn shown(flags: &Flags, recent: bool) -> Flags {
    if recent {
        flags.with(["\\Recent"])
    } else {
        flags.clone()
    }
}

/// `flags` without `\Recent`, which no client may set.
pub(super) fn settable<'a>(flags: impl IntoIterator<Item = &'a String>) -> Flags {
    Flags::new(
        flags
            .into_iter()
            .map(String::as_str)
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent")),
    )
}

/// The recent messages of `mailbox` for a session: taken from the store with SELECT,
/// only looked at with EXAMINE. No write when there is nothing new.
pub(super) async fn take(
    store: &dyn Store,
    mailbox: &Mailbox,
    read_only: bool,
) -> Result<(u32, u32), StoreError> {
    let last = mailbox.uidnext.saturating_sub(1);
    if read_only || mailbox.recent_uid >= last {
        return Ok((mailbox.recent_uid, last.max(mailbox.recent_uid)));
    }
    store.claim_recent(mailbox.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_join_and_hold_their_uids() {
        let mut r = Recent::default();
        r.add((3, 5));
        r.add((5, 9));
        r.add((12, 12));
        r.add((20, 22));
        assert_eq!(r.0, vec![(3, 9), (20, 22)]);
        assert!(!r.contains(3) && r.contains(4) && r.contains(9) && !r.contains(10));
        assert!(r.contains(21) && !r.contains(23));
    }
}
