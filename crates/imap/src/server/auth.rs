//! Logging in: STARTTLS, LOGIN and AUTHENTICATE (PLAIN, SCRAM-SHA-256 and -PLUS). The
//! exchange and the failed-login throttle are `net`'s (`sasl::Exchange`, `login::Gate`);
//! here their framing (`+ ` continuations, SASL-IR) and their replies. And the other
//! change of the connection's layers, COMPRESS=DEFLATE after login (the codec is `net`'s
//! `compress`).
//!
//! Bound: an AUTHENTICATE response, as an initial response or on its own line, holds at
//! most [`sasl::MAX_RESPONSE`] octets (`BAD authentication response too long`); its own
//! line must arrive within the command timeout of its first octet (see `input`).

use super::input::{self, Got};
use super::*;
use estafeta_net::login::{Gate, Login};
use estafeta_net::sasl::{Failure, Mechanism, Step as SaslStep};

const BLOCKED: &str = "[UNAVAILABLE] too many failed logins from your address, try again later";
const UNAVAILABLE: &str = "[UNAVAILABLE] temporary failure, try again later";
const INVALID: &str = "[AUTHENTICATIONFAILED] invalid user name or password";

impl Session {
    pub(super) async fn starttls(&mut self, tag: &str) -> Step {
        if self.tls.is_some() || !self.starttls_offered {
            self.bad(tag, "STARTTLS not available");
            return Ok(true);
        }
        let io = self.io.take().expect("connection present");
        let go_ahead = format!("{tag} OK begin TLS negotiation now");
        let Some(io) = io.start_tls(&go_ahead, &self.shared.tls.acceptor).await else {
            return Ok(false);
        };
        self.tls = io.tls_info();
        self.io = Some(io);
        Ok(true)
    }

    /// COMPRESS (RFC 4978), in the authenticated and selected states (the dispatch
    /// answers it BAD before login): DEFLATE only, once per connection (`NO
    /// [COMPRESSIONACTIVE]` the second time). The client must wait for the tagged OK
    /// before it compresses; when it has already sent more (plaintext pipelined behind
    /// COMPRESS, or compressed data it did not wait to send), COMPRESS is refused with BAD
    /// and the session goes on uncompressed, so nothing the client sent is dropped or
    /// read in the wrong form. Octets still in flight when the OK leaves cannot be told
    /// apart: they are inflated, and if they are not DEFLATE the connection ends.
    pub(super) async fn compress(&mut self, tag: &str, mechanism: &str) -> Step {
        if mechanism != "DEFLATE" {
            self.bad(tag, "unknown compression mechanism: DEFLATE is offered");
            return Ok(true);
        }
        if self.io().is_compressed() {
            self.no(tag, "[COMPRESSIONACTIVE] DEFLATE is already active");
            return Ok(true);
        }
        if self.io().has_buffered_input() {
            self.bad(
                tag,
                "input sent ahead of COMPRESS's reply: wait for it, then compress",
            );
            return Ok(true);
        }
        let io = self.io.take().expect("connection present");
        let Some(io) = io.start_compress(&format!("{tag} OK DEFLATE active")).await else {
            return Ok(false);
        };
        tracing::info!("COMPRESS=DEFLATE on");
        self.io = Some(io);
        Ok(true)
    }

    pub(super) async fn login(&mut self, tag: &str, user: &str, password: &str) {
        if !self.login_allowed() {
            self.no(tag, "[PRIVACYREQUIRED] use STARTTLS before logging in");
            return;
        }
        let shared = self.shared.clone();
        let gate = Gate::new(&*shared.store, &shared.throttle, self.peer.ip());
        match gate.password(user, password).await {
            Login::LoggedIn(u) => self.logged_in(tag, u, "LOGIN"),
            Login::Blocked => self.no(tag, BLOCKED),
            Login::Refused { delay } => self.refused(tag, delay).await,
            Login::Unavailable => self.no(tag, UNAVAILABLE),
        }
    }

