//! The command parser: a cursor over one complete command (its lines and the literals
//! they announced, as the session assembled them) and the grammar of RFC 9051 §9.
//!
//! Bounds (a command joined by literals may hold megabytes, so the line limit alone
//! bounds nothing here):
//! - no recursion but SEARCH's, which stops at `search::MAX_DEPTH` levels; every other
//!   parenthesised argument is one flat list;
//! - a parenthesised list (FETCH items, flags, header field names, STATUS items, LIST
//!   patterns and options, SELECT and STORE modifiers) and the capabilities of ENABLE
//!   hold at most [`MAX_LIST_ITEMS`] items;
//! - a header field name in `BODY[HEADER.FIELDS (…)]` holds at most [`MAX_FIELD_NAME`]
//!   octets;
//! - NOTIFY has its own bounds on groups, names and events (`crate::notify`).
//!
//! Beyond a bound the command gets `BAD` with the reason.

use crate::command::*;
use crate::search;
use crate::sequence::SequenceSet;

/// Why a command could not be parsed. `tag` is what the BAD reply should carry ("*" when
/// even the tag was unreadable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: String,
    pub message: String,
}

pub(crate) type PResult<T> = Result<T, String>;

/// Most items in one list. No client sends near that many; without a bound, a FETCH
/// joined by literals could carry millions of items, each costing work for every message
/// and echoed in every message's response.
pub(crate) const MAX_LIST_ITEMS: usize = 1000;

/// Longest header field name asked for: longer than a header line may be (RFC 5322
/// §2.1.1), so no such field exists; the names are echoed in each message's response.
pub(crate) const MAX_FIELD_NAME: usize = 998;

fn too_many() -> String {
    format!("more than {MAX_LIST_ITEMS} items in a list")
}

/// A cursor over the bytes of one command.
pub(crate) struct Reader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

impl<'a> Reader<'a> {
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected {:?} at octet {}", b as char, self.pos))
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }

    /// Case-insensitive keyword, not followed by another atom character.
    pub fn keyword(&mut self, word: &str) -> bool {
        let end = self.pos + word.len();
        if end <= self.bytes.len()
            && self.bytes[self.pos..end].eq_ignore_ascii_case(word.as_bytes())
            && self
                .bytes
                .get(end)
                .is_none_or(|&b| !is_atom_char(b) || b == b'[')
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    pub fn atom(&mut self) -> PResult<String> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err(format!("expected an atom at octet {}", self.pos));
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    pub fn number(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return Err(format!("expected a number at octet {}", self.pos));
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "number out of range".to_string())
    }

    pub fn number32(&mut self) -> PResult<u32> {
        u32::try_from(self.number()?).map_err(|_| "number out of range".to_string())
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("bad escape in quoted string".into()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.eat(b'~');
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err("literal shorter than announced".into());
        };
        let data = self.bytes[self.pos..end].to_vec();
        self.pos = end;
        Ok(data)
    }

    /// Whether a literal starts here: `{`, or `~{` (literal8). A `~` alone starts an atom
    /// (`~foo` is a mailbox name).
    fn at_literal(&self) -> bool {
        match self.peek() {
            Some(b'{') => true,
            Some(b'~') => self.bytes.get(self.pos + 1) == Some(&b'{'),
            _ => false,
        }
    }

    /// Whether a string (quoted or literal) starts here.
    fn at_string(&self) -> bool {
        self.peek() == Some(b'"') || self.at_literal()
    }

    pub fn string_bytes(&mut self) -> PResult<Vec<u8>> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else if self.at_literal() {
            self.literal()
        } else {
            Err(format!("expected a string at octet {}", self.pos))
        }
    }

    pub fn string(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(&self.string_bytes()?).into_owned())
    }

    /// atom (with `]` allowed) or string.
    pub fn astring(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(&self.astring_bytes()?).into_owned())
    }

    fn astring_bytes(&mut self) -> PResult<Vec<u8>> {
        if self.at_string() {
            return self.string_bytes();
        }
        let a = self.take_while(|b| is_atom_char(b) || b == b']');
        if a.is_empty() {
            return Err(format!("expected an atom or string at octet {}", self.pos));
        }
        Ok(a.to_vec())
    }

    /// A mailbox name; `INBOX` in any case is INBOX. Unlike other strings, a name that is
    /// not UTF-8 is refused rather than repaired: two different names must not become
    /// the same folder.
    pub fn mailbox(&mut self) -> PResult<String> {
        let name = utf8_name(self.astring_bytes()?)?;
        Ok(if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".into()
        } else {
            name
        })
    }

    /// LIST patterns may also hold `%` and `*`.
    fn list_mailbox(&mut self) -> PResult<String> {
        if self.at_string() {
            return utf8_name(self.string_bytes()?);
        }
        let a = self.take_while(|b| is_atom_char(b) || matches!(b, b']' | b'%' | b'*'));
        if a.is_empty() {
            return Err("expected a mailbox pattern".into());
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        // SEARCHRES (RFC 5182): `$` alone stands for the saved result
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let text = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
        std::str::from_utf8(text)
            .ok()
            .and_then(SequenceSet::parse)
            .ok_or_else(|| format!("expected a sequence set at octet {}", self.pos))
    }

    fn flag(&mut self) -> PResult<String> {
        if self.eat(b'\\') {
            if self.eat(b'*') {
                return Ok("\\*".into());
            }
            return Ok(format!("\\{}", self.atom()?));
        }
        self.atom()
    }

    /// `(flag flag …)`
    pub fn flag_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            if flags.len() == MAX_LIST_ITEMS {
                return Err(too_many());
            }
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// Space-separated items in parentheses, each read by `item`.
    pub fn paren_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            if out.len() == MAX_LIST_ITEMS {
                return Err(too_many());
            }
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    fn end(&mut self) -> PResult<()> {
        self.eat(b'\r');
        self.eat(b'\n');
        if self.at_end() {
            Ok(())
        } else {
            Err(format!("unexpected text at octet {}", self.pos))
        }
    }
}

