//! The base subject of RFC 5256 §2.1, which SORT (and later THREAD) compares: a pure
//! function of a subject a sender wrote. Bounded: the subject is cut to [`MAX_SUBJECT`]
//! characters first and taken apart on slices of it (no copy per step); each pass takes
//! something off, so there are at most that many passes. Fuzzed through the
//! `imap_fetch` target.

/// Longest subject compared (characters); a longer one is cut.
pub const MAX_SUBJECT: usize = 256;

/// The base subject (RFC 5256 §2.1): white space single, `Re:`, `Fw:`, `Fwd:` and
/// `[list]` blobs taken off the front, `(fwd)` off the end, `[fwd: …]` unwrapped; in
/// ASCII upper case. Works on slices of the subject cut to [`MAX_SUBJECT`] characters;
/// each pass takes something off, so there are at most that many passes.
pub fn base_subject(subject: &str) -> String {
    base_and_reply(subject).0
}

/// The base subject, and whether taking it apart removed a reply or forward mark
/// (`Re:`, `Fw:`, `Fwd:`, `(fwd)`, `[fwd: …]`): what THREAD=REFERENCES calls a reply or
/// forward (RFC 5256 §2.1).
pub fn base_and_reply(subject: &str) -> (String, bool) {
    let mut reply = false;
    let cut: String = subject.chars().take(MAX_SUBJECT).collect();
    let single = cut.split_whitespace().collect::<Vec<_>>().join(" ");
    let upper = single.to_ascii_uppercase();
    let mut s: &str = &upper;
    loop {
        let before = s.len();
        // (2) trailers
        loop {
            let t = s.trim_end();
            match t.strip_suffix("(FWD)") {
                Some(rest) => {
                    s = rest;
                    reply = true;
                }
                None => {
                    s = t;
                    break;
                }
            }
        }
        // (3)/(4) leaders, and blobs while something follows them
        loop {
            let t = s.trim_start();
            if let Some(rest) = strip_leader(t) {
                s = rest;
                reply = true;
            } else if let Some(rest) = strip_blob(t).filter(|r| !r.trim().is_empty()) {
                s = rest;
            } else {
                s = t;
                break;
            }
        }
        // (6) [FWD: …]
        if let Some(inner) = s.strip_prefix("[FWD:").and_then(|r| r.strip_suffix(']')) {
            s = inner;
            reply = true;
        }
        if s.len() == before {
            return (s.to_string(), reply);
        }
    }
}

/// `*blob ("RE" / "FW" / "FWD") [blob] ":"` off the front.
fn strip_leader(s: &str) -> Option<&str> {
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest.trim_start();
    }
    let rest = ["RE", "FWD", "FW"]
        .iter()
        .find_map(|w| t.strip_prefix(w))?
        .trim_start();
    let rest = strip_blob(rest).map_or(rest, str::trim_start);
    rest.strip_prefix(':')
}

/// One `[…]` (no brackets inside) off the front.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find(']')?;
    (!rest[..end].contains('[')).then(|| &rest[end + 1..])
}

#[cfg(test)]
mod tests {
    use super::{base_and_reply, base_subject};

    #[test]
    fn base_subjects() {
        for (subject, base) in [
            ("Hello", "HELLO"),
            ("Re: hello", "HELLO"),
            ("RE: Re:  Fwd: hello   world", "HELLO WORLD"),
            ("[list] Re: [other] hello (fwd)", "HELLO"),
            ("[Fwd: Re: hello]", "HELLO"),
            ("re[2]: hello", "HELLO"),
            ("[only a blob]", "[ONLY A BLOB]"),
            ("Reply to all", "REPLY TO ALL"),
            ("", ""),
        ] {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
        // hostile subjects: cut to MAX_SUBJECT characters first, then taken apart
        assert_eq!(base_subject(&"Re: ".repeat(100_000)), "");
        assert_eq!(base_subject(&"[a]".repeat(80)), "[A]");
        assert_eq!(base_subject(&format!("{}x", "[a] ".repeat(50))), "X");
        assert!(base_and_reply("Re: x").1 && base_and_reply("x (fwd)").1);
        assert!(base_and_reply("[fwd: x]").1 && !base_and_reply("[list] x").1);
    }
}
