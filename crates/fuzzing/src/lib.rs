//! The bodies of estafeta's fuzz targets: one function per parser that meets a peer's or
//! an operator's bytes, taking arbitrary `&[u8]`. Each one feeds the bytes to the parser
//! the way the server does (the same framing, the same line bounds) and asserts, where it
//! is cheap, the invariants the server relies on beyond "no panic": bounds kept, offsets
//! inside the message, balanced IMAP data, no CR or LF leaking into a reply line.
//!
//! afl.rs runs them from the separate crate `fuzz/` (one binary per target), and
//! `tests/corpora.rs` runs every kept input (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`) through them on every `cargo test`. See docs/fuzzing.md.

use std::borrow::Cow;

use estafeta_imap::framing::literal_at_end;
use estafeta_imap::{Section, SectionText, Summary};
use estafeta_mime::{Kind, MAX_DEPTH, MAX_PARTS, Message};
use estafeta_smtp::inbound::data::{Checker, MAX_TEXT_LINE, Problems};
use smtp_proto::Request;

/// The body of a fuzz target.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and afl binary carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("smtp_command", smtp_command),
    ("smtp_data", smtp_data),
    ("imap_command", imap_command),
    ("imap_fetch", imap_fetch),
    ("pop3_command", pop3_command),
    ("sasl", sasl),
    ("scram", scram),
    ("proxy_header", proxy_header),
    ("imap_deflate", imap_deflate),
    ("dsn", dsn),
    ("hops", hops),
    ("config", config),
    ("trust", trust),
    ("outbound_policy", outbound_policy),
    ("web_request", web_request),
    ("tracking", tracking),
    ("mailfiles", mailfiles),
    ("local_input", local_input),
    ("sieve", sieve),
    ("managesieve_command", managesieve_command),
    ("html", html),
    ("jmap_request", jmap_request),
    ("jmap_email", jmap_email),
];

/// The line and the rest: up to and including the first LF, or everything.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => data.split_at(i + 1),
        None => (data, &[]),
    }
}

fn no_line_break(what: &str, s: &str) {
    assert!(
        !s.contains(['\r', '\n']),
        "{what} holds a line break: {s:?}"
    );
}

// ---------------------------------------------------------------------------------------
// SMTP

/// The bounds of `crates/smtp/src/inbound/session.rs` (kept in step by hand).
const SMTP_MAX_COMMAND_LINE: usize = 512;
const SMTP_MAX_PARAMETER_LINE: usize = 1012;
const SMTP_MAX_AUTH_LINE: usize = 12 * 1024;

/// An SMTP session's input, as the server reads it: command lines, each checked as
/// `Session::command` checks it (length by verb, CRLF, UTF-8) and then parsed by
/// smtp-proto's `Request::parse`; after `DATA` the message up to its real end
/// (`<CRLF>.<CRLF>`) and after `BDAT n` the next `n` octets, both through the DATA/BDAT
/// content checker, never read as commands.
///
/// Checks: no panic; no CR or LF in an EHLO name, a MAIL or RCPT address or an AUTH
/// initial response (they go into header fields, logs and replies).
pub fn smtp_command(data: &[u8]) {
    let mut rest = data;
    let mut chunks = Checker::default();
    while !rest.is_empty() {
        let (line, tail) = split_line(rest);
        rest = tail;
        if line.len() > SMTP_MAX_AUTH_LINE {
            continue; // read to its end and dropped (500 5.5.2)
        }
        let Some(request) = smtp_request(line) else {
            continue;
        };
        match request {
            Request::Ehlo { host } | Request::Helo { host } => no_line_break("EHLO name", &host),
            Request::Mail { from } => no_line_break("MAIL FROM address", &from.address),
            Request::Rcpt { to } => no_line_break("RCPT TO address", &to.address),
            Request::Auth {
                initial_response, ..
            } => no_line_break("AUTH initial response", &initial_response),
            Request::Data => {
                let (problems, after) = read_data(rest);
                assert_eq!(problems.refusal(usize::MAX).is_some(), problems.any());
                rest = after;
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => {
                let n = chunk_size.min(rest.len());
                chunks.feed(&rest[..n]);
                rest = &rest[n..];
                if is_last {
                    let problems = chunks.finish().clone();
                    assert_eq!(problems.refusal(usize::MAX).is_some(), problems.any());
                    chunks = Checker::default();
                }
            }
            _ => {}
        }
    }
}

/// One command line as `Session::command` takes it; `None` where the session answers
/// with an error before or at parsing.
fn smtp_request(line: &[u8]) -> Option<Request<String>> {
    let verb = line.get(..4).unwrap_or(&[]);
    let limit = if verb.eq_ignore_ascii_case(b"AUTH") {
        SMTP_MAX_AUTH_LINE
    } else if verb.eq_ignore_ascii_case(b"MAIL") || verb.eq_ignore_ascii_case(b"RCPT") {
        SMTP_MAX_PARAMETER_LINE
    } else {
        SMTP_MAX_COMMAND_LINE
    };
    if line.len() > limit || !line.ends_with(b"\r\n") || std::str::from_utf8(line).is_err() {
        return None;
    }
    let request: Request<Cow<'_, str>> = Request::parse(&mut line.iter()).ok()?;
    Some(request.into_owned())
}

/// The message after `354`, read as `data::read` reads it (lines of at most 1001 octets,
/// dot-unstuffed, ended only by `.<CRLF>` after a CRLF); its problems and the input after
/// its end.
fn read_data(mut rest: &[u8]) -> (Problems, &[u8]) {
    const MAX_WIRE_LINE: usize = MAX_TEXT_LINE + 1;
    let mut check = Checker::default();
    let mut after_crlf = true;
    loop {
        if rest.is_empty() {
            return (check.finish().clone(), rest); // the connection closed
        }
        let (line, tail) = split_line(rest);
        rest = tail;
        let crlf = line.ends_with(b"\r\n");
        if line.len() > MAX_WIRE_LINE {
            check.problems.line_too_long = true;
            check.problems.bare_lf |= !crlf;
            after_crlf = crlf;
            continue;
        }
        if after_crlf && line == b".\r\n" {
            return (check.finish().clone(), rest);
        }
        after_crlf = crlf;
        check.feed(line.strip_prefix(b".").unwrap_or(line));
    }
}

/// The DATA/BDAT content checker (`data::Checker`) over arbitrary bytes. The first octet
/// sets a piece size, the rest is the message.
///
/// Checks: the verdict is the same whether the bytes come whole, one by one or in pieces
/// of any size (BDAT chunks split a CRLF anywhere), and the same as a plain reading of
/// the documented rules (bare LF, bare CR, NUL, a line of more than 998 octets before its
/// CRLF); a refusal reply exactly when there is a problem.
pub fn smtp_data(data: &[u8]) {
    let Some((&piece, message)) = data.split_first() else {
        return;
    };
    let whole = {
        let mut c = Checker::default();
        c.feed(message);
        c.finish().clone()
    };
    let by_octet = {
        let mut c = Checker::default();
        for b in message {
            c.feed(std::slice::from_ref(b));
        }
        c.finish().clone()
    };
    let in_pieces = {
        let mut c = Checker::default();
        for p in message.chunks(usize::from(piece).max(1)) {
            c.feed(p);
            c.feed(&[]);
        }
        c.finish().clone()
    };
    assert_eq!(whole, by_octet, "one by one");
    assert_eq!(whole, in_pieces, "in pieces of {piece}");
    assert_eq!(whole, content_rules(message), "the documented rules");
    assert_eq!(whole.refusal(1000).is_some(), whole.any());
}

/// The content rules of `data.rs`, read plainly over the whole message.
fn content_rules(m: &[u8]) -> Problems {
    let bare_lf = m
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || m[i - 1] != b'\r'));
    let bare_cr = m
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && m.get(i + 1) != Some(&b'\n'));
    let line_too_long = m.split(|&b| b == b'\n').any(|line| {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        text.len() > MAX_TEXT_LINE - 2
    });
    Problems {
        bare_lf,
        bare_cr,
        nul: m.contains(&0),
        line_too_long,
        too_big: false,
    }
}

