//! `Email/query` and `Email/queryChanges` (RFC 8621 §4.4, 4.5).
//!
//! Filters: `inMailbox`, `inMailboxOtherThan`, `before`, `after`, `minSize`, `maxSize`,
//! `hasKeyword`, `notKeyword`, `text`, `from`, `to`, `cc`, `bcc`, `subject`, `body`,
//! `header`, under `AND`/`OR`/`NOT` operators nested at most [`MAX_FILTER_DEPTH`] levels
//! with at most [`MAX_FILTER_CONDITIONS`] conditions in all. `body` is narrowed by the
//! search index IMAP SEARCH BODY uses; `text` means what IMAP SEARCH TEXT means (the
//! message as written or its decoded text) and also matches the decoded From, To, Cc,
//! Bcc and Subject. Sorts: [`SORTS`]. At most [`MAX_LIMIT`] ids per answer.
//! `queryChanges` answers only for an unchanged state; otherwise the client queries again
//! (`canCalculateChanges` is false).

use std::cmp::Ordering;
use std::collections::HashSet;

use estafeta_store::{MailboxEntry, SearchScope};
use serde_json::{Value, json};

use super::emails::{flag_of, user_emails};
use super::{Ctx, MethodError, MethodResult, ids, message, threads};

pub const MAX_FILTER_DEPTH: usize = 10;
pub const MAX_FILTER_CONDITIONS: usize = 100;
/// Most ids one query answers with (`limit` is lowered to it).
pub const MAX_LIMIT: usize = 1000;
pub const SORTS: &[&str] = &[
    "receivedAt",
    "size",
    "sentAt",
    "from",
    "to",
    "subject",
    "hasKeyword",
];

#[derive(Debug, Default, Clone, PartialEq)]
struct Condition {
    in_mailbox: Option<i64>,
    not_in: Vec<i64>,
    before: Option<i64>,
    after: Option<i64>,
    min_size: Option<i64>,
    max_size: Option<i64>,
    has_keyword: Option<String>,
    not_keyword: Option<String>,
    text: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cc: Option<String>,
    bcc: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    header: Option<(String, Option<String>)>,
    /// A mailbox id that names no mailbox of the user: matches nothing.
    impossible: bool,
}

#[derive(Debug, Clone)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Vec<Filter>),
    Cond(Box<Condition>),
}

fn lower(v: &Value, name: &str) -> Result<Option<String>, MethodError> {
    match v {
        Value::String(s) => Ok(Some(s.to_lowercase())),
        _ => Err(MethodError::invalid(format!("{name} is not a string"))),
    }
}

fn date(v: &Value, name: &str) -> Result<Option<i64>, MethodError> {
    v.as_str()
        .and_then(estafeta_net::dates::parse_rfc3339)
        .map(Some)
        .ok_or_else(|| MethodError::invalid(format!("{name} is not a UTCDate")))
}