    /// AUTHENTICATE: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, the first response as
    /// an initial response (SASL-IR) or on a line of its own after `+ `. False when the
    /// session is over.
    pub(super) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Step {
        let Some(mechanism) = Mechanism::from_name(mechanism).filter(|m| *m != Mechanism::Login)
        else {
            self.no(tag, "[CANNOT] unsupported mechanism");
            return Ok(true);
        };
        if !self.login_allowed() {
            self.no(tag, "[PRIVACYREQUIRED] use STARTTLS before logging in");
            return Ok(true);
        }
        let shared = self.shared.clone();
        let gate = Gate::new(&*shared.store, &shared.throttle, self.peer.ip());
        let binding = self.io().tls_exporter();
        let (mut exchange, mut step) =
            sasl::Exchange::start(gate, mechanism, binding, initial.as_deref()).await;
        loop {
            step = match step {
                SaslStep::Challenge(challenge) => {
                    match self.sasl_response(tag, &format!("+ {challenge}")).await? {
                        Ok(response) => exchange.respond(&response).await,
                        Err(go_on) => return Ok(go_on),
                    }
                }
                SaslStep::Done(user) => {
                    self.logged_in(tag, user, mechanism.name());
                    return Ok(true);
                }
                SaslStep::Failed(failure) => {
                    self.authentication_failed(tag, mechanism, failure).await;
                    return Ok(true);
                }
            }
        }
    }

    fn logged_in(&mut self, tag: &str, user: User, mechanism: &str) {
        tracing::info!(user = %user.address, mechanism, "logged in");
        self.user = Some(user);
        let caps = format!("[CAPABILITY {}] logged in", self.capabilities());
        self.ok(tag, &caps);
    }

    /// A wrong password: the reply waits the throttle's delay, earlier replies do not.
    async fn refused(&mut self, tag: &str, delay: std::time::Duration) {
        let _ = self.io().flush().await;
        tokio::time::sleep(delay).await;
        self.no(tag, INVALID);
    }

    async fn authentication_failed(&mut self, tag: &str, mechanism: Mechanism, failure: Failure) {
        match failure {
            Failure::NotOffered => self.no(
                tag,
                "[CANNOT] SCRAM-SHA-256-PLUS needs a TLS 1.3 connection",
            ),
            Failure::Blocked => self.no(tag, BLOCKED),
            Failure::Cancelled => self.bad(tag, "authentication cancelled"),
            Failure::TooLong => self.bad(tag, "authentication response too long"),
            Failure::Malformed if mechanism.is_scram() => {
                self.bad(tag, "cannot decode the SCRAM message")
            }
            Failure::Malformed => self.bad(tag, "cannot decode the PLAIN response"),
            Failure::AuthzidRefused => self.no(
                tag,
                "[AUTHORIZATIONFAILED] authorization identity must be the user's own",
            ),
            Failure::Unsupported => self.no(tag, "[CANNOT] unsupported SCRAM extension"),
            Failure::NotEmpty => self.bad(tag, "expected an empty response"),
            Failure::Refused { delay } => self.refused(tag, delay).await,
            Failure::Unavailable => self.no(tag, UNAVAILABLE),
        }
    }

    /// Sends `challenge` and reads the client's response line (at most
    /// [`sasl::MAX_RESPONSE`] octets); `Err` when the command is over, with whether the
    /// session goes on (a too-long response has been answered `BAD`).
    pub(super) async fn sasl_response(
        &mut self,
        tag: &str,
        challenge: &str,
    ) -> Result<Result<String, bool>, IoError> {
        self.line(challenge);
        let idle = self.shared.settings.idle_timeout;
        if !input::wait_for_input(self.io(), idle).await? {
            self.ended = Some("closed");
            return Ok(Err(false));
        }
        let deadline = self.command_deadline();
        // the line's CRLF on top of the response
        Ok(
            match self.line_by(sasl::MAX_RESPONSE + 2, deadline).await? {
                Got::Line(l) => Ok(String::from_utf8_lossy(&l).trim_end().to_string()),
                Got::TooLong => {
                    self.bad(tag, "authentication response too long");
                    Err(true)
                }
                Got::Closed => {
                    self.ended = Some("closed");
                    Err(false)
                }
                Got::Late => {
                    self.too_slow();
                    Err(false)
                }
            },
        )
    }
}
