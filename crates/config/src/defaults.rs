//! The default of every key: what `estafeta serve` uses with no configuration file.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::model::{Listener, Protocol, TlsMode};

/// The system's host name, or `localhost` when it has none usable.
pub fn hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().to_lowercase();
    if crate::validate::is_hostname(&name) {
        name
    } else {
        "localhost".to_string()
    }
}

pub fn data_dir() -> PathBuf {
    PathBuf::from("./estafeta-data")
}

pub fn max_connections() -> u32 {
    16
}

pub fn log_level() -> String {
    "info".to_string()
}

pub fn listen_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

/// The listener table of the product brief.
pub fn listeners() -> Vec<Listener> {
    let entry = |port, protocol, tls| Listener {
        address: listen_address(),
        port,
        protocol,
        tls,
    };
    vec![
        entry(25, Protocol::Smtp, TlsMode::Starttls),
        entry(587, Protocol::Submission, TlsMode::Starttls),
        entry(465, Protocol::Submission, TlsMode::Implicit),
        entry(2525, Protocol::Submission, TlsMode::Starttls),
        entry(143, Protocol::Imap, TlsMode::Starttls),
        entry(993, Protocol::Imap, TlsMode::Implicit),
        entry(110, Protocol::Pop3, TlsMode::Starttls),
        entry(995, Protocol::Pop3, TlsMode::Implicit),
    ]
}
