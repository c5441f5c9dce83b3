//! `SearchSnippet/get` (RFC 8621 §5): for Emails a text search found, the subject and a
//! piece of the text around the first match, HTML-escaped with the matches in `<mark>`.
//! The search words are the filter's `text`, `subject` and `body` strings.

use serde_json::{Value, json};

use super::{Ctx, MethodError, MethodResult, ids};
use crate::html::escape;

/// Characters of text shown around a match.
const AROUND: usize = 80;

/// The search strings of a filter, lower case (iterative over its operators, at most
/// 100 conditions looked at).
fn needles(filter: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    let mut seen = 0;
    while let Some(f) = stack.pop() {
        seen += 1;
        if seen > 100 {
            break;
        }
        if let Some(c) = f.get("conditions").and_then(Value::as_array) {
            if f.get("operator").and_then(Value::as_str) != Some("NOT") {
                stack.extend(c.iter());
            }
            continue;
        }
        for k in ["text", "subject", "body"] {
            if let Some(s) = f.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                out.push(s.to_lowercase());
            }
        }
    }
    out
}

/// `text` escaped, with every occurrence of a needle (case-insensitive) marked; `None`
/// when none occurs.
fn mark(text: &str, needles: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // lower-casing changed lengths: mark nothing rather than cut a character
        return needles
            .iter()
            .any(|n| lower.contains(n.as_str()))
            .then(|| escape(text));
    }
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for n in needles {
        let mut from = 0;
        while let Some(at) = lower[from..].find(n.as_str()) {
            marks.push((from + at, from + at + n.len()));
            from += at + n.len().max(1);
        }
    }
    if marks.is_empty() {
        return None;
    }
    marks.sort();
    let mut out = String::new();
    let mut at = 0;
    for (s, e) in marks {
        if s < at || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            continue;
        }
        out.push_str(&escape(&text[at..s]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[s..e]));
        out.push_str("</mark>");
        at = e;
    }
    out.push_str(&escape(&text[at..]));
    Some(out)
}

/// The text around the first match, marked.
fn preview(text: &str, needles: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return None;
    }
    let at = needles
        .iter()
        .filter_map(|n| lower.find(n.as_str()))
        .min()?;
    let mut start = at.saturating_sub(AROUND);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + AROUND * 2).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let piece: String = text[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    mark(&piece, needles)
}

/// `SearchSnippet/get`.
pub async fn get(ctx: &mut Ctx<'_>, args: &Value) -> MethodResult {
    ctx.check_account(args)?;
    let wanted: Vec<String> = args
        .get("emailIds")
        .and_then(Value::as_array)
        .ok_or_else(|| MethodError::invalid("emailIds is missing"))?
        .iter()
        .filter_map(Value::as_str)
        .map(|s| ctx.resolve_id(s).unwrap_or_else(|| s.to_string()))
        .collect();
    if wanted.len() > super::MAX_OBJECTS_IN_GET {
        return Err(MethodError::new("requestTooLarge", "too many emailIds"));
    }
    let needles = needles(args.get("filter").unwrap_or(&Value::Null));
    let copies = super::emails::copies(ctx, &wanted).await?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for id in wanted {
        let Some(r) = ids::email_hash(&id)
            .and_then(|h| copies.get(h))
            .map(|c| &c[0])
        else {
            not_found.push(id);
            continue;
        };
        let Some(raw) = ctx.state.store.read_message(r.mailbox_id, r.uid).await? else {
            not_found.push(id);
            continue;
        };
        let msg = estafeta_mime::parse(&raw);
        let subject = super::message::header_text(&msg, "Subject");
        let body = estafeta_mime::text::body_text(&msg);
        list.push(json!({
            "emailId": id,
            "subject": mark(&subject, &needles),
            "preview": preview(&body, &needles),
        }));
    }
    Ok(json!({"accountId": ctx.account_id(), "list": list, "notFound": not_found}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_marked_and_the_rest_escaped() {
        let n = vec!["lunch".to_string()];
        assert_eq!(
            mark("Lunch <today>?", &n).as_deref(),
            Some("<mark>Lunch</mark> &lt;today&gt;?")
        );
        assert_eq!(mark("nothing here", &n), None);
        assert_eq!(
            mark("<script>lunch</script>", &n).as_deref(),
            Some("&lt;script&gt;<mark>lunch</mark>&lt;/script&gt;")
        );
        let long = format!("{} lunch {}", "a ".repeat(200), "b ".repeat(200));
        let p = preview(&long, &n).unwrap();
        assert!(p.contains("<mark>lunch</mark>") && p.len() < 300, "{p}");
    }

    #[test]
    fn needles_come_from_nested_filters_but_not_negations() {
        let f = json!({"operator": "AND", "conditions": [{"text": "A"}, {"operator": "NOT", "conditions": [{"text": "b"}]}, {"subject": "C"}]});
        let mut n = needles(&f);
        n.sort();
        assert_eq!(n, vec!["a", "c"]);
    }
}
