//! The MTA-STS policy of our domains (RFC 8461 §3.2), served at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt`: the mode from `web.mta_sts_mode`,
//! this server's hostname as the one `mx`, `web.mta_sts_max_age`. The policy id that the
//! `_mta-sts` TXT record must carry (`estafeta dns` prints it) is derived from the text,
//! so that it changes exactly when the policy does.

use estafeta_config::Config;
use sha2::{Digest, Sha256};

/// The policy text, lines ending in CRLF.
pub fn policy(config: &Config) -> String {
    format!(
        "version: STSv1\r\nmode: {}\r\nmx: {}\r\nmax_age: {}\r\n",
        config.web.mta_sts_mode.as_str(),
        config.hostname.trim_end_matches('.'),
        config.web.mta_sts_max_age
    )
}

/// The `id` for the `_mta-sts` TXT record: 16 hex digits of the policy's hash (RFC 8461
/// §3.1 allows up to 32 alphanumerics).
pub fn policy_id(config: &Config) -> String {
    hex::encode(&Sha256::digest(policy(config).as_bytes())[..8])
}

/// The domain a request to `mta-sts.<domain>` is for, from its Host (port left out).
pub fn domain_of_host(host: &str) -> Option<String> {
    let name = crate::routes::host_name(host);
    let domain = name.strip_prefix("mta-sts.")?;
    // a name, not whatever the Host: value held (found by the web_request fuzz target)
    let name_like = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    name_like.then(|| domain.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_follows_the_configuration_and_its_id_follows_the_policy() {
        let testing = Config::from_toml("hostname = \"mail.example.test\"", "t").unwrap();
        assert_eq!(
            policy(&testing),
            "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
        );
        let enforce = Config::from_toml(
            "hostname = \"mail.example.test\"\n[web]\nmta_sts_mode = \"enforce\"",
            "t",
        )
        .unwrap();
        assert!(policy(&enforce).contains("mode: enforce\r\n"));
        assert_ne!(policy_id(&testing), policy_id(&enforce));
        assert_eq!(policy_id(&testing).len(), 16);
    }

    #[test]
    fn host_names_the_domain() {
        assert_eq!(
            domain_of_host("mta-sts.Example.TEST:443").as_deref(),
            Some("example.test")
        );
        assert_eq!(domain_of_host("mta-sts."), None);
        assert_eq!(domain_of_host("example.test"), None);
        assert_eq!(domain_of_host("mta-sts.exa:k.:4s"), None, "not a name");
        assert_eq!(domain_of_host("mta-sts.a\u{e9}.test"), None);
    }
}
