//! The failed-login throttle shared by SMTP AUTH, IMAP and POP3.
//!
//! Failures are counted per client (an address grouped as in [`crate::client_group`]) and
//! per (client, user name). A pair is blocked after `per_user` failures, a client after
//! `per_address`, for `block`; a success clears only its own pair's count, so "four
//! guesses, one good login with any account, repeat" runs into the client's limit.
//!
//! The check and the count are one step: [`AuthThrottle::begin`] refuses a blocked client
//! or pair and otherwise reserves a failure for the attempt before the password is
//! checked; [`Attempt::succeeded`] gives the reservation back, [`Attempt::failed`] makes
//! it a failure. So parallel sessions cannot all pass the check before their failures are
//! counted: at most the limit get a verdict on a password. An attempt dropped without a
//! verdict (a store error) gives its reservation back. Where only attempts in progress
//! (no failures) fill the limit — a client opening several connections at once, as
//! Thunderbird does — the next attempt is told [`Blocked::Busy`] and waits for one of
//! them to be decided ([`AuthThrottle::settled`]) rather than being refused.
//!
//! Memory: each of the two tables keeps at most [`crate::table::MAX_ENTRIES`] entries,
//! forgetting the least recently used half when full; a user name is kept as a 64-bit
//! hash (SHA-256) of its lower-case form, whatever its length.
//!
//! A cluster: [`AuthThrottle::shared_counts`] gives this node's failures by key and
//! [`AuthThrottle::set_shared`] takes the other nodes' (exchanged through the store every
//! few seconds by `server`); a client or pair is refused when its failures here and there
//! together reach the limit.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::networks::client_group;
use crate::table::{MAX_ENTRIES, Recent, Table};

/// The throttle's limits.
#[derive(Clone, Debug)]
pub struct ThrottleSettings {
    /// Failures of one user name from one client before that pair is blocked.
    pub per_user: u32,
    /// Failures from one client, whatever the user names, before it is blocked.
    pub per_address: u32,
    /// The wait before a failure is answered, times the pair's failures so far.
    pub delay: Duration,
    /// How long a block lasts; also how long failures are remembered. Zero: never blocked.
    pub block: Duration,
    /// IPv6 clients are grouped by this prefix.
    pub ipv6_prefix: u8,
}

impl ThrottleSettings {
    /// The `[auth]` keys and `smtp.ipv6_prefix`.
    pub fn from_config(config: &estafeta_config::Config) -> ThrottleSettings {
        let auth = &config.auth;
        ThrottleSettings {
            per_user: auth.max_failures,
            per_address: auth.max_failures_per_address,
            delay: Duration::from_millis(auth.failure_delay_ms),
            block: Duration::from_secs(auth.block_time),
            ipv6_prefix: config.smtp.ipv6_prefix,
        }
    }
}

/// Why an attempt was refused before its password was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The client reached `per_address` failures (or has that many attempts in progress).
    Address,
    /// This user name from this client reached `per_user`.
    User,
    /// Not blocked: attempts still in progress fill the limit. Wait for one to be
    /// decided ([`AuthThrottle::settled`]) and try again.
    Busy,
}

struct Count {
    failures: u32,
    /// Attempts begun and not yet decided.
    pending: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

impl Recent for Count {
    fn last_used(&self) -> Instant {
        self.last
    }
}

impl Count {
    fn new(now: Instant) -> Count {
        Count {
            failures: 0,
            pending: 0,
            blocked_until: None,
            last: now,
        }
    }

    /// Forgets a block that ended and failures older than `block`.
    fn refresh(&mut self, now: Instant, block: Duration) {
        match self.blocked_until {
            Some(until) if until <= now => {
                self.blocked_until = None;
                self.failures = 0;
            }
            None if now.duration_since(self.last) > block => self.failures = 0,
            _ => {}
        }
    }

    /// `Some(false)`: blocked; `Some(true)`: full of attempts in progress; `None`: free.
    fn refuses(&self, now: Instant, limit: u32, block: Duration) -> Option<bool> {
        if block.is_zero() {
            return None;
        }
        if self.blocked_until.is_some_and(|until| until > now) || self.failures >= limit {
            return Some(false);
        }
        (self.failures.saturating_add(self.pending) >= limit).then_some(true)
    }

