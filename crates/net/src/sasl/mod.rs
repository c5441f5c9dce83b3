//! SASL for SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH: the exchange every protocol runs
//! ([`Exchange`], in `exchange`), PLAIN (RFC 4616) and LOGIN decoding here, SCRAM in
//! `crate::scram`. Written here because PLAIN and LOGIN are a few lines each and the SASL
//! crates bring far more than SMTP, IMAP and POP3 need (and `rsasl` asks for SCRAM keys
//! through a synchronous callback that cannot await the store).

mod exchange;

pub use exchange::{Exchange, Failure, MAX_RESPONSE, Mechanism, Step};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Credentials a client offered.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Whether a password may be taken on this connection: over TLS always; in plaintext only
/// from a loopback address, and only when the configuration allows it.
pub fn password_allowed(
    tls: bool,
    allow_plaintext_on_loopback: bool,
    peer: std::net::IpAddr,
) -> bool {
    tls || (allow_plaintext_on_loopback && peer.to_canonical().is_loopback())
}

/// Decodes a base64 SASL response; `None` when it is not valid base64 or UTF-8.
pub fn decode(b64: &str) -> Option<String> {
    let bytes = STANDARD.decode(b64.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
pub fn encode(text: &str) -> String {
    STANDARD.encode(text)
}

/// PLAIN: `authzid NUL authcid NUL password`; an authorization identity other than the
/// user's own is refused (no proxy authentication).
pub fn plain(b64: &str) -> Option<Credentials> {
    let text = decode(b64)?;
    let mut parts = text.split('\0');
    let authzid = parts.next()?;
    let username = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || username.is_empty() {
        return None;
    }
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(username) {
        return None;
    }
    Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_forms() {
        let c = plain(&encode("\0bob@example.com\0pw")).unwrap();
        assert_eq!(c.username, "bob@example.com");
        assert_eq!(c.password, "pw");
        assert!(plain(&encode("bob@example.com\0bob@example.com\0pw")).is_some());
        assert!(plain(&encode("admin\0bob@example.com\0pw")).is_none());
        assert!(plain(&encode("no separators")).is_none());
        assert!(plain("***not base64***").is_none());
    }
}