fn utf8_name(bytes: Vec<u8>) -> PResult<String> {
    String::from_utf8(bytes).map_err(|_| "mailbox names are UTF-8; this one is not".to_string())
}

/// Parses one complete command (its CRLF included, literals inline).
pub fn parse_command(bytes: &[u8]) -> Result<Command, ParseError> {
    let mut r = Reader { bytes, pos: 0 };
    let tag = r.take_while(|b| is_atom_char(b) && b != b'+');
    if tag.is_empty() || r.peek() != Some(b' ') {
        return Err(ParseError {
            tag: "*".into(),
            message: "a command starts with a tag, then a space".into(),
        });
    }
    let tag = String::from_utf8_lossy(tag).into_owned();
    r.pos += 1;
    let body = command_body(&mut r).and_then(|b| r.end().map(|_| b));
    body.map(|body| Command {
        tag: tag.clone(),
        body,
    })
    .map_err(|message| ParseError { tag, message })
}

fn command_body(r: &mut Reader<'_>) -> PResult<CommandBody> {
    let name = r.atom()?.to_ascii_uppercase();
    let simple = |b| Ok(b);
    match name.as_str() {
        "CAPABILITY" => simple(CommandBody::Capability),
        "NOOP" => simple(CommandBody::Noop),
        "LOGOUT" => simple(CommandBody::Logout),
        "STARTTLS" => simple(CommandBody::StartTls),
        "NAMESPACE" => simple(CommandBody::Namespace),
        "IDLE" => simple(CommandBody::Idle),
        "CHECK" => simple(CommandBody::Check),
        "CLOSE" => simple(CommandBody::Close),
        "UNSELECT" => simple(CommandBody::Unselect),
        "EXPUNGE" => simple(CommandBody::Expunge),
        "AUTHENTICATE" => {
            r.sp()?;
            let mechanism = r.atom()?.to_ascii_uppercase();
            let initial = if r.eat(b' ') {
                let v =
                    r.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                Some(String::from_utf8_lossy(v).into_owned())
            } else {
                None
            };
            Ok(CommandBody::Authenticate { mechanism, initial })
        }
        "LOGIN" => {
            r.sp()?;
            let user = r.astring()?;
            r.sp()?;
            let password = r.astring()?;
            Ok(CommandBody::Login { user, password })
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            while r.eat(b' ') {
                if caps.len() == MAX_LIST_ITEMS {
                    return Err(too_many());
                }
                caps.push(r.atom()?.to_ascii_uppercase());
            }
            if caps.is_empty() {
                return Err("ENABLE needs at least one capability".into());
            }
            Ok(CommandBody::Enable(caps))
        }
        "SELECT" | "EXAMINE" => select(r, name == "EXAMINE"),
        "CREATE" => {
            r.sp()?;
            let mailbox = r.mailbox()?;
            // RFC 6154 §3 (CREATE-SPECIAL-USE): `(USE (attr ...))`, every attribute kept
            // for the server to judge
            let mut special_use = Vec::new();
            if r.eat(b' ') {
                r.expect(b'(')?;
                if !r.keyword("USE") {
                    return Err("only the USE parameter is supported".into());
                }
                r.sp()?;
                special_use = r.flag_list()?;
                r.expect(b')')?;
            }
            Ok(CommandBody::Create {
                mailbox,
                special_use,
            })
        }
        "DELETE" => one_mailbox(r).map(CommandBody::Delete),
        "SUBSCRIBE" => one_mailbox(r).map(CommandBody::Subscribe),
        "UNSUBSCRIBE" => one_mailbox(r).map(CommandBody::Unsubscribe),
        "GETQUOTA" => {
            r.sp()?;
            Ok(CommandBody::GetQuota(r.astring()?))
        }
        "GETQUOTAROOT" => one_mailbox(r).map(CommandBody::GetQuotaRoot),
        "RENAME" => {
            r.sp()?;
            let from = r.mailbox()?;
            r.sp()?;
            let to = r.mailbox()?;
            Ok(CommandBody::Rename { from, to })
        }
        "LIST" => list(r),
        "LSUB" => {
            r.sp()?;
            let reference = r.mailbox()?;
            r.sp()?;
            let pattern = r.list_mailbox()?;
            Ok(CommandBody::Lsub { reference, pattern })
        }
        "STATUS" => {
            r.sp()?;
            let mailbox = r.mailbox()?;
            r.sp()?;
            let items = r.paren_list(status_item)?;
            Ok(CommandBody::Status { mailbox, items })
        }
        "APPEND" => append(r),
        "SEARCH" => search::parse(r, false),
        "SORT" => search::parse_sort(r, false),
        "THREAD" => search::parse_thread(r, false),
        "FETCH" => fetch(r, false),
        "STORE" => store(r, false),
        "COPY" | "MOVE" => copy_move(r, false, name == "MOVE"),
        "UID" => {
            r.sp()?;
            let sub = r.atom()?.to_ascii_uppercase();
            match sub.as_str() {
                "FETCH" => fetch(r, true),
                "STORE" => store(r, true),
                "SEARCH" => search::parse(r, true),
                "SORT" => search::parse_sort(r, true),
                "THREAD" => search::parse_thread(r, true),
                "COPY" | "MOVE" => copy_move(r, true, sub == "MOVE"),
                "EXPUNGE" => {
                    r.sp()?;
                    Ok(CommandBody::UidExpunge(r.sequence_set()?))
                }
                other => Err(format!("unknown UID command {other}")),
            }
        }
        "ID" => {
            r.sp()?;
            if r.keyword("NIL") {
                return Ok(CommandBody::Id(Vec::new()));
            }
            let mut fields = Vec::new();
            r.expect(b'(')?;
            while !r.eat(b')') {
                if !fields.is_empty() {
                    r.sp()?;
                }
                let key = r.string()?;
                r.sp()?;
                let value = if r.keyword("NIL") {
                    None
                } else {
                    Some(r.string()?)
                };
                fields.push((key, value));
                if fields.len() > 30 {
                    return Err("too many ID fields".into());
                }
            }
            Ok(CommandBody::Id(fields))
        }
        "GETMETADATA" => {
            r.sp()?;
            let (mut max_size, mut depth) = (None, 0);
            if r.peek() == Some(b'(') {
                r.paren_list(|r| {
                    if r.keyword("MAXSIZE") {
                        r.sp()?;
                        max_size = Some(r.number()?);
                    } else if r.keyword("DEPTH") {
                        r.sp()?;
                        depth = if r.keyword("INFINITY") {
                            u32::MAX
                        } else {
                            match r.number()? {
                                0 => 0,
                                1 => 1,
                                _ => return Err("DEPTH is 0, 1 or infinity".into()),
                            }
                        };
                    } else {
                        return Err("GETMETADATA options are MAXSIZE and DEPTH".into());
                    }
                    Ok(())
                })?;
                r.sp()?;
            }
            let mailbox = r.mailbox()?;
            r.sp()?;
            let entries = if r.peek() == Some(b'(') {
                r.paren_list(|r| r.astring())?
            } else {
                vec![r.astring()?]
            };
            if entries.is_empty() {
                return Err("GETMETADATA needs an entry".into());
            }
            Ok(CommandBody::GetMetadata {
                mailbox,
                entries,
                max_size,
                depth,
            })
        }
        "SETMETADATA" => {
            r.sp()?;
            let mailbox = r.mailbox()?;
            r.sp()?;
            let entries = r.paren_list(|r| {
                let entry = r.astring()?;
                r.sp()?;
                let value = if r.keyword("NIL") {
                    None
                } else {
                    Some(r.string_bytes()?)
                };
                Ok((entry, value))
            })?;
            if entries.is_empty() {
                return Err("SETMETADATA needs an entry".into());
            }
            Ok(CommandBody::SetMetadata { mailbox, entries })
        }
        "NOTIFY" => crate::notify::parse(r),
        "COMPRESS" => {
            r.sp()?;
            Ok(CommandBody::Compress(r.atom()?.to_ascii_uppercase()))
        }
        other => Err(format!(
            "unknown command {}",
            other.chars().take(20).collect::<String>()
        )),
    }
}

