//! Logging in: STARTTLS, LOGIN and AUTHENTICATE PLAIN (SCRAM is `scram_auth`), with the
//! failed-login throttle.
//!
//! Bound: an AUTHENTICATE response, as an initial response or on its own line, holds at
//! most [`MAX_SASL_RESPONSE`] octets (`BAD authentication response too long`); its own
//! line must arrive within the command timeout of its first octet (see `input`).

use super::input::{self, Got};
use super::*;
use estafeta_net::scram;

/// Longest SASL response, in base64: PLAIN's three fields of at most 255 octets each
/// (RFC 4616) need about 1 KiB.
pub(super) const MAX_SASL_RESPONSE: usize = 12 * 1024;

impl Session {
    pub(super) async fn starttls(&mut self, tag: &str) -> Step {
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

    pub(super) async fn login(&mut self, tag: &str, user: &str, password: &str) {
        if !self.login_allowed() {
            self.no(tag, "[PRIVACYREQUIRED] use STARTTLS before logging in");
            return;
        }
        // the check and the count in one step: parallel sessions cannot race past it
        let Ok(attempt) = self.shared.throttle.begin(self.peer.ip(), user) else {
            tracing::info!(username = %user, "login refused: blocked after failed logins");
            self.no(
                tag,
                "[UNAVAILABLE] too many failed logins from your address, try again later",
            );
            return;
        };
        match self.shared.store.authenticate(user, password).await {
            Ok(Some(u)) => {
                attempt.succeeded();
                tracing::info!(user = %u.address, "logged in");
                self.user = Some(u);
                let caps = format!("[CAPABILITY {}] logged in", self.capabilities());
                self.ok(tag, &caps);
            }
            Ok(None) => {
                let delay = attempt.failed();
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

    /// AUTHENTICATE: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (`scram_auth`), the
    /// first response as an initial response (SASL-IR) or on a line of its own after
    /// `+ `; either may hold [`MAX_SASL_RESPONSE`] octets. False when the session is over.
    pub(super) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Step {
        let scram = scram::Mechanism::from_name(mechanism);
        if !mechanism.eq_ignore_ascii_case("PLAIN") && scram.is_none() {
            self.no(tag, "[CANNOT] unsupported mechanism");
            return Ok(true);
        }
        if !self.login_allowed() {
            self.no(tag, "[PRIVACYREQUIRED] use STARTTLS before logging in");
            return Ok(true);
        }
        if let Some(mechanism) = scram {
            return self.authenticate_scram(tag, mechanism, initial).await;
        }
        let response = match initial {
            Some(r) if r == "=" => String::new(),
            Some(r) => r,
            None => match self.sasl_response(tag, "+ ").await? {
                Ok(r) => r,
                Err(go_on) => return Ok(go_on),
            },
        };
        if response.len() > MAX_SASL_RESPONSE {
            self.bad(tag, "authentication response too long");
            return Ok(true);
        }
        if response == "*" {
            self.bad(tag, "authentication cancelled");
            return Ok(true);
        }
        match sasl::plain(&response) {
            Some(c) => self.login(tag, &c.username, &c.password).await,
            None => self.bad(tag, "cannot decode the PLAIN response"),
        }
        Ok(true)
    }

    /// Sends `challenge` and reads the client's response line (at most
    /// [`MAX_SASL_RESPONSE`] octets); `Err` when the command is over, with whether the
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
        Ok(match self.line_by(MAX_SASL_RESPONSE + 2, deadline).await? {
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
        })
    }
}
