//! AUTHENTICATE SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, RFC 9266):
//! the two round trips, then the server's signature as a last `+ ` continuation that the
//! client answers with an empty line. Malformed messages get `BAD`, failed proofs `NO
//! [AUTHENTICATIONFAILED]` through the failed-login throttle, as LOGIN; `*` cancels
//! (`BAD`, RFC 9051 §6.2.2).

use estafeta_net::scram::{self, Failure, Mechanism};
use estafeta_store::ScramSecrets;

use super::auth::MAX_SASL_RESPONSE;
use super::{Session, Step};

impl Session {
    pub(super) async fn authenticate_scram(
        &mut self,
        tag: &str,
        mechanism: Mechanism,
        initial: Option<String>,
    ) -> Step {
        let binding = self.io().tls_exporter();
        if !mechanism.offered(binding.as_ref()) {
            self.no(
                tag,
                "[CANNOT] SCRAM-SHA-256-PLUS needs a TLS 1.3 connection",
            );
            return Ok(true);
        }
        let ip = self.peer.ip();
        if self.shared.throttle.is_blocked(ip) {
            self.no(
                tag,
                "[UNAVAILABLE] too many failed logins from your address, try again later",
            );
            return Ok(true);
        }
        let first = match initial {
            Some(r) => r,
            None => match self.sasl_response(tag, "+ ").await? {
                Ok(r) => r,
                Err(go_on) => return Ok(go_on),
            },
        };
        if first.len() > MAX_SASL_RESPONSE {
            self.bad(tag, "authentication response too long");
            return Ok(true);
        }
        if first == "*" {
            self.bad(tag, "authentication cancelled");
            return Ok(true);
        }
        let first = match scram::decode(&first)
            .and_then(|m| scram::client_first(&m, mechanism, binding.as_ref()))
        {
            Ok(f) => f,
            Err(failure) => return self.scram_failed(tag, mechanism, None, failure).await,
        };
        let username = first.username.clone();
        // the check and the count in one step, as for LOGIN
        let Ok(attempt) = self.shared.throttle.begin(ip, &username) else {
            tracing::info!(username = %username, "login refused: blocked after failed logins");
            self.no(
                tag,
                "[UNAVAILABLE] too many failed logins from your address, try again later",
            );
            return Ok(true);
        };
        let (user, keys, decoy) = match self.shared.store.scram_secrets(&username).await {
            Ok(ScramSecrets::Stored { user, keys }) => (Some(user), keys, None),
            Ok(ScramSecrets::Decoy { keys, why }) => (None, keys, Some(why)),
            Err(e) => {
                tracing::error!(error = %e, "login lookup failed");
                self.no(tag, "[UNAVAILABLE] temporary failure, try again later");
                return Ok(true);
            }
        };
        let (exchange, server_first) = first.server_first(scram::Secrets {
            iterations: keys.iterations,
            salt: keys.salt,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        });
        let challenge = format!("+ {}", scram::encode(&server_first));
        let last = match self.sasl_response(tag, &challenge).await? {
            Ok(l) if l == "*" => {
                self.bad(tag, "authentication cancelled");
                return Ok(true);
            }
            Ok(l) => l,
            Err(go_on) => return Ok(go_on),
        };
        let verdict = scram::decode(&last).and_then(|m| exchange.finish(&m));
        let (server_final, user) = match (verdict, user) {
            (Ok(v), Some(user)) => (v, user),
            (Ok(_), None) | (Err(Failure::WrongProof), None) => {
                tracing::info!(?decoy, "SCRAM login by a name without SCRAM keys");
                let failure = Failure::WrongProof;
                return self
                    .scram_failed(tag, mechanism, Some((&username, attempt)), failure)
                    .await;
            }
            (Err(failure), _) => {
                return self
                    .scram_failed(tag, mechanism, Some((&username, attempt)), failure)
                    .await;
            }
        };
        let challenge = format!("+ {}", scram::encode(&server_final));
        match self.sasl_response(tag, &challenge).await? {
            Ok(l) if l.is_empty() || l == "=" => {}
            Ok(l) if l == "*" => {
                self.bad(tag, "authentication cancelled");
                return Ok(true);
            }
            Ok(_) => {
                self.bad(tag, "expected an empty response");
                return Ok(true);
            }
            Err(go_on) => return Ok(go_on),
        }
        attempt.succeeded();
        tracing::info!(user = %user.address, mechanism = mechanism.name(), "logged in");
        self.user = Some(user);
        let caps = format!("[CAPABILITY {}] logged in", self.capabilities());
        self.ok(tag, &caps);
        Ok(true)
    }

    /// A failed exchange: the client's mistake (`BAD`), or a failed login (`NO`) that
    /// the throttle counts and delays, as a wrong password with LOGIN.
    async fn scram_failed(
        &mut self,
        tag: &str,
        mechanism: Mechanism,
        login: Option<(&str, estafeta_net::Attempt)>,
        failure: Failure,
    ) -> Step {
        if failure.is_protocol_error() {
            tracing::info!(
                mechanism = mechanism.name(),
                reason = failure.reason(),
                "bad SCRAM message"
            );
            match failure {
                Failure::AuthzidRefused => self.no(
                    tag,
                    "[AUTHORIZATIONFAILED] authorization identity must be the user's own",
                ),
                Failure::Unsupported(_) => self.no(tag, "[CANNOT] unsupported SCRAM extension"),
                _ => self.bad(tag, "cannot decode the SCRAM message"),
            }
            return Ok(true);
        }
        // a proof that fails counts as a wrong password; a malformed message (above) gives
        // the attempt's reservation back when it is dropped
        let (username, delay) = match login {
            Some((name, attempt)) => (name, attempt.failed()),
            None => ("", std::time::Duration::ZERO),
        };
        tracing::info!(
            username,
            mechanism = mechanism.name(),
            reason = failure.reason(),
            "login failed"
        );
        let _ = self.io().flush().await;
        tokio::time::sleep(delay).await;
        self.no(tag, "[AUTHENTICATIONFAILED] invalid user name or password");
        Ok(true)
    }
}
