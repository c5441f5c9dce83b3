//! METADATA and METADATA-SERVER (RFC 5464): GETMETADATA and SETMETADATA over the server's
//! and each mailbox's entries, kept by the store (`Metadata`) per user. With no sharing of
//! mailboxes between users, `/shared/…` entries are seen by their user only, but kept
//! apart from `/private/…` ones. `/shared/admin` of the server is read-only: `mailto:`
//! the postmaster of `hostname`.
//!
//! Bounds (documented in docs/operations.md):
//! - a value holds at most [`MAX_VALUE`] octets (`NO [METADATA MAXSIZE …]`);
//! - the server and each mailbox hold at most [`MAX_ENTRIES`] entries per user
//!   (`NO [METADATA TOOMANY]`, nothing of the command kept);
//! - an entry name holds at most [`MAX_NAME`] octets of printable ASCII, starts with
//!   `/private/` or `/shared/`, and has no `*`, `%`, `//`, trailing `/` (RFC 5464 §3.2);
//!   names compare case-insensitively and are kept lowercase;
//! - GETMETADATA names at most the parser's list bound of entries, and answers from the
//!   target's entries only (at most [`MAX_ENTRIES`], each at most [`MAX_VALUE`]).
//!
//! `[METADATA NOPRIVATE]` is never sent: private entries are supported everywhere.

use super::*;

/// Largest value, in octets.
pub(super) const MAX_VALUE: usize = 64 * 1024;
/// Entries per user on the server, and per mailbox.
pub(super) const MAX_ENTRIES: usize = 100;
/// Longest entry name, in octets.
pub(super) const MAX_NAME: usize = 256;

/// The entry name lowercased, or why it is refused.
fn entry_name(name: &str) -> Result<String, &'static str> {
    if name.len() > MAX_NAME {
        return Err("entry name too long");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("entry names are printable ASCII");
    }
    if name.contains(['*', '%']) || name.contains("//") || name.ends_with('/') {
        return Err("entry names hold no *, %, // or trailing /");
    }
    let lower = name.to_ascii_lowercase();
    if lower != "/private"
        && lower != "/shared"
        && !lower.starts_with("/private/")
        && !lower.starts_with("/shared/")
    {
        return Err("entry names start with /private or /shared");
    }
    Ok(lower)
}

/// Whether `name` is `entry` or below it within `depth` levels.
fn within(name: &str, entry: &str, depth: u32) -> bool {
    if name == entry {
        return true;
    }
    match name.strip_prefix(entry).and_then(|r| r.strip_prefix('/')) {
        Some(rest) => depth == u32::MAX || (depth == 1 && !rest.contains('/')),
        None => false,
    }
}

impl Session {
    /// The mailbox of a METADATA command: `None` for the server (`""`); the NO is sent
    /// here when there is no such mailbox.
    async fn metadata_target(&mut self, tag: &str, mailbox: &str) -> Result<Option<i64>, ()> {
        if mailbox.is_empty() {
            return Ok(None);
        }
        match self
            .find_mailbox(tag, mailbox, "[NONEXISTENT] no such mailbox")
            .await
        {
            Some(mb) => Ok(Some(mb.id)),
            None => Err(()),
        }
    }

    pub(super) async fn get_metadata(
        &mut self,
        tag: &str,
        mailbox: &str,
        entries: &[String],
        max_size: Option<u64>,
        depth: u32,
    ) {
        let mut wanted = Vec::new();
        for e in entries {
            match entry_name(e) {
                Ok(n) => wanted.push(n),
                Err(why) => return self.bad(tag, why),
            }
        }
        let Ok(target) = self.metadata_target(tag, mailbox).await else {
            return;
        };
        let mut stored = match self.shared.store.metadata(self.user_id(), target).await {
            Ok(s) => s,
            Err(e) => return self.unavailable(tag, &e),
        };
        if target.is_none() {
            stored.push((
                "/shared/admin".into(),
                self.shared.settings.admin.clone().into_bytes(),
            ));
        }
        let mut out = Vec::new();
        let mut longest_left = 0usize;
        for (name, value) in &stored {
            if !wanted.iter().any(|w| within(name, w, depth)) {
                continue;
            }
            if max_size.is_some_and(|m| value.len() as u64 > m) {
                longest_left = longest_left.max(value.len());
                continue;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            string(&mut out, name.as_bytes());
            out.push(b' ');
            string(&mut out, value);
        }
        if !out.is_empty() {
            let mut line = b"* METADATA ".to_vec();
            string(&mut line, mailbox.as_bytes());
            line.extend_from_slice(b" (");
            line.extend_from_slice(&out);
            line.extend_from_slice(b")\r\n");
            self.io().write(&line);
        }
        if longest_left > 0 {
            self.ok(
                tag,
                &format!("[METADATA LONGENTRIES {longest_left}] GETMETADATA completed"),
            );
        } else {
            self.ok(tag, "GETMETADATA completed");
        }
    }

    pub(super) async fn set_metadata(
        &mut self,
        tag: &str,
        mailbox: &str,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) {
        let mut changes = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            let name = match entry_name(&name) {
                Ok(n) if n == "/private" || n == "/shared" => {
                    return self.bad(tag, "an entry is named below /private or /shared");
                }
                Ok(n) => n,
                Err(why) => return self.bad(tag, why),
            };
            if mailbox.is_empty() && name == "/shared/admin" {
                return self.no(tag, "/shared/admin is set in the server's configuration");
            }
            if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE) {
                return self.no(
                    tag,
                    &format!("[METADATA MAXSIZE {MAX_VALUE}] value too large"),
                );
            }
            changes.push((name, value));
        }
        let Ok(target) = self.metadata_target(tag, mailbox).await else {
            return;
        };
        match self
            .shared
            .store
            .set_metadata(self.user_id(), target, &changes, MAX_ENTRIES)
            .await
        {
            Ok(true) => self.ok(tag, "SETMETADATA completed"),
            Ok(false) => self.no(
                tag,
                &format!("[METADATA TOOMANY] at most {MAX_ENTRIES} entries per mailbox"),
            ),
            Err(e) => self.unavailable(tag, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            entry_name("/Private/Comment").as_deref(),
            Ok("/private/comment")
        );
        assert!(entry_name("/shared/vendor/x").is_ok());
        for bad in [
            "/private/*",
            "/private/a%",
            "/private//a",
            "/private/a/",
            "/other/a",
            "private/a",
            "/private/a b",
            "/private/é",
        ] {
            assert!(entry_name(bad).is_err(), "{bad}");
        }
        assert!(entry_name(&format!("/private/{}", "a".repeat(MAX_NAME))).is_err());
    }

    #[test]
    fn depth() {
        assert!(within("/private/comment", "/private/comment", 0));
        assert!(!within("/private/comment", "/private", 0));
        assert!(within("/private/comment", "/private", 1));
        assert!(!within("/private/a/b", "/private", 1));
        assert!(within("/private/a/b", "/private", u32::MAX));
        assert!(!within("/privatex", "/private", u32::MAX));
    }
}
