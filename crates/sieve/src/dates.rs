//! Date parts (RFC 5260 §4.2) of an instant seen in a zone: calendar arithmetic on
//! integers (days from civil dates and back), all in constant time; instants are clamped
//! to the years 0001–9999 so nothing overflows.

/// The date parts a script may ask for.
pub const PARTS: &[&str] = &[
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601",
    "std11", "zone", "weekday",
];

const MIN: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// A zone `+hhmm` / `-hhmm` as seconds east of UTC.
pub fn parse_zone(z: &str) -> Option<i64> {
    let b = z.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let d = |i: usize| i64::from(b[i] - b'0');
    let (h, m) = (d(1) * 10 + d(2), d(3) * 10 + d(4));
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// (year, month, day) of a day counted from 1970-01-01 (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The value of date part `part` (lower case) of instant `t` (unix seconds) seen in the
/// zone `offset` seconds east of UTC; None for an unknown part.
pub fn part(t: i64, offset: i64, part: &str) -> Option<String> {
    let offset = offset.clamp(-86_399, 86_399);
    let local = t.clamp(MIN, MAX) + offset;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let sign = if offset < 0 { '-' } else { '+' };
    let (zh, zm) = (offset.abs() / 3600, offset.abs() / 60 % 60);
    let weekday = (days + 4).rem_euclid(7);
    Some(match part {
        "year" => format!("{y:04}"),
        "month" => format!("{mo:02}"),
        "day" => format!("{d:02}"),
        "date" => format!("{y:04}-{mo:02}-{d:02}"),
        "julian" => (days + 40_587).to_string(),
        "hour" => format!("{h:02}"),
        "minute" => format!("{mi:02}"),
        "second" => format!("{s:02}"),
        "time" => format!("{h:02}:{mi:02}:{s:02}"),
        "iso8601" => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{sign}{zh:02}:{zm:02}"),
        "std11" => format!(
            "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} {sign}{zh:02}{zm:02}",
            DAYS[weekday as usize % 7],
            MONTHS[(mo as usize).saturating_sub(1) % 12]
        ),
        "zone" => format!("{sign}{zh:02}{zm:02}"),
        "weekday" => weekday.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_known_instant() {
        // 2009-02-13T23:31:30Z, a Friday
        let t = 1_234_567_890;
        assert_eq!(part(t, 0, "date").unwrap(), "2009-02-13");
        assert_eq!(part(t, 0, "time").unwrap(), "23:31:30");
        assert_eq!(part(t, 0, "weekday").unwrap(), "5");
        assert_eq!(part(t, 3600, "date").unwrap(), "2009-02-14");
        assert_eq!(part(t, 3600, "zone").unwrap(), "+0100");
        assert_eq!(
            part(t, -5 * 3600 - 1800, "iso8601").unwrap(),
            "2009-02-13T18:01:30-05:30"
        );
        assert_eq!(
            part(t, 0, "std11").unwrap(),
            "Fri, 13 Feb 2009 23:31:30 +0000"
        );
        // MJD of 2009-02-13 is 54875
        assert_eq!(part(t, 0, "julian").unwrap(), "54875");
        assert_eq!(part(i64::MAX, 0, "year").unwrap(), "9999");
        assert_eq!(part(i64::MIN, 0, "year").unwrap(), "0001");
        assert_eq!(parse_zone("+0530"), Some(19_800));
        assert_eq!(parse_zone("0530"), None);
        assert_eq!(parse_zone("+2460"), None);
    }
}
