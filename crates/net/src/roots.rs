//! The certificate authorities that checked certificates (relays, MTA-STS policy hosts, MX
//! hosts under a policy) must chain to: the operator's `ca_file`, or else the system's
//! roots (`/etc/ssl/certs` and the like, read once per process through
//! rustls-native-certs). A machine without a CA bundle (a bare container) falls back to
//! the Mozilla roots compiled into the binary (webpki-roots), and says so, so that
//! checking never silently turns into not checking.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The roots of a `ca_file`; errors name the key and the file.
pub fn from_file(key: &str, file: &Path) -> Result<Arc<RootCertStore>, String> {
    let pem = std::fs::read(file)
        .map_err(|e| format!("{key}.ca_file: cannot read {}: {e}", file.display()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{key}.ca_file: {}: {e}", file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{key}.ca_file: {}: {e}", file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "{key}.ca_file: {} holds no PEM certificate",
            file.display()
        ));
    }
    Ok(Arc::new(roots))
}

/// The system's roots, or the compiled-in Mozilla roots when the system has none.
pub fn system() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "a system certificate could not be read");
            }
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added > 0 {
                tracing::debug!(
                    roots = added,
                    "relay certificates checked against the system's roots"
                );
            } else {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                tracing::info!(
                    roots = roots.len(),
                    "no system CA certificates found (install the ca-certificates package): \
                     relay certificates are checked against the Mozilla roots built into estafeta"
                );
            }
            Arc::new(roots)
        })
        .clone()
}
