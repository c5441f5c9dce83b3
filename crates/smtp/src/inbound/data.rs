//! Reading a message after DATA, and the content rules DATA and BDAT share.
//!
//! **The end of DATA.** Only `<CR><LF>.<CR><LF>` ends a message: the line `.<CR><LF>`
//! ends it when the line before it ended with CRLF, or when it is the first line after
//! the 354. A bare LF or a bare CR never makes an end, whatever follows it: `<LF>.<CR><LF>`,
//! `<CR>.<CR><LF>`, `<LF>.<LF>`, `<CR><LF>.<LF>` and `<CR><LF>.<CR>` are message content.
//! So the reader and every other SMTP server that follows RFC 5321 §4.1.1.4 agree on
//! where a message ends, and text hidden behind a fake end ("SMTP smuggling") is never
//! read as commands: it stays inside the message.
//!
//! **What is refused.** A message that holds a bare LF (an LF without a CR before it),
//! a bare CR (a CR without an LF after it), a NUL, a line over [`MAX_TEXT_LINE`] octets
//! (terminator included, after dot-unstuffing), or more than `smtp.max_message_size`
//! octets is refused whole, with one reply (`550 5.6.0`, `500 5.5.2` or `552 5.3.4`),
//! and only once it has been read to its real end: none of it is kept or taken as
//! commands, and the session goes on. This is like Postfix's
//! `smtpd_forbid_bare_newline = reject`, without the disconnection. The same rules apply
//! to BDAT chunks ([`Checker`] runs over the bytes of all chunks of a message, so a CR at
//! the end of one chunk and the LF at the start of the next are one CRLF), refused after
//! the LAST chunk.
//!
//! **Bounds.** A line is read up to [`MAX_WIRE_LINE`] octets; a longer one is dropped as
//! it arrives (see `estafeta_net::LineIo`). The body kept is at most `max_size` octets, in
//! a [`Spool`] (memory, then a file); once a problem is found nothing more is kept. The time a message may take is bounded
//! by the caller's deadline (`smtp.data_timeout`).

use estafeta_net::{BoundedLine, IoError, LineIo as Io};

use super::spool::Spool;

/// Longest text line, terminator included (RFC 5321 §4.5.3.1.6), counted after the
/// transparency dot is removed…
pub const MAX_TEXT_LINE: usize = 1000;
/// …so one more octet may arrive on the wire.
const MAX_WIRE_LINE: usize = MAX_TEXT_LINE + 1;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems {
    pub bare_lf: bool,
    pub bare_cr: bool,
    pub nul: bool,
    pub line_too_long: bool,
    pub too_big: bool,
}

impl Problems {
    pub fn any(&self) -> bool {
        self.bare_lf || self.bare_cr || self.nul || self.line_too_long || self.too_big
    }

    /// The reply refusing a message with these problems, or `None` when there are none.
    pub fn refusal(&self, max_size: usize) -> Option<String> {
        Some(if self.too_big {
            format!("552 5.3.4 Message size exceeds fixed maximum message size ({max_size} octets)")
        } else if self.bare_lf || self.bare_cr {
            "550 5.6.0 Message refused: bare CR or LF found; lines must end with CRLF".to_string()
        } else if self.nul {
            "550 5.6.0 Message refused: NUL character in message".to_string()
        } else if self.line_too_long {
            "500 5.5.2 Error: line too long (lines are limited to 1000 octets)".to_string()
        } else {
            return None;
        })
    }
}

/// The content rules over a message's bytes as they arrive, in pieces of any size: bare
/// LF, bare CR, NUL and line length. Constant memory.
#[derive(Debug, Default)]
pub struct Checker {
    pub problems: Problems,
    /// Octets of the current line so far, not counting a CR that may be its terminator.
    line: usize,
    /// The previous octet was a CR (whose LF may still come).
    after_cr: bool,
}

