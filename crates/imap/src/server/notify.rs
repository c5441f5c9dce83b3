//! NOTIFY (RFC 5465) in the session: what the client asked to be told, and telling it
//! as changes happen, between commands and in IDLE, without the client asking.
//!
//! The store announces changes as `MailboxChange { user_id, mailbox_id }` (mailbox 0:
//! the user's folders, subscriptions or server METADATA), on SQLite from this process
//! and on PostgreSQL from every node. The session keeps its own receiver while NOTIFY is
//! set, and derives what changed by comparing the store with what it last told:
//! - the selected mailbox (`selected`, `selected-delayed`): EXISTS, EXPUNGE or VANISHED
//!   and FETCH FLAGS as the view's refresh tells them, and after MessageNew with FETCH
//!   attributes a FETCH of those for each new message. With `selected-delayed`, expunges
//!   wait for a command that may tell them. Without FlagChange, a change of flags alone
//!   does not wake the client (the next command tells it, as without NOTIFY);
//! - other watched mailboxes: `* STATUS name (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)`, with
//!   HIGHESTMODSEQ once CONDSTORE is on or FlagChange is watched, when their counters changed in a way the group's
//!   events cover (§5.1–5.3); never for the selected mailbox;
//! - MailboxName: `* LIST` for each mailbox created, deleted (`\NonExistent`) or renamed
//!   (with `OLDNAME`); SubscriptionChange: `* LIST` with `\Subscribed` when subscribed
//!   after the change (§5.4, §5.5); from the user's folder list before and after;
//! - MailboxMetadataChange and ServerMetadataChange: `* METADATA mailbox entry …` naming
//!   the entries set, changed or removed, without values (RFC 5464 §4.4.2).
//!
//! A mailbox takes its events from the first group (in the command's order) whose filter
//! names it; `inboxes` is `personal` (every mailbox of the user may receive mail, by
//! Sieve). Only the user's own mailboxes exist here: other users' changes are dropped on
//! arrival. Changes this session made itself are told too (RFC 5465 §5 says SHOULD omit
//! them); the selected mailbox's are told by the command that made them, as before.
//!
//! Bounds: a session keeps, per watched mailbox, its counters (five numbers) and, with
//! metadata events, a hash per entry; and the user's folder names and subscriptions when
//! a group other than `selected` names events. At most [`MAX_WATCHED`] mailboxes and as
//! many subscriptions, and [`MAX_METADATA`] METADATA entries in all: NOTIFY SET over them
//! is refused `NO [NOTIFICATIONOVERFLOW]`; growing over them later (or the change
//! broadcast outrunning the session, `Lagged`) sends `* OK [NOTIFICATIONOVERFLOW]` and
//! turns NOTIFY off, as if NOTIFY NONE had been received (§5.8).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use estafeta_store::MailboxChange;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::dispatch::quoted;
use super::*;
use crate::notify::{SUPPORTED, unsupported};

/// Mailboxes (and subscriptions) one session tracks for NOTIFY.
pub(super) const MAX_WATCHED: usize = 1000;
/// METADATA entries one session tracks for NOTIFY, server and mailboxes together.
pub(super) const MAX_METADATA: usize = 2000;

/// The events of one group, as the session uses them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Events {
    /// MessageNew and MessageExpunge (always together).
    messages: bool,
    flags: bool,
    name: bool,
    subscription: bool,
    metadata: bool,
}

impl Events {
    fn of(list: &[NotifyEvent]) -> Events {
        let mut e = Events::default();
        for ev in list {
            match ev {
                NotifyEvent::MessageNew(_) | NotifyEvent::MessageExpunge => e.messages = true,
                NotifyEvent::FlagChange => e.flags = true,
                NotifyEvent::MailboxName => e.name = true,
                NotifyEvent::SubscriptionChange => e.subscription = true,
                NotifyEvent::MailboxMetadataChange => e.metadata = true,
                _ => {}
            }
        }
        e
    }
}

/// What `selected` or `selected-delayed` asked for.
struct Selected {
    delayed: bool,
    flags: bool,
    /// FETCH attributes after MessageNew (empty: EXISTS only).
    fetch: Vec<FetchItem>,
}

