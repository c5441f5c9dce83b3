//! A message's HTML made safe to show in a browser (the webmail): ammonia's allow-list,
//! tightened for mail.
//!
//! What a sender's HTML may not do once shown:
//! - **run anything:** no `script` (its content goes too), no event attribute, no
//!   `javascript:` or `data:` URL, no `iframe`, `object`, `embed`, `form`, `base`,
//!   `meta` or `link`;
//! - **load anything unasked:** no `style` element (its content goes too) and no `style`
//!   attribute, so no CSS `url()`; no relative URL (it would reach this server's own
//!   pages with the reader's cookies); a remote image (`http:`, `https:`) loses its
//!   `src` unless the reader asked to see images ([`RemoteImages::Show`]), and the
//!   count of blocked images is returned so the page can offer to show them;
//! - **leave the reader's tab:** links open in a new one, with
//!   `rel="noopener noreferrer nofollow"`.
//!
//! Images of the message itself (`cid:` URLs, RFC 2392) stay, numbered: an image's
//! `src` becomes `cid:<n>`, `n` its place in [`SafeHtml::cids`] (which holds the
//! Content-IDs as written), so that the webmail can put the part there exactly (a text
//! that happens to read `src="cid:…"` is not an image). Tables and a few presentational attributes stay, since most
//! mail is laid out with them.
//!
//! Bounds: at most [`MAX_HTML`] octets and [`MAX_TAGS`] start tags are parsed; the input
//! is cut before the first octet or tag past either, and [`SafeHtml::truncated`] says
//! so. The tag bound is for time: the HTML parser looks through the open elements for
//! most start tags, so nesting costs time in the square of its depth: 10,000 nested
//! `div`s, the worst the bound lets through, take 0.3–0.45 s in a release build here
//! (20,000 took 1.3 s; `examples/html_worst_case.rs` measures it), other shapes of
//! 10,000 tags 0.01–0.03 s. Mail laid out in tables has a few thousand tags. ammonia walks the tree with a stack of its own,
//! not by recursion, so depth costs no thread stack (test: the bound's worth of nested
//! elements on a test thread's 2 MiB stack).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ammonia::{Builder, UrlRelative};

/// Most octets of HTML parsed for display (4 MiB).
pub const MAX_HTML: usize = 4 << 20;

/// Most start tags parsed for display.
pub const MAX_TAGS: usize = 10_000;

/// Whether remote images are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteImages {
    /// Their `src` removed (the default: a remote image tells the sender the mail was read).
    Block,
    /// Kept: the reader asked to see them.
    Show,
}

/// The HTML to show, and what was held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHtml {
    pub html: String,
    /// Remote images whose `src` was removed.
    pub blocked_images: usize,
    /// The input was longer than [`MAX_HTML`]: only its start is shown.
    pub truncated: bool,
    /// The Content-IDs of the message's own images, in the order their `src` numbers
    /// them (`cid:0`, `cid:1`, …).
    pub cids: Vec<String>,
}

