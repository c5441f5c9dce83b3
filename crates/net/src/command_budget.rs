//! Commands per minute from one client before it has authenticated, over all its
//! sessions of one protocol: a port-25 client looping MAIL/RSET, or a scanner trying
//! commands, costs the sender and stops at the budget. Clients are grouped as in
//! [`crate::client_group`]; addresses in the exempt networks (SMTP's `trusted_networks`)
//! and authenticated sessions (the sessions do not ask then) are not counted.
//!
//! The window is fixed: it starts with a client's first command and lasts a minute; the
//! table keeps at most [`crate::table::MAX_ENTRIES`] clients (the least recently used half
//! is forgotten when full).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::networks::{Networks, client_group};
use crate::table::{MAX_ENTRIES, Recent, Table};

const WINDOW: Duration = Duration::from_secs(60);

struct Window {
    started: Instant,
    used: u32,
}

impl Recent for Window {
    fn last_used(&self) -> Instant {
        self.started
    }
}

pub struct CommandBudget {
    per_minute: u32,
    ipv6_prefix: u8,
    exempt: Networks,
    table: Mutex<Table<IpAddr, Window>>,
}

impl CommandBudget {
    /// `per_minute` 0: no budget.
    pub fn new(per_minute: u32, ipv6_prefix: u8, exempt: Networks) -> CommandBudget {
        CommandBudget {
            per_minute,
            ipv6_prefix,
            exempt,
            table: Mutex::new(Table::new(MAX_ENTRIES)),
        }
    }

    /// Counts one command of `ip`; false when its client is over the budget (the command
    /// is not to be run).
    pub fn spend(&self, ip: IpAddr) -> bool {
        if self.per_minute == 0 || self.exempt.contains(ip) {
            return true;
        }
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let w = table.entry(client_group(ip, self.ipv6_prefix), || Window {
            started: now,
            used: 0,
        });
        if now.duration_since(w.started) >= WINDOW {
            w.started = now;
            w.used = 0;
        }
        w.used = w.used.saturating_add(1);
        w.used <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_budget_counts_per_client_and_exempts_trusted_networks() {
        let b = CommandBudget::new(3, 64, Networks::parse(&["10.0.0.0/8".into()]));
        assert!((0..3).all(|_| b.spend(ip("192.0.2.1"))));
        assert!(!b.spend(ip("192.0.2.1")));
        assert!(
            b.spend(ip("192.0.2.2")),
            "another client has its own budget"
        );
        assert!((0..100).all(|_| b.spend(ip("10.1.2.3"))), "trusted");
        assert!((0..3).all(|_| b.spend(ip("2001:db8::1"))));
        assert!(!b.spend(ip("2001:db8::2")), "the same /64");
        assert!(b.spend(ip("2001:db8:0:1::2")));
        let off = CommandBudget::new(0, 64, Networks::default());
        assert!((0..10_000).all(|_| off.spend(ip("192.0.2.1"))));
    }
}
