//! The IMAP server of the `imap` listeners: one session per connection, in three states
//! (not authenticated, authenticated, selected). A selected mailbox is a view — sequence
//! numbers, UIDs, flags, MODSEQs as the client last saw them — brought up to date between
//! commands and during IDLE, from the store's change notifications.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use estafeta_config::TlsMode;
use estafeta_net::{AuthThrottle, Connection, IoError, Line, LineIo, Service, TlsSetup, sasl};
use estafeta_store::{FlagChange, Mailbox, MailboxEntry, Store, StoreError, User};
use tracing::Instrument;

use crate::command::*;
use crate::framing::literal_at_end;
use crate::mime;
use crate::parser::parse_command;
use crate::response::{flag_list, literal, string};
use crate::search;
use crate::sequence::SequenceSet;

/// What the IMAP server needs from the configuration.
#[derive(Clone)]
pub struct ImapSettings {
    pub allow_plaintext_on_loopback: bool,
    /// RFC 9051 §5.4: at least 30 minutes.
    pub idle_timeout: Duration,
    /// Largest message APPEND takes (APPENDLIMIT).
    pub max_message_size: u64,
}

impl Default for ImapSettings {
    fn default() -> Self {
        ImapSettings {
            allow_plaintext_on_loopback: false,
            idle_timeout: Duration::from_secs(30 * 60),
            max_message_size: 25 * 1024 * 1024,
        }
    }
}

struct Shared {
    store: Arc<dyn Store>,
    tls: TlsSetup,
    throttle: Arc<AuthThrottle>,
    settings: ImapSettings,
}

#[derive(Clone)]
pub struct ImapServer {
    shared: Arc<Shared>,
}

impl ImapServer {
    pub fn new(
        store: Arc<dyn Store>,
        tls: TlsSetup,
        throttle: Arc<AuthThrottle>,
        settings: ImapSettings,
    ) -> ImapServer {
        ImapServer {
            shared: Arc::new(Shared {
                store,
                tls,
                throttle,
                settings,
            }),
        }
    }
}

#[async_trait]
impl Service for ImapServer {
    async fn handle(&self, conn: Connection) {
        let span = tracing::info_span!("imap", peer = %conn.peer, port = conn.local.port());
        let shared = self.shared.clone();
        async move {
            let mut s = Session {
                tls: conn.stream.tls_info(),
                starttls_offered: conn.listener.tls == TlsMode::Starttls,
                io: Some(LineIo::new(conn.stream, shared.settings.idle_timeout)),
                peer: conn.peer,
                shared,
                user: None,
                view: None,
                condstore: false,
            };
            tracing::info!(tls = s.tls.is_some(), "connect");
            let end = s.serve().await;
            if let Some(io) = s.io.as_mut() {
                let _ = io.flush().await;
            }
            tracing::info!(user = ?s.user.as_ref().map(|u| &u.address), end, "disconnect");
        }
        .instrument(span)
        .await
    }
}

/// Longest command line; literals are read apart.
const MAX_LINE: usize = 64 * 1024;
/// Largest command before login (literals included).
const MAX_UNAUTHENTICATED_COMMAND: u64 = 64 * 1024;
/// Messages whose bodies one FETCH reads per query.
const BODY_BATCH: usize = 200;
/// Largest command with its literals (APPEND included).
const MAX_COMMAND: u64 = 64 * 1024 * 1024;

/// The selected mailbox as the client knows it.
struct View {
    mailbox: Mailbox,
    read_only: bool,
    /// Index + 1 is the sequence number.
    entries: Vec<MailboxEntry>,
    changes: tokio::sync::broadcast::Receiver<estafeta_store::MailboxChange>,
}

struct Session {
    shared: Arc<Shared>,
    io: Option<LineIo>,
    peer: SocketAddr,
    tls: Option<(String, String)>,
    starttls_offered: bool,
    user: Option<User>,
    view: Option<View>,
    condstore: bool,
}

type Step = Result<bool, IoError>;

impl Session {
    fn io(&mut self) -> &mut LineIo {
        self.io
            .as_mut()
            .expect("the connection is present between commands")
    }

    fn line(&mut self, text: &str) {
        self.io().reply(text);
    }

