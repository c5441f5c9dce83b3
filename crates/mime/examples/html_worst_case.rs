//! How long the HTML sanitiser takes on the worst inputs its tag bound lets through:
//! `cargo run --release -p estafeta-mime --example html_worst_case [TAGS]` prints the time
//! for TAGS (default `html::MAX_TAGS`) nested or repeated start tags of a few kinds.

use estafeta_mime::html::{MAX_TAGS, RemoteImages, sanitize};

fn main() {
    let tags = std::env::args()
        .nth(1)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(MAX_TAGS);
    for (name, unit, per) in [
        ("nested div", "<div>", 1),
        ("b and i", "<b><i>", 2),
        ("nested tables", "<table><tr><td>", 3),
        ("links", "<a href=https://x.test/>", 1),
        ("paragraphs", "<p>x", 1),
    ] {
        let input = unit.repeat(tags / per);
        let started = std::time::Instant::now();
        let out = sanitize(&input, RemoteImages::Block);
        println!(
            "{name}: {} tags, {:.3} s, truncated: {}",
            tags,
            started.elapsed().as_secs_f64(),
            out.truncated
        );
    }
}