/// The `Received:` hop counter (`hops::received_fields`). The first octet is the limit.
///
/// Checks: the count never passes `limit + 1`, and a low limit gives the count of a high
/// one cut at `limit + 1`.
pub fn hops(data: &[u8]) {
    let Some((&limit, message)) = data.split_first() else {
        return;
    };
    let limit = usize::from(limit);
    let count = estafeta_smtp::hops::received_fields(message, limit);
    assert!(count <= limit + 1);
    let all = estafeta_smtp::hops::received_fields(message, usize::MAX - 1);
    assert_eq!(count, all.min(limit + 1));
}

/// The DSN reader (`bounces::read_report`) over an arbitrary message.
///
/// Checks: at most `MAX_REPORTED` recipients; each one a status of the form `5.d.d`, an
/// address with an `@` and no white space or control character, and a diagnostic of at
/// most `MAX_DIAGNOSTIC` characters without control characters (it ends up in a reply).
pub fn dsn(data: &[u8]) {
    use estafeta_smtp::inbound::bounces::{MAX_DIAGNOSTIC, MAX_REPORTED, read_report};
    let Some(report) = read_report(data) else {
        return;
    };
    assert!(report.failed.len() <= MAX_REPORTED);
    for f in &report.failed {
        let numbers: Vec<&str> = f.status.split('.').collect();
        assert!(
            numbers.len() == 3
                && numbers[0] == "5"
                && numbers[1..]
                    .iter()
                    .all(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())),
            "{f:?}"
        );
        assert!(f.address.contains('@'), "{f:?}");
        assert!(
            !f.address
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()),
            "{f:?}"
        );
        if let Some(d) = &f.diagnostic {
            assert!(d.chars().count() <= MAX_DIAGNOSTIC, "{f:?}");
            assert!(!d.chars().any(char::is_control), "{f:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// IMAP

/// The bounds of `crates/imap/src/server` (kept in step by hand).
const IMAP_MAX_LINE: usize = 64 * 1024;
const IMAP_MAX_UNAUTHENTICATED_COMMAND: u64 = 64 * 1024;

/// An IMAP session's input, cut into commands as `Session::read_command` does (lines of
/// at most 64 KiB; a line ending in a literal announcement `{n}`, `{n+}` or `~{n}` is
/// followed by `n` octets, within the cap of a command before login), each command then
/// parsed by `parse_command`.
///
/// Checks: no panic; a literal announcement is only found at the end of a line; a parse
/// error's tag and message hold no line break (they make the `BAD` reply line).
pub fn imap_command(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        let mut command = Vec::new();
        loop {
            let (line, tail) = split_line(rest);
            if !line.ends_with(b"\n") {
                return; // the client closed the connection mid-line
            }
            rest = tail;
            if line.len() > IMAP_MAX_LINE {
                command.clear(); // "* BAD line too long"
                break;
            }
            command.extend_from_slice(line);
            let Some(lit) = literal_at_end(line) else {
                break;
            };
            let body = line.trim_ascii_end();
            assert!(body.ends_with(b"}"), "literal without its brace: {line:?}");
            if command.len() as u64 + lit.size > IMAP_MAX_UNAUTHENTICATED_COMMAND {
                command.clear(); // NO [TOOBIG]
                break;
            }
            let size = lit.size as usize;
            if rest.len() < size {
                return; // closed before the literal's end
            }
            command.extend_from_slice(&rest[..size]);
            rest = &rest[size..];
        }
        if let Err(e) = estafeta_imap::parse_command(&command) {
            no_line_break("BAD tag", &e.tag);
            no_line_break("BAD message", &e.message);
        }
    }
}

/// An IMAP session's input after COMPRESS=DEFLATE: the octets as the client's raw
/// DEFLATE stream, read in `net::compress::INPUT`-octet pieces and inflated into a 4 KiB
/// buffer as the connection's reader does (`compress::Inflater`), what comes out cut into
/// commands as [`imap_command`] does. Checks: a step never writes past the buffer nor
/// consumes past its input, the inflated total stays within DEFLATE's ratio (1032:1),
/// and a step that can make no progress waits for more input rather than spin.
pub fn imap_deflate(data: &[u8]) {
    use estafeta_net::compress::{INPUT, Inflater};
    let mut inflater = Inflater::default();
    let mut out = [0u8; 4096];
    let mut inflated = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut taken_in = 0usize;
    'read: for piece in data.chunks(INPUT) {
        pending.extend_from_slice(piece);
        let mut at = 0;
        loop {
            // called with no input left too: what was taken may still owe output
            let Ok((used, made, end)) = inflater.inflate(&pending[at..], &mut out) else {
                break 'read; // corrupt: the connection ends
            };
            assert!(used <= pending.len() - at && made <= out.len());
            at += used;
            taken_in += used;
            inflated.extend_from_slice(&out[..made]);
            assert!(
                inflated.len() <= 1032 * taken_in + 4096,
                "{} octets from {taken_in}",
                inflated.len()
            );
            if end {
                break 'read;
            }
            if made == 0 && (used == 0 || at == pending.len()) {
                break; // wants more input
            }
        }
        pending.drain(..at);
        assert!(pending.len() <= 2 * INPUT, "input kept without progress");
    }
    imap_command(&inflated);
}

