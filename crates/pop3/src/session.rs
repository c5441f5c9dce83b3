//! One POP3 connection: the AUTHORIZATION, TRANSACTION and UPDATE states of RFC 1939.
//! The maildrop is the user's INBOX as it was at login; DELE only marks, and marked
//! messages (plus, for users who do not keep mail, retrieved ones) are removed at QUIT —
//! a dropped connection removes nothing.
//!
//! Bounds of a session (see `input` for how lines are read):
//! - a command line holds [`MAX_COMMAND_LINE`] octets (RFC 2449 §4), an `AUTH` line or a
//!   SASL response [`MAX_AUTH_LINE`]. A line of up to `MAX_AUTH_LINE` that is too long for
//!   what it is gets `-ERR line too long` and the session goes on; a longer one is not
//!   read to its end: `-ERR line too long` (or, for a SASL response, `-ERR
//!   authentication response too long`) and the connection is closed;
//! - a line must arrive within `command_timeout` of its first octet, or the client gets
//!   `-ERR command not received in time` and is disconnected;
//! - after `max_errors` `-ERR` replies (failed logins included): `-ERR too many errors,
//!   closing` and disconnect;
//! - before login, `pop3.unauthenticated_commands_per_minute` commands per client over all
//!   its sessions: then `-ERR [SYS/TEMP] too many commands, try again later` and
//!   disconnect.

use std::net::SocketAddr;
use std::sync::Arc;

use estafeta_config::ListenerTls;
use estafeta_net::{Connection, IoError, LineIo, sasl};
use estafeta_store::User;
use tracing::Instrument;

use crate::command::{Command, parse};
use crate::input::{self, Got};
use crate::{MaildropLock, Pop3State};
use estafeta_net::login::{Gate, Login};
use estafeta_net::sasl::{Failure, Mechanism, Step};

const BLOCKED: &str = "-ERR [AUTH] too many failed logins from your address, try again later";
const UNAVAILABLE: &str = "-ERR [SYS/TEMP] temporary failure, try again later";

/// RFC 2449 §4: 255 octets for a command line; SASL responses may be longer.
const MAX_COMMAND_LINE: usize = 255;
const MAX_AUTH_LINE: usize = 12 * 1024;

pub async fn run(shared: Arc<Pop3State>, conn: Connection) {
    let span = tracing::info_span!("pop3", peer = %conn.peer, port = conn.local.port());
    async move {
        let _slot = conn.slot;
        let mut s = Session {
            tls: conn.stream.tls_info(),
            starttls_offered: conn.listener.tls == ListenerTls::Starttls,
            io: Some(LineIo::new(conn.stream, shared.idle_timeout)),
            peer: conn.peer,
            shared,
            user_name: None,
            drop: None,
            errors: 0,
            ended: None,
        };
        tracing::info!(tls = s.tls.is_some(), "connect");
        let outcome = s.serve().await;
        if let Some(io) = s.io.as_mut() {
            let _ = io.flush().await;
        }
        tracing::info!(user = ?s.drop.as_ref().map(|d| &d.user.address), ?outcome, "disconnect");
    }
    .instrument(span)
    .await
}

struct Message {
    uid: u32,
    size: i64,
    deleted: bool,
    retrieved: bool,
}

/// The TRANSACTION state: who, which mailbox, and the messages as numbered at login.
struct Maildrop {
    user: User,
    mailbox_id: i64,
    uidvalidity: u32,
    messages: Vec<Message>,
    _lock: MaildropLock,
}

impl Maildrop {
    fn live(&self) -> impl Iterator<Item = (usize, &Message)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (i + 1, m))
    }

    fn totals(&self) -> (usize, i64) {
        self.live()
            .fold((0, 0), |(n, size), (_, m)| (n + 1, size + m.size))
    }

    fn uidl(&self, m: &Message) -> String {
        // Stable across sessions and the same message over IMAP: UID and UIDVALIDITY.
        format!("{:08X}{:08X}", m.uid, self.uidvalidity)
    }

    /// The message numbered `n`, or the reply that says why not.
    fn get(&self, n: u32) -> Result<&Message, String> {
        match self.messages.get((n as usize).wrapping_sub(1)) {
            None => Err(format!("-ERR no message {n}")),
            Some(m) if m.deleted => Err(format!("-ERR message {n} is deleted")),
            Some(m) => Ok(m),
        }
    }
}

#[derive(Debug)]
enum Ending {
    Quit,
    Closed,
    Timeout,
    TooSlow,
    TooLong,
    TooManyErrors,
    TooManyCommands,
    Error,
}

