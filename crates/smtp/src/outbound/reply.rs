//! One server reply: its code, RFC 3463 enhanced status code and text, parsed from the
//! lines read off the wire by smtp-proto's response parser; or a reply we make up
//! ourselves when we refuse to send (SIZE, SMTPUTF8), marked as local.

use std::fmt;

use smtp_proto::response::parser::ResponseReceiver;

/// A reply to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, 200 to 599.
    pub code: u16,
    /// The enhanced status code (`5.1.1` is `[5, 1, 1]`), when the server gave one.
    pub enhanced: Option<[u8; 3]>,
    /// The text, lines joined by `\n`, without codes.
    pub text: String,
    /// True when estafeta made this reply up itself instead of sending (message too big
    /// for the server, UTF-8 address to a server without SMTPUTF8); false when the server
    /// said it.
    pub local: bool,
}

impl Reply {
    /// Parses the raw lines of one whole reply; `None` unless it is a well-formed reply
    /// with a code from 200 to 599.
    pub(crate) fn parse(raw: &[u8]) -> Option<Reply> {
        let response = ResponseReceiver::default().parse(&mut raw.iter()).ok()?;
        if !(200..600).contains(&response.code) {
            return None;
        }
        let enhanced = (response.esc != [0, 0, 0]).then_some(response.esc);
        Some(Reply {
            code: response.code,
            enhanced,
            text: response.message,
            local: false,
        })
    }

    /// A reply of our own making.
    pub(crate) fn local(code: u16, enhanced: [u8; 3], text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            text: text.into(),
            local: true,
        }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The enhanced code as text, e.g. `5.1.1`.
    pub fn enhanced_text(&self) -> Option<String> {
        self.enhanced.map(|[a, b, c]| format!("{a}.{b}.{c}"))
    }
}

/// `550 5.1.1 text`, on one line (lines of a multi-line reply joined by a space), for logs
/// and bounces.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced_text() {
            write!(f, " {e}")?;
        }
        let mut first = true;
        for line in self.text.split('\n') {
            let line = line.trim_end_matches('\r');
            if first || !line.is_empty() {
                write!(f, " {line}")?;
            }
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        let r = Reply::parse(b"250 2.1.5 Ok\r\n").unwrap();
        assert_eq!(
            (r.code, r.enhanced, r.text.as_str()),
            (250, Some([2, 1, 5]), "Ok")
        );
        assert!(r.is_positive() && !r.local);
        let r = Reply::parse(b"550-5.1.1 no such user\r\n550 5.1.1 here\r\n").unwrap();
        assert_eq!(r.code, 550);
        assert!(r.is_permanent());
        assert_eq!(r.to_string(), "550 5.1.1 no such user here");
        let r = Reply::parse(b"451 try later\r\n").unwrap();
        assert_eq!(r.enhanced, None);
        assert!(r.is_transient());
        assert_eq!(r.to_string(), "451 try later");
    }

    #[test]
    fn garbage_is_no_reply() {
        assert!(Reply::parse(b"hello\r\n").is_none());
        assert!(Reply::parse(b"999 what\r\n").is_none());
        assert!(Reply::parse(b"").is_none());
    }
}
