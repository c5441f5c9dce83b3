//! Sequence sets (`1:4,7,9:*`), for message numbers and UIDs.

/// One range; `u32::MAX` stands for `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<SeqRange>);

/// `*` in a sequence set.
pub const STAR: u32 = u32::MAX;

impl SequenceSet {
    /// Whether `n` is in the set, given the largest number in use (what `*` means).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|r| {
            let a = if r.start == STAR { largest } else { r.start };
            let b = if r.end == STAR { largest } else { r.end };
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            (lo..=hi).contains(&n)
        })
    }

    /// Parses `seq-number / seq-range` items separated by commas.
    pub fn parse(s: &str) -> Option<SequenceSet> {
        let mut ranges = Vec::new();
        for item in s.split(',') {
            let (a, b) = match item.split_once(':') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(item)?;
                    (n, n)
                }
            };
            ranges.push(SeqRange { start: a, end: b });
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

fn number(s: &str) -> Option<u32> {
    if s == "*" {
        return Some(STAR);
    }
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
        assert_eq!(compact(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(compact(&[4]), "4");
        assert_eq!(compact(&[]), "");
        for bad in ["", "0", "1:", ",", "a", "01", "1,,2", "-1"] {
            assert!(SequenceSet::parse(bad).is_none(), "{bad}");
        }
    }
}
