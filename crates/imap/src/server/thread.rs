//! THREAD (RFC 5256 §3) in the session: the messages a SEARCH would find, read in
//! batches for the header fields threading needs (Message-ID, References, In-Reply-To,
//! Subject, Date), then grouped by `crate::threading`.

use mail_parser::{HeaderName, HeaderValue};

use super::*;
use crate::threading::{self, Item, MAX_REFERENCES};

impl Session {
    pub(super) async fn thread(
        &mut self,
        tag: &str,
        uid: bool,
        algorithm: ThreadAlgorithm,
        key: &SearchKey,
    ) {
        let Some(found) = self.matching(tag, key).await else {
            return;
        };
        let Some(mailbox_id) = self.view.as_ref().map(|v| v.mailbox.id) else {
            return;
        };
        let mut items = Vec::with_capacity(found.len());
        for chunk in body_batches(&found, |(_, e)| e.size, |_| false) {
            let (Some((_, a)), Some((_, b))) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let bodies: std::collections::HashMap<u32, Vec<u8>> = match self
                .shared
                .store
                .read_messages(mailbox_id, a.uid, b.uid)
                .await
            {
                Ok(list) => list.into_iter().collect(),
                Err(e) => {
                    self.unavailable(tag, &e);
                    return;
                }
            };
            for (seq, e) in chunk {
                let number = if uid { e.uid } else { *seq };
                // expunged meanwhile: threaded by what the entry knows
                let mut item = match bodies.get(&e.uid) {
                    Some(raw) => thread_item(raw, e.internal_date),
                    None => Item {
                        date: e.internal_date,
                        ..Item::default()
                    },
                };
                item.number = number;
                item.seq = *seq;
                items.push(item);
            }
        }
        let lists = match algorithm {
            ThreadAlgorithm::References => threading::references(&items),
            ThreadAlgorithm::OrderedSubject => threading::ordered_subject(&items),
        };
        let line = if lists.is_empty() {
            "* THREAD".to_string()
        } else {
            format!("* THREAD {lists}")
        };
        self.line(&line);
        self.ok(tag, "THREAD completed");
    }
}

/// What threading needs of one message.
fn thread_item(raw: &[u8], internal_date: i64) -> Item {
    let msg = crate::mime::parse(raw);
    let root = msg.root();
    let header = |name: HeaderName<'_>| root.headers().iter().find(|h| h.name == name);
    let value = |name: HeaderName<'_>| {
        header(name)
            .and_then(|h| msg.raw.get(h.offset_start as usize..h.offset_end as usize))
            .unwrap_or_default()
    };
    let subject = header(HeaderName::Subject)
        .and_then(|h| match &h.value {
            HeaderValue::Text(t) => Some(t.to_string()),
            HeaderValue::TextList(l) => l.first().map(|t| t.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let (subject, reply) = crate::subject::base_and_reply(&subject);
    let mut references = threading::message_ids(value(HeaderName::References), MAX_REFERENCES);
    if references.is_empty() {
        // RFC 5256 §3: without References, the first id of In-Reply-To
        references.extend(threading::first_message_id(value(HeaderName::InReplyTo)));
    }
    Item {
        number: 0,
        seq: 0,
        date: estafeta_mime::date(root).unwrap_or(internal_date),
        subject,
        reply,
        message_id: threading::first_message_id(value(HeaderName::MessageId)),
        references,
    }
}
