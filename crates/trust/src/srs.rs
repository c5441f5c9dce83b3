//! SRS, the Sender Rewriting Scheme (as Postfix's postsrsd and most forwarders write it):
//! mail from outside that an alias forwards to another outside address leaves with the
//! envelope sender `SRS0=HASH=TT=domain=local@our-domain`, so that the next server's SPF
//! check sees one of our domains, and a bounce to that address comes back here, where it
//! is routed to the original sender ([`reverse`]).
//!
//! TT is the day (days since 1970, modulo 1024, two base32 characters); HASH is the first
//! 6 base32 characters of HMAC-SHA256 over the lower-cased `TT=domain=local` with the
//! server's secret (the store's `srs` secret, the same on every node). Both are compared
//! case-insensitively, as relays may change case. An address older than [`MAX_AGE_DAYS`]
//! or with a wrong hash is refused: nobody can turn our domain into a relay by writing
//! SRS addresses.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Days an SRS address is honoured after it was written.
pub const MAX_AGE_DAYS: i64 = 21;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HASH_LENGTH: usize = 6;

/// The rewritten sender for mail from `sender` forwarded by `our_domain`, at `now`
/// (seconds since 1970). `sender` is returned as it is when it has no domain.
pub fn forward(sender: &str, our_domain: &str, secret: &[u8], now: i64) -> String {
    let Some((local, domain)) = sender.rsplit_once('@') else {
        return sender.to_string();
    };
    let day = day_stamp(now);
    let hash = hash(secret, &day, domain, local);
    format!("SRS0={hash}={day}={domain}={local}@{our_domain}")
}

/// Why an SRS address is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    BadHash,
    Expired,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Invalid::Malformed => "malformed SRS address",
            Invalid::BadHash => "SRS address not made here",
            Invalid::Expired => "SRS address expired",
        })
    }
}

/// The original sender an SRS address of ours stands for: `None` when `address` is not
/// an SRS address at all, `Some(Err)` when it is one we do not honour.
pub fn reverse(address: &str, secret: &[u8], now: i64) -> Option<Result<String, Invalid>> {
    let (local, _) = address.rsplit_once('@')?;
    if !local.get(..5)?.eq_ignore_ascii_case("SRS0=") {
        return None;
    }
    Some(check(&local[5..], secret, now))
}

/// The original sender behind `address` when it is an SRS address of one of our domains
/// (checked with the store's secret): `None` for any other address.
pub async fn original_of(
    store: &dyn estafeta_store::Store,
    address: &str,
) -> estafeta_store::Result<Option<Result<String, Invalid>>> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    if !local
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("SRS0="))
    {
        return Ok(None);
    }
    if !store.is_local_domain(domain).await? {
        return Ok(None);
    }
    let secret = store.srs_secret().await?;
    Ok(reverse(address, &secret, estafeta_store::now()))
}

/// The envelope sender for mail from `sender` that `our_domain` forwards outside.
pub async fn sender_for_forwarding(
    store: &dyn estafeta_store::Store,
    sender: &str,
    our_domain: &str,
) -> estafeta_store::Result<String> {
    let secret = store.srs_secret().await?;
    Ok(forward(sender, our_domain, &secret, estafeta_store::now()))
}

fn check(rest: &str, secret: &[u8], now: i64) -> Result<String, Invalid> {
    let mut parts = rest.splitn(4, '=');
    let (Some(given), Some(day), Some(domain), Some(local)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed);
    };
    if domain.is_empty() || local.is_empty() || day.len() != 2 {
        return Err(Invalid::Malformed);
    }
    let expected = hash(secret, day, domain, local);
    if !given.eq_ignore_ascii_case(&expected) {
        return Err(Invalid::BadHash);
    }
    let Some(written) = day_number(day) else {
        return Err(Invalid::Malformed);
    };
    let today = (now / 86_400).rem_euclid(1024);
    if (today - written).rem_euclid(1024) > MAX_AGE_DAYS {
        return Err(Invalid::Expired);
    }
    Ok(format!("{local}@{domain}"))
}

fn day_stamp(now: i64) -> String {
    let day = (now / 86_400).rem_euclid(1024) as usize;
    [BASE32[day / 32] as char, BASE32[day % 32] as char]
        .iter()
        .collect()
}

fn day_number(stamp: &str) -> Option<i64> {
    let mut n = 0i64;
    for c in stamp.bytes() {
        let v = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())?;
        n = n * 32 + v as i64;
    }
    Some(n)
}

fn hash(secret: &[u8], day: &str, domain: &str, local: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(
        format!("{day}={domain}={local}")
            .to_ascii_lowercase()
            .as_bytes(),
    );
    let digest = mac.finalize().into_bytes();
    // 5 bits per character from the digest's first octets
    let mut bits: u64 = 0;
    for &b in &digest[..5] {
        bits = bits << 8 | u64::from(b);
    }
    (0..HASH_LENGTH)
        .map(|i| BASE32[((bits >> (35 - 5 * i)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"secret";
    const NOW: i64 = 1_780_000_000;

    #[test]
    fn forward_and_back() {
        let srs = forward("Alice@Outside.test", "example.com", SECRET, NOW);
        assert!(srs.starts_with("SRS0="), "{srs}");
        assert!(srs.ends_with("=Outside.test=Alice@example.com"), "{srs}");
        assert_eq!(
            reverse(&srs, SECRET, NOW + 86_400 * MAX_AGE_DAYS),
            Some(Ok("Alice@Outside.test".into()))
        );
        // relays may change case
        assert_eq!(
            reverse(&srs.to_ascii_lowercase(), SECRET, NOW),
            Some(Ok("alice@outside.test".into()))
        );
        assert_eq!(reverse("bob@example.com", SECRET, NOW), None);
    }

    #[test]
    fn what_is_refused() {
        let srs = forward("a@outside.test", "example.com", SECRET, NOW);
        let later = NOW + 86_400 * (MAX_AGE_DAYS + 1);
        assert_eq!(reverse(&srs, SECRET, later), Some(Err(Invalid::Expired)));
        assert_eq!(
            reverse(&srs, b"another secret", NOW),
            Some(Err(Invalid::BadHash))
        );
        let other = srs.replace("=outside.test=a@", "=victim.test=a@");
        assert_eq!(reverse(&other, SECRET, NOW), Some(Err(Invalid::BadHash)));
        for bad in [
            "SRS0=@example.com",
            "SRS0=abc@example.com",
            "SRS0=AAAAAA=AA==x@example.com",
            "SRS0=AAAAAA=A=d=x@example.com",
            "SRS0=AAAAAA=!!=d=x@example.com",
        ] {
            assert!(matches!(reverse(bad, SECRET, NOW), Some(Err(_))), "{bad}");
        }
        // the day counter wraps at 1024 days
        let old = forward("a@outside.test", "example.com", SECRET, 86_400 * 1023);
        assert!(matches!(reverse(&old, SECRET, 86_400 * 1030), Some(Ok(_))));
    }
}