struct Session {
    shared: Arc<Pop3State>,
    io: Option<LineIo>,
    peer: SocketAddr,
    tls: Option<(String, String)>,
    starttls_offered: bool,
    user_name: Option<String>,
    drop: Option<Maildrop>,
    errors: u32,
    /// Why a command ended the session, when it was not QUIT.
    ended: Option<Ending>,
}

impl Session {
    /// One line of at most [`MAX_AUTH_LINE`] octets, within the session's timeouts.
    async fn read_line(&mut self) -> Result<Got, IoError> {
        let (idle, budget) = (self.shared.idle_timeout, self.shared.command_timeout);
        input::read_line(self.io(), MAX_AUTH_LINE, idle, budget).await
    }

    fn io(&mut self) -> &mut LineIo {
        self.io
            .as_mut()
            .expect("the connection is present between commands")
    }

    fn say(&mut self, line: &str) {
        if line.starts_with("-ERR") {
            self.errors += 1;
        }
        self.io().reply(line);
    }

    fn login_allowed(&self) -> bool {
        sasl::password_allowed(
            self.tls.is_some(),
            self.shared.allow_plaintext_on_loopback,
            self.peer.ip(),
        )
    }

    async fn serve(&mut self) -> Ending {
        self.io().reply("+OK estafeta POP3 server ready");
        loop {
            let line = match self.read_line().await {
                Ok(Got::Line(l)) => l,
                Ok(Got::TooLong) => {
                    // the rest of the line is still coming: not worth reading
                    self.say("-ERR line too long");
                    return Ending::TooLong;
                }
                Ok(Got::Late) => {
                    self.say("-ERR command not received in time");
                    return Ending::TooSlow;
                }
                Ok(Got::Closed) => return Ending::Closed,
                Err(IoError::Timeout) => return Ending::Timeout,
                Err(IoError::Io(_)) => return Ending::Error,
            };
            if self.drop.is_none() && !self.shared.commands.spend(self.peer.ip()) {
                tracing::info!("too many commands before login: disconnecting");
                self.io()
                    .reply("-ERR [SYS/TEMP] too many commands, try again later");
                return Ending::TooManyCommands;
            }
            let is_auth = line
                .get(..4)
                .is_some_and(|k| k.eq_ignore_ascii_case(b"AUTH"));
            let step = if line.len() > MAX_COMMAND_LINE && !is_auth {
                self.say("-ERR line too long");
                Ok(true)
            } else {
                match parse(&line) {
                    Ok(cmd) => self.command(cmd).await,
                    Err(e) => {
                        self.say(&e.reply());
                        Ok(true)
                    }
                }
            };
            match step {
                Ok(true) => {}
                Ok(false) => return self.ended.take().unwrap_or(Ending::Quit),
                Err(IoError::Timeout) => return Ending::Timeout,
                Err(IoError::Io(_)) => return Ending::Error,
            }
            if self.errors >= self.shared.max_errors {
                self.io().reply("-ERR too many errors, closing");
                return Ending::TooManyErrors;
            }
        }
    }

    /// Runs one command; false ends the session.
    async fn command(&mut self, cmd: Command) -> Result<bool, IoError> {
        let in_transaction = self.drop.is_some();
        match (cmd, in_transaction) {
            (Command::Capa, _) => self.capa(),
            (Command::Quit, false) => {
                self.say("+OK bye");
                return Ok(false);
            }
            (Command::Quit, true) => {
                self.update().await;
                return Ok(false);
            }
            (Command::Noop, true) => self.say("+OK"),
            (Command::Stls, false) => return self.stls().await,
            (Command::User(name), false) => self.user(name),
            (Command::Pass(password), false) => self.pass(password).await,
            (Command::Auth { mechanism, initial }, false) => {
                return self.auth(mechanism, initial).await;
            }
            (Command::Stat, true) => self.stat(),
            (Command::List(n), true) => self.list(n, false),
            (Command::Uidl(n), true) => self.list(n, true),
            (Command::Retr(n), true) => self.retr(n, None).await,
            (Command::Top(n, lines), true) => self.retr(n, Some(lines)).await,
            (Command::Dele(n), true) => self.dele(n),
            (Command::Rset, true) => self.rset(),
            (_, false) => self.say("-ERR not allowed before login"),
            (_, true) => self.say("-ERR not allowed after login"),
        }
        Ok(true)
    }

