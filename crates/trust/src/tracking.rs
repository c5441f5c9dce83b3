//! Open and click tracking of the HTML mail a domain's users send, when the domain has it
//! switched on (off by default): each `http`/`https` link of an `<a>` or `<area>` becomes
//! a link to our web side that names the message and the original address, signed with
//! the server's web secret, and a 1×1 image that names the message goes before
//! `</body>`. The web side checks the signature ([`check_click`], [`check_open`]) before
//! it counts anything or redirects anywhere, so a changed link is refused and no one can
//! use us as an open redirector. Plain-text parts, attachments and enclosed messages are
//! never changed (`estafeta_mime::edit`).
//!
//! Link form: `<base>/t/c/<id>/<sig>/<address in base64url>`; image:
//! `<base>/t/o/<id>/<sig>`. `sig` is HMAC-SHA-256 over a purpose, the id and the address,
//! cut to 128 bits. Bounds: at most [`MAX_LINKS`] links per message, addresses of at most
//! [`MAX_URL`] octets (longer ones stay as they are), one pass over each HTML part; the
//! tag scanner never looks back and reads each tag's attributes once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The most links rewritten in one message; the rest stay as they are.
pub const MAX_LINKS: usize = 500;
/// The longest link address rewritten, in octets.
pub const MAX_URL: usize = 2000;
/// The longest message id a tracking link may name.
pub const MAX_ID: usize = 64;

/// Makes the links of one server: its web secret and the address its web side is reached
/// at (`https://mail.example.com`, no final slash).
#[derive(Clone)]
pub struct Tracker {
    secret: Vec<u8>,
    base: String,
}

/// What rewriting did to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub message: Vec<u8>,
    /// Links rewritten, in all its HTML parts.
    pub links: usize,
}

impl Tracker {
    pub fn new(secret: &[u8], base: &str) -> Tracker {
        Tracker {
            secret: secret.to_vec(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The signed link that counts a click of message `id` and leads to `url`.
    pub fn click_link(&self, id: &str, url: &str) -> String {
        format!(
            "{}/t/c/{id}/{}/{}",
            self.base,
            sign(&self.secret, "click", id, url),
            URL_SAFE_NO_PAD.encode(url)
        )
    }

    /// The signed image address that counts an open of message `id`.
    pub fn open_image(&self, id: &str) -> String {
        format!(
            "{}/t/o/{id}/{}",
            self.base,
            sign(&self.secret, "open", id, "")
        )
    }

    /// `message` with its HTML parts' links and an image made to report to us, under
    /// message `id` (a queue id: letters and digits); `None` when it has no HTML to track
    /// or `id` cannot be put in a link.
    pub fn rewrite(&self, message: &[u8], id: &str) -> Option<Tracked> {
        if !valid_id(id) {
            return None;
        }
        let mut links = 0;
        let message = estafeta_mime::edit::edit_html_parts(message, |html| {
            let (edited, n) = self.rewrite_html(html, id, MAX_LINKS.saturating_sub(links));
            links += n;
            Some(edited)
        })?;
        Some(Tracked { message, links })
    }

    /// One HTML document with at most `budget` links rewritten and the image added;
    /// returns it with the number of links rewritten.
    fn rewrite_html(&self, html: &[u8], id: &str, budget: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(html.len() + 1024);
        let mut done = 0;
        let mut at = 0;
        while let Some(lt) = memchr(b'<', &html[at..]).map(|i| at + i) {
            out.extend_from_slice(&html[at..lt]);
            let rest = &html[lt..];
            if rest.starts_with(b"<!--") {
                // a comment is copied whole: links in it are not shown
                let end = find(&rest[4..], b"-->").map_or(rest.len(), |i| i + 7);
                out.extend_from_slice(&rest[..end]);
                at = lt + end;
                continue;
            }
            let end = tag_end(rest);
            let tag = &rest[..end];
            match link_tag(tag) {
                Some((start, stop, url)) if done < budget => {
                    out.extend_from_slice(&tag[..start]);
                    out.push(b'"');
                    out.extend_from_slice(self.click_link(id, &url).as_bytes());
                    out.push(b'"');
                    out.extend_from_slice(&tag[stop..]);
                    done += 1;
                }
                _ => out.extend_from_slice(tag),
            }
            at = lt + end;
        }
        out.extend_from_slice(&html[at..]);
        let image = format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">",
            self.open_image(id)
        );
        match rfind_ignore_case(&out, b"</body") {
            Some(i) => {
                out.splice(i..i, image.into_bytes());
            }
            None => out.extend_from_slice(image.as_bytes()),
        }
        (out, done)
    }
}

/// The `Subject:` of a message, decoded, for the statistics page ("" without one).
pub fn subject_of(message: &[u8]) -> String {
    let parsed = estafeta_mime::parse(message);
    parsed
        .root()
        .headers()
        .iter()
        .find(|h| h.name == mail_parser::HeaderName::Subject)
        .and_then(|h| h.value.as_text())
        .map(|s| s.chars().take(200).collect())
        .unwrap_or_default()
}

/// The address a click link leads to, when its signature is ours for this `id` and the
/// address is an `http`/`https` one; `None` for a changed or made-up link.
pub fn check_click(secret: &[u8], id: &str, sig: &str, encoded_url: &str) -> Option<String> {
    if !valid_id(id) || encoded_url.len() > MAX_URL * 2 {
        return None;
    }
    let url = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded_url).ok()?).ok()?;
    verify(secret, "click", id, &url, sig)?;
    is_web_address(&url).then_some(url)
}

