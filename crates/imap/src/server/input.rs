//! Reading a command (its lines and the literals they announce) under the session's
//! bounds, so that hostile input costs bounded memory and time:
//!
//! - **Line**: [`MAX_LINE`] octets, literals not counted. A longer line is read to its end,
//!   dropped, and answered `* BAD line too long`.
//! - **Command size**: a command with its literals may hold
//!   [`MAX_UNAUTHENTICATED_COMMAND`] octets before login, and the APPENDLIMIT
//!   (`smtp.max_message_size`) plus [`MAX_LINE`] after. A synchronizing literal
//!   that would go over is refused before the client sends it (`NO [TOOBIG]`, the session
//!   goes on). A non-synchronizing one (`{n+}`) is already on its way: the command gets
//!   `BAD [TOOBIG]` (RFC 7888 §4), then `* BYE` and the connection is closed rather than
//!   reading up to 16 EiB to find the next command.
//! - **Memory**: a literal is read in the read buffer's chunks, and the command grows with
//!   the octets that arrive, never with the size announced: `{4294967296}` followed by
//!   ten octets costs ten octets.
//! - **Time**: between commands a client may wait the idle timeout (30 minutes). From the
//!   first octet of a command, the whole command must arrive within
//!   `imap.command_timeout`; each literal the server accepts adds that much
//!   again plus one second per [`LITERAL_RATE`] octets it announces. A client that
//!   dribbles a command one octet at a time is cut off with `* BYE` when the time is up,
//!   however short the gaps between its octets. The same holds for the line of an
//!   AUTHENTICATE exchange and for IDLE's `DONE`.
//! - **Invalid commands**: each `BAD` (a syntax error, a command of the wrong state, a
//!   line too long) and each literal refused counts; after
//!   `imap.max_bad_commands` of them the session ends with `* BYE Too many
//!   invalid commands`.

use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

use super::*;

/// Longest command line; literals are read apart.
pub(super) const MAX_LINE: usize = 64 * 1024;
/// Largest command before login (literals included).
pub(super) const MAX_UNAUTHENTICATED_COMMAND: u64 = 64 * 1024;
/// The slowest upload a literal is given time for: octets per second.
pub(super) const LITERAL_RATE: u64 = 8 * 1024;

/// What reading a command gave.
pub(super) enum Input {
    /// A complete command, its literals inline.
    Command(Vec<u8>),
    /// Refused while it was read, and answered; counted as a bad command.
    Refused,
    /// The session is over (the client left, or was told why with `* BYE`).
    End(&'static str),
}

/// One line read against a deadline.
pub(super) enum Got {
    Line(Vec<u8>),
    TooLong,
    Closed,
    /// The deadline passed first.
    Late,
}

/// Waits, up to `idle`, until the client has sent something (flushing the replies
/// first). False when it closed the connection. Cancel-safe: nothing is consumed.
pub(super) async fn wait_for_input(io: &mut LineIo, idle: Duration) -> Result<bool, IoError> {
    if !io.reader.buffer().is_empty() {
        return Ok(true);
    }
    io.flush().await?;
    let buf = tokio::time::timeout(idle, io.reader.fill_buf())
        .await
        .map_err(|_| IoError::Timeout)??;
    Ok(!buf.is_empty())
}

/// The tag of a command being read, for a reply to it (`*` when there is none).
fn tag_of(command: &[u8]) -> String {
    let tag = command
        .split(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or(b"*");
    String::from_utf8_lossy(tag).into_owned()
}

impl Session {
    /// Reads one line of at most `max` octets, giving up at `deadline`.
    pub(super) async fn line_by(&mut self, max: usize, deadline: Instant) -> Result<Got, IoError> {
        match tokio::time::timeout_at(deadline, self.io().read_line(max)).await {
            Err(_) => Ok(Got::Late),
            Ok(line) => Ok(match line? {
                Line::Complete(l) => Got::Line(l),
                Line::TooLong => Got::TooLong,
                Line::Closed => Got::Closed,
            }),
        }
    }

    /// When the command now starting must have arrived.
    pub(super) fn command_deadline(&self) -> Instant {
        Instant::now() + self.shared.settings.command_timeout
    }

    /// Tells the client its command took too long, before the session ends.
    pub(super) fn too_slow(&mut self) -> Input {
        self.line("* BYE command not received in time");
        self.ended = Some("command timeout");
        Input::End("command timeout")
    }

    /// Reads one command with its literals.
    pub(super) async fn read_command(&mut self) -> Result<Input, IoError> {
        let idle = self.shared.settings.idle_timeout;
        if !wait_for_input(self.io(), idle).await? {
            return Ok(Input::End("closed"));
        }
        let mut deadline = self.command_deadline();
        let mut command = Vec::new();
        loop {
            let line = match self.line_by(MAX_LINE, deadline).await? {
                Got::Line(l) => l,
                Got::TooLong => {
                    self.bad("*", "line too long");
                    return Ok(Input::Refused);
                }
                Got::Closed => return Ok(Input::End("closed")),
                Got::Late => return Ok(self.too_slow()),
            };
            command.extend_from_slice(&line);
            let Some(lit) = literal_at_end(&line) else {
                return Ok(Input::Command(command));
            };
            // before login a client gets no more than a LOGIN needs
            let cap = if self.user.is_some() {
                self.shared
                    .settings
                    .max_message_size
                    .saturating_add(MAX_LINE as u64)
            } else {
                MAX_UNAUTHENTICATED_COMMAND
            };
            if (command.len() as u64).saturating_add(lit.size) > cap {
                let tag = tag_of(&command);
                let why = format!(
                    "[TOOBIG] literal of {} octets: a command may hold {cap} octets",
                    lit.size
                );
                if lit.non_synchronizing {
                    tracing::info!(size = lit.size, "non-synchronizing literal too large");
                    self.bad(&tag, &why);
                    self.line("* BYE literal too large, closing the connection");
                    return Ok(Input::End("literal too large"));
                }
                self.bad_commands += 1;
                self.no(&tag, &why);
                return Ok(Input::Refused);
            }
            if !lit.non_synchronizing {
                self.line("+ Ready for literal data");
            }
            // the literal gets its own time, on top of what is left
            let transfer = Duration::from_secs(lit.size / LITERAL_RATE);
            deadline += self.shared.settings.command_timeout + transfer;
            // read as the octets come: `command` grows with them, not with the promise
            let read = self.io().read_chunk(lit.size as usize, Some(&mut command));
            match tokio::time::timeout_at(deadline, read).await {
                Err(_) => return Ok(self.too_slow()),
                Ok(r) => {
                    if !r? {
                        return Ok(Input::End("closed"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tag_of;

    #[test]
    fn tags() {
        assert_eq!(tag_of(b"a1 APPEND INBOX {5}\r\n"), "a1");
        assert_eq!(tag_of(b"\r\n"), "*");
        assert_eq!(tag_of(b" x"), "*");
    }
}
