//! DANE for SMTP (RFC 7672): the TLSA records of an MX host (`_25._tcp.HOST`), looked up
//! through a resolver that validates DNSSEC itself (hickory with ring, anchored at the
//! IANA root keys or `trust.dnssec_trust_anchor`), and a certificate check that accepts
//! exactly what they say. Only records proven secure count, and only under an MX record
//! set proven secure (§2.2.1: otherwise the host name itself could be forged).
//!
//! Usages as RFC 7672 §3.1 says: DANE-EE (3) matches the server's own certificate or key,
//! without name or date checks; DANE-TA (2) names a certificate of the presented chain
//! that the server's certificate must chain to (checked by webpki), with the MX name in
//! it. PKIX-TA (0) and PKIX-EE (1) are unusable for SMTP, as are unknown selectors and
//! matching types. At most [`MAX_TLSA`] records of a host are considered, so a handshake
//! costs at most that many digests of each certificate in the chain (whose size rustls
//! bounds) and that many webpki path checks.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest;

/// TLSA records of one host considered at most.
pub const MAX_TLSA: usize = 16;

/// One usable TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// true: DANE-EE (3); false: DANE-TA (2).
    pub end_entity: bool,
    /// true: the SubjectPublicKeyInfo (1); false: the whole certificate (0).
    pub spki: bool,
    /// 0 (the data itself), 1 (SHA-256) or 2 (SHA-512).
    pub matching: u8,
    pub data: Vec<u8>,
}

impl std::fmt::Display for Tlsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.data.iter().map(|b| format!("{b:02x}")).collect();
        write!(
            f,
            "{} {} {} {hex}",
            if self.end_entity { 3 } else { 2 },
            u8::from(self.spki),
            self.matching
        )
    }
}

/// What DNSSEC says about an MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaAnswer {
    /// No secure TLSA records (none, unsigned, or only unusable ones): no DANE.
    None,
    /// The host must show a certificate that one of these matches.
    Records(Vec<Tlsa>),
    /// The lookup failed or did not validate: the host may not be used now (§2.2).
    Failed(String),
}

/// DNSSEC-validated lookups for DANE.
pub struct Dane {
    resolver: TokioResolver,
}

