//! Sequence sets (`1:4,7,9:*`), for message numbers and UIDs.
//!
//! Bound: testing a number costs O(log r) for a set of r ranges, however the client
//! wrote it. A command line may hold tens of thousands of ranges (`1,3,5,…`), and a
//! FETCH or SEARCH tests every message of the mailbox against the set: testing each
//! range in turn made that ranges × messages (billions for a large mailbox). `parse`
//! sorts and merges the ranges without `*`, and folds those with `*` into at most two.

/// One range; [`STAR`] stands for `*` (the largest number in use). The ends are wider
/// than the numbers they hold, so that `*` is not 4294967295, a valid UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub start: u64,
    pub end: u64,
}

/// In the form `parse` gives: first the ranges without `*`, each with `start <= end`,
/// sorted, disjoint and not adjacent; then at most two ranges with `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(Vec<SeqRange>);

/// `*` in a sequence set.
pub const STAR: u64 = u64::MAX;

/// The one range of `$` (SEARCHRES), a set the session fills in before use; left as it
/// is, it contains nothing.
const SAVED: SeqRange = SeqRange {
    start: STAR - 1,
    end: STAR - 1,
};

impl SequenceSet {
    /// `$`: the result the last `SEARCH RETURN (SAVE)` kept (RFC 5182).
    pub fn saved() -> SequenceSet {
        SequenceSet(vec![SAVED])
    }

    /// Whether this is `$`, to be replaced by the saved result.
    pub fn is_saved(&self) -> bool {
        self.0 == [SAVED]
    }

    /// The set of exactly these numbers (sorted, no duplicates).
    pub fn of(sorted: &[u32]) -> SequenceSet {
        let mut ranges: Vec<SeqRange> = Vec::new();
        for &n in sorted {
            let n = u64::from(n);
            match ranges.last_mut() {
                Some(last) if last.end + 1 == n => last.end = n,
                _ => ranges.push(SeqRange { start: n, end: n }),
            }
        }
        SequenceSet(ranges)
    }

    /// Whether `n` is in the set, given the largest number in use (what `*` means).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        let (n, largest) = (u64::from(n), u64::from(largest));
        let plain = self.0.partition_point(|r| r.end != STAR);
        let (plain, starred) = self.0.split_at(plain);
        let before = plain.partition_point(|r| r.start <= n);
        before > 0 && n <= plain[before - 1].end
            || starred.iter().any(|r| {
                let a = if r.start == STAR { largest } else { r.start };
                (a.min(largest)..=a.max(largest)).contains(&n)
            })
    }

    /// The ranges, in the form described on [`SequenceSet`].
    pub fn ranges(&self) -> &[SeqRange] {
        &self.0
    }

    /// Parses `seq-number / seq-range` items separated by commas.
    pub fn parse(s: &str) -> Option<SequenceSet> {
        let mut plain = Vec::new();
        // `a:*` is a..=largest (or largest..=a); all of them contain `largest`, so their
        // union is the one from the smallest a to the largest: two ranges keep it
        let mut starred: Option<(u64, u64)> = None;
        for item in s.split(',') {
            let (a, b) = match item.split_once(':') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(item)?;
                    (n, n)
                }
            };
            if a == STAR || b == STAR {
                // the other end; `*:*` is `*` itself
                let other = if a == STAR { b } else { a };
                starred = Some(match starred {
                    None => (other, other),
                    // `*` stands for `largest`: the smallest end takes it as it comes
                    // (`STAR` is above every number, and `largest` is in the range
                    // anyway), the largest end ignores it
                    Some((lo, hi)) => (
                        lo.min(other),
                        match (hi, other) {
                            (STAR, o) => o,
                            (h, STAR) => h,
                            (h, o) => h.max(o),
                        },
                    ),
                });
            } else {
                plain.push(SeqRange {
                    start: a.min(b),
                    end: a.max(b),
                });
            }
        }
        plain.sort_unstable_by_key(|r| r.start);
        let mut ranges: Vec<SeqRange> = Vec::with_capacity(plain.len() + 2);
        for r in plain {
            match ranges.last_mut() {
                Some(last) if r.start <= last.end.saturating_add(1) => {
                    last.end = last.end.max(r.end);
                }
                _ => ranges.push(r),
            }
        }
        if let Some((lo, hi)) = starred {
            ranges.push(SeqRange {
                start: lo,
                end: STAR,
            });
            if hi != lo {
                ranges.push(SeqRange {
                    start: hi,
                    end: STAR,
                });
            }
        }
        Some(SequenceSet(ranges))
    }
}

