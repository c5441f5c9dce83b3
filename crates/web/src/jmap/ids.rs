//! JMAP ids (RFC 8620 §1.2: 1–255 of `A-Za-z0-9-_`) for the store's objects, and back:
//! an account is `u<user id>`, a Mailbox `m<mailbox id>`, an Email `e<body hash>` (the
//! user's copies of one body in any folders are one Email, so moving keeps the id), a
//! message's raw blob `r<body hash>`, a body part's blob `p<body hash>_<part index>`, an
//! upload `u<random>`, a Thread `t<root Message-ID, base64url>` or `s<body hash>` for a
//! message that starts no thread anyone can refer to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn account(user_id: i64) -> String {
    format!("u{user_id}")
}

pub fn mailbox(id: i64) -> String {
    format!("m{id}")
}

pub fn mailbox_of(id: &str) -> Option<i64> {
    id.strip_prefix('m')?.parse().ok().filter(|n: &i64| *n > 0)
}

fn is_hash(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn email(hash: &str) -> String {
    format!("e{hash}")
}

/// The body hash an Email id names.
pub fn email_hash(id: &str) -> Option<&str> {
    id.strip_prefix('e').filter(|h| is_hash(h))
}

pub fn raw_blob(hash: &str) -> String {
    format!("r{hash}")
}

pub fn part_blob(hash: &str, part: usize) -> String {
    format!("p{hash}_{part}")
}

/// What a blob id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    /// A whole message, by its body's hash.
    Raw(String),
    /// One part of a message: its body's hash and the part's index.
    Part(String, usize),
    /// An upload.
    Upload(String),
}

pub fn blob_of(id: &str) -> Option<Blob> {
    if let Some(h) = id.strip_prefix('r') {
        return is_hash(h).then(|| Blob::Raw(h.to_string()));
    }
    if let Some(rest) = id.strip_prefix('p') {
        let (h, part) = rest.split_once('_')?;
        return (is_hash(h))
            .then_some(())
            .and_then(|_| part.parse().ok())
            .map(|p| Blob::Part(h.to_string(), p));
    }
    let u = id.strip_prefix('u')?;
    (u.len() == 32 && u.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Blob::Upload(u.to_string()))
}

pub fn new_upload() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Longest root Message-ID written into a Thread id (255 octets of id in all).
pub const MAX_THREAD_ROOT: usize = 180;

/// The Thread of a message whose thread starts at `root` (a Message-ID without angle
/// brackets), or of a lone message.
pub fn thread(root: Option<&str>, hash: &str) -> String {
    match root {
        Some(r) if !r.is_empty() && r.len() <= MAX_THREAD_ROOT => {
            format!("t{}", URL_SAFE_NO_PAD.encode(r.to_ascii_lowercase()))
        }
        _ => format!("s{hash}"),
    }
}

/// What a Thread id names: the root Message-ID (lower case) of a thread, or the body
/// hash of a lone message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadOf {
    Root(String),
    Lone(String),
}

pub fn thread_of(id: &str) -> Option<ThreadOf> {
    if let Some(h) = id.strip_prefix('s') {
        return is_hash(h).then(|| ThreadOf::Lone(h.to_string()));
    }
    let b = id.strip_prefix('t')?;
    let root = String::from_utf8(URL_SAFE_NO_PAD.decode(b).ok()?).ok()?;
    (!root.is_empty() && root.len() <= MAX_THREAD_ROOT).then_some(ThreadOf::Root(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_and_refuse_what_they_do_not_name() {
        let h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(email_hash(&email(h)), Some(h));
        assert_eq!(mailbox_of(&mailbox(42)), Some(42));
        assert_eq!(blob_of(&raw_blob(h)), Some(Blob::Raw(h.into())));
        assert_eq!(blob_of(&part_blob(h, 3)), Some(Blob::Part(h.into(), 3)));
        let u = new_upload();
        assert_eq!(blob_of(&format!("u{u}")), Some(Blob::Upload(u)));
        for bad in [
            "", "e", "eABC", "m", "m-1", "m0", "r12", "p_1", "uxyz", "../etc",
        ] {
            assert_eq!(email_hash(bad), None, "{bad}");
            assert_eq!(blob_of(bad), None, "{bad}");
        }
        assert_eq!(mailbox_of("mx"), None);
        assert_eq!(email_hash(&format!("e{}", h.to_uppercase())), None);
        let t = thread(Some("A@B"), h);
        assert!(
            t.len() < 256
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(thread(Some(&"x".repeat(181)), h), format!("s{h}"));
        assert_eq!(thread_of(&t), Some(ThreadOf::Root("a@b".into())));
        assert_eq!(thread_of(&thread(None, h)), Some(ThreadOf::Lone(h.into())));
        for bad in ["t", "t!!", "s12", "x", ""] {
            assert_eq!(thread_of(bad), None, "{bad}");
        }
    }
}
