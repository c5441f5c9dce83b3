//! The bounds of the MIME tree: hostile nesting is cut at MAX_DEPTH, parts at MAX_PARTS,
//! without recursion (each case runs on a thread with a small stack, where a walk that
//! recursed per level would overflow), and every tree keeps its offsets inside the message.

use estafeta_mime::{Kind, MAX_DEPTH, MAX_PARTS, Message, parse};
use proptest::prelude::*;

/// Runs `f` on a thread with a 128 KiB stack.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no overflow")
}

fn nested_multipart(levels: usize, closed: bool) -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nSubject: deep\r\n".to_vec();
    for i in 0..levels {
        m.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"=_{i}_\"\r\n\r\n--=_{i}_\r\n")
                .as_bytes(),
        );
    }
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\ninnermost\r\n");
    if closed {
        for i in (0..levels).rev() {
            m.extend_from_slice(format!("--=_{i}_--\r\n").as_bytes());
        }
    }
    m
}

fn check_invariants(m: &Message<'_>) {
    assert!(!m.parts.is_empty());
    assert!(m.parts.len() <= MAX_PARTS);
    for (i, p) in m.parts.iter().enumerate() {
        assert!(p.header_start() <= p.body_start(), "part {i}");
        assert!(p.body_start() <= p.end(), "part {i}");
        assert!(p.end() <= m.raw.len(), "part {i}");
        assert!(p.depth < MAX_DEPTH, "part {i}");
        for h in p.headers() {
            assert!(h.offset_end as usize <= p.body_start(), "part {i} header");
        }
        let children: Vec<usize> = match &p.kind {
            Kind::Multipart(c) => c.clone(),
            Kind::Message(c) => vec![*c],
            _ => vec![],
        };
        for c in children {
            let child = &m.parts[c];
            assert_eq!(child.parent, Some(i));
            assert_eq!(child.depth, p.depth + 1);
            assert!(child.header_start() >= p.body_start(), "child {c} of {i}");
            assert!(child.end() <= p.end(), "child {c} of {i}");
        }
    }
}

#[test]
fn twenty_thousand_levels_of_multipart_are_cut_at_the_bound() {
    small_stack(|| {
        for closed in [true, false] {
            let raw = nested_multipart(20_000, closed);
            let m = parse(&raw);
            check_invariants(&m);
            assert!(m.cut);
            assert_eq!(m.parts.len(), MAX_DEPTH);
            assert_eq!(m.parts.last().map(|p| &p.kind), Some(&Kind::Cut));
            // the root still spans the whole message
            assert_eq!(m.root().end(), raw.len());
        }
    });
}

#[test]
fn a_hundred_thousand_enclosed_messages_are_cut_at_the_bound() {
    small_stack(|| {
        let mut raw = b"From: a@example.com\r\n".to_vec();
        for _ in 0..100_000 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"\r\nbody\r\n");
        let m = parse(&raw);
        check_invariants(&m);
        assert!(m.cut);
        assert_eq!(m.parts.len(), MAX_DEPTH);
        assert!(matches!(m.parts[0].kind, Kind::Message(1)));
    });
}

#[test]
fn parts_beyond_the_bound_stay_in_the_last_part() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for i in 0..MAX_PARTS + 500 {
        raw.extend_from_slice(format!("--b\r\n\r\npart {i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"--b--\r\n");
    let m = parse(&raw);
    check_invariants(&m);
    assert!(m.cut);
    assert_eq!(m.parts.len(), MAX_PARTS);
    let last = m.parts.last().expect("parts");
    assert!(
        m.body(last)
            .ends_with(format!("part {}", MAX_PARTS + 499).as_bytes())
    );
}

#[test]
fn an_overlong_boundary_makes_a_leaf() {
    let b = "x".repeat(estafeta_mime::MAX_BOUNDARY + 1);
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n--{b}\r\n\r\nhi\r\n--{b}--\r\n"
    );
    let m = parse(raw.as_bytes());
    assert_eq!(m.parts.len(), 1);
    assert_eq!(m.root().kind, Kind::Leaf);
}

#[test]
fn ordinary_structure() {
    let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
        Subject: inner\r\n\r\ntwo\r\n--b--\r\nepilogue\r\n";
    let m = parse(raw);
    check_invariants(&m);
    assert!(!m.cut);
    assert_eq!(m.root().kind, Kind::Multipart(vec![1, 2]));
    assert_eq!(m.body(&m.parts[1]), b"one");
    assert_eq!(m.parts[2].kind, Kind::Message(3));
    assert_eq!(m.header_block(&m.parts[3]), b"Subject: inner\r\n\r\n");
    assert_eq!(m.body(&m.parts[3]), b"two");
    assert_eq!(
        estafeta_mime::text::body_text(&m),
        "one\ntwo\n",
        "the text of every text part, the enclosed message's too"
    );
}

fn mime_token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=a\r\n".to_vec()),
        Just(b"Content-Type: multipart/digest; boundary=ab\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"--a\r\n".to_vec()),
        Just(b"--ab\r\n".to_vec()),
        Just(b"--a--\r\n".to_vec()),
        Just(b"--ab--".to_vec()),
        Just(b"Subject: x\r\n".to_vec()),
        Just(b"text\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

proptest! {
    #[test]
    fn any_bytes_make_a_consistent_tree(tokens in proptest::collection::vec(mime_token(), 0..60)) {
        let raw: Vec<u8> = tokens.concat();
        let m = parse(&raw);
        check_invariants(&m);
        let _ = estafeta_mime::text::body_text(&m);
    }
}
