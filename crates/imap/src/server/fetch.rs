//! FETCH: message attributes, structure and sections. Messages are read in batches; what
//! only needs the structure (ENVELOPE, BODYSTRUCTURE) comes from the summary cached beside
//! the body, which the first FETCH computes. Output is flushed batch by batch.
//!
//! Memory per connection: a batch of bodies holds at most [`BODY_BATCH`] messages and
//! about [`BATCH_BYTES`] octets (a message larger than that is a batch of its own). A
//! message over [`STREAM_SIZE`] whose items need no part of its structure (BODY[],
//! BODY.PEEK[], RFC822, BINARY[], whole or partial, with FLAGS, UID, ENVELOPE, …) is
//! never held whole: its literal is read from the store and sent [`STREAM_CHUNK`]
//! octets at a time. Sections inside a message (BODY[1], HEADER, TEXT, …) need it
//! parsed, so that one message is held whole while its response is written.
//! (The session holds one piece; SQLite itself still reads the whole body for each
//! piece, since sqlx has no incremental blob reads: a cost in time, and in memory up to
//! the store's connections times the message, not per session.)

use std::collections::HashMap;

use super::dispatch::quoted;
use super::*;
use crate::response::literal8;
use crate::sequence::compact;
use crate::summary::Summary;

/// Summaries read per query.
const SUMMARY_BATCH: usize = 2000;

/// A message larger than this is sent in pieces when its items allow.
const STREAM_SIZE: i64 = 1 << 20;
/// The pieces a large message is read and sent in.
const STREAM_CHUNK: u64 = 1 << 20;

/// What FETCH has of one message beyond its entry.
#[derive(Default)]
struct FetchSource {
    raw: Option<Vec<u8>>,
    summary: Option<Arc<Summary>>,
    /// The message is read from the store as it is sent, not held (`raw` is `None`).
    streamed: bool,
}

/// A response as written: octets, and the ranges of a streamed message between them.
enum Piece {
    Bytes(Vec<u8>),
    /// Octets `start..start + len` of the message; `binary`: as they are (a literal8),
    /// else NUL sent as 0x80 (see `response::literal`).
    Stream {
        start: u64,
        len: u64,
        binary: bool,
    },
}

/// Whether the items need the message parsed (a part, a header, the text), given
/// whether its structure is cached.
fn needs_parse(items: &[FetchItem], summary_cached: bool) -> bool {
    items.iter().any(|i| match i {
        FetchItem::Rfc822Header | FetchItem::Rfc822Text | FetchItem::Preview => true,
        FetchItem::BodySection { section, .. } => {
            !section.parts.is_empty() || section.text.is_some()
        }
        FetchItem::Binary { parts, .. } | FetchItem::BinarySize(parts) => !parts.is_empty(),
        FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure => !summary_cached,
        _ => false,
    })
}

