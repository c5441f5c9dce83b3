//! The SASL exchange as a state machine, one for SMTP AUTH, IMAP AUTHENTICATE and POP3
//! AUTH: [`Exchange::start`] with the mechanism and the initial response, then
//! [`Exchange::respond`] with each client response, each giving a [`Step`]: a challenge
//! to send, the user logged in, or why it failed. PLAIN and LOGIN end in a password check
//! and SCRAM-SHA-256(-PLUS) in a proof check, both through the failed-login throttle
//! (`crate::login`).
//!
//! The protocol does the framing: it sends each challenge after its own prefix (`334 `,
//! `+ `), reads the response under its own bounds (line length, deadlines), and words
//! the outcome in its own replies. `*` cancels at any step (RFC 4422 §3.5); an initial
//! response of `=` is an empty one (RFC 4422 §4).
//!
//! Bounds: a response is at most [`MAX_RESPONSE`] octets ([`Failure::TooLong`]); an
//! exchange has at most three challenges (SCRAM: the first, the server-first message,
//! the server's signature).

use std::time::Duration;

use crate::login::{Accounts, Gate, Login, ScramLookup};
use crate::scram;
use crate::throttle::Attempt;

/// Longest response, in base64: PLAIN's three fields of at most 255 octets each (RFC
/// 4616) need about 1 KiB, SCRAM's messages [`scram::MAX_MESSAGE`] octets.
pub const MAX_RESPONSE: usize = 12 * 1024;

/// LOGIN's prompts, in base64: `Username:` and `Password:`.
const USERNAME_PROMPT: &str = "VXNlcm5hbWU6";
const PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

/// The mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    /// SMTP only (the draft Microsoft mechanism clients still use).
    Login,
    Scram(scram::Mechanism),
}

impl Mechanism {
    /// The mechanism a (case-insensitive) SASL name stands for.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            scram::Mechanism::from_name(name).map(Mechanism::Scram)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn is_scram(self) -> bool {
        matches!(self, Mechanism::Scram(_))
    }
}

/// What to do next.
#[derive(Debug)]
pub enum Step<U> {
    /// Send this challenge (base64, possibly empty) and give the client's response to
    /// [`Exchange::respond`].
    Challenge(String),
    /// Logged in.
    Done(U),
    /// The exchange is over without a login.
    Failed(Failure),
}

/// Why an exchange ended without a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// SCRAM-SHA-256-PLUS on a connection without a channel binding (plaintext, TLS 1.2).
    NotOffered,
    /// The client, or the user name from it, is blocked after failed logins.
    Blocked,
    /// The client answered `*`.
    Cancelled,
    /// A response longer than [`MAX_RESPONSE`].
    TooLong,
    /// A response that cannot be decoded: not base64, not the mechanism's syntax, or
    /// (PLAIN) an authorization identity other than the user's own.
    Malformed,
    /// SCRAM: an authorization identity other than the user's own.
    AuthzidRefused,
    /// SCRAM: a mandatory extension or channel binding type that is not offered.
    Unsupported,
    /// SCRAM: the response to the server's signature was not empty.
    NotEmpty,
    /// Wrong password or proof: answer after `delay`, flushing earlier replies first.
    Refused { delay: Duration },
    /// The lookup failed: a temporary failure.
    Unavailable,
}

enum State<U> {
    Plain,
    LoginUser,
    LoginPassword {
        /// The user name as sent (base64).
        user: String,
    },
    ScramFirst(scram::Mechanism),
    ScramFinal(Box<ScramFinal<U>>),
    /// The proof was right; the client must acknowledge the server's signature.
    ScramDone {
        user: U,
        attempt: Attempt,
    },
    Over,
}

/// A SCRAM exchange waiting for the client-final-message.
struct ScramFinal<U> {
    mechanism: scram::Mechanism,
    exchange: scram::Exchange,
    username: String,
    attempt: Attempt,
    /// `None` when the keys are a decoy, with why.
    user: Result<U, &'static str>,
}