/// FETCH over an arbitrary message: the MIME tree (`estafeta_mime::parse`), ENVELOPE,
/// BODY and BODYSTRUCTURE (`Summary::compute`), BODY[section] and BINARY[section] for the
/// part numbers of every part of the tree (and numbers that name no part), the search
/// text (`body_text`), what the search index keeps of it (`index_text`), PREVIEW and the
/// base subject of SORT.
///
/// Checks: the tree keeps its bounds (parts, depth) and its offsets are inside the
/// message; ENVELOPE, BODY and BODYSTRUCTURE are well-formed IMAP data (parentheses
/// balanced, quoted strings closed, literals as long as announced, no line break outside
/// a literal); the cached summary decodes to itself; a section is never longer than the
/// message (HEADER.FIELDS aside); the search text, the preview and the base subject stay
/// within their bounds; the search index keeps exactly the texts SEARCH looks through, in
/// the matcher's lower case, or marks them partial beyond its bounds.
pub fn imap_fetch(data: &[u8]) {
    let msg = estafeta_mime::parse(data);
    assert!(!msg.parts.is_empty());
    assert!(msg.parts.len() <= MAX_PARTS);
    for part in &msg.parts {
        assert!(part.depth < MAX_DEPTH, "depth {}", part.depth);
        assert!(part.header_start() <= part.body_start(), "{part:?}");
        assert!(part.body_start() <= data.len(), "{part:?}");
        assert!(part.end() <= data.len(), "{part:?}");
        let _ = msg.lines(part);
        let _ = msg.header_block(part);
    }

    let summary = Summary::compute(data);
    for (what, rendered) in [
        ("ENVELOPE", &summary.envelope),
        ("BODY", &summary.body),
        ("BODYSTRUCTURE", &summary.body_structure),
    ] {
        if let Err(e) = imap_data(rendered) {
            panic!(
                "{what} is not well-formed IMAP data ({e}): {}",
                String::from_utf8_lossy(rendered)
            );
        }
    }
    assert_eq!(Summary::decode(&summary.encode()).as_ref(), Some(&summary));

    let texts = [
        None,
        Some(SectionText::Header),
        Some(SectionText::Text),
        Some(SectionText::Mime),
        Some(SectionText::HeaderFields {
            not: false,
            fields: vec!["Subject".into(), "content-type".into()],
        }),
        Some(SectionText::HeaderFields {
            not: true,
            fields: vec!["From".into()],
        }),
    ];
    for parts in part_numbers(&msg) {
        for text in &texts {
            let section = Section {
                parts: parts.clone(),
                text: text.clone(),
            };
            if let Some(bytes) = estafeta_imap::mime::section(&msg, &section)
                && !matches!(text, Some(SectionText::HeaderFields { .. }))
            {
                assert!(bytes.len() <= data.len(), "{section:?}");
            }
        }
        let _ = estafeta_imap::mime::binary(&msg, &parts);
    }
    let text = estafeta_imap::mime::body_text(&msg);
    assert!(text.len() <= estafeta_mime::text::MAX_SEARCH_TEXT + 1);

    // the search index: what SEARCH BODY and TEXT compare, lowered as the matcher does
    let index = estafeta_mime::text::index_text(data);
    let kept = |s: String| s.replace('\0', " ");
    if index.body_complete {
        assert_eq!(index.body, kept(text.to_lowercase()));
        assert!(index.body.len() <= estafeta_mime::text::MAX_INDEX_BODY);
    } else {
        assert!(index.body.is_empty());
    }
    if index.raw_complete {
        assert_eq!(
            index.raw,
            kept(String::from_utf8_lossy(data).to_lowercase())
        );
    } else {
        assert!(index.raw.is_empty() && data.len() > estafeta_mime::text::MAX_INDEX_RAW);
    }

    // PREVIEW, and the base subject SORT compares
    let preview = estafeta_mime::text::preview(&msg);
    assert!(preview.chars().count() <= estafeta_mime::text::MAX_PREVIEW);
    for subject in estafeta_imap::mime::header_text(&msg, "Subject") {
        let base = estafeta_imap::subject::base_subject(&subject);
        assert!(base.chars().count() <= estafeta_imap::subject::MAX_SUBJECT);
    }
    threads(data);
}