/// The targets in batches (see `body_batches` when bodies are read), each flagged when
/// it is one large message to stream.
fn batches(
    targets: &[(usize, MailboxEntry)],
    bodies: bool,
    streamable: bool,
) -> Vec<(&[(usize, MailboxEntry)], bool)> {
    if !bodies {
        return targets.chunks(SUMMARY_BATCH).map(|c| (c, false)).collect();
    }
    let large = |(_, e): &(usize, MailboxEntry)| streamable && e.size > STREAM_SIZE;
    body_batches(targets, |(_, e)| e.size, large)
        .into_iter()
        .map(|c| (c, c.len() == 1 && large(&c[0])))
        .collect()
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
        vanished: bool,
    ) {
        if self
            .fetch_rows(tag, uid, set, items, changed_since, vanished)
            .await
        {
            self.ok(tag, "FETCH completed");
        }
    }

    /// The FETCH responses of a FETCH command, or of NOTIFY's MessageNew (`tag` `*`):
    /// true when all were sent; when not, a reply saying why has been (with `tag`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch_rows(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
        vanished: bool,
    ) -> bool {
        if vanished && !(uid && self.qresync && changed_since.is_some()) {
            self.bad(
                tag,
                "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC",
            );
            return false;
        }
        let mut items = items.to_vec();
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.enable_condstore();
            if !items.contains(&FetchItem::ModSeq) {
                items.push(FetchItem::ModSeq);
            }
        }
        // UID FETCH always reports UIDs (RFC 9051 §6.4.9)
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        let Some(view) = self.view.as_ref() else {
            return false;
        };
        let mailbox_id = view.mailbox.id;
        let read_only = view.read_only;
        if vanished && let Some(since) = changed_since {
            let largest = view.entries.last().map(|e| e.uid).unwrap_or(0);
            let gone = match self
                .shared
                .store
                .vanished_since(mailbox_id, since as i64)
                .await
            {
                Ok(g) => g,
                Err(e) => {
                    self.unavailable(tag, &e);
                    return false;
                }
            };
            let gone: Vec<u32> = gone
                .into_iter()
                .filter(|&u| set.contains(u, largest.max(u)))
                .collect();
            if !gone.is_empty() {
                self.line(&format!("* VANISHED (EARLIER) {}", compact(&gone)));
            }
        }
        let targets: Vec<(usize, MailboxEntry)> = self
            .resolve(uid, set)
            .into_iter()
            .filter_map(|seq| {
                let e = self.view.as_ref()?.entries.get(seq - 1)?;
                (changed_since.is_none_or(|m| e.modseq as u64 > m)).then(|| (seq, e.clone()))
            })
            .collect();
        let needs_body = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::BodySection { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::BinarySize(_)
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Header
                    | FetchItem::Rfc822Text
                    | FetchItem::Preview
            )
        });
        let needs_summary = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure
            )
        });
        // fetching a body without PEEK sets \Seen (RFC 9051 §6.4.5)
        let marks_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchItem::Rfc822
                        | FetchItem::Rfc822Text
                        | FetchItem::BodySection { peek: false, .. }
                        | FetchItem::Binary { peek: false, .. }
                )
            });
        // structure items of a streamed message come from its summary
        let streamable = !needs_parse(&items, true);
        let mut seen_now = Vec::new();
        for (chunk, streamed) in batches(&targets, needs_body, streamable) {
            let material = if streamed {
                self.read_streamed(mailbox_id, chunk, needs_summary).await
            } else if needs_body {
                self.read_bodies(mailbox_id, chunk).await
            } else if needs_summary {
                self.read_summaries(mailbox_id, chunk).await
            } else {
                Ok(HashMap::new())
            };
            let mut material = match material {
                Ok(m) => m,
                Err(e) => {
                    self.unavailable(tag, &e);
                    return false;
                }
            };
            for (seq, entry) in chunk {
                let m = material.remove(&entry.uid);
                if (needs_body || needs_summary) && m.is_none() {
                    continue; // expunged meanwhile: the next refresh says so
                }
                let m = m.unwrap_or_default();
                let will_set_seen = marks_seen && !entry.flags.contains("\\Seen");
                if will_set_seen {
                    seen_now.push(entry.uid);
                }
                let out = match self.render(*seq, entry, &items, &m, will_set_seen) {
                    Ok(out) => out,
                    Err(mime::UnknownEncoding) => {
                        self.no(
                            tag,
                            "[UNKNOWN-CTE] cannot decode the part's transfer encoding",
                        );
                        return false;
                    }
                };
                for piece in out {
                    match piece {
                        Piece::Bytes(b) => self.io().write_owned(b),
                        Piece::Stream { start, len, binary } => {
                            if !self.stream(mailbox_id, entry.uid, start, len, binary).await {
                                return false;
                            }
                        }
                    }
                }
            }
            if let Err(e) = self.io().flush().await {
                tracing::debug!(error = ?e, "client gone during FETCH");
                return false;
            }
        }
        if !seen_now.is_empty() {
            let seen = Flags::parse("\\Seen");
            match self
                .shared
                .store
                .store_flags(mailbox_id, &seen_now, FlagChange::Add, &seen, None)
                .await
            {
                // our own change: note it in the view (it was just reported) and nothing else,
                // so other sessions' changes are still reported at the next refresh
                Ok(update) => {
                    if let Some(view) = self.view.as_mut() {
                        for (uid, flags) in update.changed {
                            if let Ok(i) = view.entries.binary_search_by_key(&uid, |e| e.uid) {
                                let e = &mut view.entries_mut()[i];
                                let told = e.flags.with(["\\Seen"]);
                                // if someone else changed the flags too, keep the old MODSEQ so
                                // that the next refresh reports the message's real flags
                                if flags == told {
                                    e.modseq = update.modseq;
                                }
                                e.flags = told;
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot set \\Seen"),
            }
        }
        true
    }

    /// A message to be streamed: its summary when structure items are asked for.
    async fn read_streamed(
        &self,
        mailbox_id: i64,
        chunk: &[(usize, MailboxEntry)],
        needs_summary: bool,
    ) -> Result<HashMap<u32, FetchSource>, StoreError> {
        let mut out = if needs_summary {
            self.read_summaries(mailbox_id, chunk).await?
        } else {
            chunk
                .iter()
                .map(|(_, e)| (e.uid, FetchSource::default()))
                .collect()
        };
        for m in out.values_mut() {
            m.streamed = true;
        }
        Ok(out)
    }

    /// Sends octets `start..start + len` of a message, read from the store a piece at a
    /// time and flushed piece by piece. False when the session must end: the client is
    /// gone, or the message went (expunged and its body deleted) after its literal's
    /// length was announced, which leaves nothing true to send.
    async fn stream(
        &mut self,
        mailbox_id: i64,
        uid: u32,
        start: u64,
        len: u64,
        binary: bool,
    ) -> bool {
        let mut sent = 0u64;
        while sent < len {
            let want = (len - sent).min(STREAM_CHUNK);
            let piece = match self
                .shared
                .store
                .read_message_range(mailbox_id, uid, start + sent, want)
                .await
            {
                Ok(Some(p)) if !p.is_empty() => p,
                Ok(_) => {
                    tracing::warn!(uid, "message gone while it was sent: ending the session");
                    self.ended = Some("message gone during FETCH");
                    return false;
                }
                Err(e) => {
                    tracing::error!(uid, error = %e, "cannot read a message being sent: ending the session");
                    self.ended = Some("store failure during FETCH");
                    return false;
                }
            };
            sent += piece.len() as u64;
            if binary || !piece.contains(&0) {
                self.io().write(&piece);
            } else {
                let mapped: Vec<u8> = piece
                    .iter()
                    .map(|&b| if b == 0 { 0x80 } else { b })
                    .collect();
                self.io().write(&mapped);
            }
            if let Err(e) = self.io().flush().await {
                tracing::debug!(error = ?e, "client gone during FETCH");
                self.ended = Some("closed");
                return false;
            }
        }
        true
    }

    /// Bodies of a batch of messages, parsed once for what needs structure.
    async fn read_bodies(
        &self,
        mailbox_id: i64,
        chunk: &[(usize, MailboxEntry)],
    ) -> Result<HashMap<u32, FetchSource>, StoreError> {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            return Ok(HashMap::new());
        };
        let (lo, hi) = (first.1.uid.min(last.1.uid), first.1.uid.max(last.1.uid));
        let wanted: std::collections::HashSet<u32> = chunk.iter().map(|(_, e)| e.uid).collect();
        let bodies = self.shared.store.read_messages(mailbox_id, lo, hi).await?;
        Ok(bodies
            .into_iter()
            .filter(|(u, _)| wanted.contains(u))
            .map(|(u, raw)| {
                (
                    u,
                    FetchSource {
                        raw: Some(raw),
                        ..FetchSource::default()
                    },
                )
            })
            .collect())
    }

    /// Summaries of a batch of messages: from memory, from the store's cache, and the
    /// rest computed from their bodies and cached in both for next time.
    async fn read_summaries(
        &self,
        mailbox_id: i64,
        chunk: &[(usize, MailboxEntry)],
    ) -> Result<HashMap<u32, FetchSource>, StoreError> {
        let memory = &self.shared.summaries;
        let material = |summary| FetchSource {
            summary: Some(summary),
            ..FetchSource::default()
        };
        let mut out = HashMap::new();
        let mut wanted = std::collections::HashSet::new();
        for (_, e) in chunk {
            match memory.get(&e.blob_hash) {
                Some(s) => {
                    out.insert(e.uid, material(s));
                }
                None => {
                    wanted.insert(e.uid);
                }
            }
        }
        let (Some(&lo), Some(&hi)) = (wanted.iter().min(), wanted.iter().max()) else {
            return Ok(out);
        };
        let store = &self.shared.store;
        let mut missing: Vec<(u32, String)> = Vec::new();
        for s in store.read_summaries(mailbox_id, lo, hi).await? {
            if !wanted.contains(&s.uid) {
                continue;
            }
            match s.summary.as_deref().and_then(Summary::decode) {
                Some(summary) => {
                    let summary = Arc::new(summary);
                    memory.put(&s.blob_hash, Arc::clone(&summary));
                    out.insert(s.uid, material(summary));
                }
                None => missing.push((s.uid, s.blob_hash)),
            }
        }
        if let (Some(a), Some(b)) = (missing.first(), missing.last()) {
            let hashes: HashMap<u32, String> = missing.iter().cloned().collect();
            let mut fresh = Vec::new();
            for (u, raw) in store.read_messages(mailbox_id, a.0, b.0).await? {
                let Some(hash) = hashes.get(&u) else { continue };
                let summary = Arc::new(Summary::compute(&raw));
                fresh.push((hash.clone(), summary.encode()));
                memory.put(hash, Arc::clone(&summary));
                out.insert(u, material(summary));
            }
            // a cache: failing to keep it costs only time
            if let Err(e) = store.save_summaries(&fresh).await {
                tracing::warn!(error = %e, "cannot cache message summaries");
            }
        }
        Ok(out)
    }

    /// One `* n FETCH (...)` response.
    fn render(
        &self,
        seq: usize,
        entry: &MailboxEntry,
        items: &[FetchItem],
        m: &FetchSource,
        will_set_seen: bool,
    ) -> Result<Vec<Piece>, mime::UnknownEncoding> {
        let raw = m.raw.as_deref().unwrap_or_default();
        let structure = |i: &FetchItem| {
            matches!(
                i,
                FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure
            )
        };
        // the whole message (BODY[], BINARY[]) needs no parse; parts and headers do
        let parsed =
            (m.raw.is_some() && needs_parse(items, m.summary.is_some())).then(|| mime::parse(raw));
        let mut pieces = Vec::new();
        let total = entry.size.max(0) as u64;
        // a streamed literal: its length now, its octets when written
        let mut stream = |out: &mut Vec<u8>, partial: Option<(u32, u32)>, binary: bool| {
            let (start, len) = match partial {
                Some((s, c)) => {
                    let s = u64::from(s).min(total);
                    out.extend_from_slice(format!("<{s}>").as_bytes());
                    (s, u64::from(c).min(total - s))
                }
                None => (0, total),
            };
            let open = if binary { "~" } else { "" };
            out.extend_from_slice(format!(" {open}{{{len}}}\r\n").as_bytes());
            pieces.push(Piece::Bytes(std::mem::take(out)));
            pieces.push(Piece::Stream { start, len, binary });
        };
        let summary = match (&m.summary, &parsed) {
            (Some(s), _) => Some(Arc::clone(s)),
            (None, Some(p)) if items.iter().any(structure) => Some(Arc::new(Summary::of(p))),
            _ => None,
        }
        .unwrap_or_else(empty_summary);
        // the flags as shown, made only when they are
        let shown_flags = || {
            let flags = if will_set_seen {
                entry.flags.with(["\\Seen"])
            } else {
                entry.flags.clone()
            };
            let recent = !self.rev2
                && self
                    .view
                    .as_ref()
                    .is_some_and(|v| v.recent.contains(entry.uid));
            super::recent::shown(&flags, recent)
        };
        let mut out = if self.uidonly {
            format!("* {} UIDFETCH (", entry.uid).into_bytes()
        } else {
            format!("* {seq} FETCH (").into_bytes()
        };
        let mut first = true;
        for item in items {
            // UIDFETCH carries the UID already (RFC 9586 §3.3)
            if self.uidonly && *item == FetchItem::Uid {
                continue;
            }
            if !std::mem::take(&mut first) {
                out.push(b' ');
            }
            match item {
                FetchItem::Uid => out.extend_from_slice(format!("UID {}", entry.uid).as_bytes()),
                FetchItem::Flags => {
                    out.extend_from_slice(format!("FLAGS {}", flag_list(&shown_flags())).as_bytes())
                }
                FetchItem::InternalDate => out.extend_from_slice(
                    format!("INTERNALDATE \"{}\"", imap_date_time(entry.internal_date)).as_bytes(),
                ),
                FetchItem::Rfc822Size => {
                    out.extend_from_slice(format!("RFC822.SIZE {}", entry.size).as_bytes())
                }
                FetchItem::ModSeq => {
                    out.extend_from_slice(format!("MODSEQ ({})", entry.modseq).as_bytes())
                }
                FetchItem::EmailId => {
                    out.extend_from_slice(format!("EMAILID ({})", email_id(entry)).as_bytes())
                }
                FetchItem::ThreadId => out.extend_from_slice(b"THREADID NIL"),
                FetchItem::SaveDate => out.extend_from_slice(
                    format!("SAVEDATE \"{}\"", imap_date_time(entry.saved_at)).as_bytes(),
                ),
                FetchItem::Preview => {
                    out.extend_from_slice(b"PREVIEW ");
                    match &parsed {
                        Some(p) => string(&mut out, estafeta_mime::text::preview(p).as_bytes()),
                        None => out.extend_from_slice(b"NIL"),
                    }
                }
                FetchItem::Envelope => {
                    out.extend_from_slice(b"ENVELOPE ");
                    out.extend_from_slice(&summary.envelope);
                }
                FetchItem::Body => {
                    out.extend_from_slice(b"BODY ");
                    out.extend_from_slice(&summary.body);
                }
                FetchItem::BodyStructure => {
                    out.extend_from_slice(b"BODYSTRUCTURE ");
                    out.extend_from_slice(&summary.body_structure);
                }
                FetchItem::Rfc822 if m.streamed => {
                    out.extend_from_slice(b"RFC822");
                    stream(&mut out, None, false);
                }
                FetchItem::Rfc822 => {
                    out.extend_from_slice(b"RFC822 ");
                    literal(&mut out, raw);
                }
                FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                    let (name, text) = if matches!(item, FetchItem::Rfc822Header) {
                        ("RFC822.HEADER ", SectionText::Header)
                    } else {
                        ("RFC822.TEXT ", SectionText::Text)
                    };
                    out.extend_from_slice(name.as_bytes());
                    let sec = Section {
                        parts: vec![],
                        text: Some(text),
                    };
                    let bytes = parsed
                        .as_ref()
                        .and_then(|p| mime::section(p, &sec))
                        .unwrap_or_default();
                    literal(&mut out, &bytes);
                }
                FetchItem::BodySection {
                    section, partial, ..
                } => {
                    out.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
                    if m.streamed {
                        stream(&mut out, *partial, false);
                    } else if section.parts.is_empty() && section.text.is_none() {
                        partial_literal(&mut out, m.raw.as_deref(), *partial, false);
                    } else {
                        let bytes = parsed.as_ref().and_then(|p| mime::section(p, section));
                        partial_literal(&mut out, bytes.as_deref(), *partial, false);
                    }
                }
                FetchItem::Binary { parts, partial, .. } if m.streamed => {
                    out.extend_from_slice(format!("BINARY[{}]", part_numbers(parts)).as_bytes());
                    stream(&mut out, *partial, true);
                }
                FetchItem::Binary { parts, partial, .. } => {
                    let bytes = match &parsed {
                        _ if parts.is_empty() => m.raw.clone(),
                        Some(p) => mime::binary(p, parts)?,
                        None => None,
                    };
                    out.extend_from_slice(format!("BINARY[{}]", part_numbers(parts)).as_bytes());
                    partial_literal(&mut out, bytes.as_deref(), *partial, true);
                }
                FetchItem::BinarySize(parts) => {
                    let size = match &parsed {
                        _ if parts.is_empty() && m.streamed => Some(total as usize),
                        _ if parts.is_empty() => m.raw.as_ref().map(Vec::len),
                        Some(p) => mime::binary(p, parts)?.map(|b| b.len()),
                        None => None,
                    };
                    out.extend_from_slice(
                        format!("BINARY.SIZE[{}] ", part_numbers(parts)).as_bytes(),
                    );
                    match size {
                        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
                        None => out.extend_from_slice(b"NIL"),
                    }
                }
            }
        }
        if will_set_seen && !items.contains(&FetchItem::Flags) {
            out.extend_from_slice(format!(" FLAGS {}", flag_list(&shown_flags())).as_bytes());
        }
        out.extend_from_slice(b")\r\n");
        pieces.push(Piece::Bytes(out));
        Ok(pieces)
    }
}

