//! LIST and LSUB mailbox patterns (RFC 9051 §6.3.9): `*` matches any run of characters,
//! `%` any run that does not cross the hierarchy delimiter `/`.
//!
//! Bounds: the patterns of one command, each with the reference in front of it, may hold
//! [`MAX_PATTERN`] octets in all; more is refused before anything is matched (the session
//! answers `BAD`).
//! Matching never backtracks: the pattern is compiled into a non-deterministic automaton
//! with one state per pattern position, and a name is run through it once, keeping the set
//! of live states as a bit set. That is O(p·n/64) word operations and O(p) memory for a
//! pattern of p octets and a name of n octets, whatever the pattern holds
//! (`*a*a*a…*b` against a long name costs the same as `abc`).

/// Most octets in the patterns of one LIST or LSUB, each counted with the reference.
pub const MAX_PATTERN: usize = 1024;

/// The hierarchy delimiter `%` does not cross.
const DELIMITER: u8 = b'/';

/// A compiled pattern.
pub struct Pattern {
    /// Positions of the automaton: 0..=len; state i means "the first i items matched".
    len: usize,
    /// For each octet value, an index into `literal`: the positions whose item is that
    /// literal octet (index 0: none).
    index: [u16; 256],
    literal: Vec<Bits>,
    /// Positions whose item is `*`.
    star: Bits,
    /// Positions whose item is `%`.
    percent: Bits,
}

impl Pattern {
    /// Compiles `pattern`, or `None` when it is longer than [`MAX_PATTERN`] (the caller
    /// also keeps the sum of a command's patterns within it).
    /// `INBOX` in any case stands for INBOX.
    pub fn new(pattern: &str) -> Option<Pattern> {
        if pattern.len() > MAX_PATTERN {
            return None;
        }
        let pattern = if pattern.eq_ignore_ascii_case("INBOX") {
            "INBOX"
        } else {
            pattern
        };
        // a run of wildcards is one wildcard: `*` if the run holds one, else `%` (`%%` is
        // `%`, `*%` and `%*` are `*`); so no wildcard follows another, and the empty
        // match of a wildcard is one step of the automaton
        let mut items: Vec<u8> = Vec::with_capacity(pattern.len());
        for &b in pattern.as_bytes() {
            match (items.last().copied(), b) {
                (Some(b'*' | b'%'), b'*') => {
                    let last = items.len() - 1;
                    items[last] = b'*';
                }
                (Some(b'*' | b'%'), b'%') => {}
                _ => items.push(b),
            }
        }
        let len = items.len();
        let empty = Bits::new(len + 1);
        let mut p = Pattern {
            len,
            index: [0; 256],
            literal: vec![empty.clone()],
            star: empty.clone(),
            percent: empty.clone(),
        };
        for (i, &b) in items.iter().enumerate() {
            match b {
                b'*' => p.star.set(i),
                b'%' => p.percent.set(i),
                _ => {
                    if p.index[b as usize] == 0 {
                        // at most 256 distinct octets, so the index fits
                        p.index[b as usize] = p.literal.len() as u16;
                        p.literal.push(empty.clone());
                    }
                    p.literal[p.index[b as usize] as usize].set(i);
                }
            }
        }
        Some(p)
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let mut live = Bits::new(self.len + 1);
        live.set(0);
        self.close(&mut live);
        let mut next = Bits::new(self.len + 1);
        for &c in name.as_bytes() {
            // a literal item consumes c and moves on; a wildcard consumes c and stays
            next.assign_and_shift(&live, &self.literal[self.index[c as usize] as usize]);
            next.or_and(&live, &self.star);
            if c != DELIMITER {
                next.or_and(&live, &self.percent);
            }
            std::mem::swap(&mut live, &mut next);
            if live.is_empty() {
                return false;
            }
            self.close(&mut live);
        }
        live.get(self.len)
    }

    /// Adds the states reached by letting a live wildcard match nothing. One step is
    /// enough: no wildcard follows another.
    fn close(&self, live: &mut Bits) {
        let mut skip = live.clone();
        skip.and_either(&self.star, &self.percent);
        live.or_shifted(&skip);
    }
}