/// THREAD over messages made from the input's lines (the first id of a line its
/// Message-ID, all of them its References, the line its subject): both algorithms list
/// every message exactly once, in balanced parentheses.
fn threads(data: &[u8]) {
    use estafeta_imap::threading::{self, Item};
    let items: Vec<Item> = data
        .split(|&b| b == b'\n')
        .take(2000)
        .enumerate()
        .map(|(i, line)| {
            let text = String::from_utf8_lossy(line);
            let (subject, reply) = estafeta_imap::subject::base_and_reply(&text);
            let mut references = threading::message_ids(line, threading::MAX_REFERENCES);
            let message_id = threading::first_message_id(line);
            if !references.is_empty() {
                references.remove(0);
            }
            Item {
                number: i as u32 + 1,
                seq: i as u32 + 1,
                date: i64::from(line.first().copied().unwrap_or(0)),
                subject,
                reply,
                message_id,
                references,
            }
        })
        .collect();
    for out in [
        threading::references(&items),
        threading::ordered_subject(&items),
    ] {
        let mut depth = 0i64;
        for c in out.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "{out}");
        }
        assert_eq!(depth, 0, "{out}");
        let mut numbers: Vec<u32> = out
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        numbers.sort_unstable();
        let expected: Vec<u32> = (1..=items.len() as u32).collect();
        assert_eq!(numbers, expected, "{out}");
    }
}

/// Most parts whose numbers [`imap_fetch`] asks for (each costs a few sections).
const MAX_SECTIONS: usize = 64;

/// The IMAP part numbers of the first parts of the tree, walked without recursion, and
/// a few that name no part.
fn part_numbers(msg: &Message<'_>) -> Vec<Vec<u32>> {
    let mut out = vec![
        vec![],
        vec![0],
        vec![1],
        vec![2],
        vec![u32::MAX],
        vec![1, 1, 1],
    ];
    // (part index, its numbers)
    let mut stack = vec![(0usize, Vec::new())];
    while let Some((id, numbers)) = stack.pop() {
        if out.len() >= MAX_SECTIONS {
            break;
        }
        let Some(part) = msg.parts.get(id) else {
            continue;
        };
        match &part.kind {
            Kind::Multipart(children) => {
                for (i, &child) in children.iter().enumerate().rev().take(MAX_SECTIONS) {
                    let mut n = numbers.clone();
                    n.push(i as u32 + 1);
                    stack.push((child, n));
                }
                let mut past = numbers.clone();
                past.push(children.len() as u32 + 1);
                out.push(past);
            }
            // the numbers of an enclosed message's parts continue inside it
            Kind::Message(inner) => {
                out.push(numbers.clone());
                if let Some(Kind::Multipart(_)) = msg.parts.get(*inner).map(|p| &p.kind) {
                    stack.push((*inner, numbers));
                } else {
                    let mut n = numbers;
                    n.push(1);
                    stack.push((*inner, n));
                }
            }
            Kind::Leaf | Kind::Cut => out.push(numbers),
        }
    }
    out
}

/// Whether `s` is well-formed IMAP data: quoted strings closed, literals as long as they
/// say, parentheses balanced, and no CR or LF outside a literal.
pub fn imap_data(s: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i += 1;
                loop {
                    match s.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'\\') => {
                            if !matches!(s.get(i + 1), Some(b'"' | b'\\')) {
                                return Err(format!("bad escape at {i}"));
                            }
                            i += 2;
                        }
                        Some(b'"') => break,
                        Some(b'\r' | b'\n') => return Err(format!("line break in quoted at {i}")),
                        Some(_) => i += 1,
                    }
                }
            }
            b'{' => {
                let close = s[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or_else(|| format!("unclosed literal at {i}"))?;
                let digits =
                    std::str::from_utf8(&s[i + 1..i + close]).map_err(|e| e.to_string())?;
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("bad literal length {digits:?} at {i}"))?;
                i += close + 1;
                if s.get(i..i + 2) != Some(b"\r\n") {
                    return Err(format!("literal without CRLF at {i}"));
                }
                i += 2;
                if i + n > s.len() {
                    return Err(format!("literal of {n} octets past the end"));
                }
                i += n;
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' at {i}"))?;
            }
            b'\r' | b'\n' => return Err(format!("line break outside a literal at {i}")),
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err(format!("{depth} '(' left open"));
    }
    if !s.starts_with(b"(") || !s.ends_with(b")") {
        return Err("not a parenthesized list".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// POP3, SASL, configuration

/// The POP3 command parser (`command::parse`) over one line.
///
/// Checks: no panic; the error reply holds no line break; a line parses the same with
/// or without its CRLF.
pub fn pop3_command(data: &[u8]) {
    use estafeta_pop3::command::parse;
    let result = parse(data);
    if let Err(e) = &result {
        no_line_break("-ERR reply", &e.reply());
    }
    if !data.ends_with(b"\r") && !data.ends_with(b"\n") {
        let with_crlf = [data, b"\r\n"].concat();
        assert_eq!(result, parse(&with_crlf));
    }
}

/// SASL decoding (`sasl::decode`, `sasl::plain`) over a response line.
///
/// Checks: no panic; PLAIN credentials have a non-empty user name and no NUL in either
/// half.
pub fn sasl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = estafeta_net::sasl::decode(text);
    if let Some(c) = estafeta_net::sasl::plain(text) {
        assert!(!c.username.is_empty());
        assert!(!c.username.contains('\0') && !c.password.contains('\0'));
    }
}

/// The configuration loader (`Config::from_toml`, which the server and `estafeta config
/// check` use) over arbitrary text.
///
/// Checks: no panic, in parsing, validation or the error's message.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = estafeta_config::Config::from_toml(text, "fuzz.toml") {
        let _ = e.to_string();
    }
}

