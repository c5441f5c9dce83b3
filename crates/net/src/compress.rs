//! COMPRESS=DEFLATE (RFC 4978) under a connection: raw DEFLATE (RFC 1951, no zlib
//! header) in both directions over the plaintext or TLS stream below it, with a sync
//! flush at every flush so that the peer can read each reply as soon as it is sent.
//!
//! The codec is flate2's raw `Compress`/`Decompress` on its default miniz_oxide backend
//! (pure Rust, already built for mail-auth): async-compression's tokio adapters would
//! also do, but they own their buffers and keep the compressor for the stream's life,
//! and both of the bounds below need the codec's calls in our hands.
//!
//! Bounds (hostile input is the normal case):
//! - **Decompression bombs**: inflating writes into the buffer the reader above passes
//!   in (the line reader's 4 KiB), never more; compressed input is read [`INPUT`] octets
//!   at a time. A few KiB that inflate to gigabytes are therefore pulled through a few KiB
//!   at a time, and the line and literal limits of the protocol above apply to the
//!   inflated octets as they come.
//! - **Corrupt input** is an `InvalidData` error from the reader: the session ends (it is
//!   logged here, once), nothing panics.
//! - **Memory**: the inflate state (~43 KiB: the 32 KiB window the client's compressor
//!   may refer back into, and its tables) lives as long as the connection. The deflate
//!   state (~310 KiB in miniz_oxide, which has no smaller window or hash settings) lives
//!   only while replies are being written: it is made for the first octet after a flush
//!   and dropped at the flush, after the sync flush has emitted all it holds. A sync
//!   flush ends at a byte boundary with the stream open, so a fresh compressor continues
//!   it validly; it only cannot refer back to earlier replies, which costs some ratio on
//!   small replies (measured in docs/performance.md). An idle compressed connection thus
//!   holds the inflate state and nothing else: no input buffer (released while waiting),
//!   no output buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream::MaybeTls;

/// Compressed octets read from the peer at a time.
pub const INPUT: usize = 4 * 1024;
/// Compressed output kept before a write waits for the peer to take some.
const OUTPUT_HIGH: usize = 32 * 1024;
/// Uncompressed octets taken per write call, which bounds the output one call makes.
const WRITE_CHUNK: usize = 16 * 1024;
/// The compression level: zlib's default, a good ratio for text at modest CPU cost (the
/// level does not change the memory the compressor holds).
const LEVEL: u32 = 6;

/// A connection whose traffic is raw DEFLATE in both directions.
pub struct Deflate {
    inner: MaybeTls,
    inflate: Inflater,
    /// Compressed input not yet inflated: `input[start..]`. Empty (and unallocated)
    /// while nothing is waiting.
    input: Vec<u8>,
    start: usize,
    /// The peer ended its stream (a final block), or the connection.
    input_ended: bool,
    /// Present between the first write after a flush and the flush.
    deflate: Option<Compress>,
    /// Compressed output not yet written: `output[sent..]`.
    output: Vec<u8>,
    sent: usize,
    /// Written to since the last sync flush.
    dirty: bool,
}

impl Deflate {
    pub fn new(inner: MaybeTls) -> Deflate {
        Deflate {
            inner,
            inflate: Inflater::default(),
            input: Vec::new(),
            start: 0,
            input_ended: false,
            deflate: None,
            output: Vec::new(),
            sent: 0,
            dirty: false,
        }
    }

    /// The connection below.
    pub fn get_ref(&self) -> &MaybeTls {
        &self.inner
    }

