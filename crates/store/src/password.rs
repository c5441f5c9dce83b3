//! Password hashing with argon2id (PHC strings), off the async threads, and a cache of
//! recent successful checks so that a client logging in again and again (a phone
//! opening several IMAP connections, a POP3 poller every minute) costs one argon2 run,
//! not one per login.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{Result, StoreError};

/// Argon2 takes 19 MiB per run: at most one run per core at a time, so that a storm of
/// logins queues instead of taking a blocking thread (and its memory) per login.
async fn hashing_slot() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::sync::Semaphore::new(cores)
        })
        .acquire()
        .await
        .ok()
}

/// Hashes a password with a fresh random salt.
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    let _slot = hashing_slot().await;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Password(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Password(e.to_string()))?
}

/// Checks a password against a stored PHC string. A malformed hash never matches.
pub async fn verify(password: &str, phc: &str) -> bool {
    let password = password.to_owned();
    let phc = phc.to_owned();
    let _slot = hashing_slot().await;
    tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}

/// Successful checks, as keyed digests of (stored hash, password): a changed password
/// changes the stored hash and so misses. Failures are never cached, so guessing costs a
/// full argon2 run every time.
struct VerifiedCache {
    key: [u8; 32],
    seen: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
}

/// Entries kept before the cache starts again from empty.
const CACHE_ENTRIES: usize = 100_000;

fn cache() -> &'static VerifiedCache {
    static CACHE: std::sync::OnceLock<VerifiedCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| VerifiedCache {
        key: rand::random(),
        seen: Default::default(),
    })
}

fn digest(password: &str, phc: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(cache().key);
    h.update(phc.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    h.finalize().into()
}

/// `verify`, answered from the cache when this password was verified against this very
/// hash before.
pub async fn verify_cached(password: &str, phc: &str) -> bool {
    let d = digest(password, phc);
    let lock = || cache().seen.lock().unwrap_or_else(|p| p.into_inner());
    if lock().contains(&d) {
        return true;
    }
    let ok = verify(password, phc).await;
    if ok {
        let mut seen = lock();
        if seen.len() >= CACHE_ENTRIES {
            seen.clear();
        }
        seen.insert(d);
    }
    ok
}

/// A hash no password matches, checked against when the user does not exist so that an
/// unknown address takes as long to refuse as a wrong password.
pub async fn decoy() -> String {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_init(|| async {
            hash("estafeta decoy password, never valid")
                .await
                .unwrap_or_default()
        })
        .await
        .clone()
}
