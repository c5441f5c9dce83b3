//! A line-based protocol connection (SMTP, POP3, IMAP): bounded line reads with an idle
//! timeout, exact-length reads (BDAT, literals), and replies buffered until the client
//! waits for them, so pipelined commands get their replies in one write (RFC 2920).

use std::time::Duration;

use tokio_rustls::TlsAcceptor;

use crate::listen::HANDSHAKE_TIMEOUT;
use crate::stream::MaybeTls;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub enum Line {
    /// A line with its terminator (LF, with or without CR).
    Complete(Vec<u8>),
    /// The line was longer than allowed; it was read to its end and dropped.
    TooLong,
    /// The client closed the connection.
    Closed,
}

#[derive(Debug)]
pub enum IoError {
    Timeout,
    Io(std::io::Error),
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        IoError::Io(e)
    }
}

pub struct LineIo {
    pub reader: BufReader<MaybeTls>,
    out: Vec<u8>,
    idle: Duration,
}

impl LineIo {
    pub fn new(stream: MaybeTls, idle: Duration) -> LineIo {
        LineIo::with_buffer(stream, idle, 16 * 1024)
    }

    /// With a read buffer of `capacity` octets: small for protocols whose connections
    /// mostly wait (IMAP IDLE), larger where messages stream in (SMTP DATA).
    pub fn with_buffer(stream: MaybeTls, idle: Duration, capacity: usize) -> LineIo {
        LineIo {
            reader: BufReader::with_capacity(capacity, stream),
            out: Vec::with_capacity(1024),
            idle,
        }
    }

    /// Queues raw bytes to send.
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queues a reply line (CRLF added).
    pub fn reply(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub async fn flush(&mut self) -> Result<(), IoError> {
        if !self.out.is_empty() {
            let stream = self.reader.get_mut();
            tokio::time::timeout(self.idle, stream.write_all(&self.out))
                .await
                .map_err(|_| IoError::Timeout)??;
            tokio::time::timeout(self.idle, stream.flush())
                .await
                .map_err(|_| IoError::Timeout)??;
            self.out.clear();
            // a large reply (a FETCH of many bodies) must not stay allocated on a
            // connection that then idles for hours
            if self.out.capacity() > 64 * 1024 {
                self.out.shrink_to(4 * 1024);
            }
        }
        Ok(())
    }

    /// Refills the read buffer, flushing replies first when no pipelined input is left.
    async fn fill(&mut self) -> Result<usize, IoError> {
        if self.reader.buffer().is_empty() {
            self.flush().await?;
        }
        let buf = tokio::time::timeout(self.idle, self.reader.fill_buf())
            .await
            .map_err(|_| IoError::Timeout)??;
        Ok(buf.len())
    }

    /// Reads one line of at most `max` octets including its terminator.
    pub async fn read_line(&mut self, max: usize) -> Result<Line, IoError> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            if self.fill().await? == 0 {
                return Ok(Line::Closed);
            }
            let buf = self.reader.buffer();
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if !too_long {
                if line.len() + take > max {
                    too_long = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(&buf[..take]);
                }
            }
            self.reader.consume(take);
            if done {
                return Ok(if too_long {
                    Line::TooLong
                } else {
                    Line::Complete(line)
                });
            }
        }
    }

    /// Reads exactly `n` octets, appending them to `sink` when given (else dropping them).
    /// Returns false if the client closed the connection first.
    pub async fn read_chunk(
        &mut self,
        mut n: usize,
        mut sink: Option<&mut Vec<u8>>,
    ) -> Result<bool, IoError> {
        while n > 0 {
            if self.fill().await? == 0 {
                return Ok(false);
            }
            let buf = self.reader.buffer();
            let take = buf.len().min(n);
            if let Some(s) = sink.as_deref_mut() {
                s.extend_from_slice(&buf[..take]);
            }
            self.reader.consume(take);
            n -= take;
        }
        Ok(true)
    }

    /// Drops input the client sent ahead; returns how many octets.
    fn discard_buffered(&mut self) -> usize {
        let n = self.reader.buffer().len();
        self.reader.consume(n);
        n
    }
}

impl LineIo {
    /// Gives the stream back; anything still buffered is dropped.
    fn into_stream(self) -> MaybeTls {
        self.reader.into_inner()
    }

    /// The negotiated TLS version and cipher, `None` on plaintext.
    pub fn tls_info(&self) -> Option<(String, String)> {
        self.reader.get_ref().tls_info()
    }

    /// STARTTLS / STLS, after the protocol's go-ahead was flushed: input the client sent
    /// ahead is dropped first (it was not protected by TLS: the command-injection class of
    /// attacks), then the handshake. `None` when it fails; the connection is then done.
    pub async fn start_tls(mut self, acceptor: &TlsAcceptor) -> Option<LineIo> {
        let dropped = self.discard_buffered();
        if dropped > 0 {
            tracing::warn!(
                octets = dropped,
                "discarded plaintext sent ahead of the TLS handshake"
            );
        }
        let idle = self.idle;
        let MaybeTls::Plain(tcp) = self.into_stream() else {
            return None;
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => Some(LineIo::new(MaybeTls::Tls(Box::new(stream.into())), idle)),
            Ok(Err(e)) => {
                tracing::info!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::info!("TLS handshake timed out");
                None
            }
        }
    }
}