impl Dane {
    /// A validating resolver asking `servers` (the system's when empty), anchored at
    /// `trust_anchor` (a file of DNSKEY records) or the IANA root keys.
    pub fn new(servers: &[SocketAddr], trust_anchor: Option<&Path>) -> Result<Dane, String> {
        let mut opts = ResolverOpts::default();
        opts.validate = true;
        opts.attempts = 2;
        let config = if servers.is_empty() {
            let (config, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                format!("cannot read the system's DNS configuration (/etc/resolv.conf): {e}")
            })?;
            config
        } else {
            ResolverConfig::from_name_servers(
                servers
                    .iter()
                    .map(|addr| {
                        let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                        for c in &mut server.connections {
                            c.port = addr.port();
                        }
                        server
                    })
                    .collect(),
            )
        };
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                .with_options(opts);
        if let Some(file) = trust_anchor {
            let anchors = TrustAnchors::from_file(file).map_err(|e| {
                format!(
                    "trust.dnssec_trust_anchor: cannot read DNSKEY records from {}: {e}",
                    file.display()
                )
            })?;
            if anchors.is_empty() {
                return Err(format!(
                    "trust.dnssec_trust_anchor: {} holds no DNSKEY record",
                    file.display()
                ));
            }
            builder = builder.with_trust_anchor(Arc::new(anchors));
        }
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot start the validating DNS resolver for DANE: {e}"))?;
        Ok(Dane { resolver })
    }

    /// Whether `domain`'s MX record set is proven secure. Anything else (unsigned, or a
    /// lookup that failed) is not, and DANE is not used for the domain.
    pub async fn mx_is_secure(&self, domain: &str) -> bool {
        let name = format!("{}.", domain.trim_end_matches('.'));
        match self.resolver.mx_lookup(name.as_str()).await {
            Ok(lookup) => {
                let mx: Vec<_> = lookup
                    .answers()
                    .iter()
                    .filter(|r| matches!(r.data, RData::MX(_)))
                    .collect();
                !mx.is_empty() && mx.iter().all(|r| r.proof == Proof::Secure)
            }
            Err(e) => {
                tracing::debug!(%domain, error = %e, "MX not validated: no DANE for the domain");
                false
            }
        }
    }

    /// The usable TLSA records of `host` on `port`.
    pub async fn tlsa(&self, host: &str, port: u16) -> TlsaAnswer {
        let name = format!("_{port}._tcp.{}.", host.trim_end_matches('.'));
        let lookup = match self.resolver.tlsa_lookup(name.as_str()).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => return TlsaAnswer::None,
            Err(e) => {
                return TlsaAnswer::Failed(format!("the TLSA lookup of {name} failed: {e}"));
            }
        };
        let mut usable = Vec::new();
        let mut secure = false;
        for record in lookup.answers().iter().take(MAX_TLSA) {
            let RData::TLSA(tlsa) = &record.data else {
                continue;
            };
            match record.proof {
                Proof::Secure => secure = true,
                Proof::Insecure => continue,
                _ => {
                    return TlsaAnswer::Failed(format!(
                        "the TLSA records of {name} did not validate ({})",
                        record.proof
                    ));
                }
            }
            let end_entity = match tlsa.cert_usage {
                CertUsage::DaneEe => true,
                CertUsage::DaneTa => false,
                _ => continue,
            };
            let spki = match tlsa.selector {
                Selector::Full => false,
                Selector::Spki => true,
                _ => continue,
            };
            let matching = match tlsa.matching {
                Matching::Raw => 0,
                Matching::Sha256 => 1,
                Matching::Sha512 => 2,
                _ => continue,
            };
            usable.push(Tlsa {
                end_entity,
                spki,
                matching,
                data: tlsa.cert_data.clone(),
            });
        }
        if !secure || usable.is_empty() {
            // unsigned, or only unusable records: as without DANE (§2.2)
            return TlsaAnswer::None;
        }
        TlsaAnswer::Records(usable)
    }
}

/// The certificate check under DANE: the chain must match one of the host's records.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    provider: Arc<CryptoProvider>,
}

impl DaneVerifier {
    pub fn new(records: Vec<Tlsa>) -> DaneVerifier {
        DaneVerifier {
            records,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

/// The association data of `cert` for a record with this selector and matching type:
/// what a TLSA record publishes (`None` for a certificate that does not parse).
pub fn association(cert: &CertificateDer<'_>, spki: bool, matching: u8) -> Option<Vec<u8>> {
    let selected: Vec<u8> = if spki {
        let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
        parsed.subject_public_key_info().as_ref().to_vec()
    } else {
        cert.as_ref().to_vec()
    };
    match matching {
        0 => Some(selected),
        1 => Some(sha2::Sha256::digest(&selected).to_vec()),
        2 => Some(sha2::Sha512::digest(&selected).to_vec()),
        _ => None,
    }
}

/// Whether `cert` is what `record` describes.
fn matches(record: &Tlsa, cert: &CertificateDer<'_>) -> bool {
    association(cert, record.spki, record.matching).is_some_and(|data| data == record.data)
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        for record in self.records.iter().filter(|r| r.end_entity) {
            if matches(record, end_entity) {
                // DANE-EE: the key is the identity; names and dates do not matter (§3.1.1)
                return Ok(ServerCertVerified::assertion());
            }
        }
        for record in self.records.iter().filter(|r| !r.end_entity) {
            // DANE-TA: a certificate of the chain the record names becomes the one root
            for anchor in std::iter::once(end_entity).chain(intermediates) {
                if !matches(record, anchor) {
                    continue;
                }
                let mut roots = RootCertStore::empty();
                if roots.add(anchor.clone().into_owned()).is_err() {
                    continue;
                }
                let verifier = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                )
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
                if verifier
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                    .is_ok()
                {
                    return Ok(ServerCertVerified::assertion());
                }
            }
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
