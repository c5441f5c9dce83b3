//! AUTH SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 4954 carrying RFC 5802/7677): the
//! two round trips, then the server's signature as a last `334` challenge that the
//! client answers with an empty line (SMTP has no success data). Malformed messages get
//! `501 5.5.2`, failed proofs `535 5.7.8` through the failed-login throttle, as PLAIN.

use estafeta_net::scram::{self, Failure, Mechanism};
use estafeta_store::ScramSecrets;

use super::{AUTH_CANCELLED, IoError, Session};

impl Session {
    pub(super) async fn auth_scram(
        &mut self,
        mechanism: Mechanism,
        initial: String,
    ) -> Result<(), IoError> {
        let binding = self.io().tls_exporter();
        if !mechanism.offered(binding.as_ref()) {
            self.say("504 5.5.4 Error: SCRAM-SHA-256-PLUS needs a TLS 1.3 connection");
            return Ok(());
        }
        let first = match self.first_response(initial, "334 ").await? {
            Ok(r) => r,
            Err(refusal) => return self.auth_refused(refusal),
        };
        let first = match scram::decode(&first)
            .and_then(|m| scram::client_first(&m, mechanism, binding.as_ref()))
        {
            Ok(f) => f,
            Err(failure) => return self.scram_failed(mechanism, None, failure).await,
        };
        let username = first.username.clone();
        // the check and the count in one step, as for PLAIN
        let Ok(attempt) = self.shared.auth_throttle.begin(self.peer.ip(), &username) else {
            tracing::info!(username = %username, "AUTH refused: blocked after failed attempts");
            self.say("454 4.7.0 Too many failed authentication attempts, try again later");
            return Ok(());
        };
        let (user, keys, decoy) = match self.shared.store.scram_secrets(&username).await {
            Ok(ScramSecrets::Stored { user, keys }) => (Some(user), keys, None),
            Ok(ScramSecrets::Decoy { keys, why }) => (None, keys, Some(why)),
            Err(e) => {
                tracing::error!(error = %e, "AUTH lookup failed");
                self.say("454 4.7.0 Temporary authentication failure");
                return Ok(());
            }
        };
        let (exchange, server_first) = first.server_first(scram::Secrets {
            iterations: keys.iterations,
            salt: keys.salt,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        });
        let challenge = format!("334 {}", scram::encode(&server_first));
        let last = match self.read_sasl_line(&challenge).await? {
            Ok(l) if l == "*" => return self.auth_refused(AUTH_CANCELLED),
            Ok(l) => l,
            Err(refusal) => return self.auth_refused(refusal),
        };
        let verdict = scram::decode(&last).and_then(|m| exchange.finish(&m));
        let (server_final, user) = match (verdict, user) {
            (Ok(v), Some(user)) => (v, user),
            (Ok(_), None) | (Err(Failure::WrongProof), None) => {
                tracing::info!(?decoy, "SCRAM login by a name without SCRAM keys");
                return self
                    .scram_failed(mechanism, Some((&username, attempt)), Failure::WrongProof)
                    .await;
            }
            (Err(failure), _) => {
                return self
                    .scram_failed(mechanism, Some((&username, attempt)), failure)
                    .await;
            }
        };
        let challenge = format!("334 {}", scram::encode(&server_final));
        match self.read_sasl_line(&challenge).await? {
            Ok(l) if l.is_empty() || l == "=" => {}
            Ok(l) if l == "*" => return self.auth_refused(AUTH_CANCELLED),
            Ok(_) => {
                self.say("501 5.5.2 Error: expected an empty response");
                return Ok(());
            }
            Err(refusal) => return self.auth_refused(refusal),
        }
        attempt.succeeded();
        tracing::info!(user = %user.address, mechanism = mechanism.name(), "authenticated");
        self.user = Some(user);
        self.say("235 2.7.0 Authentication successful");
        Ok(())
    }

    /// A failed exchange: the client's mistake (`501`), or a failed login (`535`) that
    /// the throttle counts and delays, as a wrong PLAIN password.
    async fn scram_failed(
        &mut self,
        mechanism: Mechanism,
        login: Option<(&str, estafeta_net::Attempt)>,
        failure: Failure,
    ) -> Result<(), IoError> {
        if failure.is_protocol_error() {
            tracing::info!(
                mechanism = mechanism.name(),
                reason = failure.reason(),
                "bad SCRAM message"
            );
            let reply = match failure {
                Failure::AuthzidRefused => {
                    "535 5.7.8 Error: authorization identity must be the user's own"
                }
                Failure::Unsupported(_) => "535 5.7.8 Error: unsupported SCRAM extension",
                _ => "501 5.5.2 Error: cannot decode the authentication response",
            };
            self.say(reply);
            return Ok(());
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
            "authentication failed"
        );
        self.io().flush().await?;
        tokio::time::sleep(delay).await;
        self.say("535 5.7.8 Error: authentication credentials invalid");
        Ok(())
    }
}