/// Reads a filter; depth and count are checked before going deeper.
fn read_filter(
    v: &Value,
    depth: usize,
    count: &mut usize,
    ctx: &Ctx<'_>,
) -> Result<Filter, MethodError> {
    if depth >= MAX_FILTER_DEPTH {
        return Err(MethodError::new(
            "unsupportedFilter",
            format!("filters nest at most {MAX_FILTER_DEPTH} levels"),
        ));
    }
    *count += 1;
    if *count > MAX_FILTER_CONDITIONS {
        return Err(MethodError::new(
            "unsupportedFilter",
            format!("at most {MAX_FILTER_CONDITIONS} conditions"),
        ));
    }
    let o = v
        .as_object()
        .ok_or_else(|| MethodError::invalid("a filter is not an object"))?;
    if let Some(op) = o.get("operator") {
        let conditions = o
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| MethodError::invalid("an operator without conditions"))?;
        let mut inner = Vec::with_capacity(conditions.len());
        for c in conditions {
            inner.push(read_filter(c, depth + 1, count, ctx)?);
        }
        return match op.as_str() {
            Some("AND") => Ok(Filter::And(inner)),
            Some("OR") => Ok(Filter::Or(inner)),
            Some("NOT") => Ok(Filter::Not(inner)),
            _ => Err(MethodError::new(
                "unsupportedFilter",
                "operator is AND, OR or NOT",
            )),
        };
    }
    let mut c = Condition::default();
    let mailbox = |v: &Value| -> Result<Option<i64>, MethodError> {
        let id = v
            .as_str()
            .ok_or_else(|| MethodError::invalid("a mailbox id is not a string"))?;
        Ok(ctx.resolve_id(id).as_deref().and_then(ids::mailbox_of))
    };
    for (k, v) in o {
        match k.as_str() {
            "inMailbox" => match mailbox(v)? {
                Some(m) => c.in_mailbox = Some(m),
                None => c.impossible = true,
            },
            "inMailboxOtherThan" => {
                for m in v
                    .as_array()
                    .ok_or_else(|| MethodError::invalid("inMailboxOtherThan is not an array"))?
                {
                    if let Some(m) = mailbox(m)? {
                        c.not_in.push(m);
                    }
                }
            }
            "before" => c.before = date(v, k)?,
            "after" => c.after = date(v, k)?,
            "minSize" => c.min_size = v.as_i64(),
            "maxSize" => c.max_size = v.as_i64(),
            "hasKeyword" => {
                c.has_keyword = Some(
                    v.as_str()
                        .and_then(flag_of)
                        .ok_or_else(|| MethodError::invalid("hasKeyword is not a keyword"))?,
                )
            }
            "notKeyword" => {
                c.not_keyword = Some(
                    v.as_str()
                        .and_then(flag_of)
                        .ok_or_else(|| MethodError::invalid("notKeyword is not a keyword"))?,
                )
            }
            "text" => c.text = lower(v, k)?,
            "from" => c.from = lower(v, k)?,
            "to" => c.to = lower(v, k)?,
            "cc" => c.cc = lower(v, k)?,
            "bcc" => c.bcc = lower(v, k)?,
            "subject" => c.subject = lower(v, k)?,
            "body" => c.body = lower(v, k)?,
            "header" => {
                let a = v
                    .as_array()
                    .filter(|a| !a.is_empty() && a.len() <= 2)
                    .ok_or_else(|| MethodError::invalid("header is [name] or [name, value]"))?;
                let name = a[0]
                    .as_str()
                    .ok_or_else(|| MethodError::invalid("header name"))?
                    .to_string();
                let value = a.get(1).and_then(Value::as_str).map(str::to_lowercase);
                c.header = Some((name, value));
            }
            other => {
                return Err(MethodError::new(
                    "unsupportedFilter",
                    format!("no Email filter {other}"),
                ));
            }
        }
    }
    Ok(Filter::Cond(Box::new(c)))
}

/// What a condition reads from a message's content, once per message.
#[derive(Default)]
struct Content {
    raw: String,
    body: String,
    subject: String,
    from: String,
    to: String,
    cc: String,
    bcc: String,
    sent_at: Option<i64>,
    headers: Vec<(String, String)>,
}

impl Content {
    fn read(raw: &[u8], full: bool) -> Content {
        let msg = estafeta_mime::parse(raw);
        let addresses = |name: &str| {
            message::header_addresses(&msg, name)
                .iter()
                .map(|(n, e)| format!("{n} <{e}>"))
                .collect::<Vec<_>>()
                .join(", ")
                .to_lowercase()
        };
        let headers = msg
            .root()
            .headers()
            .iter()
            .map(|h| {
                let name = match &h.name {
                    mail_parser::HeaderName::Other(n) => n.to_string(),
                    other => other.as_str().to_string(),
                };
                let value = String::from_utf8_lossy(
                    raw.get(h.offset_start as usize..h.offset_end as usize)
                        .unwrap_or_default(),
                )
                .trim()
                .to_lowercase();
                (name, value)
            })
            .collect();
        let (raw_text, body) = if full {
            let t = estafeta_mime::text::index_text(raw);
            (t.raw, t.body)
        } else {
            (String::new(), String::new())
        };
        Content {
            raw: raw_text,
            body,
            subject: message::header_text(&msg, "Subject").to_lowercase(),
            from: addresses("From"),
            to: addresses("To"),
            cc: addresses("Cc"),
            bcc: addresses("Bcc"),
            sent_at: message::sent_at(&msg),
            headers,
        }
    }
}

struct EmailRow<'a> {
    hash: &'a str,
    rows: &'a [MailboxEntry],
}

