//! One SMTP connection as one readable state machine: greeting, EHLO/HELO, STARTTLS,
//! AUTH, MAIL, RCPT, DATA/BDAT, RSET, NOOP, HELP, VRFY/EXPN, QUIT. Command syntax comes
//! from smtp-proto; the replies are RFC 5321 codes with RFC 3463 enhanced codes. What to
//! accept is decided elsewhere: the sender at MAIL by `sender`, each recipient at RCPT by
//! `recipients` (a typed verdict), the message at the end of DATA by `assembly`, which
//! also stores it.
//!
//! Bounds of a session (hostile input is the normal case):
//! - a command line: 512 octets, 1012 for MAIL and RCPT, 12 KiB for AUTH and SASL
//!   responses; longer ones are dropped as they arrive and answered `500 5.5.2` (`500
//!   5.5.6` for AUTH, RFC 4954 §4). It must be CRLF-terminated and valid UTF-8; the
//!   EHLO/HELO name must be ASCII (RFC 5321 §4.1.1.1, it comes before SMTPUTF8 is known);
//! - time: each read and write waits at most `smtp.idle_timeout`; a whole command line
//!   must arrive within `smtp.command_timeout`, a whole message after DATA, and each BDAT
//!   chunk, within `smtp.data_timeout`, however the client paces its octets. Then `421
//!   4.4.2` and the connection is closed;
//! - errors: after `smtp.max_errors` error replies (4xx and 5xx, except `452 4.5.3` for
//!   recipients over the limit, which RFC 5321 §4.5.3.1.10 makes flow control) `421
//!   4.7.0` and the connection is closed;
//! - commands before authentication: `smtp.unauthenticated_commands_per_minute` per client
//!   over all its sessions (`estafeta_net::CommandBudget`), then `421 4.7.0` and close;
//! - recipients: `smtp.max_recipients` per transaction, then `452 4.5.3`;
//! - a message: `smtp.max_message_size` octets, lines of 1000 octets, no bare CR or LF,
//!   no NUL (`data.rs`), and at most `smtp.max_hops` `Received:` fields with ours
//!   (`554 5.4.6 Too many hops`, see `crate::hops`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use estafeta_config::{ListenerTls, Protocol};
use estafeta_net::Connection;
use estafeta_store::{StatEvent, User};
use smtp_proto::{
    AUTH_LOGIN, AUTH_PLAIN, AUTH_SCRAM_SHA_256, AUTH_SCRAM_SHA_256_PLUS, Error as ParseError,
    Request,
};
use tracing::Instrument;

use super::SmtpState;
use super::client::Client;
use super::data::{self, Checker, DataEnd};
use super::recipients;
use super::spool::Spool;
use super::transaction::Transaction;
use super::{assembly, sender};

use estafeta_net::login::Gate;
use estafeta_net::sasl::{self, Mechanism, Step};
use estafeta_net::scram;
use estafeta_net::{BoundedLine, IoError, LineIo as Io};

/// BDAT chunks are read, checked and spooled in pieces of this many octets.
const CHUNK_PIECE: usize = 64 * 1024;

/// RFC 5321 §4.5.3.1.4: 512 octets for a command line…
const MAX_COMMAND_LINE: usize = 512;
/// …raised for MAIL and RCPT by the parameters of the extensions we offer (RFC 3461 §4).
const MAX_PARAMETER_LINE: usize = 1012;
/// A SASL response line.
const MAX_AUTH_LINE: usize = 12 * 1024;

/// RFC 4954 §4: an AUTH command or response over [`MAX_AUTH_LINE`].
const AUTH_LINE_TOO_LONG: &str = "500 5.5.6 Authentication exchange line is too long";
/// RFC 4954 §4: the client answered `*`.
const AUTH_CANCELLED: &str = "501 5.0.0 Error: authentication cancelled";

/// Which time limit the reads run under.
#[derive(Clone, Copy, Debug)]
enum Clock {
    /// A command line or SASL response: `smtp.command_timeout`.
    Command,
    /// A message after DATA, or one BDAT chunk: `smtp.data_timeout`.
    Data,
}

impl Clock {
    fn key(self) -> &'static str {
        match self {
            Clock::Command => "smtp.command_timeout",
            Clock::Data => "smtp.data_timeout",
        }
    }
}

