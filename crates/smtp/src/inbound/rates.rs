//! Sending rate limits: messages and recipients per authenticated user and per sender
//! domain (one of ours) within a sliding window (an hour by default). Over a limit MAIL
//! or RCPT gets `451 4.7.0`, so the client retries later; nothing is dropped. Counts live
//! in this process's memory; in a cluster each node also knows the others' counts
//! ([`RateLimits::shared_counts`], [`RateLimits::set_shared`], exchanged through the
//! store every few seconds by `server`), and checks its limits against the sum.
//!
//! Only what our own users send is counted: the domain's count is spent by sessions that
//! logged in or come from `trusted_networks`, never by a stranger on port 25 writing
//! `MAIL FROM:<someone@our-domain>`. MAIL and RCPT take their place in the window at
//! once (so parallel sessions cannot race past a limit) but hold it as a [`Held`]: a
//! transaction that ends without a 250 after DATA (RSET, QUIT, a refused message) gives
//! its places back, so MAIL/RSET loops spend nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use estafeta_config::SmtpConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counter {
    UserMessages,
    UserRecipients,
    DomainMessages,
    DomainRecipients,
}

pub struct RateLimits {
    window: Duration,
    limits: [(Counter, u32); 4],
    events: Mutex<HashMap<(Counter, String), VecDeque<Instant>>>,
    /// The other nodes' counts in the window, by [`RateLimits::shared_counts`]'s keys.
    shared: Mutex<HashMap<String, u32>>,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Counter::UserMessages => "user-messages",
            Counter::UserRecipients => "user-recipients",
            Counter::DomainMessages => "domain-messages",
            Counter::DomainRecipients => "domain-recipients",
        }
    }
}

/// Who a message is counted against: the logged-in user and the sender's domain (when
/// it is one of ours).
pub struct Sender<'a> {
    pub user: Option<&'a str>,
    pub domain: Option<&'a str>,
}

impl RateLimits {
    pub fn new(c: &SmtpConfig) -> RateLimits {
        RateLimits {
            window: Duration::from_secs(c.rate_limit_window.max(1)),
            limits: [
                (Counter::UserMessages, c.user_messages_per_hour),
                (Counter::UserRecipients, c.user_recipients_per_hour),
                (Counter::DomainMessages, c.domain_messages_per_hour),
                (Counter::DomainRecipients, c.domain_recipients_per_hour),
            ],
            events: Mutex::new(HashMap::new()),
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// This node's counts in the window, by `<counter>/<user or domain>`, for the other
    /// nodes of a cluster.
    pub fn shared_counts(&self) -> Vec<(String, u64)> {
        let now = Instant::now();
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.retain(|_, seen| {
            while seen
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                seen.pop_front();
            }
            !seen.is_empty()
        });
        events
            .iter()
            .map(|((c, key), seen)| (format!("{}/{key}", c.name()), seen.len() as u64))
            .collect()
    }

    /// The other nodes' counts, by [`RateLimits::shared_counts`]'s keys.
    pub fn set_shared(&self, counts: Vec<(String, u64)>) {
        *self.shared.lock().unwrap_or_else(|p| p.into_inner()) = counts
            .into_iter()
            .map(|(k, n)| (k, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect();
    }

    pub fn domain_limited(&self) -> bool {
        self.limits.iter().any(|(c, n)| {
            *n > 0 && matches!(c, Counter::DomainMessages | Counter::DomainRecipients)
        })
    }

    /// Holds a place for one message; `Err` names the limit reached (and nothing is
    /// held).
    pub fn message(self: &Arc<Self>, who: &Sender<'_>) -> Result<Held, String> {
        self.take(
            who,
            Counter::UserMessages,
            Counter::DomainMessages,
            "messages",
        )
    }

    /// Holds a place for one recipient; `Err` names the limit reached (and nothing is
    /// held).
    pub fn recipient(self: &Arc<Self>, who: &Sender<'_>) -> Result<Held, String> {
        self.take(
            who,
            Counter::UserRecipients,
            Counter::DomainRecipients,
            "recipients",
        )
    }

    fn take(
        self: &Arc<Self>,
        who: &Sender<'_>,
        per_user: Counter,
        per_domain: Counter,
        what: &str,
    ) -> Result<Held, String> {
        let limit = |c: Counter| {
            self.limits
                .iter()
                .find(|(k, _)| *k == c)
                .map_or(0, |(_, n)| *n)
        };
        let keys: Vec<(Counter, String, u32)> = [
            (per_user, who.user, limit(per_user)),
            (per_domain, who.domain, limit(per_domain)),
        ]
        .into_iter()
        .filter_map(|(c, key, n)| Some((c, key?.to_ascii_lowercase(), n)))
        .filter(|(_, _, n)| *n > 0)
        .collect();
        let mut held = Held {
            limits: None,
            places: Vec::new(),
        };
        if keys.is_empty() {
            return Ok(held);
        }
        let elsewhere: Vec<u32> = {
            let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            keys.iter()
                .map(|(c, key, _)| {
                    shared
                        .get(&format!("{}/{key}", c.name()))
                        .copied()
                        .unwrap_or(0)
                })
                .collect()
        };
        let now = Instant::now();
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for ((c, key, n), others) in keys.iter().zip(&elsewhere) {
            let seen = events.entry((*c, key.clone())).or_default();
            while seen
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                seen.pop_front();
            }
            if seen.len() + *others as usize >= *n as usize {
                let whom = match c {
                    Counter::UserMessages | Counter::UserRecipients => "user",
                    _ => "domain",
                };
                return Err(format!(
                    "{n} {what} per {} s for {whom} {key}",
                    self.window.as_secs()
                ));
            }
        }
        for (c, key, _) in keys {
            events.entry((c, key.clone())).or_default().push_back(now);
            held.places.push((c, key, now));
        }
        held.limits = Some(self.clone());
        Ok(held)
    }

    /// Gives places back to the window.
    fn give_back(&self, places: &[(Counter, String, Instant)]) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for (c, key, at) in places {
            if let Some(seen) = events.get_mut(&(*c, key.clone())) {
                // places are taken in time order: the one to give back is near the end
                if let Some(i) = seen.iter().rposition(|t| t == at) {
                    seen.remove(i);
                }
                if seen.is_empty() {
                    events.remove(&(*c, key.clone()));
                }
            }
        }
    }
}

/// Places taken in the window by one transaction: given back when dropped, unless
/// [`Held::keep`] said the message was accepted.
#[derive(Default)]
pub struct Held {
    limits: Option<Arc<RateLimits>>,
    places: Vec<(Counter, String, Instant)>,
}

impl Held {
    /// Adds another hold's places to this one.
    pub fn join(&mut self, mut other: Held) {
        if self.limits.is_none() {
            self.limits = other.limits.take();
        }
        self.places.append(&mut other.places);
    }

    /// The message was accepted: its places stay counted.
    pub fn keep(mut self) {
        self.places.clear();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(limits) = &self.limits
            && !self.places.is_empty()
        {
            limits.give_back(&self.places);
        }
    }
}
