//! The content of one message while it arrives, and the memory it may take.
//!
//! A message is kept in memory up to [`SPILL_AT`] octets; beyond that it goes to an
//! unlinked temporary file in the spool directory (`<data_dir>/spool`), written in pieces
//! of [`FLUSH_AT`]. So a thousand sessions sending 25 MB each hold well under a MiB each
//! while their data arrives, not 25 MB.
//!
//! When the message is complete it is read back once, into the one buffer the store
//! takes, with [`PREFIX_ROOM`] octets to spare for the headers we put in front (no second
//! copy of the message). Before that, the session waits for its share of the process's
//! [`BodyBudget`]: the messages being handed to the store at once hold at most
//! [`BODY_BUDGET`] octets between them (a larger message alone takes all of it), so
//! concurrent acceptances of large messages wait for each other instead of adding up.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Octets of a message kept in memory before it goes to a file.
pub const SPILL_AT: usize = 256 * 1024;
/// Octets gathered in memory between writes to the file.
const FLUSH_AT: usize = 64 * 1024;
/// Spare capacity in front of the content for the headers we add.
pub const PREFIX_ROOM: usize = 4096;
/// Octets of messages the process holds in memory for the store at one time.
pub const BODY_BUDGET: usize = 256 * 1024 * 1024;
const UNIT: usize = 1024;

/// The content of one message so far.
pub struct Spool {
    dir: PathBuf,
    memory: Vec<u8>,
    file: Option<tokio::fs::File>,
    on_file: usize,
    failed: Option<std::io::Error>,
}

impl Spool {
    pub fn new(dir: PathBuf) -> Spool {
        Spool {
            dir,
            memory: Vec::new(),
            file: None,
            on_file: 0,
            failed: None,
        }
    }

    pub fn len(&self) -> usize {
        self.on_file + self.memory.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `bytes`. A failure to write the file is kept for [`Spool::into_bytes`] to
    /// report; the rest of the message is then dropped as it comes.
    pub async fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.memory.extend_from_slice(bytes);
        let limit = if self.file.is_some() {
            FLUSH_AT
        } else {
            SPILL_AT
        };
        if self.memory.len() >= limit
            && let Err(e) = self.flush().await
        {
            tracing::error!(dir = %self.dir.display(), error = %e, "cannot write the spool file");
            self.failed = Some(e);
            self.memory = Vec::new();
            self.file = None;
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            let dir = self.dir.clone();
            let file = tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                tempfile::tempfile_in(&dir)
            })
            .await
            .map_err(std::io::Error::other)??;
            self.file = Some(tokio::fs::File::from_std(file));
        }
        if let Some(file) = &mut self.file {
            file.write_all(&self.memory).await?;
            self.on_file += self.memory.len();
            self.memory.clear();
        }
        Ok(())
    }

    /// Forgets the content (a refused message).
    pub fn clear(&mut self) {
        *self = Spool::new(std::mem::take(&mut self.dir));
    }

    /// The whole content in one buffer with [`PREFIX_ROOM`] octets of spare capacity.
    pub async fn into_bytes(mut self) -> std::io::Result<Vec<u8>> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let Some(mut file) = self.file.take() else {
            let mut out = self.memory;
            out.reserve_exact(PREFIX_ROOM);
            return Ok(out);
        };
        file.flush().await?;
        file.seek(SeekFrom::Start(0)).await?;
        let mut out = Vec::with_capacity(self.len() + PREFIX_ROOM);
        (&mut file)
            .take(self.on_file as u64)
            .read_to_end(&mut out)
            .await?;
        if out.len() != self.on_file {
            return Err(std::io::Error::other(
                "the spool file is shorter than written",
            ));
        }
        out.extend_from_slice(&self.memory);
        Ok(out)
    }
}

/// The process's budget of message octets held for the store at one time.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl Default for BodyBudget {
    fn default() -> Self {
        BodyBudget(Arc::new(Semaphore::new(BODY_BUDGET / UNIT)))
    }
}

impl BodyBudget {
    /// Waits until `octets` (at most the whole budget) are free, and holds them.
    pub async fn reserve(&self, octets: usize) -> Option<SemaphorePermit<'_>> {
        let units = octets.div_ceil(UNIT).clamp(1, BODY_BUDGET / UNIT);
        self.0.acquire_many(units as u32).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_stays_in_memory_large_goes_to_a_file_and_comes_back_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let mut small = Spool::new(dir.path().join("spool"));
        small.push(b"Subject: hi\r\n\r\nbody\r\n").await;
        assert!(small.file.is_none());
        let bytes = small.into_bytes().await.expect("bytes");
        assert_eq!(bytes, b"Subject: hi\r\n\r\nbody\r\n");
        assert!(bytes.capacity() - bytes.len() >= PREFIX_ROOM);

        let mut large = Spool::new(dir.path().join("spool"));
        let line: Vec<u8> = (0..998u32)
            .map(|i| b'a' + (i % 26) as u8)
            .chain(*b"\r\n")
            .collect();
        for _ in 0..3000 {
            large.push(&line).await;
        }
        assert!(large.file.is_some());
        assert!(large.memory.len() < FLUSH_AT);
        assert_eq!(large.len(), 3000 * 1000);
        let bytes = large.into_bytes().await.expect("bytes");
        assert_eq!(bytes.len(), 3000 * 1000);
        assert!(bytes.chunks(1000).all(|c| c == line.as_slice()));
        assert!(bytes.capacity() - bytes.len() >= PREFIX_ROOM);
        // the file was unlinked at creation: nothing is left in the spool directory
        assert_eq!(
            std::fs::read_dir(dir.path().join("spool"))
                .expect("spool dir")
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn a_spool_that_cannot_be_written_reports_it() {
        let dir = tempfile::tempdir().expect("dir");
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"").expect("file");
        let mut spool = Spool::new(not_a_dir.join("spool"));
        spool.push(&vec![b'a'; SPILL_AT + 1]).await;
        spool.push(b"more").await;
        assert!(spool.into_bytes().await.is_err());
    }
}
