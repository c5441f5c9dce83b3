//! Writing IMAP data: strings (quoted when they can be, literals when they must), NIL,
//! flag lists.

use estafeta_store::Flags;

/// A string as IMAP wants it: quoted when it is short printable ASCII, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1024 && s.iter().all(|&b| (0x20..0x7f).contains(&b));
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// `{n}` and the octets. A literal may not hold NUL (RFC 9051 §4.3): a NUL of a stored
/// message (a binary part fetched with BODY[]) goes out as 0x80, as Dovecot sends it;
/// BINARY[] gives the octets as they are.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    if s.contains(&0) {
        out.extend(s.iter().map(|&b| if b == 0 { 0x80 } else { b }));
    } else {
        out.extend_from_slice(s);
    }
}

/// A literal that may hold NUL octets: `~{n}` (literal8, RFC 3516) when it does.
pub fn literal8(out: &mut Vec<u8>, s: &[u8]) {
    if s.contains(&0) {
        out.extend_from_slice(format!("~{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    } else {
        literal(out, s);
    }
}

/// A string, or NIL when absent.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `(\Seen $Work)`.
pub fn flag_list(flags: &Flags) -> String {
    format!("({flags})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut out = Vec::new();
        string(&mut out, b"say \"hi\"");
        assert_eq!(out, b"\"say \\\"hi\\\"\"");
        let mut out = Vec::new();
        literal(&mut out, b"a\0b");
        assert_eq!(out, b"{3}\r\na\x80b");
        let mut out = Vec::new();
        literal8(&mut out, b"a\0b");
        assert_eq!(out, b"~{3}\r\na\0b");
        let mut out = Vec::new();
        string(&mut out, "été".as_bytes());
        assert_eq!(out, b"{5}\r\n\xc3\xa9t\xc3\xa9");
        assert_eq!(flag_list(&Flags::parse("\\Seen  $Work")), "($Work \\Seen)");
        assert_eq!(flag_list(&Flags::default()), "()");
    }
}
