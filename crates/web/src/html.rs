//! Pages and documents are written with `format!`: this module owns the escaping every
//! value from outside goes through ([`escape`], for HTML text, attribute values and XML
//! alike) and the frame every page shares ([`page`]: no script, no outside resource, a
//! content security policy that forbids both).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `s` safe inside HTML or XML text and inside double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // control characters have no place in a page or an XML 1.0 document
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.5rem}table{border-collapse:collapse;margin:1rem 0}\
th,td{text-align:left;padding:.3rem .8rem;border-bottom:1px solid #ddd}\
.error{color:#a00}label{display:block;margin:.6rem 0}input{font-size:1rem;padding:.3rem}\
code{background:#f3f3f3;padding:0 .2rem}";

/// A whole page: `body` is HTML already escaped where it holds outside values.
pub fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // not "no-referrer": under it browsers send `Origin: null` with a form's POST,
            // which the same-origin check refuses (found by the Chromium test)
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            super::escape("<a href=\"x\" onclick='y'>&\u{0}</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;\u{FFFD}&lt;/a&gt;"
        );
    }
}
