//! SEARCH over the selected mailbox.

use super::*;
use crate::search;

impl Session {
    pub(super) async fn search(&mut self, tag: &str, uid: bool, key: &SearchKey) {
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let entries = view.entries.clone();
        let mailbox_id = view.mailbox.id;
        let largest_uid = entries.last().map(|e| e.uid).unwrap_or(0);
        let needs_body = search::needs_message(key);
        let mut hits = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let raw = if needs_body {
                match self.shared.store.read_message(mailbox_id, e.uid).await {
                    Ok(Some(raw)) => raw,
                    Ok(None) => continue, // expunged meanwhile: no match
                    Err(e) => {
                        self.unavailable(tag, &e);
                        return;
                    }
                }
            } else {
                Vec::new()
            };
            let parsed = if needs_body { mime::parse(&raw) } else { None };
            let ctx = search::Context {
                seq: i as u32 + 1,
                count: entries.len() as u32,
                largest_uid,
                entry: e,
                message: parsed.as_ref(),
            };
            if search::matches(key, &ctx) {
                hits.push(if uid { e.uid } else { i as u32 + 1 });
            }
        }
        let list: Vec<String> = hits.iter().map(u32::to_string).collect();
        let line = if list.is_empty() {
            "* SEARCH".to_string()
        } else {
            format!("* SEARCH {}", list.join(" "))
        };
        self.line(&line);
        self.ok(tag, "SEARCH completed");
    }
}
