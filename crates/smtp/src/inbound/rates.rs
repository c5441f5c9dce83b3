//! Sending rate limits: messages and recipients per authenticated user and per sender
//! domain (one of ours) within a sliding window (an hour by default). Over a limit MAIL
//! or RCPT gets `451 4.7.0`, so the client retries later; nothing is dropped. Counts live
//! in this process's memory: each node of a cluster counts its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
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
        }
    }

    pub fn domain_limited(&self) -> bool {
        self.limits.iter().any(|(c, n)| {
            *n > 0 && matches!(c, Counter::DomainMessages | Counter::DomainRecipients)
        })
    }

    /// Counts one message; `Err` names the limit reached (and nothing is counted).
    pub fn message(&self, who: &Sender<'_>) -> Result<(), String> {
        self.take(
            who,
            Counter::UserMessages,
            Counter::DomainMessages,
            "messages",
        )
    }

    /// Counts one recipient; `Err` names the limit reached (and nothing is counted).
    pub fn recipient(&self, who: &Sender<'_>) -> Result<(), String> {
        self.take(
            who,
            Counter::UserRecipients,
            Counter::DomainRecipients,
            "recipients",
        )
    }

    fn take(
        &self,
        who: &Sender<'_>,
        per_user: Counter,
        per_domain: Counter,
        what: &str,
    ) -> Result<(), String> {
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
        if keys.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for (c, key, n) in &keys {
            let seen = events.entry((*c, key.clone())).or_default();
            while seen
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                seen.pop_front();
            }
            if seen.len() >= *n as usize {
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
            events.entry((c, key)).or_default().push_back(now);
        }
        Ok(())
    }
}
