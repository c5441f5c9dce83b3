//! One HTTPS request, as MTA-STS (fetching a policy, RFC 8461 §3.3) and TLS reports
//! (posting one, RFC 8460 §3) need it: the server's certificate checked against the roots
//! (the system's, or `trust.ca_file`), no redirect followed, the answer's status, media
//! type and body given back.
//!
//! Written over the TLS client we already have rather than with an HTTP client crate:
//! each request is one HTTP/1.0 exchange (so the answer is never chunked) whose whole
//! answer is read to the end under one deadline and at most [`MAX_HEAD`] octets of head
//! plus the caller's bound on the body, and only the head is parsed, by httparse
//! (hyper's parser).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The largest HTTP head (status line and header fields) taken.
pub const MAX_HEAD: usize = 16 * 1024;
/// Addresses of the policy host tried at most.
const MAX_ADDRESSES: usize = 3;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server's certificate did not check out.
    Certificate(String),
    /// DNS, connection, an answer that is not HTTP or too long, or the deadline.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Certificate(why) | Failure::Other(why) => f.write_str(why),
        }
    }
}

/// A request: `method` `https://host:port/path`, with a body of a media type or none.
pub struct Request<'a> {
    pub host: &'a str,
    pub port: u16,
    pub method: &'static str,
    pub path: &'a str,
    /// `Accept:` for a GET, `Content-Type:` for a POST.
    pub media_type: &'a str,
    pub body: &'a [u8],
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Lower case, without parameters.
    pub media_type: String,
    pub body: Vec<u8>,
}

/// Sends `req` and reads the answer, its body at most `max_body` octets, all within
/// `timeout`.
pub async fn request(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    req: &Request<'_>,
    max_body: usize,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let url = format!("https://{}:{}{}", req.host, req.port, req.path);
    match tokio::time::timeout(timeout, exchange(resolver, connector, req, max_body, &url)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Other(format!(
            "{url}: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

async fn exchange(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    req: &Request<'_>,
    max_body: usize,
    url: &str,
) -> Result<Answer, Failure> {
    let (host, port) = (req.host, req.port);
    let fail = |why: String| Failure::Other(format!("{url}: {why}"));
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
                    return Err(Failure::Certificate(why));
                }
                last = Failure::Other(why);
                continue;
            }
        };
        let mut request = format!(
            "{} {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: estafeta\r\nConnection: close\r\n",
            req.method, req.path
        );
        if req.method == "GET" {
            request.push_str(&format!("Accept: {}\r\n\r\n", req.media_type));
        } else {
            request.push_str(&format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
                req.media_type,
                req.body.len()
            ));
        }
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(req.body);
        tls.write_all(&bytes)
            .await
            .map_err(|e| fail(format!("sending the request: {e}")))?;
        let mut answer = Vec::new();
        let limit = (MAX_HEAD + max_body + 1) as u64;
        // a server that ends without close_notify still gave what it sent
        if let Err(e) = (&mut tls).take(limit).read_to_end(&mut answer).await
            && answer.is_empty()
        {
            return Err(fail(format!("reading the answer: {e}")));
        }
        return parse_answer(&answer, max_body).map_err(fail);
    }
    Err(last)
}

/// The status, media type and body of an answer (a body cut at its Content-Length).
pub fn parse_answer(answer: &[u8], max_body: usize) -> Result<Answer, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(answer) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) | Ok(httparse::Status::Partial) => {
            return Err(format!("no HTTP head within {MAX_HEAD} octets"));
        }
        Err(e) => return Err(format!("not an HTTP answer: {e}")),
    };
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some() {
        return Err("a transfer-encoding answer to an HTTP/1.0 request".into());
    }
    let mut body = &answer[head_len..];
    if body.len() > max_body {
        return Err(format!("the answer is longer than {max_body} octets"));
    }
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        if length > body.len() {
            return Err(format!(
                "the answer was cut short ({} of {length} octets)",
                body.len()
            ));
        }
        body = &body[..length];
    }
    Ok(Answer {
        status: response.code.unwrap_or(0),
        media_type: header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: Text/Plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhelloXX";
        let a = parse_answer(ok, 100).unwrap();
        assert_eq!(
            (a.status, a.media_type.as_str(), &a.body[..]),
            (200, "text/plain", &b"hello"[..])
        );
        let short = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\nab";
        assert!(parse_answer(short, 100).unwrap_err().contains("cut short"));
        assert!(
            parse_answer(b"garbage\r\n\r\n", 100)
                .unwrap_err()
                .contains("not an HTTP")
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert!(
            parse_answer(chunked, 100)
                .unwrap_err()
                .contains("transfer-encoding")
        );
        let mut long = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        long.extend(std::iter::repeat_n(b'a', 101));
        assert!(parse_answer(&long, 100).unwrap_err().contains("longer"));
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..2000 {
            head.extend(b"X-A: b\r\n");
        }
        assert!(parse_answer(&head, 100).is_err());
    }
}
