//! The selected mailbox as the client knows it (sequence numbers, UIDs, flags, MODSEQs):
//! SELECT/EXAMINE (with QRESYNC), bringing the view up to date between commands and in
//! IDLE from what changed since its MODSEQ, and EXPUNGE.

use std::collections::{HashMap, HashSet};

use super::input::{self, Got};
use super::keywords::Keywords;
use super::recent::{self, Recent};
use super::*;
use crate::sequence::compact;

impl View {
    pub(super) fn entries_mut(&mut self) -> &mut Vec<MailboxEntry> {
        Arc::make_mut(&mut self.entries)
    }
}

impl Session {
    /// Leaves the selected mailbox, keeping what it knew for the next SELECT.
    pub(super) fn unselect(&mut self) {
        if let Some(mut view) = self.view.take() {
            // a snapshot holds every change up to its MODSEQ, untold expunges included
            if !view.pending_expunge.is_empty() {
                let gone: HashSet<u32> = view.pending_expunge.drain(..).collect();
                view.entries_mut().retain(|e| !gone.contains(&e.uid));
            }
            self.shared
                .snapshots
                .put(view.mailbox.id, view.modseq, view.entries);
        }
    }

    pub(super) async fn select(
        &mut self,
        tag: &str,
        name: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<Qresync>,
    ) {
        if qresync.is_some() && !self.qresync {
            self.bad(tag, "ENABLE QRESYNC first");
            return;
        }
        if self.view.is_some() {
            self.unselect();
            if self.qresync || self.rev2 {
                self.line("* OK [CLOSED] previous mailbox closed");
            }
        }
        if condstore {
            self.condstore = true;
        }
        let Some(mailbox) = self
            .find_mailbox(tag, name, "[NONEXISTENT] no such mailbox")
            .await
        else {
            return;
        };
        let changes = match self.shared.store.subscribe().await {
            Ok(c) => c,
            Err(e) => {
                self.unavailable(tag, &e);
                return;
            }
        };
        let entries = match self.current_entries(&mailbox).await {
            Ok(e) => e,
            Err(e) => {
                self.unavailable(tag, &e);
                return;
            }
        };
        let mut keywords = Keywords::of(entries.iter().map(|e| &e.flags));
        // and those told before for the mailbox, carried by no message any more
        self.shared
            .keywords
            .share((mailbox.id, mailbox.uidvalidity), &mut keywords);
        let mut recent = Recent::default();
        match recent::take(&*self.shared.store, &mailbox, read_only).await {
            Ok(taken) => recent.add(taken),
            Err(e) => {
                self.unavailable(tag, &e);
                return;
            }
        }
        let mut view = View {
            modseq: mailbox.highestmodseq,
            mailbox,
            read_only,
            entries,
            pending_expunge: Vec::new(),
            changes,
            keywords,
            recent,
            saved: Vec::new(),
        };
        let unseen = view
            .entries
            .iter()
            .position(|e| !e.flags.contains("\\Seen"));
        for l in view.keywords.lines(read_only) {
            self.line(&l);
        }
        self.line(&format!("* {} EXISTS", view.entries.len()));
        if !self.rev2 {
            self.line(&format!("* {} RECENT", view.recent.count(&view.entries)));
            if let Some(i) = unseen {
                self.line(&format!("* OK [UNSEEN {}] first unseen", i + 1));
            }
        }
        let m = &view.mailbox;
        let lines = [
            format!("* OK [UIDVALIDITY {}] UIDs valid", m.uidvalidity),
            format!("* OK [UIDNEXT {}] predicted next UID", m.uidnext),
            format!("* OK [HIGHESTMODSEQ {}] highest", m.highestmodseq),
            format!("* OK [MAILBOXID ({})] ok", super::folders::mailbox_id(m)),
        ];
        for l in lines {
            self.line(&l);
        }
        if let Some(q) = qresync.filter(|q| q.uidvalidity == view.mailbox.uidvalidity)
            && let Err(e) = self.resync(&mut view, &q).await
        {
            self.unavailable(tag, &e);
            return;
        }
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        self.view = Some(view);
        self.ok(tag, &format!("[{mode}] SELECT completed"));
    }

