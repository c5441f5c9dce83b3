//! One ManageSieve connection (RFC 5804): the capability greeting, STARTTLS (with the
//! capabilities issued again), AUTHENTICATE through `net`'s SASL exchange and login gate
//! (the failed-login throttle every protocol shares), then the script commands over the
//! store's `SieveScripts`. PUTSCRIPT and CHECKSCRIPT compile the script first: a script
//! that does not compile is refused with the compiler's line and message.
//!
//! Bounds of a session:
//! - a command line holds [`MAX_LINE`] octets; a longer one is read to its end (kept to
//!   its head) and answered `NO "line too long"`;
//! - a literal holds at most `sieve.max_script_size` octets: a larger one is answered
//!   `NO (QUOTA/MAXSIZE)`, its octets read and dropped (up to [`MAX_SKIPPED`], beyond
//!   which the session ends with `BYE`);
//! - a command must arrive within [`COMMAND_TIME`] of its first octet, and a client may
//!   stay idle [`IDLE_TIMEOUT`];
//! - [`MAX_ERRORS`] `NO` replies in a row end the session with `BYE`; before login,
//!   the per-client command budget of IMAP applies, and a literal holds at most
//!   [`PRE_LOGIN_LITERAL`] octets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::ListenerTls;
use estafeta_net::login::Gate;
use estafeta_net::sasl::{self, Failure, Mechanism, Step};
use estafeta_net::{Connection, IoError, Line, LineIo};
use estafeta_store::{StoreError, User};
use tracing::Instrument;

use crate::SieveState;
use crate::command::{self, Command, Token};

/// A command line, literals apart.
pub const MAX_LINE: usize = 8 * 1024;
/// Octets of a refused literal read and dropped before the session is ended instead.
pub const MAX_SKIPPED: u64 = 64 << 20;
/// Between commands.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// From a command's first octet to its end (literals included).
pub const COMMAND_TIME: Duration = Duration::from_secs(300);
/// `NO` replies in a row before the session is ended.
pub const MAX_ERRORS: u32 = 20;
/// The largest literal before login.
pub const PRE_LOGIN_LITERAL: u64 = 4096;

pub async fn run(shared: Arc<SieveState>, conn: Connection) {
    let span = tracing::info_span!("managesieve", peer = %conn.peer, port = conn.local.port());
    async move {
        let _slot = conn.slot;
        let mut s = Session {
            tls: conn.stream.tls_info().is_some(),
            starttls_offered: conn.listener.tls == ListenerTls::Starttls,
            io: Some(LineIo::new(conn.stream, IDLE_TIMEOUT)),
            peer: conn.peer,
            shared,
            user: None,
            errors: 0,
        };
        tracing::info!(tls = s.tls, "connect");
        s.capabilities();
        s.io().reply("OK \"estafeta ManageSieve ready\"");
        let ending = s.serve().await;
        if let Some(io) = s.io.as_mut() {
            let _ = io.flush().await;
        }
        tracing::info!(user = ?s.user.as_ref().map(|u| &u.address), ending, "disconnect");
    }
    .instrument(span)
    .await
}

struct Session {
    shared: Arc<SieveState>,
    io: Option<LineIo>,
    peer: SocketAddr,
    tls: bool,
    starttls_offered: bool,
    user: Option<User>,
    errors: u32,
}

/// How a command read went.
enum Read {
    Command(Vec<Token>),
    /// Answered already (too long, bad syntax); the session goes on.
    Answered,
    /// The session is over (closed, timed out, or ended with BYE).
    Over(&'static str),
}

/// A string as ManageSieve sends it: quoted (with `"` and `\\` escaped) when short and on
/// one line, else a literal.
fn string(s: &str) -> String {
    if s.len() <= 1024 && !s.contains(['\r', '\n', '\0']) {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        format!("{{{}}}\r\n{s}", s.len())
    }
}

impl Session {
    fn io(&mut self) -> &mut LineIo {
        self.io
            .as_mut()
            .expect("the connection is present between commands")
    }

    fn no(&mut self, code: Option<&str>, text: &str) {
        self.errors += 1;
        let code = code.map(|c| format!("({c}) ")).unwrap_or_default();
        let line = format!("NO {code}{}", string(text));
        self.io().reply(&line);
    }

    fn ok(&mut self, text: &str) {
        // errors are counted in a row: a long session of ordinary work is not ended
        self.errors = 0;
        let line = format!("OK {}", string(text));
        self.io().reply(&line);
    }

    fn login_allowed(&self) -> bool {
        sasl::password_allowed(
            self.tls,
            self.shared.allow_plaintext_on_loopback,
            self.peer.ip(),
        )
    }

