//! Where a command line ends in a literal (`{123}`, `{123+}`, `~{123}`), so the session
//! knows to read that many octets before the command goes on (RFC 9051 §4.3, RFC 7888).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralHeader {
    pub size: u64,
    /// `{n+}`: the client does not wait for a continuation request (LITERAL+).
    pub non_synchronizing: bool,
    /// `~{n}`: a literal8, which may hold NUL octets (BINARY APPEND).
    pub binary: bool,
}

/// The literal announced at the end of `line` (which ends with CRLF or LF), if any.
pub fn literal_at_end(line: &[u8]) -> Option<LiteralHeader> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let mut non_synchronizing = false;
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
        non_synchronizing = true;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let binary = open > 0 && body[open - 1] == b'~';
    Some(LiteralHeader {
        size,
        non_synchronizing,
        binary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals() {
        assert_eq!(
            literal_at_end(b"a APPEND INBOX {310}\r\n"),
            Some(LiteralHeader {
                size: 310,
                non_synchronizing: false,
                binary: false
            })
        );
        assert_eq!(
            literal_at_end(b"a LOGIN {3+}\r\n"),
            Some(LiteralHeader {
                size: 3,
                non_synchronizing: true,
                binary: false
            })
        );
        assert!(literal_at_end(b"a APPEND INBOX ~{5}\r\n").unwrap().binary);
        assert_eq!(literal_at_end(b"a NOOP\r\n"), None);
        assert_eq!(literal_at_end(b"a SELECT {x}\r\n"), None);
        assert_eq!(
            literal_at_end(b"a SELECT {99999999999999999999999}\r\n"),
            None
        );
    }
}