    /// The mailbox's entries: a kept snapshot brought up to date, or a full listing.
    async fn current_entries(
        &self,
        mailbox: &Mailbox,
    ) -> Result<Arc<Vec<MailboxEntry>>, StoreError> {
        let store = &self.shared.store;
        let entries = match self.shared.snapshots.get(mailbox.id) {
            Some((modseq, entries)) if modseq == mailbox.highestmodseq => entries,
            Some((modseq, mut entries)) if modseq < mailbox.highestmodseq => {
                let gone: HashSet<u32> = store
                    .vanished_since(mailbox.id, modseq)
                    .await?
                    .into_iter()
                    .collect();
                let changed = store.changed_since(mailbox.id, modseq).await?;
                let list = Arc::make_mut(&mut entries);
                list.retain(|e| !gone.contains(&e.uid));
                merge(list, changed);
                entries
            }
            _ => Arc::new(store.list_messages(mailbox.id).await?),
        };
        self.shared
            .snapshots
            .put(mailbox.id, mailbox.highestmodseq, Arc::clone(&entries));
        Ok(entries)
    }

    /// QRESYNC at SELECT (RFC 7162 §3.2.5): what vanished and what changed since the
    /// client's MODSEQ, limited to the UIDs it says it knows.
    async fn resync(&mut self, view: &mut View, q: &Qresync) -> Result<(), StoreError> {
        let largest = view.entries.last().map(|e| e.uid).unwrap_or(0).max(1);
        let known = |uid: u32| {
            q.known_uids
                .as_ref()
                .is_none_or(|k| k.contains(uid, largest))
        };
        let vanished: Vec<u32> = self
            .shared
            .store
            .vanished_since(view.mailbox.id, q.modseq as i64)
            .await?
            .into_iter()
            .filter(|&u| known(u))
            .collect();
        if !vanished.is_empty() {
            self.line(&format!("* VANISHED (EARLIER) {}", compact(&vanished)));
        }
        for (i, e) in view.entries.iter().enumerate() {
            if e.modseq as u64 > q.modseq && known(e.uid) {
                let flags = recent::shown(&e.flags, !self.rev2 && view.recent.contains(e.uid));
                let head = fetch_head(self.uidonly, i + 1, e.uid);
                self.line(&format!(
                    "{head}FLAGS {} MODSEQ ({}))",
                    flag_list(&flags),
                    e.modseq
                ));
            }
        }
        Ok(())
    }