    fn capabilities(&mut self) {
        let mut lines = vec![
            "\"IMPLEMENTATION\" \"estafeta\"".to_string(),
            format!("\"SIEVE\" \"{}\"", estafeta_sieve::EXTENSIONS.join(" ")),
            format!("\"MAXREDIRECTS\" \"{}\"", self.shared.limits.max_redirects),
            "\"VERSION\" \"1.0\"".to_string(),
        ];
        if self.user.is_none() {
            let mechanisms = if !self.login_allowed() {
                ""
            } else if self.io().tls_exporter().is_some() {
                "PLAIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS"
            } else {
                "PLAIN SCRAM-SHA-256"
            };
            lines.insert(1, format!("\"SASL\" \"{mechanisms}\""));
            if self.starttls_offered && !self.tls {
                lines.push("\"STARTTLS\"".to_string());
            }
        } else if let Some(u) = &self.user {
            lines.push(format!("\"OWNER\" {}", string(&u.address)));
            lines.push("\"UNAUTHENTICATE\"".to_string());
        }
        for l in lines {
            self.io().reply(&l);
        }
    }

    async fn serve(&mut self) -> &'static str {
        loop {
            if self.errors >= MAX_ERRORS {
                self.io().reply("BYE \"too many errors\"");
                return "too many errors";
            }
            let tokens = match self.read_command().await {
                Read::Command(t) => t,
                Read::Answered => continue,
                Read::Over(why) => return why,
            };
            if self.user.is_none() && !self.shared.commands.spend(self.peer.ip()) {
                self.io()
                    .reply("BYE (TRYLATER) \"too many commands, try again later\"");
                return "too many commands";
            }
            let command = match command::parse(tokens) {
                Ok(c) => c,
                Err(e) => {
                    self.no(None, &e);
                    continue;
                }
            };
            match self.command(command).await {
                Ok(true) => {}
                Ok(false) => return "logout",
                Err(_) => return "connection lost",
            }
        }
    }

    /// Reads one command: its lines and literals, within the bounds.
    async fn read_command(&mut self) -> Read {
        let mut tokens = Vec::new();
        let mut started = false;
        // before login nothing needs a script: a literal of 4 KiB at most
        let max_script = match self.user {
            Some(_) => self.shared.limits.max_script_bytes as u64,
            None => PRE_LOGIN_LITERAL,
        };
        loop {
            let line = match self.io().read_line(MAX_LINE).await {
                Ok(Line::Complete(l)) => l,
                Ok(Line::TooLong) => {
                    self.io().set_deadline(None);
                    self.no(None, "line too long");
                    return Read::Answered;
                }
                Ok(Line::Closed) => return Read::Over("closed"),
                Err(IoError::Timeout) => {
                    self.io().reply("BYE \"timed out\"");
                    return Read::Over("timeout");
                }
                Err(IoError::Io(_)) => return Read::Over("connection lost"),
            };
            if !started {
                started = true;
                let deadline = tokio::time::Instant::now() + COMMAND_TIME;
                self.io().set_deadline(Some(deadline));
            }
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let literal = match command::lex_line(line, &mut tokens) {
                Ok(l) => l,
                Err(e) => {
                    self.io().set_deadline(None);
                    self.no(None, &e);
                    return Read::Answered;
                }
            };
            let Some(n) = literal else {
                self.io().set_deadline(None);
                if tokens.is_empty() {
                    // an empty line is no command: ignored, as a NOOP without reply
                    started = false;
                    continue;
                }
                return Read::Command(tokens);
            };
            if n > max_script {
                if n > MAX_SKIPPED {
                    self.io().reply("BYE (QUOTA/MAXSIZE) \"literal too large\"");
                    return Read::Over("literal too large");
                }
                // the octets are on their way (a non-synchronising literal): dropped
                match self.io().read_chunk(n as usize, None).await {
                    Ok(true) => {}
                    _ => return Read::Over("connection lost"),
                }
                let _ = self.io().read_line(MAX_LINE).await;
                self.io().set_deadline(None);
                self.no(
                    Some("QUOTA/MAXSIZE"),
                    &format!("a script may hold {max_script} octets"),
                );
                return Read::Answered;
            }
            let mut octets = Vec::with_capacity((n as usize).min(64 * 1024));
            match self.io().read_chunk(n as usize, Some(&mut octets)).await {
                Ok(true) => tokens.push(Token::Str(octets)),
                Ok(false) => return Read::Over("closed"),
                Err(IoError::Timeout) => {
                    self.io().reply("BYE \"timed out\"");
                    return Read::Over("timeout");
                }
                Err(IoError::Io(_)) => return Read::Over("connection lost"),
            }
        }
    }

