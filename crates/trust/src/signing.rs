//! DKIM signatures on mail from our domains (RFC 6376, RFC 8463): keys are made here
//! ([`generate`]) and kept in the store; [`Signer`] signs a message with every active key
//! of its From: domain (by default one Ed25519 and one RSA-2048 signature), over the
//! header fields of [`SIGNED_HEADERS`], From, To and Subject oversigned (listed once more
//! than they appear, so that none can be added after signing), relaxed/relaxed.
//! Keys are read from the store at most once a minute per domain: a key added, rotated or
//! removed with the CLI signs (or stops signing) within a minute, on every node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::signing_key::{DomainKey as SigningKey, RsaKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use estafeta_store::{DkimKey, Store};
use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done, generate::DkimKeyPair};

/// How long keys read from the store are used before they are read again.
pub const KEY_CACHE_TIME: Duration = Duration::from_secs(60);

/// The fields signed: RFC 6376 §5.4.1's list without `List-*` and `Resent-*` (a field
/// named here but absent is signed as absent, and mailing lists and resenders add those),
/// with From, To and Subject named twice (oversigned). Absent Cc, Reply-To, In-Reply-To
/// and References are signed as absent: nobody can add them on the way.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "To",
    "To",
    "Subject",
    "Subject",
    "Cc",
    "Reply-To",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// The key types `estafeta dkim generate` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ed25519,
    /// RSA-2048 with SHA-256: what every verifier understands.
    Rsa,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa => "rsa",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().as_str() {
            "ed25519" => Some(Algorithm::Ed25519),
            "rsa" => Some(Algorithm::Rsa),
            _ => None,
        }
    }
}

/// A new key pair: the private key and the DNS record's `p=` value, both base64.
pub struct NewKey {
    pub private_key: String,
    pub public_key: String,
}

/// Makes a key pair.
pub fn generate(algorithm: Algorithm) -> Result<NewKey, String> {
    let pair = match algorithm {
        Algorithm::Ed25519 => DkimKeyPair::generate_ed25519(),
        Algorithm::Rsa => DkimKeyPair::generate_rsa(2048),
    }
    .map_err(|e| format!("cannot make a {} key: {e}", algorithm.name()))?;
    let (private, public) = pair.into_inner();
    Ok(NewKey {
        private_key: STANDARD.encode(private),
        public_key: STANDARD.encode(public),
    })
}

/// Makes a key pair for `domain` and stores it, signing from now on; `selector` `None`
/// names it `ALGORITHM-YYYYMMDD` (`-2`, `-3`… when that is taken: two in a day). The
/// `estafeta dkim` commands and the admin pages make keys here.
pub async fn create_key(
    store: &dyn estafeta_store::Store,
    domain: &str,
    selector: Option<&str>,
    algorithm: Algorithm,
) -> Result<DkimKey, String> {
    let selector = match selector {
        Some(s) => s.to_string(),
        None => unused_selector(store, domain, algorithm)
            .await
            .map_err(|e| e.to_string())?,
    };
    let made = generate(algorithm)?;
    store
        .add_dkim_key(estafeta_store::NewDkimKey {
            domain: domain.to_string(),
            selector,
            algorithm: algorithm.name().to_string(),
            private_key: made.private_key,
            public_key: made.public_key,
        })
        .await
        .map_err(|e| e.to_string())
}

async fn unused_selector(
    store: &dyn estafeta_store::Store,
    domain: &str,
    algorithm: Algorithm,
) -> Result<String, estafeta_store::StoreError> {
    let taken: Vec<String> = store
        .list_dkim_keys(Some(domain))
        .await?
        .into_iter()
        .map(|k| k.selector)
        .collect();
    let (y, m, d) = estafeta_net::dates::civil_from_days(estafeta_store::now() / 86_400);
    let base = format!("{}-{y:04}{m:02}{d:02}", algorithm.name());
    let mut selector = base.clone();
    let mut n = 1;
    while taken.contains(&selector) {
        n += 1;
        selector = format!("{base}-{n}");
    }
    Ok(selector)
}

/// The TXT record that publishes `key`: its name and its value.
pub fn dns_record(key: &DkimKey) -> (String, String) {
    let k = if key.algorithm == "ed25519" {
        "ed25519"
    } else {
        "rsa"
    };
    (
        format!("{}._domainkey.{}", key.selector, key.domain),
        format!("v=DKIM1; k={k}; p={}", key.public_key),
    )
}

/// The one domain of the message's From: field, lower case; `None` without From:, with
/// addresses of several domains, or with one that is not a domain name.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_auth::AuthenticatedMessage::parse(message)?;
    let mut domains = parsed
        .froms()
        .iter()
        .filter_map(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase());
    let first = domains.next()?;
    let name = |d: &str| {
        !d.is_empty()
            && d.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
    };
    (name(&first) && domains.all(|d| d == first)).then_some(first)
}

