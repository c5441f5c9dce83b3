//! Automatic certificates (ACME, RFC 8555): the client task that keeps the certificate of
//! `tls.acme` fresh. It owns `<data_dir>/tls/acme/` (the account's credentials and the
//! last certificate with its key), orders a certificate when the stored one is missing,
//! due (fewer than `tls.acme_renew_days` left) or does not cover the wanted names, answers
//! the CA's challenges (TLS-ALPN-01 through the [`CertStore`], HTTP-01 through
//! [`Http01Tokens`]), and puts the new certificate in the [`CertStore`]: the next
//! handshake gets it, open connections keep theirs. The certificate's key is kept across
//! renewals (a DANE `3 1 1` record of it stays true); creating the account agrees to the
//! CA's terms of service.
//!
//! Bounds: every HTTP request to the CA gets [`REQUEST_TIMEOUT`] for its answer and again
//! for the body, of at most [`MAX_ANSWER`] octets; polling an order stops after
//! [`POLL_TIMEOUT`]; one whole attempt after [`ATTEMPT_TIMEOUT`]. A failed attempt is
//! logged with the CA's problem document, the current certificate stays, and the next
//! attempt comes after [`FIRST_RETRY`], doubling up to [`LAST_RETRY`].

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use estafeta_config::{AcmeChallenge, Config};
use http_body_util::BodyExt;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;

use crate::certs::{CertStore, Http01Tokens, challenge_certificate};
use crate::tls::{TlsSetup, certified_key_from_pem};

/// The certificate chain (PEM, leaf first) in the ACME directory.
pub const CERTIFICATE_FILE: &str = "certificate.pem";
/// Its private key (PEM, PKCS#8), readable by the owner only.
pub const KEY_FILE: &str = "private_key.pem";
/// The account's credentials with the directory URL they belong to (JSON, owner only).
pub const ACCOUNT_FILE: &str = "account.json";

/// One HTTP request to the CA: time for the answer's head, and again for its body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read from the CA (a certificate chain is a few kB).
pub const MAX_ANSWER: usize = 1024 * 1024;
/// How long an order is polled for its challenges' validation, and for its certificate.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(120);
/// One whole attempt: account, order, challenges, certificate.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(600);
/// The wait after a first failure; it doubles with each failure after it…
pub const FIRST_RETRY: Duration = Duration::from_secs(300);
/// …up to this.
pub const LAST_RETRY: Duration = Duration::from_secs(6 * 3600);

/// `<data_dir>/tls/acme`.
pub fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("acme")
}

/// What the client needs from the configuration.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    pub hostname: String,
    pub contact: String,
    pub directory_url: String,
    pub challenge: AcmeChallenge,
    pub extra_names: Vec<String>,
    pub ca_certificate: Option<PathBuf>,
    pub renew_days: u32,
    pub check_interval: Duration,
    /// `<data_dir>/tls/acme`.
    pub dir: PathBuf,
}

impl AcmeSettings {
    /// `None` when `tls.acme` is off.
    pub fn from_config(config: &Config) -> Option<AcmeSettings> {
        let tls = &config.tls;
        tls.acme.then(|| AcmeSettings {
            hostname: config.hostname.to_ascii_lowercase(),
            contact: tls.acme_contact.clone().unwrap_or_default(),
            directory_url: tls.acme_directory.clone(),
            challenge: tls.acme_challenge,
            extra_names: tls.acme_names.clone(),
            ca_certificate: tls.acme_ca_certificate.clone(),
            renew_days: tls.acme_renew_days,
            check_interval: Duration::from_secs(tls.acme_check_interval),
            dir: directory(&config.data_dir),
        })
    }

    /// The names the certificate must cover: the host name first, then `autoconfig.` and
    /// `mta-sts.` of each of `domains`, then `tls.acme_names`; lower case, each once.
    pub fn names(&self, domains: &[String]) -> Vec<String> {
        let mut names = vec![self.hostname.clone()];
        for d in domains {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            names.push(format!("autoconfig.{d}"));
            names.push(format!("mta-sts.{d}"));
        }
        names.extend(self.extra_names.iter().map(|n| n.to_ascii_lowercase()));
        let mut seen = BTreeSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }
}