    /// One command; false ends the session.
    async fn command(&mut self, command: Command) -> Result<bool, IoError> {
        let user = self.user.clone();
        match (command, user) {
            (Command::Capability, _) => {
                self.capabilities();
                self.ok("capabilities listed");
            }
            (Command::Logout, _) => {
                self.ok("bye");
                return Ok(false);
            }
            (Command::Noop(tag), _) => match tag {
                Some(t) => {
                    let line = format!("OK (TAG {}) \"done\"", string(&t));
                    self.io().reply(&line);
                }
                None => self.ok("done"),
            },
            (Command::StartTls, None) => return self.starttls().await,
            (Command::Authenticate { mechanism, initial }, None) => {
                let done = self.authenticate(&mechanism, initial).await;
                if let Some(io) = self.io.as_mut() {
                    io.set_deadline(None);
                }
                return done;
            }
            (Command::Unauthenticate, Some(_)) => {
                self.user = None;
                self.ok("logged out");
            }
            (Command::StartTls | Command::Authenticate { .. }, Some(_)) => {
                self.no(None, "already logged in")
            }
            (_, None) => self.no(None, "log in first (AUTHENTICATE)"),
            (command, Some(user)) => self.scripts(command, &user).await,
        }
        Ok(true)
    }

    async fn starttls(&mut self) -> Result<bool, IoError> {
        if self.tls || !self.starttls_offered {
            self.no(None, "STARTTLS is not available");
            return Ok(true);
        }
        let io = self.io.take().expect("connection present");
        let Some(io) = io
            .start_tls("OK \"begin TLS negotiation\"", &self.shared.tls.acceptor)
            .await
        else {
            return Ok(false);
        };
        self.io = Some(io);
        self.tls = true;
        // RFC 5804 §2.2: the capabilities again, over TLS
        self.capabilities();
        self.ok("TLS is on");
        Ok(true)
    }

