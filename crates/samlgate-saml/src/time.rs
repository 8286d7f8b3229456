//! Strict xs:dateTime parsing and the injected clock.

use std::fmt;

/// An instant as milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(i64);

impl Instant {
    /// From milliseconds since the epoch.
    pub const fn from_unix_millis(ms: i64) -> Self {
        Instant(ms)
    }
    /// Milliseconds since the epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }
    /// Shifted by whole seconds (saturating).
    pub fn plus_seconds(self, s: i64) -> Self {
        Instant(self.0.saturating_add(s.saturating_mul(1000)))
    }

    /// Parses an xs:dateTime as SAML uses it: `YYYY-MM-DDThh:mm:ss`, an
    /// optional fraction, then `Z`, `+hh:mm` or `-hh:mm` (no zone is read as
    /// UTC). Years 0001-9999, hours 00-23, seconds 00-59; no surrounding
    /// whitespace, no lower-case `t`/`z`.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        // At most four ASCII digits: folded by hand (a `str::parse` per
        // field costs more than the rest of the parse).
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range).filter(|p| !p.is_empty())?;
            part.iter().try_fold(0i64, |acc, d| {
                d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
            })
        };
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
            return None;
        }
        if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if year == 0 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start || end - start > 12 {
                return None;
            }
            let digits = b.get(start..end)?;
            for (k, d) in digits.iter().take(3).enumerate() {
                millis += i64::from(d - b'0') * [100, 10, 1].get(k).copied().unwrap_or(0);
            }
            i = end;
        }
        let offset_minutes = match b.get(i) {
            None => 0,
            Some(b'Z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
                let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if h > 14 || m > 59 {
                    return None;
                }
                let total = h * 60 + m;
                if *sign == b'+' {
                    total
                } else {
                    -total
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
        Some(Instant(secs * 1000 + millis))
    }
}

impl fmt::Display for Instant {
    /// RFC 3339 in UTC with second precision (milliseconds when non-zero).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        if millis != 0 {
            write!(f, ".{millis:03}")?;
        }
        f.write_str("Z")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The source of "now" for time conditions; injected so that tests and the
/// `--now` flag never race the wall clock.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> Instant {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Instant(ms)
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Instant);

impl Clock for FixedClock {
    fn now(&self) -> Instant {
        self.0
    }
}

/// Parses an xs:duration (`PnYnMnDTnHnMnS`, as metadata `cacheDuration`
/// uses it) into whole seconds. Years count 365 days and months 30 days:
/// a cache lifetime needs no calendar. Negative durations and fractions of
/// units other than seconds are refused; the result saturates.
pub fn parse_duration_seconds(s: &str) -> Option<u64> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut total: u64 = 0;
    let mut add = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut rest = part;
        let mut unit_index = 0;
        while !rest.is_empty() {
            let end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
            let (number, tail) = rest.split_at(end);
            let unit = tail.chars().next()?;
            // Units must come in order, each at most once.
            let position = units
                .iter()
                .skip(unit_index)
                .position(|(u, _)| *u == unit)?;
            unit_index += position + 1;
            let seconds_per_unit = units.get(unit_index - 1)?.1;
            let whole = if unit == 'S' {
                let (int, frac) = number.split_once('.').unwrap_or((number, "0"));
                if int.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                int.parse::<u64>().ok()?
            } else {
                if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                number.parse::<u64>().ok()?
            };
            total = total.saturating_add(whole.saturating_mul(seconds_per_unit));
            rest = tail.get(1..)?;
        }
        Some(())
    };
    add(
        date,
        &[('Y', 365 * 86_400), ('M', 30 * 86_400), ('D', 86_400)],
    )?;
    if let Some(time) = time {
        add(time, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::Instant;

    #[test]
    fn datetime_parse_accepts_the_saml_forms_and_nothing_else() {
        let ok = [
            ("1970-01-01T00:00:00Z", 0),
            ("2024-05-01T12:00:00Z", 1_714_564_800_000),
            ("2024-05-01T12:00:00.5Z", 1_714_564_800_500),
            ("2024-05-01T12:00:00.123456Z", 1_714_564_800_123),
            ("2024-05-01T14:00:00+02:00", 1_714_564_800_000),
            ("2024-05-01T10:00:00-02:00", 1_714_564_800_000),
            ("2024-05-01T12:00:00", 1_714_564_800_000),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
            ("9999-12-31T23:59:59Z", 253_402_300_799_000),
        ];
        for (text, millis) in ok {
            assert_eq!(
                Instant::parse(text),
                Some(Instant::from_unix_millis(millis)),
                "{text}"
            );
        }
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T12:00:00z",
            "2024-05-01t12:00:00Z",
            "2024-05-01T12:00:60Z",
            "2024-05-01T24:00:00Z",
            "2024-13-01T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "0000-01-01T00:00:00Z",
            "+024-05-01T12:00:00Z",
            "2024-+5-01T12:00:00Z",
            "2024-05-01T1 :00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+15:00",
            "2024-05-01T12:00:00+02:60",
            "2024-05-01T12:00:00+0200",
            " 2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00Z ",
            "2024-05-01T12:00:00ZZ",
            "２０２４-05-01T12:00:00Z",
        ] {
            assert_eq!(Instant::parse(bad), None, "{bad:?}");
        }
    }
}
