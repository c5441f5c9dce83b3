//! Stop requests. SIGTERM and SIGINT are caught on a thread of their own, outside the
//! async runtime, so that a stop is noticed even when every runtime worker is busy. The
//! first signal asks for a clean stop (no new connections, SMTP sessions told 421, delivery
//! records what it finished, the store closed) and starts [`STOP_DEADLINE`]; when it
//! passes, or a second signal comes, the process exits at once. Nothing acknowledged is
//! lost by that exit: every SMTP "250" and every IMAP/POP3 change follows a commit on disk.

use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::watch;

use crate::failure::Failure;

/// The longest a stop takes, from the first signal to the end of the process.
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Which signal asked for the stop, once one has.
pub type StopRequest = watch::Receiver<Option<&'static str>>;

/// Starts watching for SIGTERM and SIGINT.
pub fn watch() -> Result<StopRequest, Failure> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Failure::new(format!("cannot watch SIGTERM and SIGINT: {e}")))?;
    let (tx, rx) = watch::channel(None);
    std::thread::Builder::new()
        .name("estafeta-stop".into())
        .spawn(move || {
            let mut asked = false;
            for signal in signals.forever() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                if asked {
                    tracing::warn!(signal = name, "second stop signal: exiting now");
                    exit_now();
                }
                asked = true;
                let _ = tx.send(Some(name));
                std::thread::spawn(|| {
                    std::thread::sleep(STOP_DEADLINE);
                    tracing::warn!(
                        deadline_seconds = STOP_DEADLINE.as_secs(),
                        "the stop took longer than its deadline: exiting now (acknowledged mail is on disk)"
                    );
                    exit_now();
                });
            }
        })
        .map_err(|e| Failure::new(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

fn exit_now() -> ! {
    // SAFETY: _exit ends the process without running destructors or atexit handlers,
    // which other threads may be in the middle of; the store's commits are already on disk.
    unsafe { libc::_exit(1) }
}
