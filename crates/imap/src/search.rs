//! SEARCH criteria (RFC 9051 §6.4.4, with ESEARCH RETURN options and CONDSTORE MODSEQ),
//! and the IMAP date formats.
//!
//! Bounds, each refused with `BAD` beyond it:
//! - criteria nest at most [`MAX_DEPTH`] levels (a parenthesised list, NOT and OR each
//!   open one), so a hostile `NOT NOT NOT …`, `OR OR OR …` or `((((…` neither recurses
//!   without end here nor builds a tree that anything walking it (evaluation,
//!   `needs_message`, drop) would recurse into deeper;
//! - one SEARCH holds at most [`MAX_KEYS`] keys (every key counts, those inside NOT, OR
//!   and parentheses too): each is tested against every message, and a command joined
//!   by literals could otherwise carry millions;
//! - a string to search for holds at most [`MAX_SEARCH_STRING`] octets.

use crate::command::{CommandBody, SearchKey, SortCriterion, SortKey, ThreadAlgorithm};
use crate::parser::{PResult, Reader};

pub(crate) fn parse(r: &mut Reader<'_>, uid: bool) -> PResult<CommandBody> {
    r.sp()?;
    let returns = return_options(r)?;
    let mut charset = None;
    if r.keyword("CHARSET") {
        r.sp()?;
        charset = Some(r.astring()?.to_ascii_uppercase());
        r.sp()?;
    }
    Ok(CommandBody::Search {
        uid,
        returns,
        charset,
        key: keys(r)?,
    })
}

/// `RETURN (options) ` (RFC 4731, RFC 5267), when the command has it: the options in
/// upper case.
fn return_options(r: &mut Reader<'_>) -> PResult<Option<Vec<String>>> {
    if !r.keyword("RETURN") {
        return Ok(None);
    }
    r.sp()?;
    let options = r.paren_list(|r| Ok(r.atom()?.to_ascii_uppercase()))?;
    r.sp()?;
    Ok(Some(options))
}

/// `SORT (criteria) charset keys` (RFC 5256 §3), after the command name.
pub(crate) fn parse_sort(r: &mut Reader<'_>, uid: bool) -> PResult<CommandBody> {
    r.sp()?;
    let returns = return_options(r)?;
    let criteria = r.paren_list(|r| {
        let mut word = r.atom()?.to_ascii_uppercase();
        let reverse = word == "REVERSE";
        if reverse {
            r.sp()?;
            word = r.atom()?.to_ascii_uppercase();
        }
        let key = match word.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            other => return Err(format!("unknown SORT criterion {other}")),
        };
        Ok(SortCriterion { reverse, key })
    })?;
    if criteria.is_empty() {
        return Err("SORT needs at least one criterion".into());
    }
    r.sp()?;
    let charset = r.astring()?.to_ascii_uppercase();
    r.sp()?;
    Ok(CommandBody::Sort {
        uid,
        returns,
        criteria,
        charset,
        key: keys(r)?,
    })
}

/// `THREAD algorithm charset keys` (RFC 5256 §3), after the command name.
pub(crate) fn parse_thread(r: &mut Reader<'_>, uid: bool) -> PResult<CommandBody> {
    r.sp()?;
    let algorithm = match r.atom()?.to_ascii_uppercase().as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        other => return Err(format!("unknown THREAD algorithm {other}")),
    };
    r.sp()?;
    let charset = r.astring()?.to_ascii_uppercase();
    r.sp()?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        charset,
        key: keys(r)?,
    })
}

/// The search keys to the end of the command, all of which must match.
fn keys(r: &mut Reader<'_>) -> PResult<SearchKey> {
    let mut count = 0;
    let mut keys = vec![key(r, 0, &mut count)?];
    while r.eat(b' ') {
        keys.push(key(r, 0, &mut count)?);
    }
    Ok(if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    })
}