/// The certificate stored in the ACME directory.
pub struct Stored {
    pub key: Arc<CertifiedKey>,
    pub not_after: time::OffsetDateTime,
    /// Its DNS names, lower case.
    pub names: Vec<String>,
}

impl Stored {
    /// Whole days of validity left (negative once expired).
    pub fn days_left(&self) -> i64 {
        (self.not_after - time::OffsetDateTime::now_utc()).whole_days()
    }

    pub fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|n| self.names.iter().any(|s| s == n))
    }
}

/// The stored certificate and key, if both are there, readable and belong together.
pub fn load_stored(dir: &Path) -> Option<Stored> {
    let cert_pem = std::fs::read(dir.join(CERTIFICATE_FILE)).ok()?;
    let key_pem = std::fs::read(dir.join(KEY_FILE)).ok()?;
    let key = match certified_key_from_pem(&cert_pem, &key_pem) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(directory = %dir.display(), error = %e, "the stored ACME certificate cannot be used: a new one will be ordered");
            return None;
        }
    };
    let (not_after, names) = validity_and_names(key.cert.first()?)?;
    Some(Stored {
        key,
        not_after,
        names,
    })
}

fn validity_and_names(der: &CertificateDer<'_>) -> Option<(time::OffsetDateTime, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.to_datetime();
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(name) => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some((not_after, names))
}

/// The serial number of a certificate, in hex, for logs.
pub fn serial(der: &CertificateDer<'_>) -> String {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.tbs_certificate.raw_serial_as_string())
        .unwrap_or_default()
}

/// How the domain list is read at each check (the store's domains, in the server).
pub type Domains = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Vec<String>, String>> + Send>> + Send + Sync,
>;