/// Whether an open image's signature is ours for this `id`.
pub fn check_open(secret: &[u8], id: &str, sig: &str) -> bool {
    valid_id(id) && verify(secret, "open", id, "", sig).is_some()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn mac(secret: &[u8], purpose: &str, id: &str, url: &str) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    for piece in [purpose, id, url] {
        m.update(piece.as_bytes());
        m.update(b"\0");
    }
    Some(m)
}

fn sign(secret: &[u8], purpose: &str, id: &str, url: &str) -> String {
    match mac(secret, purpose, id, url) {
        Some(m) => URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..16]),
        None => String::new(),
    }
}

/// Checks in constant time.
fn verify(secret: &[u8], purpose: &str, id: &str, url: &str, sig: &str) -> Option<()> {
    let given = URL_SAFE_NO_PAD.decode(sig).ok()?;
    if given.len() != 16 {
        return None;
    }
    mac(secret, purpose, id, url)?
        .verify_truncated_left(&given)
        .ok()
}

fn is_web_address(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && url.len() <= MAX_URL
        && url.bytes().all(|b| b > b' ' && b != 0x7f)
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .rposition(|w| w.eq_ignore_ascii_case(needle))
}

/// The length of the tag that starts `rest` (at its `<`): up to and with its `>` outside
/// quotes, or all of `rest` when it does not end. A `<` that opens no tag is one octet.
fn tag_end(rest: &[u8]) -> usize {
    if !rest.get(1).is_some_and(|b| b.is_ascii_alphabetic()) {
        return 1;
    }
    let mut quote = None;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    rest.len()
}