/// A SCRAM-SHA-256 exchange (`estafeta_net::scram`) as the three protocols run it: the
/// input's first line is the client-first-message, the rest the client-final-message; the
/// first octet's low bit picks SCRAM-SHA-256 or -PLUS, the next whether the connection
/// has a `tls-exporter` binding.
///
/// Checks: no panic; a parsed user name within `MAX_NAME`; the server's messages within
/// `MAX_MESSAGE` and free of line breaks; no proof accepted against keys nobody knows the
/// password of.
pub fn scram(data: &[u8]) {
    use estafeta_net::scram::{self, MAX_MESSAGE, MAX_NAME, Mechanism, Secrets};
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let mechanism = if pick & 1 == 0 {
        Mechanism::Sha256
    } else {
        Mechanism::Sha256Plus
    };
    let binding = (pick & 2 != 0).then_some([7u8; 32]);
    let (first, last) = split_line(data);
    let first = first.strip_suffix(b"\n").unwrap_or(first);
    let Ok(parsed) = scram::client_first(first, mechanism, binding.as_ref()) else {
        return;
    };
    assert!(
        parsed.username.len() <= MAX_NAME,
        "user name over the bound"
    );
    let (exchange, server_first) = parsed.server_first(Secrets {
        iterations: 4096,
        salt: vec![1; 16],
        stored_key: [2; 32],
        server_key: [3; 32],
    });
    assert!(
        server_first.len() <= MAX_MESSAGE,
        "server-first over the bound"
    );
    no_line_break("server-first", &server_first);
    if let Ok(server_final) = exchange.finish(last) {
        panic!("a proof against unknown keys was accepted: {server_final:?}");
    }
}

