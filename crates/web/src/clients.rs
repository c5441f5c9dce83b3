//! What a mail app needs to reach us, read from the listener table: for reading (IMAP,
//! POP3) and for sending (submission), each port with its security. Every set-up document
//! (autoconfig, autodiscover, Apple profile), the account page and `estafeta dns`'s SRV
//! records take it from here. Plaintext listeners (`tls = "none"`) are never offered, and
//! implicit TLS comes before STARTTLS (RFC 8314 §3).

use std::net::SocketAddr;

use estafeta_config::{Config, Listener, ListenerTls, Protocol};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (993, 995, 465).
    Tls,
    /// Plaintext, then STARTTLS before the password (143, 110, 587).
    Starttls,
}

impl Security {
    /// How the settings page words it (as the apps' menus do).
    pub fn label(self) -> &'static str {
        match self {
            Security::Tls => "SSL/TLS",
            Security::Starttls => "STARTTLS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub port: u16,
    pub security: Security,
}

/// The server name and the offered ports of each kind, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub hostname: String,
    pub imap: Vec<Endpoint>,
    pub pop3: Vec<Endpoint>,
    pub submission: Vec<Endpoint>,
}

impl ClientSettings {
    /// From the configured table (the ports as written).
    pub fn from_config(config: &Config) -> ClientSettings {
        let listeners: Vec<(Listener, SocketAddr)> = config
            .listeners
            .iter()
            .map(|l| (l.clone(), SocketAddr::new(l.address, l.port)))
            .collect();
        ClientSettings::from_listeners(&config.hostname, &listeners)
    }

    /// From listeners as bound (a port 0 in the table becomes the one the system chose).
    pub fn from_listeners(hostname: &str, listeners: &[(Listener, SocketAddr)]) -> ClientSettings {
        let mut settings = ClientSettings {
            hostname: hostname.trim_end_matches('.').to_string(),
            imap: Vec::new(),
            pop3: Vec::new(),
            submission: Vec::new(),
        };
        for (l, at) in listeners {
            let security = match l.tls {
                ListenerTls::Implicit => Security::Tls,
                ListenerTls::Starttls => Security::Starttls,
                ListenerTls::None => continue,
            };
            let list = match l.protocol {
                Protocol::Imap => &mut settings.imap,
                Protocol::Pop3 => &mut settings.pop3,
                Protocol::Submission => &mut settings.submission,
                Protocol::Smtp | Protocol::Http | Protocol::Https | Protocol::Managesieve => {
                    continue;
                }
            };
            let endpoint = Endpoint {
                port: at.port(),
                security,
            };
            if endpoint.port != 0 && !list.contains(&endpoint) {
                list.push(endpoint);
            }
        }
        for list in [
            &mut settings.imap,
            &mut settings.pop3,
            &mut settings.submission,
        ] {
            // implicit TLS first; among equals, the table's order
            list.sort_by_key(|e| e.security == Security::Starttls);
        }
        settings
    }

    /// The SRV records mail apps look up (RFC 6186, RFC 8314 §5.1): `(service, port)`,
    /// each service once, submission, submissions, imap, imaps, pop3, pop3s.
    pub fn srv_records(&self) -> Vec<(&'static str, u16)> {
        let mut out = Vec::new();
        for (list, plain, tls) in [
            (&self.submission, "submission", "submissions"),
            (&self.imap, "imap", "imaps"),
            (&self.pop3, "pop3", "pop3s"),
        ] {
            for (service, security) in [(plain, Security::Starttls), (tls, Security::Tls)] {
                if let Some(e) = list.iter().find(|e| e.security == security) {
                    out.push((service, e.port));
                }
            }
        }
        out
    }
}

/// Where readers' mail apps reach the web side, for the links of open and click tracking:
/// `[web] public_url`, else `https://<hostname>` of the first `https` listener (with its
/// port when not 443), else `http://` of the first `http` one (port 80 left out); `None`
/// without either.
pub fn public_url(config: &Config, listeners: &[(Listener, SocketAddr)]) -> Option<String> {
    if let Some(url) = &config.web.public_url {
        return Some(url.trim_end_matches('/').to_string());
    }
    let host = config.hostname.trim_end_matches('.');
    let first = |protocol: Protocol| {
        listeners
            .iter()
            .find(|(l, at)| l.protocol == protocol && at.port() != 0)
            .map(|(_, at)| at.port())
    };
    if let Some(port) = first(Protocol::Https) {
        return Some(match port {
            443 => format!("https://{host}"),
            p => format!("https://{host}:{p}"),
        });
    }
    first(Protocol::Http).map(|port| match port {
        80 => format!("http://{host}"),
        p => format!("http://{host}:{p}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_offers_tls_first_and_no_port_25() {
        let s = ClientSettings::from_config(&Config::from_toml("", "test").unwrap());
        let ports = |l: &[Endpoint]| l.iter().map(|e| e.port).collect::<Vec<_>>();
        assert_eq!(ports(&s.imap), [993, 143]);
        assert_eq!(ports(&s.pop3), [995, 110]);
        assert_eq!(ports(&s.submission), [465, 587, 2525]);
        assert_eq!(
            s.srv_records(),
            [
                ("submission", 587),
                ("submissions", 465),
                ("imap", 143),
                ("imaps", 993),
                ("pop3", 110),
                ("pop3s", 995)
            ]
        );
    }

    #[test]
    fn plaintext_listeners_are_not_offered() {
        let c = Config::from_toml(
            "[[listener]]\nport = 1143\nprotocol = \"imap\"\ntls = \"none\"\n\
             [[listener]]\nport = 1587\nprotocol = \"submission\"\ntls = \"starttls\"\n",
            "test",
        )
        .unwrap();
        let s = ClientSettings::from_config(&c);
        assert!(s.imap.is_empty());
        assert_eq!(
            s.submission,
            [Endpoint {
                port: 1587,
                security: Security::Starttls
            }]
        );
    }

    #[test]
    fn public_url_prefers_the_setting_then_https_then_http() {
        use std::net::{IpAddr, Ipv4Addr};
        let mut config = Config::defaults().expect("defaults");
        config.hostname = "mail.example.com.".into();
        let at = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        let spec = |protocol, tls| Listener {
            protocol,
            tls,
            ..config.listeners[0].clone()
        };
        let http = (spec(Protocol::Http, ListenerTls::None), at(80));
        let https = (spec(Protocol::Https, ListenerTls::Implicit), at(8443));
        assert_eq!(public_url(&config, &[]), None);
        assert_eq!(
            public_url(&config, std::slice::from_ref(&http)).as_deref(),
            Some("http://mail.example.com")
        );
        assert_eq!(
            public_url(&config, &[http.clone(), https]).as_deref(),
            Some("https://mail.example.com:8443")
        );
        config.web.public_url = Some("https://track.example.com/".into());
        assert_eq!(
            public_url(&config, &[http]).as_deref(),
            Some("https://track.example.com")
        );
    }
}
