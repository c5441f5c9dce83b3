//! SORT (RFC 5256, with RFC 5957's DISPLAYFROM and DISPLAYTO, and RFC 5267's ESORT
//! RETURN options): the messages a SEARCH would find, in the order of the criteria, ties
//! broken by sequence number. Keys that look into the header (addresses, Date:,
//! Subject:) read the matching messages in batches, as SEARCH does; each message's key is
//! made once; subjects compare by their base subject (`crate::subject`).

use std::cmp::Ordering;
use std::collections::HashMap;

use mail_parser::{Address, HeaderName, HeaderValue};

use super::*;
use crate::command::{SortCriterion, SortKey};

/// What one message is sorted by.
#[derive(Default)]
struct Keys {
    date: i64,
    subject: String,
    from: String,
    to: String,
    cc: String,
    display_from: String,
    display_to: String,
}

impl Session {
    pub(super) async fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        returns: Option<&[String]>,
        criteria: &[SortCriterion],
        key: &SearchKey,
    ) {
        if let Some(bad) = returns
            .unwrap_or_default()
            .iter()
            .find(|r| !["MIN", "MAX", "COUNT", "ALL"].contains(&r.as_str()))
        {
            self.bad(tag, &format!("RETURN option {bad} is not offered"));
            return;
        }
        let Some(found) = self.matching(tag, key).await else {
            return;
        };
        let Some(mailbox_id) = self.view.as_ref().map(|v| v.mailbox.id) else {
            return;
        };
        let needs_header = criteria
            .iter()
            .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
        let mut keys: Vec<Keys> = Vec::with_capacity(found.len());
        let chunks = if needs_header {
            body_batches(&found, |(_, e)| e.size, |_| false)
        } else {
            vec![&found[..]]
        };
        for chunk in chunks {
            let bodies = match (needs_header, chunk.first(), chunk.last()) {
                (true, Some((_, a)), Some((_, b))) => {
                    match self
                        .shared
                        .store
                        .read_messages(mailbox_id, a.uid, b.uid)
                        .await
                    {
                        Ok(list) => list.into_iter().collect::<HashMap<u32, Vec<u8>>>(),
                        Err(e) => {
                            self.unavailable(tag, &e);
                            return;
                        }
                    }
                }
                _ => HashMap::new(),
            };
            for (_, e) in chunk {
                keys.push(match bodies.get(&e.uid) {
                    Some(raw) => message_keys(raw, e.internal_date),
                    None => Keys {
                        date: e.internal_date,
                        ..Keys::default()
                    },
                });
            }
        }
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by(|&a, &b| {
            for c in criteria {
                let (ea, eb) = (&found[a].1, &found[b].1);
                let (ka, kb) = (&keys[a], &keys[b]);
                let o = match c.key {
                    SortKey::Arrival => ea.internal_date.cmp(&eb.internal_date),
                    SortKey::Size => ea.size.cmp(&eb.size),
                    SortKey::Date => ka.date.cmp(&kb.date),
                    SortKey::Subject => ka.subject.cmp(&kb.subject),
                    SortKey::From => ka.from.cmp(&kb.from),
                    SortKey::To => ka.to.cmp(&kb.to),
                    SortKey::Cc => ka.cc.cmp(&kb.cc),
                    SortKey::DisplayFrom => ka.display_from.cmp(&kb.display_from),
                    SortKey::DisplayTo => ka.display_to.cmp(&kb.display_to),
                };
                let o = if c.reverse { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            found[a].0.cmp(&found[b].0)
        });
        let sorted: Vec<u32> = order
            .iter()
            .map(|&i| if uid { found[i].1.uid } else { found[i].0 })
            .collect();
        let line = match returns {
            Some(options) => esort(tag, uid, options, &sorted),
            None => {
                let mut line = String::from("* SORT");
                for n in &sorted {
                    line.push_str(&format!(" {n}"));
                }
                line
            }
        };
        self.line(&line);
        self.ok(tag, "SORT completed");
    }
}

/// ESORT's answer (RFC 5267 §3): `* ESEARCH (TAG "a1") UID MIN 9 MAX 2 COUNT 3 ALL 9,4:5`,
/// MIN and MAX the first and last in sort order, ALL in sort order (runs that go up by
/// one written `a:b`); no options means ALL.
fn esort(tag: &str, uid: bool, options: &[String], sorted: &[u32]) -> String {
    let mut line = format!("* ESEARCH (TAG {})", super::dispatch::quoted(tag));
    if uid {
        line.push_str(" UID");
    }
    let wants = |o: &str| options.iter().any(|x| x == o) || (options.is_empty() && o == "ALL");
    if let (true, Some(min)) = (wants("MIN"), sorted.first()) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (wants("MAX"), sorted.last()) {
        line.push_str(&format!(" MAX {max}"));
    }
    if wants("COUNT") {
        line.push_str(&format!(" COUNT {}", sorted.len()));
    }
    if wants("ALL") && !sorted.is_empty() {
        let mut runs: Vec<String> = Vec::new();
        let mut i = 0;
        while i < sorted.len() {
            let start = sorted[i];
            while i + 1 < sorted.len() && sorted[i + 1] == sorted[i].wrapping_add(1) {
                i += 1;
            }
            runs.push(if sorted[i] == start {
                start.to_string()
            } else {
                format!("{start}:{}", sorted[i])
            });
            i += 1;
        }
        line.push_str(&format!(" ALL {}", runs.join(",")));
    }
    line
}

/// The sort keys of one message, compared as i;ascii-casemap (ASCII upper case).
fn message_keys(raw: &[u8], internal_date: i64) -> Keys {
    let msg = crate::mime::parse(raw);
    let root = msg.root();
    let header = |name: HeaderName<'_>| root.headers().iter().rev().find(|h| h.name == name);
    // (addr-mailbox, display) of the first address: the local part as ENVELOPE gives it
    // (a group's name for a group, as Dovecot), and the decoded display name, else the
    // address (RFC 5256 §3, RFC 5957 §2)
    let first = |name: HeaderName<'_>| -> (String, String) {
        let Some(h) = header(name) else {
            return (String::new(), String::new());
        };
        let raw = msg
            .raw
            .get(h.offset_start as usize..h.offset_end as usize)
            .unwrap_or_default();
        let Some(first) = crate::address::parse_list(raw).into_iter().next() else {
            return (String::new(), String::new());
        };
        let text = |b: &Option<Vec<u8>>| {
            String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
        };
        let mailbox = text(&first.mailbox);
        if first.host.is_none() {
            // a group: its name is all there is to sort by
            let group = mailbox.to_ascii_uppercase();
            return (group.clone(), group);
        }
        let decoded = match &h.value {
            HeaderValue::Address(Address::List(list)) => list.first().cloned(),
            HeaderValue::Address(Address::Group(groups)) => {
                groups.iter().find_map(|g| g.addresses.first().cloned())
            }
            _ => None,
        };
        let display = decoded
            .as_ref()
            .and_then(|a| a.name.as_deref())
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string)
            .or_else(|| {
                decoded
                    .as_ref()
                    .and_then(|a| a.address.as_deref())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| mailbox.clone());
        (mailbox.to_ascii_uppercase(), display.to_ascii_uppercase())
    };
    let (from, display_from) = first(HeaderName::From);
    let (to, display_to) = first(HeaderName::To);
    let (cc, _) = first(HeaderName::Cc);
    let subject = header(HeaderName::Subject)
        .and_then(|h| match &h.value {
            HeaderValue::Text(t) => Some(t.to_string()),
            HeaderValue::TextList(l) => l.first().map(|t| t.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    Keys {
        date: estafeta_mime::date(root).unwrap_or(internal_date),
        subject: crate::subject::base_subject(&subject),
        from,
        to,
        cc,
        display_from,
        display_to,
    }
}

#[cfg(test)]
mod tests {
    use super::esort;

    #[test]
    fn esort_lines_keep_the_sort_order() {
        let all = esort("t", false, &[], &[9, 4, 5, 6, 1]);
        assert_eq!(all, "* ESEARCH (TAG \"t\") ALL 9,4:6,1");
        let opts: Vec<String> = ["MIN", "MAX", "COUNT"].map(String::from).to_vec();
        assert_eq!(
            esort("t", true, &opts, &[9, 4, 5]),
            "* ESEARCH (TAG \"t\") UID MIN 9 MAX 5 COUNT 3"
        );
        assert_eq!(
            esort("t", false, &opts, &[]),
            "* ESEARCH (TAG \"t\") COUNT 0"
        );
    }
}
