//! How many hops a message has made: its `Received:` header fields (RFC 5321 §6.3, "loop
//! detection"). The inbound server refuses a message that would have more than
//! `smtp.max_hops` of them once it adds its own (`554 5.4.6 Too many hops`), and delivery
//! refuses to send a queued message that has more (the recipients fail with 5.4.6 and
//! the sender gets a report), as Postfix does with `hopcount_limit`.
//!
//! Bounds: only the header section is read, up to its first empty line, never the body;
//! counting stops at the first field past the limit. No allocation.

/// The number of `Received:` fields in the header section of `message`, counted up to
/// `limit + 1` (a larger count is reported as `limit + 1`): enough to say "more than
/// `limit`". Lines may end with CRLF or LF; folded continuation lines are skipped.
pub fn received_fields(message: &[u8], limit: usize) -> usize {
    let mut count = 0;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // the end of the header section
        }
        if is_received(line) {
            count += 1;
            if count > limit {
                break;
            }
        }
    }
    count
}

/// A header field line named `Received` (any case; obsolete white space before the colon
/// allowed, RFC 5322 §4.5).
fn is_received(line: &[u8]) -> bool {
    const NAME: &[u8] = b"received";
    line.len() > NAME.len()
        && line[..NAME.len()].eq_ignore_ascii_case(NAME)
        && line[NAME.len()..]
            .iter()
            .find(|&&b| b != b' ' && b != b'\t')
            == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_header_fields_only() {
        let m = b"Received: from a\r\n\tby b; date\r\nRECEIVED : x\r\nX-Received: no\r\n\
                  Subject: Received: no\r\n\r\nReceived: in the body\r\n";
        assert_eq!(received_fields(m, 50), 2);
        assert_eq!(
            received_fields(b"Received: a\nReceived: b\n\nReceived: c\n", 50),
            2
        );
        assert_eq!(received_fields(b"", 50), 0);
        assert_eq!(received_fields(b"Receivedx: a\r\nReceived\r\n", 50), 0);
    }

    #[test]
    fn stops_past_the_limit() {
        let m = "Received: x\r\n".repeat(1000);
        assert_eq!(received_fields(m.as_bytes(), 50), 51);
        assert_eq!(received_fields(m.as_bytes(), 5000), 1000);
    }
}
