//! The client side of one connection: TCP with a connect timeout, TLS (from the first byte
//! or after STARTTLS) with tokio-rustls, writes with a timeout each, and reads of one whole
//! reply (every line up to the last) with a timeout, bounded in size.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use estafeta_net::MaybeTls;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::error::{Error, Stage};
use super::reply::Reply;

/// The most a reply may take on the wire, all lines together. An EHLO reply is a few
/// hundred octets; this only stops a server that never ends its reply.
const MAX_REPLY: usize = 64 * 1024;

/// The negotiated TLS session, for the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`
    pub cipher: String,
}

pub(crate) struct Conn {
    reader: BufReader<MaybeTls>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn, Error> {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(Error::Connect(e)),
            Err(_) => {
                return Err(Error::Connect(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {} s", timeout.as_secs_f32()),
                )));
            }
        };
        let _ = tcp.set_nodelay(true);
        Ok(Conn {
            reader: BufReader::with_capacity(8 * 1024, MaybeTls::Plain(tcp)),
        })
    }

    pub fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.reader
            .get_ref()
            .tls_info()
            .map(|(version, cipher)| TlsInfo { version, cipher })
    }

    /// The TLS handshake, at the start (implicit TLS) or after the server's 220 to
    /// STARTTLS. Anything the server sent ahead in plaintext is dropped.
    pub async fn start_tls(
        self,
        connector: &TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Conn, Error> {
        let MaybeTls::Plain(tcp) = self.reader.into_inner() else {
            return Err(Error::Tls("TLS is already active".into()));
        };
        match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => Ok(Conn {
                reader: BufReader::with_capacity(8 * 1024, MaybeTls::Tls(Box::new(tls.into()))),
            }),
            Ok(Err(e)) => Err(Error::Tls(format!("handshake failed: {e}"))),
            Err(_) => Err(Error::Timeout(Stage::TlsHandshake)),
        }
    }

    /// Writes and flushes `bytes` within `timeout`.
    pub async fn write(
        &mut self,
        bytes: &[u8],
        timeout: Duration,
        stage: Stage,
    ) -> Result<(), Error> {
        let stream = self.reader.get_mut();
        let io = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(timeout, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Error::Io { stage, error }),
            Err(_) => Err(Error::Timeout(stage)),
        }
    }

    /// Reads one whole reply within `timeout`.
    pub async fn read_reply(&mut self, timeout: Duration, stage: Stage) -> Result<Reply, Error> {
        Ok(self.read_reply_raw(timeout, stage).await?.0)
    }

    /// Reads one whole reply within `timeout`; also gives its raw lines (for EHLO).
    pub async fn read_reply_raw(
        &mut self,
        timeout: Duration,
        stage: Stage,
    ) -> Result<(Reply, Vec<u8>), Error> {
        let raw = match tokio::time::timeout(timeout, self.read_reply_lines(stage)).await {
            Ok(raw) => raw?,
            Err(_) => return Err(Error::Timeout(stage)),
        };
        match Reply::parse(&raw) {
            Some(reply) => Ok((reply, raw)),
            None => Err(Error::Protocol {
                stage,
                detail: format!(
                    "not an SMTP reply: {:?}",
                    String::from_utf8_lossy(&raw[..raw.len().min(200)])
                ),
            }),
        }
    }

    /// The raw lines of one reply: up to a line whose fourth octet is not `-`.
    async fn read_reply_lines(&mut self, stage: Stage) -> Result<Vec<u8>, Error> {
        let mut raw = Vec::with_capacity(128);
        loop {
            let start = raw.len();
            let limit = (MAX_REPLY - start) as u64;
            let n = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|error| Error::Io { stage, error })?;
            if n == 0 {
                return Err(if raw.is_empty() {
                    Error::closed(stage)
                } else {
                    Error::Protocol {
                        stage,
                        detail: "reply too long or cut short".into(),
                    }
                });
            }
            if !raw.ends_with(b"\n") {
                // the connection closed mid-line, or the reply is over the limit
                if raw.len() >= MAX_REPLY {
                    return Err(Error::Protocol {
                        stage,
                        detail: format!("reply longer than {MAX_REPLY} octets"),
                    });
                }
                return Err(Error::closed(stage));
            }
            let line = &raw[start..];
            if line.get(3) != Some(&b'-') {
                return Ok(raw);
            }
        }
    }
}