pub async fn run(shared: Arc<SmtpState>, conn: Connection) {
    let span = tracing::info_span!("smtp", peer = %conn.peer, port = conn.local.port());
    async move {
        let _slot = conn.slot;
        let tls = conn.stream.tls_info();
        let idle = Duration::from_secs(shared.settings.smtp.idle_timeout);
        let mut session = Session {
            submission: conn.listener.protocol == Protocol::Submission,
            starttls_offered: conn.listener.tls == ListenerTls::Starttls,
            io: Some(Io::new(conn.stream, idle)),
            peer: conn.peer,
            shared,
            tls,
            helo: None,
            esmtp: false,
            user: None,
            tx: None,
            errors: 0,
            accepted: 0,
            clock: Clock::Command,
        };
        tracing::info!(
            tls = session.tls.is_some(),
            submission = session.submission,
            "connect"
        );
        session.serve().await;
        tracing::info!(
            messages = session.accepted,
            errors = session.errors,
            "disconnect"
        );
    }
    .instrument(span)
    .await
}

/// What happens to the connection after a command.
enum Next {
    Continue,
    Close,
}

/// A transaction in progress: its envelope, and the BDAT chunks while they arrive.
struct Tx {
    transaction: Transaction,
    /// BDAT chunks so far (nothing once the content rules refuse the message).
    chunks: Option<Spool>,
    /// Octets of the BDAT chunks so far.
    chunked: usize,
    /// The content rules over the BDAT chunks.
    check: Checker,
    bdat: bool,
}

impl Tx {
    fn new(transaction: Transaction) -> Tx {
        Tx {
            transaction,
            chunks: None,
            chunked: 0,
            check: Checker::default(),
            bdat: false,
        }
    }
}

struct Session {
    shared: Arc<SmtpState>,
    io: Option<Io>,
    peer: SocketAddr,
    submission: bool,
    starttls_offered: bool,
    tls: Option<(String, String)>,
    helo: Option<String>,
    esmtp: bool,
    user: Option<User>,
    tx: Option<Tx>,
    errors: u32,
    accepted: u32,
    clock: Clock,
}

impl Session {
    fn io(&mut self) -> &mut Io {
        self.io
            .as_mut()
            .expect("the connection is present between commands")
    }