fn one_mailbox(r: &mut Reader<'_>) -> PResult<String> {
    r.sp()?;
    r.mailbox()
}

fn select(r: &mut Reader<'_>, read_only: bool) -> PResult<CommandBody> {
    r.sp()?;
    let mailbox = r.mailbox()?;
    let mut condstore = false;
    let mut qresync = None;
    if r.eat(b' ') {
        r.paren_list(|r| {
            if r.keyword("CONDSTORE") {
                condstore = true;
                Ok(())
            } else if r.keyword("QRESYNC") {
                r.sp()?;
                r.expect(b'(')?;
                let uidvalidity = r.number32()?;
                r.sp()?;
                let modseq = r.number()?;
                let mut known_uids = None;
                if r.eat(b' ') {
                    known_uids = Some(r.sequence_set()?);
                    // the optional sequence-match data is accepted and ignored
                    if r.eat(b' ') {
                        r.paren_list(|r| r.sequence_set())?;
                    }
                }
                r.expect(b')')?;
                qresync = Some(Qresync {
                    uidvalidity,
                    modseq,
                    known_uids,
                });
                Ok(())
            } else {
                Err("unknown SELECT parameter".into())
            }
        })?;
    }
    Ok(CommandBody::Select {
        mailbox,
        read_only,
        condstore,
        qresync,
    })
}

