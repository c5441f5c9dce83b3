//! Reading a message after DATA: dot-unstuffing, the end marker `CRLF.CRLF` and nothing
//! else, and the checks that keep SMTP smuggling out. A bare LF or CR anywhere, a NUL, a
//! line over 1000 octets, or too many octets make the whole message refused — after it has
//! been read to its real end, so no part of it can be taken for a second message.

use estafeta_net::{IoError, Line, LineIo as Io};

/// Longest text line, terminator included (RFC 5321 §4.5.3.1.6), counted after the
/// transparency dot is removed…
pub const MAX_TEXT_LINE: usize = 1000;
/// …so one more octet may arrive on the wire.
const MAX_WIRE_LINE: usize = MAX_TEXT_LINE + 1;

#[derive(Debug, Default, PartialEq, Eq)]
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
}

pub enum DataEnd {
    /// The message ended with `CRLF.CRLF`; `body` is empty when `problems.any()`.
    Ended {
        body: Vec<u8>,
        problems: Problems,
    },
    Closed,
}

pub async fn read(io: &mut Io, max_size: usize) -> Result<DataEnd, IoError> {
    let mut body = Vec::with_capacity(8 * 1024);
    let mut p = Problems::default();
    loop {
        let line = match io.read_line(MAX_WIRE_LINE).await? {
            Line::Closed => return Ok(DataEnd::Closed),
            Line::TooLong => {
                p.line_too_long = true;
                body = Vec::new();
                continue;
            }
            Line::Complete(l) => l,
        };
        if line == b".\r\n" {
            break;
        }
        let content = match line.strip_suffix(b"\r\n") {
            Some(c) => c,
            None => {
                // ends in LF without CR, or the connection closed mid-line
                p.bare_lf = true;
                line.strip_suffix(b"\n").unwrap_or(&line)
            }
        };
        if content.contains(&b'\r') {
            p.bare_cr = true;
        }
        if content.contains(&0) {
            p.nul = true;
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        if content.len() + 2 > MAX_TEXT_LINE {
            p.line_too_long = true;
        }
        if p.any() {
            body = Vec::new(); // refused anyway: keep reading to the end, keep nothing
            continue;
        }
        if body.len() + content.len() + 2 > max_size {
            p.too_big = true;
            body = Vec::new();
            continue;
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    Ok(DataEnd::Ended { body, problems: p })
}
