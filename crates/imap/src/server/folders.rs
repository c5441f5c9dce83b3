//! Commands on folders rather than on the selected mailbox: LIST/LSUB, STATUS, APPEND
//! and GETQUOTA.

use std::collections::HashSet;

use super::dispatch::quoted;
use super::*;
use crate::pattern::{MAX_PATTERN, Pattern};

/// OBJECTID's MAILBOXID (RFC 8474 §4): from the mailbox's row id, which RENAME keeps and
/// a deleted and re-created mailbox does not get again.
pub(super) fn mailbox_id(mb: &Mailbox) -> String {
    format!("M{}", mb.id)
}

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
        if patterns.len() == 1 && patterns[0].is_empty() {
            self.line(&format!("* {word} (\\Noselect) \"/\" \"\""));
            self.ok(tag, &format!("{word} completed"));
            return;
        }
        let subscribed_only = selects("SUBSCRIBED");
        let special_only = selects("SPECIAL-USE");
        let subscriptions: HashSet<String> = match store.subscriptions(self.user_id()).await {
            Ok(s) => s.into_iter().collect(),
            Err(e) => {
                self.unavailable(tag, &e);
                return;
            }
        };
        // the names to consider: every mailbox, and with SUBSCRIBED the subscribed names
        // that have none (RFC 5258 §3.1: listed \NonExistent)
        let mut names: Vec<(&str, Option<&Mailbox>)> = boxes
            .iter()
            .map(|mb| (mb.name.as_str(), Some(mb)))
            .collect();
        if subscribed_only {
            let existing: HashSet<&str> = boxes.iter().map(|mb| mb.name.as_str()).collect();
            let mut gone: Vec<&str> = subscriptions
                .iter()
                .map(String::as_str)
                .filter(|n| !existing.contains(n))
                .collect();
            gone.sort_unstable();
            names.extend(gone.into_iter().map(|n| (n, None)));
        }
        let subscribed = |name: &str| subscriptions.contains(name);
        let chosen = |name: &str, mb: Option<&Mailbox>| {
            (!subscribed_only || subscribed(name))
                && (!special_only || mb.is_some_and(|m| m.special_use.is_some()))
        };
        let has_children = |name: &str| {
            let prefix = format!("{name}/");
            boxes.iter().any(|o| o.name.starts_with(&prefix))
        };
        // each pattern with the reference in front; bounded, and matched in linear time
        let compiled: Vec<Pattern> = patterns
            .iter()
            .filter_map(|p| Pattern::new(&format!("{reference}{p}")))
            .collect();
        let matches = |name: &str| compiled.iter().any(|p| p.matches(name));
        let mut listed: HashSet<&str> = HashSet::new();
        let mut lines = Vec::new();
        for &(name, mb) in &names {
            if !matches(name) {
                continue;
            }
            let prefix = format!("{name}/");
            // RECURSIVEMATCH: a parent that is not chosen itself is listed for its
            // chosen descendants, with CHILDINFO saying why
            // (only for descendants the patterns do not list themselves, RFC 5258 §3.5)
            let child_info = recursive
                && !chosen(name, mb)
                && names
                    .iter()
                    .any(|&(o, omb)| o.starts_with(&prefix) && chosen(o, omb) && !matches(o));
            if !chosen(name, mb) && !child_info {
                continue;
            }
            let mut attrs = Vec::new();
            match mb {
                None if lsub => attrs.push("\\Noselect"),
                None => attrs.push("\\NonExistent"),
                Some(_) if has_children(name) => attrs.push("\\HasChildren"),
                Some(_) => attrs.push("\\HasNoChildren"),
            }
            if !lsub
                && subscribed(name)
                && (subscribed_only || returns.contains(&ListReturn::Subscribed))
            {
                attrs.push("\\Subscribed");
            }
            let role = mb
                .and_then(|m| m.special_use.as_ref())
                .map(|r| format!("\\{r}"));
            let mut attrs = attrs.join(" ");
            if let Some(role) = role {
                attrs.push(' ');
                attrs.push_str(&role);
            }
            let mut line = format!("* {word} ({attrs}) \"/\" {}", quoted(name));
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
            listed.insert(name);
            lines.push((line, mb));
        }
        // a chosen name below what `%` reaches: its nearest matching parent that was not
        // listed goes out \Noselect (RFC 3501 §6.3.9 for LSUB; older data for LIST)
        if !recursive {
            let mut parents: Vec<&str> = Vec::new();
            for &(name, mb) in &names {
                if matches(name) || !chosen(name, mb) {
                    continue;
                }
                let mut at = name.len();
                while let Some(i) = name[..at].rfind('/') {
                    let parent = &name[..i];
                    if matches(parent) {
                        if !listed.contains(parent) && !parents.contains(&parent) {
                            parents.push(parent);
                        }
                        break;
                    }
                    at = i;
                }
            }
            for parent in parents {
                let exists = boxes.iter().any(|b| b.name == parent);
                if exists && !lsub {
                    continue; // a mailbox that was not chosen stays out of LIST
                }
                let attrs = if lsub {
                    "\\Noselect"
                } else {
                    "\\Noselect \\HasChildren"
                };
                lines.push((format!("* {word} ({attrs}) \"/\" {}", quoted(parent)), None));
            }
        }
        for (line, mb) in lines {
            self.line(&line);
            let Some(mb) = mb else { continue };
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
                StatusItem::Recent => format!(
                    "RECENT {}",
                    entries.iter().filter(|e| e.uid > mb.recent_uid).count()
                ),
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
                StatusItem::MailboxId => format!("MAILBOXID ({})", mailbox_id(mb)),
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
        let flags = super::recent::settable(flags);
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

/// The special use a CREATE asks for (RFC 6154 §3), as the store keeps it (no
/// backslash), or why it cannot be given (answered `NO [USEATTR]`, nothing created).
/// A mailbox holds one role; `\All` and `\Flagged` name virtual mailboxes, which are
/// not offered.
pub(super) fn role_to_create(attrs: &[String]) -> Result<Option<&'static str>, String> {
    const ROLES: [&str; 5] = ["Archive", "Drafts", "Junk", "Sent", "Trash"];
    match attrs {
        [] => Ok(None),
        [one] => {
            let name = one.strip_prefix('\\').unwrap_or("");
            if let Some(role) = ROLES.iter().find(|r| r.eq_ignore_ascii_case(name)) {
                Ok(Some(role))
            } else if ["All", "Flagged"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                Err(format!(
                    "{one} names a virtual mailbox, which this server does not offer"
                ))
            } else {
                Err(format!(
                    "{one} is not a special use this server gives (\\Archive \\Drafts \\Junk \\Sent \\Trash)"
                ))
            }
        }
        _ => Err("a mailbox holds one special use here".into()),
    }
}
