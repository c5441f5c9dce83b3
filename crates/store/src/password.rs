//! Password hashing with argon2id (PHC strings), off the async threads, and a cache of
//! recent successful checks so that a client logging in again and again (a phone
//! opening several IMAP connections, a POP3 poller every minute) costs one argon2 run,
//! not one per login. Hashes imported from elsewhere (a Dovecot passwd-file: SHA-512-crypt
//! and SHA-256-crypt through the `sha-crypt` crate, bcrypt through `bcrypt`, argon2 with
//! other costs) are checked too, within cost bounds ([`MAX_CRYPT_ROUNDS`],
//! [`MAX_BCRYPT_COST`]), and [`needs_rehash`] says when a login should replace them.

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

/// The most rounds an imported SHA-crypt hash may ask for (Dovecot's default is 5,000).
pub const MAX_CRYPT_ROUNDS: u64 = 1_000_000;
/// The highest cost an imported bcrypt hash may have (Dovecot's default is 5).
pub const MAX_BCRYPT_COST: u32 = 16;

/// The kinds of stored hash that can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Argon2,
    ShaCrypt,
    Bcrypt,
}

/// What kind of hash `hash` is, when it is one that can be checked within the bounds.
pub fn kind(hash: &str) -> Option<Kind> {
    if hash.starts_with("$argon2") {
        return PasswordHash::new(hash).is_ok().then_some(Kind::Argon2);
    }
    if let Some(rest) = hash
        .strip_prefix("$6$")
        .or_else(|| hash.strip_prefix("$5$"))
    {
        let rounds = match rest.strip_prefix("rounds=") {
            Some(r) => r.split('$').next()?.parse::<u64>().ok()?,
            None => 5000,
        };
        return (rounds <= MAX_CRYPT_ROUNDS).then_some(Kind::ShaCrypt);
    }
    for prefix in ["$2a$", "$2b$", "$2y$"] {
        if let Some(rest) = hash.strip_prefix(prefix) {
            let cost: u32 = rest.get(..2)?.parse().ok()?;
            return (cost <= MAX_BCRYPT_COST && hash.len() == 60).then_some(Kind::Bcrypt);
        }
    }
    None
}

/// Whether a login with a right password should store a new hash: anything but
/// argon2id at today's cost (an imported hash, or an older cost).
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    let ours = argon2::Params::default();
    let param = |name: &str| parsed.params.get_decimal(name).map(u64::from);
    parsed.algorithm.as_str() != "argon2id"
        || param("m") != Some(u64::from(ours.m_cost()))
        || param("t") != Some(u64::from(ours.t_cost()))
        || param("p") != Some(u64::from(ours.p_cost()))
}

fn verify_now(password: &str, hash: &str) -> bool {
    match kind(hash) {
        Some(Kind::Argon2) => match PasswordHash::new(hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        },
        Some(Kind::ShaCrypt) => {
            use sha_crypt::PasswordVerifier as _;
            sha_crypt::ShaCrypt::default()
                .verify_password(password.as_bytes(), hash)
                .is_ok()
        }
        Some(Kind::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        None => false,
    }
}

/// Checks a password against a stored hash (ours, or an imported one of [`kind`]). A
/// malformed hash never matches.
pub async fn verify(password: &str, hash: &str) -> bool {
    let password = password.to_owned();
    let hash = hash.to_owned();
    let _slot = hashing_slot().await;
    tokio::task::spawn_blocking(move || verify_now(&password, &hash))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_their_bounds() {
        // the classic bcrypt vector ("U*U")
        let bcrypt = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert_eq!(kind(bcrypt), Some(Kind::Bcrypt));
        assert!(verify_now("U*U", bcrypt) && !verify_now("U*V", bcrypt));
        assert_eq!(kind(&bcrypt.replace("$05$", "$17$")), None, "too costly");
        assert_eq!(kind("$2y$05$short"), None);
        // glibc's SHA-512-crypt of "Hello world!" (the specification's example)
        let sha512 = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert_eq!(kind(sha512), Some(Kind::ShaCrypt));
        assert!(verify_now("Hello world!", sha512) && !verify_now("Hello world", sha512));
        assert_eq!(kind("$6$rounds=5000000$salt$abc"), None, "too many rounds");
        assert_eq!(kind("$6$rounds=lots$salt$abc"), None);
        assert_eq!(kind("{PLAIN}secret"), None);
        assert_eq!(kind("$1$md5$crypt"), None, "MD5-crypt is not taken");
        assert!(!verify_now("x", "$argon2id$garbage"));
    }

    #[tokio::test]
    async fn ours_need_no_rehash_and_others_do() {
        let ours = hash("pw").await.unwrap();
        assert!(!needs_rehash(&ours));
        assert!(needs_rehash(
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        ));
        assert!(needs_rehash(&ours.replace("m=19456", "m=8192")));
        assert!(needs_rehash(&ours.replace("$argon2id$", "$argon2i$")));
    }
}