/// One authentication exchange.
pub struct Exchange<'a, A: Accounts + ?Sized> {
    gate: Gate<'a, A>,
    binding: Option<[u8; 32]>,
    state: State<A::User>,
}

impl<'a, A: Accounts + ?Sized> Exchange<'a, A> {
    /// Starts `mechanism` on a connection whose `tls-exporter` value is `binding`, with
    /// the client's initial response if it gave one.
    pub async fn start(
        gate: Gate<'a, A>,
        mechanism: Mechanism,
        binding: Option<[u8; 32]>,
        initial: Option<&str>,
    ) -> (Exchange<'a, A>, Step<A::User>) {
        let mut exchange = Exchange {
            gate,
            binding,
            state: State::Over,
        };
        if let Mechanism::Scram(m) = mechanism
            && !m.offered(binding.as_ref())
        {
            return (exchange, Step::Failed(Failure::NotOffered));
        }
        if exchange.gate.is_blocked() {
            return (exchange, Step::Failed(Failure::Blocked));
        }
        let (state, prompt) = match mechanism {
            Mechanism::Plain => (State::Plain, ""),
            Mechanism::Login => (State::LoginUser, USERNAME_PROMPT),
            Mechanism::Scram(m) => (State::ScramFirst(m), ""),
        };
        exchange.state = state;
        let step = match initial {
            None => Step::Challenge(prompt.to_string()),
            Some("=") => exchange.respond("").await,
            Some(response) => exchange.respond(response).await,
        };
        (exchange, step)
    }

    /// The client's response to the last challenge.
    pub async fn respond(&mut self, response: &str) -> Step<A::User> {
        let state = std::mem::replace(&mut self.state, State::Over);
        if response.len() > MAX_RESPONSE {
            return Step::Failed(Failure::TooLong);
        }
        if response == "*" {
            return Step::Failed(Failure::Cancelled);
        }
        match state {
            State::Plain => match super::plain(response) {
                Some(c) => self.password(&c.username, &c.password).await,
                None => Step::Failed(Failure::Malformed),
            },
            State::LoginUser => {
                self.state = State::LoginPassword {
                    user: response.to_string(),
                };
                Step::Challenge(PASSWORD_PROMPT.to_string())
            }
            State::LoginPassword { user } => {
                match (super::decode(&user), super::decode(response)) {
                    (Some(user), Some(password)) => self.password(&user, &password).await,
                    _ => Step::Failed(Failure::Malformed),
                }
            }
            State::ScramFirst(mechanism) => self.scram_first(mechanism, response).await,
            State::ScramFinal(waiting) => self.scram_final(*waiting, response),
            State::ScramDone { user, attempt } => {
                if response.is_empty() || response == "=" {
                    attempt.succeeded();
                    Step::Done(user)
                } else {
                    // the attempt's reservation is given back as it is dropped
                    Step::Failed(Failure::NotEmpty)
                }
            }
            State::Over => Step::Failed(Failure::Malformed),
        }
    }

    async fn password(&self, name: &str, password: &str) -> Step<A::User> {
        match self.gate.password(name, password).await {
            Login::LoggedIn(user) => Step::Done(user),
            Login::Blocked => Step::Failed(Failure::Blocked),
            Login::Refused { delay } => Step::Failed(Failure::Refused { delay }),
            Login::Unavailable => Step::Failed(Failure::Unavailable),
        }
    }