/// A fixed-size bit set.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(bits: usize) -> Bits {
        Bits(vec![0; bits.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// self = (a & b) << 1
    fn assign_and_shift(&mut self, a: &Bits, b: &Bits) {
        let mut carry = 0;
        for ((out, x), y) in self.0.iter_mut().zip(&a.0).zip(&b.0) {
            let w = x & y;
            *out = (w << 1) | carry;
            carry = w >> 63;
        }
    }

    /// self |= a & b
    fn or_and(&mut self, a: &Bits, b: &Bits) {
        for ((out, x), y) in self.0.iter_mut().zip(&a.0).zip(&b.0) {
            *out |= x & y;
        }
    }

    /// self &= a | b
    fn and_either(&mut self, a: &Bits, b: &Bits) {
        for ((out, x), y) in self.0.iter_mut().zip(&a.0).zip(&b.0) {
            *out &= x | y;
        }
    }

    /// self |= a << 1
    fn or_shifted(&mut self, a: &Bits) {
        let mut carry = 0;
        for (out, x) in self.0.iter_mut().zip(&a.0) {
            *out |= (x << 1) | carry;
            carry = x >> 63;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The definition, by backtracking (memoised, so that wildcard-heavy cases stay quick).
    fn reference(pattern: &str, name: &str) -> bool {
        fn go(p: &[u8], n: &[u8], memo: &mut HashMap<(usize, usize), bool>) -> bool {
            let key = (p.len(), n.len());
            if let Some(&known) = memo.get(&key) {
                return known;
            }
            let answer = match p.first() {
                None => n.is_empty(),
                Some(b'*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..], memo)),
                Some(b'%') => (0..=n.len())
                    .take_while(|&i| i == 0 || n[i - 1] != b'/')
                    .any(|i| go(&p[1..], &n[i..], memo)),
                Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..], memo),
            };
            memo.insert(key, answer);
            answer
        }
        let p = if pattern.eq_ignore_ascii_case("INBOX") {
            "INBOX"
        } else {
            pattern
        };
        go(p.as_bytes(), name.as_bytes(), &mut HashMap::new())
    }

    fn matches(pattern: &str, name: &str) -> bool {
        Pattern::new(pattern).expect("short pattern").matches(name)
    }

    #[test]
    fn rfc_examples() {
        assert!(matches("*", "Work/2026"));
        assert!(matches("*", ""));
        assert!(!matches("%", "Work/2026"));
        assert!(matches("%", "Work"));
        assert!(matches("Work/%", "Work/2026"));
        assert!(!matches("Work/%", "Work/2026/Q1"));
        assert!(matches("Work/*", "Work/2026/Q1"));
        assert!(matches("inbox", "INBOX"));
        assert!(!matches("inbox", "Inbox"));
        assert!(matches("S%", "Sent"));
        assert!(matches("%/%", "a/b"));
        assert!(!matches("%/%", "a/b/c"));
        assert!(matches("%*%", "a/b/c"));
        assert!(matches("a%%b", "axxb"));
        assert!(!matches("a%%b", "a/b"));
        assert!(matches("a%*b", "a/b"));
        assert!(!matches("abc", "ab"));
        assert!(!matches("ab", "abc"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn wide_patterns_cross_word_boundaries() {
        let name = "x".repeat(150);
        assert!(matches(&name, &name));
        assert!(matches(&format!("{}*", &name[..100]), &name));
        assert!(!matches(&format!("{}y", &name[..149]), &name));
        let long = format!("{}/{}", "a".repeat(70), "b".repeat(70));
        assert!(matches(&format!("{}%", "a".repeat(70)), &"a".repeat(200)));
        assert!(!matches(&format!("{}%", "a".repeat(70)), &long));
        assert!(matches(&format!("{}*", "a".repeat(70)), &long));
    }

    #[test]
    fn hostile_pattern_is_linear() {
        // 25 wildcards against a 200-octet name: a backtracking matcher takes minutes
        let pattern = format!("{}*b", "*a".repeat(25));
        let name = "a".repeat(200);
        let started = std::time::Instant::now();
        assert!(!matches(&pattern, &name));
        let pattern = format!("{}%b", "%a".repeat(25));
        assert!(!matches(&pattern, &name));
        assert!(matches(&pattern, &format!("{name}b")));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // the longest pattern against the longest folder name
        let pattern = format!("{}b", "*a".repeat((MAX_PATTERN - 1) / 2));
        assert!(!matches(&pattern, &"a".repeat(512)));
    }

    #[test]
    fn long_patterns_are_refused() {
        assert!(Pattern::new(&"*".repeat(MAX_PATTERN)).is_some());
        assert!(Pattern::new(&"*".repeat(MAX_PATTERN + 1)).is_none());
    }

    proptest! {
        #[test]
        fn same_answers_as_the_definition(
            pattern in "[ab/*%]{0,10}|inbox|INBOX",
            name in "[ab/]{0,12}|INBOX",
        ) {
            prop_assert_eq!(matches(&pattern, &name), reference(&pattern, &name));
        }

        #[test]
        fn same_answers_with_any_octets(
            pattern in "[a-c/*%é]{0,40}",
            name in "[a-c/é]{0,140}",
        ) {
            prop_assert_eq!(matches(&pattern, &name), reference(&pattern, &name));
        }

        /// Names made from the pattern, each wildcard filled in: they match.
        #[test]
        fn filled_in_patterns_match(
            pattern in "[ab/*%]{0,24}",
            fills in proptest::collection::vec("[ab/]{0,6}", 24),
        ) {
            let mut name = String::new();
            for (c, fill) in pattern.chars().zip(&fills) {
                match c {
                    '*' => name.push_str(fill),
                    '%' => name.push_str(&fill.replace('/', "")),
                    c => name.push(c),
                }
            }
            prop_assert!(matches(&pattern, &name), "{} {}", pattern, name);
            prop_assert!(reference(&pattern, &name));
        }
    }
}
