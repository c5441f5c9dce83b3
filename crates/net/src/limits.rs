//! Simultaneous connections to one protocol's listeners, in total and per client IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub struct ConnectionLimits {
    max_total: u32,
    max_per_ip: u32,
    counts: Mutex<(u32, HashMap<IpAddr, u32>)>,
    /// The number of open connections, for whoever waits for them to end.
    open: tokio::sync::watch::Sender<u32>,
}

/// Held for the life of a connection; gives its place back when dropped.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

pub enum Refusal {
    Total,
    PerIp,
}

impl Refusal {
    /// What the client is told, in the protocol's own refusal line.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Total => "too many connections",
            Refusal::PerIp => "too many connections from your address",
        }
    }
}

impl ConnectionLimits {
    pub fn new(max_total: u32, max_per_ip: u32) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_ip,
            counts: Mutex::new((0, HashMap::new())),
            open: tokio::sync::watch::channel(0).0,
        })
    }

    /// Waits until no connection is open.
    pub async fn wait_idle(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let mut guard = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *guard;
        if *total >= self.max_total {
            return Err(Refusal::Total);
        }
        let mine = per_ip.entry(ip).or_insert(0);
        if *mine >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *mine += 1;
        *total += 1;
        self.open.send_replace(*total);
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut guard = self.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *guard;
        *total = total.saturating_sub(1);
        self.limits.open.send_replace(*total);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}
