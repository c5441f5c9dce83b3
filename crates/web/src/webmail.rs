//! The webmail: `/mail` is one page (embedded HTML, CSS and a small script, no build step)
//! that reads and sends mail through JMAP with a bearer token the page carries for the
//! signed-in session. Signing in is the account page's form (`next=/mail`).
//!
//! A message's body is never given to the page's script to show: `/mail/render/<id>`
//! answers a document of its own, which the page shows in an `<iframe sandbox>`: HTML
//! sanitised by `estafeta_mime::html` (ammonia: no script, no style, no form, links open
//! elsewhere), remote images blocked until the reader presses the page's "show images"
//! button (the page asks `?count=1` how many there are), inline `cid:` images as `data:` URLs (at most [`MAX_INLINE`] octets in
//! all), plain text escaped; and the response's content security policy sandboxes it
//! (an opaque origin, no script) and allows images from nowhere else.

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use estafeta_mime::html::{RemoteImages, sanitize};
use mail_parser::MimeHeaders;
use serde::Deserialize;

use crate::WebState;
use crate::html::escape;
use crate::jmap::{auth, ids, message};
use crate::routes::Client;

/// Octets of inline (`cid:`) images written into one rendered message.
pub const MAX_INLINE: usize = 10 * 1024 * 1024;

const APP_JS: &str = include_str!("../assets/webmail/app.js");
const APP_CSS: &str = include_str!("../assets/webmail/app.css");

