//! SCRAM-SHA-256 keys (RFC 5802 §3, RFC 7677): derived from a password when it is set or
//! checked, kept in the RFC 5803 text form, and the decoys answered for names that
//! cannot log in with SCRAM. The primitives are RustCrypto's (pbkdf2, hmac, sha2) and
//! SASLprep is the `stringprep` crate's; the exchange itself is `estafeta_net::scram`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::model::ScramKeys;

/// PBKDF2 iterations for new keys: RFC 7677 §4's minimum, which is what Dovecot, Cyrus
/// and PostgreSQL use, so that every client computes it quickly. The server computes it
/// only when a password is set or first checked, never at a SCRAM login.
pub const ITERATIONS: u32 = 4096;
/// Octets of random salt per user.
const SALT_LEN: usize = 16;
/// Bounds on what is read back from the database.
const MAX_ITERATIONS: u32 = 10_000_000;
const MAX_SALT_LEN: usize = 256;

const PREFIX: &str = "SCRAM-SHA-256$";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 5802 §2.2 Normalize(): SASLprep (RFC 4013); a password SASLprep refuses (it has
/// prohibited characters) is used as it is, as PostgreSQL does.
fn normalize(password: &str) -> std::borrow::Cow<'_, str> {
    stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password))
}

/// The keys for `password` with this salt and iteration count.
pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        normalize(password).as_bytes(),
        salt,
        iterations,
        &mut salted,
    );
    let client_key = hmac(&salted, b"Client Key");
    ScramKeys {
        iterations,
        salt: salt.to_vec(),
        stored_key: Sha256::digest(client_key).into(),
        server_key: hmac(&salted, b"Server Key"),
    }
}

/// Keys for `password` with a fresh random salt, off the async threads (PBKDF2 takes a
/// few milliseconds).
pub async fn derive_new(password: &str) -> ScramKeys {
    let password = password.to_owned();
    let salt: [u8; SALT_LEN] = rand::random();
    match tokio::task::spawn_blocking(move || derive(&password, &salt, ITERATIONS)).await {
        Ok(keys) => keys,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// RFC 5803: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
pub fn format(keys: &ScramKeys) -> String {
    format!(
        "{PREFIX}{}:{}${}:{}",
        keys.iterations,
        STANDARD.encode(&keys.salt),
        STANDARD.encode(keys.stored_key),
        STANDARD.encode(keys.server_key)
    )
}

/// The RFC 5803 form back; `None` when it is not one (the user then has no usable keys).
pub fn parse(text: &str) -> Option<ScramKeys> {
    let rest = text.strip_prefix(PREFIX)?;
    let (params, keys) = rest.split_once('$')?;
    let (iterations, salt) = params.split_once(':')?;
    let (stored, server) = keys.split_once(':')?;
    let iterations: u32 = iterations.parse().ok()?;
    let salt = STANDARD.decode(salt).ok()?;
    if !(1..=MAX_ITERATIONS).contains(&iterations) || salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return None;
    }
    Some(ScramKeys {
        iterations,
        salt,
        stored_key: STANDARD.decode(stored).ok()?.try_into().ok()?,
        server_key: STANDARD.decode(server).ok()?.try_into().ok()?,
    })
}

/// Keys for a name that cannot log in with SCRAM: the salt is a keyed hash of the name,
/// the same every time (across restarts and nodes, since the secret is in the database),
/// the keys random so that no proof matches.
pub fn decoy(secret: &[u8], name: &str) -> ScramKeys {
    let mut input = b"scram-decoy-salt\0".to_vec();
    input.extend_from_slice(name.to_lowercase().as_bytes());
    let salt = hmac(secret, &input)[..SALT_LEN].to_vec();
    ScramKeys {
        iterations: ITERATIONS,
        salt,
        stored_key: rand::random(),
        server_key: rand::random(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: user "user", password "pencil", salt `W22ZaJ0SNY7soEsUEjb6gQ==`,
    /// 4096 iterations; the StoredKey/ServerKey below are what that exchange implies
    /// (its ClientProof and ServerSignature are checked in `estafeta_net::scram`).
    #[test]
    fn derive_matches_rfc_7677() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = derive("pencil", &salt, 4096);
        let text = format(&keys);
        assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
        assert_eq!(parse(&text), Some(keys.clone()));
        assert_eq!(
            STANDARD.encode(keys.stored_key),
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
        );
        assert_eq!(
            STANDARD.encode(keys.server_key),
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn parse_refuses_what_is_not_keys() {
        for bad in [
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$abc$def",
            "SCRAM-SHA-256$0:AAAA$AAAA:AAAA",
            "SCRAM-SHA-256$4096:AAAA$AAAA:AAAA",
            "SCRAM-SHA-256$4096:$x:y",
            "SCRAM-SHA-256$99999999999:AAAA$AAAA:AAAA",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn decoys_have_stable_salts_and_no_usable_keys() {
        let a = decoy(b"secret", "nobody@example.com");
        let b = decoy(b"secret", "NOBODY@example.com");
        assert_eq!(a.salt, b.salt);
        assert_ne!(a.stored_key, b.stored_key);
        assert_ne!(a.salt, decoy(b"other", "nobody@example.com").salt);
        assert_eq!(a.iterations, ITERATIONS);
    }
}