/// A watched mailbox's numbers as last told.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Counters {
    uidvalidity: u32,
    uidnext: u32,
    messages: usize,
    unseen: usize,
    highestmodseq: i64,
}

/// The user's folder list as last told.
#[derive(Default)]
struct Folders {
    /// By mailbox id: name and special use.
    boxes: BTreeMap<i64, (String, Option<String>)>,
    subscriptions: BTreeSet<String>,
}

impl Folders {
    fn has_children(&self, name: &str) -> bool {
        let prefix = format!("{name}/");
        self.boxes.values().any(|(n, _)| n.starts_with(&prefix))
    }
}

/// What the session tells, and what it last told.
pub(super) struct Notifier {
    pub(super) changes: broadcast::Receiver<MailboxChange>,
    selected: Option<Selected>,
    /// The groups other than the selected filter's, in order.
    groups: Vec<NotifyGroup>,
    server_metadata: bool,
    /// Kept when some group other than `selected` names events.
    folders: Option<Folders>,
    watched: HashMap<i64, Counters>,
    /// Per mailbox (0: the server), entry names with a hash of their values.
    metadata: HashMap<i64, Vec<(String, u64)>>,
}

/// Why the state could not be built or kept.
enum Trouble {
    Overflow,
    Store(StoreError),
}

impl From<StoreError> for Trouble {
    fn from(e: StoreError) -> Self {
        Trouble::Store(e)
    }
}

impl Notifier {
    /// The events of the first group naming `name` (`subscribed`: whether it is, or was).
    fn events_for(&self, name: &str, subscribed: bool) -> Events {
        self.groups
            .iter()
            .find(|g| filter_names(&g.filter, name, subscribed))
            .map(|g| Events::of(&g.events))
            .unwrap_or_default()
    }
}

