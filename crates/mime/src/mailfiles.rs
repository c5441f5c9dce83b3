//! Mail as other software keeps it in files, read within bounds: mbox (mboxrd) split
//! into messages with their `From ` line dates and `Status:`/`X-Status:` flags, Maildir
//! file names' `:2,` flags, and the key that says whether a message is already in a
//! folder. `estafeta import` reads with these; `estafeta export` writes the same forms.
//!
//! Bounds: a message (and so a line) holds at most [`MAX_MESSAGE`] octets in memory — a
//! longer one is read through and counted as skipped; dates outside years 1970–9999 are
//! not dates; the key looks at most 256 KiB of header. Fuzzed (`mailfiles`).

use std::io::{BufRead, Read};

use sha2::{Digest, Sha256};

/// The largest message imported.
pub const MAX_MESSAGE: usize = 100 * 1024 * 1024;

/// IMAP flags of a maildir file name's `:2,` info.
pub fn maildir_flags(file_name: &str, keywords: &[Option<String>]) -> Vec<String> {
    let Some((_, info)) = file_name.rsplit_once(":2,") else {
        return Vec::new();
    };
    let mut flags = Vec::new();
    for c in info.chars() {
        let flag = match c {
            'S' => Some("\\Seen".to_string()),
            'R' => Some("\\Answered".to_string()),
            'F' => Some("\\Flagged".to_string()),
            'T' => Some("\\Deleted".to_string()),
            'D' => Some("\\Draft".to_string()),
            'a'..='z' => keywords.get((c as u8 - b'a') as usize).cloned().flatten(),
            _ => None,
        };
        flags.extend(flag);
    }
    flags
}

/// Bare LF line ends made CRLF.
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

/// Seconds since 1970 of an mbox `From ` line's asctime date (`Mon Jan  1 10:00:00 2024`).
pub fn from_line_date(line: &str) -> Option<i64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // From sender Day Mon DD HH:MM:SS YYYY
    let n = words.len();
    if n < 7 {
        return None;
    }
    let (month, day, time, year) = (words[n - 4], words[n - 3], words[n - 2], words[n - 1]);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(month))? as u8
        + 1;
    let day: u8 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: u16 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let mut hms = time.split(':').map(|p| p.parse::<u8>().ok());
    let (hour, minute, second) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let date = mail_parser::DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        tz_before_gmt: false,
        tz_hour: 0,
        tz_minute: 0,
    };
    Some(date.to_timestamp())
}

/// IMAP flags from an mbox message's `Status:` and `X-Status:` fields.
pub fn mbox_flags(message: &[u8]) -> Vec<String> {
    let head_end = message
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| message.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(message.len());
    let head = String::from_utf8_lossy(&message[..head_end]);
    let mut flags = Vec::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") && value.contains('R') {
            flags.push("\\Seen".to_string());
        }
        if name.eq_ignore_ascii_case("x-status") {
            for (c, flag) in [
                ('A', "\\Answered"),
                ('F', "\\Flagged"),
                ('T', "\\Draft"),
                ('D', "\\Deleted"),
            ] {
                if value.contains(c) {
                    flags.push(flag.to_string());
                }
            }
        }
    }
    flags
}