fn list(r: &mut Reader<'_>) -> PResult<CommandBody> {
    r.sp()?;
    let mut selection = Vec::new();
    if r.peek() == Some(b'(') {
        selection = r.paren_list(|r| Ok(r.atom()?.to_ascii_uppercase()))?;
        r.sp()?;
    }
    let reference = r.mailbox()?;
    r.sp()?;
    let patterns = if r.peek() == Some(b'(') {
        r.paren_list(|r| r.list_mailbox())?
    } else {
        vec![r.list_mailbox()?]
    };
    let mut returns = Vec::new();
    if r.eat(b' ') {
        if !r.keyword("RETURN") {
            return Err("expected RETURN".into());
        }
        r.sp()?;
        returns = r.paren_list(|r| {
            if r.keyword("SUBSCRIBED") {
                Ok(ListReturn::Subscribed)
            } else if r.keyword("CHILDREN") {
                Ok(ListReturn::Children)
            } else if r.keyword("SPECIAL-USE") {
                Ok(ListReturn::SpecialUse)
            } else if r.keyword("STATUS") {
                r.sp()?;
                Ok(ListReturn::Status(r.paren_list(status_item)?))
            } else {
                Err("unknown LIST return option".into())
            }
        })?;
    }
    Ok(CommandBody::List {
        reference,
        patterns,
        selection,
        returns,
    })
}

