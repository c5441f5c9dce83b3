//! The lexer: a script's text as tokens (RFC 5228 §8.1): identifiers, tags, numbers
//! (with K/M/G, saturating), quoted strings (escapes undone), multi-line `text:` strings
//! (dot-stuffing undone), punctuation; `#` and `/* */` comments skipped. One pass over
//! the characters, so time and the tokens' total size are linear in the script's size
//! (which `compile` bounds first).

use crate::CompileError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// A tag, lower case, without its colon.
    Tag(String),
    Num(u64),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semi,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub column: usize,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    column: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }
    fn error(&self, line: usize, column: usize, message: impl Into<String>) -> CompileError {
        CompileError::new(line, column, message)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The tokens of `src`.
pub fn lex(src: &str) -> Result<Vec<Token>, CompileError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    while let Some(c) = lx.peek() {
        let (line, column) = (lx.line, lx.column);
        let tok = match c {
            ' ' | '\t' | '\r' | '\n' => {
                lx.bump();
                continue;
            }
            '#' => {
                while let Some(c) = lx.bump() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            '/' if lx.peek_at(1) == Some('*') => {
                lx.bump();
                lx.bump();
                loop {
                    match lx.bump() {
                        None => return Err(lx.error(line, column, "unterminated comment")),
                        Some('*') if lx.peek() == Some('/') => {
                            lx.bump();
                            break;
                        }
                        Some(_) => {}
                    }
                }
                continue;
            }
            '[' | ']' | '(' | ')' | '{' | '}' | ',' | ';' => {
                lx.bump();
                match c {
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ',' => Tok::Comma,
                    _ => Tok::Semi,
                }
            }
            '"' => {
                lx.bump();
                let mut s = String::new();
                loop {
                    match lx.bump() {
                        None => return Err(lx.error(line, column, "unterminated string")),
                        Some('"') => break,
                        Some('\\') => match lx.bump() {
                            Some(c) => s.push(c),
                            None => return Err(lx.error(line, column, "unterminated string")),
                        },
                        Some(c) => s.push(c),
                    }
                }
                Tok::Str(s)
            }
            ':' => {
                lx.bump();
                let mut name = String::new();
                while let Some(c) = lx.peek() {
                    if (name.is_empty() && is_ident_start(c)) || (!name.is_empty() && is_ident(c)) {
                        name.push(c.to_ascii_lowercase());
                        lx.bump();
                    } else {
                        break;
                    }
                }
                if name.is_empty() {
                    return Err(lx.error(line, column, "a tag needs a name after \":\""));
                }
                Tok::Tag(name)
            }
            '0'..='9' => {
                let mut n: u64 = 0;
                while let Some(d) = lx.peek().and_then(|c| c.to_digit(10)) {
                    n = n.saturating_mul(10).saturating_add(u64::from(d));
                    lx.bump();
                }
                let shift = match lx.peek() {
                    Some('k' | 'K') => 10,
                    Some('m' | 'M') => 20,
                    Some('g' | 'G') => 30,
                    _ => 0,
                };
                if shift > 0 {
                    lx.bump();
                    n = n.saturating_mul(1u64 << shift);
                }
                if lx.peek().is_some_and(is_ident) {
                    return Err(lx.error(line, column, "malformed number"));
                }
                Tok::Num(n)
            }
            c if is_ident_start(c) => {
                let mut name = String::new();
                while let Some(c) = lx.peek().filter(|&c| is_ident(c)) {
                    name.push(c);
                    lx.bump();
                }
                if name.eq_ignore_ascii_case("text") && lx.peek() == Some(':') {
                    lx.bump();
                    Tok::Str(multiline(&mut lx, line, column)?)
                } else {
                    Tok::Ident(name.to_ascii_lowercase())
                }
            }
            c => {
                return Err(lx.error(
                    line,
                    column,
                    format!(
                        "unexpected character {}",
                        crate::parser::quote(&c.to_string())
                    ),
                ));
            }
        };
        out.push(Token { tok, line, column });
    }
    Ok(out)
}

/// The rest of a `text:` string, after its colon.
fn multiline(lx: &mut Lexer, line: usize, column: usize) -> Result<String, CompileError> {
    // optional blanks, then a hash comment or the line's end
    while matches!(lx.peek(), Some(' ' | '\t')) {
        lx.bump();
    }
    match lx.peek() {
        Some('#') => {
            while let Some(c) = lx.bump() {
                if c == '\n' {
                    break;
                }
            }
        }
        Some('\r') if lx.peek_at(1) == Some('\n') => {
            lx.bump();
            lx.bump();
        }
        Some('\n') => {
            lx.bump();
        }
        _ => {
            return Err(lx.error(
                line,
                column,
                "\"text:\" must be followed by the end of the line",
            ));
        }
    }
    let mut s = String::new();
    loop {
        if lx.peek().is_none() {
            return Err(lx.error(line, column, "unterminated multi-line string"));
        }
        let mut l = String::new();
        let mut ending = "";
        while let Some(c) = lx.bump() {
            if c == '\n' {
                ending = "\n";
                break;
            }
            l.push(c);
        }
        let mut content = l.as_str();
        if let Some(stripped) = content.strip_suffix('\r') {
            content = stripped;
            if !ending.is_empty() {
                ending = "\r\n";
            }
        }
        if content == "." {
            return Ok(s);
        }
        if ending.is_empty() {
            return Err(lx.error(line, column, "unterminated multi-line string"));
        }
        let content = content
            .strip_prefix('.')
            .filter(|r| r.starts_with('.'))
            .unwrap_or(content);
        s.push_str(content);
        s.push_str(ending);
    }
}
