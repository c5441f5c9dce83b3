//! THREAD (RFC 5256 §3): the ORDEREDSUBJECT and REFERENCES algorithms over what the
//! session read of each message (its Message-ID, References or In-Reply-To, base
//! subject and sent date), and the `* THREAD` answer. A pure function of its input, kept
//! apart from the session so that it can be tested and fuzzed alone.
//!
//! Bounds, for a mailbox whose messages a hostile sender wrote:
//! - a message's References count for their last [`MAX_REFERENCES`] ids (the nearest
//!   ancestors); an id longer than [`MAX_ID`] octets is ignored;
//! - nothing recurses: the trees are walked with explicit stacks, however deep a chain
//!   of replies is;
//! - linking a message under another first checks that no loop would form, by walking up
//!   from the would-be parent. These walks share a budget of [`WALK_BUDGET`] steps per
//!   command (a node without children needs no walk: the usual case); once it is spent,
//!   a link that needs a check is not made (the message starts a thread of its own), so
//!   a crafted chain costs bounded time, not messages².
//!
//! Memory is linear in the messages and their (bounded) references.

use std::collections::{HashMap, HashSet, VecDeque};

/// References kept per message (the last ones).
pub const MAX_REFERENCES: usize = 64;
/// Longest message id taken into account, in octets.
pub const MAX_ID: usize = 512;
/// Parent-chain steps all loop checks of one THREAD may take together.
pub const WALK_BUDGET: usize = 20_000_000;

/// What THREAD knows of one message.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// What the answer shows: the sequence number, or the UID for UID THREAD.
    pub number: u32,
    /// The sequence number, which breaks ties between equal dates.
    pub seq: u32,
    /// Sent date (RFC 5256 §2.2): the Date: field, else the internal date.
    pub date: i64,
    /// The base subject (RFC 5256 §2.1).
    pub subject: String,
    /// Whether the subject marked a reply or forward.
    pub reply: bool,
    pub message_id: Option<String>,
    /// References, else the first id of In-Reply-To; oldest first.
    pub references: Vec<String>,
}

/// The ids (`<…>`, without the brackets and white space) in a header field's value,
/// at most `max` of them (the last ones), each at most [`MAX_ID`] octets.
pub fn message_ids(value: &[u8], max: usize) -> Vec<String> {
    let mut ids: VecDeque<String> = VecDeque::new();
    let mut rest = value;
    while let Some(open) = rest.iter().position(|&b| b == b'<') {
        let after = &rest[open + 1..];
        let Some(close) = after.iter().position(|&b| b == b'>') else {
            break;
        };
        let id: Vec<u8> = after[..close]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if !id.is_empty() && id.len() <= MAX_ID && !id.contains(&b'<') {
            ids.push_back(String::from_utf8_lossy(&id).into_owned());
            if ids.len() > max {
                ids.pop_front();
            }
        }
        rest = &after[close + 1..];
    }
    ids.into()
}

/// The first id (`<…>`) in a header field's value (Message-ID, In-Reply-To).
pub fn first_message_id(value: &[u8]) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.iter().position(|&b| b == b'<') {
        let after = &rest[open + 1..];
        let close = after.iter().position(|&b| b == b'>')?;
        let ids = message_ids(&rest[open..open + close + 2], 1);
        if let Some(id) = ids.into_iter().next() {
            return Some(id);
        }
        rest = &after[close + 1..];
    }
    None
}

/// One container of the REFERENCES algorithm: a message, or a dummy standing for a
/// message only referred to.
#[derive(Default)]
struct Node {
    item: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The thread forest, with the budget its loop checks draw on.
struct Forest<'a> {
    items: &'a [Item],
    nodes: Vec<Node>,
    budget: usize,
}