/// `html` (a text/html part, decoded) as it may be shown.
pub fn sanitize(html: &str, images: RemoteImages) -> SafeHtml {
    let (html, truncated) = cut(html, MAX_HTML, MAX_TAGS);
    let blocked = Arc::new(AtomicUsize::new(0));
    let counter = blocked.clone();
    let cids = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let numbered = cids.clone();
    let mut builder = Builder::default();
    builder
        .url_schemes(HashSet::from(["http", "https", "mailto", "cid"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .clean_content_tags(HashSet::from(["script", "style", "title"]))
        .add_tags(["font"])
        .add_tag_attributes(
            "table",
            [
                "align",
                "bgcolor",
                "border",
                "cellpadding",
                "cellspacing",
                "width",
            ],
        )
        .add_tag_attributes(
            "td",
            [
                "align", "bgcolor", "colspan", "height", "rowspan", "valign", "width",
            ],
        )
        .add_tag_attributes(
            "th",
            [
                "align", "bgcolor", "colspan", "height", "rowspan", "valign", "width",
            ],
        )
        .add_tag_attributes("tr", ["align", "bgcolor", "valign"])
        .add_tag_attributes("font", ["color", "face", "size"])
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                match image_scheme(value).as_deref() {
                    // the message's own image, numbered
                    Some("cid") => {
                        let mut list = numbered.lock().unwrap_or_else(|p| p.into_inner());
                        let id = content_id(value);
                        list.push(id);
                        return Some(format!("cid:{}", list.len() - 1).into());
                    }
                    // only the message's own images; what else would load is counted
                    Some("http" | "https") if images == RemoteImages::Block => {
                        counter.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                    _ if images == RemoteImages::Block => return None,
                    _ => {}
                }
            }
            Some(value.into())
        });
    let html = builder.clean(html).to_string();
    drop(builder);
    let cids = std::mem::take(&mut *cids.lock().unwrap_or_else(|p| p.into_inner()));
    SafeHtml {
        html,
        blocked_images: blocked.load(Ordering::Relaxed),
        truncated,
        cids,
    }
}

/// The Content-ID a `cid:` URL names (RFC 2392): read as a browser reads the URL (leading
/// controls and spaces skipped, tabs and line breaks removed), the scheme dropped,
/// `%XX` decoded.
fn content_id(url: &str) -> String {
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let rest = cleaned.get(4..).unwrap_or("");
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The scheme a browser would read in an image's URL, lower case; `None` for a relative
/// or unparsable one. Read by the URL Standard's parser, as the browser and ammonia read
/// it: leading C0 controls and spaces skipped, tabs and line breaks anywhere removed
/// (`\u{7}https:` and `ht\ntps:` are `https:`).
fn image_scheme(url: &str) -> Option<String> {
    ammonia::Url::parse(url)
        .ok()
        .map(|u| u.scheme().to_string())
}

/// The start of `s` with at most `max` octets (cut at a character boundary) and at most
/// `max_tags` start tags (`<` and a letter); whether anything was cut.
fn cut(s: &str, max: usize, max_tags: usize) -> (&str, bool) {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &s.as_bytes()[..end];
    let mut tags = 0;
    for (at, pair) in bytes.windows(2).enumerate() {
        if pair[0] == b'<' && pair[1].is_ascii_alphabetic() {
            tags += 1;
            if tags > max_tags {
                // '<' is ASCII: a character boundary
                return (&s[..at], true);
            }
        }
    }
    (&s[..end], end < s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(html: &str) -> String {
        sanitize(html, RemoteImages::Block).html
    }

    #[test]
    fn scripts_and_their_ways_in_are_gone() {
        let attacks = [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
            "<img src=cid:a onerror=alert(1)>",
            "<body onload=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"jav&#x61;script:alert(1)\">x</a>",
            "<a href=\" javascript:alert(1)\">x</a>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<iframe src=https://evil.test/></iframe>",
            "<object data=https://evil.test/x></object><embed src=https://evil.test/x>",
            "<svg><script>alert(1)</script></svg>",
            "<svg onload=alert(1)>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<form action=https://evil.test/><input name=p><button>go</button></form>",
            "<meta http-equiv=refresh content=\"0;url=https://evil.test/\">",
            "<base href=https://evil.test/>",
            "<link rel=stylesheet href=https://evil.test/x.css>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
            "<!--<img src=x onerror=alert(1)>-->",
            "<a href=\"vbscript:msgbox(1)\">x</a>",
        ];
        for attack in attacks {
            let out = shown(attack).to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "javascript:",
                "vbscript:",
                "data:",
                "<iframe",
                "<object",
                "<embed",
                "<form",
                "<input",
                "<button",
                "<meta",
                "<base",
                "<link",
                "evil.test",
            ] {
                assert!(!out.contains(bad), "{attack:?} gave {out:?}");
            }
        }
        assert_eq!(shown("<p>hi<script>alert(1)</script></p>"), "<p>hi</p>");
    }

    #[test]
    fn nothing_loads_unasked() {
        let page = "<style>body{background:url(https://t.test/a.png)}</style>\
                    <p style=\"background:url(https://t.test/b.png)\">text</p>\
                    <img src=\"https://t.test/c.png\" alt=c>\
                    <img src=\" HTTP://t.test/d.png\">\
                    <img src=\"\u{7}https://t.test/h.png\">\
                    <img src=\"ht\ntps://t.test/i.png\">\
                    <img src=\"ftp://t.test/j.png\">\
                    <img src=\"//t.test/e.png\">\
                    <img src=\"/account/sign-out\">\
                    <img srcset=\"https://t.test/f.png 1x\">\
                    <table background=\"https://t.test/g.png\"><tr><td>x</td></tr></table>\
                    <img src=\"cid:part1@example.com\" alt=inline>";
        let blocked = sanitize(page, RemoteImages::Block);
        assert!(!blocked.html.contains("t.test"), "{}", blocked.html);
        assert!(!blocked.html.contains("/account"), "{}", blocked.html);
        assert!(!blocked.html.contains("style"), "{}", blocked.html);
        assert!(blocked.html.contains("src=\"cid:0\""), "{}", blocked.html);
        assert_eq!(blocked.cids, vec!["part1@example.com".to_string()]);
        assert_eq!(super::content_id("\u{7}CID:a%40b%2"), "a@b%2");
        assert!(blocked.html.contains("text"));
        assert_eq!(
            blocked.blocked_images, 4,
            "c, d, h and i.png (ftp:, relative and srcset are dropped, not counted): {}",
            blocked.html
        );

        let asked = sanitize(page, RemoteImages::Show);
        assert!(
            asked.html.contains("src=\"https://t.test/c.png\""),
            "{}",
            asked.html
        );
        assert_eq!(asked.blocked_images, 0);
        // asking for images lets only img src through: no CSS, no relative URL
        for never in [
            "a.png", "b.png", "e.png", "f.png", "g.png", "j.png", "/account",
        ] {
            assert!(!asked.html.contains(never), "{never} in {}", asked.html);
        }
    }

    #[test]
    fn links_open_apart_and_layout_stays() {
        let out = shown(
            "<a href=\"https://example.com/x?a=1&amp;b=2\">x</a> <a href=\"mailto:a@b.test\">m</a>\
             <table border=0 cellpadding=4 width=\"100%\"><tr><td colspan=2 bgcolor=\"#eeeeee\">c</td></tr></table>\
             <font color=red>r</font><title>hidden title</title>",
        );
        assert!(out.contains(
            "<a href=\"https://example.com/x?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">x</a>"
        ), "{out}");
        assert!(out.contains("href=\"mailto:a@b.test\""), "{out}");
        assert!(
            out.contains("colspan=\"2\"") && out.contains("bgcolor=\"#eeeeee\""),
            "{out}"
        );
        assert!(out.contains("<font color=\"red\">r</font>"), "{out}");
        assert!(!out.contains("hidden title"), "{out}");
    }

    #[test]
    fn deep_nesting_and_size_are_bounded() {
        // on a test thread's 2 MiB stack: a recursive walk would overflow it
        let deep = "<div>".repeat(MAX_TAGS) + "end";
        let out = sanitize(&deep, RemoteImages::Block);
        assert!(out.html.contains("end") && !out.truncated);
        // one more tag is cut, with what follows it
        let deeper = "<div>".repeat(MAX_TAGS + 1) + "end";
        let out = sanitize(&deeper, RemoteImages::Block);
        assert!(!out.html.contains("end") && out.truncated);
        let formatting = "<b><i>".repeat(MAX_TAGS / 2) + "end";
        let out = sanitize(&formatting, RemoteImages::Block);
        assert!(out.html.contains("end") && !out.truncated);

        let big = "é".repeat(MAX_HTML / 2 + 1);
        let out = sanitize(&big, RemoteImages::Block);
        assert!(out.truncated);
        assert!(out.html.len() <= MAX_HTML);
        assert_eq!(cut("aé", 2, 10), ("a", true));
        assert_eq!(cut("ab", 2, 10), ("ab", false));
        assert_eq!(cut("<a><b>< c><d>", 100, 2), ("<a><b>< c>", true));
        assert_eq!(cut("1 <2 > <x", 100, 0), ("1 <2 > ", true));
    }
}
