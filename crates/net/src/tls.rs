//! TLS set-up: load the configured certificate and key (PEM), or generate a self-signed
//! certificate for the host name on first start and keep it under `<data_dir>/tls/`.
//! TLS 1.2 and 1.3 only, with the ring provider.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use estafeta_config::TlsConfig;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

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
}

/// The server side of TLS, shared by every listener.
#[derive(Clone)]
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    pub config: Arc<ServerConfig>,
    pub source: TlsSource,
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
                let server = server_config(cert, key, "tls.certificate", "tls.private_key")?;
                Ok(TlsSetup::new(
                    server,
                    TlsSource::Configured {
                        certificate: cert.clone(),
                    },
                ))
            }
            _ => self_signed(hostname, data_dir),
        }
    }

    fn new(config: ServerConfig, source: TlsSource) -> TlsSetup {
        let config = Arc::new(config);
        TlsSetup {
            acceptor: TlsAcceptor::from(config.clone()),
            config,
            source,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    cert_path: &Path,
    key_path: &Path,
    cert_key: &str,
    key_key: &str,
) -> Result<ServerConfig, TlsError> {
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
    let provider = provider();
    let certified = CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
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
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(format!("TLS set-up failed: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    Ok(config)
}

fn self_signed(hostname: &str, data_dir: &Path) -> Result<TlsSetup, TlsError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    let mut generated = false;
    if !cert_path.exists() || !key_path.exists() {
        generate(hostname, &dir, &cert_path, &key_path)?;
        generated = true;
    }
    let config = server_config(
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
    Ok(TlsSetup::new(
        config,
        TlsSource::SelfSigned {
            certificate: cert_path,
            generated,
        },
    ))
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
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError(format!("cannot generate a self-signed certificate: {e}")))?;
    write_private(key_path, made.signing_key.serialize_pem().as_bytes())
        .map_err(|e| cannot(key_path, e))?;
    std::fs::write(cert_path, made.cert.pem()).map_err(|e| cannot(cert_path, e))?;
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

    #[test]
    fn mismatched_key_is_reported() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        TlsSetup::load_or_generate(&TlsConfig::default(), "a.test", a.path()).unwrap();
        TlsSetup::load_or_generate(&TlsConfig::default(), "b.test", b.path()).unwrap();
        let config = TlsConfig {
            certificate: Some(a.path().join("tls/self-signed.crt")),
            private_key: Some(b.path().join("tls/self-signed.key")),
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
        };
        let e = TlsSetup::load_or_generate(&config, "a.test", dir.path())
            .err()
            .unwrap();
        assert!(e.0.starts_with("tls.certificate: cannot read"), "{e}");
        let config = TlsConfig {
            certificate: Some(junk.clone()),
            private_key: Some(junk),
        };
        let e = TlsSetup::load_or_generate(&config, "a.test", dir.path())
            .err()
            .unwrap();
        assert!(e.0.contains("holds no certificate"), "{e}");
    }
}