    /// Writes the pending compressed output to the connection below.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.output.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.output[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.output.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Runs the compressor over `input` (all of it) with `flush`, into `output`.
    fn deflate(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<()> {
        let c = self
            .deflate
            .get_or_insert_with(|| Compress::new(Compression::new(LEVEL), false));
        let mut taken = 0;
        loop {
            if self.output.capacity() - self.output.len() < 1024 {
                self.output.reserve(4 * 1024);
            }
            let before = c.total_in();
            c.compress_vec(&input[taken..], &mut self.output, flush)
                .map_err(io::Error::other)?;
            taken += (c.total_in() - before) as usize;
            // done when all is taken and the compressor did not fill the room it had
            if taken == input.len() && self.output.len() < self.output.capacity() {
                return Ok(());
            }
        }
    }
}

/// The client's side of the stream, inflated step by step into the caller's buffer (the
/// reader below uses it, and so does the `imap_deflate` fuzz target).
pub struct Inflater(Decompress);

impl Default for Inflater {
    fn default() -> Self {
        Inflater(Decompress::new(false))
    }
}

impl Inflater {
    /// Inflates from `input` into `out`, never more than `out` holds: (input octets
    /// consumed, output octets produced, whether the stream ended). Corrupt input is an
    /// `InvalidData` error.
    pub fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<(usize, usize, bool)> {
        let (before_in, before_out) = (self.0.total_in(), self.0.total_out());
        let status = self
            .0
            .decompress(input, out, FlushDecompress::None)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok((
            (self.0.total_in() - before_in) as usize,
            (self.0.total_out() - before_out) as usize,
            status == Status::StreamEnd,
        ))
    }
}

impl AsyncRead for Deflate {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.input_ended {
                return Poll::Ready(Ok(())); // end of input
            }
            // even with no input left: what was taken may still owe output (a few bits
            // can stand for 258 octets), which comes out one buffer at a time
            let out = buf.initialize_unfilled();
            let (used, made, end) = match this.inflate.inflate(&this.input[this.start..], out) {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(error = %e, "corrupt DEFLATE data from the client");
                    return Poll::Ready(Err(e));
                }
            };
            this.start += used;
            buf.advance(made);
            if end {
                // RFC 4978 has no end but the connection's: what follows is ignored
                this.input_ended = true;
            }
            if made > 0 || end {
                return Poll::Ready(Ok(()));
            }
            if used > 0 && this.start < this.input.len() {
                continue;
            }
            // it needs more input than is here
            this.input.drain(..this.start);
            this.start = 0;
            // room for one more read of compressed input, bounded by INPUT
            let have = this.input.len();
            if have >= INPUT {
                // a symbol never needs this much look-ahead
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "DEFLATE input makes no progress",
                )));
            }
            this.input.resize(INPUT, 0);
            let mut rb = ReadBuf::new(&mut this.input[have..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.input.truncate(have + n);
            match polled {
                Poll::Pending => {
                    if this.input.is_empty() {
                        // waiting (IDLE, between commands): hold no buffer meanwhile
                        this.input = Vec::new();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if n == 0 => {
                    this.input_ended = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

impl AsyncWrite for Deflate {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.output.len() - this.sent >= OUTPUT_HIGH {
            ready!(this.poll_drain(cx))?;
        }
        let take = buf.len().min(WRITE_CHUNK);
        this.deflate(&buf[..take], FlushCompress::None)?;
        this.dirty |= take > 0;
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.dirty {
            this.deflate(&[], FlushCompress::Sync)?;
            this.dirty = false;
            // everything it held is in `output`, ending at a byte boundary: a new
            // compressor continues the stream, so this one's ~310 KiB need not wait
            this.deflate = None;
        }
        ready!(this.poll_drain(cx))?;
        if this.output.capacity() > 0 {
            this.output = Vec::new();
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (Deflate, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (Deflate::new(MaybeTls::Plain(server)), client)
    }

    fn deflate_all(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 1024);
        let mut taken = 0;
        loop {
            out.reserve(64 * 1024);
            let before = c.total_in();
            c.compress_vec(&data[taken..], &mut out, FlushCompress::Sync)
                .expect("deflate");
            taken += (c.total_in() - before) as usize;
            if taken == data.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn replies_are_readable_at_each_flush_across_compressors() {
        let (mut server, mut client) = pair().await;
        let mut inflate = Inflater::default();
        for round in 0..3 {
            let text = format!("* {round} EXISTS\r\n").repeat(100);
            server.write_all(text.as_bytes()).await.expect("write");
            server.flush().await.expect("flush");
            assert!(server.deflate.is_none(), "released at the flush");
            // everything of the round is readable now, without closing anything
            let mut got = Vec::new();
            let mut raw = vec![0u8; 64 * 1024];
            while got.len() < text.len() {
                let n = client.read(&mut raw).await.expect("read");
                assert!(n > 0);
                let mut out = vec![0u8; 64 * 1024];
                let (used, made, _) = inflate.inflate(&raw[..n], &mut out).expect("ok");
                assert_eq!(used, n);
                got.extend_from_slice(&out[..made]);
            }
            assert_eq!(got, text.as_bytes());
        }
    }

    #[tokio::test]
    async fn a_bomb_is_read_in_small_pieces() {
        let (mut server, mut client) = pair().await;
        let mut c = Compress::new(Compression::best(), false);
        // 64 MiB of one octet: about 64 KiB compressed
        let block = vec![b'x'; 1024 * 1024];
        let mut bomb = Vec::new();
        for _ in 0..64 {
            bomb.extend(deflate_all(&mut c, &block));
        }
        assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
        let writer = tokio::spawn(async move {
            client.write_all(&bomb).await.expect("write");
            client
        });
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 * 1024 {
            let n = server.read(&mut buf).await.expect("read");
            assert!(n > 0 && n <= 4096);
            total += n;
            assert!(server.input.capacity() <= INPUT);
        }
        drop(writer.await.expect("writer"));
    }

    #[tokio::test]
    async fn corrupt_input_is_an_error_and_a_close_is_the_end() {
        let (mut server, mut client) = pair().await;
        // block type 3 is reserved: invalid at once
        client.write_all(&[0xff; 16]).await.expect("write");
        let mut buf = [0u8; 64];
        let e = server.read(&mut buf).await.expect_err("corrupt");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);

        let (mut server, client) = pair().await;
        drop(client);
        assert_eq!(server.read(&mut buf).await.expect("eof"), 0);
    }
}