    /// The session as the policy modules see it.
    fn client(&self) -> Client<'_> {
        Client {
            ip: self.peer.ip(),
            helo: self.helo.as_deref(),
            esmtp: self.esmtp,
            tls: self.tls.as_ref(),
            user: self.user.as_ref(),
            submission: self.submission,
        }
    }

    fn host(&self) -> &str {
        &self.shared.settings.hostname
    }

    /// Queues a reply; 4xx and 5xx count as errors.
    fn say(&mut self, line: &str) {
        if line.starts_with('4') || line.starts_with('5') {
            self.errors += 1;
        }
        self.io().reply(line);
    }

    /// Starts the time limit of the reads to come.
    fn start_clock(&mut self, clock: Clock) {
        let s = &self.shared.settings.smtp;
        let secs = match clock {
            Clock::Command => s.command_timeout,
            Clock::Data => s.data_timeout,
        };
        self.clock = clock;
        self.io()
            .set_deadline(Some(Instant::now() + Duration::from_secs(secs)));
    }

    fn auth_allowed(&self) -> bool {
        sasl::password_allowed(
            self.tls.is_some(),
            self.shared.settings.allow_plaintext_on_loopback,
            self.peer.ip(),
        )
    }

    /// Counts a command against the client's budget before authentication
    /// (`smtp.unauthenticated_commands_per_minute`); trusted networks are exempt.
    fn within_command_budget(&self) -> bool {
        self.user.is_some() || self.shared.commands.spend(self.peer.ip())
    }

    async fn serve(&mut self) {
        let greeting = format!("220 {} ESMTP estafeta", self.host());
        self.io().reply(&greeting);
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            self.start_clock(Clock::Command);
            let read = tokio::select! {
                r = self.io().read_bounded_line(MAX_AUTH_LINE) => r,
                _ = shutdown.wait_for(|stop| *stop) => {
                    tracing::info!("server stopping: closing session");
                    let line = format!("421 4.3.2 {} Service shutting down", self.host());
                    self.io().reply(&line);
                    break;
                }
            };
            let is_command = matches!(
                read,
                Ok(BoundedLine::Complete(_) | BoundedLine::TooLong { .. })
            );
            if is_command && !self.within_command_budget() {
                tracing::info!("too many commands before authentication: disconnecting");
                let line = format!(
                    "421 4.7.0 {} Error: too many commands, try again later",
                    self.host()
                );
                self.io().reply(&line);
                break;
            }
            let next = match read {
                Ok(BoundedLine::Complete(line)) => self.command(line).await,
                Ok(BoundedLine::TooLong { head, .. }) => {
                    let auth = head.len() > 4
                        && head[..4].eq_ignore_ascii_case(b"AUTH")
                        && head[4] == b' ';
                    if auth {
                        self.say(AUTH_LINE_TOO_LONG);
                    } else {
                        self.say("500 5.5.2 Error: line too long");
                    }
                    Ok(Next::Continue)
                }
                Ok(BoundedLine::Closed) => Ok(Next::Close),
                Err(e) => Err(e),
            };
            match next {
                Ok(Next::Continue) => {}
                Ok(Next::Close) => break,
                Err(IoError::Timeout) => {
                    if self.io.as_ref().is_some_and(|io| io.deadline_passed()) {
                        tracing::info!(limit = self.clock.key(), "time limit exceeded");
                    } else {
                        tracing::info!("idle timeout");
                    }
                    let line = format!("421 4.4.2 {} Error: timeout exceeded", self.host());
                    if let Some(io) = self.io.as_mut() {
                        io.reply(&line);
                        let _ = io.flush().await;
                    }
                    return;
                }
                Err(IoError::Io(e)) => {
                    tracing::debug!(error = %e, "connection error");
                    return;
                }
            }
            if self.errors >= self.shared.settings.smtp.max_errors {
                tracing::info!(errors = self.errors, "too many errors: disconnecting");
                let line = format!("421 4.7.0 {} Error: too many errors", self.host());
                self.io().reply(&line);
                break;
            }
        }
        if let Some(io) = self.io.as_mut() {
            let _ = io.flush().await;
        }
    }

    async fn command(&mut self, line: Vec<u8>) -> Result<Next, IoError> {
        let verb = line.get(..4).unwrap_or(&[]);
        let limit = if verb.eq_ignore_ascii_case(b"AUTH") {
            MAX_AUTH_LINE // an initial response may be long (RFC 4954 §4)
        } else if verb.eq_ignore_ascii_case(b"MAIL") || verb.eq_ignore_ascii_case(b"RCPT") {
            MAX_PARAMETER_LINE
        } else {
            MAX_COMMAND_LINE
        };
        if line.len() > limit {
            self.say("500 5.5.2 Error: line too long");
            return Ok(Next::Continue);
        }
        if !line.ends_with(b"\r\n") {
            self.say("500 5.5.2 Error: commands must end with CRLF");
            return Ok(Next::Continue);
        }
        if std::str::from_utf8(&line).is_err() {
            // smtp-proto would read it with U+FFFD in place of the bad octets: an address
            // the client never sent
            let reply = if verb.eq_ignore_ascii_case(b"MAIL") {
                "501 5.1.7 Bad sender address syntax (invalid UTF-8)"
            } else if verb.eq_ignore_ascii_case(b"RCPT") {
                "501 5.1.3 Bad recipient address syntax (invalid UTF-8)"
            } else if verb.eq_ignore_ascii_case(b"EHLO") || verb.eq_ignore_ascii_case(b"HELO") {
                "501 5.5.2 Error: invalid EHLO/HELO name (invalid UTF-8)"
            } else if verb.eq_ignore_ascii_case(b"AUTH") {
                "501 5.5.2 Error: invalid UTF-8 in AUTH"
            } else {
                "500 5.5.2 Error: invalid UTF-8 in command"
            };
            self.say(reply);
            return Ok(Next::Continue);
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(r) => r.into_owned(),
            Err(e) => {
                let reply = parse_error_reply(&e);
                tracing::debug!(error = ?e, "bad command");
                self.say(&reply);
                return Ok(Next::Continue);
            }
        };
        match request {
            Request::Ehlo { host } => self.ehlo(host, true),
            Request::Helo { host } => self.ehlo(host, false),
            Request::StartTls => return self.starttls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await?,
            Request::Mail { from } => self.mail(from).await,
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => return self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => return self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.tx = None;
                self.say("250 2.0.0 Ok");
            }
            Request::Noop { .. } => self.say("250 2.0.0 Ok"),
            Request::Quit => {
                self.say("221 2.0.0 Bye");
                return Ok(Next::Close);
            }
            Request::Help { .. } => self.say(
                "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY QUIT",
            ),
            Request::Vrfy { .. } | Request::Expn { .. } => {
                self.say("252 2.5.0 Cannot verify the user, but will accept the message and try")
            }
            Request::Lhlo { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.say("502 5.5.1 Error: command not implemented"),
        }
        Ok(Next::Continue)
    }

    fn ehlo(&mut self, host: String, esmtp: bool) {
        if !host.is_ascii() {
            self.say("501 5.5.2 Error: invalid EHLO/HELO name (ASCII expected)");
            return;
        }
        self.helo = Some(host);
        self.esmtp = esmtp;
        self.tx = None;
        let hostname = self.host().to_string();
        if !esmtp {
            self.say(&format!("250 {hostname}"));
            return;
        }
        let mut lines = vec![
            hostname,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.shared.settings.smtp.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
            "DSN".to_string(),
        ];
        if self.starttls_offered && self.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        if self.auth_allowed() && self.user.is_none() {
            // -PLUS only where there is a channel binding: TLS 1.3
            lines.push(if self.io().tls_exporter().is_some() {
                "AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS".to_string()
            } else {
                "AUTH PLAIN LOGIN SCRAM-SHA-256".to_string()
            });
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.io().reply(&format!("250{sep}{l}"));
        }
    }

    async fn starttls(&mut self) -> Result<Next, IoError> {
        if self.tls.is_some() {
            self.say("503 5.5.1 Error: TLS already active");
            return Ok(Next::Continue);
        }
        if !self.starttls_offered {
            self.say("502 5.5.1 Error: STARTTLS not offered on this port");
            return Ok(Next::Continue);
        }
        let io = self.io.take().expect("connection present");
        let go_ahead = "220 2.0.0 Ready to start TLS";
        let Some(io) = io.start_tls(go_ahead, &self.shared.tls.acceptor).await else {
            return Ok(Next::Close);
        };
        self.tls = io.tls_info();
        self.io = Some(io);
        // RFC 3207 §4.2: forget everything learnt before TLS.
        self.helo = None;
        self.esmtp = false;
        self.user = None;
        self.tx = None;
        tracing::info!(tls = ?self.tls, "STARTTLS done");
        Ok(Next::Continue)
    }

    /// AUTH: the exchange is `net`'s ([`sasl::Exchange`]); here its framing (`334 `
    /// challenges, a response line of at most 12 KiB within `smtp.command_timeout`) and
    /// its replies.
    async fn auth(&mut self, mechanism: u64, initial: String) -> Result<(), IoError> {
        if self.user.is_some() {
            self.say("503 5.5.1 Error: already authenticated");
            return Ok(());
        }
        if self.tx.is_some() {
            self.say("503 5.5.1 Error: MAIL transaction in progress");
            return Ok(());
        }
        if !self.auth_allowed() {
            self.say("538 5.7.11 Encryption required for requested authentication mechanism");
            return Ok(());
        }
        let mechanism = match mechanism {
            AUTH_PLAIN => Mechanism::Plain,
            AUTH_LOGIN => Mechanism::Login,
            AUTH_SCRAM_SHA_256 => Mechanism::Scram(scram::Mechanism::Sha256),
            AUTH_SCRAM_SHA_256_PLUS => Mechanism::Scram(scram::Mechanism::Sha256Plus),
            _ => {
                self.say("504 5.5.4 Error: unsupported authentication mechanism");
                return Ok(());
            }
        };
        // "=" is no initial response at all: the client gets the challenge
        let initial = Some(initial).filter(|i| !i.is_empty() && i != "=");
        let shared = self.shared.clone();
        let gate = Gate::new(&*shared.store, &shared.auth_throttle, self.peer.ip());
        let binding = self.io().tls_exporter();
        let (mut exchange, mut step) =
            sasl::Exchange::start(gate, mechanism, binding, initial.as_deref()).await;
        loop {
            step = match step {
                Step::Challenge(challenge) => {
                    match self.read_sasl_line(&format!("334 {challenge}")).await? {
                        Ok(response) => exchange.respond(&response).await,
                        Err(refusal) => {
                            self.say(refusal);
                            return Ok(());
                        }
                    }
                }
                Step::Done(user) => {
                    tracing::info!(user = %user.address, mechanism = mechanism.name(), "authenticated");
                    self.user = Some(user);
                    self.say("235 2.7.0 Authentication successful");
                    return Ok(());
                }
                Step::Failed(failure) => return self.auth_failed(failure).await,
            }
        }
    }

    async fn auth_failed(&mut self, failure: sasl::Failure) -> Result<(), IoError> {
        use sasl::Failure as F;
        let reply = match failure {
            F::NotOffered => "504 5.5.4 Error: SCRAM-SHA-256-PLUS needs a TLS 1.3 connection",
            F::Blocked => "454 4.7.0 Too many failed authentication attempts, try again later",
            F::Cancelled => AUTH_CANCELLED,
            F::TooLong => AUTH_LINE_TOO_LONG,
            F::Malformed => "501 5.5.2 Error: cannot decode the authentication response",
            F::AuthzidRefused => "535 5.7.8 Error: authorization identity must be the user's own",
            F::Unsupported => "535 5.7.8 Error: unsupported SCRAM extension",
            F::NotEmpty => "501 5.5.2 Error: expected an empty response",
            F::Unavailable => "454 4.7.0 Temporary authentication failure",
            F::Refused { delay } => {
                self.io().flush().await?;
                tokio::time::sleep(delay).await;
                "535 5.7.8 Error: authentication credentials invalid"
            }
        };
        self.say(reply);
        Ok(())
    }

    /// The client's answer to `challenge`; `Err` holds the refusal of the AUTH command
    /// when the line is too long or the connection closed.
    async fn read_sasl_line(
        &mut self,
        challenge: &str,
    ) -> Result<Result<String, &'static str>, IoError> {
        self.io().reply(challenge);
        self.start_clock(Clock::Command);
        Ok(match self.io().read_bounded_line(MAX_AUTH_LINE).await? {
            // not valid UTF-8: U+FFFD is not base64, so the decoding refuses it
            BoundedLine::Complete(l) => Ok(String::from_utf8_lossy(&l)
                .trim_end_matches(['\r', '\n'])
                .to_string()),
            BoundedLine::TooLong { .. } => Err(AUTH_LINE_TOO_LONG),
            BoundedLine::Closed => Err(AUTH_CANCELLED),
        })
    }

    async fn mail(&mut self, from: smtp_proto::MailFrom<String>) {
        if self.helo.is_none() {
            self.say("503 5.5.1 Error: send HELO/EHLO first");
            return;
        }
        if self.tx.is_some() {
            self.say("503 5.5.1 Error: nested MAIL command");
            return;
        }
        let accepted = sender::accept(&self.shared, &self.client(), from).await;
        match accepted {
            Ok(transaction) => {
                self.tx = Some(Tx::new(transaction));
                self.say("250 2.1.0 Ok");
            }
            Err(refusal) => self.say(&refusal),
        }
    }

    async fn rcpt(&mut self, to: smtp_proto::RcptTo<String>) {
        let Some(tx) = self.tx.as_ref() else {
            self.say("503 5.5.1 Error: need MAIL command");
            return;
        };
        if tx.transaction.rcpts.len() >= self.shared.settings.smtp.max_recipients as usize {
            // flow control, not a client error (RFC 5321 §4.5.3.1.10): the client sends
            // the rest in another transaction, so it does not count towards max_errors
            self.io().reply("452 4.5.3 Error: too many recipients");
            return;
        }
        let rcpt = to.address.clone();
        let verdict = recipients::judge(&self.shared, &self.client(), &tx.transaction, to).await;
        let Some(envelope) = self.tx.as_mut().map(|tx| &mut tx.transaction) else {
            return;
        };
        if let Err(reply) = envelope.take(rcpt, verdict) {
            self.count_refused(1);
            self.say(&reply);
            return;
        }
        self.say("250 2.1.5 Ok");
    }

    async fn data(&mut self) -> Result<Next, IoError> {
        match &self.tx {
            None => {
                self.say("503 5.5.1 Error: need MAIL command");
                return Ok(Next::Continue);
            }
            Some(tx) if tx.transaction.rcpts.is_empty() => {
                self.say("554 5.5.1 Error: no valid recipients");
                return Ok(Next::Continue);
            }
            Some(tx) if tx.bdat => {
                self.say("503 5.5.1 Error: DATA not allowed during a BDAT transfer");
                return Ok(Next::Continue);
            }
            Some(_) => {}
        }
        self.io().reply("354 End data with <CR><LF>.<CR><LF>");
        let max = self.shared.settings.smtp.max_message_size as usize;
        self.start_clock(Clock::Data);
        let spool = self.shared.spool();
        let ended = data::read(self.io(), max, spool).await?;
        let Some(tx) = self.tx.take() else {
            return Ok(Next::Close);
        };
        let (body, problems) = match ended {
            DataEnd::Closed => {
                tracing::info!(queue_id = %tx.transaction.id, "connection closed during DATA: nothing accepted");
                return Ok(Next::Close);
            }
            DataEnd::Ended { body, problems } => (body, problems),
        };
        if let Some(reply) = problems.refusal(max) {
            tracing::info!(queue_id = %tx.transaction.id, problems = ?problems, "message refused");
            self.say(&reply);
            return Ok(Next::Continue);
        }
        let reply = self.deliver(tx, body).await;
        self.say(&reply);
        Ok(Next::Continue)
    }

    async fn bdat(&mut self, size: usize, last: bool) -> Result<Next, IoError> {
        let max = self.shared.settings.smtp.max_message_size as usize;
        self.start_clock(Clock::Data);
        // The chunk is read in every case: it is data, never commands.
        let refusal = match &self.tx {
            None => Some("503 5.5.1 Error: need MAIL command".to_string()),
            Some(tx) if tx.transaction.rcpts.is_empty() => {
                Some("554 5.5.1 Error: no valid recipients".to_string())
            }
            Some(tx) if tx.chunked.saturating_add(size) > max => Some(format!(
                "552 5.3.4 Message size exceeds fixed maximum message size ({max} octets)"
            )),
            Some(_) => None,
        };
        if let Some(reply) = refusal {
            if !self.io().read_chunk(size, None).await? {
                return Ok(Next::Close);
            }
            if reply.starts_with("552") {
                self.tx = None;
            }
            self.say(&reply);
            return Ok(Next::Continue);
        }
        let Some(mut tx) = self.tx.take() else {
            return Ok(Next::Close);
        };
        tx.bdat = true;
        let mut chunks = tx.chunks.take().unwrap_or_else(|| self.shared.spool());
        // read in pieces, each checked and spooled; once the content rules refuse the
        // message, the rest is read and dropped
        let mut piece = Vec::new();
        let mut left = size;
        while left > 0 {
            let n = left.min(CHUNK_PIECE);
            let keep = !tx.check.problems.any();
            piece.clear();
            if !self.io().read_chunk(n, keep.then_some(&mut piece)).await? {
                tracing::info!(queue_id = %tx.transaction.id, "connection closed during BDAT: nothing accepted");
                return Ok(Next::Close);
            }
            left -= n;
            if keep {
                tx.check.feed(&piece);
                if tx.check.problems.any() {
                    chunks.clear();
                } else {
                    chunks.push(&piece).await;
                }
            }
        }
        tx.chunked += size;
        if !last {
            tx.chunks = Some(chunks);
            self.tx = Some(tx);
            self.say(&format!("250 2.0.0 {size} octets received"));
            return Ok(Next::Continue);
        }
        // the same rules as DATA, answered after the LAST chunk
        if let Some(reply) = tx.check.finish().refusal(max) {
            tracing::info!(queue_id = %tx.transaction.id, problems = ?tx.check.problems, "message refused");
            self.count_refused(tx.transaction.rcpts.len());
            self.say(&reply);
            return Ok(Next::Continue);
        }
        let reply = self.deliver(tx, chunks).await;
        self.say(&reply);
        Ok(Next::Continue)
    }

    /// Assembles and stores the message; the reply is 250 only once the store's commit
    /// is durable.
    async fn deliver(&mut self, tx: Tx, spool: Spool) -> String {
        let recipients = tx.transaction.rcpts.len();
        let stored = assembly::store(&self.shared, &self.client(), tx.transaction, spool).await;
        match stored {
            Ok(reply) => {
                self.accepted += 1;
                reply
            }
            Err(refusal) => {
                self.count_refused(recipients);
                refusal
            }
        }
    }

    /// Counts refused recipients for the statistics: under the user's domain when one is
    /// logged in, else under no domain (a refused recipient's domain may not be ours, and
    /// a stranger could make up any number of them).
    fn count_refused(&self, recipients: usize) {
        let (domain, user) = match &self.user {
            Some(u) => (u.domain.as_str(), u.address.as_str()),
            None => ("", ""),
        };
        self.shared
            .store
            .count(StatEvent::Refused, domain, user, recipients as i64);
    }
}

fn parse_error_reply(e: &ParseError) -> String {
    match e {
        ParseError::UnknownCommand => "500 5.5.1 Error: command not recognized".to_string(),
        ParseError::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax".to_string(),
        ParseError::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax".to_string(),
        ParseError::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}"),
        ParseError::InvalidParameter { param } => format!("501 5.5.4 Invalid parameter {param}"),
        ParseError::UnsupportedParameter { param } => {
            format!("555 5.5.4 Unsupported parameter {param}")
        }
        _ => "500 5.5.2 Error: bad syntax".to_string(),
    }
}
