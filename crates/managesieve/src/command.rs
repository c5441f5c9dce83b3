//! ManageSieve command syntax (RFC 5804 §4), parsed by hand: no crate parses it, and the
//! grammar is small (atoms, quoted strings, literals, numbers). A command arrives as
//! lines; a line that ends with a literal announcement (`{123+}` or `{123}`) is followed
//! by that many octets and the rest of the command on the next line. [`lex_line`] turns
//! one line into tokens and says whether a literal follows; the session reads the literal
//! (within its bound) and [`parse`] makes the command of all the tokens.
//!
//! Bounds: a line is read within the session's line bound; a quoted string holds at most
//! [`MAX_QUOTED`] octets; a command has at most [`MAX_TOKENS`] tokens; script names are
//! at most [`MAX_NAME`] octets of UTF-8 without control characters (RFC 5804 §1.6).

/// Most octets of a quoted string.
pub const MAX_QUOTED: usize = 1024;
/// Most tokens in one command.
pub const MAX_TOKENS: usize = 8;
/// Most octets of a script name.
pub const MAX_NAME: usize = 128;
/// The largest literal anyone may announce (the session refuses more than the script
/// bound before reading it).
pub const MAX_LITERAL: u64 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An atom or a number, as written.
    Atom(String),
    /// A quoted string or a literal's octets.
    Str(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Authenticate {
        mechanism: String,
        initial: Option<String>,
    },
    StartTls,
    Logout,
    Capability,
    Noop(Option<String>),
    Unauthenticate,
    HaveSpace {
        name: String,
        size: u64,
    },
    PutScript {
        name: String,
        script: Vec<u8>,
    },
    ListScripts,
    SetActive(String),
    GetScript(String),
    DeleteScript(String),
    RenameScript {
        from: String,
        to: String,
    },
    CheckScript(Vec<u8>),
}

/// A literal announced at the end of a line: its length in octets.
pub type Literal = Option<u64>;

/// The tokens of one line (without its CRLF), and the literal announced at its end.
pub fn lex_line(line: &[u8], tokens: &mut Vec<Token>) -> Result<Literal, String> {
    let mut i = 0;
    while i < line.len() {
        if tokens.len() >= MAX_TOKENS {
            return Err("too many arguments".into());
        }
        match line[i] {
            b' ' => i += 1,
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match line.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => match line.get(i + 1) {
                            Some(&c @ (b'"' | b'\\')) => {
                                s.push(c);
                                i += 2;
                            }
                            _ => return Err("bad escape in quoted string".into()),
                        },
                        Some(b'\r' | b'\n' | 0) => {
                            return Err("bad character in quoted string".into());
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                    if s.len() > MAX_QUOTED {
                        return Err("quoted string too long: use a literal".into());
                    }
                }
                tokens.push(Token::Str(s));
            }
            b'{' => {
                let end = line[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .map(|p| p + i)
                    .ok_or("bad literal")?;
                if end + 1 != line.len() {
                    return Err("a literal must end the line".into());
                }
                let inner = &line[i + 1..end];
                let digits = inner.strip_suffix(b"+").unwrap_or(inner);
                if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit)
                {
                    return Err("bad literal length".into());
                }
                let n: u64 = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or("bad literal length")?;
                if n > MAX_LITERAL {
                    return Err("literal too large".into());
                }
                return Ok(Some(n));
            }
            c if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' => {
                let start = i;
                while i < line.len()
                    && (line[i].is_ascii_alphanumeric() || matches!(line[i], b'-' | b'_' | b'.'))
                {
                    i += 1;
                }
                if i - start > 64 {
                    return Err("atom too long".into());
                }
                tokens.push(Token::Atom(
                    String::from_utf8_lossy(&line[start..i]).into_owned(),
                ));
            }
            _ => return Err("unexpected character".into()),
        }
    }
    Ok(None)
}

