//! The one DNS resolver of the server (hickory, with its cache): delivery's MX and
//! address lookups and the checks' SPF, DKIM and DMARC lookups share it.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// The resolver: the given servers, or the system's when there are none.
pub fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    if servers.is_empty() {
        return TokioResolver::builder_tokio()
            .map_err(|e| {
                format!(
                    "cannot read the system's DNS configuration (/etc/resolv.conf): {e}; \
                     name the servers in delivery.dns_servers"
                )
            })?
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
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(name_servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| format!("cannot start the DNS resolver: {e}"))
}