const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /mail`: the webmail, or the sign-in form that leads back to it.
pub async fn page(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    let Some((session, secret, _user)) = crate::account::signed_in(&state, &headers).await else {
        return crate::account::sign_in_page(&state, &client, StatusCode::OK, None, "/mail");
    };
    let token = escape(&auth::token_for_session(&secret, &session));
    let form = escape(&session.form_token(&secret));
    let address = escape(&session.address);
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mail — {address}</title>
<link rel="stylesheet" href="/mail/app.css">
<meta name="estafeta-token" content="{token}">
<script src="/mail/app.js" defer></script>
</head><body>
<header>
<h1>Mail</h1>
<form id="search" role="search"><label>Search <input type="search" name="q" id="q"></label> <button type="submit">Search</button></form>
<button type="button" id="compose-button">Compose</button>
<button type="button" id="settings-button">Vacation reply</button>
<span class="who">{address}</span>
<form method="post" action="/account/sign-out"><input type="hidden" name="token" value="{form}"><button type="submit">Sign out</button></form>
</header>
<nav aria-label="Folders"><ul id="folders"></ul></nav>
<main>
<section id="list" aria-label="Messages">
<h2 id="list-title">Inbox</h2>
<table><thead><tr><th scope="col">From</th><th scope="col">Subject</th><th scope="col">Date</th></tr></thead><tbody id="rows"></tbody></table>
<p class="pager"><button type="button" id="newer">Newer</button> <span id="range"></span> <button type="button" id="older">Older</button></p>
</section>
<section id="reader" hidden aria-label="Message"></section>
<section id="composer" hidden aria-label="New message">
<h2>New message</h2>
<form id="compose">
<label>To <input name="to" id="to" required></label>
<label>Cc <input name="cc" id="cc"></label>
<label>Subject <input name="subject" id="subject"></label>
<label>Message <textarea name="body" id="body" rows="14"></textarea></label>
<label>Attachments <input type="file" id="files" multiple></label>
<button type="submit" id="send">Send</button> <button type="button" id="discard">Discard</button>
</form>
</section>
<section id="settings" hidden aria-label="Vacation reply">
<h2>Vacation reply</h2>
<form id="vacation">
<label><input type="checkbox" id="vacation-on"> Answer mail while I am away</label>
<label>Subject <input id="vacation-subject" maxlength="200"></label>
<label>Message <textarea id="vacation-text" rows="6" maxlength="4000"></textarea></label>
<button type="submit">Save</button>
</form>
</section>
</main>
<p id="status" role="status" aria-live="polite"></p>
<noscript><p>This page needs JavaScript. Mail apps work without it: see <a href="/account">your settings</a>.</p></noscript>
</body></html>
"#
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct RenderQuery {
    #[serde(default)]
    images: Option<String>,
    /// `count=1`: only how many remote images the body has, as JSON (for the page's
    /// "show images" button: the sandboxed document can neither run script nor, having
    /// an opaque origin, load itself again with the session's cookie).
    #[serde(default)]
    count: Option<String>,
}

/// `GET /mail/render/<email id>[?images=1]`: the message's body as a sandboxed document.
pub async fn render(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    Query(q): Query<RenderQuery>,
    headers: HeaderMap,
) -> Response {
    let user = match auth::user(&state, &client, &headers, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(hash) = ids::email_hash(&id) else {
        return (StatusCode::NOT_FOUND, "no such message\n").into_response();
    };
    let store = &state.store;
    let unavailable = |e: estafeta_store::StoreError| {
        tracing::warn!(error = %e, "webmail render failed");
        (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response()
    };
    let found = match store.messages_by_hash(user.id, &[hash.to_string()]).await {
        Ok(rows) => rows.into_iter().next(),
        Err(e) => return unavailable(e),
    };
    let Some(first) = found else {
        return (StatusCode::NOT_FOUND, "no such message\n").into_response();
    };
    let raw = match store.read_message(first.mailbox_id, first.uid).await {
        Ok(Some(raw)) => raw,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such message\n").into_response(),
        Err(e) => return unavailable(e),
    };
    let show = q.images.as_deref() == Some("1");
    let (body, blocked) = body_html(&raw, show);
    if q.count.as_deref() == Some("1") {
        return (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({ "blockedImages": blocked })),
        )
            .into_response();
    }
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><base target=\"_blank\">\
         <style>body{{font-family:system-ui,sans-serif;margin:.5rem;color:#222;overflow-wrap:anywhere}}\
         pre{{white-space:pre-wrap;font-family:inherit;margin:0}}img{{max-width:100%}}</style></head>\
         <body>\n{body}\n</body></html>\n"
    );
    let images = if show { "data: https: http:" } else { "data:" };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                format!(
                    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; \
                     style-src 'unsafe-inline'; img-src {images}; frame-ancestors 'self'"
                ),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        html,
    )
        .into_response()
}

/// The message's body as safe HTML, and how many remote images were blocked: its HTML
/// body sanitised when it has one, else its text escaped.
pub fn body_html(raw: &[u8], show_images: bool) -> (String, usize) {
    let msg = estafeta_mime::parse(raw);
    let lists = message::body_lists(&msg);
    let images = if show_images {
        RemoteImages::Show
    } else {
        RemoteImages::Block
    };
    let mut out = String::new();
    let mut blocked = 0;
    let html_parts: Vec<usize> = lists
        .html
        .iter()
        .copied()
        .filter(|i| msg.parts[*i].is_type("text", Some("html")))
        .collect();
    if !html_parts.is_empty() {
        for &i in &lists.html {
            let Some((text, is_html)) = estafeta_mime::text::part_content(&msg, &msg.parts[i])
            else {
                continue;
            };
            if is_html {
                let safe = sanitize(&text, images);
                blocked += safe.blocked_images;
                out.push_str(&inline_images(&safe.html, &safe.cids, &msg));
                if safe.truncated {
                    out.push_str("<p><em>This message is too large to show whole.</em></p>");
                }
            } else {
                out.push_str(&format!(
                    "<pre>{}</pre>",
                    escape(&text.replace("\r\n", "\n"))
                ));
            }
        }
    } else {
        for &i in &lists.text {
            if let Some((text, _)) = estafeta_mime::text::part_content(&msg, &msg.parts[i]) {
                out.push_str(&format!(
                    "<pre>{}</pre>",
                    escape(&text.replace("\r\n", "\n"))
                ));
            }
        }
    }
    (out, blocked)
}

/// The message's own images (`src="cid:<n>"`, numbered by the sanitiser, `cids[n]`
/// their Content-IDs) replaced by their parts' content as `data:` URLs (the part's type
/// checked to be an image), up to [`MAX_INLINE`] octets in all; an image without a part
/// keeps no `src`.
fn inline_images(html: &str, cids: &[String], msg: &estafeta_mime::Message<'_>) -> String {
    const MARK: &str = "src=\"cid:";
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut budget = MAX_INLINE;
    // each part's Content-ID once (a message may hold thousands of parts and images)
    let mut by_cid: std::collections::HashMap<&str, &estafeta_mime::Part<'_>> = Default::default();
    for p in &msg.parts {
        if let Some(c) = p.mime.content_id() {
            by_cid.entry(c.trim().trim_matches(['<', '>'])).or_insert(p);
        }
    }
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        // only what the sanitiser wrote: digits, then the closing quote
        let Some(n) = after[..digits]
            .parse::<usize>()
            .ok()
            .filter(|_| after[digits..].starts_with('"'))
        else {
            out.push_str(MARK);
            rest = after;
            continue;
        };
        let part = cids
            .get(n)
            .and_then(|cid| by_cid.get(cid.as_str()))
            .copied();
        let data = part.and_then(|p| {
            let ct = p.mime.content_type()?;
            if !ct.c_type.eq_ignore_ascii_case("image") {
                return None;
            }
            let sub = ct.c_subtype.as_deref().unwrap_or("");
            if sub.is_empty()
                || !sub
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            {
                return None;
            }
            let bytes = estafeta_mime::text::decoded(msg, p).ok()?;
            if bytes.len() > budget {
                return None;
            }
            budget -= bytes.len();
            Some(format!(
                "data:image/{};base64,{}",
                sub.to_ascii_lowercase(),
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ))
        });
        match data {
            Some(url) => out.push_str(&format!("src=\"{url}\"")),
            None => out.push_str("data-missing=\"\""),
        }
        rest = &after[digits + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::body_html;

    #[test]
    fn scripts_go_remote_images_wait_and_inline_images_come_inline() {
        let raw = b"Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/html\r\n\r\n<p onclick=\"x()\">Hi<script>alert(1)</script>\
            <img src=\"https://tracker.test/p.gif\"><img src=\"cid:logo@x\"></p>\r\n--b\r\n\
            Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";
        let (html, blocked) = body_html(raw, false);
        assert_eq!(blocked, 1, "{html}");
        assert!(
            !html.contains("script") && !html.contains("onclick") && !html.contains("tracker.test"),
            "{html}"
        );
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw0KGgo=\""),
            "{html}"
        );
        let (shown, _) = body_html(raw, true);
        assert!(
            shown.contains("https://tracker.test/p.gif") && !shown.contains("script"),
            "{shown}"
        );
        let (text, _) = body_html(b"Subject: x\r\n\r\n<b>not html</b>\r\n", false);
        assert_eq!(text, "<pre>&lt;b&gt;not html&lt;/b&gt;\n</pre>");
    }
}
