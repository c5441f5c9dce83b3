//! The MTA-STS policy file (RFC 8461 §3.2): `key: value` lines, parsed by hand since
//! mail-auth reads only the `_mta-sts` TXT record. Bounded: the file is at most
//! [`super::fetch::MAX_POLICY`] octets before it gets here, and at most [`MAX_MX`] `mx`
//! patterns are kept. `max_age` is capped at the RFC's one year.

/// `mx` lines kept at most; a real policy has a handful.
pub const MAX_MX: usize = 64;
/// RFC 8461 §3.2: `max_age` is at most 31557600 seconds.
pub const MAX_AGE: u64 = 31_557_600;

/// What a policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only MX hosts that match a pattern, over TLS with a valid certificate; else defer.
    Enforce,
    /// Deliver as usual; failures are only reported (TLS-RPT).
    Testing,
    /// The domain has withdrawn its policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Lower case, without a final dot; `*.example.com` matches one label more.
    pub mx: Vec<String>,
    pub max_age: u64,
    /// The policy text as served (for TLS-RPT's `policy-string`), trimmed lines.
    pub lines: Vec<String>,
}

impl Policy {
    /// Parses a policy; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        let mut lines = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r').trim();
            if line.is_empty() {
                continue;
            }
            if lines.len() < MAX_MX + 8 {
                lines.push(line.to_string());
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("line {line:?} is not `key: value`"));
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_string()),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(format!("unknown mode {other:?}")),
                    })
                }
                "max_age" => {
                    // RFC 8461: up to 10 digits
                    if value.is_empty()
                        || value.len() > 10
                        || !value.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(format!("max_age {value:?} is not a number of seconds"));
                    }
                    max_age = Some(value.parse::<u64>().unwrap_or(MAX_AGE).min(MAX_AGE));
                }
                "mx" if mx.len() < MAX_MX => {
                    let pattern = value.trim_end_matches('.').to_ascii_lowercase();
                    if pattern.is_empty() || pattern.contains(char::is_whitespace) {
                        return Err(format!("mx {value:?} is not a host name pattern"));
                    }
                    mx.push(pattern);
                }
                _ => {} // extensions are ignored (§3.2), and mx lines past MAX_MX
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("no `version: STSv1` line".into());
        }
        let mode = mode.ok_or("no `mode` line")?;
        let max_age = max_age.ok_or("no `max_age` line")?;
        if mode != Mode::None && mx.is_empty() {
            return Err("no `mx` line".into());
        }
        Ok(Policy {
            mode,
            mx,
            max_age,
            lines,
        })
    }

    /// Whether an MX host name matches one of the policy's patterns (§4.1): exactly, or
    /// `*.example.com` for one label in front of `example.com`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => *pattern == host,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_and_its_patterns() {
        let p = Policy::parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET.\r\nmax_age: 86400\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        assert!(p.matches("mail.example.com."));
        assert!(p.matches("MX1.example.net"));
        assert!(!p.matches("example.net"), "a wildcard needs a label");
        assert!(!p.matches("a.b.example.net"), "a wildcard is one label");
        assert!(!p.matches("evilmail.example.com"));
        assert!(!p.matches("mail.example.com.evil"));
    }

    #[test]
    fn what_is_refused() {
        for (text, why) in [
            ("mode: enforce\nmx: a\nmax_age: 1\n", "version"),
            (
                "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
                "version",
            ),
            ("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "mode"),
            ("version: STSv1\nmode: enforce\nmax_age: 1\n", "mx"),
            ("version: STSv1\nmode: enforce\nmx: a\n", "max_age"),
            (
                "version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n",
                "max_age",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999\n",
                "max_age",
            ),
            ("version: STSv1\nmode enforce\n", "key: value"),
            ("<html>not found</html>", "key: value"),
        ] {
            let e = Policy::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn max_age_is_capped_and_mx_lines_bounded() {
        let mut text = "version: STSv1\nmode: testing\nmax_age: 9999999999\n".to_string();
        for i in 0..10_000 {
            text.push_str(&format!("mx: m{i}.example.com\n"));
        }
        let p = Policy::parse(&text).unwrap();
        assert_eq!(p.max_age, MAX_AGE);
        assert_eq!(p.mx.len(), MAX_MX);
        assert!(p.lines.len() <= MAX_MX + 8);
        let none = Policy::parse("version: STSv1\nmode: none\nmax_age: 0\n").unwrap();
        assert_eq!(none.mode, Mode::None);
    }
}
