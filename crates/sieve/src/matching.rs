//! Comparators (`i;octet`, `i;ascii-casemap`, `i;ascii-numeric`), match types (`:is`,
//! `:contains`, `:matches`) and the relational ones (`:value`, `:count`, RFC 5231), and
//! the step budget every piece of work is charged to.
//!
//! Bounds: `:matches` uses the greedy-with-last-star algorithm: a mismatch only moves
//! the last `*` one character further, so the worst case is O(len(text) × len(pattern))
//! (no exponential backtracking), one budget unit per iteration; it also gives the match
//! variables of RFC 5229 (earlier stars take the shortest text, as in its examples).
//! `:is` and `:contains` cost one unit per octet of value and key.

use std::cmp::Ordering;

use crate::UNITS_PER_STEP;
use crate::ast::{Cmp, Comparator, MatchType, Rel};

/// A runtime error: the message is then kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RunError(pub String);

/// The work allowed in one run, in units (`UNITS_PER_STEP` units are one step).
pub struct Budget {
    used: u64,
    max: u64,
}

impl Budget {
    pub fn new(max_steps: u64) -> Self {
        Budget {
            used: 0,
            max: max_steps.saturating_mul(UNITS_PER_STEP),
        }
    }
    #[inline]
    pub fn units(&mut self, n: u64) -> Result<(), RunError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.max {
            Err(RunError(format!(
                "too much work: more than {} steps",
                self.max / UNITS_PER_STEP
            )))
        } else {
            Ok(())
        }
    }
    pub fn step(&mut self) -> Result<(), RunError> {
        self.units(UNITS_PER_STEP)
    }
    pub fn steps(&self) -> u64 {
        self.used.min(self.max).div_ceil(UNITS_PER_STEP)
    }
}

/// The leading digits of `s` without leading zeros, or None ("positive infinity", RFC
/// 4790 §9.1) when it does not start with a digit.
fn numeric(s: &str) -> Option<&str> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some(s[..end].trim_start_matches('0'))
}