/// Writes sorted numbers as a compact set: `[1, 2, 3, 7, 9, 10]` → `1:3,7,9:10`.
pub fn compact(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

fn number(s: &str) -> Option<u64> {
    if s == "*" {
        return Some(STAR);
    }
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().map(u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contains() {
        let s = SequenceSet::parse("1:3,7,10:*").unwrap();
        assert!(s.contains(2, 20) && s.contains(7, 20) && s.contains(15, 20) && !s.contains(8, 20));
        let reversed = SequenceSet::parse("5:2").unwrap();
        assert!(reversed.contains(3, 9));
        assert!(SequenceSet::parse("*").unwrap().contains(9, 9));
        // the largest UID is a number, not `*`
        let top = SequenceSet::parse("4:4294967295").unwrap();
        assert!(!top.contains(3, 3) && top.contains(u32::MAX, 3));
        assert!(SequenceSet::parse("4294967296").is_none());
        assert_eq!(compact(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(compact(&[4]), "4");
        assert_eq!(compact(&[]), "");
        for bad in ["", "0", "1:", ",", "a", "01", "1,,2", "-1"] {
            assert!(SequenceSet::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn normal_form() {
        let s = SequenceSet::parse("9,3:1,4,7:8,20:*,*:5,*").unwrap();
        let r = |start, end| SeqRange { start, end };
        assert_eq!(
            s.ranges(),
            [r(1, 4), r(7, 9), r(5, STAR), r(20, STAR)].as_slice()
        );
        assert_eq!(SequenceSet::parse("*").unwrap().ranges(), [r(STAR, STAR)]);
        // tens of thousands of ranges: each test is a binary search
        let many: Vec<String> = (1..40_000u32).step_by(2).map(|n| n.to_string()).collect();
        let s = SequenceSet::parse(&many.join(",")).unwrap();
        assert!(s.contains(39_999, 100_000) && !s.contains(40_000, 100_000));
        assert_eq!(s.ranges().len(), 20_000);
    }

    /// The definition: any range contains it.
    fn naive(text: &str, n: u32, largest: u32) -> bool {
        text.split(',').any(|item| {
            let ends: Vec<u32> = item
                .split(':')
                .map(|x| {
                    if x == "*" {
                        largest
                    } else {
                        x.parse().unwrap()
                    }
                })
                .collect();
            let (a, b) = (ends[0], *ends.last().unwrap());
            (a.min(b)..=a.max(b)).contains(&n)
        })
    }

    proptest::proptest! {
        #[test]
        fn same_answers_as_the_definition(
            items in proptest::collection::vec(
                (proptest::option::of(1u32..40), proptest::option::of(1u32..40), proptest::bool::ANY),
                1..12,
            ),
            largest in 0u32..50,
        ) {
            let show = |x: Option<u32>| x.map_or("*".to_string(), |n| n.to_string());
            let text = items
                .iter()
                .map(|(a, b, range)| if *range { format!("{}:{}", show(*a), show(*b)) } else { show(*a) })
                .collect::<Vec<_>>()
                .join(",");
            let set = SequenceSet::parse(&text).unwrap();
            for n in 0..60 {
                proptest::prop_assert_eq!(set.contains(n, largest), naive(&text, n, largest), "{} {} {}", text, n, largest);
            }
        }
    }
}
