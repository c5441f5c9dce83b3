//! Fetching a policy: `GET https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461
//! §3.3), the certificate checked against the roots (the system's, or `trust.ca_file`),
//! no redirect followed, `200` with `text/plain` only.
//!
//! Written over the TLS client we already have rather than with an HTTP client crate:
//! the request is one HTTP/1.0 GET (so the answer is never chunked) whose whole answer is
//! read to the end under one deadline and at most [`MAX_HEAD`] + [`MAX_POLICY`] octets,
//! and only the head is parsed, by httparse (hyper's parser).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The largest policy taken (RFC 8461 §3.3 leaves the bound to senders; policies are a
/// few hundred octets).
pub const MAX_POLICY: usize = 64 * 1024;
/// The largest HTTP head (status line and header fields) taken.
pub const MAX_HEAD: usize = 16 * 1024;
/// Addresses of the policy host tried at most.
const MAX_ADDRESSES: usize = 3;

/// Why no policy text came back, in TLS-RPT's words (RFC 8460 §4.3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// `sts-webpki-invalid`: the policy host's certificate did not check out.
    Certificate(String),
    /// `sts-policy-fetch-error`: DNS, connection, HTTP status or timeout.
    Fetch(String),
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchFailure::Certificate(why) | FetchFailure::Fetch(why) => f.write_str(why),
        }
    }
}

/// The policy text of `domain`, fetched from `mta-sts.<domain>` on `port` (443).
pub async fn policy_text(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    domain: &str,
    port: u16,
    timeout: Duration,
) -> Result<String, FetchFailure> {
    let host = format!("mta-sts.{domain}");
    match tokio::time::timeout(timeout, fetch(resolver, connector, &host, port)).await {
        Ok(result) => result,
        Err(_) => Err(FetchFailure::Fetch(format!(
            "https://{host}/.well-known/mta-sts.txt: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

async fn fetch(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    host: &str,
    port: u16,
) -> Result<String, FetchFailure> {
    let url = format!("https://{host}/.well-known/mta-sts.txt");
    let fail = |why: String| FetchFailure::Fetch(format!("{url}: {why}"));
    let ips = resolver
        .lookup_ip(format!("{host}.").as_str())
        .await
        .map_err(|e| fail(format!("no address: {e}")))?;
    let name =
        ServerName::try_from(host.to_string()).map_err(|_| fail("not a host name".into()))?;
    let mut last = fail("no address".into());
    for ip in ips.iter().take(MAX_ADDRESSES) {
        let tcp = match TcpStream::connect(SocketAddr::new(ip, port)).await {
            Ok(tcp) => tcp,
            Err(e) => {
                last = fail(format!("cannot connect to {ip}: {e}"));
                continue;
            }
        };
        let mut tls = match connector.connect(name.clone(), tcp).await {
            Ok(tls) => tls,
            Err(e) => {
                let certificate = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|e| {
                        matches!(
                            e,
                            rustls::Error::InvalidCertificate(_)
                                | rustls::Error::NoCertificatesPresented
                        )
                    });
                let why = format!("{url}: TLS with {ip}: {e}");
                // a certificate that fails is an answer: other addresses are not asked
                if certificate {
                    return Err(FetchFailure::Certificate(why));
                }
                last = FetchFailure::Fetch(why);
                continue;
            }
        };
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: estafeta\r\n\
             Accept: text/plain\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| fail(format!("sending the request: {e}")))?;
        let mut answer = Vec::new();
        let limit = (MAX_HEAD + MAX_POLICY + 1) as u64;
        // a server that ends without close_notify still gave what it sent
        if let Err(e) = (&mut tls).take(limit).read_to_end(&mut answer).await
            && answer.is_empty()
        {
            return Err(fail(format!("reading the answer: {e}")));
        }
        return parse_answer(&answer).map_err(fail);
    }
    Err(last)
}

/// The body of a `200 text/plain` answer.
fn parse_answer(answer: &[u8]) -> Result<String, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(answer) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) | Ok(httparse::Status::Partial) => {
            return Err(format!("no HTTP head within {MAX_HEAD} octets"));
        }
        Err(e) => return Err(format!("not an HTTP answer: {e}")),
    };
    let code = response.code.unwrap_or(0);
    if (300..400).contains(&code) {
        return Err(format!(
            "HTTP {code}: a redirect, which is not followed (RFC 8461 §3.3)"
        ));
    }
    if code != 200 {
        return Err(format!("HTTP {code}"));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let media = header("content-type").unwrap_or_default();
    if media.split(';').next().map(str::trim) != Some("text/plain") {
        return Err(format!(
            "the policy is served as {media:?}, not text/plain (RFC 8461 §3.2)"
        ));
    }
    if header("transfer-encoding").is_some() {
        return Err("a transfer-encoding answer to an HTTP/1.0 request".into());
    }
    let mut body = &answer[head_len..];
    if body.len() > MAX_POLICY {
        return Err(format!("the policy is longer than {MAX_POLICY} octets"));
    }
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        if length > body.len() {
            return Err(format!(
                "the policy was cut short ({} of {length} octets)",
                body.len()
            ));
        }
        body = &body[..length];
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the policy is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhelloXX";
        assert_eq!(parse_answer(ok).unwrap(), "hello");
        let redirect =
            b"HTTP/1.1 301 Moved\r\nLocation: https://evil/\r\nContent-Type: text/plain\r\n\r\n";
        assert!(parse_answer(redirect).unwrap_err().contains("redirect"));
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
        assert!(parse_answer(html).unwrap_err().contains("text/plain"));
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n";
        assert_eq!(parse_answer(missing).unwrap_err(), "HTTP 404");
        let short = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\nab";
        assert!(parse_answer(short).unwrap_err().contains("cut short"));
        assert!(
            parse_answer(b"garbage\r\n\r\n")
                .unwrap_err()
                .contains("not an HTTP")
        );
        let mut long = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_POLICY + 1));
        assert!(parse_answer(&long).unwrap_err().contains("longer"));
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..2000 {
            head.extend(b"X-A: b\r\n");
        }
        assert!(parse_answer(&head).is_err());
    }
}
