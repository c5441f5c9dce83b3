//! For tests only (feature `testing`): a TLS client that accepts any certificate, since
//! test servers present a self-signed one and the tests check protocols, not the PKI.

use rustls::pki_types::ServerName;

/// A TLS connector for tests that trusts every server certificate.
pub fn insecure_tls_connector() -> tokio_rustls::TlsConnector {
    crate::client_tls::connector(None).expect("TLS client set-up")
}

/// Anything a test client can talk over.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A raw line-protocol client for tests (SMTP, POP3, IMAP): exact bytes out, lines in.
pub struct LineClient {
    stream: tokio::io::BufReader<Box<dyn Stream>>,
    /// The `tls-exporter` channel binding (RFC 9266) on TLS 1.3, for SCRAM -PLUS.
    exporter: Option<[u8; 32]>,
}

impl LineClient {
    pub async fn plain(addr: std::net::SocketAddr) -> LineClient {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        LineClient {
            stream: tokio::io::BufReader::new(Box::new(tcp)),
            exporter: None,
        }
    }

    /// Connects and sends `header` first, as a proxy would (see [`proxy_v1`], [`proxy_v2`]).
    pub async fn proxied(addr: std::net::SocketAddr, header: &[u8]) -> LineClient {
        let tcp = proxied_tcp(addr, header).await;
        LineClient {
            stream: tokio::io::BufReader::new(Box::new(tcp)),
            exporter: None,
        }
    }

    /// Connects, sends `header`, then TLS from the next byte.
    pub async fn proxied_tls(addr: std::net::SocketAddr, header: &[u8]) -> LineClient {
        let tcp = proxied_tcp(addr, header).await;
        LineClient::wrap(Box::new(tcp)).await
    }

    /// TLS from the first byte.
    pub async fn tls(addr: std::net::SocketAddr) -> LineClient {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        LineClient::wrap(Box::new(tcp)).await
    }

    /// TLS 1.2 from the first byte (no `tls-exporter` binding: no SCRAM -PLUS).
    pub async fn tls12(addr: std::net::SocketAddr) -> LineClient {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let connector = crate::client_tls::connector_for(None, &[&rustls::version::TLS12])
            .expect("TLS client set-up");
        LineClient::wrap_with(connector, Box::new(tcp)).await
    }

    async fn wrap(inner: Box<dyn Stream>) -> LineClient {
        LineClient::wrap_with(insecure_tls_connector(), inner).await
    }

    async fn wrap_with(
        connector: tokio_rustls::TlsConnector,
        inner: Box<dyn Stream>,
    ) -> LineClient {
        let tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), inner)
            .await
            .expect("TLS handshake");
        let exporter = crate::stream::exporter(tls.get_ref().1);
        LineClient {
            stream: tokio::io::BufReader::new(Box::new(tls)),
            exporter,
        }
    }

    /// This connection's `tls-exporter` channel binding, computed on the client side
    /// (`None` on plaintext and TLS 1.2).
    pub fn tls_exporter(&self) -> Option<[u8; 32]> {
        self.exporter
    }

    /// The TLS handshake on this connection (after the server agreed to STARTTLS/STLS).
    pub async fn upgrade(self) -> LineClient {
        LineClient::wrap(self.stream.into_inner()).await
    }

    pub async fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes()).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let s = self.stream.get_mut();
        s.write_all(bytes).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// One line with its CRLF (octets that are not UTF-8 as U+FFFD); empty when the
    /// connection closed.
    pub async fn line(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut line = Vec::new();
        self.stream.read_until(b'\n', &mut line).await.unwrap_or(0);
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Sends a line and reads one line back.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.line().await
    }

    /// An SMTP reply: every line up to the one without `-` after the code.
    pub async fn smtp_reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    /// A POP3 multi-line body, up to the "." line (exclusive).
    pub async fn multiline(&mut self) -> String {
        let mut all = String::new();
        loop {
            let l = self.line().await;
            if l == ".\r\n" || l.is_empty() {
                return all;
            }
            all.push_str(&l);
        }
    }

    /// IMAP: everything up to and including the tagged reply to `tag`.
    pub async fn until_tagged(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let l = self.line().await;
            if l.is_empty() {
                return all;
            }
            all.push_str(&l);
            if l.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// IMAP: sends a tagged command and returns all it produced.
    pub async fn run(&mut self, tag: &str, command: &str) -> String {
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until_tagged(tag).await
    }
}

/// Delivers one message over plain SMTP (dot-stuffing `data`, which must end with CRLF);
/// panics unless the server answers 250.
pub async fn smtp_send(addr: std::net::SocketAddr, from: &str, to: &str, data: &str) {
    let mut c = LineClient::plain(addr).await;
    c.smtp_reply().await;
    for cmd in [
        "EHLO test.client".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
        "DATA".to_string(),
    ] {
        c.send(&format!("{cmd}\r\n")).await;
        let r = c.smtp_reply().await;
        assert!(r.starts_with('2') || r.starts_with('3'), "{cmd}: {r}");
    }
    let stuffed = data.replace("\r\n.", "\r\n..");
    let stuffed = stuffed
        .strip_prefix('.')
        .map(|s| format!("..{s}"))
        .unwrap_or(stuffed);
    c.send(&format!("{stuffed}.\r\n")).await;
    let r = c.smtp_reply().await;
    assert!(r.starts_with("250"), "end of data: {r}");
    c.send("QUIT\r\n").await;
}

/// Whether a new connection to `addr` is closed by the server without a word and without
/// a TLS handshake (within 10 s), as a connection over a limit is on an implicit-TLS port.
pub async fn closed_without_handshake(addr: std::net::SocketAddr) -> bool {
    let mut raw = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut raw, &mut buf),
    )
    .await;
    matches!(read, Ok(Ok(0) | Err(_)))
}

async fn proxied_tcp(addr: std::net::SocketAddr, header: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(header).await.expect("write PROXY header");
    tcp
}

/// A PROXY protocol v1 line naming `source` as the client that connected to
/// `destination` (both of one family), written by hand, not by the parser's crate.
pub fn proxy_v1(source: std::net::SocketAddr, destination: std::net::SocketAddr) -> Vec<u8> {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    )
    .into_bytes()
}

/// A PROXY protocol v2 header (command PROXY, TCP) naming `source` as the client that
/// connected to `destination`, written by hand.
pub fn proxy_v2(source: std::net::SocketAddr, destination: std::net::SocketAddr) -> Vec<u8> {
    use std::net::IpAddr;
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21);
    let mut body = Vec::new();
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            h.push(0x11);
            body.extend(s.octets());
            body.extend(d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            h.push(0x21);
            body.extend(s.octets());
            body.extend(d.octets());
        }
        _ => panic!("source and destination of one family"),
    }
    body.extend(source.port().to_be_bytes());
    body.extend(destination.port().to_be_bytes());
    h.extend((body.len() as u16).to_be_bytes());
    h.extend(body);
    h
}