    async fn scram_first(&mut self, mechanism: scram::Mechanism, response: &str) -> Step<A::User> {
        let first = match scram::decode(response)
            .and_then(|m| scram::client_first(&m, mechanism, self.binding.as_ref()))
        {
            Ok(first) => first,
            Err(failure) => return scram_failed(mechanism, None, failure),
        };
        let username = first.username.clone();
        // the check and the count in one step, as for a password
        let Some(attempt) = self.gate.begin(&username).await else {
            return Step::Failed(Failure::Blocked);
        };
        let (user, secrets) = match self.gate.accounts.scram_secrets(&username).await {
            Ok(ScramLookup::Stored { user, secrets }) => (Ok(user), secrets),
            Ok(ScramLookup::Decoy { secrets, why }) => (Err(why), secrets),
            Err(e) => {
                tracing::error!(error = %e, "login lookup failed");
                return Step::Failed(Failure::Unavailable);
            }
        };
        let (exchange, server_first) = first.server_first(secrets);
        self.state = State::ScramFinal(Box::new(ScramFinal {
            mechanism,
            exchange,
            username,
            attempt,
            user,
        }));
        Step::Challenge(scram::encode(&server_first))
    }

    fn scram_final(&mut self, waiting: ScramFinal<A::User>, response: &str) -> Step<A::User> {
        let ScramFinal {
            mechanism,
            exchange,
            username,
            attempt,
            user,
        } = waiting;
        let verdict = scram::decode(response).and_then(|m| exchange.finish(&m));
        match (verdict, user) {
            (Ok(server_final), Ok(user)) => {
                self.state = State::ScramDone { user, attempt };
                Step::Challenge(scram::encode(&server_final))
            }
            (Ok(_) | Err(scram::Failure::WrongProof), Err(why)) => {
                tracing::info!(why, "SCRAM login by a name without SCRAM keys");
                let failure = scram::Failure::WrongProof;
                scram_failed(mechanism, Some((&username, attempt)), failure)
            }
            (Err(failure), _) => scram_failed(mechanism, Some((&username, attempt)), failure),
        }
    }
}