    fn capa(&mut self) {
        let mut lines = vec![
            "+OK capability list follows",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
        ];
        if self.drop.is_none() {
            if self.starttls_offered && self.tls.is_none() {
                lines.push("STLS");
            }
            if self.login_allowed() {
                lines.push("USER");
                // -PLUS only where there is a channel binding: TLS 1.3
                lines.push(if self.io().tls_exporter().is_some() {
                    "SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS"
                } else {
                    "SASL PLAIN SCRAM-SHA-256"
                });
            }
        }
        // RFC 2449 §6.7: say whether retrieved mail stays on the server for this user.
        let expire = self.drop.as_ref().map(|d| {
            if d.user.pop3_keep {
                "EXPIRE NEVER"
            } else {
                "EXPIRE 0"
            }
        });
        if let Some(e) = expire {
            lines.push(e);
        }
        lines.push("IMPLEMENTATION estafeta");
        lines.push(".");
        for l in lines {
            self.io().reply(l);
        }
    }

    async fn stls(&mut self) -> Result<bool, IoError> {
        if self.tls.is_some() || !self.starttls_offered {
            self.say("-ERR STLS not available");
            return Ok(true);
        }
        let io = self.io.take().expect("connection present");
        let go_ahead = "+OK begin TLS negotiation";
        let Some(io) = io.start_tls(go_ahead, &self.shared.tls.acceptor).await else {
            return Ok(false);
        };
        self.tls = io.tls_info();
        self.io = Some(io);
        self.user_name = None;
        Ok(true)
    }

    fn user(&mut self, name: String) {
        if !self.login_allowed() {
            self.say("-ERR [AUTH] plaintext login is not allowed without TLS: use STLS first");
            return;
        }
        self.user_name = Some(name);
        self.say("+OK send PASS");
    }

    /// PASS: checks the password through the throttle, then opens the maildrop.
    async fn pass(&mut self, password: String) {
        let Some(name) = self.user_name.take() else {
            self.say("-ERR send USER first");
            return;
        };
        let shared = self.shared.clone();
        let gate = Gate::new(&*shared.store, &shared.throttle, self.peer.ip());
        match gate.password(&name, &password).await {
            Login::LoggedIn(user) => self.logged_in(user).await,
            Login::Blocked => self.say(BLOCKED),
            Login::Refused { delay } => self.refused(delay).await,
            Login::Unavailable => self.say(UNAVAILABLE),
        }
    }

    /// AUTH (PLAIN, SCRAM-SHA-256, SCRAM-SHA-256-PLUS): `net`'s exchange with `+ `
    /// challenges; false when the session is over.
    async fn auth(&mut self, mechanism: String, initial: Option<String>) -> Result<bool, IoError> {
        let binding = self.io().tls_exporter();
        if mechanism.is_empty() {
            self.io().reply("+OK");
            if self.login_allowed() {
                self.io().reply("PLAIN");
                self.io().reply("SCRAM-SHA-256");
                if binding.is_some() {
                    self.io().reply("SCRAM-SHA-256-PLUS");
                }
            }
            self.io().reply(".");
            return Ok(true);
        }
        if !self.login_allowed() {
            self.say("-ERR [AUTH] authentication is not allowed without TLS: use STLS first");
            return Ok(true);
        }
        let Some(mechanism) = Mechanism::from_name(&mechanism).filter(|m| *m != Mechanism::Login)
        else {
            self.say("-ERR unsupported mechanism: use PLAIN or SCRAM-SHA-256");
            return Ok(true);
        };
        let shared = self.shared.clone();
        let gate = Gate::new(&*shared.store, &shared.throttle, self.peer.ip());
        let (mut exchange, mut step) =
            sasl::Exchange::start(gate, mechanism, binding, initial.as_deref()).await;
        loop {
            step = match step {
                Step::Challenge(challenge) => {
                    match self.sasl_response(&format!("+ {challenge}")).await? {
                        Some(response) => exchange.respond(&response).await,
                        None => return Ok(false),
                    }
                }
                Step::Done(user) => {
                    tracing::info!(user = %user.address, mechanism = mechanism.name(), "authenticated");
                    self.logged_in(user).await;
                    return Ok(true);
                }
                Step::Failed(failure) => {
                    self.auth_failed(mechanism, failure).await;
                    return Ok(true);
                }
            }
        }
    }