impl<'a> Forest<'a> {
    fn new_node(&mut self, item: Option<usize>) -> usize {
        self.nodes.push(Node {
            item,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// Whether making `child` a child of `parent` keeps the forest free of loops: false
    /// when `child` is `parent` or one of its ancestors, and when the budget is spent.
    fn can_link(&mut self, parent: usize, child: usize) -> bool {
        // a node without children is nobody's ancestor: the usual case costs no walk
        if self.nodes[child].children.is_empty() {
            return parent != child;
        }
        let mut at = Some(parent);
        while let Some(n) = at {
            if n == child || self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            at = self.nodes[n].parent;
        }
        true
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// The date and sequence number a node sorts by: its message's, or for a dummy its
    /// first child's (children already sorted).
    fn key(&self, n: usize) -> (i64, u32) {
        let mut at = n;
        loop {
            if let Some(i) = self.nodes[at].item {
                return (self.items[i].date, self.items[i].seq);
            }
            match self.nodes[at].children.first() {
                Some(&c) => at = c,
                None => return (i64::MAX, u32::MAX),
            }
        }
    }

    /// The message a thread's subject comes from: its own, or a dummy's first child's.
    fn subject_item(&self, n: usize) -> Option<&'a Item> {
        let n = match self.nodes[n].item {
            Some(_) => n,
            None => *self.nodes[n].children.first()?,
        };
        self.nodes[n].item.map(|i| &self.items[i])
    }

    fn sort_children(&mut self, n: usize) {
        let mut kids = std::mem::take(&mut self.nodes[n].children);
        kids.sort_by_key(|&c| self.key(c));
        self.nodes[n].children = kids;
    }

    /// RFC 5256 step (4) for one list of siblings: dummies without children go; a
    /// dummy's children take its place, except a dummy with several children at the top.
    fn prune(&mut self, list: Vec<usize>, top: bool) -> Vec<usize> {
        let mut queue: VecDeque<usize> = list.into();
        let mut kept = Vec::new();
        while let Some(c) = queue.pop_front() {
            let node = &self.nodes[c];
            if node.item.is_some() || (top && node.children.len() > 1) {
                kept.push(c);
                continue;
            }
            let parent = node.parent;
            let kids = std::mem::take(&mut self.nodes[c].children);
            for &k in kids.iter().rev() {
                self.nodes[k].parent = parent;
                queue.push_front(k);
            }
        }
        kept
    }
}

/// THREAD=REFERENCES (RFC 5256 §3): `items` in sequence order.
pub fn references(items: &[Item]) -> String {
    let mut f = Forest {
        items,
        nodes: Vec::with_capacity(items.len() * 2),
        budget: WALK_BUDGET,
    };
    let mut ids: HashMap<&str, usize> = HashMap::new();
    // (1) link the messages by their references
    for (i, item) in items.iter().enumerate() {
        let own = match item.message_id.as_deref() {
            Some(id) => match ids.get(id) {
                Some(&n) if f.nodes[n].item.is_none() => {
                    f.nodes[n].item = Some(i);
                    n
                }
                // a duplicate id: this message is unique, nothing refers to it
                Some(_) => f.new_node(Some(i)),
                None => {
                    let n = f.new_node(Some(i));
                    ids.insert(id, n);
                    n
                }
            },
            None => f.new_node(Some(i)),
        };
        let mut previous: Option<usize> = None;
        for id in &item.references {
            let n = match ids.get(id.as_str()) {
                Some(&n) => n,
                None => {
                    let n = f.new_node(None);
                    ids.insert(id, n);
                    n
                }
            };
            // consecutive references: parent and child, unless already linked
            if let Some(p) = previous
                && f.nodes[n].parent.is_none()
                && f.can_link(p, n)
            {
                f.link(p, n);
            }
            previous = Some(n);
        }
        // the last reference is the parent: the message's own word overrides a guess
        match previous {
            Some(p) if f.nodes[own].parent == Some(p) => {}
            // the old parent goes first: a link that would close a loop is then
            // judged on the tree without it (RFC 5256 §3, REFERENCES step 1C)
            Some(p) => {
                f.unlink(own);
                if f.can_link(p, own) {
                    f.link(p, own);
                }
            }
            None => f.unlink(own),
        }
    }
    // (2) the roots; (4) dummies pruned, top level first, then each level below
    let roots: Vec<usize> = (0..f.nodes.len())
        .filter(|&n| f.nodes[n].parent.is_none())
        .collect();
    let roots = f.prune(roots, true);
    let mut stack = roots.clone();
    while let Some(n) = stack.pop() {
        let kids = std::mem::take(&mut f.nodes[n].children);
        let kids = f.prune(kids, false);
        stack.extend(&kids);
        f.nodes[n].children = kids;
    }
    // (5) the top level by date, a dummy by its first child's
    for &r in &roots {
        if f.nodes[r].item.is_none() {
            f.sort_children(r);
        }
    }
    let mut roots = roots;
    roots.sort_by_key(|&r| f.key(r));
    // (6) threads with the same base subject merged
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let Some(it) = f.subject_item(r) else {
            continue;
        };
        if it.subject.is_empty() {
            continue;
        }
        let (dummy, reply) = (f.nodes[r].item.is_none(), it.reply);
        match table.get(&it.subject) {
            None => {
                table.insert(it.subject.clone(), r);
            }
            Some(&t) => {
                let t_dummy = f.nodes[t].item.is_none();
                let t_reply = f.subject_item(t).is_some_and(|x| x.reply);
                if !t_dummy && (dummy || (t_reply && !reply)) {
                    table.insert(it.subject.clone(), r);
                }
            }
        }
    }
    let mut replaced: HashMap<usize, usize> = HashMap::new();
    let mut removed: HashSet<usize> = HashSet::new();
    for &r in &roots {
        if removed.contains(&r) || f.nodes[r].parent.is_some() {
            continue;
        }
        let Some(it) = f.subject_item(r) else {
            continue;
        };
        if it.subject.is_empty() {
            continue;
        }
        let reply = it.reply;
        let Some(&t) = table.get(&it.subject) else {
            continue;
        };
        if t == r {
            continue;
        }
        let (dummy, t_dummy) = (f.nodes[r].item.is_none(), f.nodes[t].item.is_none());
        let t_reply = f.subject_item(t).is_some_and(|x| x.reply);
        if dummy && t_dummy {
            for k in std::mem::take(&mut f.nodes[r].children) {
                f.nodes[k].parent = None;
                f.link(t, k);
            }
            removed.insert(r);
        } else if t_dummy || (reply && !t_reply) {
            f.link(t, r);
        } else {
            let d = f.new_node(None);
            f.link(d, t);
            f.link(d, r);
            replaced.insert(t, d);
            let subject = it.subject.clone();
            table.insert(subject, d);
        }
    }
    let roots: Vec<usize> = roots
        .into_iter()
        .filter_map(|r| match replaced.get(&r) {
            Some(&d) => Some(d),
            None => (f.nodes[r].parent.is_none() && !removed.contains(&r)).then_some(r),
        })
        .collect();
    // (7) every set of siblings by date, the deepest first
    let mut order = Vec::new();
    let mut stack = roots.clone();
    while let Some(n) = stack.pop() {
        order.push(n);
        stack.extend(&f.nodes[n].children);
    }
    for &n in order.iter().rev() {
        f.sort_children(n);
    }
    let mut roots = roots;
    roots.sort_by_key(|&r| f.key(r));
    write(&f, &roots)
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages with the same base subject form a
/// thread, the first by date its parent and the others its children.
pub fn ordered_subject(items: &[Item]) -> String {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&items[a], &items[b]);
        (&x.subject, x.date, x.seq).cmp(&(&y.subject, y.date, y.seq))
    });
    let mut f = Forest {
        items,
        nodes: Vec::with_capacity(items.len()),
        budget: 0,
    };
    let mut roots = Vec::new();
    let mut current: Option<(usize, &str)> = None;
    for i in order {
        let n = f.new_node(Some(i));
        match current {
            Some((root, subject)) if subject == items[i].subject => {
                f.nodes[n].parent = Some(root);
                f.nodes[root].children.push(n);
            }
            _ => {
                roots.push(n);
                current = Some((n, &items[i].subject));
            }
        }
    }
    roots.sort_by_key(|&r| f.key(r));
    write(&f, &roots)
}

