//! The MIME tree of a message, found in one pass over its lines with explicit stacks.
//!
//! Why not mail-parser's own tree: it has no limit on nesting, builds nested
//! `message/rfc822` parts as nested `Message` values (whose drop recurses once per level:
//! 100,000 levels overflow a stack), and looks for each level's boundary anew, so an
//! unterminated nesting costs depth × size. Here mail-parser still reads each part's
//! header block (one flat call per part), but the tree is ours:
//!
//! - at most [`MAX_DEPTH`] levels, the root counting as the first: a `multipart/*` or
//!   `message/rfc822` part on the last level is [`Kind::Cut`], its content opaque (Dovecot
//!   has the same limit and the same cut, and shows such a part as
//!   `application/octet-stream`);
//! - at most [`MAX_PARTS`] parts: beyond that, boundary lines of the open multiparts no
//!   longer start new parts and stay inside the part they appear in;
//! - a boundary longer than [`MAX_BOUNDARY`] octets makes its multipart a leaf;
//! - time is linear in the message's size: every line is looked at once, and a line
//!   beginning with `--` is compared with at most [`MAX_DEPTH`] open boundaries;
//! - the tree is a flat `Vec` of parts that refer to each other by index, so nothing is
//!   built or dropped recursively.
//!
//! Offsets follow RFC 2046 as Dovecot reads it: a part ends before the line break that
//! precedes the next boundary line, unless that line break already ended a boundary line
//! or a header block; the header block of a part includes the empty line that ends it.

use mail_parser::parsers::MessageStream;
use mail_parser::{Encoding, Header, MessageParser, MessagePart, MimeHeaders, PartType};

/// Levels of nesting read as structure, the root message being the first (depth 0): a
/// container at depth `MAX_DEPTH - 1` is cut.
pub const MAX_DEPTH: usize = 100;
/// Most parts read in one message (the root counts).
pub const MAX_PARTS: usize = 10_000;
/// Longest multipart boundary taken as one (RFC 2046 allows 70).
pub const MAX_BOUNDARY: usize = 200;

/// What a part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Content: text, an attachment, or a container cut by a bound.
    Leaf,
    /// The indexes of the parts of a `multipart/*` (at least one).
    Multipart(Vec<usize>),
    /// The index of the root part of an enclosed `message/rfc822` or `message/global`.
    Message(usize),
    /// A `multipart/*` or `message/*` part nested too deep to be read: opaque content.
    Cut,
}

/// One part of the tree.
#[derive(Debug)]
pub struct Part<'a> {
    /// The part's header fields as mail-parser reads them (so that `content_type()` and the
    /// other [`MimeHeaders`] methods work), with `offset_*` absolute in the raw message.
    /// Its `body` is left empty: [`crate::text`] decodes bodies on demand.
    pub mime: MessagePart<'a>,
    pub kind: Kind,
    pub depth: usize,
    pub parent: Option<usize>,
}

impl Part<'_> {
    pub fn header_start(&self) -> usize {
        self.mime.offset_header as usize
    }
    pub fn body_start(&self) -> usize {
        self.mime.offset_body as usize
    }
    pub fn end(&self) -> usize {
        self.mime.offset_end as usize
    }
    pub fn headers(&self) -> &[Header<'_>] {
        &self.mime.headers
    }
    /// `type/subtype` in lower case, with the defaults of RFC 2045 (`text/plain`, or
    /// `message/rfc822` inside a `multipart/digest`) applied by the parser.
    pub fn is_type(&self, ty: &str, subtype: Option<&str>) -> bool {
        self.mime.content_type().is_some_and(|ct| {
            ct.c_type.eq_ignore_ascii_case(ty)
                && subtype.is_none_or(|s| {
                    ct.c_subtype
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(s))
                })
        })
    }
}

