//! DNS blocklists (`[doctor] blocklists`): each public address looked up as
//! `<reversed address>.<zone>` A through the configured resolver. An answer means
//! listed; NXDOMAIN means not listed; anything else is not known. Loopback and private
//! addresses are not looked up unless `[doctor] public_addresses` names them.

use std::net::IpAddr;

use estafeta_config::Config;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::dns::{Answer, Dns};
use super::{Addresses, Report};

/// `1.2.0.192` for 192.0.2.1; 32 nibbles for IPv6.
pub fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .rev()
            .flat_map(|b| [b & 0x0f, b >> 4])
            .map(|n| format!("{n:x}"))
            .collect::<Vec<_>>()
            .join("."),
    }
}

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

pub async fn check(config: &Config, dns: &Dns, ours: &Addresses, report: &mut Report) {
    if config.doctor.blocklists.is_empty() {
        return report.ok("blocklists", "none configured ([doctor] blocklists = [])");
    }
    if ours.ips.is_empty() {
        return report.skip(
            "blocklists",
            "no public address known: set [doctor] public_addresses",
        );
    }
    for ip in &ours.ips {
        if private(*ip) && !ours.configured {
            report.skip(
                &format!("blocklists {ip}"),
                "a loopback or private address: blocklists list public addresses only",
            );
            continue;
        }
        for zone in &config.doctor.blocklists {
            let zone = zone.trim_end_matches('.');
            let name = format!("blocklist {zone} {ip}");
            let query = format!("{}.{zone}", reversed(*ip));
            match dns.lookup(&query, RecordType::A).await {
                Answer::Missing(_) => report.ok(&name, format!("{ip} is not listed on {zone}")),
                Answer::Failed(why) => report.skip(&name, why),
                Answer::Found(data) => {
                    let codes: Vec<String> = data
                        .iter()
                        .filter_map(|d| match d {
                            RData::A(a) => Some(a.0.to_string()),
                            _ => None,
                        })
                        .collect();
                    // Spamhaus answers 127.255.255.x to queries it refuses (public
                    // resolvers, too many queries): that is no listing
                    if codes.iter().all(|c| c.starts_with("127.255.255.")) {
                        report.skip(
                            &name,
                            format!(
                                "{zone} refused the query (answer {}): it does not answer through \
                                 public or shared resolvers; set delivery.dns_servers to a resolver of your own",
                                codes.join(", ")
                            ),
                        );
                        continue;
                    }
                    report.fail(
                        &name,
                        format!("{ip} is listed on {zone} (answer {})", codes.join(", ")),
                        format!(
                            "find out why on {zone}'s web site (look up {ip}: an open relay, a compromised \
                             account, a bad neighbour), stop the cause, then ask it to delist {ip}"
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reversed;

    #[test]
    fn reversed_addresses() {
        assert_eq!(reversed("192.0.2.1".parse().expect("ip")), "1.2.0.192");
        let v6 = reversed("2001:db8::1".parse().expect("ip"));
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."), "{v6}");
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2"), "{v6}");
        assert_eq!(v6.split('.').count(), 32);
    }
}
