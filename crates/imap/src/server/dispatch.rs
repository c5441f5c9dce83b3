//! The session's command loop: reading a command with its literals, dispatching it by
//! state, and the tagged replies every command shares.

use super::*;

impl Session {
    pub(super) fn io(&mut self) -> &mut LineIo {
        self.io
            .as_mut()
            .expect("the connection is present between commands")
    }

    pub(super) fn line(&mut self, text: &str) {
        self.io().reply(text);
    }

    pub(super) fn login_allowed(&self) -> bool {
        sasl::password_allowed(
            self.tls.is_some(),
            self.shared.settings.allow_plaintext_on_loopback,
            self.peer.ip(),
        )
    }

    pub(super) fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev2",
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
            "CREATE-SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "CONDSTORE",
            "QRESYNC",
            "ESEARCH",
            "BINARY",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "STATUS=SIZE",
            "OBJECTID",
            "PREVIEW",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "SEARCHRES",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "UIDONLY",
            "SAVEDATE",
            "METADATA",
            "METADATA-SERVER",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if !self.io.as_ref().is_some_and(|io| io.is_compressed()) {
            caps.push("COMPRESS=DEFLATE".into());
        }
        caps.push(format!(
            "APPENDLIMIT={}",
            self.shared.settings.max_message_size
        ));
        if self.user.is_some() {
            // RFC 5465: NOTIFY is for authenticated sessions
            caps.push("NOTIFY".into());
        }
        if self.user.is_none() {
            if self.starttls_offered && self.tls.is_none() {
                caps.push("STARTTLS".into());
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN".into());
                caps.push("AUTH=SCRAM-SHA-256".into());
                // -PLUS only where there is a channel binding: TLS 1.3
                if self
                    .io
                    .as_ref()
                    .is_some_and(|io| io.tls_exporter().is_some())
                {
                    caps.push("AUTH=SCRAM-SHA-256-PLUS".into());
                }
            } else {
                caps.push("LOGINDISABLED".into());
            }
        }
        caps.join(" ")
    }

    pub(super) async fn serve(&mut self) -> &'static str {
        let greeting = format!(
            "* OK [CAPABILITY {}] estafeta IMAP ready",
            self.capabilities()
        );
        self.line(&greeting);
        loop {
            // with NOTIFY set, changes are told while the next command is awaited
            if self.notify.is_some() {
                match self.await_command().await {
                    Ok(()) => {}
                    Err(IoError::Timeout) => {
                        self.line("* BYE autologout: idle too long");
                        return "timeout";
                    }
                    Err(IoError::Io(_)) => return "error",
                }
            }
            let bytes = match self.read_command().await {
                Ok(Input::Command(b)) => Some(b),
                Ok(Input::Refused) => None,
                Ok(Input::End(why)) => return why,
                Err(IoError::Timeout) => {
                    self.line("* BYE autologout: idle too long");
                    return "timeout";
                }
                Err(IoError::Io(_)) => return "error",
            };
            if self.user.is_none() && !self.shared.commands.spend(self.peer.ip()) {
                tracing::info!("too many commands before login: disconnecting");
                self.line("* BYE [UNAVAILABLE] too many commands, try again later");
                return "too many commands";
            }
            if let Some(bytes) = bytes {
                match parse_command(&bytes) {
                    Ok(cmd) => match self.command(cmd).await {
                        Ok(true) => {}
                        Ok(false) => return self.ended.take().unwrap_or("logout"),
                        Err(IoError::Timeout) => return "timeout",
                        Err(IoError::Io(_)) => return "error",
                    },
                    Err(e) => {
                        // RFC 5182 §2.1: a SEARCH with SAVE answered BAD empties `$`
                        if searchres::saves(&bytes) {
                            self.forget_result();
                        }
                        self.bad(&e.tag, &e.message)
                    }
                }
            }
            if self.bad_commands >= self.shared.settings.max_bad_commands {
                tracing::info!(bad = self.bad_commands, "too many invalid commands");
                self.line("* BYE Too many invalid commands");
                return "too many invalid commands";
            }
        }
    }

    pub(super) async fn command(&mut self, mut cmd: Command) -> Step {
        // before `$` is filled in: the saved result is not a use of sequence numbers
        if self.uidonly && uses_sequence_numbers(&cmd.body) {
            self.bad(
                &cmd.tag,
                "[UIDREQUIRED] message sequence numbers are off (UIDONLY): use UID commands",
            );
            return Ok(true);
        }
        self.fill_saved(&mut cmd.body);
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
                self.refresh(true).await;
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
                return self.authenticate(&tag, &mechanism, initial).await;
            }
            C::Enable(caps) if authenticated => {
                let mut enabled = Vec::new();
                for c in caps {
                    let c = c.to_ascii_uppercase();
                    let newly = match c.as_str() {
                        "CONDSTORE" => !std::mem::replace(&mut self.condstore, true),
                        "QRESYNC" => {
                            self.condstore = true;
                            !std::mem::replace(&mut self.qresync, true)
                        }
                        "IMAP4REV2" => !std::mem::replace(&mut self.rev2, true),
                        "UIDONLY" => !std::mem::replace(&mut self.uidonly, true),
                        _ => false,
                    };
                    if newly {
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
                qresync,
            } if authenticated => {
                self.select(&tag, &mailbox, read_only, condstore, qresync)
                    .await
            }
            C::Create {
                mailbox,
                special_use,
            } if authenticated => {
                // RFC 9051 §6.3.4: a trailing separator declares a parent-to-be; the name
                // is created without it
                let mailbox = match mailbox.strip_suffix('/') {
                    Some(name) if !name.is_empty() => name.to_string(),
                    _ => mailbox,
                };
                let role = match super::folders::role_to_create(&special_use) {
                    Ok(role) => role,
                    Err(why) => {
                        self.no(&tag, &format!("[USEATTR] {why}"));
                        return Ok(true);
                    }
                };
                let r = self
                    .store_call(|s, u| async move { s.create_mailbox(u, &mailbox, role).await })
                    .await;
                match r {
                    // OBJECTID (RFC 8474 §4): the new mailbox's id
                    Ok(mb) => self.ok(
                        &tag,
                        &format!(
                            "[MAILBOXID ({})] CREATE completed",
                            super::folders::mailbox_id(&mb)
                        ),
                    ),
                    Err(e) => self.done(&tag, "CREATE", Err(e)),
                }
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
                self.unselect();
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
            C::Search { charset, .. }
                if selected
                    && charset
                        .as_deref()
                        .is_some_and(|c| c != "UTF-8" && c != "US-ASCII") =>
            {
                self.no(&tag, "[BADCHARSET (UTF-8 US-ASCII)] only UTF-8 is searched")
            }
            C::Sort { charset, .. } if selected && charset != "UTF-8" && charset != "US-ASCII" => {
                self.no(&tag, "[BADCHARSET (UTF-8 US-ASCII)] only UTF-8 is searched")
            }
            C::Sort {
                uid,
                returns,
                criteria,
                key,
                ..
            } if selected => {
                self.refresh(uid).await;
                self.sort(&tag, uid, returns.as_deref(), &criteria, &key)
                    .await
            }
            C::Thread { charset, .. }
                if selected && charset != "UTF-8" && charset != "US-ASCII" =>
            {
                self.no(&tag, "[BADCHARSET (UTF-8 US-ASCII)] only UTF-8 is searched")
            }
            C::Thread {
                uid,
                algorithm,
                key,
                ..
            } if selected => {
                self.refresh(uid).await;
                self.thread(&tag, uid, algorithm, &key).await
            }
            C::Search {
                uid, returns, key, ..
            } if selected => {
                self.refresh(uid).await;
                self.search(&tag, uid, returns.as_deref(), &key).await
            }
            C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } if selected => {
                self.refresh(uid).await;
                self.fetch(&tag, uid, &set, &items, changed_since, vanished)
                    .await;
                // a large message could not be sent whole: the session cannot go on
                if self.ended.is_some() {
                    return Ok(false);
                }
            }
            C::Store {
                uid,
                set,
                unchanged_since,
                action,
                silent,
                flags,
            } if selected => {
                self.refresh(uid).await;
                self.store_flags(&tag, uid, &set, unchanged_since, action, silent, &flags)
                    .await
            }
            C::Copy { uid, set, mailbox } if selected => {
                self.refresh(uid).await;
                self.copy(&tag, uid, &set, &mailbox, false).await
            }
            C::Move { uid, set, mailbox } if selected => {
                self.copy(&tag, uid, &set, &mailbox, true).await
            }
            C::GetMetadata {
                mailbox,
                entries,
                max_size,
                depth,
            } if authenticated => {
                self.get_metadata(&tag, &mailbox, &entries, max_size, depth)
                    .await
            }
            C::SetMetadata { mailbox, entries } if authenticated => {
                self.set_metadata(&tag, &mailbox, entries).await
            }
            C::Notify(set) if authenticated => self.notify_command(&tag, set).await,
            C::Compress(mechanism) if authenticated => {
                return self.compress(&tag, &mechanism).await;
            }
            _ if !authenticated => self.bad(&tag, "command not allowed before login"),
            _ if !selected => self.bad(&tag, "no mailbox selected"),
            _ => self.bad(&tag, "command not allowed now"),
        }
        Ok(true)
    }

    pub(super) fn ok(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} OK {text}"));
    }
    pub(super) fn no(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} NO {text}"));
    }
    /// A `BAD` reply; counted against `max_bad_commands`.
    pub(super) fn bad(&mut self, tag: &str, text: &str) {
        self.bad_commands += 1;
        self.line(&format!("{tag} BAD {text}"));
    }

    /// Answers a store operation: OK, or NO with the response code that fits.
    pub(super) fn done(&mut self, tag: &str, what: &str, r: Result<(), StoreError>) {
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

    pub(super) async fn store_call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<dyn Store>, i64) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let user = self.user.as_ref().map(|u| u.id).unwrap_or(0);
        f(self.shared.store.clone(), user).await
    }

    pub(super) fn user_id(&self) -> i64 {
        self.user.as_ref().map(|u| u.id).unwrap_or(0)
    }

    /// The user's mailbox `name`; when there is none, or the store fails, the NO reply is
    /// sent here (`missing` is the answer for a mailbox that does not exist).
    pub(super) async fn find_mailbox(
        &mut self,
        tag: &str,
        name: &str,
        missing: &str,
    ) -> Option<Mailbox> {
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
    pub(super) fn unavailable(&mut self, tag: &str, e: &StoreError) {
        tracing::error!(error = %e, "store failure");
        self.no(tag, "[UNAVAILABLE] temporary failure, try again later");
    }
}

pub(super) fn quoted(s: &str) -> String {
    let mut out = Vec::new();
    string(&mut out, s.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a command names messages by sequence number (refused after ENABLE UIDONLY,
/// RFC 9586 §3): FETCH, STORE, COPY, MOVE, SEARCH, SORT and THREAD without UID, and a
/// sequence-set search key anywhere in a search.
fn uses_sequence_numbers(body: &CommandBody) -> bool {
    use CommandBody as C;
    let key = match body {
        C::Fetch { uid, .. } | C::Store { uid, .. } | C::Copy { uid, .. } | C::Move { uid, .. } => {
            return !uid;
        }
        C::Search { uid, key, .. } | C::Sort { uid, key, .. } | C::Thread { uid, key, .. } => {
            if !uid {
                return true;
            }
            key
        }
        _ => return false,
    };
    // without recursion: the parser bounds the depth, this does not rely on it
    let mut stack = vec![key];
    while let Some(k) = stack.pop() {
        match k {
            SearchKey::SequenceSet(set) if !set.is_saved() => return true,
            SearchKey::And(keys) => stack.extend(keys),
            SearchKey::Or(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            SearchKey::Not(k) => stack.push(k),
            _ => {}
        }
    }
    false
}