impl Checker {
    pub fn feed(&mut self, bytes: &[u8]) {
        let p = &mut self.problems;
        for &b in bytes {
            if b == b'\n' {
                if !self.after_cr {
                    p.bare_lf = true;
                }
                self.line = 0;
                self.after_cr = false;
                continue;
            }
            if self.after_cr {
                p.bare_cr = true; // a CR with no LF after it: content
                self.line += 1;
            }
            self.after_cr = b == b'\r';
            if !self.after_cr {
                if b == 0 {
                    p.nul = true;
                }
                self.line += 1;
            }
            // the line's text, without CRLF, may be 998 octets
            if self.line > MAX_TEXT_LINE - 2 {
                p.line_too_long = true;
            }
        }
    }

    /// The message ended: a CR at its very end had no LF.
    pub fn finish(&mut self) -> &Problems {
        if self.after_cr {
            self.problems.bare_cr = true;
            self.after_cr = false;
        }
        &self.problems
    }
}

pub enum DataEnd {
    /// The message ended with `CRLF.CRLF`; `body` is empty when `problems.any()`.
    Ended {
        body: Spool,
        problems: Problems,
    },
    Closed,
}

/// Reads the message after the 354, up to its real end.
pub async fn read(io: &mut Io, max_size: usize, mut body: Spool) -> Result<DataEnd, IoError> {
    let mut check = Checker::default();
    // the 354 came after a command line, which ends with CRLF
    let mut after_crlf = true;
    loop {
        let line = match io.read_bounded_line(MAX_WIRE_LINE).await? {
            BoundedLine::Closed => return Ok(DataEnd::Closed),
            BoundedLine::TooLong { crlf, .. } => {
                check.problems.line_too_long = true;
                check.problems.bare_lf |= !crlf;
                after_crlf = crlf;
                body.clear();
                continue;
            }
            BoundedLine::Complete(l) => l,
        };
        if after_crlf && line == b".\r\n" {
            break;
        }
        after_crlf = line.ends_with(b"\r\n");
        // dot-unstuffing (RFC 5321 §4.5.2); `.\r\n` here follows a bare line end, and the
        // message is refused anyway
        let content = line.strip_prefix(b".").unwrap_or(&line);
        check.feed(content);
        if check.problems.any() {
            if !body.is_empty() {
                body.clear(); // refused anyway: keep reading to the end, keep nothing
            }
            continue;
        }
        if body.len() + content.len() > max_size {
            check.problems.too_big = true;
            body.clear();
            continue;
        }
        body.push(content).await;
    }
    let problems = check.finish().clone();
    Ok(DataEnd::Ended { body, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pieces: &[&[u8]]) -> Problems {
        let mut c = Checker::default();
        for p in pieces {
            c.feed(p);
        }
        c.finish().clone()
    }

    #[test]
    fn crlf_split_over_pieces_is_fine() {
        assert!(!check(&[b"Subject: a\r", b"\n\r\nbody\r\n"]).any());
        assert!(!check(&[b"", b"x\r\n"]).any());
    }

    #[test]
    fn bare_line_ends_and_nul() {
        assert!(check(&[b"a\nb\r\n"]).bare_lf);
        assert!(check(&[b"\n"]).bare_lf);
        assert!(check(&[b"a\rb\r\n"]).bare_cr);
        assert!(check(&[b"a\r", b"b\r\n"]).bare_cr);
        assert!(check(&[b"a\r\r\n"]).bare_cr);
        assert!(check(&[b"ends with CR\r"]).bare_cr);
        assert!(check(&[b"a\0b\r\n"]).nul);
    }

    #[test]
    fn line_length_counts_the_terminator() {
        let ok = [vec![b'x'; 998], b"\r\n".to_vec()].concat();
        assert!(!check(&[&ok]).any());
        let long = [vec![b'x'; 999], b"\r\n".to_vec()].concat();
        assert!(check(&[&long]).line_too_long);
        // a long last line without its end counts too
        assert!(check(&[&[b'x'; 1000][..]]).line_too_long);
        assert!(check(&[&[b'x'; 600][..], &[b'x'; 600][..]]).line_too_long);
    }
}
