//! A message handed over by a local program (`sendmail` on standard input, as PHP's
//! `mail()` and cron do): read to the end of input or a line holding only `.`, line ends
//! made CRLF, the header fields kept as they came (folded lines joined), and the
//! recipients of To/Cc/Bcc for `sendmail -t`.
//!
//! Bounds: at most `max` octets are read (the caller's `smtp.max_message_size`); a line
//! is never longer than what is left of that; recipients are parsed by mail-parser one
//! field at a time. Fuzzed (`local_input`).

use std::io::{BufRead, BufReader, Read};

/// Why a message could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// more than `max` octets
    TooLarge,
    Io(std::io::Error),
}

/// A message read from standard input: its header fields (unfolded lines kept as they
/// came, CRLF) and its body (CRLF).
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Vec<String>,
    pub body: Vec<u8>,
}

/// Reads the message: up to end of input, or to a line holding only `.` unless
/// `ignore_dots`; line ends become CRLF; more than `max` octets is refused.
pub fn read_message(input: impl Read, ignore_dots: bool, max: usize) -> Result<Message, ReadError> {
    let mut reader = BufReader::new(input.take(max as u64 + 1));
    let mut header: Vec<String> = Vec::new();
    let mut body = Vec::new();
    let mut in_header = true;
    let mut total = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(ReadError::Io)?;
        if n == 0 {
            break;
        }
        total += n;
        if total > max {
            return Err(ReadError::TooLarge);
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !ignore_dots && line == b"." {
            break;
        }
        if in_header {
            if line.is_empty() {
                in_header = false;
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            let continues = text.starts_with([' ', '\t']);
            if !continues && !is_field(&text) && header.is_empty() {
                // a first line that is not a field: there is no header, it is all body
                in_header = false;
                body.extend_from_slice(&line);
                body.extend_from_slice(b"\r\n");
                continue;
            }
            match header.last_mut() {
                Some(last) if continues => {
                    last.push_str("\r\n");
                    last.push_str(&text);
                }
                _ => header.push(text),
            }
            continue;
        }
        body.extend_from_slice(&line);
        body.extend_from_slice(b"\r\n");
    }
    Ok(Message { header, body })
}

fn is_field(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    })
}

pub fn field_name(field: &str) -> &str {
    field.split_once(':').map_or("", |(n, _)| n.trim())
}

/// Whether `address` can stand in an SMTP envelope as it is: not empty, at most 254
/// octets, and no angle brackets, spaces or control characters (a bare CR from a
/// malformed header field among them) that would break the command it goes into.
pub fn envelope_address_ok(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 254
        && !address
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

/// The addresses of the To, Cc and Bcc fields (`-t`), in order.
pub fn header_recipients(header: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for field in header {
        let name = field_name(field);
        if !["to", "cc", "bcc"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        let raw = format!("{field}\r\n\r\n");
        let parsed = mail_parser::MessageParser::new().parse_headers(raw.as_bytes());
        let Some(parsed) = parsed else { continue };
        for h in parsed.headers() {
            if let Some(list) = h.value().as_address() {
                for a in list.iter() {
                    if let Some(address) = a.address() {
                        out.push(address.to_string());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_addresses() {
        assert!(envelope_address_ok("bob@example.com"));
        for bad in [
            "",
            "c@z\rtest",
            "a@b\n",
            "a\0@b",
            "a b@c",
            "<a@b>",
            "a@b\u{85}",
            &"x".repeat(255),
        ] {
            assert!(!envelope_address_ok(bad), "{bad:?}");
        }
        // what the fuzzer found: a bare CR inside a Cc: field gives such an address
        let m = read_message(&b"Cc: c@z\rtest\n\nhi\n"[..], true, 1000).expect("read");
        let found = header_recipients(&m.header);
        assert!(
            found
                .iter()
                .all(|a| !envelope_address_ok(a) || !a.contains('\r'))
        );
    }
}
