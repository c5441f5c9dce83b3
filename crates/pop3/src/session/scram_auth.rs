//! AUTH SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5034 carrying RFC 5802/7677/9266):
//! the two round trips, then the server's signature as a last `+ ` challenge that the
//! client answers with an empty line (RFC 5034 has no success data). Malformed
//! messages get `-ERR`, failed proofs `-ERR [AUTH]` through the failed-login throttle,
//! as PLAIN; `*` cancels.

use estafeta_net::scram::{self, Failure, Mechanism};
use estafeta_store::ScramSecrets;

use super::{IoError, Session};

impl Session {
    /// False when the session is over.
    pub(super) async fn auth_scram(
        &mut self,
        mechanism: Mechanism,
        initial: Option<String>,
    ) -> Result<bool, IoError> {
        let binding = self.io().tls_exporter();
        if !mechanism.offered(binding.as_ref()) {
            self.say("-ERR SCRAM-SHA-256-PLUS needs a TLS 1.3 connection");
            return Ok(true);
        }
        let ip = self.peer.ip();
        if self.shared.throttle.is_blocked(ip) {
            self.say("-ERR [AUTH] too many failed logins from your address, try again later");
            return Ok(true);
        }
        let first = match initial {
            Some(r) => r,
            None => match self.sasl_response("+ ").await? {
                Some(r) => r,
                None => return Ok(false),
            },
        };
        if first == "*" {
            self.say("-ERR authentication cancelled");
            return Ok(true);
        }
        let first = match scram::decode(&first)
            .and_then(|m| scram::client_first(&m, mechanism, binding.as_ref()))
        {
            Ok(f) => f,
            Err(failure) => return self.scram_failed(mechanism, None, failure).await,
        };
        let username = first.username.clone();
        // the check and the count in one step, as for PLAIN
        let Ok(attempt) = self.shared.throttle.begin(ip, &username) else {
            tracing::info!(username = %username, "login refused: blocked after failed logins");
            self.say("-ERR [AUTH] too many failed logins from your address, try again later");
            return Ok(true);
        };
        let (user, keys, decoy) = match self.shared.store.scram_secrets(&username).await {
            Ok(ScramSecrets::Stored { user, keys }) => (Some(user), keys, None),
            Ok(ScramSecrets::Decoy { keys, why }) => (None, keys, Some(why)),
            Err(e) => {
                tracing::error!(error = %e, "login lookup failed");
                self.say("-ERR [SYS/TEMP] temporary failure, try again later");
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
        let last = match self.sasl_response(&challenge).await? {
            Some(l) if l == "*" => {
                self.say("-ERR authentication cancelled");
                return Ok(true);
            }
            Some(l) => l,
            None => return Ok(false),
        };
        let verdict = scram::decode(&last).and_then(|m| exchange.finish(&m));
        let (server_final, user) = match (verdict, user) {
            (Ok(v), Some(user)) => (v, user),
            (Ok(_), None) | (Err(Failure::WrongProof), None) => {
                tracing::info!(?decoy, "SCRAM login by a name without SCRAM keys");
                let failure = Failure::WrongProof;
                return self
                    .scram_failed(mechanism, Some((&username, attempt)), failure)
                    .await;
            }
            (Err(failure), _) => {
                return self
                    .scram_failed(mechanism, Some((&username, attempt)), failure)
                    .await;
            }
        };
        let challenge = format!("+ {}", scram::encode(&server_final));
        match self.sasl_response(&challenge).await? {
            Some(l) if l.is_empty() || l == "=" => {}
            Some(l) if l == "*" => {
                self.say("-ERR authentication cancelled");
                return Ok(true);
            }
            Some(_) => {
                self.say("-ERR expected an empty response");
                return Ok(true);
            }
            None => return Ok(false),
        }
        tracing::info!(user = %user.address, mechanism = mechanism.name(), "authenticated");
        attempt.succeeded();
        self.logged_in(user).await;
        Ok(true)
    }

    /// A failed exchange: the client's mistake, or a failed login that the throttle
    /// counts and delays, as a wrong PLAIN password.
    async fn scram_failed(
        &mut self,
        mechanism: Mechanism,
        login: Option<(&str, estafeta_net::Attempt)>,
        failure: Failure,
    ) -> Result<bool, IoError> {
        if failure.is_protocol_error() {
            tracing::info!(
                mechanism = mechanism.name(),
                reason = failure.reason(),
                "bad SCRAM message"
            );
            self.say(match failure {
                Failure::AuthzidRefused => {
                    "-ERR [AUTH] authorization identity must be the user's own"
                }
                Failure::Unsupported(_) => "-ERR [AUTH] unsupported SCRAM extension",
                _ => "-ERR [AUTH] cannot decode the SCRAM message",
            });
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
        self.say("-ERR [AUTH] invalid user name or password");
        Ok(true)
    }
}