/// The summary shown for a message that cannot be parsed, or when none is asked for.
fn empty_summary() -> Arc<Summary> {
    static EMPTY: std::sync::OnceLock<Arc<Summary>> = std::sync::OnceLock::new();
    Arc::clone(EMPTY.get_or_init(|| Arc::new(Summary::empty())))
}

/// OBJECTID's EMAILID (RFC 8474 §5.1): from the stored body's hash, so that a message
/// keeps it when copied or moved, and copies share it.
fn email_id(entry: &MailboxEntry) -> String {
    let hash: String = entry
        .blob_hash
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    format!("E{hash}")
}

/// ` <literal>` or ` NIL`, after `<start>` for a partial fetch.
fn partial_literal(
    out: &mut Vec<u8>,
    bytes: Option<&[u8]>,
    partial: Option<(u32, u32)>,
    binary: bool,
) {
    let Some(b) = bytes else {
        out.extend_from_slice(b" NIL");
        return;
    };
    let b = match partial {
        Some((start, count)) => {
            out.extend_from_slice(format!("<{start}>").as_bytes());
            let s = (start as usize).min(b.len());
            let e = s.saturating_add(count as usize).min(b.len());
            &b[s..e]
        }
        None => b,
    };
    out.push(b' ');
    if binary {
        literal8(out, b);
    } else {
        literal(out, b);
    }
}

fn part_numbers(parts: &[u32]) -> String {
    parts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn section_name(s: &Section) -> String {
    let mut parts: Vec<String> = s.parts.iter().map(u32::to_string).collect();
    match &s.text {
        Some(SectionText::Header) => parts.push("HEADER".into()),
        Some(SectionText::Text) => parts.push("TEXT".into()),
        Some(SectionText::Mime) => parts.push("MIME".into()),
        Some(SectionText::HeaderFields { not, fields }) => {
            let name = if *not {
                "HEADER.FIELDS.NOT"
            } else {
                "HEADER.FIELDS"
            };
            parts.push(format!(
                "{name} ({})",
                fields
                    .iter()
                    .map(|f| quoted(f))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        None => {}
    }
    parts.join(".")
}

/// `23-Nov-2026 14:08:21 +0000`
fn imap_date_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = estafeta_net::dates::civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{:02}-{}-{y} {:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates() {
        assert_eq!(imap_date_time(1_795_442_901), "23-Nov-2026 14:08:21 +0000");
    }
}