/// The answer's thread lists: `(2)(3 6 (4 23)(44 7 96))`. A chain of single children is
/// written flat; where a node has several children, each is a list of its own.
fn write(f: &Forest<'_>, roots: &[usize]) -> String {
    enum Step {
        Node(usize),
        Text(&'static str),
    }
    let mut out = String::new();
    let mut stack: Vec<Step> = Vec::new();
    for &r in roots.iter().rev() {
        stack.push(Step::Text(")"));
        stack.push(Step::Node(r));
        stack.push(Step::Text("("));
    }
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(t) => {
                if t == "(" && out.ends_with(|c: char| c.is_ascii_digit()) {
                    out.push(' ');
                }
                out.push_str(t);
            }
            Step::Node(n) => {
                if let Some(i) = f.nodes[n].item {
                    if out.ends_with(|c: char| c.is_ascii_digit()) {
                        out.push(' ');
                    }
                    out.push_str(&f.items[i].number.to_string());
                }
                let kids = &f.nodes[n].children;
                if kids.len() == 1 && f.nodes[n].item.is_some() {
                    stack.push(Step::Node(kids[0]));
                } else {
                    for &k in kids.iter().rev() {
                        stack.push(Step::Text(")"));
                        stack.push(Step::Node(k));
                        stack.push(Step::Text("("));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u32, date: i64, subject: &str, id: &str, refs: &[&str]) -> Item {
        let (subject, reply) = crate::subject::base_and_reply(subject);
        Item {
            number: n,
            seq: n,
            date,
            subject,
            reply,
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn ids_in_a_field() {
        assert_eq!(
            message_ids(b"<a@b> <c @d>\r\n <e@f>", 10),
            ["a@b", "c@d", "e@f"]
        );
        assert_eq!(message_ids(b"<a> <b> <c>", 2), ["b", "c"]);
        assert!(message_ids(b"no ids <", 5).is_empty());
        assert_eq!(first_message_id(b"<> <a@b> <c@d>").as_deref(), Some("a@b"));
        assert!(message_ids(format!("<{}>", "x".repeat(MAX_ID + 1)).as_bytes(), 5).is_empty());
    }

    #[test]
    fn references_threads_replies_and_subjects() {
        let items = [
            item(1, 10, "Hello", "a", &[]),
            item(2, 20, "Re: Hello", "b", &["a"]),
            item(3, 30, "Other", "c", &[]),
            item(4, 40, "Re: Hello", "d", &["a"]),
            item(5, 50, "Re: Hello", "e", &["a", "b"]),
            // its parent is missing: a dummy, pruned; joined to "Other" by subject
            item(6, 60, "Re: Other", "f", &["zz"]),
            item(7, 5, "Lone", "", &[]),
        ];
        assert_eq!(references(&items), "(7)(1 (2 5)(4))(3 6)");
    }

    #[test]
    fn a_message_leaves_a_guessed_parent_before_its_own_is_linked() {
        // imaptest's `thread` group: c was guessed a's child from b's References; c's own
        // word (its parent is b, itself under c) would close a loop, so c is a root
        let items = [
            item(1, 3, "", "a", &[]),
            item(2, 1, "", "b", &["a", "c"]),
            item(3, 2, "", "c", &["b"]),
        ];
        assert_eq!(references(&items), "(3 2)(1)");
    }

    #[test]
    fn loops_and_duplicates_do_not_hang() {
        let items = [
            item(1, 1, "a", "x", &["y"]),
            item(2, 2, "b", "y", &["x"]),
            item(3, 3, "c", "x", &["x"]),
        ];
        let out = references(&items);
        for n in ["1", "2", "3"] {
            assert!(out.contains(n), "{out}");
        }
    }

    #[test]
    fn a_long_chain_is_written_flat_without_recursion() {
        let n = 50_000u32;
        let items: Vec<Item> = (1..=n)
            .map(|i| {
                let prev = format!("m{}", i - 1);
                let refs: Vec<&str> = if i > 1 { vec![prev.as_str()] } else { vec![] };
                item(i, i64::from(i), "", &format!("m{i}"), &refs)
            })
            .collect();
        let out = references(&items);
        assert!(out.starts_with("(1 2 3 ") && out.ends_with(" 50000)"));
    }

    #[test]
    fn replies_before_their_parents_cost_a_bounded_walk() {
        // newest first, each naming its whole ancestry: every link needs a loop check
        let n = 20_000u32;
        let names: Vec<String> = (0..=n).map(|i| format!("m{i}")).collect();
        let items: Vec<Item> = (1..=n)
            .rev()
            .map(|i| {
                let from = (i as usize).saturating_sub(MAX_REFERENCES);
                let refs: Vec<&str> = names[from..i as usize].iter().map(String::as_str).collect();
                item(n + 1 - i, i64::from(i), "", &names[i as usize], &refs)
            })
            .collect();
        let out = references(&items);
        let listed = out
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .count();
        assert_eq!(listed, n as usize);
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let items = [
            item(1, 30, "b", "", &[]),
            item(2, 10, "Re: a", "", &[]),
            item(3, 20, "a", "", &[]),
            item(4, 40, "Fwd: a", "", &[]),
            item(5, 50, "b", "", &[]),
        ];
        assert_eq!(ordered_subject(&items), "(2 (3)(4))(1 5)");
    }
}
