//! FETCH: message attributes, structure and sections, read in batches from the store.

use super::dispatch::{has_flag, quoted};
use super::*;

impl Session {
    pub(super) async fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
    ) {
        if items
            .iter()
            .any(|i| matches!(i, FetchItem::Binary { .. } | FetchItem::BinarySize(_)))
        {
            self.bad(tag, "BINARY is not offered by this server");
            return;
        }
        let seqs = self.resolve(uid, set);
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let mailbox_id = view.mailbox.id;
        let read_only = view.read_only;
        let needs_body = items.iter().any(|i| {
            !matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
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
                )
            });
        let asks_flags = items.contains(&FetchItem::Flags);
        // only the header is parsed when nothing but ENVELOPE needs the message
        let header_only = items.iter().all(|i| {
            matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
                    | FetchItem::Envelope
            )
        });
        let mut seen_now = Vec::new();
        let mut bodies: std::collections::HashMap<u32, Vec<u8>> = std::collections::HashMap::new();
        for (n, seq) in seqs.iter().copied().enumerate() {
            let entry = match self.view.as_ref().and_then(|v| v.entries.get(seq - 1)) {
                Some(e) => e.clone(),
                None => continue,
            };
            if changed_since.is_some_and(|m| entry.modseq as u64 <= m) {
                continue;
            }
            if needs_body && !bodies.contains_key(&entry.uid) {
                // read ahead: the next messages of this FETCH in one query
                bodies.clear();
                let ahead: std::collections::HashSet<u32> = seqs[n..]
                    .iter()
                    .take(BODY_BATCH)
                    .filter_map(|s| {
                        self.view
                            .as_ref()
                            .and_then(|v| v.entries.get(s - 1))
                            .map(|e| e.uid)
                    })
                    .collect();
                let (first, last) = (
                    ahead.iter().min().copied().unwrap_or(entry.uid),
                    ahead.iter().max().copied().unwrap_or(entry.uid),
                );
                match self
                    .shared
                    .store
                    .read_messages(mailbox_id, first, last)
                    .await
                {
                    Ok(batch) => {
                        bodies.extend(batch.into_iter().filter(|(u, _)| ahead.contains(u)))
                    }
                    Err(e) => {
                        self.unavailable(tag, &e);
                        return;
                    }
                }
            }
            let raw = if needs_body {
                match bodies.remove(&entry.uid) {
                    Some(b) => b,
                    None => continue, // expunged meanwhile: the next refresh says so
                }
            } else {
                Vec::new()
            };
            let parsed = if needs_body && header_only {
                let end = raw
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| p + 4)
                    .unwrap_or(raw.len());
                mime::parse(&raw[..end])
            } else if needs_body {
                mime::parse(&raw)
            } else {
                None
            };
            let will_set_seen = marks_seen && !has_flag(&entry.flags, "\\Seen");
            let shown_flags = if will_set_seen {
                seen_now.push(entry.uid);
                estafeta_store::normalize_flags(entry.flags.split(' ').chain(["\\Seen"]))
            } else {
                entry.flags.clone()
            };
            let mut out = format!("* {seq} FETCH (").into_bytes();
            let mut first = true;
            for item in items {
                if !first {
                    out.push(b' ');
                }
                first = false;
                match item {
                    FetchItem::Uid => {
                        out.extend_from_slice(format!("UID {}", entry.uid).as_bytes())
                    }
                    FetchItem::Flags => out
                        .extend_from_slice(format!("FLAGS {}", flag_list(&shown_flags)).as_bytes()),
                    FetchItem::InternalDate => out.extend_from_slice(
                        format!("INTERNALDATE \"{}\"", imap_date_time(entry.internal_date))
                            .as_bytes(),
                    ),
                    FetchItem::Rfc822Size => {
                        out.extend_from_slice(format!("RFC822.SIZE {}", entry.size).as_bytes())
                    }
                    FetchItem::ModSeq => {
                        out.extend_from_slice(format!("MODSEQ ({})", entry.modseq).as_bytes())
                    }
                    FetchItem::Envelope => {
                        out.extend_from_slice(b"ENVELOPE ");
                        match &parsed {
                            Some(m) => mime::envelope(&mut out, m),
                            None => {
                                out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
                            }
                        }
                    }
                    FetchItem::Body | FetchItem::BodyStructure => {
                        let ext = matches!(item, FetchItem::BodyStructure);
                        out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                        match &parsed {
                            Some(m) => mime::body_structure(&mut out, m, 0, ext),
                            None => out.extend_from_slice(
                                b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)",
                            ),
                        }
                    }
                    FetchItem::Rfc822 => {
                        out.extend_from_slice(b"RFC822 ");
                        literal(&mut out, &raw);
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
                            .and_then(|m| mime::section(m, &raw, &sec))
                            .unwrap_or_default();
                        literal(&mut out, &bytes);
                    }
                    FetchItem::BodySection {
                        section, partial, ..
                    } => {
                        let bytes = parsed
                            .as_ref()
                            .and_then(|m| mime::section(m, &raw, section));
                        out.extend_from_slice(
                            format!("BODY[{}]", section_name(section)).as_bytes(),
                        );
                        match bytes {
                            Some(b) => {
                                let b = match partial {
                                    Some((start, count)) => {
                                        out.extend_from_slice(format!("<{start}>").as_bytes());
                                        let s = (*start as usize).min(b.len());
                                        let e = s.saturating_add(*count as usize).min(b.len());
                                        b[s..e].to_vec()
                                    }
                                    None => b,
                                };
                                out.push(b' ');
                                literal(&mut out, &b);
                            }
                            None => out.extend_from_slice(b" NIL"),
                        }
                    }
                    // refused before any message was read
                    FetchItem::Binary { .. } | FetchItem::BinarySize(_) => {}
                }
            }
            if will_set_seen && !asks_flags {
                out.extend_from_slice(format!(" FLAGS {}", flag_list(&shown_flags)).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
            self.io().write(&out);
        }
        if !seen_now.is_empty() {
            let seen = ["\\Seen".to_string()];
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
                            if let Some(e) = view.entries.iter_mut().find(|e| e.uid == uid) {
                                let told = estafeta_store::normalize_flags(
                                    e.flags.split(' ').chain(["\\Seen"]),
                                );
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
        self.ok(tag, "FETCH completed");
    }
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
