//! Each listener of the configuration: reachable on its address (a wildcard address is
//! tried on loopback), and where it speaks TLS (implicit, or after STARTTLS / STLS) the
//! certificate it presents: its chain against the system's roots, the names it covers,
//! its expiry and the protocol version negotiated. The handshake's certificate check
//! records what it sees instead of refusing, so that a bad certificate is described,
//! not just refused. Also the line-protocol client `relay` uses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use estafeta_config::{Config, Listener, ListenerTls, Protocol};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{NET_TIMEOUT, Report, Status};

/// Certificates expiring within this many days are a warning.
const EXPIRY_WARNING_DAYS: i64 = 21;
/// Longest reply line read.
const MAX_LINE: u64 = 4096;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection that speaks a line protocol, plain or over TLS.
pub struct Client {
    reader: BufReader<Box<dyn Io>>,
}

impl Client {
    fn new(stream: Box<dyn Io>) -> Client {
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// One line, without its CRLF.
    pub async fn line(&mut self) -> Result<String, String> {
        let mut line = Vec::new();
        let read = tokio::time::timeout(
            NET_TIMEOUT,
            (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| format!("no reply within {} seconds", NET_TIMEOUT.as_secs()))?
        .map_err(|e| format!("connection broken: {e}"))?;
        if read == 0 {
            return Err("connection closed by the server".into());
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }

    pub async fn send(&mut self, text: &str) -> Result<(), String> {
        let stream = self.reader.get_mut();
        tokio::time::timeout(NET_TIMEOUT, async {
            stream.write_all(text.as_bytes()).await?;
            stream.write_all(b"\r\n").await?;
            stream.flush().await
        })
        .await
        .map_err(|_| "the server does not take what we send".to_string())?
        .map_err(|e| format!("connection broken: {e}"))
    }

    /// An SMTP reply: its code and all its lines.
    pub async fn reply(&mut self) -> Result<(u16, String), String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            lines.push(line);
            match code {
                None => return Err(format!("not an SMTP reply: {:?}", lines.join(" | "))),
                Some(code) if !more || lines.len() >= 100 => return Ok((code, lines.join(" | "))),
                Some(_) => {}
            }
        }
    }

    pub async fn command(&mut self, text: &str) -> Result<(u16, String), String> {
        self.send(text).await?;
        self.reply().await
    }

    /// TLS over this connection; the server's certificate recorded by `recorder`.
    async fn tls(self, recorder: &Arc<Recorder>, sni: &str) -> Result<(Client, String), String> {
        let stream = self.reader.into_inner();
        let (client, version) = handshake(stream, recorder, sni).await?;
        Ok((client, version))
    }
}

/// Where to reach a listener from here: a wildcard address on loopback.
pub fn target(l: &Listener) -> SocketAddr {
    let ip = match l.address {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, l.port)
}

pub fn label(l: &Listener) -> String {
    format!(
        "{} {}",
        l.protocol.as_str(),
        SocketAddr::new(l.address, l.port)
    )
}

pub async fn connect(addr: SocketAddr) -> Result<Client, String> {
    match tokio::time::timeout(NET_TIMEOUT, TcpStream::connect(addr)).await {
        Err(_) => Err(format!(
            "no answer within {} seconds",
            NET_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(stream)) => Ok(Client::new(Box::new(stream))),
    }
}

/// A connection ready for the protocol's commands: over TLS from the start on an
/// implicit-TLS listener (any certificate taken), with the SMTP greeting read.
pub async fn open_smtp(l: &Listener, hostname: &str) -> Result<Client, String> {
    let client = connect(target(l)).await?;
    let mut client = if l.tls == ListenerTls::Implicit {
        client.tls(&Recorder::new(), hostname).await?.0
    } else {
        client
    };
    let (code, text) = client.reply().await?;
    if code != 220 {
        return Err(format!("greeting: {text}"));
    }
    Ok(client)
}

/// Records the server's certificates, and still checks that the handshake is signed by
/// the leaf's key.
#[derive(Debug)]
pub struct Recorder {
    provider: Arc<CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            chain: Mutex::new(Vec::new()),
        })
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            *chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        Ok(ServerCertVerified::assertion())
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

async fn handshake(
    stream: Box<dyn Io>,
    recorder: &Arc<Recorder>,
    sni: &str,
) -> Result<(Client, String), String> {
    let connector = estafeta_net::client_tls::connector_with(recorder.clone())
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let name = ServerName::try_from(sni.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into()));
    let tls = tokio::time::timeout(NET_TIMEOUT, connector.connect(name, stream))
        .await
        .map_err(|_| {
            format!(
                "TLS handshake: no answer within {} seconds",
                NET_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let (version, cipher) = estafeta_net::client_tls::describe(tls.get_ref().1);
    Ok((Client::new(Box::new(tls)), format!("{version} {cipher}")))
}

/// Up to the TLS handshake: STARTTLS / STLS on a plaintext listener.
async fn start_tls(l: &Listener, client: Client) -> Result<Client, String> {
    let mut client = client;
    match l.protocol {
        Protocol::Smtp | Protocol::Submission => {
            let (code, text) = client.reply().await?;
            if code != 220 {
                return Err(format!("greeting: {text}"));
            }
            let (_, ehlo) = client.command("EHLO doctor.invalid").await?;
            if !ehlo.to_ascii_uppercase().contains("STARTTLS") {
                return Err(format!("STARTTLS is not offered (EHLO: {ehlo})"));
            }
            let (code, text) = client.command("STARTTLS").await?;
            if code != 220 {
                return Err(format!("STARTTLS refused: {text}"));
            }
        }
        Protocol::Imap => {
            let greeting = client.line().await?;
            if !greeting.starts_with("* OK") {
                return Err(format!("greeting: {greeting}"));
            }
            client.send("d1 STARTTLS").await?;
            loop {
                let line = client.line().await?;
                if let Some(rest) = line.strip_prefix("d1 ") {
                    if !rest.starts_with("OK") {
                        return Err(format!("STARTTLS refused: {line}"));
                    }
                    break;
                }
            }
        }
        Protocol::Pop3 => {
            let greeting = client.line().await?;
            if !greeting.starts_with("+OK") {
                return Err(format!("greeting: {greeting}"));
            }
            client.send("STLS").await?;
            let reply = client.line().await?;
            if !reply.starts_with("+OK") {
                return Err(format!("STLS refused: {reply}"));
            }
        }
        Protocol::Managesieve => {
            // the greeting is the capability list, ended by OK
            loop {
                let line = client.line().await?;
                if line.starts_with("OK") {
                    break;
                }
                if line.starts_with("NO") || line.starts_with("BYE") {
                    return Err(format!("greeting: {line}"));
                }
            }
            client.send("STARTTLS").await?;
            let reply = client.line().await?;
            if !reply.starts_with("OK") {
                return Err(format!("STARTTLS refused: {reply}"));
            }
        }
        Protocol::Http | Protocol::Https => return Err("HTTP has no STARTTLS".into()),
    }
    Ok(client)
}

pub async fn check(
    config: &Config,
    domains: &[String],
    budget: &super::Budget,
    report: &mut Report,
) {
    let host = config.hostname.trim_end_matches('.').to_ascii_lowercase();
    for l in &config.listeners {
        let name = format!("listener {}", label(l));
        if l.port == 0 {
            report.skip(
                &name,
                "port 0: the system picks the port at each start; give the listener a fixed port to check it",
            );
            continue;
        }
        let one = check_one(l, &host, domains, report);
        if let Err(why) = budget.within(one).await {
            report.skip(&format!("tls {}", label(l)), why);
        }
    }
}

/// One listener: connected to, then its TLS looked at.
async fn check_one(l: &Listener, host: &str, domains: &[String], report: &mut Report) {
    let name = format!("listener {}", label(l));
    let addr = target(l);
    let client = match connect(addr).await {
        Ok(c) => c,
        Err(e) => {
            report.fail(
                &name,
                format!("cannot connect to {addr}: {e}"),
                "is `estafeta serve` running? (systemctl status estafeta)",
            );
            return;
        }
    };
    report.ok(&name, format!("accepts connections on {addr}"));
    let tls_name = format!("tls {}", label(l));
    let recorder = Recorder::new();
    let outcome = match l.tls {
        ListenerTls::None => {
            if matches!(l.protocol, Protocol::Http) {
                return;
            }
            report.warn(
                &tls_name,
                "no TLS on this listener: what crosses it (mail, passwords) is readable on the way",
                format!(
                    "set tls = \"starttls\" (or \"implicit\") on this [[listener]] ({})",
                    label(l)
                ),
            );
            return;
        }
        ListenerTls::Implicit => handshake(client.reader.into_inner(), &recorder, host).await,
        ListenerTls::Starttls => match start_tls(l, client).await {
            Ok(c) => c.tls(&recorder, host).await,
            Err(e) => Err(e),
        },
    };
    let version = match outcome {
        Ok((_, version)) => version,
        Err(e) => {
            report.fail(
                &tls_name,
                e,
                "see the server's log (journalctl -u estafeta) and [tls] certificate/private_key",
            );
            return;
        }
    };
    let mut wanted = vec![host.to_string()];
    if l.protocol == Protocol::Https {
        for d in domains {
            wanted.push(format!("autoconfig.{d}"));
            wanted.push(format!("mta-sts.{d}"));
        }
    }
    certificate(&tls_name, &recorder.chain(), &wanted, &version, report);
}

/// Whether `pattern` (a certificate's DNS name, perhaps `*.example.com`) covers `name`.
fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => name
            .split_once('.')
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(parent)),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

fn certificate(
    name: &str,
    chain: &[CertificateDer<'static>],
    wanted: &[String],
    version: &str,
    report: &mut Report,
) {
    let Some(leaf) = chain.first() else {
        return report.fail(
            name,
            "the server presented no certificate",
            "set [tls] certificate/private_key",
        );
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return report.fail(
            name,
            "the certificate presented cannot be read",
            "set [tls] acme = true or [tls] certificate/private_key",
        );
    };
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => {
                        Some(d.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let not_after = cert.validity().not_after.timestamp();
    // the chain, checked for a name it claims, so that only the chain is judged here
    let claimed = names
        .iter()
        .find(|n| !n.starts_with("*."))
        .cloned()
        .or_else(|| wanted.first().cloned())
        .unwrap_or_default();
    let verdict = match (
        ServerName::try_from(claimed.clone()),
        WebPkiServerVerifier::builder_with_provider(
            estafeta_net::roots::system(),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build(),
    ) {
        (Ok(server_name), Ok(verifier)) => verifier
            .verify_server_cert(leaf, &chain[1..], &server_name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    (e.to_string(), true)
                }
                e => (e.to_string(), false),
            }),
        (Err(e), _) => Err((format!("{claimed:?}: {e}"), false)),
        (_, Err(e)) => Err((e.to_string(), false)),
    };
    let self_signed = cert.issuer() == cert.subject();
    match verdict {
        Ok(()) => report.ok(
            &format!("{name} chain"),
            "the certificate chains to a trusted root".to_string(),
        ),
        Err((why, unknown_issuer)) if self_signed || unknown_issuer => report.warn(
            &format!("{name} chain"),
            format!(
                "not from a trusted authority ({}): other servers and mail apps will not trust it",
                if self_signed {
                    "self-signed".to_string()
                } else {
                    why
                }
            ),
            "set [tls] acme = true or [tls] certificate/private_key",
        ),
        Err((why, _)) => report.fail(
            &format!("{name} chain"),
            format!("the certificate is not valid: {why}"),
            "set [tls] acme = true or [tls] certificate/private_key",
        ),
    }
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !names.iter().any(|n| covers(n, w)))
        .collect();
    if missing.is_empty() {
        report.ok(
            &format!("{name} names"),
            format!("covers {}", wanted.join(", ")),
        );
    } else {
        let shown: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
        // the host name is what every client checks; the web names only the https side
        let status = if missing.iter().any(|m| Some(*m) == wanted.first()) {
            Status::Fail
        } else {
            Status::Warn
        };
        report.push(
            &format!("{name} names"),
            status,
            format!(
                "does not cover {} (it names: {})",
                shown.join(", "),
                if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
            ),
            Some(format!(
                "a certificate for {}: set [tls] acme = true (it asks for these names), or [tls] certificate/private_key",
                wanted.join(", ")
            )),
        );
    }
    let now = UnixTime::now().as_secs() as i64;
    let days = (not_after - now).div_euclid(86_400);
    let until = estafeta_net::dates::rfc5322_date(not_after);
    if not_after <= now {
        report.fail(
            &format!("{name} expiry"),
            format!("expired on {until}"),
            "renew it: [tls] acme = true renews by itself; else replace [tls] certificate and restart",
        );
    } else if days < EXPIRY_WARNING_DAYS {
        report.warn(
            &format!("{name} expiry"),
            format!("expires in {days} day(s), on {until}"),
            "renew it: [tls] acme = true renews by itself; else replace [tls] certificate and restart",
        );
    } else {
        report.ok(
            &format!("{name} expiry"),
            format!("valid for {days} more days (until {until})"),
        );
    }
    if version.starts_with("TLSv1.3") || version.starts_with("TLSv1.2") {
        report.ok(&format!("{name} protocol"), format!("negotiated {version}"));
    } else {
        report.fail(
            &format!("{name} protocol"),
            format!("negotiated {version}"),
            "estafeta speaks TLS 1.2 and 1.3 only: is something else answering on this port?",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn certificate_names() {
        assert!(covers("mail.example.com", "MAIL.example.com"));
        assert!(covers("*.example.com", "mta-sts.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("mail.example.com", "autoconfig.example.com"));
    }
}