/// Keeps the certificate fresh until `shutdown`: a check at once, then every
/// `check_interval`, sooner after a failure (see the module's comment).
pub async fn run(
    settings: AcmeSettings,
    tls: TlsSetup,
    domains: Domains,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut client = Client {
        settings,
        certs: tls.certs.clone(),
        http01: tls.http01.clone(),
        account: None,
        left_out: BTreeSet::new(),
    };
    let mut failures: u32 = 0;
    loop {
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, client.check(&domains));
        let outcome = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            outcome = attempt => outcome,
        };
        let wait = match outcome {
            Ok(Ok(Checked::Fresh)) => {
                failures = 0;
                client.settings.check_interval
            }
            Ok(Ok(Checked::Renewed)) => {
                failures = 0;
                client.settings.check_interval
            }
            Ok(Ok(Checked::NamesLeftOut)) => Duration::ZERO,
            outcome => {
                let error = match outcome {
                    Ok(Err(e)) => e,
                    _ => format!(
                        "the attempt took longer than {} seconds",
                        ATTEMPT_TIMEOUT.as_secs()
                    ),
                };
                let backoff = FIRST_RETRY
                    .saturating_mul(2u32.saturating_pow(failures.min(16)))
                    .min(LAST_RETRY)
                    .min(client.settings.check_interval);
                failures = failures.saturating_add(1);
                tracing::warn!(
                    directory = %client.settings.directory_url,
                    error = %error,
                    retry_in_seconds = backoff.as_secs(),
                    "ACME: no new certificate; the current one stays in use"
                );
                backoff
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

enum Checked {
    /// The stored certificate is good for a while yet.
    Fresh,
    Renewed,
    /// Some names failed validation and are left out: order again at once without them.
    NamesLeftOut,
}

struct Client {
    settings: AcmeSettings,
    certs: Arc<CertStore>,
    http01: Arc<Http01Tokens>,
    account: Option<Account>,
    /// Names (other than the host name) whose validation failed, left out of the orders
    /// until the certificate is next due by date.
    left_out: BTreeSet<String>,
}

impl Client {
    async fn check(&mut self, domains: &Domains) -> Result<Checked, String> {
        let domains = domains()
            .await
            .map_err(|e| format!("cannot read the domain list: {e}"))?;
        let wanted = self.settings.names(&domains);
        let stored = load_stored(&self.settings.dir);
        let saved_directory = std::fs::read(self.settings.dir.join(ACCOUNT_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<SavedAccount>(&b).ok())
            .map(|s| s.directory);
        let reason = match &stored {
            None => "there is no certificate yet",
            Some(_) if saved_directory.as_deref() != Some(self.settings.directory_url.as_str()) => {
                "it comes from another ACME directory (tls.acme_directory changed)"
            }
            Some(s) if s.days_left() < i64::from(self.settings.renew_days) => {
                self.left_out.clear();
                "it is due for renewal"
            }
            Some(s) => {
                let names: Vec<String> = (wanted.iter())
                    .filter(|n| !self.left_out.contains(*n))
                    .cloned()
                    .collect();
                if s.covers(&names) {
                    // at start the listeners may still serve the self-signed certificate
                    if self.certs.current().cert.first() != s.key.cert.first() {
                        self.certs.replace(s.key.clone());
                    }
                    tracing::debug!(days_left = s.days_left(), "ACME certificate fresh");
                    return Ok(Checked::Fresh);
                }
                "it does not cover every name"
            }
        };
        let names: Vec<String> = (wanted.iter())
            .filter(|n| !self.left_out.contains(*n))
            .cloned()
            .collect();
        tracing::info!(names = ?names, reason, directory = %self.settings.directory_url, "ACME: ordering a certificate");
        let account = self.account().await?;
        let (chain_pem, key_pem) = match self.order(&account, &names).await {
            Ok(issued) => issued,
            Err(OrderError {
                message,
                invalid_names,
            }) => {
                let leave_out: Vec<String> = invalid_names
                    .into_iter()
                    .filter(|n| *n != self.settings.hostname)
                    .collect();
                if leave_out.is_empty() {
                    return Err(message);
                }
                tracing::warn!(names = ?leave_out, error = %message, "ACME: these names failed validation and are left out of the certificate until it is next due; check their DNS records point at this server");
                self.left_out.extend(leave_out);
                return Ok(Checked::NamesLeftOut);
            }
        };
        let key = certified_key_from_pem(chain_pem.as_bytes(), key_pem.as_bytes())
            .map_err(|e| format!("the CA's certificate cannot be used: {e}"))?;
        write_private(&self.settings.dir, KEY_FILE, key_pem.as_bytes())
            .and_then(|()| {
                write_private(&self.settings.dir, CERTIFICATE_FILE, chain_pem.as_bytes())
            })
            .map_err(|e| {
                format!(
                    "cannot store the certificate in {}: {e}",
                    self.settings.dir.display()
                )
            })?;
        let (not_after, _) = key
            .cert
            .first()
            .and_then(validity_and_names)
            .ok_or("the CA's certificate cannot be read")?;
        let serial = key.cert.first().map(serial).unwrap_or_default();
        self.certs.replace(key);
        tracing::info!(names = ?names, %serial, not_after = %not_after, certificate = %self.settings.dir.join(CERTIFICATE_FILE).display(), "ACME: new certificate in use");
        Ok(Checked::Renewed)
    }

    /// The account: the stored one for this directory, or a new one (stored).
    async fn account(&mut self) -> Result<Account, String> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        create_dir_private(&self.settings.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.settings.dir.display()))?;
        let http = http_client(self.settings.ca_certificate.as_deref())?;
        let path = self.settings.dir.join(ACCOUNT_FILE);
        let saved: Option<SavedAccount> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &SavedAccount| s.directory == self.settings.directory_url);
        let account = match saved {
            Some(saved) => Account::builder_with_http(http)
                .from_credentials(saved.credentials)
                .await
                .map_err(|e| format!("cannot use the stored ACME account: {e}"))?,
            None => {
                let contact = [self.settings.contact.as_str()];
                let (account, credentials) = Account::builder_with_http(http)
                    .create(
                        &NewAccount {
                            contact: &contact,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.settings.directory_url.clone(),
                        None,
                    )
                    .await
                    .map_err(|e| format!("cannot create the ACME account: {e}"))?;
                let saved = SavedAccount {
                    directory: self.settings.directory_url.clone(),
                    credentials,
                };
                let json = serde_json::to_vec_pretty(&saved)
                    .map_err(|e| format!("cannot store the ACME account: {e}"))?;
                write_private(&self.settings.dir, ACCOUNT_FILE, &json).map_err(|e| {
                    format!("cannot store the ACME account in {}: {e}", path.display())
                })?;
                tracing::info!(id = account.id(), contact = %self.settings.contact, "ACME: account created");
                account
            }
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// One order for `names`: challenges answered, CSR sent, the chain fetched. Returns
    /// the chain and the new key, both PEM.
    async fn order(
        &self,
        account: &Account,
        names: &[String],
    ) -> Result<(String, String), OrderError> {
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let mut pending = Pending {
            certs: self.certs.clone(),
            http01: self.http01.clone(),
            names: Vec::new(),
            tokens: Vec::new(),
        };
        let wanted = match self.settings.challenge {
            AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            AcmeChallenge::Http01 => ChallengeType::Http01,
        };
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            let name = authorization.identifier().to_string();
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(OrderError::from(format!(
                        "the authorization for {name} is {other:?}"
                    )));
                }
            }
            let mut challenge = authorization.challenge(wanted.clone()).ok_or_else(|| {
                OrderError::from(format!(
                    "the CA offers no {} challenge for {name}",
                    self.settings.challenge.as_str()
                ))
            })?;
            let key_authorization = challenge.key_authorization();
            match self.settings.challenge {
                AcmeChallenge::TlsAlpn01 => {
                    let cert = challenge_certificate(&name, key_authorization.digest().as_ref())?;
                    self.certs
                        .add_challenge(&name, cert)
                        .map_err(|e| OrderError::from(e.to_string()))?;
                    pending.names.push(name);
                }
                AcmeChallenge::Http01 => {
                    self.http01
                        .insert(&challenge.token, key_authorization.as_str());
                    pending.tokens.push(challenge.token.clone());
                }
            }
            challenge.set_ready().await?;
        }
        let polling = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(2.0)
            .timeout(POLL_TIMEOUT);
        let status = order.poll_ready(&polling).await;
        if !matches!(status, Ok(OrderStatus::Ready)) {
            let status = match status {
                Ok(other) => format!("the order is {other:?}"),
                Err(e) => e.to_string(),
            };
            let mut failed = Vec::new();
            let mut invalid_names = Vec::new();
            let mut authorizations = order.authorizations();
            while let Some(Ok(mut authorization)) = authorizations.next().await {
                let Ok(state) = authorization.refresh().await else {
                    continue;
                };
                if state.status != AuthorizationStatus::Invalid {
                    continue;
                }
                let name = state.identifier().to_string();
                let problem = (state.challenges.iter())
                    .find_map(|c| c.error.as_ref())
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "no detail".into());
                failed.push(format!("{name}: {problem}"));
                invalid_names.push(name);
            }
            return Err(OrderError {
                message: match failed.is_empty() {
                    true => status,
                    false => format!("{status}: {}", failed.join("; ")),
                },
                invalid_names,
            });
        }
        drop(pending);
        let failed = |e: rcgen::Error| OrderError::from(format!("cannot make the CSR: {e}"));
        // the stored key is kept across renewals, so that a DANE record of it (`3 1 1`,
        // as `estafeta dns` prints) stays true; a new one only when there is none
        let kept = std::fs::read_to_string(self.settings.dir.join(KEY_FILE))
            .ok()
            .and_then(|pem| rcgen::KeyPair::from_pem(&pem).ok());
        let key = match kept {
            Some(key) => key,
            None => rcgen::KeyPair::generate().map_err(failed)?,
        };
        let csr = rcgen::CertificateParams::new(names.to_vec())
            .map_err(failed)?
            .serialize_request(&key)
            .map_err(failed)?;
        order.finalize_csr(csr.der()).await?;
        let chain = order.poll_certificate(&polling).await?;
        Ok((chain, key.serialize_pem()))
    }
}

