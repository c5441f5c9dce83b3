//! The selected mailbox as the client knows it (sequence numbers, UIDs, flags, MODSEQs):
//! SELECT/EXAMINE, bringing it up to date between commands and in IDLE, and EXPUNGE.

use super::dispatch::has_flag;
use super::*;

impl Session {
    pub(super) async fn select(&mut self, tag: &str, name: &str, read_only: bool, condstore: bool) {
        self.view = None;
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
                tracing::error!(error = %e, "cannot watch for changes");
                self.no(tag, "[UNAVAILABLE] try again later");
                return;
            }
        };
        let entries = self
            .shared
            .store
            .list_messages(mailbox.id)
            .await
            .unwrap_or_default();
        let unseen = entries.iter().position(|e| !has_flag(&e.flags, "\\Seen"));
        self.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        self.line("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags permitted");
        self.line(&format!("* {} EXISTS", entries.len()));
        self.line("* 0 RECENT");
        if let Some(i) = unseen {
            self.line(&format!("* OK [UNSEEN {}] first unseen", i + 1));
        }
        self.line(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid",
            mailbox.uidvalidity
        ));
        self.line(&format!(
            "* OK [UIDNEXT {}] predicted next UID",
            mailbox.uidnext
        ));
        self.line(&format!(
            "* OK [HIGHESTMODSEQ {}] highest",
            mailbox.highestmodseq
        ));
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        self.view = Some(View {
            mailbox,
            read_only,
            entries,
            changes,
        });
        self.ok(tag, &format!("[{mode}] SELECT completed"));
    }

    /// Reports what changed in the selected mailbox since the client last looked.
    pub(super) async fn refresh(&mut self) {
        let Some(view) = self.view.as_mut() else {
            return;
        };
        while view.changes.try_recv().is_ok() {}
        let store = self.shared.store.clone();
        let Ok(now) = store.list_messages(view.mailbox.id).await else {
            return;
        };
        let mut out = Vec::new();
        // expunged: from the highest sequence number down, so numbers stay right
        let present: HashSet<u32> = now.iter().map(|e| e.uid).collect();
        let mut i = view.entries.len();
        while i > 0 {
            i -= 1;
            if !present.contains(&view.entries[i].uid) {
                view.entries.remove(i);
                out.push(format!("* {} EXPUNGE", i + 1));
            }
        }
        let known: std::collections::HashMap<u32, usize> = view
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.uid, i))
            .collect();
        let mut added = false;
        for e in now {
            match known.get(&e.uid) {
                Some(&i) => {
                    if view.entries[i].flags != e.flags || view.entries[i].modseq != e.modseq {
                        let modseq = if self.condstore {
                            format!(" MODSEQ ({})", e.modseq)
                        } else {
                            String::new()
                        };
                        out.push(format!(
                            "* {} FETCH (UID {} FLAGS {}{modseq})",
                            i + 1,
                            e.uid,
                            flag_list(&e.flags)
                        ));
                        view.entries[i] = e;
                    }
                }
                None => {
                    view.entries.push(e);
                    added = true;
                }
            }
        }
        if added {
            out.push(format!("* {} EXISTS", view.entries.len()));
        }
        for l in out {
            self.line(&l);
        }
    }

    pub(super) async fn idle(&mut self, tag: &str) -> Step {
        self.line("+ idling");
        self.refresh().await;
        loop {
            self.io().flush().await?;
            let has_view = self.view.is_some();
            let change = async {
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
            };
            let io = self.io.as_mut().expect("connection present");
            tokio::select! {
                line = io.read_line(MAX_LINE) => {
                    match line? {
                        Line::Complete(l) if l.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                            self.ok(tag, "IDLE terminated");
                            return Ok(true);
                        }
                        Line::Closed => return Ok(false),
                        _ => {
                            self.bad(tag, "expected DONE");
                            return Ok(true);
                        }
                    }
                }
                _ = change => self.refresh().await,
            }
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
            self.refresh().await;
        } else if let Some(v) = self.view.as_mut() {
            v.entries.retain(|e| !gone.contains(&e.uid));
        }
        Ok(())
    }
}
