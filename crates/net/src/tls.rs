//! TLS set-up: load the configured certificate and key (PEM), or generate a self-signed
//! certificate for the host name on first start and keep it under `<data_dir>/tls/`, or,
//! with `tls.acme`, serve the last certificate the ACME client stored (`acme`) until it
//! obtains a new one. The certificate sits in a [`CertStore`] that the one shared
//! `ServerConfig` asks at each handshake, so it can be replaced while the server runs.
//! TLS 1.2 and 1.3 only, with the ring provider.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use estafeta_config::TlsConfig;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::certs::{CertStore, Http01Tokens};

/// Where the certificate came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    Configured {
        certificate: PathBuf,
    },
    SelfSigned {
        certificate: PathBuf,
        generated: bool,
    },
    /// `tls.acme`: the certificate the ACME client stored last, when there is one still
    /// valid (`stored`), else the self-signed one until the first is obtained.
    Acme {
        certificate: PathBuf,
        stored: bool,
    },
}

/// The server side of TLS, shared by every listener.
#[derive(Clone)]
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    pub config: Arc<ServerConfig>,
    pub source: TlsSource,
    /// The certificate `config` presents, replaceable while the server runs, and the
    /// pending TLS-ALPN-01 challenges.
    pub certs: Arc<CertStore>,
    /// The pending HTTP-01 challenges, for the web server.
    pub http01: Arc<Http01Tokens>,
}

/// A certificate or key problem, in one line that names the file and the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl TlsSetup {
    pub fn load_or_generate(
        config: &TlsConfig,
        hostname: &str,
        data_dir: &Path,
    ) -> Result<TlsSetup, TlsError> {
        match (&config.certificate, &config.private_key) {
            (Some(cert), Some(key)) => {
                let key = certified_key(cert, key, "tls.certificate", "tls.private_key")?;
                TlsSetup::new(
                    key,
                    TlsSource::Configured {
                        certificate: cert.clone(),
                    },
                )
            }
            _ => {
                let (key, source) = self_signed(hostname, data_dir)?;
                if !config.acme {
                    return TlsSetup::new(key, source);
                }
                let dir = crate::acme::directory(data_dir);
                let certificate = dir.join(crate::acme::CERTIFICATE_FILE);
                match crate::acme::load_stored(&dir) {
                    Some(stored) if stored.days_left() > 0 => TlsSetup::new(
                        stored.key,
                        TlsSource::Acme {
                            certificate,
                            stored: true,
                        },
                    ),
                    _ => TlsSetup::new(
                        key,
                        TlsSource::Acme {
                            certificate,
                            stored: false,
                        },
                    ),
                }
            }
        }
    }

    fn new(key: Arc<CertifiedKey>, source: TlsSource) -> Result<TlsSetup, TlsError> {
        let certs = CertStore::new(key);
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError(format!("TLS set-up failed: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        let config = Arc::new(config);
        Ok(TlsSetup {
            acceptor: TlsAcceptor::from(config.clone()),
            config,
            source,
            certs,
            http01: Http01Tokens::new(),
        })
    }
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key from PEM text, checked to belong together.
pub(crate) fn certified_key_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a readable PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| "no private key".to_string())?;
    CertifiedKey::from_der(certs, key, &provider())
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn certified_key(
    cert_path: &Path,
    key_path: &Path,
    cert_key: &str,
    key_key: &str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| {
        TlsError(format!(
            "{cert_key}: cannot read {}: {e}",
            cert_path.display()
        ))
    })?;
    let key_pem = std::fs::read(key_path).map_err(|e| {
        TlsError(format!(
            "{key_key}: cannot read {}: {e}",
            key_path.display()
        ))
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsError(format!(
                "{cert_key}: {} is not a readable PEM certificate file: {e}",
                cert_path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{cert_key}: {} holds no certificate (expected a PEM block `BEGIN CERTIFICATE`)",
            cert_path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        TlsError(format!(
            "{key_key}: {} holds no private key (expected a PEM block `BEGIN PRIVATE KEY`, \
             `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)",
            key_path.display()
        ))
    })?;
    let certified = CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the key in {} does not belong to the certificate in {}: give the matching pair",
                key_path.display(),
                cert_path.display()
            ),
            other => format!("{} cannot be used: {other}", key_path.display()),
        };
        TlsError(format!("{key_key}: {why}"))
    })?;
    Ok(Arc::new(certified))
}

