//! RFC 5322 address lists read from the raw header, the way IMAP's ENVELOPE wants them:
//! display names as they stand (encoded words are the client's to decode), group
//! start and end markers, source routes, and Dovecot's MISSING_MAILBOX / MISSING_DOMAIN
//! placeholders for broken addresses. Written by hand because mail-parser decodes names
//! and drops group markers, which ENVELOPE must keep.

/// One ENVELOPE address: (name, adl, mailbox, host). A group starts with only
/// `mailbox` (the group's name) and ends with all four `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addr {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Atom(Vec<u8>),
    Quoted(Vec<u8>),
    /// A quoted string with no closing quote: the rest of the header.
    Unterminated,
    Comment(Vec<u8>),
    Special(u8),
}

fn tokens(raw: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let mut text = Vec::new();
                i += 1;
                let mut closed = false;
                while i < raw.len() {
                    match raw[i] {
                        b'\\' if i + 1 < raw.len() => {
                            text.push(raw[i + 1]);
                            i += 2;
                        }
                        b'"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        b'\r' | b'\n' => i += 1,
                        other => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                out.push(if closed {
                    Token::Quoted(text)
                } else {
                    Token::Unterminated
                });
            }
            b'(' => {
                let mut depth = 0;
                let mut text = Vec::new();
                while i < raw.len() {
                    match raw[i] {
                        b'\\' if i + 1 < raw.len() => {
                            text.push(raw[i + 1]);
                            i += 1;
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(b'(');
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                            text.push(b')');
                        }
                        b'\r' | b'\n' => {}
                        other => text.push(other),
                    }
                    i += 1;
                }
                out.push(Token::Comment(text));
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' => {
                out.push(Token::Special(c));
                i += 1;
            }
            _ => {
                let start = i;
                while i < raw.len()
                    && !matches!(
                        raw[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'"'
                            | b'('
                            | b'<'
                            | b'>'
                            | b'@'
                            | b','
                            | b';'
                            | b':'
                    )
                {
                    i += 1;
                }
                out.push(Token::Atom(raw[start..i].to_vec()));
            }
        }
    }
    out
}

/// The address list of a header value.
pub fn parse_list(raw: &[u8]) -> Vec<Addr> {
    let toks = tokens(raw);
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < toks.len() {
        // a phrase: words up to something that says what they were
        let mut phrase: Vec<Vec<u8>> = Vec::new();
        let mut comment: Option<Vec<u8>> = None;
        let mut broken = false;
        while let Some(t) = toks.get(i) {
            match t {
                Token::Atom(a) | Token::Quoted(a) => phrase.push(a.clone()),
                Token::Unterminated => broken = true,
                Token::Comment(c) => {
                    comment.get_or_insert_with(|| c.clone());
                }
                Token::Special(_) => break,
            }
            i += 1;
        }
        match toks.get(i) {
            Some(Token::Special(b':')) if !in_group => {
                i += 1;
                in_group = true;
                out.push(Addr {
                    mailbox: Some(phrase.join(&b' ')),
                    ..Addr::default()
                });
            }
            Some(Token::Special(b'<')) => {
                i += 1;
                let (mut addr, next) = angle_addr(&toks, i);
                i = next;
                addr.name = (!phrase.is_empty()).then(|| phrase.join(&b' '));
                out.push(addr);
                i = skip_to_separator(&toks, i);
            }
            Some(Token::Special(b'@')) => {
                i += 1;
                let (host, next) = domain(&toks, i);
                i = next;
                // a comment after the address names it when nothing else does
                while let Some(Token::Comment(c)) = toks.get(i) {
                    comment.get_or_insert_with(|| c.clone());
                    i += 1;
                }
                out.push(Addr {
                    name: comment,
                    adl: None,
                    mailbox: Some(phrase.concat()),
                    host: Some(host.unwrap_or_else(|| MISSING_DOMAIN.to_vec())),
                });
                i = skip_to_separator(&toks, i);
            }
            _ => {
                if broken {
                    out.push(missing());
                } else if !phrase.is_empty() {
                    out.push(Addr {
                        name: None,
                        adl: None,
                        mailbox: Some(phrase.concat()),
                        host: Some(MISSING_DOMAIN.to_vec()),
                    });
                }
            }
        }
        match toks.get(i) {
            Some(Token::Special(b';')) => {
                i += 1;
                if in_group {
                    in_group = false;
                    out.push(Addr::default());
                }
            }
            Some(Token::Special(_)) => i += 1,
            _ => {}
        }
    }
    if in_group {
        out.push(Addr::default());
    }
    out
}