/// Nesting deeper than this is refused (a hostile `NOT NOT NOT …` must not overflow the stack).
pub(crate) const MAX_DEPTH: usize = 64;

/// Most keys in one SEARCH.
pub(crate) const MAX_KEYS: usize = 1000;

/// Longest string searched for (a subject, an address, a phrase of the text).
pub(crate) const MAX_SEARCH_STRING: usize = 4096;

/// One key (and those inside it); `count` is how many keys the command holds so far.
fn key(r: &mut Reader<'_>, depth: usize, count: &mut usize) -> PResult<SearchKey> {
    use SearchKey::*;
    if depth > MAX_DEPTH {
        return Err(format!(
            "search criteria nested too deeply (at most {MAX_DEPTH} levels)"
        ));
    }
    *count += 1;
    if *count > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} search keys"));
    }
    if r.peek() == Some(b'(') {
        let mut keys = r.paren_list(|r| key(r, depth + 1, count))?;
        return Ok(if keys.len() == 1 {
            keys.remove(0)
        } else {
            And(keys)
        });
    }
    if r.peek()
        .is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$')
    {
        return Ok(SequenceSet(r.sequence_set()?));
    }
    let word = r.atom()?.to_ascii_uppercase();
    let arg = |r: &mut Reader<'_>| -> PResult<String> {
        r.sp()?;
        let text = r.astring()?;
        if text.len() > MAX_SEARCH_STRING {
            return Err(format!(
                "search string longer than {MAX_SEARCH_STRING} octets"
            ));
        }
        Ok(text)
    };
    let flag = |f: &str| Ok(Flag(f.to_string()));
    let not_flag = |f: &str| Ok(NotFlag(f.to_string()));
    match word.as_str() {
        "ALL" => Ok(All),
        "ANSWERED" => flag("\\Answered"),
        "DELETED" => flag("\\Deleted"),
        "DRAFT" => flag("\\Draft"),
        "FLAGGED" => flag("\\Flagged"),
        "SEEN" => flag("\\Seen"),
        "UNANSWERED" => not_flag("\\Answered"),
        "UNDELETED" => not_flag("\\Deleted"),
        "UNDRAFT" => not_flag("\\Draft"),
        "UNFLAGGED" => not_flag("\\Flagged"),
        "UNSEEN" => not_flag("\\Seen"),
        "KEYWORD" => Ok(Flag(arg(r)?)),
        "UNKEYWORD" => Ok(NotFlag(arg(r)?)),
        "NEW" => Ok(New),
        "OLD" => Ok(Old),
        "RECENT" => Ok(Recent),
        "BCC" => Ok(Bcc(arg(r)?)),
        "CC" => Ok(Cc(arg(r)?)),
        "FROM" => Ok(From(arg(r)?)),
        "SUBJECT" => Ok(Subject(arg(r)?)),
        "TO" => Ok(To(arg(r)?)),
        "BODY" => Ok(Body(arg(r)?)),
        "TEXT" => Ok(Text(arg(r)?)),
        "HEADER" => {
            let field = arg(r)?;
            Ok(Header(field, arg(r)?))
        }
        "SAVEDATESUPPORTED" => Ok(SaveDateSupported),
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" | "SAVEDBEFORE"
        | "SAVEDON" | "SAVEDSINCE" => {
            let text = arg(r)?;
            let day = date(&text)
                .ok_or_else(|| format!("bad date {text:?}: expected like 1-Feb-2026"))?;
            Ok(match word.as_str() {
                "BEFORE" => Before(day),
                "ON" => On(day),
                "SINCE" => Since(day),
                "SENTBEFORE" => SentBefore(day),
                "SENTON" => SentOn(day),
                "SAVEDBEFORE" => SavedBefore(day),
                "SAVEDON" => SavedOn(day),
                "SAVEDSINCE" => SavedSince(day),
                _ => SentSince(day),
            })
        }
        "LARGER" => {
            r.sp()?;
            Ok(Larger(r.number()?))
        }
        "SMALLER" => {
            r.sp()?;
            Ok(Smaller(r.number()?))
        }
        "UID" => {
            r.sp()?;
            Ok(Uid(r.sequence_set()?))
        }
        "NOT" => {
            r.sp()?;
            Ok(Not(Box::new(key(r, depth + 1, count)?)))
        }
        "OR" => {
            r.sp()?;
            let a = key(r, depth + 1, count)?;
            r.sp()?;
            let b = key(r, depth + 1, count)?;
            Ok(Or(Box::new(a), Box::new(b)))
        }
        "MODSEQ" => {
            r.sp()?;
            if r.peek() == Some(b'"') {
                // entry name and type (per-flag MODSEQ) are accepted and ignored
                r.astring()?;
                r.sp()?;
                r.atom()?;
                r.sp()?;
            }
            Ok(ModSeq(r.number()?))
        }
        other => Err(format!("unknown search key {other}")),
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `1-Feb-2026` → days since 1970-01-01.
pub fn date(text: &str) -> Option<i64> {
    let mut it = text.trim().split('-');
    let day: i64 = it.next()?.trim().parse().ok()?;
    let month_name = it.next()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as i64
        + 1;
    let year: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    Some(estafeta_net::dates::days_from_civil(year, month, day))
}

/// `17-Jul-1996 02:44:25 -0700` → Unix seconds.
pub fn date_time(text: &str) -> Option<i64> {
    let (d, rest) = text.trim().split_once(' ')?;
    let day = date(d)?;
    let (time, zone) = rest.split_once(' ')?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 || zone.len() != 5 {
        return None;
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    Some(day * 86_400 + h * 3600 + m * 60 + s - sign * (zh * 3600 + zm * 60))
}

/// What a SEARCH key is tested against.
pub struct Context<'a> {
    pub seq: u32,
    pub count: u32,
    pub largest_uid: u32,
    pub entry: &'a estafeta_store::MailboxEntry,
    /// Whether the message is recent to this session (`\Recent`).
    pub recent: bool,
    /// The parsed message, when a key needs headers or text.
    pub message: Option<&'a estafeta_mime::Message<'a>>,
    /// The decoded body text in lower case, made on first use: several BODY/TEXT keys
    /// of one SEARCH decode each message once.
    pub body: std::cell::OnceCell<String>,
}

impl Context<'_> {
    fn body_contains(&self, m: &estafeta_mime::Message<'_>, needle: &str) -> bool {
        self.body
            .get_or_init(|| crate::mime::body_text(m).to_lowercase())
            .contains(&needle.to_lowercase())
    }
}

