//! `estafeta import passwd-file FILE`: users moved in from Dovecot with their passwords.
//! A Dovecot passwd-file line is `user:{SCHEME}hash:uid:gid:gecos:home:shell:extra`;
//! the user (with `--domain` added when it has no `@`) is created with the hash as it is
//! (`{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{BLF-CRYPT}`, `{ARGON2ID}`, `{ARGON2I}`, or a bare
//! `$6$`/`$5$`/`$2y$` crypt string; `{PLAIN}` is hashed here), its quota from an extra
//! field `userdb_quota_rule=*:storage=SIZE` when there is one. The first login with the
//! password replaces the hash with argon2id (`estafeta_store` does it). Users that exist
//! already are left alone, so a re-run is safe; lines that cannot be taken are reported
//! by number and the rest still imported. Bounds: the file is read line by line, lines
//! of at most [`MAX_LINE`] octets.

use std::io::{BufRead, Read};
use std::path::Path;

use estafeta_store::{NewUser, Store, StoreError};

use crate::failure::{CommandResult, Failure};

/// The longest passwd-file line read.
pub const MAX_LINE: usize = 64 * 1024;

/// One line's user, before the store sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub address: String,
    /// `None`: a `{PLAIN}` password, to hash here (the `Some` of `plain`).
    pub hash: Option<String>,
    pub plain: Option<String>,
    pub scheme: String,
    pub quota_bytes: i64,
}

/// Reads one passwd-file line; `Ok(None)` for blank and comment lines.
pub fn parse_line(line: &str, domain: Option<&str>) -> Result<Option<Entry>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() || line.trim_start().starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.splitn(8, ':');
    let user = fields.next().unwrap_or_default().trim();
    let password = fields.next().ok_or("no password field (user:password:…)")?;
    let extra = fields.nth(5).unwrap_or_default();
    let address = match (user.contains('@'), domain) {
        (true, _) => user.to_string(),
        (false, Some(d)) => format!("{user}@{d}"),
        (false, None) => {
            return Err(format!(
                "{user:?} has no domain: give --domain DOMAIN for users without @"
            ));
        }
    };
    let (scheme, value) = match password.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((scheme, value)) => (scheme.to_ascii_uppercase(), value),
        None => ("CRYPT".to_string(), password),
    };
    let (hash, plain) = match scheme.as_str() {
        "PLAIN" | "CLEARTEXT" | "CLEAR" => (None, Some(value.to_string())),
        "SHA512-CRYPT" | "SHA256-CRYPT" | "BLF-CRYPT" | "ARGON2ID" | "ARGON2I" | "CRYPT" => {
            (Some(value.to_string()), None)
        }
        other => {
            return Err(format!(
                "{address}: scheme {{{other}}} is not supported (SHA512-CRYPT, SHA256-CRYPT, \
                 BLF-CRYPT, ARGON2ID, ARGON2I, PLAIN are): the user must be given a new password"
            ));
        }
    };
    if hash.as_deref() == Some("") || plain.as_deref() == Some("") {
        return Err(format!("{address}: empty password"));
    }
    let mut quota_bytes = 0;
    for field in extra.split_whitespace() {
        let rule = field
            .strip_prefix("userdb_quota_rule=")
            .or_else(|| field.strip_prefix("quota_rule="));
        if let Some(size) = rule.and_then(|r| r.strip_prefix("*:storage=")) {
            quota_bytes =
                crate::cli::parse_size(size).map_err(|e| format!("{address}: quota {e}"))?;
        }
    }
    Ok(Some(Entry {
        address,
        hash,
        plain,
        scheme,
        quota_bytes,
    }))
}

pub async fn passwd_file(store: &dyn Store, file: &Path, domain: Option<&str>) -> CommandResult {
    let opened = std::fs::File::open(file)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
    let mut reader = std::io::BufReader::new(opened);
    let (mut imported, mut existing, mut refused) = (0, 0, 0);
    let mut buf = Vec::new();
    for number in 1.. {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
        if n == 0 {
            break;
        }
        let say = |why: &str| eprintln!("{}:{number}: {why}", file.display());
        if buf.len() > MAX_LINE {
            say(&format!("longer than {MAX_LINE} octets: skipped"));
            refused += 1;
            // the rest of the long line
            let mut rest = Vec::new();
            let _ = reader.read_until(b'\n', &mut rest);
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let entry = match parse_line(&line, domain) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(why) => {
                say(&why);
                refused += 1;
                continue;
            }
        };
        let new = NewUser {
            address: entry.address.clone(),
            password: entry.plain.clone().unwrap_or_default(),
            quota_bytes: entry.quota_bytes,
            pop3_keep: true,
        };
        let added = match &entry.hash {
            Some(hash) => store.add_user_with_hash(new, hash).await,
            None => store.add_user(new).await,
        };
        match added {
            Ok(user) => {
                imported += 1;
                println!("imported {} ({})", user.address, entry.scheme);
            }
            Err(StoreError::AlreadyExists(_)) => {
                existing += 1;
                println!("exists {} (left as it is)", entry.address);
            }
            Err(e) => {
                say(&e.to_string());
                refused += 1;
            }
        }
    }
    println!("{imported} imported, {existing} already there, {refused} refused");
    if refused > 0 {
        return Err(Failure::new(format!(
            "{refused} line(s) of {} were not imported (see above)",
            file.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_lines() {
        let e = parse_line(
            "bob:{SHA512-CRYPT}$6$abc$xyz:1000:1000::/home/bob::userdb_quota_rule=*:storage=1G",
            Some("example.com"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.address, "bob@example.com");
        assert_eq!(e.hash.as_deref(), Some("$6$abc$xyz"));
        assert_eq!(e.quota_bytes, 1 << 30);
        let e = parse_line("ann@x.test:{plain}secret::", None)
            .unwrap()
            .unwrap();
        assert_eq!((e.plain.as_deref(), e.hash), (Some("secret"), None));
        let e = parse_line("c@x.test:$2y$05$abc", None).unwrap().unwrap();
        assert_eq!(e.scheme, "CRYPT");
        assert_eq!(parse_line("# comment", None).unwrap(), None);
        assert_eq!(parse_line("   ", None).unwrap(), None);
        assert!(
            parse_line("nodomain:{PLAIN}x", None)
                .unwrap_err()
                .contains("--domain")
        );
        assert!(
            parse_line("d@x.test:{SSHA512}abc", None)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_line("d@x.test", None).is_err());
        assert!(
            parse_line("d@x.test:{PLAIN}", None)
                .unwrap_err()
                .contains("empty")
        );
        assert!(parse_line("d@x.test:{PLAIN}x::::::quota_rule=*:storage=lots", None).is_err());
    }
}