/// A failed SCRAM exchange: the client's mistake, or a failed login that the throttle
/// counts and delays, as a wrong password. A malformed message gives the attempt's
/// reservation back as it is dropped.
fn scram_failed<U>(
    mechanism: scram::Mechanism,
    login: Option<(&str, Attempt)>,
    failure: scram::Failure,
) -> Step<U> {
    if failure.is_protocol_error() {
        tracing::info!(
            mechanism = mechanism.name(),
            reason = failure.reason(),
            "bad SCRAM message"
        );
        return Step::Failed(match failure {
            scram::Failure::AuthzidRefused => Failure::AuthzidRefused,
            scram::Failure::Unsupported(_) => Failure::Unsupported,
            _ => Failure::Malformed,
        });
    }
    let (username, delay) = match login {
        Some((name, attempt)) => (name, attempt.failed()),
        None => ("", Duration::ZERO),
    };
    tracing::info!(
        username,
        mechanism = mechanism.name(),
        reason = failure.reason(),
        "login failed"
    );
    Step::Failed(Failure::Refused { delay })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use async_trait::async_trait;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::throttle::{AuthThrottle, ThrottleSettings};

    /// bob, password "pw", and SCRAM keys made from a known client key; ann has no keys.
    struct Users;

    const CLIENT_KEY: [u8; 32] = [7; 32];

    fn keys() -> scram::Secrets {
        scram::Secrets {
            iterations: 4096,
            salt: b"salt".to_vec(),
            stored_key: Sha256::digest(CLIENT_KEY).into(),
            server_key: [9; 32],
        }
    }

    #[async_trait]
    impl Accounts for Users {
        type User = String;
        type Error = &'static str;
        async fn authenticate(&self, name: &str, pw: &str) -> Result<Option<String>, &'static str> {
            match (name, pw) {
                ("down", _) => Err("the store is down"),
                ("bob", "pw") => Ok(Some("bob".into())),
                _ => Ok(None),
            }
        }
        async fn scram_secrets(&self, name: &str) -> Result<ScramLookup<String>, &'static str> {
            Ok(match name {
                "bob" => ScramLookup::Stored {
                    user: "bob".into(),
                    secrets: keys(),
                },
                _ => ScramLookup::Decoy {
                    secrets: keys(),
                    why: "unknown user",
                },
            })
        }
    }

    fn throttle(per_user: u32) -> Arc<AuthThrottle> {
        Arc::new(AuthThrottle::new(ThrottleSettings {
            per_user,
            per_address: 10,
            delay: Duration::from_millis(10),
            block: Duration::from_secs(60),
            ipv6_prefix: 64,
        }))
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    async fn start<'a>(
        throttle: &'a Arc<AuthThrottle>,
        mechanism: &str,
        initial: Option<&str>,
    ) -> (Exchange<'a, Users>, Step<String>) {
        let mechanism = Mechanism::from_name(mechanism).expect("a mechanism");
        Exchange::start(Gate::new(&Users, throttle, IP), mechanism, None, initial).await
    }

    #[tokio::test]
    async fn plain_and_login() {
        let t = throttle(5);
        let (_, step) = start(&t, "plain", Some(&b64("\0bob\0pw"))).await;
        assert!(matches!(step, Step::Done(u) if u == "bob"));
        // no initial response: an empty challenge first
        let (mut ex, step) = start(&t, "PLAIN", None).await;
        assert!(matches!(step, Step::Challenge(c) if c.is_empty()));
        let step = ex.respond(&b64("\0bob\0nope")).await;
        assert!(matches!(step, Step::Failed(Failure::Refused { delay }) if delay > Duration::ZERO));
        let (_, step) = start(&t, "PLAIN", Some("=")).await;
        assert!(matches!(step, Step::Failed(Failure::Malformed)));
        let (_, step) = start(&t, "PLAIN", Some(&b64("admin\0bob\0pw"))).await;
        assert!(
            matches!(step, Step::Failed(Failure::Malformed)),
            "no proxy logins"
        );
        let (_, step) = start(&t, "PLAIN", Some(&b64("\0down\0pw"))).await;
        assert!(matches!(step, Step::Failed(Failure::Unavailable)));
        let (mut ex, step) = start(&t, "LOGIN", None).await;
        assert!(matches!(step, Step::Challenge(c) if c == USERNAME_PROMPT));
        let step = ex.respond(&b64("bob")).await;
        assert!(matches!(step, Step::Challenge(c) if c == PASSWORD_PROMPT));
        assert!(matches!(ex.respond(&b64("pw")).await, Step::Done(_)));
        let (mut ex, _) = start(&t, "LOGIN", Some(&b64("bob"))).await;
        assert!(matches!(
            ex.respond("not base64!").await,
            Step::Failed(Failure::Malformed)
        ));
    }

    #[tokio::test]
    async fn cancel_too_long_and_the_throttle() {
        let t = throttle(2);
        let (_, step) = start(&t, "PLAIN", Some("*")).await;
        assert!(matches!(step, Step::Failed(Failure::Cancelled)));
        let (mut ex, _) = start(&t, "LOGIN", None).await;
        ex.respond(&b64("bob")).await;
        assert!(matches!(
            ex.respond("*").await,
            Step::Failed(Failure::Cancelled)
        ));
        let long = "A".repeat(MAX_RESPONSE + 1);
        let (_, step) = start(&t, "PLAIN", Some(&long)).await;
        assert!(matches!(step, Step::Failed(Failure::TooLong)));
        for _ in 0..2 {
            let (_, step) = start(&t, "PLAIN", Some(&b64("\0bob\0x"))).await;
            assert!(matches!(step, Step::Failed(Failure::Refused { .. })));
        }
        // bob is blocked from this client, even with his password
        let (_, step) = start(&t, "PLAIN", Some(&b64("\0bob\0pw"))).await;
        assert!(matches!(step, Step::Failed(Failure::Blocked)));
        // and the whole client once it reaches per_address
        let t = Arc::new(AuthThrottle::new(ThrottleSettings {
            per_user: 1,
            per_address: 1,
            delay: Duration::ZERO,
            block: Duration::from_secs(60),
            ipv6_prefix: 64,
        }));
        start(&t, "PLAIN", Some(&b64("\0x\0y"))).await;
        let (_, step) = start(&t, "SCRAM-SHA-256", None).await;
        assert!(
            matches!(step, Step::Failed(Failure::Blocked)),
            "before any exchange"
        );
    }

    /// The client side of SCRAM over the known client key: client-final for `server_first`.
    fn client_final(first_bare: &str, server_first: &str, gs2: &str) -> String {
        let nonce = server_first
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .expect("nonce");
        let without_proof = format!("c={},r={nonce}", STANDARD.encode(gs2));
        let auth_message = format!("{first_bare},{server_first},{without_proof}");
        let stored: [u8; 32] = Sha256::digest(CLIENT_KEY).into();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&stored).expect("key");
        mac.update(auth_message.as_bytes());
        let signature: [u8; 32] = mac.finalize().into_bytes().into();
        let proof: Vec<u8> = CLIENT_KEY
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        b64(&format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    fn decoded(challenge: &str) -> String {
        String::from_utf8(STANDARD.decode(challenge).expect("base64")).expect("utf-8")
    }

    #[tokio::test]
    async fn scram_round_trips() {
        let t = throttle(5);
        let bare = "n=bob,r=clientnonce";
        let (mut ex, step) = start(&t, "SCRAM-SHA-256", Some(&b64(&format!("n,,{bare}")))).await;
        let Step::Challenge(server_first) = step else {
            panic!("expected the server-first message")
        };
        let server_first = decoded(&server_first);
        let step = ex.respond(&client_final(bare, &server_first, "n,,")).await;
        let Step::Challenge(server_final) = step else {
            panic!("expected the server's signature")
        };
        assert!(decoded(&server_final).starts_with("v="));
        assert!(matches!(ex.respond("").await, Step::Done(u) if u == "bob"));

        // a wrong proof fails as a wrong password; a name without keys alike
        for name in ["bob", "ann"] {
            let bare = format!("n={name},r=clientnonce");
            let (mut ex, step) =
                start(&t, "SCRAM-SHA-256", Some(&b64(&format!("n,,{bare}")))).await;
            let Step::Challenge(server_first) = step else {
                panic!("expected the server-first message")
            };
            let wrong = client_final(&bare, &decoded(&server_first), "y,,");
            let step = ex.respond(&wrong).await;
            assert!(
                matches!(step, Step::Failed(Failure::Refused { delay }) if delay > Duration::ZERO),
                "{name}: {step:?}"
            );
        }
        // the signature must be answered with an empty response
        let (mut ex, step) = start(&t, "SCRAM-SHA-256", Some(&b64(&format!("n,,{bare}")))).await;
        let Step::Challenge(server_first) = step else {
            panic!("expected the server-first message")
        };
        ex.respond(&client_final(bare, &decoded(&server_first), "n,,"))
            .await;
        assert!(matches!(
            ex.respond("eHl6").await,
            Step::Failed(Failure::NotEmpty)
        ));
        // the client's mistakes
        let (_, step) = start(&t, "SCRAM-SHA-256", Some(&b64("n,a=admin,n=bob,r=x"))).await;
        assert!(matches!(step, Step::Failed(Failure::AuthzidRefused)));
        let (_, step) = start(&t, "SCRAM-SHA-256", Some(&b64("n,,m=ext,n=bob,r=x"))).await;
        assert!(matches!(step, Step::Failed(Failure::Unsupported)));
        let (_, step) = start(&t, "SCRAM-SHA-256", Some("=")).await;
        assert!(matches!(step, Step::Failed(Failure::Malformed)));
        // -PLUS needs a channel binding
        let (_, step) = start(&t, "SCRAM-SHA-256-PLUS", None).await;
        assert!(matches!(step, Step::Failed(Failure::NotOffered)));
    }
}
