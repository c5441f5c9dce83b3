//! Logging in: STARTTLS, LOGIN and AUTHENTICATE PLAIN, with the failed-login throttle.

use super::*;

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

    pub(super) async fn authenticate(
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
}