    async fn auth_failed(&mut self, mechanism: Mechanism, failure: Failure) {
        let reply = match failure {
            Failure::NotOffered => "-ERR SCRAM-SHA-256-PLUS needs a TLS 1.3 connection",
            Failure::Blocked => BLOCKED,
            Failure::Cancelled => "-ERR authentication cancelled",
            Failure::TooLong => "-ERR authentication response too long",
            Failure::Malformed if mechanism.is_scram() => {
                "-ERR [AUTH] cannot decode the SCRAM message"
            }
            Failure::Malformed => "-ERR [AUTH] cannot decode the PLAIN response",
            Failure::AuthzidRefused => "-ERR [AUTH] authorization identity must be the user's own",
            Failure::Unsupported => "-ERR [AUTH] unsupported SCRAM extension",
            Failure::NotEmpty => "-ERR expected an empty response",
            Failure::Unavailable => UNAVAILABLE,
            Failure::Refused { delay } => return self.refused(delay).await,
        };
        self.say(reply);
    }

    /// A wrong password: the reply waits the throttle's delay, earlier replies do not.
    async fn refused(&mut self, delay: std::time::Duration) {
        let _ = self.io().flush().await;
        tokio::time::sleep(delay).await;
        self.say("-ERR [AUTH] invalid user name or password");
    }

    /// Sends a SASL challenge and reads the response line; `None` when the session is
    /// over (closed, too long, too slow: already answered).
    async fn sasl_response(&mut self, challenge: &str) -> Result<Option<String>, IoError> {
        self.io().reply(challenge);
        Ok(match self.read_line().await? {
            Got::Line(l) => Some(String::from_utf8_lossy(&l).trim_end().to_string()),
            Got::Closed => {
                self.ended = Some(Ending::Closed);
                None
            }
            Got::TooLong => {
                self.say("-ERR authentication response too long");
                self.ended = Some(Ending::TooLong);
                None
            }
            Got::Late => {
                self.say("-ERR command not received in time");
                self.ended = Some(Ending::TooSlow);
                None
            }
        })
    }

    /// After a successful login: takes the maildrop lock and numbers the messages.
    async fn logged_in(&mut self, user: User) {
        let Some(lock) = self.shared.lock(user.id) else {
            tracing::info!(user = %user.address, "maildrop in use");
            self.say("-ERR [IN-USE] the maildrop is already open in another POP3 session");
            return;
        };
        match self.open_maildrop(user, lock).await {
            Ok(drop) => {
                let (n, size) = drop.totals();
                tracing::info!(user = %drop.user.address, messages = n, "logged in");
                self.drop = Some(drop);
                self.say(&format!("+OK {n} messages ({size} octets)"));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot open maildrop");
                self.say("-ERR [SYS/TEMP] cannot open the maildrop, try again later");
            }
        }
    }

    async fn open_maildrop(
        &self,
        user: User,
        lock: MaildropLock,
    ) -> Result<Maildrop, estafeta_store::StoreError> {
        let store = &self.shared.store;
        let inbox = store.get_mailbox(user.id, "INBOX").await?.ok_or_else(|| {
            estafeta_store::StoreError::NotFound(format!("{} has no INBOX", user.address))
        })?;
        let messages = store
            .list_messages(inbox.id)
            .await?
            .into_iter()
            .map(|e| Message {
                uid: e.uid,
                size: e.size,
                deleted: false,
                retrieved: false,
            })
            .collect();
        Ok(Maildrop {
            user,
            mailbox_id: inbox.id,
            uidvalidity: inbox.uidvalidity,
            messages,
            _lock: lock,
        })
    }

    fn maildrop(&self) -> &Maildrop {
        self.drop.as_ref().expect("in the TRANSACTION state")
    }

    fn stat(&mut self) {
        let (n, size) = self.maildrop().totals();
        self.say(&format!("+OK {n} {size}"));
    }

    fn list(&mut self, which: Option<u32>, uidl: bool) {
        let drop = self.maildrop();
        let show = |n: usize, m: &Message| {
            if uidl {
                format!("{n} {}", drop.uidl(m))
            } else {
                format!("{n} {}", m.size)
            }
        };
        let lines: Result<Vec<String>, String> = match which {
            Some(n) => drop
                .get(n)
                .map(|m| vec![format!("+OK {}", show(n as usize, m))]),
            None => {
                let (count, size) = drop.totals();
                let mut lines = vec![format!("+OK {count} messages ({size} octets)")];
                lines.extend(drop.live().map(|(n, m)| show(n, m)));
                lines.push(".".to_string());
                Ok(lines)
            }
        };
        match lines {
            Ok(lines) => {
                for l in lines {
                    self.io().reply(&l);
                }
            }
            Err(e) => self.say(&e),
        }
    }