/// The PROXY protocol header reader (`estafeta_net::proxy::read_header`) over the input as
/// the first octets of a connection on a `proxy_protocol` listener.
///
/// Checks: no panic; never more than the bound read (`MAX_V1`, or 16 + `MAX_V2_BODY`),
/// and on success nothing after the header consumed (it belongs to the protocol, or to a
/// TLS handshake).
pub fn proxy_header(data: &[u8]) {
    use estafeta_net::proxy::{MAX_V1, MAX_V2_BODY, read_header};
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime for the fuzz target");
    }
    let mut rest = data;
    let result = RUNTIME.with(|rt| rt.block_on(read_header(&mut rest)));
    let consumed = data.len() - rest.len();
    assert!(
        consumed <= MAX_V1.max(16 + MAX_V2_BODY),
        "{consumed} octets read for a PROXY header"
    );
    if result.is_ok() {
        let head = &data[..consumed];
        let v1_ends_at_crlf = head.starts_with(b"PROXY ") && head.ends_with(b"\r\n");
        let v2_length = consumed >= 16
            && consumed == 16 + usize::from(u16::from_be_bytes([head[14], head[15]]));
        assert!(
            v1_ends_at_crlf || v2_length,
            "a header accepted with the wrong extent: {consumed} octets"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Trust

/// What the checks read of a message before any DNS: forged `Authentication-Results:`
/// removal (`estafeta_trust::remove_forged_results`, for host `mx.test`) and the From:
/// domain signing looks at (`signing::from_domain`, through mail-auth's parser).
///
/// Checks: removal only shortens the message and leaves nothing more to remove; the
/// body (after the first empty line) is untouched; a From: domain holds no white space,
/// control character or `@`.
pub fn trust(data: &[u8]) {
    let mut message = data.to_vec();
    let removed = estafeta_trust::remove_forged_results(&mut message, "mx.test");
    assert!(message.len() <= data.len());
    assert_eq!(removed == 0, message.len() == data.len());
    assert_eq!(
        estafeta_trust::remove_forged_results(&mut message, "mx.test"),
        0
    );
    let body_of = |m: &[u8]| {
        m.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| m[i + 4..].to_vec())
    };
    if let (Some(before), Some(after)) = (body_of(data), body_of(&message)) {
        assert!(before.ends_with(&after) || after.ends_with(&before));
    }
    if let Some(domain) = estafeta_trust::signing::from_domain(data) {
        assert!(
            !domain.contains(|c: char| c.is_whitespace() || c.is_control() || c == '@'),
            "{domain:?}"
        );
    }
}

/// What delivery reads from other domains' servers and DNS: an MTA-STS policy file, an
/// HTTPS answer, a TLS report's `https:` URL and a report address. Bounds kept, and no
/// character that could break a request line or an SMTP command gets through.
pub fn outbound_policy(data: &[u8]) {
    use estafeta_trust::mta_sts::policy::{MAX_AGE, MAX_MX, Policy};
    let text = String::from_utf8_lossy(data);
    if let Ok(policy) = Policy::parse(&text) {
        assert!(policy.mx.len() <= MAX_MX && policy.max_age <= MAX_AGE);
        assert!(policy.lines.len() <= MAX_MX + 8);
        let host = text.lines().next().unwrap_or_default();
        let _ = policy.matches(host);
    }
    if let Ok(answer) = estafeta_trust::https::parse_answer(data, 4096) {
        assert!(answer.body.len() <= 4096);
    }
    for line in text.lines().take(16) {
        if let Some((host, _, path)) = estafeta_trust::tls_report::https_url(line) {
            assert!(!host.is_empty() && path.starts_with('/'));
            assert!(!path.contains(|c: char| c.is_whitespace() || c.is_control()));
        }
        if estafeta_trust::tls_report::plain_address(line) {
            assert!(
                !line.contains(|c: char| c.is_whitespace()
                    || c.is_control()
                    || c == '<'
                    || c == '>')
            );
        }
    }
}

/// What the web side reads from a client before sign-in: an autodiscover request body
/// (quick-xml, streaming; the server caps it at 64 KiB), a `Host:` value, and a `Cookie:`
/// value. Checks: a requested address is trimmed and not empty; a host name is lower
/// case without a port; an unsigned cookie names nobody, and any string as an address
/// comes back whole from a cookie the server signed.
pub fn web_request(data: &[u8]) {
    use estafeta_web::inputs::*;
    let text = String::from_utf8_lossy(data);
    if let Some(address) = requested_address(&text) {
        assert!(
            !address.is_empty() && address.trim() == address,
            "{address:?}"
        );
    }
    let host = host_name(&text);
    assert!(host.len() <= text.len());
    assert!(!host.bytes().any(|b| b.is_ascii_uppercase()), "{host:?}");
    if let Some(domain) = domain_of_host(&text) {
        assert!(
            !domain.is_empty()
                && domain.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'),
            "{domain:?}"
        );
    }
    assert_eq!(session_address(b"secret", &text, 0), None, "{text:?}");
    let cookie = session_cookie(b"secret", &text, 10);
    assert_eq!(
        session_address(b"secret", &cookie, 9).as_deref(),
        Some(&*text)
    );
    assert_eq!(session_address(b"other", &cookie, 9), None);
    assert_eq!(session_address(b"secret", &cookie, 10), None);
}

/// Open and click tracking's rewriting of a submitted message (`trust::tracking` over
/// `mime::edit`): the input as a whole message, and as the HTML body of a one-part
/// `text/html` message. Checks: at most `MAX_LINKS` links; every click link in the
/// rewritten HTML leads back, under the secret, to an `http`/`https` address; the open
/// image is there; rewriting never fails on what it made (a second pass ends too).
pub fn tracking(data: &[u8]) {
    use estafeta_trust::tracking::{MAX_LINKS, Tracker, check_click, check_open};
    const SECRET: &[u8] = b"fuzzing secret";
    let tracker = Tracker::new(SECRET, "https://t.test");
    if let Some(tracked) = tracker.rewrite(data, "Q1") {
        assert!(tracked.links <= MAX_LINKS);
        let _ = tracker.rewrite(&tracked.message, "Q2");
    }
    let mut message =
        b"Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    message.extend_from_slice(data);
    let Some(tracked) = tracker.rewrite(&message, "Q1") else {
        panic!("an HTML message is always rewritten (the image at least)");
    };
    assert!(tracked.links <= MAX_LINKS);
    let parsed = estafeta_mime::parse(&tracked.message);
    let html = estafeta_mime::text::decoded(&parsed, parsed.root()).expect("quoted-printable");
    let html = String::from_utf8_lossy(&html);
    let mut found = 0;
    for piece in html.split("https://t.test/t/").skip(1) {
        let end = piece.find(['"', '\'', '>', ' ']).unwrap_or(piece.len());
        let parts: Vec<&str> = piece[..end].split('/').collect();
        match parts.as_slice() {
            ["c", id, sig, url] if *id == "Q1" && check_click(SECRET, id, sig, url).is_some() => {
                found += 1
            }
            ["o", id, sig] if *id == "Q1" && check_open(SECRET, id, sig) => {}
            // the input's own text may name the same prefix
            _ => {}
        }
    }
    assert!(
        found >= tracked.links,
        "{found} of {} links lead back",
        tracked.links
    );
    assert!(
        html.contains("https://t.test/t/o/Q1/"),
        "the open image is there"
    );
}

/// `estafeta import`'s readers of other software's mail files (`mime::mailfiles`): the
/// input as an mbox, its lines as `From ` lines, and as a Maildir file name.
pub fn mailfiles(data: &[u8]) {
    use estafeta_mime::mailfiles::{
        MAX_MESSAGE, crlf, from_line_date, maildir_flags, mbox_flags, message_key, read_mbox,
    };
    let mut messages = 0usize;
    let skipped = read_mbox(data, |bytes, date| {
        messages += 1;
        assert!(bytes.len() <= MAX_MESSAGE);
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\r\n"),
            "CRLF line ends"
        );
        assert!(
            !bytes.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "no bare LF"
        );
        if let Some(d) = date {
            assert!((0..=253_402_300_800).contains(&d), "years 1970-9999: {d}");
        }
        let _ = mbox_flags(&bytes);
        assert!(message_key(&bytes).len() < 300_000);
        true
    })
    .expect("reading from memory");
    assert!(messages + skipped <= data.len());
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Some(d) = from_line_date(line) {
            assert!((0..=253_402_300_800).contains(&d), "{line:?}: {d}");
        }
    }
    let keywords: Vec<Option<String>> = (0..26).map(|i| Some(format!("k{i}"))).collect();
    assert!(maildir_flags(&text, &keywords).len() <= text.len());
    let _ = maildir_flags(&text, &[]);
    let converted = crlf(data);
    assert!(converted.len() <= data.len() * 2);
}

