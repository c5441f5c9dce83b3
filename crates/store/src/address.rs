//! Mail address syntax as the directory stores it: lower case, one `@`, a host-name domain.

use crate::error::{Result, StoreError};

/// Normalises `Local@Example.COM` to `local@example.com`, or says what is wrong.
pub fn normalize(address: &str) -> Result<String> {
    let a = address.trim().to_lowercase();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(StoreError::Invalid(format!(
            "{address:?} is not a mail address: expected local-part@domain"
        )));
    };
    if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c == '@')
    {
        return Err(StoreError::Invalid(format!(
            "{address:?} is not a mail address: the part before @ is empty or malformed"
        )));
    }
    normalize_domain(domain)?;
    Ok(a)
}

/// Normalises a domain name, or says what is wrong with it.
pub fn normalize_domain(domain: &str) -> Result<String> {
    let d = domain.trim().trim_end_matches('.').to_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(StoreError::Invalid(format!(
            "{domain:?} is not a domain name: expected something like example.com"
        )))
    }
}

/// The domain part of a normalised address.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// `user+tag@example.com` → `user@example.com`; `None` when there is no tag.
pub fn strip_plus(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let (base, _tag) = local.split_once('+')?;
    if base.is_empty() {
        return None;
    }
    Some(format!("{base}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_checks_shape() {
        assert_eq!(
            normalize(" Bob@Example.COM ").ok(),
            Some("bob@example.com".into())
        );
        assert!(normalize("bob").is_err());
        assert!(normalize("@example.com").is_err());
        assert!(normalize("bob@").is_err());
        assert!(normalize("bob@exa mple.com").is_err());
        assert!(normalize_domain("-bad.com").is_err());
    }

    #[test]
    fn plus_addressing() {
        assert_eq!(
            strip_plus("bob+news@example.com").as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(strip_plus("bob@example.com"), None);
        assert_eq!(strip_plus("+x@example.com"), None);
    }
}