/// A message's tree of parts; `parts[0]` is the root.
#[derive(Debug)]
pub struct Message<'a> {
    pub raw: &'a [u8],
    pub parts: Vec<Part<'a>>,
    /// Whether a bound cut the structure somewhere.
    pub cut: bool,
    /// Where the line feeds are, found on the first call of [`Message::lines`], so that
    /// counting the lines of nested parts costs one pass in all, not one per level.
    line_feeds: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Message<'a> {
    pub fn root(&self) -> &Part<'a> {
        &self.parts[0]
    }

    /// The bytes of `part`'s body.
    pub fn body(&self, part: &Part<'_>) -> &'a [u8] {
        self.raw
            .get(part.body_start()..part.end().max(part.body_start()))
            .unwrap_or_default()
    }

    /// The number of lines (line feeds) in `part`'s body.
    pub fn lines(&self, part: &Part<'_>) -> usize {
        let feeds = self.line_feeds.get_or_init(|| {
            self.raw
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'\n')
                .map(|(i, _)| offset(i))
                .collect()
        });
        let before = |at: usize| feeds.partition_point(|&f| (f as usize) < at);
        before(part.end()) - before(part.body_start())
    }

    /// The bytes of `part`'s header block (with the empty line that ends it).
    pub fn header_block(&self, part: &Part<'_>) -> &'a [u8] {
        self.raw
            .get(part.header_start()..part.body_start())
            .unwrap_or_default()
    }
}

/// Reads the structure of `raw`. Never fails: any sequence of bytes is a message, at worst
/// one text part with no header.
pub fn parse(raw: &[u8]) -> Message<'_> {
    let mut p = Parser {
        raw,
        parts: Vec::new(),
        open: Vec::new(),
        frames: Vec::new(),
        cut: false,
        floor: 0,
    };
    let mut pos = p.open_part(0, None);
    while pos < raw.len() {
        let line_end = line_end(raw, pos);
        if let Some((frame, closing)) = p.boundary(&raw[pos..line_end]) {
            let starts_part = !closing;
            if starts_part && p.parts.len() >= MAX_PARTS {
                p.cut = true; // no more parts: the line stays in the part it is in
            } else {
                let end = end_before(raw, pos).max(p.floor);
                p.close_inside(frame, end);
                p.floor = line_end;
                if closing {
                    p.frames.truncate(frame);
                    pos = line_end;
                    continue;
                }
                p.frames.truncate(frame + 1);
                let multipart = p.frames[frame].part;
                pos = p.open_part(line_end, Some(multipart));
                continue;
            }
        }
        pos = line_end;
    }
    for i in std::mem::take(&mut p.open) {
        p.set_end(i, raw.len());
    }
    // a multipart whose boundary never came is a leaf, as it is for mail-parser and Dovecot
    for part in &mut p.parts {
        if part.kind == Kind::Multipart(Vec::new()) {
            part.kind = Kind::Leaf;
        }
    }
    Message {
        raw,
        parts: p.parts,
        cut: p.cut,
        line_feeds: std::cell::OnceCell::new(),
    }
}

struct Frame {
    boundary: Vec<u8>,
    /// The multipart part.
    part: usize,
    /// Its place in `Parser::open`.
    open_at: usize,
}

struct Parser<'a> {
    raw: &'a [u8],
    parts: Vec<Part<'a>>,
    /// Parts not yet ended, outermost first.
    open: Vec<usize>,
    /// Multiparts whose boundaries may still come, outermost first.
    frames: Vec<Frame>,
    cut: bool,
    /// Where the content after the last boundary line or header block begins: a line break
    /// before it is not the one a boundary line takes from the part before it.
    floor: usize,
}

impl<'a> Parser<'a> {
    /// The open boundary `line` is, innermost first, and whether it is the closing one.
    fn boundary(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = line.strip_prefix(b"--")?;
        self.frames.iter().enumerate().rev().find_map(|(i, f)| {
            let after = rest.strip_prefix(f.boundary.as_slice())?;
            Some((i, after.starts_with(b"--")))
        })
    }

    /// Ends every part opened inside the multipart of `frame` at `end`.
    fn close_inside(&mut self, frame: usize, end: usize) {
        let keep = self.frames[frame].open_at + 1;
        while self.open.len() > keep {
            if let Some(i) = self.open.pop() {
                self.set_end(i, end);
            }
        }
    }

