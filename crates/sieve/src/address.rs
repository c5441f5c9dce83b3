//! Addresses: the address parts of RFC 5228 §2.7.4 (`:all`, `:localpart`, `:domain`),
//! the addresses of a header field (mail-parser's RFC 5322 address parser, linear in the
//! field's size, which `max_header_bytes` bounds), and the check of a redirect address.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

use crate::ast::AddrPart;

/// The longest address a redirect may name (RFC 5321 path limit).
pub const MAX_ADDRESS: usize = 254;

/// The `part` of `address` (split at its last `@`).
pub fn part(address: &str, part: AddrPart) -> String {
    match part {
        AddrPart::All => address.to_string(),
        AddrPart::Local => match address.rsplit_once('@') {
            Some((l, _)) => l.to_string(),
            None => address.to_string(),
        },
        AddrPart::Domain => match address.rsplit_once('@') {
            Some((_, d)) => d.to_string(),
            None => String::new(),
        },
    }
}

/// The addresses in a header field's raw value (folded, as in the message).
pub fn addresses_of(raw_value: &[u8]) -> Vec<String> {
    let mut buf = Vec::with_capacity(raw_value.len() + 2);
    buf.push(b' ');
    buf.extend_from_slice(raw_value);
    buf.push(b'\n');
    let mut out = Vec::new();
    let mut push = |a: Option<&str>| {
        if let Some(a) = a.map(str::trim).filter(|a| !a.is_empty()) {
            out.push(a.to_string());
        }
    };
    match MessageStream::new(&buf).parse_address() {
        HeaderValue::Address(Address::List(list)) => {
            for a in &list {
                push(a.address.as_deref());
            }
        }
        HeaderValue::Address(Address::Group(groups)) => {
            for g in &groups {
                for a in &g.addresses {
                    push(a.address.as_deref());
                }
            }
        }
        _ => {}
    }
    out
}

/// `s` as a redirect address: `local@domain`, no white space, control characters or
/// angle brackets, at most [`MAX_ADDRESS`] octets.
pub fn redirect_address(s: &str) -> Option<String> {
    let s = s.trim_matches([' ', '\t']);
    if s.is_empty() || s.len() > MAX_ADDRESS {
        return None;
    }
    if s.chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | '\0'))
    {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
        return None;
    }
    Some(s.to_string())
}

/// Are these the same address (the domain compared without case; the local part too)?
pub fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_lists() {
        assert_eq!(part("a@b.c", AddrPart::Local), "a");
        assert_eq!(part("a@b.c", AddrPart::Domain), "b.c");
        assert_eq!(part("nodomain", AddrPart::Domain), "");
        assert_eq!(
            addresses_of(b" \"Coyote, W.\" <coyote@example.com>, road@runner.org,\r\n\tx@y.z"),
            ["coyote@example.com", "road@runner.org", "x@y.z"]
        );
        assert_eq!(addresses_of(b" friends: a@b.c, d@e.f;"), ["a@b.c", "d@e.f"]);
        assert!(redirect_address("a@b.c").is_some());
        for bad in ["", "a", "@b", "a@", "<a@b>", "a b@c", "a@b\r\n", "a@b,c@d"] {
            assert!(redirect_address(bad).is_none(), "{bad:?}");
        }
        assert!(redirect_address(&format!("{}@b.c", "a".repeat(260))).is_none());
    }
}