/// Reads an mbox: each message with its `From ` line's date (mboxrd unescaping), until
/// the end or until `each` answers `false`; returns how many were too large.
pub fn read_mbox(
    reader: impl BufRead,
    mut each: impl FnMut(Vec<u8>, Option<i64>) -> bool,
) -> std::io::Result<usize> {
    let mut current: Option<(Vec<u8>, Option<i64>)> = None;
    let mut skipped = 0;
    let mut too_big = false;
    let mut reader = reader;
    let mut line = Vec::new();
    loop {
        line.clear();
        // one line at most MAX_MESSAGE octets in memory; the rest of a longer one is
        // read and dropped, and its message counted as too large
        let n = (&mut reader)
            .take(MAX_MESSAGE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.len() > MAX_MESSAGE && !line.ends_with(b"\n") {
            too_big = true;
            let mut rest = Vec::new();
            while (&mut reader).take(64 * 1024).read_until(b'\n', &mut rest)? > 0 {
                if rest.ends_with(b"\n") {
                    break;
                }
                rest.clear();
            }
            continue;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.starts_with(b"From ") {
            if let Some((bytes, date)) = current.take() {
                if too_big {
                    skipped += 1
                } else if !each(bytes, date) {
                    return Ok(skipped);
                }
            }
            too_big = false;
            current = Some((Vec::new(), from_line_date(&String::from_utf8_lossy(&line))));
            continue;
        }
        let Some((bytes, _)) = current.as_mut() else {
            continue;
        };
        // mboxrd: ">From " (with any number of >) loses one >
        let unescaped = match line.iter().position(|&b| b != b'>') {
            Some(i) if i > 0 && line[i..].starts_with(b"From ") => &line[1..],
            _ => &line[..],
        };
        if bytes.len() + unescaped.len() + 2 > MAX_MESSAGE {
            too_big = true;
            continue;
        }
        bytes.extend_from_slice(unescaped);
        bytes.extend_from_slice(b"\r\n");
    }
    if let Some((bytes, date)) = current.take() {
        if too_big {
            skipped += 1
        } else {
            each(bytes, date);
        }
    }
    Ok(skipped)
}

/// What identifies a message for "already there": its Message-ID, else its octets' hash.
pub fn message_key(bytes: &[u8]) -> String {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..head_end.min(256 * 1024)]);
    for line in head.split("\r\n") {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("message-id")
            && !value.trim().is_empty()
        {
            return format!("id:{}", value.trim());
        }
    }
    format!("hash:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_names_and_flags() {
        let kw = {
            let mut k = vec![None; 26];
            k[0] = Some("$Important".to_string());
            k
        };
        assert_eq!(
            maildir_flags("1700000000.M1P2.host,S=100:2,FRSa", &kw),
            ["\\Flagged", "\\Answered", "\\Seen", "$Important"]
        );
        assert!(maildir_flags("1700000000.M1P2.host", &kw).is_empty());
        assert!(
            maildir_flags("x:2,b", &kw).is_empty(),
            "a letter without a keyword"
        );
        assert!(maildir_flags("x:2,z", &[]).is_empty(), "no keywords at all");
        assert_eq!(message_key(b"Message-ID:  <a@b>  \r\n\r\nx"), "id:<a@b>");
        assert!(message_key(b"Subject: x\r\n\r\nx").starts_with("hash:"));
    }

    #[test]
    fn mbox_reading() {
        let mbox = b"From a@b.test Mon Jan  1 10:00:00 2024\nSubject: one\nStatus: RO\nX-Status: AF\n\n>From the start\n>>From deeper\nbody\n\nFrom c@d.test Tue Feb 27 23:59:59 2024\nSubject: two\n\nx\n";
        let mut got = Vec::new();
        read_mbox(&mbox[..], |bytes, date| {
            got.push((bytes, date));
            true
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        let mut first = 0;
        read_mbox(&mbox[..], |_, _| {
            first += 1;
            false
        })
        .unwrap();
        assert_eq!(first, 1, "false stops the reading");
        assert_eq!(got.len(), 2);
        let one = String::from_utf8(got[0].0.clone()).unwrap();
        assert!(
            one.contains("\r\nFrom the start\r\n>From deeper\r\nbody\r\n"),
            "{one}"
        );
        assert_eq!(got[0].1, Some(1_704_103_200));
        assert_eq!(mbox_flags(&got[0].0), ["\\Seen", "\\Answered", "\\Flagged"]);
        assert_eq!(from_line_date("From x"), None);
        // out of range: not a date (and no overflow)
        for bad in [
            "From a Mon Jan  1 10:00:00 99999999999999",
            "From a Mon Jan  1 10:00:00 1969",
            "From a Mon Jan 32 10:00:00 2024",
            "From a Mon Jan  0 10:00:00 2024",
            "From a Mon Jan  1 24:00:00 2024",
            "From a Mon Jan  1 10:60:00 2024",
            "From a Mon Jan  1 10:00:61 2024",
            "From a Mon Foo  1 10:00:00 2024",
        ] {
            assert_eq!(from_line_date(bad), None, "{bad}");
        }
        assert_eq!(
            from_line_date("From a Fri Dec 31 23:59:59 9999"),
            Some(253_402_300_799)
        );
        assert_eq!(from_line_date("From a Thu Jan  1 00:00 1970"), Some(0));
        assert_eq!(crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }
}