/// Whether evaluating `key` needs the message itself (headers, body, sent date).
pub fn needs_message(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().any(needs_message),
        Or(a, b) => needs_message(a) || needs_message(b),
        Not(k) => needs_message(k),
        Bcc(_) | Cc(_) | From(_) | Subject(_) | To(_) | Body(_) | Text(_) | Header(..)
        | SentBefore(_) | SentOn(_) | SentSince(_) => true,
        _ => false,
    }
}

/// The TEXT and BODY strings every match of `key` must contain: those of the key itself,
/// or of the keys of an AND (nested ANDs too) — not those under OR or NOT. The search
/// index may narrow a search to the messages that may hold them.
pub fn required_text(key: &SearchKey) -> Vec<(&str, estafeta_store::SearchScope)> {
    use estafeta_store::SearchScope;
    let mut out = Vec::new();
    let mut stack = vec![key];
    // iterative: an AND nests at most MAX_DEPTH levels, but no recursion is needed
    while let Some(k) = stack.pop() {
        match k {
            SearchKey::Body(s) => out.push((s.as_str(), SearchScope::Body)),
            SearchKey::Text(s) => out.push((s.as_str(), SearchScope::Text)),
            SearchKey::And(keys) => stack.extend(keys.iter()),
            _ => {}
        }
    }
    out
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

pub fn matches(key: &SearchKey, c: &Context<'_>) -> bool {
    use SearchKey::*;
    let has = |f: &str| c.entry.flags.contains(f);
    let header = |name: &str, needle: &str| {
        c.message.is_some_and(|m| {
            crate::mime::header_text(m, name)
                .iter()
                .any(|v| contains(v, needle))
        })
    };
    let internal_day = c.entry.internal_date.div_euclid(86_400);
    let saved_day = c.entry.saved_at.div_euclid(86_400);
    // the day the sender wrote, not that day moved to UTC
    let sent_day = || {
        c.message
            .and_then(|m| estafeta_mime::date_as_written(m.root()))
            .map(|(y, m, d)| estafeta_net::dates::days_from_civil(y, m, d))
    };
    match key {
        All => true,
        And(keys) => keys.iter().all(|k| matches(k, c)),
        Or(a, b) => matches(a, c) || matches(b, c),
        Not(k) => !matches(k, c),
        SequenceSet(set) => set.contains(c.seq, c.count),
        Uid(set) => set.contains(c.entry.uid, c.largest_uid),
        Flag(f) => has(f),
        NotFlag(f) => !has(f),
        Recent => c.recent,
        New => c.recent && !has("\\Seen"),
        Old => !c.recent,
        Bcc(s) => header("Bcc", s),
        Cc(s) => header("Cc", s),
        From(s) => header("From", s),
        To(s) => header("To", s),
        Subject(s) => header("Subject", s),
        Header(name, s) => {
            if s.is_empty() {
                c.message
                    .is_some_and(|m| !crate::mime::header_text(m, name).is_empty())
            } else {
                header(name, s)
            }
        }
        Body(s) => c.message.is_some_and(|m| c.body_contains(m, s)),
        Text(s) => c
            .message
            .is_some_and(|m| contains(&String::from_utf8_lossy(m.raw), s) || c.body_contains(m, s)),
        Before(d) => internal_day < *d,
        On(d) => internal_day == *d,
        Since(d) => internal_day >= *d,
        SavedBefore(d) => saved_day < *d,
        SavedOn(d) => saved_day == *d,
        SavedSince(d) => saved_day >= *d,
        SaveDateSupported => true,
        SentBefore(d) => sent_day().is_some_and(|s| s < *d),
        SentOn(d) => sent_day().is_some_and(|s| s == *d),
        SentSince(d) => sent_day().is_some_and(|s| s >= *d),
        Larger(n) => c.entry.size as u64 > *n,
        Smaller(n) => (c.entry.size as u64) < *n,
        ModSeq(m) => c.entry.modseq as u64 >= *m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_is_what_every_match_holds() {
        use SearchKey::*;
        use estafeta_store::SearchScope;
        let k = And(vec![
            Text("a".into()),
            Or(Box::new(Body("b".into())), Box::new(All)),
            Not(Box::new(Body("c".into()))),
            And(vec![Body("d".into()), Flag("\\Seen".into())]),
        ]);
        let mut got = required_text(&k);
        got.sort_by_key(|(s, _)| *s);
        assert_eq!(
            got,
            vec![("a", SearchScope::Text), ("d", SearchScope::Body)]
        );
        assert!(required_text(&Or(Box::new(Text("x".into())), Box::new(All))).is_empty());
    }

    #[test]
    fn dates() {
        assert_eq!(date("1-Jan-1970"), Some(0));
        assert_eq!(date("23-Nov-2026"), Some(1_795_442_901 / 86_400));
        assert_eq!(date("29-Feb-2000"), Some(951_782_400 / 86_400));
        assert_eq!(date("1-Foo-2000"), None);
        assert_eq!(date_time("23-Nov-2026 14:08:21 +0000"), Some(1_795_442_901));
        assert_eq!(date_time("23-Nov-2026 15:08:21 +0100"), Some(1_795_442_901));
        assert_eq!(date_time("23-Nov-2026 14:08:21"), None);
    }
}
