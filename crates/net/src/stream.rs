//! A connection that is plaintext or TLS (server or client side), readable and writable
//! the same way either way: what the protocol servers and the outbound SMTP client talk over.
//! Either may carry COMPRESS=DEFLATE ([`crate::compress`]) once an IMAP session asks.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Raw DEFLATE over one of the others (IMAP COMPRESS, RFC 4978).
    Deflate(Box<crate::compress::Deflate>),
}

impl MaybeTls {
    pub fn is_tls(&self) -> bool {
        match self {
            MaybeTls::Plain(_) => false,
            MaybeTls::Tls(_) => true,
            MaybeTls::Deflate(d) => d.get_ref().is_tls(),
        }
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        matches!(self, MaybeTls::Deflate(_))
    }

    /// Negotiated protocol version and cipher suite, e.g. ("TLSv1.3", "TLS13_AES_256_GCM_SHA384").
    pub fn tls_info(&self) -> Option<(String, String)> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(s) => Some(crate::client_tls::describe(s.get_ref().1)),
            MaybeTls::Deflate(d) => d.get_ref().tls_info(),
        }
    }

    /// The `tls-exporter` channel binding of this connection (RFC 9266): `None` on
    /// plaintext and on TLS 1.2, for which RFC 9266 §3 leaves it undefined without the
    /// extended master secret.
    pub fn tls_exporter(&self) -> Option<[u8; 32]> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(s) => match s.as_ref() {
                TlsStream::Server(s) => exporter(s.get_ref().1),
                TlsStream::Client(s) => exporter(s.get_ref().1),
            },
            MaybeTls::Deflate(d) => d.get_ref().tls_exporter(),
        }
    }
}

/// RFC 9266 §2: 32 octets, label `EXPORTER-Channel-Binding`, no context; TLS 1.3 only.
pub fn exporter<D>(conn: &rustls::ConnectionCommon<D>) -> Option<[u8; 32]> {
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return None;
    }
    conn.export_keying_material([0u8; 32], crate::scram::EXPORTER_LABEL, None)
        .ok()
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            MaybeTls::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            MaybeTls::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
