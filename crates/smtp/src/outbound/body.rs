//! The message on the wire: line endings made CRLF (a message received by BDAT may hold bare
//! LF or CR), a final CRLF, dot-stuffing and the `CRLF.CRLF` end for DATA; BDAT sends the
//! normalised bytes as they are.

/// Every bare LF and bare CR becomes CRLF; a message that does not end with CRLF gets one
/// (an empty message stays empty).
pub fn normalize_line_endings(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 2);
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// DATA transparency (RFC 5321 §4.5.2): a line starting with `.` gets one more, and the
/// message ends with `.` alone on a line. `normalized` comes from
/// [`normalize_line_endings`].
pub fn dot_stuff(normalized: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(normalized.len() + normalized.len() / 256 + 5);
    let mut line_start = true;
    for &b in normalized {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Whether any octet is outside 7-bit ASCII (then BODY=8BITMIME is declared when offered).
pub fn has_8bit(body: &[u8]) -> bool {
    !body.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings() {
        assert_eq!(normalize_line_endings(b""), b"");
        assert_eq!(normalize_line_endings(b"a\r\nb\r\n"), b"a\r\nb\r\n");
        assert_eq!(normalize_line_endings(b"a\nb\n"), b"a\r\nb\r\n");
        assert_eq!(normalize_line_endings(b"a\rb\r"), b"a\r\nb\r\n");
        assert_eq!(normalize_line_endings(b"a\r\r\nb"), b"a\r\n\r\nb\r\n");
        assert_eq!(
            normalize_line_endings(b"a\n\r\nb\n\n"),
            b"a\r\n\r\nb\r\n\r\n"
        );
        assert_eq!(normalize_line_endings(b"no end"), b"no end\r\n");
        assert_eq!(normalize_line_endings(b"\r"), b"\r\n");
    }

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b"a\r\n"), b"a\r\n.\r\n");
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(
            dot_stuff(b".a\r\nb.\r\n..c\r\n.\r\n"),
            b"..a\r\nb.\r\n...c\r\n..\r\n.\r\n"
        );
    }

    #[test]
    fn eight_bit() {
        assert!(!has_8bit(b"plain ascii\r\n"));
        assert!(has_8bit("caf\u{e9}\r\n".as_bytes()));
    }
}
