//! Removing `Authentication-Results:` fields that claim our authserv-id (RFC 8601 §5): a
//! sender could otherwise write "dkim=pass" in our name. The walk covers the header
//! section only (it ends at the first empty line, or at the end of a message without a
//! body), once, in linear time; fields of other authserv-ids stay as they are.

/// Removes from `message`'s header section every `Authentication-Results:` field whose
/// authserv-id is `hostname` (compared case-insensitively); returns how many went.
pub fn remove_forged_results(message: &mut Vec<u8>, hostname: &str) -> usize {
    // one pass: kept fields are moved down over removed ones (never one removal per
    // field, which would move the rest of the message each time)
    let (mut read, mut write, mut removed) = (0, 0, 0);
    while read < message.len() {
        let end = field_end(message, read);
        let field = &message[read..end];
        if field == b"\r\n" || field == b"\n" {
            break;
        }
        if claims(field, hostname) {
            removed += 1;
        } else {
            message.copy_within(read..end, write);
            write += end - read;
        }
        read = end;
    }
    if removed > 0 {
        let rest = message.len() - read;
        message.copy_within(read.., write);
        message.truncate(write + rest);
    }
    removed
}

/// Where the field starting at `start` ends: after its last line's LF (continuation lines
/// start with a space or a tab), or at the end of the message. The empty line that ends
/// the header section is a line of its own, even when the body's first line starts with
/// white space.
fn field_end(message: &[u8], start: usize) -> usize {
    let rest = &message[start..];
    if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
        return start + if rest[0] == b'\r' { 2 } else { 1 };
    }
    let mut at = start;
    loop {
        match message[at..].iter().position(|&b| b == b'\n') {
            None => return message.len(),
            Some(lf) => at += lf + 1,
        }
        if at >= message.len() || !matches!(message[at], b' ' | b'\t') || at == start {
            return at;
        }
    }
}

/// Whether `field` is an `Authentication-Results:` field naming `hostname` as authserv-id
/// (after optional white space and one comment).
fn claims(field: &[u8], hostname: &str) -> bool {
    const NAME: &[u8] = b"authentication-results:";
    if field.len() < NAME.len() || !field[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return false;
    }
    let value = String::from_utf8_lossy(&field[NAME.len()..]);
    let mut value = value.trim_start();
    if let Some(rest) = value.strip_prefix('(') {
        value = rest.split_once(')').map_or("", |(_, r)| r).trim_start();
    }
    let id = value
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    id.eq_ignore_ascii_case(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ours_and_only_in_the_header() {
        let mut m = b"Authentication-Results: MX.test;\r\n\tdkim=pass\r\n\
Subject: hi\r\n\
Authentication-Results: other.test; spf=fail\r\n\
authentication-results: (c) mx.test 1; dmarc=pass\r\n\
\r\n\
Authentication-Results: mx.test; body stays\r\n"
            .to_vec();
        assert_eq!(remove_forged_results(&mut m, "mx.test"), 2);
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "Subject: hi\r\nAuthentication-Results: other.test; spf=fail\r\n\r\n\
Authentication-Results: mx.test; body stays\r\n"
        );
        let mut no_body = b"Authentication-Results: mx.test; x".to_vec();
        assert_eq!(remove_forged_results(&mut no_body, "mx.test"), 1);
        assert!(no_body.is_empty());
        // a body whose first line starts with white space is still the body
        let mut indented =
            b"Subject: a\r\n\r\n indented\r\nAuthentication-Results: mx.test; x\r\n".to_vec();
        assert_eq!(remove_forged_results(&mut indented, "mx.test"), 0);
        let mut not_ours = b"Authentication-Results: mx.test.evil; x\r\n\r\n".to_vec();
        assert_eq!(remove_forged_results(&mut not_ours, "mx.test"), 0);
    }

    /// 200,000 forged fields, interleaved with kept ones, before an 8 MiB body: one pass
    /// (removing them one by one would move the body 200,000 times).
    #[test]
    fn many_forged_fields_cost_one_pass() {
        let mut m = Vec::new();
        for i in 0..200_000 {
            m.extend_from_slice(b"Authentication-Results: mx.test; dkim=pass\r\n");
            if i % 1000 == 0 {
                m.extend_from_slice(format!("X-Kept: {i}\r\n").as_bytes());
            }
        }
        m.extend_from_slice(b"\r\n");
        m.extend(std::iter::repeat_n(b'b', 8 << 20));
        assert_eq!(remove_forged_results(&mut m, "mx.test"), 200_000);
        assert!(m.starts_with(b"X-Kept: 0\r\nX-Kept: 1000\r\n"));
        let kept: usize = (0..200_000)
            .step_by(1000)
            .map(|i| format!("X-Kept: {i}\r\n").len())
            .sum();
        assert_eq!(
            m.len(),
            kept + 2 + (8 << 20),
            "the kept fields and the body"
        );
    }
}