/// Whether a filter other than the selected ones names the mailbox `name`.
fn filter_names(filter: &NotifyFilter, name: &str, subscribed: bool) -> bool {
    match filter {
        NotifyFilter::Selected | NotifyFilter::SelectedDelayed => false,
        NotifyFilter::Inboxes | NotifyFilter::Personal => true,
        NotifyFilter::Subscribed => subscribed,
        NotifyFilter::Mailboxes(names) => names.iter().any(|n| n == name),
        NotifyFilter::Subtree(names) => names.iter().any(|n| {
            name == n
                || name
                    .strip_prefix(n.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        }),
    }
}

fn value_hash(value: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The entry names that differ between two sorted fingerprints.
fn metadata_diff(old: &[(String, u64)], new: &[(String, u64)]) -> Vec<String> {
    let old: BTreeMap<&str, u64> = old.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    let new: BTreeMap<&str, u64> = new.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    let names: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    names
        .into_iter()
        .filter(|n| old.get(n) != new.get(n))
        .map(String::from)
        .collect()
}

/// `* LIST (attributes) "/" name`, with `OLDNAME` after a rename.
fn list_line(folders: &Folders, name: &str, oldname: Option<&str>) -> String {
    let mb = folders.boxes.values().find(|(n, _)| n == name);
    let mut attrs = Vec::new();
    match mb {
        None => attrs.push("\\NonExistent".to_string()),
        Some(_) if folders.has_children(name) => attrs.push("\\HasChildren".into()),
        Some(_) => attrs.push("\\HasNoChildren".into()),
    }
    if folders.subscriptions.contains(name) {
        attrs.push("\\Subscribed".into());
    }
    if let Some((_, Some(role))) = mb {
        attrs.push(format!("\\{role}"));
    }
    let mut line = format!("* LIST ({}) \"/\" {}", attrs.join(" "), quoted(name));
    if let Some(old) = oldname {
        line.push_str(&format!(" (\"OLDNAME\" ({}))", quoted(old)));
    }
    line
}

impl Session {
    /// NOTIFY NONE, or NOTIFY SET.
    pub(super) async fn notify_command(&mut self, tag: &str, set: Option<NotifySet>) {
        let Some(set) = set else {
            self.notify = None;
            self.ok(tag, "NOTIFY completed");
            return;
        };
        let bad = unsupported(&set);
        if !bad.is_empty() {
            self.no(
                tag,
                &format!("[BADEVENT ({SUPPORTED})] not supported: {}", bad.join(" ")),
            );
            return;
        }
        let status = set.status;
        let mut selected = None;
        let mut groups = Vec::new();
        let mut server_metadata = false;
        for g in set.groups {
            server_metadata |= g
                .events
                .iter()
                .any(|e| matches!(e, NotifyEvent::ServerMetadataChange));
            if g.filter.is_selected() {
                if !g.events.is_empty() {
                    let fetch = g
                        .events
                        .iter()
                        .find_map(|e| match e {
                            NotifyEvent::MessageNew(atts) => Some(atts.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    selected = Some(Selected {
                        delayed: g.filter == NotifyFilter::SelectedDelayed,
                        flags: g.events.contains(&NotifyEvent::FlagChange),
                        fetch,
                    });
                }
            } else if !g.events.is_empty() {
                groups.push(g);
            }
        }
        // subscribed before reading the store, so that no change falls between the two
        let changes = match self.shared.store.subscribe().await {
            Ok(c) => c,
            Err(e) => return self.unavailable(tag, &e),
        };
        let mut n = Notifier {
            changes,
            selected,
            folders: (!groups.is_empty()).then(Folders::default),
            groups,
            server_metadata,
            watched: HashMap::new(),
            metadata: HashMap::new(),
        };
        // the old setting is replaced whatever happens next
        self.notify = None;
        let mut initial = Vec::new();
        match self.notify_folders(&mut n, false, &mut initial).await {
            Ok(()) => {}
            Err(Trouble::Overflow) => {
                return self.no(
                    tag,
                    &format!(
                        "[NOTIFICATIONOVERFLOW] at most {MAX_WATCHED} mailboxes and \
                         {MAX_METADATA} METADATA entries are watched"
                    ),
                );
            }
            Err(Trouble::Store(e)) => return self.unavailable(tag, &e),
        }
        if status {
            let selected_id = self.view.as_ref().map(|v| v.mailbox.id);
            let mut ids: Vec<(String, i64)> = n
                .watched
                .keys()
                .filter(|id| Some(**id) != selected_id)
                .filter_map(|id| {
                    let folders = n.folders.as_ref()?;
                    Some((folders.boxes.get(id)?.0.clone(), *id))
                })
                .collect();
            ids.sort();
            for (name, id) in ids {
                if let Some(c) = n.watched.get(&id) {
                    let subscribed = n
                        .folders
                        .as_ref()
                        .is_some_and(|f| f.subscriptions.contains(&name));
                    let flags = n.events_for(&name, subscribed).flags;
                    initial.push(self.status_notification(&name, c, flags));
                }
            }
        }
        // RFC 5465 §3.1: a successful NOTIFY SET is also a NOOP
        self.refresh(true).await;
        for l in initial {
            self.line(&l);
        }
        self.notify = Some(Box::new(n));
        self.ok(tag, "NOTIFY completed");
    }

    /// The counters of a mailbox.
    async fn counters(&self, mb: &Mailbox) -> Result<Counters, StoreError> {
        let entries = self.shared.store.list_messages(mb.id).await?;
        Ok(Counters {
            uidvalidity: mb.uidvalidity,
            uidnext: mb.uidnext,
            messages: entries.len(),
            unseen: entries
                .iter()
                .filter(|e| !e.flags.contains("\\Seen"))
                .count(),
            highestmodseq: mb.highestmodseq,
        })
    }

    /// With HIGHESTMODSEQ once CONDSTORE is on, or when the mailbox's flag changes are
    /// watched (FlagChange: how a client sees that flags changed, as imaptest expects).
    fn status_notification(&self, name: &str, c: &Counters, flags_watched: bool) -> String {
        let modseq = if self.condstore || flags_watched {
            format!(" HIGHESTMODSEQ {}", c.highestmodseq)
        } else {
            String::new()
        };
        format!(
            "* STATUS {} (MESSAGES {} UIDNEXT {} UIDVALIDITY {} UNSEEN {}{modseq})",
            quoted(name),
            c.messages,
            c.uidnext,
            c.uidvalidity,
            c.unseen
        )
    }

    /// A METADATA target's fingerprint (`0`: the server).
    async fn metadata_print(&self, id: i64) -> Result<Vec<(String, u64)>, StoreError> {
        let target = (id != 0).then_some(id);
        let entries = self.shared.store.metadata(self.user_id(), target).await?;
        Ok(entries
            .into_iter()
            .map(|(name, value)| (name, value_hash(&value)))
            .collect())
    }

    /// Reads the user's folders and brings `n` up to date: which mailboxes are watched,
    /// their counters and METADATA. With `tell`, the LIST and METADATA lines for what
    /// changed since `n` last looked go to `out`.
    async fn notify_folders(
        &self,
        n: &mut Notifier,
        tell: bool,
        out: &mut Vec<String>,
    ) -> Result<(), Trouble> {
        if n.server_metadata {
            let print = self.metadata_print(0).await?;
            if tell && let Some(old) = n.metadata.get(&0) {
                let names = metadata_diff(old, &print);
                if !names.is_empty() {
                    out.push(metadata_line("", &names));
                }
            }
            n.metadata.insert(0, print);
        }
        let Some(old) = n.folders.take() else {
            return Ok(());
        };
        let store = &self.shared.store;
        let user = self.user_id();
        let boxes = store.list_mailboxes(user).await?;
        let subscriptions: BTreeSet<String> =
            store.subscriptions(user).await?.into_iter().collect();
        if boxes.len() > MAX_WATCHED || subscriptions.len() > MAX_WATCHED {
            return Err(Trouble::Overflow);
        }
        let new = Folders {
            boxes: boxes
                .iter()
                .map(|mb| (mb.id, (mb.name.clone(), mb.special_use.clone())))
                .collect(),
            subscriptions,
        };
        if tell {
            let mut renamed: BTreeSet<&str> = BTreeSet::new();
            // created and renamed, in the order of their ids
            for (id, (name, _)) in &new.boxes {
                let subscribed = new.subscriptions.contains(name);
                match old.boxes.get(id) {
                    None => {
                        if n.events_for(name, subscribed).name {
                            out.push(list_line(&new, name, None));
                        }
                    }
                    Some((was, _)) if was != name => {
                        renamed.insert(name);
                        renamed.insert(was);
                        let was_subscribed = old.subscriptions.contains(was);
                        if n.events_for(name, subscribed).name
                            || n.events_for(was, was_subscribed).name
                        {
                            out.push(list_line(&new, name, Some(was)));
                        }
                    }
                    Some(_) => {}
                }
            }
            for (id, (was, _)) in &old.boxes {
                if !new.boxes.contains_key(id)
                    && n.events_for(was, old.subscriptions.contains(was)).name
                {
                    out.push(list_line(&new, was, None));
                }
            }
            // subscriptions: those a rename carried along were told with it
            for name in old.subscriptions.symmetric_difference(&new.subscriptions) {
                if !renamed.contains(name.as_str()) && n.events_for(name, true).subscription {
                    out.push(list_line(&new, name, None));
                }
            }
        }
        // which mailboxes are watched now; counters of those newly watched are read
        let mut watched = HashMap::new();
        let mut metadata = HashMap::new();
        let mut entries = n.metadata.get(&0).map_or(0, Vec::len);
        for mb in &boxes {
            let ev = n.events_for(&mb.name, new.subscriptions.contains(&mb.name));
            if ev.messages || ev.flags {
                let c = match n.watched.get(&mb.id) {
                    Some(c) => *c,
                    None => self.counters(mb).await?,
                };
                watched.insert(mb.id, c);
            }
            if ev.metadata {
                let print = self.metadata_print(mb.id).await?;
                if tell && let Some(old) = n.metadata.get(&mb.id) {
                    let names = metadata_diff(old, &print);
                    if !names.is_empty() {
                        out.push(metadata_line(&mb.name, &names));
                    }
                }
                entries += print.len();
                if entries > MAX_METADATA {
                    return Err(Trouble::Overflow);
                }
                metadata.insert(mb.id, print);
            }
        }
        if let Some(server) = n.metadata.remove(&0) {
            metadata.insert(0, server);
        }
        n.watched = watched;
        n.metadata = metadata;
        n.folders = Some(new);
        Ok(())
    }

    /// With NOTIFY set: waits for the client's next command, telling changes as they
    /// come. Returns when the client has sent something (or closed the connection);
    /// `Timeout` after the idle timeout without a command.
    pub(super) async fn await_command(&mut self) -> Result<(), IoError> {
        let deadline = tokio::time::Instant::now() + self.shared.settings.idle_timeout;
        while self.notify.is_some() {
            let io = self
                .io
                .as_mut()
                .expect("the connection is present between commands");
            let Some(n) = self.notify.as_mut() else {
                break;
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            // no bias: under a steady stream of changes (mail pouring into a watched
            // folder) the client's next command must still get its turn; what a command
            // needs to know of its own mailbox its refresh tells anyway
            tokio::select! {
                change = n.changes.recv() => self.notified(change).await,
                ready = input::wait_for_input(io, left) => {
                    ready?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Tells what the changes announced (`first`, and those waiting behind it) changed.
    pub(super) async fn notified(&mut self, first: Result<MailboxChange, RecvError>) {
        let user = self.user_id();
        let Some(n) = self.notify.as_mut() else {
            return;
        };
        let mut ids = BTreeSet::new();
        let mut next = first.map_err(|e| match e {
            RecvError::Lagged(k) => TryRecvError::Lagged(k),
            RecvError::Closed => TryRecvError::Closed,
        });
        loop {
            match next {
                Ok(c) if c.user_id == user => {
                    ids.insert(c.mailbox_id);
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => return self.notify_overflow(),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    self.notify = None;
                    return;
                }
            }
            next = n.changes.try_recv();
        }
        if ids.is_empty() {
            return;
        }
        let Some(mut n) = self.notify.take() else {
            return;
        };
        let selected_id = self.view.as_ref().map(|v| v.mailbox.id);
        if let Some(id) = selected_id
            && ids.contains(&id)
            && let Some(sel) = n.selected.as_ref()
        {
            self.notify_selected(sel).await;
        }
        let mut out = Vec::new();
        if ids.contains(&0) {
            match self.notify_folders(&mut n, true, &mut out).await {
                Ok(()) => {}
                Err(Trouble::Overflow) => {
                    for l in out {
                        self.line(&l);
                    }
                    return self.notify_overflow();
                }
                Err(Trouble::Store(e)) => {
                    tracing::warn!(error = %e, "NOTIFY: cannot read the folders; the next change tries again");
                }
            }
        }
        for &id in ids.iter().filter(|&&id| id != 0) {
            if let Err(e) = self.notify_mailbox(&mut n, id, selected_id, &mut out).await {
                tracing::warn!(error = %e, "NOTIFY: cannot read a mailbox; the next change tries again");
            }
        }
        for l in out {
            self.line(&l);
        }
        self.notify = Some(n);
    }

    /// A watched mailbox other than the selected one changed: STATUS, METADATA.
    async fn notify_mailbox(
        &self,
        n: &mut Notifier,
        id: i64,
        selected_id: Option<i64>,
        out: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        if !n.watched.contains_key(&id) && !n.metadata.contains_key(&id) {
            return Ok(());
        }
        let Some(mb) = self.shared.store.mailbox_by_id(id).await? else {
            // deleted: the folder change (mailbox 0) tells it
            n.watched.remove(&id);
            n.metadata.remove(&id);
            return Ok(());
        };
        if let Some(old) = n.watched.get(&id).copied() {
            let now = self.counters(&mb).await?;
            let ev = n.events_for(
                &mb.name,
                n.folders
                    .as_ref()
                    .is_some_and(|f| f.subscriptions.contains(&mb.name)),
            );
            let added = now.uidnext != old.uidnext || now.uidvalidity != old.uidvalidity;
            let removed =
                now.messages + (now.uidnext.saturating_sub(old.uidnext) as usize) != old.messages;
            let flags = now.unseen != old.unseen || now.highestmodseq != old.highestmodseq;
            let tell = (ev.messages && (added || removed)) || (ev.flags && flags);
            if tell && Some(id) != selected_id {
                out.push(self.status_notification(&mb.name, &now, ev.flags));
            }
            n.watched.insert(id, now);
        }
        if let Some(old) = n.metadata.get(&id) {
            let print = self.metadata_print(id).await?;
            let names = metadata_diff(old, &print);
            if !names.is_empty() {
                out.push(metadata_line(&mb.name, &names));
            }
            n.metadata.insert(id, print);
        }
        Ok(())
    }

    /// The selected mailbox changed: told as the NOTIFY's selected filter asked.
    async fn notify_selected(&mut self, sel: &Selected) {
        let Some(view) = self.view.as_ref() else {
            return;
        };
        if !sel.flags {
            // only new or expunged messages wake the client
            let store = &self.shared.store;
            let id = view.mailbox.id;
            let now = match store.mailbox_by_id(id).await {
                Ok(Some(now)) => now,
                _ => return,
            };
            let gone = match store.vanished_since(id, view.modseq).await {
                Ok(g) => g,
                Err(_) => return,
            };
            if now.uidnext == view.mailbox.uidnext && gone.is_empty() {
                return;
            }
        }
        let added = self.refresh(!sel.delayed).await;
        if !sel.fetch.is_empty() && !added.is_empty() {
            let set = SequenceSet::of(&added);
            self.fetch_rows("*", true, &set, &sel.fetch, None, false)
                .await;
        }
    }

    /// RFC 5465 §5.8: the session cannot keep up; NOTIFY is off.
    pub(super) fn notify_overflow(&mut self) {
        tracing::info!("NOTIFY overflow: notifications off");
        self.notify = None;
        self.line("* OK [NOTIFICATIONOVERFLOW] too many changes to tell: NOTIFY is off");
    }
}

/// `* METADATA mailbox entry entry …` (RFC 5464 §4.4.2: names only).
fn metadata_line(mailbox: &str, names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| quoted(n)).collect();
    format!("* METADATA {} {}", quoted(mailbox), names.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let sub = NotifyFilter::Subtree(vec!["Lists".into()]);
        assert!(filter_names(&sub, "Lists", false));
        assert!(filter_names(&sub, "Lists/rust", false));
        assert!(!filter_names(&sub, "Listserv", false));
        let mbs = NotifyFilter::Mailboxes(vec!["INBOX".into()]);
        assert!(filter_names(&mbs, "INBOX", false));
        assert!(!filter_names(&mbs, "INBOX/x", false));
        assert!(filter_names(&NotifyFilter::Subscribed, "a", true));
        assert!(!filter_names(&NotifyFilter::Subscribed, "a", false));
        assert!(filter_names(&NotifyFilter::Personal, "a", false));
        assert!(!filter_names(&NotifyFilter::Selected, "a", true));
    }

    #[test]
    fn metadata_changes() {
        let old = vec![("/private/a".to_string(), 1), ("/private/b".to_string(), 2)];
        let new = vec![("/private/b".to_string(), 3), ("/private/c".to_string(), 4)];
        assert_eq!(
            metadata_diff(&old, &new),
            ["/private/a", "/private/b", "/private/c"]
        );
        assert!(metadata_diff(&old, &old).is_empty());
        assert_eq!(
            metadata_line("", &["/shared/x".into()]),
            "* METADATA \"\" \"/shared/x\""
        );
    }

    #[test]
    fn list_lines() {
        let mut f = Folders::default();
        f.boxes.insert(1, ("a".into(), None));
        f.boxes.insert(2, ("a/b".into(), Some("Archive".into())));
        f.subscriptions.insert("a/b".into());
        f.subscriptions.insert("gone".into());
        assert_eq!(
            list_line(&f, "a", None),
            "* LIST (\\HasChildren) \"/\" \"a\""
        );
        assert_eq!(
            list_line(&f, "a/b", Some("x")),
            "* LIST (\\HasNoChildren \\Subscribed \\Archive) \"/\" \"a/b\" (\"OLDNAME\" (\"x\"))"
        );
        assert_eq!(
            list_line(&f, "gone", None),
            "* LIST (\\NonExistent \\Subscribed) \"/\" \"gone\""
        );
        assert_eq!(
            list_line(&f, "z", None),
            "* LIST (\\NonExistent) \"/\" \"z\""
        );
    }
}
