//! The certificate every TLS listener presents, swappable while the server runs
//! ([`CertStore`]), and the answers to pending ACME challenges: TLS-ALPN-01 challenge
//! certificates (RFC 8737) and HTTP-01 key authorizations ([`Http01Tokens`], which the
//! web server reads without knowing anything else of ACME).
//!
//! The one `Arc<ServerConfig>` every listener shares resolves its certificate through the
//! store, so a new certificate is used by the next handshake and open connections keep
//! theirs. A ClientHello that offers ALPN `acme-tls/1` is a CA validating a challenge: the
//! implicit-TLS accept (`listen.rs`) gives it [`CertStore::challenge_config`] for its
//! name, and closes the connection after the handshake.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SingleCertAndKey};

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Most challenges pending at once (names of one order, with room to spare).
const MAX_PENDING: usize = 1000;

/// The current certificate, and the TLS-ALPN-01 challenge answers pending.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    /// By lower-case DNS name: a server config that presents the challenge certificate
    /// and speaks only `acme-tls/1`.
    challenges: RwLock<HashMap<String, Arc<ServerConfig>>>,
}

impl CertStore {
    pub fn new(current: Arc<CertifiedKey>) -> Arc<CertStore> {
        Arc::new(CertStore {
            current: RwLock::new(current),
            challenges: RwLock::new(HashMap::new()),
        })
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `key` in place for every handshake from now on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        match self.current.write() {
            Ok(mut c) => *c = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }

    /// Answers TLS-ALPN-01 handshakes for `name` with `key` (a certificate made by
    /// [`challenge_certificate`]) until [`CertStore::remove_challenge`].
    pub fn add_challenge(&self, name: &str, key: Arc<CertifiedKey>) -> Result<(), rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(crate::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        let mut map = self.challenges.write().unwrap_or_else(|p| p.into_inner());
        if map.len() < MAX_PENDING {
            map.insert(name.to_ascii_lowercase(), Arc::new(config));
        }
        Ok(())
    }

    pub fn remove_challenge(&self, name: &str) {
        let mut map = self.challenges.write().unwrap_or_else(|p| p.into_inner());
        map.remove(&name.to_ascii_lowercase());
    }

    /// The configuration for a ClientHello that offers `acme-tls/1` for `name`, if a
    /// challenge for it is pending.
    pub fn challenge_config(&self, name: Option<&str>) -> Option<Arc<ServerConfig>> {
        let name = name?.to_ascii_lowercase();
        let map = self.challenges.read().unwrap_or_else(|p| p.into_inner());
        map.get(&name).cloned()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Whether a ClientHello's ALPN list offers `acme-tls/1`.
pub fn offers_acme_tls(hello: &ClientHello<'_>) -> bool {
    hello
        .alpn()
        .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN))
}

/// The self-signed certificate that answers a TLS-ALPN-01 challenge for `name`: it names
/// only `name` and carries the critical `acmeIdentifier` extension holding the SHA-256
/// digest of the key authorization (RFC 8737 §3).
pub fn challenge_certificate(
    name: &str,
    key_authorization_digest: &[u8],
) -> Result<Arc<CertifiedKey>, String> {
    let failed = |e: rcgen::Error| format!("cannot make the TLS-ALPN-01 certificate: {e}");
    if key_authorization_digest.len() != 32 {
        return Err("the key authorization digest is not a SHA-256 digest".into());
    }
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(failed)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        key_authorization_digest,
    )];
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    let der = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| format!("cannot use the TLS-ALPN-01 key: {e}"))?;
    // not CertifiedKey::from_der: its key check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension
    let signing = crate::tls::provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("cannot use the TLS-ALPN-01 key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

/// Pending HTTP-01 challenges: token → key authorization, served at
/// `/.well-known/acme-challenge/<token>`.
#[derive(Debug, Default)]
pub struct Http01Tokens(RwLock<HashMap<String, String>>);

impl Http01Tokens {
    pub fn new() -> Arc<Http01Tokens> {
        Arc::new(Http01Tokens::default())
    }

    /// The key authorization of a pending token.
    pub fn get(&self, token: &str) -> Option<String> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(token).cloned()
    }

    pub fn insert(&self, token: &str, key_authorization: &str) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() < MAX_PENDING {
            map.insert(token.to_string(), key_authorization.to_string());
        }
    }

    pub fn remove(&self, token: &str) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.remove(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_certificate_names_only_its_name() {
        let key = challenge_certificate("mail.example.test", &[7u8; 32]).expect("certificate");
        let (_, cert) = x509_parser::parse_x509_certificate(&key.cert[0]).expect("parses");
        let acme = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier extension");
        assert!(acme.critical);
        // an OCTET STRING of 32 octets
        assert_eq!(&acme.value[..2], &[0x04, 0x20]);
        assert_eq!(&acme.value[2..], &[7u8; 32]);
    }

    #[test]
    fn tokens_and_challenges_come_and_go() {
        let tokens = Http01Tokens::new();
        tokens.insert("abc", "abc.thumb");
        assert_eq!(tokens.get("abc").as_deref(), Some("abc.thumb"));
        tokens.remove("abc");
        assert_eq!(tokens.get("abc"), None);

        let first = challenge_certificate("a.test", &[1u8; 32]).expect("certificate");
        let store = CertStore::new(first.clone());
        assert!(store.challenge_config(Some("A.test")).is_none());
        store.add_challenge("a.test", first).expect("config");
        let config = store.challenge_config(Some("A.TEST")).expect("pending");
        assert_eq!(config.alpn_protocols, vec![ACME_TLS_ALPN.to_vec()]);
        assert!(store.challenge_config(None).is_none());
        store.remove_challenge("a.test");
        assert!(store.challenge_config(Some("a.test")).is_none());
    }
}
