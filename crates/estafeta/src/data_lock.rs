//! The data directory's lock: `serve` holds `estafeta.lock` in it (an exclusive `flock`,
//! released by the kernel however the process ends) for as long as it runs, with its
//! process id written inside, then the address of each SMTP listener once bound. A
//! second `serve` on the same data, and a `restore` while the server runs, are refused
//! with that id instead of corrupting what the first uses; `sendmail` finds the running
//! server's SMTP listener there ([`running`]).

use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::failure::Failure;

const NAME: &str = "estafeta.lock";

/// Held while it lives.
pub struct DataLock {
    file: std::fs::File,
}

impl DataLock {
    /// Writes the SMTP listeners' addresses after the process id, for `sendmail`.
    pub fn announce_smtp(&mut self, listeners: &[SocketAddr]) {
        let mut text = String::new();
        for at in listeners {
            text.push_str(&format!("smtp {at}\n"));
        }
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.sync_data();
    }
}

/// The server running on `dir`, as its lock file tells: its SMTP listeners' addresses
/// (none yet while it starts). `None` when no `serve` holds the lock.
pub fn running(dir: &Path) -> Option<Vec<SocketAddr>> {
    let mut file = std::fs::File::open(dir.join(NAME)).ok()?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.strip_prefix("smtp "))
            .filter_map(|a| a.trim().parse().ok())
            .collect(),
    )
}

/// Takes the lock of `dir` for `what` (said in the refusal), or says who holds it.
pub fn take(dir: &Path, what: &str) -> Result<DataLock, Failure> {
    let path = dir.join(NAME);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        // the first line is the process id; the listeners follow it
        let holder = holder.lines().next().unwrap_or_default().trim();
        let who = match holder.is_empty() {
            true => String::new(),
            false => format!(" (process {holder})"),
        };
        return Err(Failure::new(format!(
            "estafeta serve is running on the data directory {}{who}: stop it before {what}",
            dir.display()
        )));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(DataLock { file })
}
