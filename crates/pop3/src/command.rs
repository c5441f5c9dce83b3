//! POP3 command syntax (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH), parsed by
//! hand: the grammar is a keyword and a few space-separated arguments, and no crate covers
//! it. Kept apart from the session so that it can be fuzzed alone.

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capa,
    Stls,
    User(String),
    Pass(String),
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Retr(u32),
    Top(u32, u32),
    Dele(u32),
    Rset,
    Noop,
    Quit,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown(String),
    Syntax(&'static str),
}

impl ParseError {
    pub fn reply(&self) -> String {
        match self {
            ParseError::Unknown(k) if k.is_empty() => "-ERR empty command".to_string(),
            ParseError::Unknown(k) => format!("-ERR unknown command {k}"),
            ParseError::Syntax(usage) => format!("-ERR syntax: {usage}"),
        }
    }
}

/// Parses one line (with or without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // RFC 1939 §3: keywords and arguments are printable characters; a CR, LF or NUL
    // inside a line would end up in a name, a password or the echo of an unknown keyword
    if line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(ParseError::Syntax("no CR, LF or NUL inside a command"));
    }
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ');
    let keyword = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<&str> = words.collect();
    // PASS takes the rest of the line: passwords may contain spaces (RFC 1939 §7 note).
    if keyword == "PASS" {
        let rest = text.get(5..).unwrap_or("");
        return if text.len() > 4 && !rest.is_empty() {
            Ok(Command::Pass(rest.to_string()))
        } else {
            Err(ParseError::Syntax("PASS password"))
        };
    }
    let none = |c: Command, usage| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax(usage))
        }
    };
    match keyword.as_str() {
        "CAPA" => none(Command::Capa, "CAPA"),
        "STLS" => none(Command::Stls, "STLS"),
        "STAT" => none(Command::Stat, "STAT"),
        "RSET" => none(Command::Rset, "RSET"),
        "NOOP" => none(Command::Noop, "NOOP"),
        "QUIT" => none(Command::Quit, "QUIT"),
        "USER" => match args.as_slice() {
            [name] if !name.is_empty() => Ok(Command::User(name.to_string())),
            _ => Err(ParseError::Syntax("USER name")),
        },
        "AUTH" => match args.as_slice() {
            // bare AUTH lists the mechanisms (RFC 1734 usage some clients keep)
            [] => Ok(Command::Auth {
                mechanism: String::new(),
                initial: None,
            }),
            [m] if !m.is_empty() => Ok(Command::Auth {
                mechanism: m.to_ascii_uppercase(),
                initial: None,
            }),
            [m, i] if !m.is_empty() && !i.is_empty() => Ok(Command::Auth {
                mechanism: m.to_ascii_uppercase(),
                initial: Some(i.to_string()),
            }),
            _ => Err(ParseError::Syntax("AUTH mechanism [initial-response]")),
        },
        "LIST" => optional_number(&args, "LIST [msg]").map(Command::List),
        "UIDL" => optional_number(&args, "UIDL [msg]").map(Command::Uidl),
        "RETR" => one_number(&args, "RETR msg").map(Command::Retr),
        "DELE" => one_number(&args, "DELE msg").map(Command::Dele),
        "TOP" => match args.as_slice() {
            [m, n] => match (number(m), lines(n)) {
                (Some(m), Some(n)) => Ok(Command::Top(m, n)),
                _ => Err(ParseError::Syntax("TOP msg lines")),
            },
            _ => Err(ParseError::Syntax("TOP msg lines")),
        },
        // echoed in the reply: printable ASCII only
        other => Err(ParseError::Unknown(
            other
                .chars()
                .take(16)
                .map(|c| if c.is_ascii_graphic() { c } else { '?' })
                .collect(),
        )),
    }
}

/// A message number: 1 or more, digits only.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n > 0)
}

/// A line count: 0 or more.
fn lines(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn one_number(args: &[&str], usage: &'static str) -> Result<u32, ParseError> {
    match args {
        [n] => number(n).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    }
}

fn optional_number(args: &[&str], usage: &'static str) -> Result<Option<u32>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => number(n).map(Some).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands() {
        assert_eq!(parse(b"capa\r\n"), Ok(Command::Capa));
        assert_eq!(
            parse(b"USER bob@example.com\r\n"),
            Ok(Command::User("bob@example.com".into()))
        );
        assert_eq!(
            parse(b"PASS with spaces  in it\r\n"),
            Ok(Command::Pass("with spaces  in it".into()))
        );
        assert_eq!(parse(b"LIST\r\n"), Ok(Command::List(None)));
        assert_eq!(parse(b"list 3\r\n"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"TOP 1 0\r\n"), Ok(Command::Top(1, 0)));
        assert_eq!(
            parse(b"AUTH plain AGJvYgB4\r\n"),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGJvYgB4".into())
            })
        );
        assert!(matches!(parse(b"RETR 0\r\n"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RETR -1\r\n"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse(b"RETR 99999999999\r\n"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(parse(b"DELE\r\n"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"STAT 1\r\n"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"PASS\r\n"), Err(ParseError::Syntax(_))));
        assert_eq!(
            parse(b"XYZZY\r\n"),
            Err(ParseError::Unknown("XYZZY".into()))
        );
        assert_eq!(parse(b"\r\n"), Err(ParseError::Unknown(String::new())));
        // found by fuzzing: these were echoed into the reply
        for line in [&b"CAPA\r uETR 2\n"[..], b"FDOE\n\r", b"USER a\0b\r\n"] {
            assert!(
                matches!(parse(line), Err(ParseError::Syntax(_))),
                "{line:?}"
            );
        }
        assert_eq!(
            parse("X\x1b[1mÉ\r\n".as_bytes()),
            Err(ParseError::Unknown("X?[1M?".into()))
        );
    }

    proptest! {
        // The fuzz target: any bytes give a command or an error, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn numbers_round_trip(n in 1u32.., l in 0u32..) {
            prop_assert_eq!(parse(format!("RETR {n}\r\n").as_bytes()), Ok(Command::Retr(n)));
            prop_assert_eq!(parse(format!("top {n} {l}").as_bytes()), Ok(Command::Top(n, l)));
            prop_assert_eq!(parse(format!("UIDL {n}").as_bytes()), Ok(Command::Uidl(Some(n))));
        }
    }
}
