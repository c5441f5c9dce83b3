//! DNS for delivery, with hickory-resolver: a domain's MX hosts in the order to try them
//! (by preference, equal preferences shuffled), the null MX of RFC 7505, the A/AAAA
//! fallback when a domain has no MX, and the addresses of a host. Answers are sorted
//! into "does not exist" (permanent) and "could not find out" (temporary).

use std::net::IpAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use rand::seq::SliceRandom;

/// A lookup that gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsFailure {
    /// The name does not exist, or has no record of the kind needed.
    NotFound(String),
    /// The server did not answer, or answered with an error: ask again later.
    Temporary(String),
}

/// A domain's mail hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailHosts {
    /// MX hosts in the order to try them, with their preference.
    Mx(Vec<(u16, String)>),
    /// No MX record: the domain itself is the host (RFC 5321 §5.1).
    Implicit,
    /// `MX 0 .`: the domain accepts no mail (RFC 7505).
    NullMx,
}

/// A name as an absolute DNS name, so that no search domain is appended.
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn failure(name: &str, kind: &str, e: &hickory_resolver::net::NetError) -> DnsFailure {
    if e.is_nx_domain() {
        DnsFailure::NotFound(format!(
            "{name} does not exist (DNS {kind} lookup: NXDOMAIN)"
        ))
    } else if e.is_no_records_found() {
        DnsFailure::NotFound(format!("{name} has no {kind} record"))
    } else {
        DnsFailure::Temporary(format!("DNS {kind} lookup for {name} failed: {e}"))
    }
}

/// The mail hosts of `domain`.
pub async fn mail_hosts(resolver: &TokioResolver, domain: &str) -> Result<MailHosts, DnsFailure> {
    let lookup = match resolver.mx_lookup(absolute(domain).as_str()).await {
        Ok(l) => l,
        Err(e) => {
            return match failure(domain, "MX", &e) {
                // NODATA: the domain exists without MX, so its own address is used
                DnsFailure::NotFound(_) if !e.is_nx_domain() => Ok(MailHosts::Implicit),
                other => Err(other),
            };
        }
    };
    let mut hosts: Vec<(u16, String)> = Vec::new();
    let mut null = false;
    for record in lookup.answers() {
        if let RData::MX(mx) = &record.data {
            if mx.exchange.is_root() {
                null = true;
            } else {
                let name = mx.exchange.to_ascii();
                hosts.push((
                    mx.preference,
                    name.trim_end_matches('.').to_ascii_lowercase(),
                ));
            }
        }
    }
    if hosts.is_empty() {
        return Ok(if null {
            MailHosts::NullMx
        } else {
            MailHosts::Implicit
        });
    }
    Ok(MailHosts::Mx(order(hosts)))
}

/// By preference, the hosts of one preference in random order (RFC 5321 §5.1).
fn order(mut hosts: Vec<(u16, String)>) -> Vec<(u16, String)> {
    hosts.sort_by_key(|(p, _)| *p);
    hosts.dedup();
    let mut rng = rand::rng();
    let mut start = 0;
    while start < hosts.len() {
        let pref = hosts[start].0;
        let end = hosts[start..]
            .iter()
            .position(|(p, _)| *p != pref)
            .map_or(hosts.len(), |n| start + n);
        hosts[start..end].shuffle(&mut rng);
        start = end;
    }
    hosts
}

/// The addresses of a host (A, then AAAA); an IP literal is its own address.
pub async fn addresses(resolver: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![ip]);
    }
    match resolver.lookup_ip(absolute(host).as_str()).await {
        Ok(ips) => {
            let ips: Vec<IpAddr> = ips.iter().collect();
            if ips.is_empty() {
                Err(DnsFailure::NotFound(format!(
                    "{host} has no A or AAAA record"
                )))
            } else {
                Ok(ips)
            }
        }
        Err(e) => Err(failure(host, "A/AAAA", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_preferences_are_shuffled_within_their_rank() {
        let hosts = vec![
            (20, "c".to_string()),
            (10, "a".to_string()),
            (10, "b".to_string()),
            (30, "d".to_string()),
        ];
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let o = order(hosts.clone());
            let prefs: Vec<u16> = o.iter().map(|(p, _)| *p).collect();
            assert_eq!(prefs, vec![10, 10, 20, 30]);
            assert_eq!(o[2].1, "c");
            firsts.insert(o[0].1.clone());
        }
        assert_eq!(
            firsts.len(),
            2,
            "both hosts of preference 10 come first sometimes"
        );
    }
}
