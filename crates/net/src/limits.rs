//! Simultaneous connections to one protocol's listeners, in total and per client IP.
//!
//! A connection takes its place in the total at accept; its per-IP place is taken at once
//! on ordinary listeners, and after the PROXY header on `proxy_protocol` listeners, for
//! the real client's address (see `listen`): a connection waiting for its header counts
//! against the total only.

use std::borrow::Cow;
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
    /// The per-IP place, once taken.
    ip: Option<IpAddr>,
}

pub enum Refusal {
    Total,
    PerIp,
    /// A `proxy_protocol` listener, and the client is not one of its proxies.
    NotAProxy,
}

impl Refusal {
    /// What the client is told, in the protocol's own refusal line.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Total => "too many connections",
            Refusal::PerIp => "too many connections from your address",
            Refusal::NotAProxy => "this port takes connections from its proxies only",
        }
    }

    /// True when trying again will not help (`5xx` rather than `4xx`).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Refusal::NotAProxy)
    }

    /// The line (without CRLF) that tells a plaintext client, in its protocol's `words`.
    pub fn line(&self, words: &RefusalWords) -> String {
        if self.is_permanent() {
            format!("{} {}", words.permanent, self.reason())
        } else {
            format!("{} {}, try again later", words.temporary, self.reason())
        }
    }
}

/// How a protocol starts the line that refuses a connection: `554 5.7.1 <host> Error:`
/// and `421 4.7.0 <host> Error:` for SMTP, `* BYE` and `* BYE [UNAVAILABLE]` for IMAP,
/// `-ERR` and `-ERR [SYS/TEMP]` for POP3. The reason follows, and for a temporary
/// refusal `, try again later`.
pub struct RefusalWords {
    /// When trying again will not help.
    pub permanent: Cow<'static, str>,
    pub temporary: Cow<'static, str>,
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

    /// Connections open now.
    pub fn open(&self) -> u32 {
        *self.open.borrow()
    }

    /// Waits until no connection is open.
    pub async fn wait_idle(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }

    /// A place in the total only; [`ConnectionSlot::admit_ip`] adds the per-IP one.
    pub fn admit_total(self: &Arc<Self>) -> Result<ConnectionSlot, Refusal> {
        let mut guard = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, _) = &mut *guard;
        if *total >= self.max_total {
            return Err(Refusal::Total);
        }
        *total += 1;
        self.open.send_replace(*total);
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip: None,
        })
    }
}

impl ConnectionSlot {
    /// Takes the per-IP place of `ip` (once); on refusal the slot still holds its place in
    /// the total until dropped.
    pub fn admit_ip(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        if self.ip.is_some() {
            return Ok(());
        }
        let mut guard = self.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (_, per_ip) = &mut *guard;
        let mine = per_ip.entry(ip).or_insert(0);
        if *mine >= self.limits.max_per_ip {
            if *mine == 0 {
                per_ip.remove(&ip);
            }
            return Err(Refusal::PerIp);
        }
        *mine += 1;
        self.ip = Some(ip);
        Ok(())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut guard = self.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *guard;
        *total = total.saturating_sub(1);
        self.limits.open.send_replace(*total);
        if let Some(ip) = self.ip
            && let Some(n) = per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
    }
}
