//! Reading one command line (or SASL response) under the session's bounds:
//!
//! - **Length**: a line is read up to the caller's maximum and no further. The session
//!   asks for 12 KiB (its `MAX_AUTH_LINE`); the rest of a longer line is never read, so
//!   however long a line is (10 MB without a line feed), the session holds at most that
//!   much plus the read buffer, answers `-ERR line too long` and closes.
//! - **Time**: between commands a client may wait the idle timeout (10 minutes). From the
//!   first octet of a line, the whole line must arrive within `pop3.command_timeout`, so
//!   a client that sends one octet every few seconds is cut off then, rather than kept
//!   alive by each octet.
//!
//! This reads through `LineIo`'s buffered reader rather than `LineIo::read_line`, which
//! reads a long line to its end before it answers.

use std::time::Duration;

use estafeta_net::{IoError, LineIo};
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

/// One line read against the bounds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// The line with its terminator.
    Line(Vec<u8>),
    /// Longer than allowed; what follows of it was not read.
    TooLong,
    Closed,
    /// The line did not end within the command timeout.
    Late,
}

/// Reads a line of at most `max` octets (terminator included): first waiting up to `idle`
/// for it to start, then up to `budget` for all of it.
pub(crate) async fn read_line(
    io: &mut LineIo,
    max: usize,
    idle: Duration,
    budget: Duration,
) -> Result<Got, IoError> {
    let mut deadline: Option<Instant> = None;
    let mut line = Vec::new();
    loop {
        // replies go out before the server waits for the client, as in `LineIo`
        if io.reader.buffer().is_empty() {
            io.flush().await?;
        }
        let fill = tokio::time::timeout(idle, io.reader.fill_buf());
        let buf = match deadline {
            None => fill.await,
            Some(d) => match tokio::time::timeout_at(d, fill).await {
                Ok(r) => r,
                Err(_) => return Ok(Got::Late),
            },
        }
        .map_err(|_| IoError::Timeout)??;
        if buf.is_empty() {
            return Ok(Got::Closed);
        }
        // the budget runs from the line's first octet
        deadline.get_or_insert_with(|| Instant::now() + budget);
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Ok(Got::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        io.reader.consume(take);
        if done {
            return Ok(Got::Line(line));
        }
    }
}