    /// Reports what changed in the selected mailbox since the client last looked:
    /// expunged messages (EXPUNGE, or VANISHED after ENABLE QRESYNC), flag changes (FETCH)
    /// and new messages (EXISTS). During FETCH, STORE and SEARCH by sequence number
    /// expunges may not be told (RFC 9051 §7.5.1): `allow_expunge` false keeps them for
    /// the next command that may. Returns the UIDs of the new messages told (EXISTS).
    pub(super) async fn refresh(&mut self, allow_expunge: bool) -> Vec<u32> {
        // RFC 7162 §3.2.10, RFC 9586 §3.2: VANISHED rather than EXPUNGE
        let (as_vanished, uidonly) = (self.qresync || self.uidonly, self.uidonly);
        let Some(view) = self.view.as_mut() else {
            return Vec::new();
        };
        while view.changes.try_recv().is_ok() {}
        let store = self.shared.store.clone();
        let id = view.mailbox.id;
        let now = match store.mailbox_by_id(id).await {
            Ok(Some(now)) => now,
            Ok(None) => return Vec::new(), // deleted meanwhile: the client learns it at its next SELECT
            Err(e) => {
                tracing::warn!(error = %e, "cannot bring the view up to date; next command tries again");
                return Vec::new();
            }
        };
        let (vanished, changed) = if now.highestmodseq == view.modseq {
            (Vec::new(), Vec::new())
        } else {
            let since = view.modseq;
            match (
                store.vanished_since(id, since).await,
                store.changed_since(id, since).await,
            ) {
                (Ok(vanished), Ok(changed)) => (vanished, changed),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot bring the view up to date; next command tries again");
                    return Vec::new();
                }
            }
        };
        // keywords other sessions told for the mailbox (a `-FLAGS ($new)` changes no message)
        let key = (id, view.mailbox.uidvalidity);
        let mut new_keyword = self.shared.keywords.share(key, &mut view.keywords);
        if vanished.is_empty()
            && changed.is_empty()
            && (view.pending_expunge.is_empty() || !allow_expunge)
        {
            view.modseq = now.highestmodseq;
            if new_keyword {
                let lines = view.keywords.lines(view.read_only);
                for l in lines {
                    self.line(&l);
                }
            }
            return Vec::new();
        }
        let mut out = Vec::new();
        view.pending_expunge.extend(vanished);
        // expunged: from the highest sequence number down, so numbers stay right
        let gone: HashSet<u32> = if allow_expunge {
            std::mem::take(&mut view.pending_expunge)
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let mut removed = Vec::new();
        // the field itself, so that the other fields of the view stay readable
        let entries = Arc::make_mut(&mut view.entries);
        let mut i = entries.len();
        while i > 0 {
            i -= 1;
            if gone.contains(&entries[i].uid) {
                removed.push(entries.remove(i).uid);
                if !as_vanished {
                    out.push(format!("* {} EXPUNGE", i + 1));
                }
            }
        }
        if as_vanished && !removed.is_empty() {
            removed.reverse();
            out.push(format!("* VANISHED {}", compact(&removed)));
        }
        let known: HashMap<u32, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.uid, i))
            .collect();
        let mut added = false;
        let mut new_uids = Vec::new();
        // keywords new to this view, from the changed entries only (not the whole list)
        if view.keywords.learn(changed.iter().map(|e| &e.flags)) {
            self.shared.keywords.share(key, &mut view.keywords);
            new_keyword = true;
        }
        for e in changed {
            match known.get(&e.uid) {
                Some(&i) => {
                    let old = &entries[i];
                    let tell = old.flags != e.flags || (self.condstore && old.modseq != e.modseq);
                    if tell {
                        let modseq = if self.condstore {
                            format!(" MODSEQ ({})", e.modseq)
                        } else {
                            String::new()
                        };
                        let flags =
                            recent::shown(&e.flags, !self.rev2 && view.recent.contains(e.uid));
                        out.push(format!(
                            "{}FLAGS {}{modseq})",
                            fetch_head(uidonly, i + 1, e.uid),
                            flag_list(&flags)
                        ));
                    }
                    entries[i] = e;
                }
                None if entries.last().is_none_or(|l| l.uid < e.uid) => {
                    new_uids.push(e.uid);
                    entries.push(e);
                    added = true;
                }
                None => {} // expunged again after this listing; the next refresh says so
            }
        }
        if added {
            out.push(format!("* {} EXISTS", entries.len()));
            match recent::take(&*store, &now, view.read_only).await {
                Ok(taken) => view.recent.add(taken),
                Err(e) => tracing::warn!(error = %e, "cannot take the recent messages"),
            }
            if !self.rev2 {
                out.push(format!("* {} RECENT", view.recent.count(&view.entries)));
            }
        }
        if new_keyword {
            let lines = view.keywords.lines(view.read_only);
            out.splice(0..0, lines);
        }
        view.modseq = now.highestmodseq;
        view.mailbox.uidnext = now.uidnext;
        for l in out {
            self.line(&l);
        }
        new_uids
    }

    pub(super) async fn idle(&mut self, tag: &str) -> Step {
        self.line("+ idling");
        self.refresh(true).await;
        loop {
            self.io().flush().await?;
            let has_view = self.view.is_some();
            // with NOTIFY set, IDLE tells what NOTIFY asked for, and only that (RFC 5465 §4)
            let change = async {
                if let Some(n) = self.notify.as_mut() {
                    return Some(n.changes.recv().await);
                }
                match self.view.as_mut() {
                    Some(v) if has_view => {
                        // only changes to the selected mailbox wake the client's view
                        let watched = v.mailbox.id;
                        loop {
                            match v.changes.recv().await {
                                Ok(c) if c.mailbox_id != watched => continue,
                                Ok(_)
                                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                    std::future::pending::<()>().await
                                }
                            }
                        }
                    }
                    _ => std::future::pending::<()>().await,
                }
                None
            };
            let io = self.io.as_mut().expect("connection present");
            let idle = self.shared.settings.idle_timeout;
            // waiting for input consumes nothing, so a change that wins the race loses
            // no octet of the client's DONE; the line itself is read under the command
            // deadline, outside the race
            tokio::select! {
                ready = input::wait_for_input(io, idle) => {
                    if !ready? {
                        return Ok(false);
                    }
                    let deadline = self.command_deadline();
                    match self.line_by(MAX_LINE, deadline).await? {
                        Got::Line(l) if l.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                            self.ok(tag, "IDLE terminated");
                            return Ok(true);
                        }
                        Got::Closed => {
                        self.ended = Some("closed");
                        return Ok(false);
                    }
                        Got::Late => {
                            self.too_slow();
                            return Ok(false);
                        }
                        Got::Line(_) | Got::TooLong => {
                            self.bad(tag, "expected DONE");
                            return Ok(true);
                        }
                    }
                }
                woke = change => match woke {
                    Some(c) => self.notified(c).await,
                    None => {
                        self.refresh(true).await;
                    }
                },
            }
        }
    }

    /// Turns CONDSTORE on for the session (a CONDSTORE-enabling command, RFC 7162 §3.1);
    /// the first time, with a mailbox selected, tells its HIGHESTMODSEQ.
    pub(super) fn enable_condstore(&mut self) {
        if !std::mem::replace(&mut self.condstore, true)
            && let Some(m) = self.view.as_ref().map(|v| v.modseq)
        {
            self.line(&format!("* OK [HIGHESTMODSEQ {m}] highest"));
        }
    }

    /// The sequence numbers (1-based) a set names, in order.
    pub(super) fn resolve(&self, uid: bool, set: &SequenceSet) -> Vec<usize> {
        let Some(view) = self.view.as_ref() else {
            return Vec::new();
        };
        let largest_uid = view.entries.last().map(|e| e.uid).unwrap_or(0);
        let n = view.entries.len() as u32;
        view.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                if uid {
                    set.contains(e.uid, largest_uid)
                } else {
                    set.contains(*i as u32 + 1, n)
                }
            })
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// Removes \Deleted messages (all, or those of `set`); `report` sends EXPUNGE lines.
    /// Only messages that still carry \Deleted in the store go, whatever this view saw.
    pub(super) async fn expunge(
        &mut self,
        set: Option<SequenceSet>,
        report: bool,
    ) -> Result<(), StoreError> {
        let Some(view) = self.view.as_ref() else {
            return Ok(());
        };
        let largest = view.entries.last().map(|e| e.uid).unwrap_or(0);
        let uids: Vec<u32> = view
            .entries
            .iter()
            .filter(|e| set.as_ref().is_none_or(|s| s.contains(e.uid, largest)))
            .map(|e| e.uid)
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        let id = view.mailbox.id;
        let gone = self.shared.store.expunge_deleted(id, &uids).await?;
        if report {
            self.refresh(true).await;
        } else if let Some(v) = self.view.as_mut() {
            v.entries_mut().retain(|e| !gone.contains(&e.uid));
        }
        Ok(())
    }
}

/// Applies changed entries to a UID-ordered list: replaced where present, added in order.
fn merge(list: &mut Vec<MailboxEntry>, changed: Vec<MailboxEntry>) {
    for e in changed {
        match list.binary_search_by_key(&e.uid, |x| x.uid) {
            Ok(i) => list[i] = e,
            Err(i) => list.insert(i, e),
        }
    }
}

/// The start of an unsolicited flag update: `* 3 FETCH (UID 7 `, or after ENABLE
/// UIDONLY `* 7 UIDFETCH (` (RFC 9586 §3.3).
fn fetch_head(uidonly: bool, seq: usize, uid: u32) -> String {
    if uidonly {
        format!("* {uid} UIDFETCH (")
    } else {
        format!("* {seq} FETCH (UID {uid} ")
    }
}
