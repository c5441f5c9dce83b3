//! Commands on folders rather than on the selected mailbox: LIST/LSUB, STATUS, APPEND
//! and GETQUOTA.

use super::dispatch::quoted;
use super::*;
use crate::pattern::{MAX_PATTERN, Pattern};

impl Session {
    pub(super) async fn list(
        &mut self,
        tag: &str,
        reference: &str,
        patterns: &[String],
        selection: &[String],
        returns: &[ListReturn],
        lsub: bool,
    ) {
        let word = if lsub { "LSUB" } else { "LIST" };
        let octets: usize = patterns.iter().map(|p| reference.len() + p.len()).sum();
        if octets > MAX_PATTERN {
            self.bad(
                tag,
                &format!(
                    "{word} patterns longer than {MAX_PATTERN} octets in all (reference included)"
                ),
            );
            return;
        }
        let store = self.shared.store.clone();
        let boxes = match store.list_mailboxes(self.user_id()).await {
            Ok(b) => b,
            Err(e) => {
                self.unavailable(tag, &e);
                return;
            }
        };
        if patterns.len() == 1 && patterns[0].is_empty() {
            self.line("* LIST (\\Noselect) \"/\" \"\"");
            self.ok(tag, "LIST completed");
            return;
        }
        // LIST-EXTENDED selection options (RFC 5258 §3.1, RFC 6154 §5.1)
        if let Some(bad) = selection.iter().find(|s| {
            !["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"].contains(&s.as_str())
        }) {
            self.bad(tag, &format!("unknown LIST selection option {bad}"));
            return;
        }
        let selects = |o: &str| selection.iter().any(|s| s == o);
        let recursive = selects("RECURSIVEMATCH");
        if recursive && !selects("SUBSCRIBED") && !selects("SPECIAL-USE") {
            self.bad(tag, "RECURSIVEMATCH needs another selection option");
            return;
        }
        let subscribed_only = selects("SUBSCRIBED");
        let special_only = selects("SPECIAL-USE");
        let chosen = |mb: &Mailbox| {
            (!subscribed_only || mb.subscribed) && (!special_only || mb.special_use.is_some())
        };
        // each pattern with the reference in front; bounded, and matched in linear time
        let compiled: Vec<Pattern> = patterns
            .iter()
            .filter_map(|p| Pattern::new(&format!("{reference}{p}")))
            .collect();
        for mb in &boxes {
            if !compiled.iter().any(|p| p.matches(&mb.name)) {
                continue;
            }
            let prefix = format!("{}/", mb.name);
            // RECURSIVEMATCH: a parent that is not chosen itself is listed for its
            // chosen descendants, with CHILDINFO saying why
            let child_info = recursive
                && !chosen(mb)
                && boxes
                    .iter()
                    .any(|o| o.name.starts_with(&prefix) && chosen(o));
            if !chosen(mb) && !child_info {
                continue;
            }
            let mut attrs = Vec::new();
            let has_children = boxes.iter().any(|o| o.name.starts_with(&prefix));
            attrs.push(
                if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .to_string(),
            );
            if !lsub
                && mb.subscribed
                && (subscribed_only || returns.contains(&ListReturn::Subscribed))
            {
                attrs.push("\\Subscribed".into());
            }
            if let Some(role) = &mb.special_use {
                attrs.push(format!("\\{role}"));
            }
            let attrs = attrs.join(" ");
            let mut line = format!("* {word} ({attrs}) \"/\" {}", quoted(&mb.name));
            if child_info {
                let why: Vec<&str> = [
                    ("SUBSCRIBED", subscribed_only),
                    ("SPECIAL-USE", special_only),
                ]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(w, _)| *w)
                .collect();
                line.push_str(&format!(" (\"CHILDINFO\" (\"{}\"))", why.join("\" \"")));
            }
            self.line(&line);
            for r in returns {
                if let ListReturn::Status(items) = r {
                    match self.status_line(mb, items).await {
                        Ok(status) => self.line(&status),
                        Err(e) => {
                            self.unavailable(tag, &e);
                            return;
                        }
                    }
                }
            }
        }
        self.ok(tag, &format!("{word} completed"));
    }

    pub(super) async fn status_line(
        &self,
        mb: &Mailbox,
        items: &[StatusItem],
    ) -> Result<String, StoreError> {
        let entries = self.shared.store.list_messages(mb.id).await?;
        let mut parts = Vec::new();
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", entries.len()),
                StatusItem::Recent => "RECENT 0".to_string(),
                StatusItem::UidNext => format!("UIDNEXT {}", mb.uidnext),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", mb.uidvalidity),
                StatusItem::Unseen => format!(
                    "UNSEEN {}",
                    entries
                        .iter()
                        .filter(|e| !e.flags.contains("\\Seen"))
                        .count()
                ),
                StatusItem::Deleted => format!(
                    "DELETED {}",
                    entries
                        .iter()
                        .filter(|e| e.flags.contains("\\Deleted"))
                        .count()
                ),
                StatusItem::Size => format!("SIZE {}", entries.iter().map(|e| e.size).sum::<i64>()),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", mb.highestmodseq),
            });
        }
        Ok(format!(
            "* STATUS {} ({})",
            quoted(&mb.name),
            parts.join(" ")
        ))
    }

    pub(super) async fn status(&mut self, tag: &str, name: &str, items: &[StatusItem]) {
        let Some(mb) = self
            .find_mailbox(tag, name, "[NONEXISTENT] no such mailbox")
            .await
        else {
            return;
        };
        match self.status_line(&mb, items).await {
            Ok(line) => {
                self.line(&line);
                self.ok(tag, "STATUS completed");
            }
            Err(e) => self.unavailable(tag, &e),
        }
    }

    pub(super) async fn append(
        &mut self,
        tag: &str,
        name: &str,
        flags: &[String],
        date: Option<i64>,
        message: &[u8],
    ) {
        if message.len() as u64 > self.shared.settings.max_message_size {
            self.no(tag, "[TOOBIG] message larger than APPENDLIMIT");
            return;
        }
        let Some(mb) = self
            .find_mailbox(tag, name, "[TRYCREATE] no such mailbox")
            .await
        else {
            return;
        };
        let date = date.unwrap_or_else(estafeta_store::now);
        let flags = Flags::new(flags.iter().map(String::as_str));
        match self.shared.store.append(mb.id, message, &flags, date).await {
            Ok(d) => {
                self.refresh(true).await;
                self.ok(
                    tag,
                    &format!("[APPENDUID {} {}] APPEND completed", mb.uidvalidity, d.uid),
                );
            }
            Err(e) => self.done(tag, "APPEND", Err(e)),
        }
    }

    pub(super) async fn quota(&mut self, tag: &str) {
        let limit = self.user.as_ref().map(|u| u.quota_bytes).unwrap_or(0);
        if limit > 0 {
            let used = match self.shared.store.quota_usage(self.user_id()).await {
                Ok((used, _)) => used,
                Err(e) => {
                    self.unavailable(tag, &e);
                    return;
                }
            };
            self.line(&format!(
                "* QUOTA \"\" (STORAGE {} {})",
                used / 1024,
                limit / 1024
            ));
        }
        self.ok(tag, "GETQUOTA completed");
    }
}
