//! The DSN parameters a message and its recipients carry (RFC 3461): NOTIFY and RET, as
//! SMTP reads them, the queue keeps them and delivery obeys them. Their text form (the
//! parameter's value, also the stored column) is read and written here only.

use std::fmt;

/// DSN NOTIFY (RFC 3461 §4.1): when the recipient's sender wants a report. All false is
/// `NEVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    /// `NEVER`.
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    /// Reads the parameter's value (`SUCCESS,FAILURE`, `NEVER`…), as the store keeps it;
    /// `None` when it is not one.
    pub fn parse(value: &str) -> Option<Notify> {
        if value.eq_ignore_ascii_case("NEVER") {
            return Some(Notify::NEVER);
        }
        let mut n = Notify::NEVER;
        for part in value.split(',') {
            match part.trim().to_ascii_uppercase().as_str() {
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => return None,
            }
        }
        Some(n)
    }
}

/// `SUCCESS,FAILURE,DELAY` (those set, in that order) or `NEVER`.
impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if parts.is_empty() {
            f.write_str("NEVER")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// DSN RET (RFC 3461 §4.3): what a bounce should carry of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

impl Ret {
    /// `FULL` or `HDRS`, as the store keeps it.
    pub fn parse(value: &str) -> Option<Ret> {
        match value.to_ascii_uppercase().as_str() {
            "FULL" => Some(Ret::Full),
            "HDRS" => Some(Ret::Headers),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Headers => "HDRS",
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_and_ret_round_trip() {
        assert_eq!(Notify::parse("NEVER"), Some(Notify::NEVER));
        assert_eq!(
            Notify::parse("DELAY,SUCCESS").unwrap().to_string(),
            "SUCCESS,DELAY"
        );
        assert_eq!(Notify::parse("sometimes"), None);
        assert_eq!(Ret::parse("full"), Some(Ret::Full));
        assert_eq!(Ret::parse("x"), None);
        assert_eq!(Ret::Headers.to_string(), "HDRS");
    }
}
