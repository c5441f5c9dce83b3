//! Hosts that failed lately: a host (IP and port) that refused a connection, timed out,
//! greeted with an error or dropped the connection is skipped for a while, for every
//! message and every destination, instead of being tried again at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shared by every delivery worker of the process.
#[derive(Debug)]
pub struct HostHealth {
    skip_for: Duration,
    down: Mutex<HashMap<SocketAddr, (Instant, String)>>,
}

impl HostHealth {
    pub fn new(skip_for: Duration) -> HostHealth {
        HostHealth {
            skip_for,
            down: Mutex::new(HashMap::new()),
        }
    }

    /// Why the host is being skipped, `None` when it may be tried.
    pub fn skipped(&self, addr: SocketAddr) -> Option<String> {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        match down.get(&addr) {
            Some((until, why)) if *until > Instant::now() => Some(why.clone()),
            Some(_) => {
                down.remove(&addr);
                None
            }
            None => None,
        }
    }

    /// Records a failure: the host is skipped for the configured time.
    pub fn failed(&self, addr: SocketAddr, why: String) {
        if self.skip_for.is_zero() {
            return;
        }
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down.insert(addr, (Instant::now() + self.skip_for, why));
    }

    /// The host worked: forget its failure.
    pub fn worked(&self, addr: SocketAddr) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down.remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_hosts_are_skipped_then_tried_again() {
        let a: SocketAddr = "127.0.0.2:25".parse().unwrap();
        let h = HostHealth::new(Duration::from_secs(60));
        assert_eq!(h.skipped(a), None);
        h.failed(a, "connection refused".into());
        assert_eq!(h.skipped(a).as_deref(), Some("connection refused"));
        h.worked(a);
        assert_eq!(h.skipped(a), None);
        let none = HostHealth::new(Duration::ZERO);
        none.failed(a, "x".into());
        assert_eq!(none.skipped(a), None);
    }
}
