//! Logging in through the failed-login throttle, the one way SMTP AUTH, IMAP LOGIN and
//! AUTHENTICATE, and POP3 USER/PASS and AUTH check a password: [`AuthThrottle::begin`]
//! (refused while the client or the pair is blocked), then the lookup, then
//! [`Attempt::succeeded`] or [`Attempt::failed`] with the delay to wait before answering.
//! Each protocol maps the [`Login`] outcome to its own reply.
//!
//! The lookups are the [`Accounts`] trait, so that `net` does not depend on the store:
//! the store implements it for every `Store`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::scram;
use crate::throttle::{Attempt, AuthThrottle, Blocked};

/// The directory lookups a login needs.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Who logs in.
    type User: Send;
    type Error: std::fmt::Display + Send;
    /// The user if the password is right, `None` otherwise (unknown user included).
    async fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Self::User>, Self::Error>;
    /// What a SCRAM-SHA-256 login by `name` is checked against.
    async fn scram_secrets(&self, name: &str) -> Result<ScramLookup<Self::User>, Self::Error>;
}

/// A user's SCRAM keys, or decoy keys that no proof matches, so that the exchange of a
/// name without keys looks like a real user's until it fails at the proof.
pub enum ScramLookup<U> {
    Stored {
        user: U,
        secrets: scram::Secrets,
    },
    Decoy {
        secrets: scram::Secrets,
        /// Why, for the log only.
        why: &'static str,
    },
}

/// How a login went.
#[derive(Debug)]
pub enum Login<U> {
    LoggedIn(U),
    /// The client, or this user name from it, is blocked after failed logins.
    Blocked,
    /// Wrong password (or proof): answer after `delay`, flushing earlier replies first.
    Refused {
        delay: Duration,
    },
    /// The lookup failed: a temporary failure.
    Unavailable,
}

/// The longest a login waits for the client's other logins in progress to be decided.
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// A client about to log in: the accounts, the shared throttle, and its address.
pub struct Gate<'a, A: Accounts + ?Sized> {
    pub accounts: &'a A,
    pub throttle: &'a Arc<AuthThrottle>,
    pub ip: IpAddr,
}

impl<'a, A: Accounts + ?Sized> Gate<'a, A> {
    pub fn new(accounts: &'a A, throttle: &'a Arc<AuthThrottle>, ip: IpAddr) -> Gate<'a, A> {
        Gate {
            accounts,
            throttle,
            ip,
        }
    }

    /// The cheap early refusal before an authentication exchange: the whole client is
    /// blocked, whatever the user name. [`Gate::begin`] is the real check.
    pub fn is_blocked(&self) -> bool {
        let blocked = self.throttle.is_blocked(self.ip);
        if blocked {
            tracing::info!("login refused: address blocked after failed logins");
        }
        blocked
    }

    /// Checks the client and the pair and reserves a failure in one step (see
    /// [`AuthThrottle::begin`]); `None` while blocked. While attempts in progress fill
    /// the limit ([`Blocked::Busy`]: several connections logging in at once), waits for
    /// them, up to [`BUSY_WAIT`].
    pub async fn begin(&self, name: &str) -> Option<Attempt> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        loop {
            let settled = self.throttle.settled();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match self.throttle.begin(self.ip, name) {
                Ok(attempt) => return Some(attempt),
                Err(Blocked::Busy) => {
                    if tokio::time::timeout_at(deadline, settled).await.is_err() {
                        tracing::info!(username = %name, "login refused: too many logins in progress");
                        return None;
                    }
                }
                Err(_) => {
                    tracing::info!(username = %name, "login refused: blocked after failed logins");
                    return None;
                }
            }
        }
    }

    /// Checks a password through the throttle.
    pub async fn password(&self, name: &str, password: &str) -> Login<A::User> {
        // the check and the count in one step: parallel sessions cannot race past it
        let Some(attempt) = self.begin(name).await else {
            return Login::Blocked;
        };
        match self.accounts.authenticate(name, password).await {
            Ok(Some(user)) => {
                attempt.succeeded();
                Login::LoggedIn(user)
            }
            Ok(None) => {
                tracing::info!(username = %name, "login failed");
                Login::Refused {
                    delay: attempt.failed(),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "login lookup failed");
                Login::Unavailable
            }
        }
    }
}
