//! RFC 3339 timestamps as integer milliseconds since the Unix epoch.
//!
//! Integer arithmetic, because an f64 seconds parse loses milliseconds, and a hand-written parser
//! because this runs for every event on the hot path and the format is fixed.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EpochMillis = i64;

/// Parses an RFC 3339 date-time (`2026-11-28T14:30:22.123Z`, `...+01:00`). Fractions beyond
/// milliseconds are truncated. Returns `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<EpochMillis> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60 is a leap second; it is folded into the next second, as JavaScript does.
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let h = digits(&b[i + 1..i + 3])?;
            let m = digits(&b[i + 4..i + 6])?;
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form JavaScript's `toISOString` gives.
pub fn format_rfc3339(ms: EpochMillis) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, ms);
    out
}

/// Appends the `format_rfc3339` form of `ms` to `out` without an intermediate allocation.
/// Digits are written by hand: `write!` made this a ninth of ingest's time per event (two
/// stamps per stored record).
pub fn write_rfc3339(out: &mut String, ms: EpochMillis) {
    match rfc3339_ascii(ms) {
        Some(text) => out.extend(text.map(char::from)),
        None => {
            // Outside four digits (never a stamp ingest accepts): the general formatter, which
            // writes the sign and every digit.
            use std::fmt::Write;
            let (year, month, day) = civil_from_days(ms.div_euclid(86_400_000));
            let in_day = ms.rem_euclid(86_400_000);
            let _ = write!(
                out,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                in_day / 3_600_000,
                in_day / 60_000 % 60,
                in_day / 1_000 % 60,
                in_day % 1_000
            );
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` as ASCII bytes, for the years 0 to 9999 (`None` outside them),
/// for writers of bytes that need no UTF-8 check of digits.
pub fn rfc3339_ascii(ms: EpochMillis) -> Option<[u8; 24]> {
    let (year, month, day) = civil_from_days(ms.div_euclid(86_400_000));
    let in_day = ms.rem_euclid(86_400_000);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3_600_000);
    put(14, 2, in_day / 60_000 % 60);
    put(17, 2, in_day / 1_000 % 60);
    put(20, 3, in_day % 1_000);
    Some(text)
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_with_milliseconds() {
        assert_eq!(
            parse_rfc3339("2026-11-28T14:30:22.123Z"),
            Some(1_795_876_222_123)
        );
    }

    #[test]
    fn applies_offsets_and_truncates_sub_millisecond_fractions() {
        assert_eq!(
            parse_rfc3339("2026-11-28T15:30:22.1239+01:00"),
            parse_rfc3339("2026-11-28T14:30:22.123Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-28T14:30:22.5Z"),
            Some(1_795_876_222_500)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Some(-1));
    }

    #[test]
    fn rejects_what_is_not_a_date_time() {
        for s in [
            "",
            "2026-11-28",
            "2026-11-28T14:30:22",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T14:30:22.Z",
            "2026-11-28T14:30:22Zjunk",
            "2026-11-28T14:30:22+0100",
            "２026-11-28T14:30:22Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn formats_what_it_parses() {
        for s in [
            "2026-11-28T14:30:22.123Z",
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T23:59:59.999Z",
            "1969-07-20T20:17:40.000Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(s).unwrap()), s);
        }
    }

    #[test]
    fn writes_every_stamp_as_the_general_formatter_does() {
        let general = |ms: EpochMillis| {
            let (year, month, day) = civil_from_days(ms.div_euclid(86_400_000));
            let t = ms.rem_euclid(86_400_000);
            format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                t / 3_600_000,
                t / 60_000 % 60,
                t / 1_000 % 60,
                t % 1_000
            )
        };
        let year_one = -62_135_596_800_000;
        let year_ten_thousand = 253_402_300_800_000;
        // A stride prime to every unit, from before year 1 to after year 9999.
        let mut ms = year_one - 86_400_000;
        while ms < year_ten_thousand + 86_400_000 {
            assert_eq!(format_rfc3339(ms), general(ms), "{ms}");
            ms += 7_777_777_777;
        }
        for ms in [
            year_one,
            year_one - 1,
            year_ten_thousand,
            year_ten_thousand - 1,
            0,
            -1,
        ] {
            assert_eq!(format_rfc3339(ms), general(ms), "{ms}");
        }
    }
}