/// The challenges answered for one order, withdrawn when it is done either way.
struct Pending {
    certs: Arc<CertStore>,
    http01: Arc<Http01Tokens>,
    names: Vec<String>,
    tokens: Vec<String>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        for n in &self.names {
            self.certs.remove_challenge(n);
        }
        for t in &self.tokens {
            self.http01.remove(t);
        }
    }
}

struct OrderError {
    message: String,
    /// Names whose authorization the CA found invalid.
    invalid_names: Vec<String>,
}

impl From<String> for OrderError {
    fn from(message: String) -> Self {
        OrderError {
            message,
            invalid_names: Vec::new(),
        }
    }
}

impl From<instant_acme::Error> for OrderError {
    fn from(e: instant_acme::Error) -> Self {
        OrderError::from(e.to_string())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The HTTP client instant-acme talks to the CA with: HTTPS only, the publicly trusted
/// roots or `ca_certificate`'s, each request bounded in time and size.
fn http_client(ca_certificate: Option<&Path>) -> Result<Box<dyn HttpClient>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_certificate {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!(
                        "tls.acme_ca_certificate: cannot read {}: {e}",
                        path.display()
                    )
                })?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("tls.acme_ca_certificate: {}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    Ok(Box::new(Bounded(client)))
}

type Hyper = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    BodyWrapper<Bytes>,
>;

struct Bounded(Hyper);

impl HttpClient for Bounded {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let answer = self.0.request(request);
        Box::pin(async move {
            let other = |e: String| instant_acme::Error::Other(e.into());
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, answer)
                .await
                .map_err(|_| {
                    other(format!(
                        "no answer within {} seconds",
                        REQUEST_TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let (parts, body) = answer.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER);
            let body = tokio::time::timeout(REQUEST_TIMEOUT, body.collect())
                .await
                .map_err(|_| {
                    other(format!(
                        "the answer's body took longer than {} seconds",
                        REQUEST_TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|e| {
                    other(format!(
                        "the answer's body: {e} (at most {MAX_ANSWER} octets are read)"
                    ))
                })?
                .to_bytes();
            Ok(BytesResponse {
                parts,
                body: Box::new(body),
            })
        })
    }
}

/// Creates `dir` (and its parents) readable by the owner only.
fn create_dir_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `dir/name` at once or not at all: a temporary file (owner only), fsync, rename,
/// fsync of the directory.
fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    create_dir_private(dir)?;
    let temporary = dir.join(format!(".{name}.new"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&temporary, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> AcmeSettings {
        AcmeSettings {
            hostname: "mail.example.test".into(),
            contact: "mailto:postmaster@example.test".into(),
            directory_url: "https://acme.invalid/directory".into(),
            challenge: AcmeChallenge::TlsAlpn01,
            extra_names: vec!["IMAP.example.test".into(), "mail.example.test".into()],
            ca_certificate: None,
            renew_days: 30,
            check_interval: Duration::from_secs(60),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn names_are_the_host_the_domains_and_the_extra_ones_once() {
        let s = settings(Path::new("/nonexistent"));
        assert_eq!(
            s.names(&["Example.test".into(), "other.test.".into()]),
            vec![
                "mail.example.test",
                "autoconfig.example.test",
                "mta-sts.example.test",
                "autoconfig.other.test",
                "mta-sts.other.test",
                "imap.example.test",
            ]
        );
    }

    #[test]
    fn stored_files_are_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let acme = directory(dir.path());
        let made = rcgen::generate_simple_self_signed(vec!["mail.example.test".into()]).unwrap();
        write_private(&acme, KEY_FILE, made.signing_key.serialize_pem().as_bytes()).unwrap();
        write_private(&acme, CERTIFICATE_FILE, made.cert.pem().as_bytes()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&acme), 0o700);
        assert_eq!(mode(&acme.join(KEY_FILE)), 0o600);
        let stored = load_stored(&acme).expect("stored");
        assert!(stored.covers(&["mail.example.test".into()]));
        assert!(!stored.covers(&["mail.example.test".into(), "x.test".into()]));
        assert!(stored.days_left() > 365);
        // a key of another certificate: not used
        let other = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        write_private(
            &acme,
            KEY_FILE,
            other.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        assert!(load_stored(&acme).is_none());
    }
}