fn status_item(r: &mut Reader<'_>) -> PResult<StatusItem> {
    let name = r.atom()?.to_ascii_uppercase();
    Ok(match name.as_str() {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "DELETED" => StatusItem::Deleted,
        "SIZE" => StatusItem::Size,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "MAILBOXID" => StatusItem::MailboxId,
        other => return Err(format!("unknown STATUS item {other}")),
    })
}

fn append(r: &mut Reader<'_>) -> PResult<CommandBody> {
    r.sp()?;
    let mailbox = r.mailbox()?;
    r.sp()?;
    let mut flags = Vec::new();
    if r.peek() == Some(b'(') {
        flags = r.flag_list()?;
        r.sp()?;
    }
    let mut date = None;
    if r.peek() == Some(b'"') {
        let text = r.string()?;
        date = Some(search::date_time(&text).ok_or("bad APPEND date-time")?);
        r.sp()?;
    }
    let message = r.string_bytes()?;
    Ok(CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    })
}

fn fetch(r: &mut Reader<'_>, uid: bool) -> PResult<CommandBody> {
    r.sp()?;
    let set = r.sequence_set()?;
    r.sp()?;
    let mut items = if r.peek() == Some(b'(') {
        r.paren_list(fetch_item)?.into_iter().flatten().collect()
    } else {
        fetch_item(r)?
    };
    let mut changed_since = None;
    let mut vanished = false;
    if r.eat(b' ') {
        r.paren_list(|r| {
            if r.keyword("CHANGEDSINCE") {
                r.sp()?;
                changed_since = Some(r.number()?);
                Ok(())
            } else if r.keyword("VANISHED") {
                vanished = true;
                Ok(())
            } else {
                Err("unknown FETCH modifier".into())
            }
        })?;
    }
    if uid && !items.contains(&FetchItem::Uid) {
        items.push(FetchItem::Uid);
    }
    if changed_since.is_some() && !items.contains(&FetchItem::ModSeq) {
        items.push(FetchItem::ModSeq);
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    })
}

/// One FETCH attribute (a macro gives several).
pub(crate) fn fetch_item(r: &mut Reader<'_>) -> PResult<Vec<FetchItem>> {
    use FetchItem::*;
    let one = |i| Ok(vec![i]);
    if r.keyword("ALL") {
        return Ok(vec![Flags, InternalDate, Rfc822Size, Envelope]);
    }
    if r.keyword("FAST") {
        return Ok(vec![Flags, InternalDate, Rfc822Size]);
    }
    if r.keyword("FULL") {
        return Ok(vec![Flags, InternalDate, Rfc822Size, Envelope, Body]);
    }
    if r.keyword("FLAGS") {
        return one(Flags);
    }
    if r.keyword("INTERNALDATE") {
        return one(InternalDate);
    }
    if r.keyword("RFC822.SIZE") {
        return one(Rfc822Size);
    }
    if r.keyword("RFC822.HEADER") {
        return one(Rfc822Header);
    }
    if r.keyword("RFC822.TEXT") {
        return one(Rfc822Text);
    }
    if r.keyword("RFC822") {
        return one(Rfc822);
    }
    if r.keyword("ENVELOPE") {
        return one(Envelope);
    }
    if r.keyword("BODYSTRUCTURE") {
        return one(BodyStructure);
    }
    if r.keyword("UID") {
        return one(Uid);
    }
    if r.keyword("MODSEQ") {
        return one(ModSeq);
    }
    if r.keyword("EMAILID") {
        return one(EmailId);
    }
    if r.keyword("SAVEDATE") {
        return one(SaveDate);
    }
    if r.keyword("THREADID") {
        return one(ThreadId);
    }
    if r.keyword("PREVIEW") {
        // PREVIEW (LAZY): we always have a preview to give
        let rest = &r.bytes[r.pos..];
        let lazy = b" (LAZY)";
        if rest.len() >= lazy.len() && rest[..lazy.len()].eq_ignore_ascii_case(lazy) {
            r.pos += lazy.len();
        }
        return one(Preview);
    }
    if r.keyword("BINARY.SIZE") {
        return one(BinarySize(section_parts(r)?));
    }
    let binary_peek = r.keyword("BINARY.PEEK");
    if binary_peek || r.keyword("BINARY") {
        let parts = section_parts(r)?;
        return one(Binary {
            peek: binary_peek,
            parts,
            partial: partial(r)?,
        });
    }
    let peek = r.keyword("BODY.PEEK");
    if peek || r.keyword("BODY") {
        if r.peek() != Some(b'[') {
            if peek {
                return Err("BODY.PEEK needs a section".into());
            }
            return one(Body);
        }
        let section = section(r)?;
        return one(BodySection {
            peek,
            section,
            partial: partial(r)?,
        });
    }
    Err(format!("unknown FETCH item at octet {}", r.pos))
}

