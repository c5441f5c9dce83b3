//! What happens inside a string: encoded characters (`${hex:..}`, `${unicode:..}`, RFC
//! 5228 §2.4.2.4) decoded at compile time, variable references (`${name}`, `${0}`…, RFC
//! 5229 §3) split out to be expanded at run time, and the cut of a string at a character
//! boundary. One pass over the string: a `${` is looked at up to the next `}` or `$`, so
//! every character is looked at most twice.

use crate::ast::{Piece, Str};

/// Which string features the script required.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub variables: bool,
    pub encoded: bool,
    /// `global.` names (the include extension).
    pub global: bool,
}

/// An error in a string (an encoded character out of range).
pub struct BadString(pub String);

/// `s` cut to at most `max` octets, at a character boundary.
pub fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

/// Is `name` a variable name a script may set (RFC 5229 §3: identifier, with an
/// optional `global.` namespace when `include` is in use)? Returns it in lower case.
pub fn variable_name(name: &str, f: Features) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let bare = match lower.strip_prefix("global.") {
        Some(rest) if f.global => rest,
        Some(_) => return None,
        None => lower.as_str(),
    };
    let mut chars = bare.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(lower)
}

/// The compiled form of a string written in a script.
pub fn parse(s: String, f: Features) -> Result<Str, BadString> {
    if !(f.variables || f.encoded) || !s.contains("${") {
        return Ok(Str::Lit(s));
    }
    let chars: Vec<char> = s.chars().collect();
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            let start = i + 2;
            let mut j = start;
            while j < chars.len() && chars[j] != '}' && chars[j] != '$' {
                j += 1;
            }
            if chars.get(j) == Some(&'}') {
                let inner: String = chars[start..j].iter().collect();
                if f.encoded
                    && let Some(decoded) = encoded(&inner)?
                {
                    lit.push_str(&decoded);
                    i = j + 1;
                    continue;
                }
                if f.variables
                    && let Some(piece) = reference(&inner, f)
                {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(piece);
                    i = j + 1;
                    continue;
                }
            }
            // not a reference: the text stays as it is, up to where the scan stopped
            lit.extend(&chars[i..j.min(chars.len())]);
            i = j;
            continue;
        }
        lit.push(chars[i]);
        i += 1;
    }
    if pieces.is_empty() {
        return Ok(Str::Lit(lit));
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(Str::Tpl(pieces))
}

/// A variable reference inside `${...}`.
fn reference(inner: &str, f: Features) -> Option<Piece> {
    if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
        let digits = inner.trim_start_matches('0');
        let n = if digits.is_empty() {
            0
        } else if digits.len() > 2 {
            usize::MAX
        } else {
            digits.parse().unwrap_or(usize::MAX)
        };
        return Some(Piece::Match(n));
    }
    variable_name(inner, f).map(Piece::Var)
}

/// `hex:` or `unicode:` followed by blank-separated hexadecimal numbers; `Ok(None)` when
/// `inner` is not an encoded character (then it stays literal text).
fn encoded(inner: &str) -> Result<Option<String>, BadString> {
    let (hex, rest) = match inner.split_once(':') {
        Some((k, rest)) if k.eq_ignore_ascii_case("hex") => (true, rest),
        Some((k, rest)) if k.eq_ignore_ascii_case("unicode") => (false, rest),
        _ => return Ok(None),
    };
    let words: Vec<&str> = rest
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Ok(None);
    }
    let max_digits = if hex { 2 } else { 6 };
    if !words
        .iter()
        .all(|w| w.len() <= max_digits && w.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Ok(None);
    }
    if hex {
        let bytes: Vec<u8> = words
            .iter()
            .filter_map(|w| u8::from_str_radix(w, 16).ok())
            .collect();
        return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let mut out = String::new();
    for w in words {
        let c = u32::from_str_radix(w, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| BadString(format!("invalid unicode character {w}")))?;
        out.push(c);
    }
    Ok(Some(out))
}
