//! A small HTTPS server on loopback for tests of MTA-STS and TLS reports: one self-signed
//! certificate (for the names it is started with, by rcgen), and for each `Host:` a canned
//! answer (to a GET of the MTA-STS policy, or any POST). It records each request, so tests
//! can see what was fetched or posted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use estafeta_config::TlsConfig;
use estafeta_net::TlsSetup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as received.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub host: String,
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A running server; it stops when dropped.
pub struct HttpsServer {
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

/// `200 OK`, `text/plain`, with `body`.
pub fn policy_answer(body: &str) -> Vec<u8> {
    answer("200 OK", "text/plain", body)
}

/// Any answer.
pub fn answer(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl HttpsServer {
    /// Listens on 127.0.0.1 at a free port with a self-signed certificate for `names`,
    /// answering each `Host:` from `answers` (404 for others).
    pub async fn start(names: &[String], answers: HashMap<String, Vec<u8>>) -> HttpsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let made = rcgen::generate_simple_self_signed(names.to_vec()).expect("certificate");
        let (certificate, private_key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&certificate, made.cert.pem()).expect("write certificate");
        std::fs::write(&private_key, made.signing_key.serialize_pem()).expect("write key");
        let config = TlsConfig {
            certificate: Some(certificate),
            private_key: Some(private_key),
            ..TlsConfig::default()
        };
        let tls = TlsSetup::load_or_generate(&config, "unused", dir.path()).expect("TLS set-up");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTPS");
        let addr = listener.local_addr().expect("local address");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let answers = Arc::new(answers);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, answers, log) = (tls.acceptor.clone(), answers.clone(), log.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = request
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(request.len(), |i| i + 4);
                    let text = String::from_utf8_lossy(&request[..end]).to_string();
                    let field = |name: &str| {
                        text.lines()
                            .find_map(|l| {
                                l.split_once(':')
                                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                                    .map(|(_, v)| v.trim().to_string())
                            })
                            .unwrap_or_default()
                    };
                    let length: usize = field("content-length").parse().unwrap_or(0);
                    let mut body = request[end..].to_vec();
                    while body.len() < length.min(1 << 20) {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&buf[..n]),
                        }
                    }
                    let mut words = text.split_whitespace();
                    let (method, path) = (
                        words.next().unwrap_or("").to_string(),
                        words.next().unwrap_or("").to_string(),
                    );
                    let host = field("host");
                    let path_ok = method == "POST" || path == "/.well-known/mta-sts.txt";
                    log.lock().expect("log").push(Received {
                        host: host.clone(),
                        method,
                        path,
                        content_type: field("content-type"),
                        body,
                    });
                    let reply = match answers.get(&host) {
                        Some(a) if path_ok => a.clone(),
                        _ => answer("404 Not Found", "text/plain", "no such policy"),
                    };
                    let _ = tls.write_all(&reply).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        HttpsServer {
            addr,
            asked,
            task,
            dir,
        }
    }

    /// The `Host:` of every request so far.
    pub fn asked(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.host).collect()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.asked.lock().expect("log").clone()
    }

    /// The server's certificate (PEM), for a `ca_file`.
    pub fn certificate_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("cert.pem")).expect("certificate")
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