/// The order of `a` and `b` under comparator `c`.
pub fn order(c: Comparator, a: &str, b: &str) -> Ordering {
    match c {
        Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
        Comparator::CaseMap => a
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .cmp(b.bytes().map(|b| b.to_ascii_lowercase())),
        Comparator::Numeric => match (numeric(a), numeric(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        },
    }
}

fn rel_holds(rel: Rel, o: Ordering) -> bool {
    match rel {
        Rel::Gt => o == Ordering::Greater,
        Rel::Ge => o != Ordering::Less,
        Rel::Lt => o == Ordering::Less,
        Rel::Le => o != Ordering::Greater,
        Rel::Eq => o == Ordering::Equal,
        Rel::Ne => o != Ordering::Equal,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum P {
    Char(char),
    One,
    Star,
}

fn pattern(key: &str) -> Vec<P> {
    let mut out = Vec::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => P::Star,
            '?' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    out
}

/// Does `text` match the wildcard pattern? On a match, `caps` holds one range of `text`
/// (in characters) per wildcard.
fn wildcard(
    text: &[char],
    pat: &[P],
    fold: bool,
    budget: &mut Budget,
    caps: &mut Vec<(usize, usize)>,
) -> Result<bool, RunError> {
    let eq = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // the wildcard number of each pattern element
    let mut widx = Vec::with_capacity(pat.len());
    let mut n = 0;
    for p in pat {
        widx.push(n);
        if !matches!(p, P::Char(_)) {
            n += 1;
        }
    }
    caps.clear();
    caps.resize(n, (0, 0));
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < text.len() {
        budget.units(1)?;
        if let Some(p) = pat.get(j) {
            match *p {
                P::Star => {
                    caps[widx[j]] = (i, i);
                    star = Some((j, i));
                    j += 1;
                    continue;
                }
                P::One => {
                    caps[widx[j]] = (i, i + 1);
                    i += 1;
                    j += 1;
                    continue;
                }
                P::Char(c) if eq(c, text[i]) => {
                    i += 1;
                    j += 1;
                    continue;
                }
                P::Char(_) => {}
            }
        }
        match star {
            Some((sj, si)) => {
                let si = si + 1;
                star = Some((sj, si));
                caps[widx[sj]].1 = si;
                i = si;
                j = sj + 1;
            }
            None => return Ok(false),
        }
    }
    while let Some(P::Star) = pat.get(j) {
        caps[widx[j]] = (i, i);
        j += 1;
    }
    Ok(j == pat.len())
}

/// Does any of `values` match any of `keys` under `cmp`? When a `:matches` succeeds,
/// `captures` gets `${0}` (the whole value) and one string per wildcard (at most 10 in
/// all).
pub fn test(
    cmp: Cmp,
    values: &[String],
    keys: &[String],
    budget: &mut Budget,
    captures: &mut Option<Vec<String>>,
) -> Result<bool, RunError> {
    let c = cmp.comparator;
    match cmp.mtype {
        MatchType::Count(rel) => {
            let count = values.len().to_string();
            for k in keys {
                budget.units(k.len() as u64 + 1)?;
                if rel_holds(rel, order(c, &count, k)) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        MatchType::Value(rel) => {
            for v in values {
                for k in keys {
                    budget.units((v.len() + k.len()) as u64 + 1)?;
                    if rel_holds(rel, order(c, v, k)) {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        MatchType::Is => {
            for v in values {
                for k in keys {
                    budget.units(v.len().min(k.len()) as u64 + 1)?;
                    if order(c, v, k) == Ordering::Equal {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        MatchType::Contains => {
            if c == Comparator::Numeric {
                return Ok(false);
            }
            let fold = c == Comparator::CaseMap;
            let lower = |s: &String| {
                if fold {
                    s.to_ascii_lowercase()
                } else {
                    s.clone()
                }
            };
            let keys: Vec<String> = keys.iter().map(lower).collect();
            for v in values {
                budget.units(v.len() as u64 + 1)?;
                let v = lower(v);
                for k in &keys {
                    budget.units((v.len() + k.len()) as u64 + 1)?;
                    if v.contains(k.as_str()) {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        MatchType::Matches => {
            if c == Comparator::Numeric {
                return Ok(false);
            }
            let fold = c == Comparator::CaseMap;
            let pats: Vec<Vec<P>> = keys
                .iter()
                .map(|k| {
                    budget.units(k.len() as u64 + 1)?;
                    Ok(pattern(k))
                })
                .collect::<Result<_, RunError>>()?;
            let mut caps = Vec::new();
            for v in values {
                budget.units(v.len() as u64 + 1)?;
                let text: Vec<char> = v.chars().collect();
                for p in &pats {
                    if wildcard(&text, p, fold, budget, &mut caps)? {
                        let mut out = vec![v.clone()];
                        for &(a, b) in caps.iter().take(9) {
                            out.push(text.get(a..b).unwrap_or_default().iter().collect());
                        }
                        *captures = Some(out);
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str, pat: &str) -> Option<Vec<String>> {
        let mut caps = None;
        let cmp = Cmp {
            comparator: Comparator::CaseMap,
            mtype: MatchType::Matches,
        };
        let mut b = Budget::new(1_000_000);
        test(cmp, &[text.into()], &[pat.into()], &mut b, &mut caps)
            .unwrap()
            .then(|| caps.unwrap())
    }

    #[test]
    fn wildcards_and_captures() {
        assert_eq!(
            m("[acme-users] [fwd] version 1.0 is out", "[*] *").unwrap(),
            [
                "[acme-users] [fwd] version 1.0 is out",
                "acme-users",
                "[fwd] version 1.0 is out"
            ]
        );
        assert_eq!(
            m("coyote@example.com", "*@*").unwrap()[1..],
            ["coyote", "example.com"]
        );
        assert_eq!(m("abc", "a?c").unwrap()[1], "b");
        assert_eq!(m("ABC", "a*").unwrap()[1], "BC");
        assert!(m("abc", "a?").is_none());
        assert!(m("a*c", "a\\*c").is_some());
        assert!(m("abc", "a\\*c").is_none());
        assert!(m("", "*").is_some());
        assert!(m("", "").is_some());
        assert!(m("x", "").is_none());
        assert_eq!(m("ab", "**b").unwrap()[1..], ["", "a"]);
        assert!(m("aaab", "*a*a*b").is_some());
        assert!(m("aaa", "*a*a*b").is_none());
    }

    #[test]
    fn numeric_order() {
        assert_eq!(order(Comparator::Numeric, "10", "9"), Ordering::Greater);
        assert_eq!(order(Comparator::Numeric, "007", "7"), Ordering::Equal);
        assert_eq!(order(Comparator::Numeric, "x", "99999"), Ordering::Greater);
        assert_eq!(order(Comparator::Numeric, "x", "y"), Ordering::Equal);
        assert_eq!(order(Comparator::CaseMap, "ABC", "abc"), Ordering::Equal);
        assert_eq!(order(Comparator::Octet, "ABC", "abc"), Ordering::Less);
    }
}