/// The command of a whole command's tokens.
pub fn parse(tokens: Vec<Token>) -> Result<Command, String> {
    let mut it = tokens.into_iter();
    let Some(Token::Atom(verb)) = it.next() else {
        return Err("expected a command".into());
    };
    let args: Vec<Token> = it.collect();
    let verb = verb.to_ascii_uppercase();
    let arity = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{verb} takes {n} argument{}",
                if n == 1 { "" } else { "s" }
            ))
        }
    };
    Ok(match verb.as_str() {
        "AUTHENTICATE" => {
            if args.is_empty() || args.len() > 2 {
                return Err(
                    "AUTHENTICATE takes a mechanism and an optional initial response".into(),
                );
            }
            Command::Authenticate {
                mechanism: text(&args[0])?,
                initial: args.get(1).map(text).transpose()?,
            }
        }
        "STARTTLS" => {
            arity(0)?;
            Command::StartTls
        }
        "LOGOUT" => {
            arity(0)?;
            Command::Logout
        }
        "CAPABILITY" => {
            arity(0)?;
            Command::Capability
        }
        "UNAUTHENTICATE" => {
            arity(0)?;
            Command::Unauthenticate
        }
        "NOOP" => {
            if args.len() > 1 {
                return Err("NOOP takes at most one argument".into());
            }
            Command::Noop(args.first().map(string).transpose()?)
        }
        "HAVESPACE" => {
            arity(2)?;
            let size = match &args[1] {
                Token::Atom(a) if a.len() <= 19 && a.bytes().all(|c| c.is_ascii_digit()) => {
                    a.parse().map_err(|_| "bad size")?
                }
                _ => return Err("HAVESPACE takes a name and a size".into()),
            };
            Command::HaveSpace {
                name: name(&args[0])?,
                size,
            }
        }
        "PUTSCRIPT" => {
            arity(2)?;
            Command::PutScript {
                name: name(&args[0])?,
                script: bytes(&args[1])?,
            }
        }
        "CHECKSCRIPT" => {
            arity(1)?;
            Command::CheckScript(bytes(&args[0])?)
        }
        "LISTSCRIPTS" => {
            arity(0)?;
            Command::ListScripts
        }
        "SETACTIVE" => {
            arity(1)?;
            // the empty name deactivates every script
            let n = string(&args[0])?;
            if !n.is_empty() {
                check_name(&n)?;
            }
            Command::SetActive(n)
        }
        "GETSCRIPT" => {
            arity(1)?;
            Command::GetScript(name(&args[0])?)
        }
        "DELETESCRIPT" => {
            arity(1)?;
            Command::DeleteScript(name(&args[0])?)
        }
        "RENAMESCRIPT" => {
            arity(2)?;
            Command::RenameScript {
                from: name(&args[0])?,
                to: name(&args[1])?,
            }
        }
        _ => return Err(format!("unknown command {verb}")),
    })
}

/// A string argument (quoted or literal), as UTF-8.
fn string(t: &Token) -> Result<String, String> {
    match t {
        Token::Str(s) => String::from_utf8(s.clone()).map_err(|_| "a string must be UTF-8".into()),
        Token::Atom(_) => Err("expected a string".into()),
    }
}

/// An argument that may be written as an atom or a string (a mechanism name).
fn text(t: &Token) -> Result<String, String> {
    match t {
        Token::Atom(a) => Ok(a.clone()),
        Token::Str(_) => string(t),
    }
}

fn bytes(t: &Token) -> Result<Vec<u8>, String> {
    match t {
        Token::Str(s) => Ok(s.clone()),
        Token::Atom(_) => Err("expected a string or a literal".into()),
    }
}

fn name(t: &Token) -> Result<String, String> {
    let n = string(t)?;
    check_name(&n)?;
    Ok(n)
}

/// RFC 5804 §1.6: a script name is not empty and holds no control characters (nor the
/// line and paragraph separators); here also at most [`MAX_NAME`] octets.
pub fn check_name(n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > MAX_NAME {
        return Err(format!("a script name has 1 to {MAX_NAME} octets"));
    }
    if n.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err("a script name holds no control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexed(line: &str) -> (Vec<Token>, Literal) {
        let mut t = Vec::new();
        let lit = lex_line(line.as_bytes(), &mut t).expect("lexes");
        (t, lit)
    }

    #[test]
    fn commands_of_rfc_5804_parse() {
        let (t, lit) = lexed(r#"PUTSCRIPT "my \"big\" script" {31+}"#);
        assert_eq!(lit, Some(31));
        let mut t = t;
        t.push(Token::Str(b"keep;".to_vec()));
        assert_eq!(
            parse(t),
            Ok(Command::PutScript {
                name: "my \"big\" script".into(),
                script: b"keep;".to_vec()
            })
        );
        let (t, _) = lexed(r#"havespace "foo" 12345"#);
        assert_eq!(
            parse(t),
            Ok(Command::HaveSpace {
                name: "foo".into(),
                size: 12345
            })
        );
        let (t, _) = lexed(r#"Authenticate "PLAIN" "AGJvYgBzZWNyZXQ=""#);
        assert!(matches!(
            parse(t),
            Ok(Command::Authenticate {
                initial: Some(_),
                ..
            })
        ));
        let (t, _) = lexed(r#"SETACTIVE """#);
        assert_eq!(parse(t), Ok(Command::SetActive(String::new())));
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for bad in [
            "PUTSCRIPT \"unterminated",
            "GETSCRIPT \"a\\x\"",
            "{12+} PUTSCRIPT",
            "PUTSCRIPT \"a\" {99999999999+}",
            "PUTSCRIPT \"a\" {-1}",
            "DELETESCRIPT \"a\" \"b\" \"c\" \"d\" \"e\" \"f\" \"g\" \"h\" \"i\"",
            "GETSCRIPT (x)",
        ] {
            let mut t = Vec::new();
            let lexed = lex_line(bad.as_bytes(), &mut t);
            assert!(lexed.is_err() || parse(t).is_err(), "{bad}");
        }
        for bad in [
            "DELETESCRIPT \"\"",
            "GETSCRIPT \"a\u{7}b\"",
            "FROB",
            "LOGOUT now",
        ] {
            let mut t = Vec::new();
            lex_line(bad.as_bytes(), &mut t).expect("lexes");
            assert!(parse(t).is_err(), "{bad}");
        }
        let long = format!("GETSCRIPT \"{}\"", "x".repeat(MAX_NAME + 1));
        let mut t = Vec::new();
        lex_line(long.as_bytes(), &mut t).expect("lexes");
        assert!(parse(t).is_err());
    }
}