/// `sendmail`'s reader of a message from a local program (`mime::local_input`), with a
/// small size limit: the first octet chooses `-i` (dots kept) or not.
pub fn local_input(data: &[u8]) {
    use estafeta_mime::local_input::{
        ReadError, envelope_address_ok, header_recipients, read_message,
    };
    const MAX: usize = 4096;
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    match read_message(rest, first & 1 == 1, MAX) {
        Ok(m) => {
            let header: usize = m.header.iter().map(|f| f.len() + 2).sum();
            // every line end may have become CRLF
            assert!(header + m.body.len() <= 2 * MAX + 2, "bounded by max");
            for field in &m.header {
                assert!(!field.is_empty());
            }
            // a malformed field may give an address with a bare CR (the fuzzer found
            // one); sendmail then refuses it (EX_NOUSER) rather than send it on
            for address in header_recipients(&m.header) {
                if address.contains(['\r', '\n', '\0']) {
                    assert!(!envelope_address_ok(&address), "{address:?}");
                }
            }
        }
        Err(ReadError::TooLarge) => assert!(rest.len() > MAX),
        Err(ReadError::Io(e)) => panic!("reading from memory: {e}"),
    }
}

/// A Sieve script and a message (`estafeta-sieve`), split at the first NUL octet: the
/// script (as lossy UTF-8) is compiled and, when it compiles, run against the message
/// with an environment that knows nothing. Checks: no panic; an error keeps the message
/// (exactly one keep, no duplicate marks); a compile error is one printable line; a
/// redirect address has no line break, space or angle bracket.
pub fn sieve(data: &[u8]) {
    use estafeta_sieve::{Action, Environment, Limits, Location, Message};
    struct Nothing;
    impl Environment for Nothing {
        fn mailbox_exists(&mut self, name: &str) -> bool {
            name.len().is_multiple_of(2)
        }
        fn duplicate_seen(&mut self, key: &str) -> bool {
            key.len().is_multiple_of(2)
        }
        fn script_source(&mut self, _: Location, name: &str) -> Option<String> {
            (name == "self").then(|| "require \"include\"; include \"self\";".to_string())
        }
        fn spam_score(&mut self) -> Option<u8> {
            Some(5)
        }
        fn virus_score(&mut self) -> Option<u8> {
            None
        }
    }
    let (script, message) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let limits = Limits {
        max_steps: 100_000,
        ..Limits::default()
    };
    let source = String::from_utf8_lossy(script);
    let script = match estafeta_sieve::compile(&source, &limits) {
        Ok(s) => s,
        Err(e) => {
            let shown = e.to_string();
            no_line_break("a compile error", &shown);
            return;
        }
    };
    let users = vec!["me@example.com".to_string()];
    let m = Message {
        raw: message,
        envelope_from: "sender@example.org",
        envelope_to: "me@example.com",
        user_addresses: &users,
        now: 1_700_000_000,
    };
    let o = estafeta_sieve::execute(&[&script], &m, &mut Nothing, &limits);
    if o.error.is_some() {
        assert_eq!(o.actions, [Action::Keep { flags: vec![] }]);
        assert!(o.duplicates.is_empty());
    }
    for a in &o.actions {
        if let Action::Redirect { address } = a {
            assert!(address.len() <= 254, "{address:?}");
            assert!(
                !address.contains(['\r', '\n', ' ', '<', '>']),
                "{address:?}"
            );
        }
    }
}

