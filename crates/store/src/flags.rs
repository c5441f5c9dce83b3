//! IMAP flags as the store keeps them: each flag once (compared case-insensitively), in a
//! stable order, stored as one column of flags separated by single spaces. Reading and
//! writing that form happen here only.

use std::fmt;

/// A message's flags (`\Seen`, `\Deleted`, keywords), normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags(String);

impl Flags {
    /// The flags given, each once, sorted case-insensitively; empty names are dropped.
    pub fn new<'a>(flags: impl IntoIterator<Item = &'a str>) -> Flags {
        let mut list: Vec<&str> = flags.into_iter().filter(|f| !f.is_empty()).collect();
        list.sort_by_key(|f| f.to_ascii_lowercase());
        list.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Flags(list.join(" "))
    }

    /// Flags in their stored form (any space-separated list).
    pub fn parse(text: &str) -> Flags {
        Flags::new(text.split(' '))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|f| !f.is_empty())
    }

    /// Whether `flag` is set, compared case-insensitively.
    pub fn contains(&self, flag: &str) -> bool {
        self.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// These flags and `more`.
    pub fn with<'a>(&'a self, more: impl IntoIterator<Item = &'a str>) -> Flags {
        Flags::new(self.iter().chain(more))
    }

    /// These flags without those in `gone`.
    pub fn without(&self, gone: &Flags) -> Flags {
        Flags::new(self.iter().filter(|f| !gone.contains(f)))
    }

    /// The stored form: the flags separated by single spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_once_sorted_case_insensitive() {
        let f = Flags::parse("\\Seen  $Work \\seen \\Flagged");
        assert_eq!(f.as_str(), "$Work \\Flagged \\Seen");
        assert!(f.contains("\\SEEN"));
        assert_eq!(
            Flags::parse(f.as_str()),
            f,
            "the stored form reads back the same"
        );
        assert_eq!(
            f.with(["\\Deleted"]).to_string(),
            "$Work \\Deleted \\Flagged \\Seen"
        );
        assert_eq!(
            f.without(&Flags::parse("\\seen $work")).as_str(),
            "\\Flagged"
        );
        assert_eq!(Flags::parse(" ").iter().count(), 0);
    }
}