/// For an `<a …>` or `<area …>` tag with an `http`/`https` `href`: where the attribute's
/// value starts and stops in the tag (quotes included) and the address it holds, its
/// character references undone.
fn link_tag(tag: &[u8]) -> Option<(usize, usize, String)> {
    let name_end = tag[1..]
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .map_or(tag.len(), |i| i + 1);
    let name = &tag[1..name_end];
    if !(name.eq_ignore_ascii_case(b"a") || name.eq_ignore_ascii_case(b"area")) {
        return None;
    }
    let mut i = name_end;
    while i < tag.len() {
        // attribute name
        while i < tag.len() && (tag[i].is_ascii_whitespace() || tag[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < tag.len()
            && !matches!(tag[i], b'=' | b'>' | b'/')
            && !tag[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let attribute = &tag[start..i];
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        if tag.get(i) != Some(&b'=') {
            if i == start {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
        let (value, value_stop) = match tag.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let close = memchr(q, &tag[i + 1..])?;
                (&tag[i + 1..i + 1 + close], i + close + 2)
            }
            _ => {
                let stop = tag[i..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace() || *b == b'>')
                    .map_or(tag.len(), |n| i + n);
                (&tag[i..stop], stop)
            }
        };
        i = value_stop;
        if attribute.eq_ignore_ascii_case(b"href") {
            let url = unescape(std::str::from_utf8(value).ok()?);
            let url = url.trim();
            return is_web_address(url).then(|| (value_start, value_stop, url.to_string()));
        }
    }
    None
}

/// Undoes the character references an address may hold (`&amp;`, `&#38;`, `&#x26;` and
/// the few named ones that appear in links); any other `&` stays as written.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // a reference is short: its `;` within 12 octets (found by octet: `rest` may hold
        // multi-octet characters there)
        let semi = rest.as_bytes()[..rest.len().min(12)]
            .iter()
            .position(|&b| b == b';');
        let Some(semi) = semi else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn tracker() -> Tracker {
        Tracker::new(SECRET, "https://mail.example.com/")
    }

    fn parts(link: &str) -> Vec<String> {
        link.trim_start_matches("https://mail.example.com/t/")
            .split('/')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn links_and_the_image_are_rewritten() {
        let html =
            br##"<html><body><p>Hi <A class=x HREF="https://shop.test/a?x=1&amp;y=2">shop</A>
<a href='http://b.test/'>b</a> <a href=https://c.test/c>c</a>
<a href="mailto:x@y.test">mail</a> <a name=top>top</a> <a href="#top">up</a>
<!-- <a href="https://hidden.test/"> --><area shape=rect href="https://d.test/">
</body></html>"##;
        let (out, n) = tracker().rewrite_html(html, "Q1", MAX_LINKS);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(n, 4, "{out}");
        assert!(out.contains("<A class=x HREF=\"https://mail.example.com/t/c/Q1/"));
        for kept in [
            "mailto:x@y.test",
            "href=\"#top\"",
            "<a name=top>",
            "https://hidden.test/",
        ] {
            assert!(out.contains(kept), "{kept} kept: {out}");
        }
        assert!(!out.contains("shop.test") && !out.contains("b.test/'"));
        let image = out
            .find("<img src=\"https://mail.example.com/t/o/Q1/")
            .unwrap();
        assert!(
            image < out.find("</body>").unwrap(),
            "image inside the body"
        );
        // each link leads back to its address
        let first = out.split('"').find(|s| s.contains("/t/c/")).unwrap();
        let p = parts(first);
        assert_eq!(
            check_click(SECRET, &p[1], &p[2], &p[3]).as_deref(),
            Some("https://shop.test/a?x=1&y=2")
        );
    }

    #[test]
    fn a_changed_link_is_refused() {
        let link = tracker().click_link("Q1", "https://shop.test/");
        let p = parts(&link);
        assert!(check_click(SECRET, &p[1], &p[2], &p[3]).is_some());
        let other = URL_SAFE_NO_PAD.encode("https://evil.test/");
        assert_eq!(
            check_click(SECRET, &p[1], &p[2], &other),
            None,
            "other address"
        );
        assert_eq!(
            check_click(SECRET, "Q2", &p[2], &p[3]),
            None,
            "other message"
        );
        assert_eq!(check_click(b"another secret", &p[1], &p[2], &p[3]), None);
        let mut sig = p[2].clone();
        sig.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
        assert_eq!(
            check_click(SECRET, &p[1], &sig, &p[3]),
            None,
            "changed signature"
        );
        assert_eq!(check_click(SECRET, &p[1], "", &p[3]), None);
        assert_eq!(check_click(SECRET, &p[1], "!!", "!!"), None);
        // a signed address that is not a web one is still refused
        let js = tracker().click_link("Q1", "javascript:alert(1)");
        let p = parts(&js);
        assert_eq!(check_click(SECRET, &p[1], &p[2], &p[3]), None);
        let image = tracker().open_image("Q1");
        let p = parts(&image);
        assert!(check_open(SECRET, &p[1], &p[2]));
        assert!(!check_open(SECRET, "Q2", &p[2]));
        assert!(!check_open(SECRET, "Q1/../x", &p[2]));
    }

    #[test]
    fn bounds_hold() {
        let many = "<a href=\"https://x.test/\">x</a>".repeat(MAX_LINKS + 10);
        let (_, n) = tracker().rewrite_html(many.as_bytes(), "Q1", MAX_LINKS);
        assert_eq!(n, MAX_LINKS);
        let long = format!("<a href=\"https://x.test/{}\">x</a>", "a".repeat(MAX_URL));
        let (out, n) = tracker().rewrite_html(long.as_bytes(), "Q1", MAX_LINKS);
        assert_eq!(n, 0);
        assert!(out.starts_with(long.as_bytes()));
        // unterminated tags, quotes and comments end at the end
        for bad in [
            "<a href=\"https://x.test/",
            "<!-- <a href=x>",
            "<a href",
            "<",
            "<a =>",
            "<a href='",
        ] {
            let (out, n) = tracker().rewrite_html(bad.as_bytes(), "Q1", MAX_LINKS);
            assert_eq!(n, 0, "{bad}");
            assert!(out.starts_with(bad.as_bytes()));
        }
        assert!(
            tracker()
                .rewrite(b"Content-Type: text/html\r\n\r\n<p>x</p>", "bad/id")
                .is_none()
        );
    }

    #[test]
    fn plain_text_mail_is_untouched() {
        let plain = b"From: a@example.com\r\nSubject: x\r\n\r\nsee https://shop.test/\r\n";
        assert!(tracker().rewrite(plain, "Q1").is_none());
        let html = b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.test/\">x</a>\r\n";
        let tracked = tracker().rewrite(html, "Q1").unwrap();
        assert_eq!(tracked.links, 1);
    }

    #[test]
    fn the_subject_is_read() {
        assert_eq!(
            subject_of(b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx"),
            "caf\u{e9}"
        );
        assert_eq!(subject_of(b"From: a@b\r\n\r\nx"), "");
    }

    #[test]
    fn references_are_undone() {
        assert_eq!(unescape("a&amp;b&#38;c&#x26;d&nope;e&"), "a&b&c&d&nope;e&");
        assert_eq!(unescape("&#xZZ;&#99999999;"), "&#xZZ;&#99999999;");
        assert_eq!(
            unescape("&ééééééé;&é"),
            "&ééééééé;&é",
            "no cut inside a character"
        );
    }
}