fn missing() -> Addr {
    Addr {
        name: None,
        adl: None,
        mailbox: Some(MISSING_MAILBOX.to_vec()),
        host: Some(MISSING_DOMAIN.to_vec()),
    }
}

/// After `<`: an optional source route, local part, `@`, domain, `>`.
fn angle_addr(toks: &[Token], mut i: usize) -> (Addr, usize) {
    let mut adl = None;
    if let Some(Token::Special(b'@')) = toks.get(i) {
        let mut route = Vec::new();
        while let Some(t) = toks.get(i) {
            match t {
                Token::Special(b':') => {
                    i += 1;
                    break;
                }
                Token::Special(b'>') => break,
                Token::Special(c) => route.push(*c),
                Token::Atom(a) | Token::Quoted(a) => route.extend_from_slice(a),
                _ => {}
            }
            i += 1;
        }
        adl = Some(route);
    }
    let mut local = Vec::new();
    while let Some(Token::Atom(a) | Token::Quoted(a)) = toks.get(i) {
        local.extend_from_slice(a);
        i += 1;
    }
    let mut host = None;
    if let Some(Token::Special(b'@')) = toks.get(i) {
        let (h, next) = domain(toks, i + 1);
        host = h;
        i = next;
    }
    if let Some(Token::Special(b'>')) = toks.get(i) {
        i += 1;
    }
    let addr = if local.is_empty() && host.is_none() {
        // `<>`: the null address
        Addr {
            mailbox: Some(MISSING_MAILBOX.to_vec()),
            host: Some(MISSING_DOMAIN.to_vec()),
            ..Addr::default()
        }
    } else {
        Addr {
            name: None,
            adl,
            mailbox: Some(if local.is_empty() {
                MISSING_MAILBOX.to_vec()
            } else {
                local
            }),
            host: Some(host.unwrap_or_else(|| MISSING_DOMAIN.to_vec())),
        }
    };
    (addr, i)
}

fn domain(toks: &[Token], mut i: usize) -> (Option<Vec<u8>>, usize) {
    let mut d = Vec::new();
    while let Some(Token::Atom(a)) = toks.get(i) {
        d.extend_from_slice(a);
        i += 1;
    }
    ((!d.is_empty()).then_some(d), i)
}

fn skip_to_separator(toks: &[Token], mut i: usize) -> usize {
    while let Some(t) = toks.get(i) {
        if matches!(t, Token::Special(b',' | b';')) {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, adl: Option<&str>, mb: Option<&str>, host: Option<&str>) -> Addr {
        let v = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
        Addr {
            name: v(name),
            adl: v(adl),
            mailbox: v(mb),
            host: v(host),
        }
    }

    #[test]
    fn address_forms() {
        assert_eq!(
            parse_list(b"\"Dan, the manager\" <dan@example.net>, carol@example.com"),
            vec![
                a(
                    Some("Dan, the manager"),
                    None,
                    Some("dan"),
                    Some("example.net")
                ),
                a(None, None, Some("carol"), Some("example.com")),
            ]
        );
        assert_eq!(
            parse_list(b"\"john.doe\"@example.com (John Doe)"),
            vec![a(
                Some("John Doe"),
                None,
                Some("john.doe"),
                Some("example.com")
            )]
        );
        assert_eq!(
            parse_list(b"Team: ann@example.com;, solo@x.example"),
            vec![
                a(None, None, Some("Team"), None),
                a(None, None, Some("ann"), Some("example.com")),
                Addr::default(),
                a(None, None, Some("solo"), Some("x.example")),
            ]
        );
        assert_eq!(
            parse_list(b"<@route.example:user@example.com>"),
            vec![a(
                None,
                Some("@route.example"),
                Some("user"),
                Some("example.com")
            )]
        );
        assert_eq!(
            parse_list(b"broken@"),
            vec![a(None, None, Some("broken"), Some("MISSING_DOMAIN"))]
        );
        assert_eq!(
            parse_list(b"\"Unclosed <x@example.com>"),
            vec![a(
                None,
                None,
                Some("MISSING_MAILBOX"),
                Some("MISSING_DOMAIN")
            )]
        );
        assert_eq!(
            parse_list(b"=?ISO-8859-1?Q?Andr=E9?= <andre@example.be>"),
            vec![a(
                Some("=?ISO-8859-1?Q?Andr=E9?="),
                None,
                Some("andre"),
                Some("example.be")
            )]
        );
        assert!(parse_list(b"").is_empty());
    }
}
