//! Fetching a policy: `GET https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461
//! §3.3) through our one HTTPS request (`crate::https`): `200` with `text/plain` only, no
//! redirect followed, at most [`MAX_POLICY`] octets, UTF-8.

use std::time::Duration;

use hickory_resolver::TokioResolver;
use tokio_rustls::TlsConnector;

use crate::https::{self, Failure, Request};

/// The largest policy taken (RFC 8461 §3.3 leaves the bound to senders; policies are a
/// few hundred octets).
pub const MAX_POLICY: usize = 64 * 1024;

/// Why no policy text came back, in TLS-RPT's words (RFC 8460 §4.3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// `sts-webpki-invalid`: the policy host's certificate did not check out.
    Certificate(String),
    /// `sts-policy-fetch-error`: DNS, connection, HTTP status or timeout.
    Fetch(String),
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
    let url = format!("https://{host}/.well-known/mta-sts.txt");
    let req = Request {
        host: &host,
        port,
        method: "GET",
        path: "/.well-known/mta-sts.txt",
        media_type: "text/plain",
        body: b"",
    };
    let answer = match https::request(resolver, connector, &req, MAX_POLICY, timeout).await {
        Ok(a) => a,
        Err(Failure::Certificate(why)) => return Err(FetchFailure::Certificate(why)),
        Err(Failure::Other(why)) => return Err(FetchFailure::Fetch(why)),
    };
    policy_of(answer).map_err(|why| FetchFailure::Fetch(format!("{url}: {why}")))
}

/// The policy in an answer: `200`, `text/plain`, UTF-8.
fn policy_of(answer: https::Answer) -> Result<String, String> {
    let code = answer.status;
    if (300..400).contains(&code) {
        return Err(format!(
            "HTTP {code}: a redirect, which is not followed (RFC 8461 §3.3)"
        ));
    }
    if code != 200 {
        return Err(format!("HTTP {code}"));
    }
    if answer.media_type != "text/plain" {
        return Err(format!(
            "the policy is served as {:?}, not text/plain (RFC 8461 §3.2)",
            answer.media_type
        ));
    }
    String::from_utf8(answer.body).map_err(|_| "the policy is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, media_type: &str, body: &[u8]) -> https::Answer {
        https::Answer {
            status,
            media_type: media_type.into(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn only_200_text_plain_utf8() {
        assert_eq!(
            policy_of(answer(200, "text/plain", b"hello")).unwrap(),
            "hello"
        );
        assert!(
            policy_of(answer(301, "text/plain", b""))
                .unwrap_err()
                .contains("redirect")
        );
        assert_eq!(
            policy_of(answer(404, "text/plain", b"")).unwrap_err(),
            "HTTP 404"
        );
        assert!(
            policy_of(answer(200, "text/html", b"<html>"))
                .unwrap_err()
                .contains("text/plain")
        );
        assert!(
            policy_of(answer(200, "text/plain", &[0xff, 0xfe]))
                .unwrap_err()
                .contains("UTF-8")
        );
    }
}
