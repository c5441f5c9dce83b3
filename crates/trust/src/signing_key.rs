//! The private keys that sign our mail (DKIM) and seal forwarded mail (ARC), as
//! mail-auth's `SigningKey`. RSA-SHA256 is signed with aws-lc-rs rather than mail-auth's
//! ring backend: an RSA-2048 private-key operation takes 0.25 ms there against 0.57 ms in
//! ring on our benchmark machine, and it is most of what signing a relayed message costs
//! (docs/performance.md). Ed25519 stays with mail-auth (ring), where it costs little.

use mail_auth::common::crypto::{Algorithm, CryptoError, Ed25519Key, Sha256, SigningKey};
use mail_auth::common::headers::Writable;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

/// One of a domain's active keys, ready to sign.
pub enum DomainKey {
    Rsa(RsaKey),
    Ed25519(Ed25519Key),
}

/// An RSA private key (rsa-sha256, RFC 6376 §3.3.1).
pub struct RsaKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl RsaKey {
    /// The key from its PKCS#1 DER form (as the store keeps it).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<RsaKey, String> {
        let pair = RsaKeyPair::from_der(der).map_err(|e| format!("RSA key rejected: {e}"))?;
        Ok(RsaKey {
            pair,
            rng: SystemRandom::new(),
        })
    }
}

impl SigningKey for DomainKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        match self {
            DomainKey::Ed25519(key) => key.sign(input),
            DomainKey::Rsa(key) => {
                // PKCS#1 v1.5 hashes what it signs: the canonicalized header fields
                let mut data = Vec::with_capacity(1024);
                input.write(&mut data);
                let mut signature = vec![0; key.pair.public_modulus_len()];
                key.pair
                    .sign(&RSA_PKCS1_SHA256, &key.rng, &data, &mut signature)
                    .map_err(|e| mail_auth::Error::Crypto(CryptoError::Library(e.to_string())))?;
                Ok(signature)
            }
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            DomainKey::Ed25519(key) => key.algorithm(),
            DomainKey::Rsa(_) => Algorithm::RsaSha256,
        }
    }
}