impl EmailRow<'_> {
    fn first(&self) -> &MailboxEntry {
        &self.rows[0]
    }
}

fn cond_needs(c: &Condition) -> (bool, bool) {
    let full = c.text.is_some() || c.body.is_some();
    let header = full
        || c.from.is_some()
        || c.to.is_some()
        || c.cc.is_some()
        || c.bcc.is_some()
        || c.subject.is_some()
        || c.header.is_some();
    (header, full)
}

/// (needs header fields, needs the whole text), for the filter. Iterative.
fn needs(f: &Filter) -> (bool, bool) {
    let mut out = (false, false);
    let mut stack = vec![f];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(v) | Filter::Or(v) | Filter::Not(v) => stack.extend(v.iter()),
            Filter::Cond(c) => {
                let (h, t) = cond_needs(c);
                out.0 |= h;
                out.1 |= t;
            }
        }
    }
    out
}

fn matches_cond(c: &Condition, e: &EmailRow<'_>, content: Option<&Content>) -> bool {
    let first = e.first();
    if c.impossible {
        return false;
    }
    if let Some(m) = c.in_mailbox
        && !e.rows.iter().any(|r| r.mailbox_id == m)
    {
        return false;
    }
    if !c.not_in.is_empty() && !e.rows.iter().any(|r| !c.not_in.contains(&r.mailbox_id)) {
        return false;
    }
    if c.before.is_some_and(|b| first.internal_date >= b)
        || c.after.is_some_and(|a| first.internal_date < a)
    {
        return false;
    }
    if c.min_size.is_some_and(|m| first.size < m) || c.max_size.is_some_and(|m| first.size >= m) {
        return false;
    }
    if let Some(k) = &c.has_keyword
        && !first.flags.iter().any(|f| f.eq_ignore_ascii_case(k))
    {
        return false;
    }
    if let Some(k) = &c.not_keyword
        && first.flags.iter().any(|f| f.eq_ignore_ascii_case(k))
    {
        return false;
    }
    let Some(t) = content else {
        return cond_needs(c) == (false, false);
    };
    let has = |hay: &str, needle: &Option<String>| {
        needle.as_ref().is_none_or(|n| hay.contains(n.as_str()))
    };
    if let Some(n) = &c.text {
        let hit = t.raw.contains(n.as_str())
            || t.body.contains(n.as_str())
            || [&t.subject, &t.from, &t.to, &t.cc, &t.bcc]
                .iter()
                .any(|h| h.contains(n.as_str()));
        if !hit {
            return false;
        }
    }
    if !has(&t.body, &c.body)
        || !has(&t.from, &c.from)
        || !has(&t.to, &c.to)
        || !has(&t.cc, &c.cc)
        || !has(&t.bcc, &c.bcc)
        || !has(&t.subject, &c.subject)
    {
        return false;
    }
    if let Some((name, value)) = &c.header {
        let hit = t.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(name) && value.as_ref().is_none_or(|x| v.contains(x.as_str()))
        });
        if !hit {
            return false;
        }
    }
    true
}

/// Evaluates a filter (depth bounded by [`MAX_FILTER_DEPTH`] when read).
fn matches(f: &Filter, e: &EmailRow<'_>, content: Option<&Content>) -> bool {
    match f {
        Filter::And(v) => v.iter().all(|f| matches(f, e, content)),
        Filter::Or(v) => v.iter().any(|f| matches(f, e, content)),
        Filter::Not(v) => !v.iter().any(|f| matches(f, e, content)),
        Filter::Cond(c) => matches_cond(c, e, content),
    }
}

