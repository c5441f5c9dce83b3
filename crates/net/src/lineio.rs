//! A line-based protocol connection (SMTP, POP3, IMAP): bounded line reads with an idle
//! timeout, exact-length reads (BDAT, literals), and replies buffered until the client
//! waits for them, so pipelined commands get their replies in one write (RFC 2920).
//!
//! Bounds:
//! - a line is kept up to the `max` its caller gives; past that it is read to its end
//!   and dropped, never accumulated (what is kept of it: its first [`HEAD`] octets and
//!   whether it ended in CRLF), so a line of any length costs the read buffer only;
//! - every wait for input and every write of replies is limited by the idle timeout;
//! - optionally, a deadline ([`LineIo::set_deadline`]) bounds a whole unit of input
//!   however the client paces it: a command line, a message, a chunk. A client that
//!   sends one octet just before each idle timeout would otherwise hold a read open for
//!   ever. Past the deadline every read fails with [`IoError::Timeout`].

use std::time::Duration;

use tokio::time::Instant;

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

/// How much of a line that was too long is kept: enough to tell its command.
pub const HEAD: usize = 16;

/// A line read by [`LineIo::read_bounded_line`]: as [`Line`], with what a caller needs to
/// know about a line that was too long.
pub enum BoundedLine {
    /// A line with its terminator (LF, with or without CR).
    Complete(Vec<u8>),
    /// The line was longer than allowed: read to its end and dropped.
    TooLong {
        /// Its first octets (at most [`HEAD`]).
        head: Vec<u8>,
        /// Whether it ended with CRLF (else with a bare LF).
        crlf: bool,
    },
    /// The client closed the connection.
    Closed,
}