/// Days a self-signed certificate is valid: what publicly trusted ones get (TLS scanners
/// grade longer lifetimes as a fault).
pub const SELF_SIGNED_DAYS: i64 = 90;
/// A self-signed certificate with fewer days than this left is made anew at start.
pub const SELF_SIGNED_RENEW_DAYS: i64 = 30;

fn self_signed(
    hostname: &str,
    data_dir: &Path,
) -> Result<(Arc<CertifiedKey>, TlsSource), TlsError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    let mut generated = false;
    let renew = match (
        cert_path.exists() && key_path.exists(),
        due(&cert_path, hostname),
    ) {
        (false, _) => true,
        (true, Some(why)) => {
            tracing::info!(certificate = %cert_path.display(), why, "self-signed certificate made anew");
            true
        }
        (true, None) => false,
    };
    if renew {
        generate(hostname, &dir, &cert_path, &key_path)?;
        generated = true;
    }
    let key = certified_key(
        &cert_path,
        &key_path,
        "self-signed certificate",
        "self-signed key",
    )
    .map_err(|e| {
        TlsError(format!(
            "{e} (delete {} to have a new one generated)",
            dir.display()
        ))
    })?;
    Ok((
        key,
        TlsSource::SelfSigned {
            certificate: cert_path,
            generated,
        },
    ))
}

/// Why the self-signed certificate at `path` must be made anew: it ends within
/// [`SELF_SIGNED_RENEW_DAYS`] (or lasts longer than [`SELF_SIGNED_DAYS`], as those made
/// before this rule did), or does not name `hostname`. `None`: keep it. A file that cannot
/// be read is left for the loader to report.
fn due(path: &Path, hostname: &str) -> Option<&'static str> {
    let pem = std::fs::read(path).ok()?;
    let der = CertificateDer::from_pem_slice(&pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let not_after = cert.validity().not_after.to_datetime();
    let left = not_after - time::OffsetDateTime::now_utc();
    if left < time::Duration::days(SELF_SIGNED_RENEW_DAYS) {
        return Some("it ends within 30 days");
    }
    if left > time::Duration::days(SELF_SIGNED_DAYS + 1) {
        return Some("it was valid for longer than 90 days");
    }
    let named = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|san| {
            san.value.general_names.iter().any(|n| {
                matches!(n, x509_parser::extensions::GeneralName::DNSName(name) if name.eq_ignore_ascii_case(hostname))
            })
        });
    (!named).then_some("it does not name the configured hostname")
}

