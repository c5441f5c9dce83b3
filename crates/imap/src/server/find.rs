//! SEARCH over the selected mailbox, answered as `* SEARCH` or, with RETURN options or
//! after ENABLE IMAP4rev2, as `* ESEARCH` (RFC 4731 / RFC 9051 §7.3.4). Messages are read
//! in batches only when a key looks into headers or text. A TEXT or BODY key that every
//! match must satisfy (at the top, or in the top-level AND) first asks the store's search
//! index which messages may hold its string: only those are read and matched, with the
//! same matcher, so the answer is the one a scan of every message gives.

use super::*;
use crate::search;
use crate::sequence::compact;

/// The RETURN options this server answers (SAVE is SEARCHRES, RFC 5182).
const RETURN_OPTIONS: [&str; 5] = ["MIN", "MAX", "COUNT", "ALL", "SAVE"];

impl Session {
    pub(super) async fn search(
        &mut self,
        tag: &str,
        uid: bool,
        returns: Option<&[String]>,
        key: &SearchKey,
    ) {
        if let Some(bad) = returns
            .unwrap_or_default()
            .iter()
            .find(|r| !RETURN_OPTIONS.contains(&r.as_str()))
        {
            self.bad(tag, &format!("RETURN option {bad} is not offered"));
            return;
        }
        let saves = returns.unwrap_or_default().iter().any(|r| r == "SAVE");
        let Some(found) = self.matching(tag, key).await else {
            if saves {
                self.forget_result();
            }
            return;
        };
        // SAVE is not an answer: the other options (none left means none asked for)
        let returns: Option<Vec<String>> =
            returns.map(|r| r.iter().filter(|o| o.as_str() != "SAVE").cloned().collect());
        let returns = returns.as_deref();
        if saves {
            let uids: Vec<u32> = found.iter().map(|(_, e)| e.uid).collect();
            self.save_result(returns.unwrap_or_default(), &uids);
            // SAVE alone: no ESEARCH response (RFC 5182 §2.4)
            if returns.is_some_and(<[String]>::is_empty) {
                self.ok(tag, "SEARCH completed, result saved");
                return;
            }
        }
        let hits: Vec<u32> = found
            .iter()
            .map(|(seq, e)| if uid { e.uid } else { *seq })
            .collect();
        let modseqs: Vec<i64> = found.iter().map(|(_, e)| e.modseq).collect();
        // CONDSTORE: a MODSEQ key makes the reply carry a MODSEQ
        let modseq = uses_modseq(key)
            .then(|| reply_modseq(returns.unwrap_or_default(), &modseqs))
            .flatten();
        if modseq.is_some() {
            self.enable_condstore();
        }
        let line = match returns {
            None if !self.rev2 => {
                let mut line = String::from("* SEARCH");
                for h in &hits {
                    line.push_str(&format!(" {h}"));
                }
                if let Some(m) = modseq {
                    line.push_str(&format!(" (MODSEQ {m})"));
                }
                line
            }
            _ => esearch(tag, uid, returns.unwrap_or_default(), &hits, modseq),
        };
        self.line(&line);
        self.ok(tag, "SEARCH completed");
    }
    /// The messages of the selected mailbox that match `key`, in order, with their
    /// sequence numbers; `None` after a store failure (the NO sent here).
    pub(super) async fn matching(
        &mut self,
        tag: &str,
        key: &SearchKey,
    ) -> Option<Vec<(u32, MailboxEntry)>> {
        let view = self.view.as_ref()?;
        let entries = Arc::clone(&view.entries);
        let mailbox_id = view.mailbox.id;
        // what is recent to this session (a few UID ranges; IMAP4rev2 has no \Recent)
        let recent = if self.rev2 {
            Default::default()
        } else {
            view.recent.clone()
        };
        let largest_uid = entries.last().map(|e| e.uid).unwrap_or(0);
        let needs_body = search::needs_message(key);
        // the messages that may match, when the search index can tell
        let mut candidates: Option<Vec<u32>> = None;
        if self.shared.settings.search_index {
            for (needle, scope) in search::required_text(key) {
                let store = &self.shared.store;
                match store.search_candidates(mailbox_id, needle, scope).await {
                    Ok(Some(uids)) => {
                        candidates = Some(match candidates {
                            None => uids,
                            Some(before) => (before.into_iter())
                                .filter(|u| uids.binary_search(u).is_ok())
                                .collect(),
                        })
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.unavailable(tag, &e);
                        return None;
                    }
                }
            }
        }
        let may_match = |uid: u32| {
            candidates
                .as_ref()
                .is_none_or(|c| c.binary_search(&uid).is_ok())
        };
        let mut found = Vec::new();
        // without bodies, one run and nothing read; with them, the runs of messages the
        // index leaves (all of them without it), each read in bounded batches
        let runs = if needs_body {
            candidate_runs(&entries, |e| may_match(e.uid))
        } else {
            std::iter::once(0..entries.len()).collect()
        };
        for run in runs {
            let mut before = run.start;
            let batches = if needs_body {
                body_batches(&entries[run], |e| e.size, |_| false)
            } else {
                vec![&entries[run]]
            };
            for chunk in batches {
                let mut bodies = std::collections::HashMap::new();
                // the span read: from the batch's first candidate to its last
                let mut wanted = chunk.iter().filter(|e| may_match(e.uid));
                let first = wanted.next();
                let last = wanted.next_back().or(first);
                if needs_body && let (Some(a), Some(b)) = (first, last) {
                    match self
                        .shared
                        .store
                        .read_messages(mailbox_id, a.uid, b.uid)
                        .await
                    {
                        Ok(list) => bodies.extend(list),
                        Err(e) => {
                            self.unavailable(tag, &e);
                            return None;
                        }
                    }
                }
                for (j, e) in chunk.iter().enumerate() {
                    let seq = (before + j) as u32 + 1;
                    if !may_match(e.uid) {
                        continue;
                    }
                    let parsed = match bodies.get(&e.uid) {
                        Some(raw) => Some(mime::parse(raw)),
                        None if needs_body => continue, // expunged meanwhile: no match
                        None => None,
                    };
                    let ctx = search::Context {
                        seq,
                        count: entries.len() as u32,
                        largest_uid,
                        entry: e,
                        recent: recent.contains(e.uid),
                        message: parsed.as_ref(),
                        body: Default::default(),
                    };
                    if search::matches(key, &ctx) {
                        found.push((seq, e.clone()));
                    }
                }
                before += chunk.len();
            }
        }
        Some(found)
    }
}