/// The record of `key` as a zone-file line, its text split into strings of at most 255
/// octets (RFC 1035 §3.3.14), as long RSA keys need.
pub fn zone_line(key: &DkimKey) -> String {
    let (name, value) = dns_record(key);
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("{name}. IN TXT ( {} )", strings.join(" "))
}

/// An ARC sealer (RFC 8617) with one of our domains' keys.
pub type Sealer = ArcSealer<SigningKey, Done>;

/// A domain's keys, ready: a signer per signing key, and the sealer (its newest RSA key:
/// ARC verifiers expect rsa-sha256).
#[derive(Default)]
struct Keys {
    signers: Vec<DkimSigner<SigningKey, Done>>,
    sealer: Option<Sealer>,
}

/// Signs mail from our domains with their active keys.
pub struct Signer {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<String, (Instant, Arc<Keys>)>>,
}

impl Signer {
    pub fn new(store: Arc<dyn Store>) -> Signer {
        Signer {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The `DKIM-Signature:` fields (CRLF-terminated, newest key first) that sign
    /// `message` for `domain`; empty when the domain has no active key.
    pub async fn sign(&self, domain: &str, message: &[u8]) -> String {
        let domain = domain.to_ascii_lowercase();
        let keys = match self.keys(&domain).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(domain = %domain, error = %e, "DKIM keys unavailable: message not signed");
                return String::new();
            }
        };
        let mut fields = String::new();
        for signer in keys.signers.iter().rev() {
            match signer.sign(message) {
                Ok(signature) => fields.push_str(&signature.to_header()),
                Err(e) => {
                    tracing::error!(domain = %domain, error = %e, "DKIM signing failed")
                }
            }
        }
        fields
    }

    /// Seals `message` (as received, with `results`, our verdict of it, and `arc`, the
    /// chain it arrived with) in `domain`'s name: the ARC set's three fields, or nothing
    /// when the domain has no RSA key or the chain cannot be sealed (it failed).
    pub async fn seal(
        &self,
        domain: &str,
        message: &mail_auth::AuthenticatedMessage<'_>,
        results: &mail_auth::AuthenticationResults<'_>,
        arc: &mail_auth::ArcOutput<'_>,
    ) -> String {
        let keys = match self.keys(&domain.to_ascii_lowercase()).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(domain, error = %e, "DKIM keys unavailable: message not sealed");
                return String::new();
            }
        };
        let Some(sealer) = &keys.sealer else {
            return String::new();
        };
        match sealer.seal(message, results, arc) {
            Ok(set) => set.to_header(),
            Err(e) => {
                tracing::info!(domain, error = %e, "ARC chain not sealed");
                String::new()
            }
        }
    }

    async fn keys(&self, domain: &str) -> Result<Arc<Keys>, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, keys)) = cache.get(domain)
            && at.elapsed() < KEY_CACHE_TIME
        {
            return Ok(keys.clone());
        }
        let keys = self
            .store
            .list_dkim_keys(Some(domain))
            .await
            .map_err(|e| e.to_string())?;
        let mut ready = Keys::default();
        for key in keys.iter().filter(|k| k.active) {
            match signing_key(key) {
                Ok(k) => ready.signers.push(
                    DkimSigner::from_key(k)
                        .domain(key.domain.clone())
                        .selector(key.selector.clone())
                        .headers(SIGNED_HEADERS.iter().copied())
                        .header_canonicalization(Canonicalization::Relaxed)
                        .body_canonicalization(Canonicalization::Relaxed),
                ),
                Err(e) => {
                    tracing::error!(domain, selector = %key.selector, error = %e, "DKIM key unusable")
                }
            }
        }
        // the newest RSA key (the list is oldest first)
        if let Some(key) = keys.iter().rev().find(|k| k.active && k.algorithm == "rsa")
            && let Ok(k) = signing_key(key)
        {
            ready.sealer = Some(
                ArcSealer::from_key(k)
                    .domain(key.domain.clone())
                    .selector(key.selector.clone())
                    .headers(SIGNED_HEADERS.iter().copied()),
            );
        }
        let keys = Arc::new(ready);
        if let Ok(mut cache) = self.cache.lock() {
            // a bounded map: one entry per domain of ours that sent in the last minute
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(domain.to_string(), (Instant::now(), keys.clone()));
        }
        Ok(keys)
    }
}

fn signing_key(key: &DkimKey) -> Result<SigningKey, String> {
    let der = STANDARD
        .decode(&key.private_key)
        .map_err(|e| format!("private key is not base64: {e}"))?;
    let signing = match key.algorithm.as_str() {
        "ed25519" => {
            SigningKey::Ed25519(Ed25519Key::from_pkcs8_der(&der).map_err(|e| e.to_string())?)
        }
        "rsa" => SigningKey::Rsa(RsaKey::from_pkcs1_der(&der)?),
        other => return Err(format!("unknown algorithm {other}")),
    };
    Ok(signing)
}