/// ManageSieve command lines (RFC 5804) as the session reads them: the input split into
/// lines, each lexed into the tokens of one command; an announced literal takes the
/// next octets (at most what is left, as the session reads at most the announced
/// count); then the command is parsed. Checked: no panic; at most `MAX_TOKENS` tokens;
/// a quoted string within `MAX_QUOTED`; a parsed script name valid by RFC 5804 §1.6.
pub fn managesieve_command(data: &[u8]) {
    use estafeta_managesieve::command::{
        Command, MAX_NAME, MAX_QUOTED, MAX_TOKENS, Token, check_name, lex_line, parse,
    };
    let mut rest = data;
    let mut tokens = Vec::new();
    let mut commands = 0;
    while !rest.is_empty() && commands < 64 {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match lex_line(line, &mut tokens) {
            Err(e) => {
                assert!(!e.contains(['\r', '\n']));
                tokens.clear();
                commands += 1;
            }
            Ok(Some(n)) => {
                let take = (n as usize).min(rest.len());
                tokens.push(Token::Str(rest[..take].to_vec()));
                rest = &rest[take..];
                assert!(tokens.len() <= MAX_TOKENS);
            }
            Ok(None) => {
                assert!(tokens.len() <= MAX_TOKENS);
                for t in &tokens {
                    if let Token::Atom(a) = t {
                        assert!(a.len() <= 64);
                    }
                }
                let parsed = parse(std::mem::take(&mut tokens));
                commands += 1;
                match parsed {
                    Ok(Command::PutScript { name, .. })
                    | Ok(Command::GetScript(name))
                    | Ok(Command::DeleteScript(name)) => {
                        assert!(name.len() <= MAX_NAME && check_name(&name).is_ok());
                    }
                    Ok(Command::Noop(Some(tag))) => assert!(tag.len() <= MAX_QUOTED),
                    Ok(_) => {}
                    Err(e) => assert!(!e.contains(['\r', '\n'])),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The webmail's HTML

/// A message's HTML as the webmail would show it (`estafeta_mime::html::sanitize`), with
/// remote images blocked and shown. Checks: no panic; the bounds kept; nothing that runs
/// or loads survives (no `<script`, no event attribute, no `javascript:`); with images
/// blocked, no remote `src` at all.
pub fn html(data: &[u8]) {
    use estafeta_mime::html::{MAX_HTML, RemoteImages, sanitize};
    let text = String::from_utf8_lossy(data);
    for images in [RemoteImages::Block, RemoteImages::Show] {
        let out = sanitize(&text, images);
        assert!(out.truncated || text.len() <= MAX_HTML);
        // the checks read tag names and URL values only (text or a title may say
        // "onerror=" harmlessly)
        for tag in tags(&out.html) {
            let tag = tag.as_str();
            let (name, attributes) = safe_tag_parts(tag);
            for (attribute, value) in attributes {
                if matches!(attribute.as_str(), "href" | "src" | "action" | "background") {
                    // as a browser reads it (the URL Standard): leading and trailing C0
                    // controls and spaces skipped, tabs and line breaks removed
                    let value: String = value
                        .trim_matches(|c: char| c <= ' ')
                        .chars()
                        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                        .collect::<String>()
                        .to_ascii_lowercase();
                    assert!(
                        value.starts_with("http:")
                            || value.starts_with("https:")
                            || value.starts_with("mailto:")
                            || value.starts_with("cid:"),
                        "a URL of another kind: <{tag}>"
                    );
                    if images == RemoteImages::Block && name == "img" && attribute == "src" {
                        assert!(value.starts_with("cid:"), "a remote image shown: <{tag}>");
                    }
                }
            }
        }
    }
}

/// The tags of serialised HTML (what is between `<` and `>`), read as the serialiser
/// writes: text escapes `<` (`&lt;`), so outside a tag each `<` opens one; attribute
/// values are in double quotes with `"` escaped, and may hold `<` and `>`, so a tag
/// ends at the first `>` outside quotes.
fn tags(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in html.chars() {
        match (&mut current, c) {
            (None, '<') => current = Some(String::new()),
            (None, _) => {}
            (Some(t), '"') => {
                quoted = !quoted;
                t.push(c);
            }
            (Some(_), '>') if !quoted => {
                out.extend(current.take());
            }
            (Some(t), _) => t.push(c),
        }
    }
    out
}

/// [`tag_parts`] of a tag checked to be one the sanitiser lets through: no script,
/// style, frame, plugin, form, base or meta element, no event attribute.
fn safe_tag_parts(tag: &str) -> (String, Vec<(String, String)>) {
    let (name, attributes) = tag_parts(tag);
    assert!(
        !matches!(
            name.as_str(),
            "script" | "style" | "iframe" | "object" | "embed" | "form" | "base" | "meta"
        ),
        "<{tag}>"
    );
    for (attribute, _) in &attributes {
        assert!(!attribute.starts_with("on"), "an event attribute: <{tag}>");
    }
    (name, attributes)
}

/// A serialised tag's name and attributes, lower-cased names (values as written).
fn tag_parts(tag: &str) -> (String, Vec<(String, String)>) {
    let tag = tag.trim_start_matches('/');
    let end = tag
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(tag.len());
    let name = tag[..end].trim_end_matches('/').to_ascii_lowercase();
    let mut attributes = Vec::new();
    let mut rest = &tag[end..];
    loop {
        rest = rest.trim_start();
        let Some(eq) = rest.find('=') else { break };
        let attribute = rest[..eq].trim().to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let Some(value) = after.strip_prefix('"') else {
            break;
        };
        let close = value.find('"').unwrap_or(value.len());
        attributes.push((attribute, value[..close].to_string()));
        rest = value.get(close + 1..).unwrap_or("");
    }
    (name, attributes)
}

/// A JMAP API request body as the endpoint reads it (serde_json, bounded at 128 levels;
/// the server caps the body at 4 MiB): the request object, then each call's result
/// references resolved against a response list made from the input itself. Also the
/// ids, states and dates a client sends back. Checks: a refusal is an error, never a
/// panic; at most one call past the limit is read; a state read back reads back the
/// same; an Email id read back names the same hash; a UTCDate read back is the same
/// instant.
pub fn jmap_request(data: &[u8]) {
    use estafeta_web::inputs::*;
    let responses: Vec<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("methodResponses").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if let Ok(calls) = jmap_request(data, &responses) {
        assert!(calls.len() <= 33, "{}", calls.len());
    }
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        if let Some(again) = jmap_state(line) {
            assert_eq!(
                jmap_state(&again).as_deref(),
                Some(again.as_str()),
                "{line:?}"
            );
        }
        if let Some(t) = estafeta_net::dates::parse_rfc3339(line) {
            let written = estafeta_net::dates::rfc3339(t);
            assert_eq!(
                estafeta_net::dates::parse_rfc3339(&written),
                Some(t),
                "{line:?}"
            );
        }
    }
}

/// A message as JMAP and the webmail show it (`estafeta_web`'s `jmap_email`). Checks:
/// the body lists name only leaf parts of the message; the
/// structure and header forms serialise; in the webmail's rendering, images blocked, no
/// tag is a script (or style, frame, form…), none has an event attribute, and every
/// image is the message's own (a `data:` URL).
pub fn jmap_email(data: &[u8]) {
    let view = estafeta_web::inputs::jmap_email(data);
    for list in [&view.text, &view.html, &view.attachments] {
        for i in list.iter() {
            assert!(
                *i < view.parts && view.leaves.contains(i),
                "{i} of {}",
                view.parts
            );
        }
    }
    assert!(view.structure.starts_with('{'));
    for tag in tags(&view.rendered) {
        let (name, attributes) = safe_tag_parts(&tag);
        for (attribute, value) in attributes {
            if name == "img" && attribute == "src" {
                assert!(
                    value.starts_with("data:image/"),
                    "an image from elsewhere: <{tag}>"
                );
            }
        }
    }
}