    fn login_allowed(&self) -> bool {
        sasl::password_allowed(
            self.tls.is_some(),
            self.shared.settings.allow_plaintext_on_loopback,
            self.peer.ip(),
        )
    }

    fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev1",
            "SASL-IR",
            "LITERAL+",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "ID",
            "CHILDREN",
            "SPECIAL-USE",
            "CONDSTORE",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "STATUS=SIZE",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        caps.push(format!(
            "APPENDLIMIT={}",
            self.shared.settings.max_message_size
        ));
        if self.user.is_none() {
            if self.starttls_offered && self.tls.is_none() {
                caps.push("STARTTLS".into());
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN".into());
            } else {
                caps.push("LOGINDISABLED".into());
            }
        }
        caps.join(" ")
    }

    async fn serve(&mut self) -> &'static str {
        let greeting = format!(
            "* OK [CAPABILITY {}] estafeta IMAP ready",
            self.capabilities()
        );
        self.line(&greeting);
        loop {
            let bytes = match self.read_command().await {
                Ok(Some(b)) => b,
                Ok(None) => return "closed",
                Err(IoError::Timeout) => {
                    self.line("* BYE autologout: idle too long");
                    return "timeout";
                }
                Err(IoError::Io(_)) => return "error",
            };
            if bytes.is_empty() {
                continue; // refused while reading; already answered
            }
            let cmd = match parse_command(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    let text = format!("{} BAD {}", e.tag, e.message);
                    self.line(&text);
                    continue;
                }
            };
            match self.command(cmd).await {
                Ok(true) => {}
                Ok(false) => return "logout",
                Err(IoError::Timeout) => return "timeout",
                Err(IoError::Io(_)) => return "error",
            }
        }
    }

    /// Reads one command with its literals. `None` when the client has gone.
    async fn read_command(&mut self) -> Result<Option<Vec<u8>>, IoError> {
        let mut command = Vec::new();
        loop {
            let line = match self.io().read_line(MAX_LINE).await? {
                Line::Complete(l) => l,
                Line::TooLong => {
                    self.line("* BAD line too long");
                    return Ok(Some(Vec::new()));
                }
                Line::Closed => return Ok(None),
            };
            command.extend_from_slice(&line);
            let Some(lit) = literal_at_end(&line) else {
                return Ok(Some(command));
            };
            // before login a client gets no more than a LOGIN needs
            let cap = if self.user.is_some() {
                MAX_COMMAND
            } else {
                MAX_UNAUTHENTICATED_COMMAND
            };
            if command.len() as u64 + lit.size > cap {
                if lit.non_synchronizing {
                    self.line("* BYE literal too large");
                    return Ok(None);
                }
                let tag =
                    String::from_utf8_lossy(command.split(|&b| b == b' ').next().unwrap_or(b"*"))
                        .into_owned();
                self.line(&format!("{tag} NO [TOOBIG] literal too large"));
                return Ok(Some(Vec::new()));
            }
            if !lit.non_synchronizing {
                self.line("+ Ready for literal data");
            }
            let mut data = Vec::with_capacity(lit.size as usize);
            if !self
                .io()
                .read_chunk(lit.size as usize, Some(&mut data))
                .await?
            {
                return Ok(None);
            }
            command.extend_from_slice(&data);
        }
    }

    async fn command(&mut self, cmd: Command) -> Step {
        let tag = cmd.tag;
        let authenticated = self.user.is_some();
        let selected = self.view.is_some();
        use CommandBody as C;
        match cmd.body {
            C::Capability => {
                let caps = format!("* CAPABILITY {}", self.capabilities());
                self.line(&caps);
                self.ok(&tag, "CAPABILITY completed");
            }
            C::Noop | C::Check => {
                self.refresh().await;
                self.ok(&tag, "NOOP completed");
            }
            C::Logout => {
                self.line("* BYE logging out");
                self.ok(&tag, "LOGOUT completed");
                return Ok(false);
            }
            C::Id(_) => {
                self.line("* ID (\"name\" \"estafeta\")");
                self.ok(&tag, "ID completed");
            }
            C::StartTls if !authenticated => return self.starttls(&tag).await,
            C::Login { user, password } if !authenticated => {
                self.login(&tag, &user, &password).await
            }
            C::Authenticate { mechanism, initial } if !authenticated => {
                self.authenticate(&tag, &mechanism, initial).await?
            }
            C::Enable(caps) if authenticated => {
                let mut enabled = Vec::new();
                for c in caps {
                    if c == "CONDSTORE" {
                        self.condstore = true;
                        enabled.push(c);
                    }
                }
                self.line(format!("* ENABLED {}", enabled.join(" ")).trim_end());
                self.ok(&tag, "ENABLE completed");
            }
            C::Select {
                mailbox,
                read_only,
                condstore,
                ..
            } if authenticated => self.select(&tag, &mailbox, read_only, condstore).await,
            C::Create {
                mailbox,
                special_use,
            } if authenticated => {
                let r = self
                    .store_call(|s, u| async move {
                        s.create_mailbox(
                            u,
                            &mailbox,
                            special_use.as_deref().map(|f| f.trim_start_matches('\\')),
                        )
                        .await
                        .map(|_| ())
                    })
                    .await;
                self.done(&tag, "CREATE", r);
            }
            C::Delete(mailbox) if authenticated => {
                let r = self
                    .store_call(|s, u| async move { s.delete_mailbox(u, &mailbox).await })
                    .await;
                self.done(&tag, "DELETE", r);
            }
            C::Rename { from, to } if authenticated => {
                let r = self
                    .store_call(|s, u| async move { s.rename_mailbox(u, &from, &to).await })
                    .await;
                self.done(&tag, "RENAME", r);
            }
            C::Subscribe(mailbox) if authenticated => {
                let r = self
                    .store_call(|s, u| async move { s.set_subscribed(u, &mailbox, true).await })
                    .await;
                self.done(&tag, "SUBSCRIBE", r);
            }
            C::Unsubscribe(mailbox) if authenticated => {
                let r = self
                    .store_call(|s, u| async move { s.set_subscribed(u, &mailbox, false).await })
                    .await;
                self.done(&tag, "UNSUBSCRIBE", r);
            }
            C::List {
                reference,
                patterns,
                selection,
                returns,
            } if authenticated => {
                self.list(&tag, &reference, &patterns, &selection, &returns, false)
                    .await
            }
            C::Lsub { reference, pattern } if authenticated => {
                self.list(
                    &tag,
                    &reference,
                    &[pattern],
                    &["SUBSCRIBED".into()],
                    &[],
                    true,
                )
                .await
            }
            C::Namespace if authenticated => {
                self.line("* NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.ok(&tag, "NAMESPACE completed");
            }
            C::Status { mailbox, items } if authenticated => {
                self.status(&tag, &mailbox, &items).await
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } if authenticated => self.append(&tag, &mailbox, &flags, date, &message).await,
            C::GetQuotaRoot(mailbox) if authenticated => {
                self.line(&format!("* QUOTAROOT {} \"\"", quoted(&mailbox)));
                self.quota(&tag).await
            }
            C::GetQuota(_) if authenticated => self.quota(&tag).await,
            C::Idle if authenticated => return self.idle(&tag).await,
            C::Close | C::Unselect if selected => {
                let expunge = matches!(cmd.body, C::Close)
                    && !self.view.as_ref().is_some_and(|v| v.read_only);
                let r = if expunge {
                    self.expunge(None, false).await
                } else {
                    Ok(())
                };
                self.view = None;
                match r {
                    Ok(()) => self.ok(&tag, "done"),
                    Err(e) => self.done(&tag, "CLOSE", Err(e)),
                }
            }
            C::Expunge | C::UidExpunge(_)
                if selected && self.view.as_ref().is_some_and(|v| v.read_only) =>
            {
                self.no(&tag, "[READ-ONLY] mailbox selected with EXAMINE")
            }
            C::Expunge if selected => {
                let r = self.expunge(None, true).await;
                self.done(&tag, "EXPUNGE", r);
            }
            C::UidExpunge(set) if selected => {
                let r = self.expunge(Some(set), true).await;
                self.done(&tag, "EXPUNGE", r);
            }
            C::Search { uid, key, .. } if selected => self.search(&tag, uid, &key).await,
            C::Fetch {
                uid,
                set,
                items,
                changed_since,
                ..
            } if selected => self.fetch(&tag, uid, &set, &items, changed_since).await,
            C::Store {
                uid,
                set,
                unchanged_since,
                action,
                silent,
                flags,
            } if selected => {
                self.store_flags(&tag, uid, &set, unchanged_since, action, silent, &flags)
                    .await
            }
            C::Copy { uid, set, mailbox } if selected => {
                self.copy(&tag, uid, &set, &mailbox, false).await
            }
            C::Move { uid, set, mailbox } if selected => {
                self.copy(&tag, uid, &set, &mailbox, true).await
            }
            C::Compress(_) => self.no(&tag, "COMPRESS is not offered"),
            _ if !authenticated => self.bad(&tag, "command not allowed before login"),
            _ if !selected => self.bad(&tag, "no mailbox selected"),
            _ => self.bad(&tag, "command not allowed now"),
        }
        Ok(true)
    }

    fn ok(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} OK {text}"));
    }
    fn no(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} NO {text}"));
    }
    fn bad(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} BAD {text}"));
    }

    /// Answers a store operation: OK, or NO with the response code that fits.
    fn done(&mut self, tag: &str, what: &str, r: Result<(), StoreError>) {
        match r {
            Ok(()) => self.ok(tag, &format!("{what} completed")),
            Err(e) => {
                let code = match e {
                    StoreError::AlreadyExists(_) => "[ALREADYEXISTS] ",
                    StoreError::NotFound(_) => "[NONEXISTENT] ",
                    StoreError::OverQuota(_) => "[OVERQUOTA] ",
                    StoreError::Invalid(_) => "[CANNOT] ",
                    _ => "[SERVERBUG] ",
                };
                self.no(tag, &format!("{code}{e}"));
            }
        }
    }

    async fn store_call<F, Fut>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(Arc<dyn Store>, i64) -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>>,
    {
        let user = self.user.as_ref().map(|u| u.id).unwrap_or(0);
        f(self.shared.store.clone(), user).await
    }

    async fn starttls(&mut self, tag: &str) -> Step {
        if self.tls.is_some() || !self.starttls_offered {
            self.bad(tag, "STARTTLS not available");
            return Ok(true);
        }
        self.ok(tag, "begin TLS negotiation now");
        self.io().flush().await?;
        let io = self.io.take().expect("connection present");
        let Some(io) = io.start_tls(&self.shared.tls.acceptor).await else {
            return Ok(false);
        };
        self.tls = io.tls_info();
        self.io = Some(io);
        Ok(true)
    }

    async fn login(&mut self, tag: &str, user: &str, password: &str) {
        if !self.login_allowed() {
            self.no(tag, "[PRIVACYREQUIRED] use STARTTLS before logging in");
            return;
        }
        let ip = self.peer.ip();
        if self.shared.throttle.is_blocked(ip) {
            self.no(
                tag,
                "[UNAVAILABLE] too many failed logins from your address, try again later",
            );
            return;
        }
        match self.shared.store.authenticate(user, password).await {
            Ok(Some(u)) => {
                self.shared.throttle.succeeded(ip);
                tracing::info!(user = %u.address, "logged in");
                self.user = Some(u);
                let caps = format!("[CAPABILITY {}] logged in", self.capabilities());
                self.ok(tag, &caps);
            }
            Ok(None) => {
                let delay = self.shared.throttle.failed(ip);
                tracing::info!(username = %user, "login failed");
                let _ = self.io().flush().await;
                tokio::time::sleep(delay).await;
                self.no(tag, "[AUTHENTICATIONFAILED] invalid user name or password");
            }
            Err(e) => {
                tracing::error!(error = %e, "login lookup failed");
                self.no(tag, "[UNAVAILABLE] temporary failure, try again later");
            }
        }
    }

    async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<(), IoError> {
        if mechanism != "PLAIN" {
            self.no(tag, "[CANNOT] only AUTHENTICATE PLAIN is offered");
            return Ok(());
        }
        let response = match initial {
            Some(r) if r == "=" => String::new(),
            Some(r) => r,
            None => {
                self.line("+ ");
                match self.io().read_line(MAX_LINE).await? {
                    Line::Complete(l) => String::from_utf8_lossy(&l).trim_end().to_string(),
                    _ => "*".into(),
                }
            }
        };
        if response == "*" {
            self.bad(tag, "authentication cancelled");
            return Ok(());
        }
        match sasl::plain(&response) {
            Some(c) => self.login(tag, &c.username, &c.password).await,
            None => self.bad(tag, "cannot decode the PLAIN response"),
        }
        Ok(())
    }

    fn user_id(&self) -> i64 {
        self.user.as_ref().map(|u| u.id).unwrap_or(0)
    }

    /// The user's mailbox `name`; when there is none, or the store fails, the NO reply is
    /// sent here (`missing` is the answer for a mailbox that does not exist).
    async fn find_mailbox(&mut self, tag: &str, name: &str, missing: &str) -> Option<Mailbox> {
        match self.shared.store.get_mailbox(self.user_id(), name).await {
            Ok(Some(mb)) => Some(mb),
            Ok(None) => {
                self.no(tag, missing);
                None
            }
            Err(e) => {
                self.unavailable(tag, &e);
                None
            }
        }
    }

    /// NO [UNAVAILABLE] for a store failure, which is logged.
    fn unavailable(&mut self, tag: &str, e: &StoreError) {
        tracing::error!(error = %e, "store failure");
        self.no(tag, "[UNAVAILABLE] temporary failure, try again later");
    }

    async fn select(&mut self, tag: &str, name: &str, read_only: bool, condstore: bool) {
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
    async fn refresh(&mut self) {
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

    async fn idle(&mut self, tag: &str) -> Step {
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
    fn resolve(&self, uid: bool, set: &SequenceSet) -> Vec<usize> {
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

    async fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
    ) {
        if items
            .iter()
            .any(|i| matches!(i, FetchItem::Binary { .. } | FetchItem::BinarySize(_)))
        {
            self.bad(tag, "BINARY is not offered by this server");
            return;
        }
        let seqs = self.resolve(uid, set);
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let mailbox_id = view.mailbox.id;
        let read_only = view.read_only;
        let needs_body = items.iter().any(|i| {
            !matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
            )
        });
        // fetching a body without PEEK sets \Seen (RFC 9051 §6.4.5)
        let marks_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchItem::Rfc822
                        | FetchItem::Rfc822Text
                        | FetchItem::BodySection { peek: false, .. }
                )
            });
        let asks_flags = items.contains(&FetchItem::Flags);
        // only the header is parsed when nothing but ENVELOPE needs the message
        let header_only = items.iter().all(|i| {
            matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
                    | FetchItem::Envelope
            )
        });
        let mut seen_now = Vec::new();
        let mut bodies: std::collections::HashMap<u32, Vec<u8>> = std::collections::HashMap::new();
        for (n, seq) in seqs.iter().copied().enumerate() {
            let entry = match self.view.as_ref().and_then(|v| v.entries.get(seq - 1)) {
                Some(e) => e.clone(),
                None => continue,
            };
            if changed_since.is_some_and(|m| entry.modseq as u64 <= m) {
                continue;
            }
            if needs_body && !bodies.contains_key(&entry.uid) {
                // read ahead: the next messages of this FETCH in one query
                bodies.clear();
                let ahead: std::collections::HashSet<u32> = seqs[n..]
                    .iter()
                    .take(BODY_BATCH)
                    .filter_map(|s| {
                        self.view
                            .as_ref()
                            .and_then(|v| v.entries.get(s - 1))
                            .map(|e| e.uid)
                    })
                    .collect();
                let (first, last) = (
                    ahead.iter().min().copied().unwrap_or(entry.uid),
                    ahead.iter().max().copied().unwrap_or(entry.uid),
                );
                match self
                    .shared
                    .store
                    .read_messages(mailbox_id, first, last)
                    .await
                {
                    Ok(batch) => {
                        bodies.extend(batch.into_iter().filter(|(u, _)| ahead.contains(u)))
                    }
                    Err(e) => {
                        self.unavailable(tag, &e);
                        return;
                    }
                }
            }
            let raw = if needs_body {
                match bodies.remove(&entry.uid) {
                    Some(b) => b,
                    None => continue, // expunged meanwhile: the next refresh says so
                }
            } else {
                Vec::new()
            };
            let parsed = if needs_body && header_only {
                let end = raw
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| p + 4)
                    .unwrap_or(raw.len());
                mime::parse(&raw[..end])
            } else if needs_body {
                mime::parse(&raw)
            } else {
                None
            };
            let will_set_seen = marks_seen && !has_flag(&entry.flags, "\\Seen");
            let shown_flags = if will_set_seen {
                seen_now.push(entry.uid);
                estafeta_store::normalize_flags(entry.flags.split(' ').chain(["\\Seen"]))
            } else {
                entry.flags.clone()
            };
            let mut out = format!("* {seq} FETCH (").into_bytes();
            let mut first = true;
            for item in items {
                if !first {
                    out.push(b' ');
                }
                first = false;
                match item {
                    FetchItem::Uid => {
                        out.extend_from_slice(format!("UID {}", entry.uid).as_bytes())
                    }
                    FetchItem::Flags => out
                        .extend_from_slice(format!("FLAGS {}", flag_list(&shown_flags)).as_bytes()),
                    FetchItem::InternalDate => out.extend_from_slice(
                        format!("INTERNALDATE \"{}\"", imap_date_time(entry.internal_date))
                            .as_bytes(),
                    ),
                    FetchItem::Rfc822Size => {
                        out.extend_from_slice(format!("RFC822.SIZE {}", entry.size).as_bytes())
                    }
                    FetchItem::ModSeq => {
                        out.extend_from_slice(format!("MODSEQ ({})", entry.modseq).as_bytes())
                    }
                    FetchItem::Envelope => {
                        out.extend_from_slice(b"ENVELOPE ");
                        match &parsed {
                            Some(m) => mime::envelope(&mut out, m),
                            None => {
                                out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
                            }
                        }
                    }
                    FetchItem::Body | FetchItem::BodyStructure => {
                        let ext = matches!(item, FetchItem::BodyStructure);
                        out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                        match &parsed {
                            Some(m) => mime::body_structure(&mut out, m, 0, ext),
                            None => out.extend_from_slice(
                                b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)",
                            ),
                        }
                    }
                    FetchItem::Rfc822 => {
                        out.extend_from_slice(b"RFC822 ");
                        literal(&mut out, &raw);
                    }
                    FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                        let (name, text) = if matches!(item, FetchItem::Rfc822Header) {
                            ("RFC822.HEADER ", SectionText::Header)
                        } else {
                            ("RFC822.TEXT ", SectionText::Text)
                        };
                        out.extend_from_slice(name.as_bytes());
                        let sec = Section {
                            parts: vec![],
                            text: Some(text),
                        };
                        let bytes = parsed
                            .as_ref()
                            .and_then(|m| mime::section(m, &raw, &sec))
                            .unwrap_or_default();
                        literal(&mut out, &bytes);
                    }
                    FetchItem::BodySection {
                        section, partial, ..
                    } => {
                        let bytes = parsed
                            .as_ref()
                            .and_then(|m| mime::section(m, &raw, section));
                        out.extend_from_slice(
                            format!("BODY[{}]", section_name(section)).as_bytes(),
                        );
                        match bytes {
                            Some(b) => {
                                let b = match partial {
                                    Some((start, count)) => {
                                        out.extend_from_slice(format!("<{start}>").as_bytes());
                                        let s = (*start as usize).min(b.len());
                                        let e = s.saturating_add(*count as usize).min(b.len());
                                        b[s..e].to_vec()
                                    }
                                    None => b,
                                };
                                out.push(b' ');
                                literal(&mut out, &b);
                            }
                            None => out.extend_from_slice(b" NIL"),
                        }
                    }
                    // refused before any message was read
                    FetchItem::Binary { .. } | FetchItem::BinarySize(_) => {}
                }
            }
            if will_set_seen && !asks_flags {
                out.extend_from_slice(format!(" FLAGS {}", flag_list(&shown_flags)).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
            self.io().write(&out);
        }
        if !seen_now.is_empty() {
            let seen = ["\\Seen".to_string()];
            match self
                .shared
                .store
                .store_flags(mailbox_id, &seen_now, FlagChange::Add, &seen, None)
                .await
            {
                // our own change: note it in the view (it was just reported) and nothing else,
                // so other sessions' changes are still reported at the next refresh
                Ok(update) => {
                    if let Some(view) = self.view.as_mut() {
                        for (uid, flags) in update.changed {
                            if let Some(e) = view.entries.iter_mut().find(|e| e.uid == uid) {
                                let told = estafeta_store::normalize_flags(
                                    e.flags.split(' ').chain(["\\Seen"]),
                                );
                                // if someone else changed the flags too, keep the old MODSEQ so
                                // that the next refresh reports the message's real flags
                                if flags == told {
                                    e.modseq = update.modseq;
                                }
                                e.flags = told;
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot set \\Seen"),
            }
        }
        self.ok(tag, "FETCH completed");
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_flags(
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
        let result = self
            .shared
            .store
            .store_flags(
                mailbox_id,
                &uids,
                change,
                flags,
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
            for (u, new_flags) in &update.changed {
                if let Some(i) = view.entries.iter().position(|e| e.uid == *u) {
                    view.entries[i].flags = new_flags.clone();
                    view.entries[i].modseq = update.modseq;
                    if !silent || unchanged_since.is_some() {
                        let uid_part = if uid {
                            format!("UID {u} ")
                        } else {
                            String::new()
                        };
                        let modseq = if self.condstore || unchanged_since.is_some() {
                            format!(" MODSEQ ({})", update.modseq)
                        } else {
                            String::new()
                        };
                        lines.push(format!(
                            "* {} FETCH ({uid_part}FLAGS {}{modseq})",
                            i + 1,
                            flag_list(new_flags)
                        ));
                    }
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

    async fn copy(&mut self, tag: &str, uid: bool, set: &SequenceSet, target: &str, is_move: bool) {
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
                    self.refresh().await;
                    self.ok(tag, "MOVE completed");
                } else {
                    self.ok(tag, &format!("{code} COPY completed"));
                }
            }
            Err(e) => self.done(tag, if is_move { "MOVE" } else { "COPY" }, Err(e)),
        }
    }

    /// Removes \Deleted messages (all, or those of `set`); `report` sends EXPUNGE lines.
    /// Only messages that still carry \Deleted in the store go, whatever this view saw.
    async fn expunge(&mut self, set: Option<SequenceSet>, report: bool) -> Result<(), StoreError> {
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

    async fn search(&mut self, tag: &str, uid: bool, key: &SearchKey) {
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let entries = view.entries.clone();
        let mailbox_id = view.mailbox.id;
        let largest_uid = entries.last().map(|e| e.uid).unwrap_or(0);
        let needs_body = search::needs_message(key);
        let mut hits = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let raw = if needs_body {
                match self.shared.store.read_message(mailbox_id, e.uid).await {
                    Ok(Some(raw)) => raw,
                    Ok(None) => continue, // expunged meanwhile: no match
                    Err(e) => {
                        self.unavailable(tag, &e);
                        return;
                    }
                }
            } else {
                Vec::new()
            };
            let parsed = if needs_body { mime::parse(&raw) } else { None };
            let ctx = search::Context {
                seq: i as u32 + 1,
                count: entries.len() as u32,
                largest_uid,
                entry: e,
                message: parsed.as_ref(),
            };
            if search::matches(key, &ctx) {
                hits.push(if uid { e.uid } else { i as u32 + 1 });
            }
        }
        let list: Vec<String> = hits.iter().map(u32::to_string).collect();
        let line = if list.is_empty() {
            "* SEARCH".to_string()
        } else {
            format!("* SEARCH {}", list.join(" "))
        };
        self.line(&line);
        self.ok(tag, "SEARCH completed");
    }

    async fn list(
        &mut self,
        tag: &str,
        reference: &str,
        patterns: &[String],
        selection: &[String],
        returns: &[ListReturn],
        lsub: bool,
    ) {
        let store = self.shared.store.clone();
        let Ok(boxes) = store.list_mailboxes(self.user_id()).await else {
            self.no(tag, "[UNAVAILABLE] try again later");
            return;
        };
        if patterns.len() == 1 && patterns[0].is_empty() {
            self.line("* LIST (\\Noselect) \"/\" \"\"");
            self.ok(tag, "LIST completed");
            return;
        }
        let subscribed_only = selection.iter().any(|s| s == "SUBSCRIBED");
        let word = if lsub { "LSUB" } else { "LIST" };
        for mb in &boxes {
            if !patterns
                .iter()
                .any(|p| matches_pattern(&format!("{reference}{p}"), &mb.name))
            {
                continue;
            }
            if subscribed_only && !mb.subscribed {
                continue;
            }
            let mut attrs = Vec::new();
            let has_children = boxes
                .iter()
                .any(|o| o.name.starts_with(&format!("{}/", mb.name)));
            attrs.push(
                if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .to_string(),
            );
            if mb.subscribed && (subscribed_only || returns.contains(&ListReturn::Subscribed)) {
                attrs.push("\\Subscribed".into());
            }
            if let Some(role) = &mb.special_use {
                attrs.push(format!("\\{role}"));
            }
            let attrs = attrs.join(" ");
            self.line(&format!("* {word} ({attrs}) \"/\" {}", quoted(&mb.name)));
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

    async fn status_line(&self, mb: &Mailbox, items: &[StatusItem]) -> Result<String, StoreError> {
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
                        .filter(|e| !has_flag(&e.flags, "\\Seen"))
                        .count()
                ),
                StatusItem::Deleted => format!(
                    "DELETED {}",
                    entries
                        .iter()
                        .filter(|e| has_flag(&e.flags, "\\Deleted"))
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

    async fn status(&mut self, tag: &str, name: &str, items: &[StatusItem]) {
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

    async fn append(
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
        let flags = estafeta_store::normalize_flags(flags.iter().map(String::as_str));
        match self.shared.store.append(mb.id, message, &flags, date).await {
            Ok(d) => {
                self.refresh().await;
                self.ok(
                    tag,
                    &format!("[APPENDUID {} {}] APPEND completed", mb.uidvalidity, d.uid),
                );
            }
            Err(e) => self.done(tag, "APPEND", Err(e)),
        }
    }

    async fn quota(&mut self, tag: &str) {
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

fn has_flag(flags: &str, flag: &str) -> bool {
    flags.split(' ').any(|f| f.eq_ignore_ascii_case(flag))
}

fn quoted(s: &str) -> String {
    let mut out = Vec::new();
    string(&mut out, s.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

fn section_name(s: &Section) -> String {
    let mut parts: Vec<String> = s.parts.iter().map(u32::to_string).collect();
    match &s.text {
        Some(SectionText::Header) => parts.push("HEADER".into()),
        Some(SectionText::Text) => parts.push("TEXT".into()),
        Some(SectionText::Mime) => parts.push("MIME".into()),
        Some(SectionText::HeaderFields { not, fields }) => {
            let name = if *not {
                "HEADER.FIELDS.NOT"
            } else {
                "HEADER.FIELDS"
            };
            parts.push(format!(
                "{name} ({})",
                fields
                    .iter()
                    .map(|f| quoted(f))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        None => {}
    }
    parts.join(".")
}

/// `%` matches within one level, `*` across levels (RFC 9051 §6.3.9).
fn matches_pattern(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some(b'%') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| go(&p[1..], &n[i..])),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let inbox_fix = |s: &str| {
        if s.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            s.to_string()
        }
    };
    go(inbox_fix(pattern).as_bytes(), name.as_bytes())
}

/// `23-Nov-2026 14:08:21 +0000`
fn imap_date_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = estafeta_net::dates::civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{:02}-{}-{y} {:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_dates() {
        assert!(matches_pattern("*", "Work/2026"));
        assert!(!matches_pattern("%", "Work/2026"));
        assert!(matches_pattern("Work/%", "Work/2026"));
        assert!(matches_pattern("inbox", "INBOX"));
        assert!(matches_pattern("S%", "Sent"));
        assert_eq!(imap_date_time(1_795_442_901), "23-Nov-2026 14:08:21 +0000");
    }
}