#[derive(Debug)]
pub enum IoError {
    /// The idle timeout ran out, or the deadline passed.
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
    deadline: Option<Instant>,
    /// The read buffer's size, kept across STARTTLS.
    capacity: usize,
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
            deadline: None,
            capacity,
        }
    }

    /// The size of the read buffer asked for at the start ([`LineIo::with_buffer`]).
    pub fn read_buffer(&self) -> usize {
        self.capacity
    }

    /// The idle timeout of every read and write.
    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// Queues raw bytes to send.
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queues raw bytes to send, taking them without a copy when nothing else waits.
    pub fn write_owned(&mut self, bytes: Vec<u8>) {
        if self.out.is_empty() && bytes.capacity() >= self.out.capacity() {
            self.out = bytes;
        } else {
            self.out.extend_from_slice(&bytes);
        }
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

    /// Sets (or with `None` lifts) the deadline of every read until it changes: once it
    /// has passed, reads fail with [`IoError::Timeout`] even while the client is still
    /// sending. The idle timeout keeps applying to each wait within it.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Whether a deadline is set and has passed: tells a deadline from an idle timeout
    /// after [`IoError::Timeout`].
    pub fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Refills the read buffer, flushing replies first when no pipelined input is left.
    async fn fill(&mut self) -> Result<usize, IoError> {
        if self.reader.buffer().is_empty() {
            self.flush().await?;
        }
        let idle_end = Instant::now() + self.idle;
        let until = match self.deadline {
            Some(d) if d <= Instant::now() => return Err(IoError::Timeout),
            Some(d) => d.min(idle_end),
            None => idle_end,
        };
        let buf = tokio::time::timeout_at(until, self.reader.fill_buf())
            .await
            .map_err(|_| IoError::Timeout)??;
        Ok(buf.len())
    }

    /// Reads one line of at most `max` octets including its terminator.
    pub async fn read_line(&mut self, max: usize) -> Result<Line, IoError> {
        Ok(match self.read_bounded_line(max).await? {
            BoundedLine::Complete(l) => Line::Complete(l),
            BoundedLine::TooLong { .. } => Line::TooLong,
            BoundedLine::Closed => Line::Closed,
        })
    }

    /// Reads one line of at most `max` octets including its terminator; a longer one is
    /// read to its end while only its first [`HEAD`] octets and its last octet before LF
    /// are kept.
    pub async fn read_bounded_line(&mut self, max: usize) -> Result<BoundedLine, IoError> {
        let mut line = Vec::new();
        let mut too_long = false;
        // the octet before the current buffer's first, for a CR just before a chunk's LF
        let mut last = 0u8;
        loop {
            if self.fill().await? == 0 {
                return Ok(BoundedLine::Closed);
            }
            let buf = self.reader.buffer();
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if !too_long {
                if line.len() + take > max {
                    too_long = true;
                    // keep the head only: the rest is dropped as it comes
                    let room = HEAD.saturating_sub(line.len());
                    line.extend_from_slice(&buf[..take.min(room)]);
                    line.truncate(HEAD);
                    line.shrink_to_fit();
                } else {
                    line.extend_from_slice(&buf[..take]);
                }
            }
            let crlf = done
                && if take >= 2 {
                    buf[take - 2] == b'\r'
                } else {
                    last == b'\r'
                };
            last = buf[take - 1];
            self.reader.consume(take);
            if done {
                return Ok(if too_long {
                    BoundedLine::TooLong { head: line, crlf }
                } else {
                    BoundedLine::Complete(line)
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

    /// The connection's `tls-exporter` channel binding (TLS 1.3 only), for SCRAM -PLUS.
    pub fn tls_exporter(&self) -> Option<[u8; 32]> {
        self.reader.get_ref().tls_exporter()
    }

    /// Sends the last reply of the old stream (STARTTLS's or COMPRESS's go-ahead), then
    /// drops what the client sent ahead of the new one; `None` when it cannot be sent.
    async fn go_ahead(&mut self, go_ahead: &str, what: &str) -> Option<()> {
        self.reply(go_ahead);
        self.flush().await.ok()?;
        let dropped = self.discard_buffered();
        if dropped > 0 {
            tracing::warn!(octets = dropped, "discarded plaintext sent ahead of {what}");
        }
        Some(())
    }

    /// Whether the client has sent input that no read has taken yet.
    pub fn has_buffered_input(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        self.reader.get_ref().is_compressed()
    }

    /// IMAP COMPRESS=DEFLATE (RFC 4978): sends `go_ahead` (the tagged OK) as the last
    /// plaintext, then everything in both directions is raw DEFLATE
    /// ([`crate::compress`]). The caller refuses the command when input is already
    /// buffered (the client should have waited for the OK, and what it sent ahead was not
    /// compressed); were any left it would be dropped, as at STARTTLS. Keeps the read
    /// buffer's size, the idle timeout and the deadline. `None` when the OK cannot be
    /// sent; the connection is then done.
    pub async fn start_compress(mut self, go_ahead: &str) -> Option<LineIo> {
        self.go_ahead(go_ahead, "COMPRESS").await?;
        let (idle, capacity, deadline) = (self.idle, self.capacity, self.deadline);
        let stream = MaybeTls::Deflate(Box::new(crate::compress::Deflate::new(self.into_stream())));
        let mut io = LineIo::with_buffer(stream, idle, capacity);
        io.deadline = deadline;
        Some(io)
    }

    /// STARTTLS / STLS: sends the protocol's go-ahead (`220 2.0.0 Ready to start TLS`,
    /// `+OK begin TLS negotiation`, …), drops the input the client sent ahead (it was not
    /// protected by TLS: the command-injection class of attacks), then does the handshake.
    /// The new `LineIo` keeps the read buffer's size, the idle timeout and the deadline.
    /// `None` when the go-ahead cannot be sent or the handshake fails; the connection is
    /// then done.
    pub async fn start_tls(mut self, go_ahead: &str, acceptor: &TlsAcceptor) -> Option<LineIo> {
        self.go_ahead(go_ahead, "the TLS handshake").await?;
        let (idle, capacity, deadline) = (self.idle, self.capacity, self.deadline);
        let MaybeTls::Plain(tcp) = self.into_stream() else {
            return None;
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => {
                let stream = MaybeTls::Tls(Box::new(stream.into()));
                let mut io = LineIo::with_buffer(stream, idle, capacity);
                io.deadline = deadline;
                Some(io)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A LineIo over a loopback connection, and the client's end.
    async fn pair(idle: Duration) -> (LineIo, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (LineIo::new(MaybeTls::Plain(server), idle), client)
    }

    #[tokio::test]
    async fn a_long_line_keeps_its_head_and_how_it_ended() {
        let (mut io, mut client) = pair(Duration::from_secs(5)).await;
        let long = format!("AUTH PLAIN {}\r\n", "x".repeat(100_000));
        let input = format!("{long}short\r\n{}\nend\n\r\n", "y".repeat(40_000));
        client.write_all(input.as_bytes()).await.expect("write");
        drop(client);
        match io.read_bounded_line(100).await.expect("read") {
            BoundedLine::TooLong { head, crlf } => {
                assert_eq!(head, b"AUTH PLAIN xxxxx");
                assert!(crlf);
            }
            _ => panic!("expected a long line"),
        }
        assert!(matches!(io.read_line(100).await, Ok(Line::Complete(l)) if l == b"short\r\n"));
        match io.read_bounded_line(100).await.expect("read") {
            BoundedLine::TooLong { crlf, .. } => assert!(!crlf, "bare LF"),
            _ => panic!("expected a long line"),
        }
        assert!(matches!(io.read_line(100).await, Ok(Line::Complete(l)) if l == b"end\n"));
        assert!(matches!(io.read_line(100).await, Ok(Line::Complete(l)) if l == b"\r\n"));
        assert!(matches!(io.read_line(100).await, Ok(Line::Closed)));
    }

    #[tokio::test]
    async fn a_crlf_split_between_two_reads_is_a_crlf() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        // reads of 8 octets: the CR ends the first, the LF starts the second
        let mut io = LineIo::with_buffer(MaybeTls::Plain(server), Duration::from_secs(5), 8);
        client
            .write_all(b"aaaaaaa\r\nbbbbbbb\n")
            .await
            .expect("write");
        drop(client);
        assert!(matches!(
            io.read_bounded_line(4).await,
            Ok(BoundedLine::TooLong { crlf: true, .. })
        ));
        assert!(matches!(
            io.read_bounded_line(4).await,
            Ok(BoundedLine::TooLong { crlf: false, .. })
        ));
    }

    #[tokio::test]
    async fn the_deadline_bounds_a_dribbled_line() {
        let (mut io, mut client) = pair(Duration::from_secs(30)).await;
        io.set_deadline(Some(Instant::now() + Duration::from_millis(300)));
        let writer = tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let started = Instant::now();
        assert!(matches!(io.read_line(1000).await, Err(IoError::Timeout)));
        assert!(io.deadline_passed());
        assert!(started.elapsed() < Duration::from_secs(5));
        writer.abort();
        io.set_deadline(None);
        assert!(!io.deadline_passed());
    }

    #[tokio::test]
    async fn starttls_keeps_the_buffer_size_and_the_timeouts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tls = crate::TlsSetup::load_or_generate(
            &estafeta_config::TlsConfig::default(),
            "localhost",
            dir.path(),
        )
        .expect("tls");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let mut plain = BufReader::new(tcp);
            let mut go_ahead = String::new();
            plain.read_line(&mut go_ahead).await.expect("go-ahead");
            assert_eq!(go_ahead, "220 go ahead\r\n");
            let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
            let connector = crate::client_tls::connector(None).expect("connector");
            let mut tls = connector
                .connect(name, plain.into_inner())
                .await
                .expect("handshake");
            tls.write_all(b"over TLS\r\n").await.expect("write");
            tls.write_all(&[b'x'; 10_000]).await.expect("write");
            tls.flush().await.expect("flush");
            tls
        });
        let (server, _) = listener.accept().await.expect("accept");
        let idle = Duration::from_secs(7);
        let mut io = LineIo::with_buffer(MaybeTls::Plain(server), idle, 4 * 1024);
        let deadline = Instant::now() + Duration::from_secs(60);
        io.set_deadline(Some(deadline));
        let mut io = io
            .start_tls("220 go ahead", &tls.acceptor)
            .await
            .expect("TLS up");
        assert!(io.tls_info().is_some());
        assert_eq!(io.read_buffer(), 4 * 1024, "the protocol's buffer size");
        assert_eq!(io.idle_timeout(), idle);
        assert_eq!(io.deadline, Some(deadline));
        assert!(matches!(io.read_line(100).await, Ok(Line::Complete(l)) if l == b"over TLS\r\n"));
        // the reader really reads in pieces of that size
        let mut pieces = Vec::new();
        let mut total = 0;
        while total < 10_000 {
            let n = io.reader.fill_buf().await.expect("read").len();
            assert!(n > 0, "the client sent 10,000 octets");
            pieces.push(n);
            io.reader.consume(n);
            total += n;
        }
        assert!(pieces.iter().all(|&n| n <= 4 * 1024), "{pieces:?}");
        drop(client.await.expect("client"));
    }
}
