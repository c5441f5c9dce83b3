//! A DNS server on loopback for delivery tests: hickory-server answering authoritatively,
//! over UDP and TCP on one free port of 127.0.0.1, with the MX, A, AAAA, TXT and PTR records a
//! test gives (a null MX "0 ." included), and a hickory-resolver pointed at it.
//!
//! ```text
//! let dns = TestDns::start(
//!     Records::new()
//!         .mx("example.test", 10, "mx1.example.test")
//!         .a("mx1.example.test", Ipv4Addr::new(127, 0, 0, 2))
//!         .null_mx("nomail.test"),
//! )
//! .await;
//! let resolver = dns.resolver();
//! ```
//!
//! Every name lives in one root zone, so a test writes whole names and needs no zone set-up;
//! names without records answer NXDOMAIN, names without the asked type answer NODATA.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_server::Server;
use hickory_server::dnssec::NxProofKind;
use hickory_server::proto::dnssec::crypto::Ed25519SigningKey;
use hickory_server::proto::dnssec::rdata::DNSKEY;
use hickory_server::proto::dnssec::{DnssecSigner, SigningKey};
use hickory_server::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_server::proto::rr::rdata::{A, AAAA, MX, PTR, SOA, TLSA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

/// Seconds a test record may be cached; tests do not change records while they run.
const TTL: u32 = 60;

/// The records to serve, by whole name (`mx1.example.test`, with or without the final dot).
#[derive(Default, Clone)]
pub struct Records(Vec<Record>);

impl Records {
    pub fn new() -> Records {
        Records::default()
    }

    pub fn mx(self, domain: &str, preference: u16, exchange: &str) -> Records {
        self.add(domain, RData::MX(MX::new(preference, name(exchange))))
    }

    /// `domain` with one MX, `mx.domain` (preference 10), at `ip`.
    pub fn mx_at(self, domain: &str, ip: Ipv4Addr) -> Records {
        let exchange = format!("mx.{domain}");
        self.mx(domain, 10, &exchange).a(&exchange, ip)
    }

    /// RFC 7505: `0 .`, the domain takes no mail.
    pub fn null_mx(self, domain: &str) -> Records {
        self.add(domain, RData::MX(MX::new(0, Name::root())))
    }

    pub fn a(self, host: &str, ip: Ipv4Addr) -> Records {
        self.add(host, RData::A(A(ip)))
    }

    pub fn aaaa(self, host: &str, ip: Ipv6Addr) -> Records {
        self.add(host, RData::AAAA(AAAA(ip)))
    }

    /// A TXT record; text over 255 octets is split into several strings, as DKIM keys are.
    pub fn txt(self, owner: &str, text: &str) -> Records {
        let strings = text
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        self.add(owner, RData::TXT(TXT::new(strings)))
    }

    /// The PTR record of `ip` (its `in-addr.arpa` / `ip6.arpa` name) naming `host`.
    pub fn ptr(self, ip: std::net::IpAddr, host: &str) -> Records {
        let owner = Name::from(ip).to_ascii();
        self.add(&owner, RData::PTR(PTR(name(host))))
    }

    /// A TLSA record (RFC 6698): `usage selector matching data`, e.g. `3 1 1 <sha256>`.
    pub fn tlsa(self, owner: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) -> Records {
        let tlsa = TLSA::new(
            CertUsage::from(usage),
            Selector::from(selector),
            Matching::from(matching),
            data.to_vec(),
        );
        self.add(owner, RData::TLSA(tlsa))
    }

    fn add(mut self, owner: &str, data: RData) -> Records {
        self.0.push(Record::from_rdata(name(owner), TTL, data));
        self
    }
}

/// A whole (fully qualified) name; panics on a name that is no name, as a test typo should.
fn name(text: &str) -> Name {
    if text == "." {
        return Name::root();
    }
    let mut n = Name::from_ascii(text).unwrap_or_else(|e| panic!("bad DNS name {text:?}: {e}"));
    n.set_fqdn(true);
    n
}

/// A running DNS server; it stops when dropped.
pub struct TestDns {
    /// UDP and TCP, same port.
    pub addr: SocketAddr,
    server: Server<Catalog>,
    /// The key the zone is signed with, as a trust anchor line; `None` when unsigned.
    anchor: Option<String>,
}

impl TestDns {
    pub async fn start(records: Records) -> TestDns {
        TestDns::serve(records, false).await
    }

    /// [`TestDns::start`] with the zone signed (DNSSEC, Ed25519, NSEC for names that do not
    /// exist): a validating resolver whose trust anchor is [`TestDns::trust_anchor`] finds
    /// every answer secure, as if the test names were a signed part of the real DNS.
    pub async fn start_signed(records: Records) -> TestDns {
        TestDns::serve(records, true).await
    }

    /// The zone's key as a trust anchor file line (`. 3600 IN DNSKEY 257 3 15 …`).
    pub fn trust_anchor(&self) -> String {
        self.anchor.clone().expect("a signed TestDns")
    }

    async fn serve(records: Records, signed: bool) -> TestDns {
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            Name::root(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
            signed.then_some(NxProofKind::Nsec),
        );
        let mut anchor = None;
        if signed {
            let pkcs8 = Ed25519SigningKey::generate_pkcs8().expect("key");
            let key = Ed25519SigningKey::from_pkcs8(&pkcs8).expect("key");
            let dnskey = DNSKEY::new(true, true, false, key.to_public_key().expect("public key"));
            anchor = Some(format!(". 3600 IN DNSKEY {dnskey}"));
            let signer = DnssecSigner::new(
                dnskey,
                Box::new(key),
                Name::root(),
                Duration::from_secs(86400),
            );
            zone.add_zone_signing_key_mut(signer).expect("signing key");
        }
        let serial = 1;
        let soa = SOA::new(
            name("ns.test"),
            name("hostmaster.test"),
            serial,
            3600,
            600,
            86400,
            TTL,
        );
        let mut all = vec![Record::from_rdata(Name::root(), TTL, RData::SOA(soa))];
        all.extend(records.0);
        for record in all {
            let shown = format!("{record}");
            assert!(zone.upsert_mut(record, serial), "record refused: {shown}");
        }
        if signed {
            zone.secure_zone_mut().expect("zone signed");
        }
        let mut catalog = Catalog::new();
        let zone: Arc<dyn ZoneHandler> = Arc::new(zone);
        catalog.upsert(LowerName::from(Name::root()), vec![zone]);

        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("local address");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64);
        TestDns {
            addr,
            server,
            anchor,
        }
    }

    /// A resolver configuration that asks only this server (UDP, then TCP when truncated).
    pub fn resolver_config(&self) -> ResolverConfig {
        let mut server = NameServerConfig::udp_and_tcp(self.addr.ip());
        for c in &mut server.connections {
            c.port = self.addr.port();
        }
        ResolverConfig::from_name_servers(vec![server])
    }

    /// A resolver that asks only this server, without caching between tests' lookups
    /// beyond the records' TTL, with a short timeout.
    pub fn resolver(&self) -> TokioResolver {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 1;
        TokioResolver::builder_with_config(self.resolver_config(), TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .expect("resolver")
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.server.shutdown_token().cancel();
    }
}

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1.
async fn bind_pair() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    let mut last = None;
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind UDP");
        let addr = udp.local_addr().expect("local address");
        match tokio::net::TcpListener::bind(addr).await {
            Ok(tcp) => return (udp, tcp),
            Err(e) => last = Some(e), // the port is taken for TCP: another pick
        }
    }
    panic!("no free port for both UDP and TCP: {last:?}");
}