    async fn authenticate(
        &mut self,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<bool, IoError> {
        if !self.login_allowed() {
            self.no(
                Some("ENCRYPT-NEEDED"),
                "authentication is not allowed without TLS: use STARTTLS first",
            );
            return Ok(true);
        }
        let Some(mechanism) = Mechanism::from_name(mechanism).filter(|m| *m != Mechanism::Login)
        else {
            self.no(None, "unsupported mechanism: use PLAIN or SCRAM-SHA-256");
            return Ok(true);
        };
        let binding = self.io().tls_exporter();
        let shared = self.shared.clone();
        let gate = Gate::new(&*shared.store, &shared.throttle, self.peer.ip());
        let (mut exchange, mut step) =
            sasl::Exchange::start(gate, mechanism, binding, initial.as_deref()).await;
        // the whole exchange within one command's time (cleared by `command`)
        let deadline = tokio::time::Instant::now() + COMMAND_TIME;
        self.io().set_deadline(Some(deadline));
        loop {
            step = match step {
                Step::Challenge(challenge) => {
                    let line = string(&challenge);
                    self.io().reply(&line);
                    let response = match self.io().read_line(sasl::MAX_RESPONSE + 64).await? {
                        Line::Complete(l) => l,
                        Line::TooLong => {
                            self.no(None, "authentication response too long");
                            return Ok(true);
                        }
                        Line::Closed => return Ok(false),
                    };
                    let mut tokens = Vec::new();
                    let response = match command::lex_line(trim_eol(&response), &mut tokens) {
                        Ok(None) => match tokens.as_slice() {
                            [Token::Str(s)] => String::from_utf8_lossy(s).into_owned(),
                            _ => String::from("*"),
                        },
                        // RFC 5804 §2.1: a response may be a literal
                        Ok(Some(n)) if tokens.is_empty() && n as usize <= sasl::MAX_RESPONSE => {
                            let mut octets = Vec::new();
                            if !self.io().read_chunk(n as usize, Some(&mut octets)).await? {
                                return Ok(false);
                            }
                            // the rest of the line after the literal (its CRLF)
                            let _ = self.io().read_line(MAX_LINE).await?;
                            String::from_utf8_lossy(&octets).into_owned()
                        }
                        Ok(Some(_)) => {
                            self.no(None, "authentication response too long");
                            return Ok(false);
                        }
                        Err(_) => String::from("*"),
                    };
                    exchange.respond(&response).await
                }
                Step::Done(user) => {
                    tracing::info!(user = %user.address, mechanism = mechanism.name(), "authenticated");
                    self.user = Some(user);
                    self.ok("logged in");
                    return Ok(true);
                }
                Step::Failed(failure) => {
                    self.auth_failed(failure).await;
                    return Ok(true);
                }
            }
        }
    }

    async fn auth_failed(&mut self, failure: Failure) {
        let (code, text) = match failure {
            Failure::NotOffered => (None, "SCRAM-SHA-256-PLUS needs a TLS 1.3 connection"),
            Failure::Blocked => (
                Some("TRYLATER"),
                "too many failed logins from your address, try again later",
            ),
            Failure::Cancelled => (None, "authentication cancelled"),
            Failure::TooLong => (None, "authentication response too long"),
            Failure::Malformed => (None, "cannot decode the authentication response"),
            Failure::AuthzidRefused => (None, "the authorization identity must be the user's own"),
            Failure::Unsupported => (None, "unsupported SCRAM extension"),
            Failure::NotEmpty => (None, "expected an empty response"),
            Failure::Unavailable => (Some("TRYLATER"), "temporary failure, try again later"),
            Failure::Refused { delay } => {
                let _ = self.io().flush().await;
                tokio::time::sleep(delay).await;
                (None, "invalid user name or password")
            }
        };
        self.no(code, text);
    }

    /// The commands of a logged-in user.
    async fn scripts(&mut self, command: Command, user: &User) {
        let store = self.shared.store.clone();
        let limits = &self.shared.limits;
        let (max_scripts, max_bytes) = (self.shared.max_scripts, self.shared.max_storage);
        let result: Result<(), StoreError> = match command {
            Command::ListScripts => match store.sieve_scripts(user.id).await {
                Ok(list) => {
                    for s in list {
                        let line = if s.active {
                            format!("{} ACTIVE", string(&s.name))
                        } else {
                            string(&s.name)
                        };
                        self.io().reply(&line);
                    }
                    self.ok("listed");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Command::GetScript(name) => match store.sieve_script(user.id, &name).await {
                Ok(Some(text)) => {
                    let line = format!("{{{}}}\r\n{text}", text.len());
                    self.io().reply(&line);
                    self.ok("got it");
                    Ok(())
                }
                Ok(None) => Err(StoreError::NotFound(format!("no script named {name:?}"))),
                Err(e) => Err(e),
            },
            Command::HaveSpace { name, size } => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > limits.max_script_bytes {
                    self.no(
                        Some("QUOTA/MAXSIZE"),
                        &format!("a script may hold {} octets", limits.max_script_bytes),
                    );
                    return;
                }
                match store
                    .sieve_space(user.id, &name, size, max_scripts, max_bytes)
                    .await
                {
                    Ok(true) => {
                        self.ok("there is room");
                        Ok(())
                    }
                    Ok(false) => Err(StoreError::OverQuota(format!(
                        "at most {max_scripts} scripts of {max_bytes} octets in all"
                    ))),
                    Err(e) => Err(e),
                }
            }
            Command::CheckScript(script) => {
                if let Some(text) = self.compiles(&script) {
                    drop(text);
                    self.ok("the script compiles");
                }
                return;
            }
            Command::PutScript { name, script } => {
                let Some(text) = self.compiles(&script) else {
                    return;
                };
                match store
                    .put_sieve_script(user.id, &name, &text, max_scripts, max_bytes)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(user = %user.address, script = %name, size = text.len(), "script stored");
                        self.ok("stored");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Command::SetActive(name) => {
                let which = (!name.is_empty()).then_some(name.as_str());
                match store.activate_sieve_script(user.id, which).await {
                    Ok(()) => {
                        tracing::info!(user = %user.address, script = ?which, "active script set");
                        self.ok("active script set");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Command::DeleteScript(name) => match store.delete_sieve_script(user.id, &name).await {
                Ok(()) => {
                    self.ok("deleted");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Command::RenameScript { from, to } => {
                match store.rename_sieve_script(user.id, &from, &to).await {
                    Ok(()) => {
                        self.ok("renamed");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                self.no(None, "not allowed now");
                return;
            }
        };
        if let Err(e) = result {
            let code = match &e {
                StoreError::NotFound(_) => Some("NONEXISTENT"),
                StoreError::AlreadyExists(_) => Some("ALREADYEXISTS"),
                StoreError::Conflict(_) => Some("ACTIVE"),
                StoreError::OverQuota(_) => Some("QUOTA"),
                StoreError::Invalid(_) => None,
                _ => Some("TRYLATER"),
            };
            if code == Some("TRYLATER") {
                tracing::error!(error = %e, "store error");
                self.no(code, "temporary failure, try again later");
            } else {
                self.no(code, &e.to_string());
            }
        }
    }

    /// The script's text when it is UTF-8 and compiles; else answered with `NO`.
    fn compiles(&mut self, script: &[u8]) -> Option<String> {
        let Ok(text) = std::str::from_utf8(script) else {
            self.no(None, "a script must be UTF-8");
            return None;
        };
        match estafeta_sieve::compile(text, &self.shared.limits) {
            Ok(_) => Some(text.to_string()),
            Err(e) => {
                self.no(None, &e.to_string());
                None
            }
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