/// The `body` conditions at the top (alone or under AND): the index narrows them.
fn top_body_needles(f: &Filter) -> Vec<String> {
    match f {
        Filter::Cond(c) => c.body.iter().cloned().collect(),
        Filter::And(v) => v
            .iter()
            .filter_map(|f| match f {
                Filter::Cond(c) => c.body.clone(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone)]
struct Sort {
    property: String,
    ascending: bool,
    keyword: Option<String>,
}

fn read_sort(args: &Value) -> Result<Vec<Sort>, MethodError> {
    let Some(list) = args.get("sort").filter(|v| !v.is_null()) else {
        return Ok(vec![Sort {
            property: "receivedAt".into(),
            ascending: false,
            keyword: None,
        }]);
    };
    let list = list
        .as_array()
        .ok_or_else(|| MethodError::invalid("sort is not an array"))?;
    list.iter()
        .take(10)
        .map(|s| {
            let property = s
                .get("property")
                .and_then(Value::as_str)
                .ok_or_else(|| MethodError::invalid("a sort without property"))?;
            if !SORTS.contains(&property) {
                return Err(MethodError::new(
                    "unsupportedSort",
                    format!("no Email sort {property}"),
                ));
            }
            if let Some(c) = s.get("collation").and_then(Value::as_str)
                && !["i;ascii-casemap", "i;unicode-casemap", "i;ascii-numeric"].contains(&c)
            {
                return Err(MethodError::new(
                    "unsupportedSort",
                    format!("no collation {c}"),
                ));
            }
            let keyword = match property {
                "hasKeyword" => Some(
                    s.get("keyword")
                        .and_then(Value::as_str)
                        .and_then(flag_of)
                        .ok_or_else(|| MethodError::invalid("hasKeyword sort needs a keyword"))?,
                ),
                _ => None,
            };
            Ok(Sort {
                property: property.to_string(),
                ascending: s
                    .get("isAscending")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                keyword,
            })
        })
        .collect()
}

/// `Email/query`.
pub async fn query(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let mut count = 0;
    let filter = match args.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => Some(read_filter(f, 0, &mut count, ctx)?),
    };
    let sort = read_sort(args)?;
    let collapse = args
        .get("collapseThreads")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(answer) = one_mailbox_by_date(ctx, args, filter.as_ref(), &sort, collapse).await? {
        return Ok(answer);
    }
    let (all, state) = user_emails(ctx).await?;
    let store = &ctx.state.store;

    // the index narrows `body`: copies whose text may hold every needle
    let mut narrowed: Option<HashSet<(i64, u32)>> = None;
    if let Some(f) = &filter {
        let needles = top_body_needles(f);
        if !needles.is_empty() {
            let boxes = store.list_mailboxes(ctx.user.id).await?;
            for needle in needles {
                let mut hits = HashSet::new();
                let mut usable = true;
                for b in &boxes {
                    match store
                        .search_candidates(b.id, &needle, SearchScope::Body)
                        .await?
                    {
                        Some(uids) => hits.extend(uids.into_iter().map(|u| (b.id, u))),
                        None => {
                            usable = false;
                            break;
                        }
                    }
                }
                if usable {
                    narrowed = Some(match narrowed {
                        None => hits,
                        Some(n) => n.intersection(&hits).copied().collect(),
                    });
                }
            }
        }
    }
    let (need_header, need_full) = filter.as_ref().map_or((false, false), needs);
    let sort_needs_header = sort
        .iter()
        .any(|s| ["sentAt", "from", "to", "subject"].contains(&s.property.as_str()));
    let mut chosen: Vec<(EmailRow<'_>, Option<Content>)> = Vec::new();
    for (hash, rows) in &all {
        let e = EmailRow { hash, rows };
        if let Some(n) = &narrowed
            && !rows.iter().any(|r| n.contains(&(r.mailbox_id, r.uid)))
        {
            continue;
        }
        let content = if need_header || sort_needs_header {
            let first = e.first();
            let bytes = if need_full {
                store.read_message(first.mailbox_id, first.uid).await?
            } else {
                store
                    .read_message_range(first.mailbox_id, first.uid, 0, threads::HEADER_READ)
                    .await?
            };
            let Some(bytes) = bytes else { continue };
            let bytes = if need_full {
                bytes
            } else {
                header_section(bytes)
            };
            Some(Content::read(&bytes, need_full))
        } else {
            None
        };
        if filter
            .as_ref()
            .is_none_or(|f| matches(f, &e, content.as_ref()))
        {
            chosen.push((e, content));
        }
    }
    chosen.sort_by(|(a, ca), (b, cb)| {
        for s in &sort {
            let o = match s.property.as_str() {
                "receivedAt" => a.first().internal_date.cmp(&b.first().internal_date),
                "size" => a.first().size.cmp(&b.first().size),
                "sentAt" => ca
                    .as_ref()
                    .and_then(|c| c.sent_at)
                    .cmp(&cb.as_ref().and_then(|c| c.sent_at)),
                "from" => ca
                    .as_ref()
                    .map(|c| &c.from)
                    .cmp(&cb.as_ref().map(|c| &c.from)),
                "to" => ca.as_ref().map(|c| &c.to).cmp(&cb.as_ref().map(|c| &c.to)),
                "subject" => ca
                    .as_ref()
                    .map(|c| base_subject(&c.subject))
                    .cmp(&cb.as_ref().map(|c| base_subject(&c.subject))),
                "hasKeyword" => {
                    let k = s.keyword.as_deref().unwrap_or("");
                    let has = |e: &EmailRow<'_>| {
                        e.first().flags.iter().any(|f| f.eq_ignore_ascii_case(k))
                    };
                    has(a).cmp(&has(b))
                }
                _ => Ordering::Equal,
            };
            let o = if s.ascending { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        // newest first, then by id: the same order every time
        b.first()
            .internal_date
            .cmp(&a.first().internal_date)
            .then_with(|| a.hash.cmp(b.hash))
    });
    let mut result: Vec<String> = Vec::with_capacity(chosen.len());
    let (asked, limit) = super::read_limit(args)?;
    let want_total = args
        .get("calculateTotal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let has_anchor = args.get("anchor").is_some_and(|a| !a.is_null());
    if collapse {
        // each Email's Thread is read (once per body and process) only as far as the
        // answer needs: all of them for a total or an anchor, else up to the page's end
        let enough = match (
            want_total || has_anchor,
            args.get("position").and_then(Value::as_i64),
        ) {
            (false, Some(p)) if p >= 0 => Some(p as usize + limit),
            (false, None) => Some(limit),
            _ => None,
        };
        let mut seen = HashSet::new();
        for chunk in chosen.chunks(100) {
            let firsts: Vec<&MailboxEntry> = chunk.iter().map(|(e, _)| e.first()).collect();
            let threads = threads::of_entries(ctx, &firsts).await?;
            for (e, _) in chunk {
                let t = threads.get(e.hash).cloned().unwrap_or_default();
                if seen.insert(t) {
                    result.push(ids::email(e.hash));
                }
            }
            if enough.is_some_and(|n| result.len() >= n) {
                break;
            }
        }
    } else {
        result.extend(chosen.iter().map(|(e, _)| ids::email(e.hash)));
    }
    let total = result.len();
    let mut position = match args.get("position").and_then(Value::as_i64).unwrap_or(0) {
        p if p < 0 => total.saturating_sub(p.unsigned_abs() as usize),
        p => p as usize,
    };
    if let Some(anchor) = args.get("anchor").filter(|v| !v.is_null()) {
        let anchor = anchor
            .as_str()
            .ok_or_else(|| MethodError::invalid("anchor is not an id"))?;
        let at = result.iter().position(|id| id == anchor).ok_or_else(|| {
            MethodError::new("anchorNotFound", "the anchor is not in the results")
        })?;
        let offset = args
            .get("anchorOffset")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        position = (at as i64 + offset).max(0) as usize;
    }
    let page: Vec<&String> = result.iter().skip(position).take(limit).collect();
    let mut out = json!({
        "accountId": ctx.account_id(),
        "queryState": state,
        "canCalculateChanges": false,
        "position": position.min(total),
        "ids": page,
    });
    if args
        .get("calculateTotal")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        out["total"] = json!(total);
    }
    if asked.is_none_or(|a| a > MAX_LIMIT) {
        out["limit"] = json!(limit);
    }
    Ok(out)
}

/// The common query of a message list — one mailbox (or nothing else in the filter) by
/// `receivedAt` — answered by the store a page at a time (ordered and grouped by body
/// in SQL), without reading the user's other messages; collapsed threads are read page
/// by page until the answer is full. `None` for any other query (and for one that asks
/// for an anchor, or a total of collapsed threads), which the general path answers.
async fn one_mailbox_by_date(
    ctx: &Ctx<'_>,
    args: &Value,
    filter: Option<&Filter>,
    sort: &[Sort],
    collapse: bool,
) -> Result<Option<Value>, MethodError> {
    let mailbox = match filter {
        Some(Filter::Cond(c)) => {
            let only_mailbox = Condition {
                in_mailbox: c.in_mailbox,
                ..Condition::default()
            };
            match c.in_mailbox {
                Some(m) if **c == only_mailbox => m,
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let newest_first = match sort {
        [s] if s.property == "receivedAt" => !s.ascending,
        _ => return Ok(None),
    };
    let want_total = args
        .get("calculateTotal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let has_anchor = args.get("anchor").is_some_and(|a| !a.is_null());
    let position = args.get("position").and_then(Value::as_i64).unwrap_or(0);
    if has_anchor || position < 0 || (collapse && want_total) {
        return Ok(None);
    }
    let position = position as usize;
    let (asked, limit) = super::read_limit(args)?;
    let store = &ctx.state.store;
    let boxes = store.list_mailboxes(ctx.user.id).await?;
    let state = super::state::Snapshot::of(&boxes).email_state();
    let mine = boxes.iter().any(|b| b.id == mailbox);
    let mut ids_: Vec<String> = Vec::new();
    let mut total = 0usize;
    if mine && !collapse {
        let page = store
            .mailbox_emails(mailbox, newest_first, position as i64, limit as i64)
            .await?;
        ids_ = page.iter().map(|(h, _)| ids::email(h)).collect();
        if want_total {
            total = store.mailbox_email_count(mailbox).await? as usize;
        }
    } else if mine {
        // threads in order of their newest (or oldest) Email, up to the page's end
        const CHUNK: usize = 200;
        let mut seen = HashSet::new();
        let mut offset = 0;
        let mut threaded = 0usize;
        'pages: loop {
            let page = store
                .mailbox_emails(mailbox, newest_first, offset as i64, CHUNK as i64)
                .await?;
            if page.is_empty() {
                break;
            }
            offset += page.len();
            let hashes: Vec<String> = page.iter().map(|(h, _)| h.clone()).collect();
            let rows = store.messages_by_hash(ctx.user.id, &hashes).await?;
            let firsts: Vec<&MailboxEntry> = hashes
                .iter()
                .filter_map(|h| rows.iter().find(|r| &r.blob_hash == h))
                .collect();
            let threads = threads::of_entries(ctx, &firsts).await?;
            for (h, _) in &page {
                let t = threads.get(h).cloned().unwrap_or_default();
                if seen.insert(t) {
                    if threaded >= position {
                        ids_.push(ids::email(h));
                        if ids_.len() >= limit {
                            break 'pages;
                        }
                    }
                    threaded += 1;
                }
            }
            if page.len() < CHUNK {
                break;
            }
        }
    }
    let mut out = json!({
        "accountId": ctx.account_id(),
        "queryState": state,
        "canCalculateChanges": false,
        "position": position,
        "ids": ids_,
    });
    if want_total {
        out["total"] = json!(total);
        out["position"] = json!(position.min(total));
    }
    if asked.is_none_or(|a| a > MAX_LIMIT) {
        out["limit"] = json!(limit);
    }
    Ok(Some(out))
}

/// The header section of the start of a message (up to and with the empty line).
fn header_section(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(p) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        bytes.truncate(p + 4);
    }
    bytes
}

/// A subject without its `Re:`/`Fwd:` prefixes, for sorting.
fn base_subject(s: &str) -> &str {
    let mut s = s.trim();
    loop {
        let before = s;
        for p in ["re:", "fwd:", "fw:", "aw:", "wg:"] {
            if let Some(rest) = s.strip_prefix(p) {
                s = rest.trim_start();
            }
        }
        if s == before {
            return s;
        }
    }
}

/// `Email/queryChanges`: nothing changed when the state is the same; otherwise the
/// client queries again.
pub async fn query_changes(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let since = args
        .get("sinceQueryState")
        .and_then(Value::as_str)
        .ok_or_else(|| MethodError::invalid("sinceQueryState is missing"))?;
    let now = super::emails::current_state(ctx).await?;
    if since != now {
        return Err(MethodError::new(
            "cannotCalculateChanges",
            "the Emails changed: query again",
        ));
    }
    Ok(json!({
        "accountId": ctx.account_id(),
        "oldQueryState": since,
        "newQueryState": now,
        "removed": [],
        "added": [],
    }))
}
