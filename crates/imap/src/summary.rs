//! What FETCH derives from a message's structure — ENVELOPE, BODY and BODYSTRUCTURE,
//! already in their IMAP form — computed once from the parsed message and cached in the
//! store beside the body, so that listing a large mailbox does not parse every message.

use crate::mime;

/// Marks the encoding; a cache written by another version is recomputed.
const VERSION: &[u8] = b"IMAPSUM3";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub envelope: Vec<u8>,
    pub body: Vec<u8>,
    pub body_structure: Vec<u8>,
}

impl Summary {
    pub fn of(message: &estafeta_mime::Message<'_>) -> Summary {
        let mut envelope = Vec::new();
        mime::envelope(&mut envelope, message, 0);
        let mut body = Vec::new();
        mime::body_structure(&mut body, message, 0, false);
        let mut body_structure = Vec::new();
        mime::body_structure(&mut body_structure, message, 0, true);
        Summary {
            envelope,
            body,
            body_structure,
        }
    }

    /// For a message that cannot be parsed at all.
    pub fn empty() -> Summary {
        Summary {
            envelope: b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)".to_vec(),
            body: b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)".to_vec(),
            body_structure: b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)".to_vec(),
        }
    }

    pub fn compute(raw: &[u8]) -> Summary {
        Summary::of(&mime::parse(raw))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = VERSION.to_vec();
        for field in [&self.envelope, &self.body, &self.body_structure] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    /// `None` for bytes of another version or damaged.
    pub fn decode(bytes: &[u8]) -> Option<Summary> {
        let mut rest = bytes.strip_prefix(VERSION)?;
        let mut field = || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_be_bytes(*len) as usize;
            let value = tail.get(..len)?.to_vec();
            rest = &tail[len..];
            Some(value)
        };
        let summary = Summary {
            envelope: field()?,
            body: field()?,
            body_structure: field()?,
        };
        rest.is_empty().then_some(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let s = Summary::compute(b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n");
        assert!(
            s.envelope.starts_with(b"(NIL \"hi\""),
            "{:?}",
            String::from_utf8_lossy(&s.envelope)
        );
        assert_eq!(Summary::decode(&s.encode()), Some(s.clone()));
        let mut damaged = s.encode();
        damaged.pop();
        assert_eq!(Summary::decode(&damaged), None);
        assert_eq!(Summary::decode(b"IMAPSUM1xxxx"), None);
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    /// ENVELOPE, BODY and BODYSTRUCTURE of hostile nesting, on a 128 KiB stack: the walk
    /// keeps its own stack, so depth costs heap, not thread stack.
    #[test]
    fn deep_nesting_renders_without_recursion() {
        let handle = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                let mut deep = b"Subject: deep\r\n".to_vec();
                for i in 0..20_000 {
                    deep.extend_from_slice(
                        format!(
                            "Content-Type: multipart/mixed; boundary=\"={i}\"\r\n\r\n--={i}\r\n"
                        )
                        .as_bytes(),
                    );
                }
                let mut enclosed = b"Subject: enclosed\r\n".to_vec();
                for _ in 0..100_000 {
                    enclosed.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
                }
                (Summary::compute(&deep), Summary::compute(&enclosed))
            })
            .expect("thread");
        let (deep, enclosed) = handle.join().expect("no stack overflow");
        // 99 multiparts, the last level cut and shown as application/octet-stream
        assert!(deep.body_structure.iter().filter(|&&c| c == b'(').count() >= 99);
        assert!(
            deep.body
                .windows(26)
                .any(|w| w == b"\"APPLICATION\" \"OCTET-STREA"),
            "{}",
            String::from_utf8_lossy(&deep.body)
        );
        assert!(
            enclosed
                .body_structure
                .starts_with(b"(\"MESSAGE\" \"RFC822\"")
        );
        assert!(enclosed.envelope.starts_with(b"(NIL \"enclosed\""));
    }
}
