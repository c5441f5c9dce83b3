//! Failed logins per client IP, shared by SMTP AUTH, IMAP and POP3: each failure is
//! answered after a growing delay, and too many make the IP wait out a block.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// Failed AUTH attempts per client IP.
pub struct AuthThrottle {
    max_failures: u32,
    delay: Duration,
    block: Duration,
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
}

impl AuthThrottle {
    pub fn new(max_failures: u32, delay: Duration, block: Duration) -> AuthThrottle {
        AuthThrottle {
            max_failures,
            delay,
            block,
            by_ip: Mutex::new(HashMap::new()),
        }
    }

    /// True while the IP is blocked from authenticating.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&ip) {
            Some(f) => match f.blocked_until {
                Some(until) if until > now => true,
                Some(_) => {
                    map.remove(&ip);
                    false
                }
                None => false,
            },
            None => false,
        }
    }

    /// Records a failure; returns how long to wait before answering.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut map = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // forget IPs quiet for longer than a block
            map.retain(|_, f| now.duration_since(f.last) < self.block);
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            blocked_until: None,
            last: now,
        });
        if now.duration_since(f.last) > self.block {
            f.count = 0; // old failures are forgiven
        }
        f.count += 1;
        f.last = now;
        if f.count >= self.max_failures {
            f.blocked_until = Some(now + self.block);
        }
        self.delay * f.count
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.by_ip
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}