    /// RETR (`top` = None) or TOP: the message, dot-stuffed, ending with ".".
    async fn retr(&mut self, n: u32, top: Option<u32>) {
        let (mailbox_id, uid) = match self.maildrop().get(n) {
            Ok(m) => (self.maildrop().mailbox_id, m.uid),
            Err(e) => {
                self.say(&e);
                return;
            }
        };
        let bytes = match self.shared.store.read_message(mailbox_id, uid).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.say(&format!("-ERR message {n} was removed by another session"));
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read message");
                self.say("-ERR [SYS/TEMP] cannot read the message, try again later");
                return;
            }
        };
        let wire = match top {
            None => {
                if let Some(d) = self.drop.as_mut() {
                    d.messages[(n - 1) as usize].retrieved = true;
                }
                self.io().reply(&format!("+OK {} octets", bytes.len()));
                dot_stuff(&bytes, None)
            }
            Some(lines) => {
                self.io().reply("+OK top of message follows");
                dot_stuff(&bytes, Some(lines))
            }
        };
        self.io().write(&wire);
    }

    fn dele(&mut self, n: u32) {
        let reply = match self.maildrop().get(n) {
            Ok(_) => {
                if let Some(d) = self.drop.as_mut() {
                    d.messages[(n - 1) as usize].deleted = true;
                }
                format!("+OK message {n} deleted")
            }
            Err(e) => e,
        };
        self.say(&reply);
    }

    fn rset(&mut self) {
        if let Some(d) = self.drop.as_mut() {
            for m in &mut d.messages {
                m.deleted = false;
                m.retrieved = false;
            }
        }
        let (n, size) = self.maildrop().totals();
        self.say(&format!("+OK {n} messages ({size} octets)"));
    }

    /// The UPDATE state: remove what was deleted (and, for users who do not keep mail on
    /// the server, what was retrieved).
    async fn update(&mut self) {
        let drop = self.maildrop();
        let keep = drop.user.pop3_keep;
        let gone: Vec<u32> = drop
            .messages
            .iter()
            .filter(|m| m.deleted || (!keep && m.retrieved))
            .map(|m| m.uid)
            .collect();
        let left = drop.messages.len() - gone.len();
        let mailbox_id = drop.mailbox_id;
        let removed = if gone.is_empty() {
            Ok(())
        } else {
            self.shared
                .store
                .expunge(mailbox_id, &gone)
                .await
                .map(|_| ())
        };
        // the maildrop is free before the client hears the reply, so that its next
        // login is never told the maildrop is in use
        self.drop = None;
        if let Err(e) = removed {
            tracing::error!(error = %e, "cannot remove deleted messages");
            self.say("-ERR [SYS/TEMP] deleted messages could not be removed; they are still there");
            return;
        }
        tracing::info!(removed = gone.len(), left, "update");
        self.say(&format!("+OK bye ({left} messages left)"));
    }
}

/// The multi-line form of a message (RFC 1939 §3): lines starting with "." get another
/// ".", the text ends with CRLF, then ".". With `top`, the header and that many body lines.
pub fn dot_stuff(message: &[u8], top: Option<u32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 8);
    let mut in_body = false;
    let mut body_lines = 0u32;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if in_body && top.is_some_and(|max| body_lines >= max) {
            break;
        }
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        // lines end with CRLF on the wire, even where the stored message has a bare LF
        match line.strip_suffix(b"\n") {
            Some(text) if !text.ends_with(b"\r") => {
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(line),
        }
        if in_body {
            body_lines += 1;
        } else if line == b"\r\n" || line == b"\n" {
            in_body = true;
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        if out.ends_with(b"\n") {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::dot_stuff;

    #[test]
    fn stuffing_and_top() {
        let m = b"Subject: x\r\n\r\n.hidden\r\nline 2\r\nline 3\r\n";
        assert_eq!(
            dot_stuff(m, None),
            b"Subject: x\r\n\r\n..hidden\r\nline 2\r\nline 3\r\n.\r\n".to_vec()
        );
        assert_eq!(dot_stuff(m, Some(0)), b"Subject: x\r\n\r\n.\r\n".to_vec());
        assert_eq!(
            dot_stuff(m, Some(2)),
            b"Subject: x\r\n\r\n..hidden\r\nline 2\r\n.\r\n".to_vec()
        );
        assert_eq!(
            dot_stuff(b"no final newline", None),
            b"no final newline\r\n.\r\n".to_vec()
        );
    }
}