/// `[1.2.3]` for BINARY.
fn section_parts(r: &mut Reader<'_>) -> PResult<Vec<u32>> {
    r.expect(b'[')?;
    let mut parts = Vec::new();
    while r.peek() != Some(b']') {
        if !parts.is_empty() {
            r.expect(b'.')?;
        }
        parts.push(r.number32()?);
    }
    r.expect(b']')?;
    Ok(parts)
}

fn section(r: &mut Reader<'_>) -> PResult<Section> {
    r.expect(b'[')?;
    let mut s = Section::default();
    loop {
        if r.peek().is_some_and(|b| b.is_ascii_digit()) {
            let n = r.number32()?;
            if n == 0 {
                return Err("section parts start at 1".into());
            }
            s.parts.push(n);
            if r.eat(b'.') {
                continue;
            }
            break;
        }
        let not = if r.keyword("HEADER.FIELDS.NOT") {
            Some(true)
        } else if r.keyword("HEADER.FIELDS") {
            Some(false)
        } else {
            None
        };
        if let Some(not) = not {
            r.sp()?;
            let fields = r.paren_list(|r| {
                let name = r.astring()?;
                if name.len() > MAX_FIELD_NAME {
                    return Err(format!(
                        "header field name longer than {MAX_FIELD_NAME} octets"
                    ));
                }
                Ok(name)
            })?;
            s.text = Some(SectionText::HeaderFields { not, fields });
        } else if r.keyword("HEADER") {
            s.text = Some(SectionText::Header);
        } else if r.keyword("TEXT") {
            s.text = Some(SectionText::Text);
        } else if r.keyword("MIME") {
            if s.parts.is_empty() {
                return Err("MIME needs a part number".into());
            }
            s.text = Some(SectionText::Mime);
        }
        break;
    }
    r.expect(b']')?;
    Ok(s)
}

/// `<start.count>`
fn partial(r: &mut Reader<'_>) -> PResult<Option<(u32, u32)>> {
    if !r.eat(b'<') {
        return Ok(None);
    }
    let start = r.number32()?;
    r.expect(b'.')?;
    let count = r.number32()?;
    if count == 0 {
        return Err("a partial fetch needs a non-zero length".into());
    }
    r.expect(b'>')?;
    Ok(Some((start, count)))
}

fn store(r: &mut Reader<'_>, uid: bool) -> PResult<CommandBody> {
    r.sp()?;
    let set = r.sequence_set()?;
    r.sp()?;
    let mut unchanged_since = None;
    if r.peek() == Some(b'(') {
        r.paren_list(|r| {
            if r.keyword("UNCHANGEDSINCE") {
                r.sp()?;
                unchanged_since = Some(r.number()?);
                Ok(())
            } else {
                Err("unknown STORE modifier".into())
            }
        })?;
        r.sp()?;
    }
    let action = if r.eat(b'+') {
        StoreAction::Add
    } else if r.eat(b'-') {
        StoreAction::Remove
    } else {
        StoreAction::Replace
    };
    let silent = if r.keyword("FLAGS.SILENT") {
        true
    } else if r.keyword("FLAGS") {
        false
    } else {
        return Err("expected FLAGS or FLAGS.SILENT".into());
    };
    r.sp()?;
    let flags = if r.peek() == Some(b'(') {
        r.flag_list()?
    } else {
        let mut flags = vec![r.flag()?];
        while r.eat(b' ') {
            if flags.len() == MAX_LIST_ITEMS {
                return Err(too_many());
            }
            flags.push(r.flag()?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        unchanged_since,
        action,
        silent,
        flags,
    })
}

fn copy_move(r: &mut Reader<'_>, uid: bool, is_move: bool) -> PResult<CommandBody> {
    r.sp()?;
    let set = r.sequence_set()?;
    r.sp()?;
    let mailbox = r.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}
