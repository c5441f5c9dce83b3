//! JMAP state strings from the store's own counters, so that a change made over IMAP
//! moves JMAP's state and the reverse: the Email (and Thread) state lists each of the
//! user's mailboxes with its HIGHESTMODSEQ and UIDNEXT (`S<id>.<modseq>.<uidnext>_…`);
//! the Mailbox state adds a digest of the mailboxes' names, roles and subscriptions.
//! A state read back says which changes happened after it: messages with a higher MODSEQ,
//! UIDs expunged after it, UIDs at or over its UIDNEXT new.

use estafeta_store::Mailbox;
use sha2::{Digest, Sha256};

/// One mailbox as a state saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub id: i64,
    pub modseq: i64,
    pub uidnext: u32,
}

/// The user's mailboxes as a state saw them, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub boxes: Vec<Seen>,
    /// The digest of names, roles and subscriptions (Mailbox states only).
    pub digest: Option<String>,
}

impl Snapshot {
    pub fn of(mailboxes: &[Mailbox]) -> Snapshot {
        let mut boxes: Vec<Seen> = mailboxes
            .iter()
            .map(|m| Seen {
                id: m.id,
                modseq: m.highestmodseq,
                uidnext: m.uidnext,
            })
            .collect();
        boxes.sort_by_key(|b| b.id);
        let mut sorted: Vec<&Mailbox> = mailboxes.iter().collect();
        sorted.sort_by_key(|m| m.id);
        let mut h = Sha256::new();
        for m in sorted {
            h.update(m.id.to_be_bytes());
            h.update(m.name.as_bytes());
            h.update([0]);
            h.update(m.special_use.as_deref().unwrap_or("").as_bytes());
            h.update([0, u8::from(m.subscribed)]);
        }
        Snapshot {
            boxes,
            digest: Some(hex::encode(&h.finalize()[..8])),
        }
    }

    pub fn get(&self, id: i64) -> Option<Seen> {
        self.boxes
            .binary_search_by_key(&id, |b| b.id)
            .ok()
            .map(|i| self.boxes[i])
    }

    fn boxes_text(&self) -> String {
        let parts: Vec<String> = self
            .boxes
            .iter()
            .map(|b| format!("{}.{}.{}", b.id, b.modseq, b.uidnext))
            .collect();
        format!("S{}", parts.join("_"))
    }

    /// The Email (and Thread) state.
    pub fn email_state(&self) -> String {
        self.boxes_text()
    }

    /// The Mailbox state.
    pub fn mailbox_state(&self) -> String {
        format!(
            "{}-{}",
            self.boxes_text(),
            self.digest.as_deref().unwrap_or("")
        )
    }

    /// A state this module wrote; `None` for anything else.
    pub fn read(state: &str) -> Option<Snapshot> {
        let rest = state.strip_prefix('S')?;
        let (boxes, digest) = match rest.split_once('-') {
            Some((b, d)) => (b, Some(d.to_string())),
            None => (rest, None),
        };
        let mut out = Vec::new();
        if !boxes.is_empty() {
            for part in boxes.split('_') {
                let mut f = part.split('.');
                let id = f.next()?.parse().ok()?;
                let modseq = f.next()?.parse().ok()?;
                let uidnext = f.next()?.parse().ok()?;
                if f.next().is_some() {
                    return None;
                }
                out.push(Seen {
                    id,
                    modseq,
                    uidnext,
                });
            }
        }
        if !out.windows(2).all(|w| w[0].id < w[1].id) {
            return None;
        }
        Some(Snapshot { boxes: out, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(id: i64, name: &str, modseq: i64, uidnext: u32) -> Mailbox {
        Mailbox {
            id,
            user_id: 1,
            name: name.into(),
            special_use: None,
            uidvalidity: 1,
            uidnext,
            highestmodseq: modseq,
            subscribed: true,
            recent_uid: 0,
        }
    }

    #[test]
    fn states_read_back_and_move_with_every_change() {
        let a = Snapshot::of(&[mailbox(2, "Sent", 5, 3), mailbox(1, "INBOX", 9, 7)]);
        let text = a.email_state();
        assert_eq!(text, "S1.9.7_2.5.3");
        assert_eq!(Snapshot::read(&text).unwrap().boxes, a.boxes);
        assert_eq!(Snapshot::read(&a.mailbox_state()).unwrap(), a);
        let renamed = Snapshot::of(&[mailbox(2, "Sent2", 5, 3), mailbox(1, "INBOX", 9, 7)]);
        assert_eq!(renamed.email_state(), a.email_state());
        assert_ne!(renamed.mailbox_state(), a.mailbox_state());
        let flagged = Snapshot::of(&[mailbox(2, "Sent", 6, 3), mailbox(1, "INBOX", 9, 7)]);
        assert_ne!(flagged.email_state(), a.email_state());
        assert_eq!(Snapshot::read("S").unwrap().boxes, vec![]);
        for bad in [
            "",
            "X1.2.3",
            "S1.2",
            "S1.2.3.4",
            "Sa.b.c",
            "S2.1.1_1.1.1",
            "S1.1.1_1.1.1",
        ] {
            assert_eq!(Snapshot::read(bad), None, "{bad}");
        }
    }
}
