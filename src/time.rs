//! Capture time: a timestamp newtype and RFC 3339 formatting.
//!
//! The core never reads a clock: every instant comes from a packet (or, in
//! live mode, from the capture loop), so replaying a capture gives the same
//! answer as watching it live.

use std::fmt;

/// An instant on the capture clock, in nanoseconds since the Unix epoch.
/// Serialized as RFC 3339 UTC with microseconds, as the findings schema says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A span of capture time in nanoseconds; negative when clocks go backwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// From seconds and a fraction expressed in `units_per_sec` (pcapng's
    /// `if_tsresol`, RFC 9867 §4.2); saturates rather than overflowing.
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        let frac_nanos = if units_per_sec == 0 {
            0
        } else {
            ((frac as u128 * NANOS_PER_SEC as u128) / units_per_sec as u128) as i64
        };
        Timestamp(
            secs.saturating_mul(NANOS_PER_SEC)
                .saturating_add(frac_nanos),
        )
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn since(self, earlier: Timestamp) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-24T16:00:47.123456Z`.
    pub fn rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let micros = self.0.rem_euclid(NANOS_PER_SEC) / 1_000;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    }
}

/// Parses RFC 3339 (`2026-11-24T16:00:47.5Z`, `+01:00` offsets allowed).
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut scale = NANOS_PER_SEC;
        for c in frac[..digits].bytes().take(9) {
            scale /= 10;
            nanos += (c - b'0') as i64 * scale;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(Timestamp(secs * NANOS_PER_SEC + nanos))
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Span {
    pub const ZERO: Span = Span(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Span(nanos)
    }

    pub const fn from_millis(ms: i64) -> Self {
        Span(ms * 1_000_000)
    }

    pub const fn from_secs(s: i64) -> Self {
        Span(s * NANOS_PER_SEC)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    pub fn max(self, other: Span) -> Span {
        Span(self.0.max(other.0))
    }
}

impl std::ops::Add<Span> for Timestamp {
    type Output = Timestamp;
    fn add(self, span: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(span.0))
    }
}

impl std::ops::Mul<i64> for Span {
    type Output = Span;
    fn mul(self, k: i64) -> Span {
        Span(self.0.saturating_mul(k))
    }
}

impl std::ops::Add for Span {
    type Output = Span;
    fn add(self, rhs: Span) -> Span {
        Span(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::AddAssign for Span {
    fn add_assign(&mut self, rhs: Span) {
        *self = *self + rhs;
    }
}

/// Human form for tables: `850µs`, `12.3ms`, `4.20s`, `3m07s`, `2h05m`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        let abs = ns.unsigned_abs();
        let sign = if ns < 0 { "-" } else { "" };
        if abs < 1_000_000 {
            write!(f, "{sign}{}µs", abs / 1_000)
        } else if abs < 1_000_000_000 {
            write!(f, "{sign}{:.1}ms", abs as f64 / 1e6)
        } else if abs < 60 * 1_000_000_000 {
            write!(f, "{sign}{:.2}s", abs as f64 / 1e9)
        } else if abs < 3600 * 1_000_000_000 {
            let s = abs / 1_000_000_000;
            write!(f, "{sign}{}m{:02}s", s / 60, s % 60)
        } else {
            let m = abs / 60_000_000_000;
            write!(f, "{sign}{}h{:02}m", m / 60, m % 60)
        }
    }
}

/// Parses a duration flag: `30s`, `1.5s`, `250ms`, `2m`, `1h`, or bare seconds.
pub fn parse_span(s: &str) -> Option<Span> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let nanos = value * scale;
    (nanos.is_finite() && nanos >= 0.0 && nanos < i64::MAX as f64).then_some(Span(nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_microseconds() {
        let t = Timestamp::from_parts(1_764_000_047, 123_456_789, 1_000_000_000);
        assert_eq!(t.to_string(), "2025-11-24T16:00:47.123456Z");
        assert_eq!(
            Timestamp::from_nanos(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn rfc3339_round_trips_and_accepts_offsets() {
        let t = Timestamp::from_parts(1_764_000_047, 500_000, 1_000_000);
        assert_eq!(parse_rfc3339(&t.to_string()), Some(t));
        assert_eq!(
            parse_rfc3339("2025-11-24T17:00:47.5+01:00"),
            Some(Timestamp::from_parts(1_764_000_047, 5, 10))
        );
        assert_eq!(parse_rfc3339("2025-13-24T17:00:47Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn parses_duration_flags() {
        assert_eq!(parse_span("30s"), Some(Span::from_secs(30)));
        assert_eq!(parse_span("250ms"), Some(Span::from_millis(250)));
        assert_eq!(parse_span("1.5"), Some(Span::from_millis(1500)));
        assert_eq!(parse_span("2m"), Some(Span::from_secs(120)));
        assert_eq!(parse_span("-1s"), None);
        assert_eq!(parse_span("10 parsecs"), None);
    }

    #[test]
    fn spans_print_for_humans() {
        assert_eq!(Span::from_nanos(850_000).to_string(), "850µs");
        assert_eq!(Span::from_millis(4200).to_string(), "4.20s");
        assert_eq!(Span::from_secs(187).to_string(), "3m07s");
    }
}