    fn idle(&self) -> bool {
        self.failures == 0 && self.pending == 0
    }
}

struct State {
    clients: Table<IpAddr, Count>,
    pairs: Table<(IpAddr, u64), Count>,
}

/// Failed logins per client and per (client, user name).
pub struct AuthThrottle {
    settings: ThrottleSettings,
    state: Mutex<State>,
    /// The other nodes' failures, by [`AuthThrottle::shared_counts`]'s keys.
    shared: Mutex<std::collections::HashMap<String, u32>>,
    /// Woken whenever an attempt is decided or dropped.
    settled: tokio::sync::Notify,
}

impl AuthThrottle {
    pub fn new(settings: ThrottleSettings) -> AuthThrottle {
        AuthThrottle {
            settings,
            shared: Mutex::new(std::collections::HashMap::new()),
            state: Mutex::new(State {
                clients: Table::new(MAX_ENTRIES),
                pairs: Table::new(MAX_ENTRIES),
            }),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Resolves when some attempt is decided or dropped: what a [`Blocked::Busy`]
    /// attempt waits for. Create it (and `enable` it) before calling
    /// [`AuthThrottle::begin`], so that a decision in between is not missed.
    pub fn settled(&self) -> tokio::sync::futures::Notified<'_> {
        self.settled.notified()
    }

    /// The prefix IPv6 clients are grouped by, for the command budgets to group alike.
    pub fn ipv6_prefix(&self) -> u8 {
        self.settings.ipv6_prefix
    }

    /// The client an address counts as.
    pub fn client(&self, ip: IpAddr) -> IpAddr {
        client_group(ip, self.settings.ipv6_prefix)
    }

    /// The same on every node, so that nodes can add up a pair's failures.
    fn user_key(&self, user: &str) -> u64 {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(user.to_lowercase().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    /// This node's failures (within the block time) by key — `c/<client>` and
    /// `p/<client>/<user hash>` — for the other nodes of a cluster.
    pub fn shared_counts(&self) -> Vec<(String, u64)> {
        let now = Instant::now();
        let block = self.settings.block;
        let mut state = self.lock();
        let mut out = Vec::new();
        for (client, c) in state.clients.iter_mut() {
            c.refresh(now, block);
            if c.failures > 0 {
                out.push((format!("c/{client}"), u64::from(c.failures)));
            }
        }
        for ((client, user), p) in state.pairs.iter_mut() {
            p.refresh(now, block);
            if p.failures > 0 {
                out.push((format!("p/{client}/{user:016x}"), u64::from(p.failures)));
            }
        }
        out
    }

    /// The other nodes' failures, by [`AuthThrottle::shared_counts`]'s keys.
    pub fn set_shared(&self, counts: Vec<(String, u64)>) {
        let map = counts
            .into_iter()
            .map(|(k, n)| (k, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect();
        *self.shared.lock().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// The other nodes' failures of a client and of a pair.
    fn elsewhere(&self, client: IpAddr, pair: (IpAddr, u64)) -> (u32, u32) {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if shared.is_empty() {
            return (0, 0);
        }
        let c = shared.get(&format!("c/{client}")).copied().unwrap_or(0);
        let p = shared
            .get(&format!("p/{}/{:016x}", pair.0, pair.1))
            .copied()
            .unwrap_or(0);
        (c, p)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while the client is blocked whatever the user name: a cheap early refusal
    /// before an authentication exchange. [`AuthThrottle::begin`] is the real check.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let s = &self.settings;
        let mut state = self.lock();
        match state.clients.get_mut(&self.client(ip)) {
            Some(c) => {
                c.refresh(now, s.block);
                c.blocked_until.is_some_and(|until| until > now)
            }
            None => false,
        }
    }

    /// Checks the client and the pair and, in the same step, reserves a failure for this
    /// attempt; call it just before checking the password.
    pub fn begin(self: &Arc<Self>, ip: IpAddr, user: &str) -> Result<Attempt, Blocked> {
        let now = Instant::now();
        let s = &self.settings;
        let client = self.client(ip);
        let pair = (client, self.user_key(user));
        let (client_elsewhere, pair_elsewhere) = self.elsewhere(client, pair);
        let mut state = self.lock();
        let c = state.clients.entry(client, || Count::new(now));
        c.refresh(now, s.block);
        let address = c.refuses(now, s.per_address.saturating_sub(client_elsewhere), s.block);
        let p = state.pairs.entry(pair, || Count::new(now));
        p.refresh(now, s.block);
        match (
            address,
            p.refuses(now, s.per_user.saturating_sub(pair_elsewhere), s.block),
        ) {
            (Some(false), _) => return Err(Blocked::Address),
            (_, Some(false)) => return Err(Blocked::User),
            (Some(true), _) | (_, Some(true)) => return Err(Blocked::Busy),
            (None, None) => {}
        }
        p.pending += 1;
        // the pair's entry may have pushed the client's out of a full table
        state.clients.entry(client, || Count::new(now)).pending += 1;
        Ok(Attempt {
            throttle: self.clone(),
            client,
            pair,
            decided: false,
        })
    }
}

/// One login attempt that passed the throttle; its failure is already counted as
/// pending. Say how it went with [`Attempt::succeeded`] or [`Attempt::failed`].
pub struct Attempt {
    throttle: Arc<AuthThrottle>,
    client: IpAddr,
    pair: (IpAddr, u64),
    decided: bool,
}

impl Attempt {
    /// The password was right: the reservation is given back and this user name's
    /// failures from this client are forgotten; the client's count stays.
    pub fn succeeded(mut self) {
        self.decided = true;
        let mut state = self.throttle.lock();
        release(&mut state.clients, &self.client, false);
        release(&mut state.pairs, &self.pair, true);
        drop(state);
        self.throttle.settled.notify_waiters();
    }

    /// The password was wrong: the reservation becomes a failure of the client and of
    /// the pair. Returns how long to wait before answering.
    pub fn failed(mut self) -> Duration {
        self.decided = true;
        metrics::counter!("estafeta_auth_failures_total").increment(1);
        let now = Instant::now();
        let s = &self.throttle.settings;
        let mut state = self.throttle.lock();
        let mut pair_failures = 1;
        if let Some(c) = state.clients.get_mut(&self.client) {
            fail(c, now, s.per_address, s.block);
        }
        if let Some(p) = state.pairs.get_mut(&self.pair) {
            fail(p, now, s.per_user, s.block);
            pair_failures = p.failures.max(1);
        }
        drop(state);
        self.throttle.settled.notify_waiters();
        if s.block.is_zero() {
            return s.delay;
        }
        s.delay.saturating_mul(pair_failures)
    }
}

fn fail(c: &mut Count, now: Instant, limit: u32, block: Duration) {
    c.pending = c.pending.saturating_sub(1);
    c.failures = c.failures.saturating_add(1);
    c.last = now;
    if !block.is_zero() && c.failures >= limit {
        c.blocked_until = Some(now + block);
    }
}

fn release<K: std::hash::Hash + Eq + Clone>(table: &mut Table<K, Count>, key: &K, clear: bool) {
    if let Some(c) = table.get_mut(key) {
        c.pending = c.pending.saturating_sub(1);
        if clear {
            c.failures = 0;
            c.blocked_until = None;
        }
        if c.idle() {
            table.remove(key);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.decided {
            let mut state = self.throttle.lock();
            release(&mut state.clients, &self.client, false);
            release(&mut state.pairs, &self.pair, false);
            drop(state);
            self.throttle.settled.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_user: u32, per_address: u32) -> Arc<AuthThrottle> {
        Arc::new(AuthThrottle::new(ThrottleSettings {
            per_user,
            per_address,
            delay: Duration::from_millis(10),
            block: Duration::from_secs(300),
            ipv6_prefix: 64,
        }))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn logins_in_progress_make_others_wait_not_fail() {
        let t = throttle(3, 8);
        let a = ip("192.0.2.7");
        // three connections logging in at once fill the pair's limit…
        let held: Vec<Attempt> = (0..3).map(|_| t.begin(a, "bob").expect("free")).collect();
        // …the fourth waits: it is not blocked, nobody has failed
        assert_eq!(t.begin(a, "bob").err(), Some(Blocked::Busy));
        let mut held = held.into_iter();
        held.next().expect("one").succeeded();
        t.begin(a, "bob").expect("room again").succeeded();
        // failures still block, and parallel guesses still get at most the limit
        for attempt in held {
            attempt.failed();
        }
        t.begin(a, "bob").expect("third").failed();
        assert_eq!(t.begin(a, "bob").err(), Some(Blocked::User));
    }

    #[test]
    fn a_good_login_does_not_clear_other_users_failures() {
        let t = throttle(5, 8);
        let a = ip("192.0.2.1");
        let mut failures = 0;
        // four guesses at mallory's, one good login as bob, again and again
        'outer: for _ in 0..10 {
            for _ in 0..4 {
                match t.begin(a, &format!("victim{failures}")) {
                    Ok(attempt) => {
                        attempt.failed();
                        failures += 1;
                    }
                    Err(b) => {
                        assert_eq!(b, Blocked::Address);
                        break 'outer;
                    }
                }
            }
            match t.begin(a, "bob") {
                Ok(attempt) => attempt.succeeded(),
                Err(b) => {
                    assert_eq!(b, Blocked::Address);
                    break;
                }
            }
        }
        assert_eq!(failures, 8, "the address's limit holds");
        assert!(t.is_blocked(a));
        assert!(!t.is_blocked(ip("192.0.2.2")), "other clients are not");
    }

    #[test]
    fn a_user_is_blocked_before_the_address_and_a_success_clears_only_its_pair() {
        let t = throttle(2, 10);
        let a = ip("192.0.2.1");
        t.begin(a, "ann").expect("first").failed();
        t.begin(a, "bob").expect("bob").failed();
        t.begin(a, "Ann").expect("second").failed();
        assert_eq!(t.begin(a, "ANN").err(), Some(Blocked::User));
        // bob's one failure is cleared by his success; ann stays blocked
        t.begin(a, "bob").expect("bob again").succeeded();
        assert_eq!(t.begin(a, "ann").err(), Some(Blocked::User));
        assert!(!t.is_blocked(a));
        assert!(t.begin(a, "carol").is_ok());
    }

    #[test]
    fn reservations_stop_parallel_attempts_at_the_limit() {
        let t = throttle(3, 3);
        let a = ip("192.0.2.1");
        let attempts: Vec<_> = (0..10).filter_map(|_| t.begin(a, "bob").ok()).collect();
        assert_eq!(attempts.len(), 3, "only the limit may be in flight");
        for attempt in attempts {
            attempt.failed();
        }
        assert!(t.is_blocked(a));
        // an attempt dropped without a verdict gives its place back
        let t = throttle(1, 1);
        drop(t.begin(a, "bob").expect("first"));
        assert!(t.begin(a, "bob").is_ok());
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let t = throttle(2, 2);
        t.begin(ip("2001:db8::1"), "a").expect("1").failed();
        t.begin(ip("2001:db8::ffff:2"), "b").expect("2").failed();
        assert_eq!(
            t.begin(ip("2001:db8::3"), "c").err(),
            Some(Blocked::Address)
        );
        assert!(t.begin(ip("2001:db8:0:1::1"), "c").is_ok(), "another /64");
    }

    #[test]
    fn zero_block_time_never_blocks_and_delays_once() {
        let t = Arc::new(AuthThrottle::new(ThrottleSettings {
            per_user: 1,
            per_address: 1,
            delay: Duration::from_millis(7),
            block: Duration::ZERO,
            ipv6_prefix: 64,
        }));
        let a = ip("192.0.2.1");
        for _ in 0..5 {
            assert_eq!(
                t.begin(a, "x").expect("never blocked").failed(),
                Duration::from_millis(7)
            );
        }
    }

    #[test]
    fn delay_grows_with_the_pairs_failures() {
        let t = throttle(5, 20);
        let a = ip("192.0.2.1");
        assert_eq!(
            t.begin(a, "x").expect("1").failed(),
            Duration::from_millis(10)
        );
        assert_eq!(
            t.begin(a, "x").expect("2").failed(),
            Duration::from_millis(20)
        );
        assert_eq!(
            t.begin(a, "y").expect("3").failed(),
            Duration::from_millis(10)
        );
    }
}
