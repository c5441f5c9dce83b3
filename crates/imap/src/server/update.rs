//! Changing messages of the selected mailbox: STORE (with UNCHANGEDSINCE), COPY and MOVE.

use std::collections::{HashMap, HashSet};

use super::recent;
use super::*;

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store_flags(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        action: StoreAction,
        silent: bool,
        flags: &[String],
    ) {
        if self.view.as_ref().is_some_and(|v| v.read_only) {
            self.no(tag, "[READ-ONLY] mailbox selected with EXAMINE");
            return;
        }
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let seqs = self.resolve(uid, set);
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let uids: Vec<u32> = seqs
            .iter()
            .filter_map(|s| view.entries.get(s - 1).map(|e| e.uid))
            .collect();
        let change = match action {
            StoreAction::Replace => FlagChange::Replace,
            StoreAction::Add => FlagChange::Add,
            StoreAction::Remove => FlagChange::Remove,
        };
        let mailbox_id = view.mailbox.id;
        let asked = recent::settable(flags);
        let result = self
            .shared
            .store
            .store_flags(
                mailbox_id,
                &uids,
                change,
                &asked,
                unchanged_since.map(|m| m as i64),
            )
            .await;
        let update = match result {
            Ok(u) => u,
            Err(e) => {
                self.no(tag, &format!("[SERVERBUG] {e}"));
                return;
            }
        };
        let mut lines = Vec::new();
        if let Some(view) = self.view.as_mut() {
            // the keywords named are created even where nothing changed (`-FLAGS ($new)`,
            // or messages expunged meanwhile), as in Dovecot and imaptest's checks
            let named = Flags::new(flags.iter().map(String::as_str));
            let changed_flags = update.changed.iter().map(|(_, f)| f);
            let unchanged_flags = update.unchanged.iter().map(|(_, f, _)| f);
            let seen = std::iter::once(&named)
                .chain(changed_flags)
                .chain(unchanged_flags);
            let key = (view.mailbox.id, view.mailbox.uidvalidity);
            let learnt = view.keywords.learn(seen);
            if learnt | self.shared.keywords.share(key, &mut view.keywords) {
                lines.extend(view.keywords.lines(view.read_only));
            }
            let changed: HashMap<u32, &Flags> =
                update.changed.iter().map(|(u, f)| (*u, f)).collect();
            let refused: HashSet<u32> = update.modified.iter().copied().collect();
            let unchanged: HashMap<u32, (&Flags, i64)> = update
                .unchanged
                .iter()
                .map(|(u, f, m)| (*u, (f, *m)))
                .collect();
            for u in &uids {
                let Ok(i) = view.entries.binary_search_by_key(u, |e| e.uid) else {
                    continue;
                };
                let new_flags = changed.get(u);
                // a message another session expunged meanwhile (its EXPUNGE still to
                // come): the flags as this STORE would have left them, kept in the view
                // too, so that a FETCH before the EXPUNGE is told shows the same
                let gone =
                    new_flags.is_none() && !unchanged.contains_key(u) && !refused.contains(u);
                if let Some(flags) = new_flags {
                    let entry = &mut view.entries_mut()[i];
                    entry.flags = (*flags).clone();
                    entry.modseq = update.modseq;
                } else if let Some((flags, modseq)) = unchanged.get(u)
                    && !silent
                {
                    // told below as they are now, another session's change included
                    let entry = &mut view.entries_mut()[i];
                    entry.flags = (*flags).clone();
                    entry.modseq = *modseq;
                } else if gone {
                    let entry = &mut view.entries_mut()[i];
                    entry.flags = match change {
                        FlagChange::Replace => asked.clone(),
                        FlagChange::Add => entry.flags.with(asked.iter()),
                        FlagChange::Remove => entry.flags.without(&asked),
                    };
                }
                // RFC 9051 §6.4.6: the flags as they now are, changed or not, unless
                // .SILENT (which still tells CONDSTORE clients the new MODSEQs)
                let tell = if new_flags.is_some() {
                    !silent || unchanged_since.is_some()
                } else {
                    !silent && !refused.contains(u)
                };
                if tell {
                    let entry = &view.entries[i];
                    let flags = &entry.flags;
                    let uid_part = if uid {
                        format!("UID {u} ")
                    } else {
                        String::new()
                    };
                    let modseq = if self.condstore || unchanged_since.is_some() {
                        format!(" MODSEQ ({})", entry.modseq)
                    } else {
                        String::new()
                    };
                    let shown = recent::shown(flags, !self.rev2 && view.recent.contains(*u));
                    lines.push(if self.uidonly {
                        format!("* {u} UIDFETCH (FLAGS {}{modseq})", flag_list(&shown))
                    } else {
                        format!(
                            "* {} FETCH ({uid_part}FLAGS {}{modseq})",
                            i + 1,
                            flag_list(&shown)
                        )
                    });
                }
            }
        }
        for l in lines {
            self.line(&l);
        }
        if update.modified.is_empty() {
            self.ok(tag, "STORE completed");
        } else {
            let list: Vec<String> = match self.view.as_ref() {
                Some(view) if !uid => update
                    .modified
                    .iter()
                    .filter_map(|u| {
                        view.entries
                            .iter()
                            .position(|e| e.uid == *u)
                            .map(|i| (i + 1).to_string())
                    })
                    .collect(),
                _ => update.modified.iter().map(u32::to_string).collect(),
            };
            self.ok(
                tag,
                &format!(
                    "[MODIFIED {}] conditional STORE failed for some",
                    list.join(",")
                ),
            );
        }
    }

    pub(super) async fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        target: &str,
        is_move: bool,
    ) {
        let seqs = self.resolve(uid, set);
        let Some(view) = self.view.as_ref() else {
            return;
        };
        if is_move && view.read_only {
            self.no(tag, "[READ-ONLY] mailbox selected with EXAMINE");
            return;
        }
        let uids: Vec<u32> = seqs
            .iter()
            .filter_map(|s| view.entries.get(s - 1).map(|e| e.uid))
            .collect();
        let from = view.mailbox.id;
        let Some(dest) = self
            .find_mailbox(tag, target, "[TRYCREATE] no such mailbox")
            .await
        else {
            return;
        };
        let store = self.shared.store.clone();
        let r = if is_move {
            store.move_messages(from, &uids, dest.id).await
        } else {
            store.copy_messages(from, &uids, dest.id).await
        };
        match r {
            Ok(copied) if copied.is_empty() => self.ok(tag, "nothing to do"),
            Ok(copied) => {
                let src: Vec<String> = copied.iter().map(|c| c.source.to_string()).collect();
                let dst: Vec<String> = copied.iter().map(|c| c.target.to_string()).collect();
                let code = format!(
                    "[COPYUID {} {} {}]",
                    dest.uidvalidity,
                    src.join(","),
                    dst.join(",")
                );
                if is_move {
                    self.line(&format!("* OK {code} moved"));
                    self.refresh(true).await;
                    self.ok(tag, "MOVE completed");
                } else {
                    self.ok(tag, &format!("{code} COPY completed"));
                }
            }
            Err(e) => self.done(tag, if is_move { "MOVE" } else { "COPY" }, Err(e)),
        }
    }
}