/// `* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 3 ALL 2,5,9`; no options means ALL.
fn esearch(tag: &str, uid: bool, options: &[String], hits: &[u32], modseq: Option<i64>) -> String {
    let mut line = format!("* ESEARCH (TAG {})", super::dispatch::quoted(tag));
    if uid {
        line.push_str(" UID");
    }
    let wants = |o: &str| options.iter().any(|x| x == o) || (options.is_empty() && o == "ALL");
    if let (true, Some(min)) = (wants("MIN"), hits.iter().min()) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (wants("MAX"), hits.iter().max()) {
        line.push_str(&format!(" MAX {max}"));
    }
    if wants("COUNT") {
        line.push_str(&format!(" COUNT {}", hits.len()));
    }
    if wants("ALL") && !hits.is_empty() {
        let mut sorted = hits.to_vec();
        sorted.sort_unstable();
        line.push_str(&format!(" ALL {}", compact(&sorted)));
    }
    if let Some(m) = modseq {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line
}

/// The MODSEQ a CONDSTORE search reply carries (RFC 7162 §3.1.5), given the hits' MODSEQs
/// in hit order (ascending numbers): that of the one message MIN or MAX alone returns,
/// the higher of the two for MIN and MAX, else the highest of all; none without a hit.
fn reply_modseq(options: &[String], modseqs: &[i64]) -> Option<i64> {
    let (first, last) = (*modseqs.first()?, *modseqs.last()?);
    let has = |o: &str| options.iter().any(|x| x == o);
    let others = has("COUNT") || has("ALL") || options.is_empty();
    Some(match (has("MIN"), has("MAX"), others) {
        (true, false, false) => first,
        (false, true, false) => last,
        (true, true, false) => first.max(last),
        _ => modseqs.iter().copied().max().unwrap_or(last),
    })
}

fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(k) => uses_modseq(k),
        _ => false,
    }
}

/// Messages the index ruled out that may lie between two candidates of one run: read
/// along with them rather than costing a query each.
const MAX_GAP: usize = 16;

/// The ranges of `entries` holding every message `may_match` keeps, split where more
/// than [`MAX_GAP`] others lie between two of them, so that sparse index hits do not
/// make the whole mailbox read.
fn candidate_runs<T>(entries: &[T], may_match: impl Fn(&T) -> bool) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !may_match(e) {
            continue;
        }
        match runs.last_mut() {
            Some(run) if i - run.end <= MAX_GAP => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esearch_lines() {
        let all = esearch("a1", true, &[], &[2, 3, 4, 9], None);
        assert_eq!(all, "* ESEARCH (TAG \"a1\") UID ALL 2:4,9");
        let opts: Vec<String> = ["MIN", "MAX", "COUNT"].map(String::from).to_vec();
        assert_eq!(
            esearch("t", false, &opts, &[5, 7], Some(12)),
            "* ESEARCH (TAG \"t\") MIN 5 MAX 7 COUNT 2 MODSEQ 12"
        );
        let o = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(reply_modseq(&o(&["MIN"]), &[6, 8, 7]), Some(6));
        assert_eq!(reply_modseq(&o(&["MAX"]), &[6, 8, 7]), Some(7));
        assert_eq!(reply_modseq(&o(&["MIN", "MAX"]), &[6, 8, 7]), Some(7));
        assert_eq!(reply_modseq(&o(&["MIN", "COUNT"]), &[6, 8, 7]), Some(8));
        assert_eq!(reply_modseq(&[], &[6, 8, 7]), Some(8));
        assert_eq!(reply_modseq(&[], &[]), None);
        assert_eq!(
            esearch("t", false, &opts, &[], None),
            "* ESEARCH (TAG \"t\") COUNT 0"
        );
    }

    #[test]
    fn runs_cover_every_candidate_and_skip_long_gaps() {
        let all: Vec<u32> = (0..100).collect();
        assert_eq!(candidate_runs(&all, |_| true), vec![0..100]);
        assert!(candidate_runs(&all, |_| false).is_empty());
        // a gap of MAX_GAP others is read along, one more splits
        let near = candidate_runs(&all, |u| *u == 3 || *u as usize == 4 + MAX_GAP);
        assert_eq!(near, vec![3..5 + MAX_GAP]);
        let far = candidate_runs(&all, |u| *u == 3 || *u as usize == 5 + MAX_GAP);
        assert_eq!(far, vec![3..4, 5 + MAX_GAP..6 + MAX_GAP]);
    }
}
