//! Header lines the server writes: `Received:` (RFC 5321 §4.4, with RFC 3848 protocol
//! keywords), and on submission `Date:` and `Message-ID:` when the client left them out
//! (RFC 6409 §8.2, §8.3).

use estafeta_net::dates::rfc5322_date;

/// What the Received: header records about one session and transaction.
pub struct Trace<'a> {
    pub helo: &'a str,
    pub peer_ip: std::net::IpAddr,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: Option<&'a (String, String)>,
    pub auth_user: Option<&'a str>,
    pub show_auth_user: bool,
    pub queue_id: &'a str,
    pub single_recipient: Option<&'a str>,
    pub unix_time: i64,
}

pub fn received(t: &Trace<'_>) -> String {
    let keyword = match (t.esmtp, t.tls.is_some(), t.auth_user.is_some()) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    };
    let mut h = format!(
        "Received: from {} ([{}])\r\n\tby {} (estafeta) with {keyword} id {}",
        sanitize(t.helo),
        t.peer_ip,
        t.hostname,
        t.queue_id
    );
    if let Some((version, cipher)) = t.tls {
        h.push_str(&format!("\r\n\t(using {version} with cipher {cipher})"));
    }
    if let (Some(user), true) = (t.auth_user, t.show_auth_user) {
        h.push_str(&format!("\r\n\t(authenticated sender: {})", sanitize(user)));
    }
    if let Some(rcpt) = t.single_recipient {
        h.push_str(&format!("\r\n\tfor <{}>", sanitize(rcpt)));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(t.unix_time)));
    h
}

/// Keeps client-supplied text from breaking the header: printable ASCII, no parentheses.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '(' && c != ')' {
                c
            } else {
                '_'
            }
        })
        .take(255)
        .collect()
}

/// What the header section of a message already has, as far as submission cares.
pub struct HeaderScan {
    pub has_date: bool,
    pub has_message_id: bool,
}

pub fn scan(message: &[u8]) -> HeaderScan {
    let mut scan = HeaderScan {
        has_date: false,
        has_message_id: false,
    };
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // end of the header section
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"date:") {
            scan.has_date = true;
        } else if lower.starts_with(b"message-id:") {
            scan.has_message_id = true;
        }
    }
    scan
}

pub use estafeta_mime::message_id_of;

pub fn message_id(queue_id: &str, hostname: &str) -> String {
    format!(
        "Message-ID: <{}.{:08x}@{hostname}>\r\n",
        queue_id,
        rand::random::<u32>()
    )
}

pub fn date_header(unix_time: i64) -> String {
    format!("Date: {}\r\n", rfc5322_date(unix_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_scan_stops_at_body() {
        let s = scan(b"Subject: x\r\nMessage-Id: <a@b>\r\n\r\nDate: in the body\r\n");
        assert!(s.has_message_id);
        assert!(!s.has_date);
    }

    #[test]
    fn message_id_of_reads_the_header_section_only() {
        assert_eq!(
            message_id_of(b"Subject: x\r\nMessage-Id:\r\n <a.1@b.example>\r\n\r\nbody\r\n")
                .as_deref(),
            Some("a.1@b.example")
        );
        assert_eq!(
            message_id_of(b"Subject: x\r\n\r\nMessage-ID: <in@body>\r\n"),
            None
        );
        assert_eq!(message_id_of(b"Message-ID: <a b@c>\r\n\r\n"), None);
        let long = format!("Message-ID: <{}@x>\r\n\r\n", "a".repeat(300));
        assert_eq!(message_id_of(long.as_bytes()), None);
        let folded = format!("Message-ID: <a@x\r\n{}\r\n\r\n", " b".repeat(100_000));
        assert_eq!(message_id_of(folded.as_bytes()), None);
    }
}