fn generate(hostname: &str, dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let cannot = |what: &Path, e: std::io::Error| {
        TlsError(format!(
            "cannot write the self-signed certificate to {}: {e}",
            what.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| cannot(dir, e))?;
    let mut names = vec![hostname.to_string()];
    if hostname != "localhost" {
        names.push("localhost".to_string());
    }
    let failed =
        |e: rcgen::Error| TlsError(format!("cannot generate a self-signed certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(names).map_err(failed)?;
    let now = time::OffsetDateTime::now_utc();
    // a day back, for clients whose clocks are a little behind
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    write_private(key_path, key.serialize_pem().as_bytes()).map_err(|e| cannot(key_path, e))?;
    std::fs::write(cert_path, cert.pem()).map_err(|e| cannot(cert_path, e))?;
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            TlsSetup::load_or_generate(&TlsConfig::default(), "mail.example.test", dir.path())
                .unwrap();
        assert!(matches!(
            first.source,
            TlsSource::SelfSigned {
                generated: true,
                ..
            }
        ));
        let pem = std::fs::read(dir.path().join("tls/self-signed.crt")).unwrap();
        let second =
            TlsSetup::load_or_generate(&TlsConfig::default(), "mail.example.test", dir.path())
                .unwrap();
        assert!(matches!(
            second.source,
            TlsSource::SelfSigned {
                generated: false,
                ..
            }
        ));
        assert_eq!(
            pem,
            std::fs::read(dir.path().join("tls/self-signed.crt")).unwrap()
        );
    }

    fn not_after(dir: &Path) -> time::OffsetDateTime {
        let pem = std::fs::read(dir.join("tls/self-signed.crt")).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert.validity().not_after.to_datetime()
    }

    #[test]
    fn self_signed_lasts_90_days_and_is_renewed_when_due() {
        let dir = tempfile::tempdir().unwrap();
        TlsSetup::load_or_generate(&TlsConfig::default(), "mail.example.test", dir.path()).unwrap();
        let left = not_after(dir.path()) - time::OffsetDateTime::now_utc();
        assert!(
            left > time::Duration::days(89) && left <= time::Duration::days(90),
            "{left}"
        );
        // one made the old way (rcgen's default: valid until 4096) is replaced at start
        let old = rcgen::generate_simple_self_signed(vec!["mail.example.test".into()]).unwrap();
        std::fs::write(dir.path().join("tls/self-signed.crt"), old.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("tls/self-signed.key"),
            old.signing_key.serialize_pem(),
        )
        .unwrap();
        let again =
            TlsSetup::load_or_generate(&TlsConfig::default(), "mail.example.test", dir.path())
                .unwrap();
        assert!(matches!(
            again.source,
            TlsSource::SelfSigned {
                generated: true,
                ..
            }
        ));
        assert!(
            not_after(dir.path()) - time::OffsetDateTime::now_utc() <= time::Duration::days(90)
        );
        // a new hostname gets a certificate that names it
        let renamed =
            TlsSetup::load_or_generate(&TlsConfig::default(), "mx.example.test", dir.path())
                .unwrap();
        assert!(matches!(
            renamed.source,
            TlsSource::SelfSigned {
                generated: true,
                ..
            }
        ));
        assert_eq!(
            due(&dir.path().join("tls/self-signed.crt"), "mx.example.test"),
            None
        );
        assert_eq!(
            due(&dir.path().join("tls/self-signed.crt"), "mail.example.test"),
            Some("it does not name the configured hostname")
        );
    }

    #[test]
    fn mismatched_key_is_reported() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        TlsSetup::load_or_generate(&TlsConfig::default(), "a.test", a.path()).unwrap();
        TlsSetup::load_or_generate(&TlsConfig::default(), "b.test", b.path()).unwrap();
        let config = TlsConfig {
            certificate: Some(a.path().join("tls/self-signed.crt")),
            private_key: Some(b.path().join("tls/self-signed.key")),
            ..TlsConfig::default()
        };
        let e = TlsSetup::load_or_generate(&config, "a.test", a.path())
            .err()
            .unwrap();
        assert!(e.0.starts_with("tls.private_key: the key in"), "{e}");
        assert!(e.0.contains("does not belong to the certificate"), "{e}");
    }

    #[test]
    fn unreadable_and_empty_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all").unwrap();
        let config = TlsConfig {
            certificate: Some(dir.path().join("missing.pem")),
            private_key: Some(junk.clone()),
            ..TlsConfig::default()
        };
        let e = TlsSetup::load_or_generate(&config, "a.test", dir.path())
            .err()
            .unwrap();
        assert!(e.0.starts_with("tls.certificate: cannot read"), "{e}");
        let config = TlsConfig {
            certificate: Some(junk.clone()),
            private_key: Some(junk),
            ..TlsConfig::default()
        };
        let e = TlsSetup::load_or_generate(&config, "a.test", dir.path())
            .err()
            .unwrap();
        assert!(e.0.contains("holds no certificate"), "{e}");
    }
}