    fn set_end(&mut self, i: usize, end: usize) {
        let part = &mut self.parts[i].mime;
        part.offset_end = offset(end).max(part.offset_body);
    }

    /// Reads the header block of a part that starts at `at` (and of the parts enclosed
    /// message by message in it), and returns where the body of the last one starts.
    fn open_part(&mut self, mut at: usize, mut parent: Option<usize>) -> usize {
        loop {
            let body = self.header_end(at);
            let mut headers = Vec::new();
            if let Some(block) = self.raw.get(at..body)
                && !block.is_empty()
            {
                MessageStream::new(block).parse_headers(&MessageParser::default(), &mut headers);
            }
            for h in &mut headers {
                h.offset_field = offset(at).saturating_add(h.offset_field);
                h.offset_start = offset(at).saturating_add(h.offset_start);
                h.offset_end = offset(at).saturating_add(h.offset_end);
            }
            let depth = parent.map_or(0, |p| self.parts[p].depth + 1);
            let index = self.parts.len();
            let mut part = Part {
                mime: MessagePart {
                    headers,
                    is_encoding_problem: false,
                    body: PartType::Text("".into()),
                    encoding: Encoding::None,
                    offset_header: offset(at),
                    offset_body: offset(body),
                    offset_end: offset(body),
                },
                kind: Kind::Leaf,
                depth,
                parent,
            };
            let in_digest =
                parent.is_some_and(|p| self.parts[p].is_type("multipart", Some("digest")));
            let container = match part.mime.content_type() {
                Some(ct) if ct.c_type.eq_ignore_ascii_case("multipart") => {
                    Some(Container::Multipart(
                        ct.attribute("boundary")
                            .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY)
                            .map(|b| b.as_bytes().to_vec()),
                    ))
                }
                Some(ct)
                    if ct.c_type.eq_ignore_ascii_case("message")
                        && ct.c_subtype.as_deref().is_some_and(|s| {
                            s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global")
                        }) =>
                {
                    Some(Container::Message)
                }
                None if in_digest => Some(Container::Message),
                _ => None,
            };
            let within = depth + 1 < MAX_DEPTH && index + 1 < MAX_PARTS;
            if container.is_some() && !within {
                self.cut = true;
                part.kind = Kind::Cut;
            }
            if let Some(p) = parent
                && let Kind::Multipart(children) = &mut self.parts[p].kind
            {
                children.push(index);
            }
            let next = match container {
                Some(Container::Multipart(Some(boundary))) if within => {
                    part.kind = Kind::Multipart(Vec::new());
                    self.frames.push(Frame {
                        boundary,
                        part: index,
                        open_at: self.open.len(),
                    });
                    None
                }
                Some(Container::Message) if within => {
                    part.kind = Kind::Message(index + 1);
                    Some(body)
                }
                _ => None,
            };
            self.parts.push(part);
            self.open.push(index);
            self.floor = body;
            match next {
                Some(child_at) => {
                    at = child_at;
                    parent = Some(index);
                }
                None => return body,
            }
        }
    }

    /// Where the header block starting at `at` ends: after its empty line, at a boundary
    /// line of an open multipart, or at the end of the message.
    fn header_end(&self, at: usize) -> usize {
        let mut pos = at;
        while pos < self.raw.len() {
            let end = line_end(self.raw, pos);
            let line = &self.raw[pos..end];
            if line == b"\r\n" || line == b"\n" {
                return end;
            }
            if self.boundary(line).is_some() {
                return pos;
            }
            pos = end;
        }
        self.raw.len()
    }
}

enum Container {
    /// With its boundary, when it has a usable one.
    Multipart(Option<Vec<u8>>),
    Message,
}

/// The index after the LF that ends the line starting at `pos`, or the end of `raw`.
fn line_end(raw: &[u8], pos: usize) -> usize {
    raw[pos..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(raw.len(), |i| pos + i + 1)
}

/// `pos` (the start of a boundary line) without the line break before it.
fn end_before(raw: &[u8], pos: usize) -> usize {
    let mut end = pos;
    if end > 0 && raw[end - 1] == b'\n' {
        end -= 1;
        if end > 0 && raw[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
