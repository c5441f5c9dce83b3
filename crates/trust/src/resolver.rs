//! The one DNS resolver of the server (hickory, with its cache): delivery's MX and
//! address lookups and the checks' SPF, DKIM and DMARC lookups share it; and the TXT
//! records of a name as whole texts, for the records mail-auth does not look up itself.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// The resolver: the given servers, or the system's when there are none.
pub fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    build(servers, |_| {})
}

/// [`resolver`] answering from the DNS alone, never from /etc/hosts, one attempt per
/// server: what the rest of the world sees of our names and addresses (`estafeta doctor`).
pub fn dns_only_resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    build(servers, |opts| {
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        opts.attempts = 1;
    })
}

fn build(
    servers: &[SocketAddr],
    adjust: impl Fn(&mut ResolverOpts),
) -> Result<TokioResolver, String> {
    if servers.is_empty() {
        let mut builder = TokioResolver::builder_tokio().map_err(|e| {
            format!(
                "cannot read the system's DNS configuration (/etc/resolv.conf): {e}; \
                 name the servers in delivery.dns_servers"
            )
        })?;
        adjust(builder.options_mut());
        return builder
            .build()
            .map_err(|e| format!("cannot start the DNS resolver: {e}"));
    }
    let name_servers = servers
        .iter()
        .map(|addr| {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut server.connections {
                c.port = addr.port();
            }
            server
        })
        .collect();
    let mut opts = ResolverOpts::default();
    opts.attempts = 2;
    adjust(&mut opts);
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(name_servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| format!("cannot start the DNS resolver: {e}"))
}

/// The TXT records of `name` (absolute, with its final dot), each as one text (its
/// strings joined); none when the lookup fails or finds nothing.
pub(crate) async fn txt_records(resolver: &TokioResolver, name: &str) -> Vec<Vec<u8>> {
    let Ok(lookup) = resolver.txt_lookup(name).await else {
        return Vec::new();
    };
    lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            hickory_resolver::proto::rr::RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The one record of `name` that parses as `T`; none when none or several do (RFC 8461
/// §3.1 and RFC 8460 §3 say several mean none).
pub(crate) async fn single_record<T: mail_auth::common::parse::TxtRecordParser>(
    resolver: &TokioResolver,
    name: &str,
) -> Option<T> {
    let mut parsed = txt_records(resolver, name)
        .await
        .into_iter()
        .filter_map(|text| T::parse(&text).ok());
    match (parsed.next(), parsed.next()) {
        (Some(record), None) => Some(record),
        _ => None,
    }
}
