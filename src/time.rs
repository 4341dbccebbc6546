//! Capture time: a timestamp newtype and RFC 3339 formatting.
//!
//! The core never reads a clock: every instant comes from a packet (or, in
//! live mode, from the capture loop), so replaying a capture gives the same
//! answer as watching it live. The one exception is [`wall_clock`], which
//! only the edges call (`--at now`, input read while it is being written).
//!
//! Arithmetic on times that come from outside (files, flags) is checked:
//! an instant that `Timestamp` cannot hold is refused or saturated, never
//! wrapped into another century.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// An instant on the capture clock, in nanoseconds since the Unix epoch.
/// Serialized as RFC 3339 UTC with microseconds, as the findings schema says.
/// It holds 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.rfc3339_text().as_str())
    }
}

/// A span of capture time in nanoseconds; negative when clocks go backwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Why a time given on the command line was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TimeError {
    #[error(
        "'{0}' is not an RFC 3339 time such as 2026-11-24T16:00:00Z or 2026-11-24T17:00:00.5+01:00"
    )]
    Syntax(String),
    #[error("'{0}' has no time zone: add Z for UTC ({0}Z) or an offset such as +01:00")]
    NoZone(String),
    #[error("'{0}' is outside the times wspulse can represent ({min} to {max})", min = Timestamp::MIN, max = Timestamp::MAX)]
    OutOfRange(String),
}

impl Timestamp {
    /// The earliest instant the type holds (1677-09-21T00:12:43.145224192Z).
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest instant the type holds (2262-04-11T23:47:16.854775807Z).
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// From seconds and a fraction expressed in `units_per_sec` (pcapng's
    /// `if_tsresol`, RFC 9867 §4.2), or `None` when the instant is outside
    /// what the type holds. A fraction of a whole second or more counts in
    /// full (files are not always tidy); `units_per_sec == 0` drops it.
    pub fn checked_from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Option<Self> {
        from_wide_parts(i128::from(secs), frac, units_per_sec)
    }

    /// As [`Timestamp::checked_from_parts`], saturating at [`Timestamp::MIN`]
    /// or [`Timestamp::MAX`] instead of failing.
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        Self::checked_from_parts(secs, frac, units_per_sec).unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
    }

    /// A pcapng timestamp (RFC 9867 §4.6): `raw` units of `1/units_per_sec`
    /// seconds, plus the interface's `if_tsoffset` seconds. `None` when the
    /// sum is outside what the type holds (a huge raw count, a hostile
    /// offset): nothing wraps.
    pub fn from_pcapng(raw: u64, units_per_sec: u64, offset_secs: i64) -> Option<Self> {
        let units = units_per_sec.max(1);
        let secs = i128::from(raw / units) + i128::from(offset_secs);
        from_wide_parts(secs, raw % units, units)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn since(self, earlier: Timestamp) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }

    /// `self + span`, or `None` past what the type holds.
    pub fn checked_add(self, span: Span) -> Option<Timestamp> {
        self.0.checked_add(span.0).map(Timestamp)
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-24T16:00:47.123456Z`.
    pub fn rfc3339(self) -> String {
        self.rfc3339_text().as_str().to_string()
    }
}

fn from_wide_parts(secs: i128, frac: u64, units_per_sec: u64) -> Option<Timestamp> {
    let frac_nanos = if units_per_sec == 0 {
        0
    } else {
        // At most u64::MAX * 1e9: fits in u128 and, divided, in i128.
        (u128::from(frac) * NANOS_PER_SEC as u128 / u128::from(units_per_sec)) as i128
    };
    let nanos = secs
        .checked_mul(i128::from(NANOS_PER_SEC))?
        .checked_add(frac_nanos)?;
    i64::try_from(nanos).ok().map(Timestamp)
}

/// The wall clock now. Only the edges read it: `--at now`, and input read
/// while it is being written; judging never does.
pub fn wall_clock() -> Timestamp {
    let nanos = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    };
    Timestamp(nanos)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc3339_text().as_str())
    }
}

/// A [`Timestamp`] as RFC 3339 UTC with microseconds,
/// `2026-11-24T16:00:47.500000Z`: always 27 ASCII bytes, as the type's
/// range (1677 to 2262) keeps the year at four digits. Written by hand on
/// the stack: every connection of a report carries dozens of times, and
/// `write!` through the formatting machinery was a tenth of a wide run.
pub struct Rfc3339([u8; 27]);

impl Rfc3339 {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl Timestamp {
    /// See [`Rfc3339`].
    pub fn rfc3339_text(&self) -> Rfc3339 {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let micros = self.0.rem_euclid(NANOS_PER_SEC) / 1_000;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut n: i64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, sod / 3600);
        put(14, 2, sod % 3600 / 60);
        put(17, 2, sod % 60);
        put(20, 6, micros);
        Rfc3339(b)
    }
}

/// Parses RFC 3339 (`2026-11-24T16:00:47.5Z`, `+01:00` offsets allowed;
/// `t` and a space are accepted for `T`, `z` for `Z`). A time without a zone
/// is refused with a hint (it names no instant), and so is an instant the
/// type cannot hold (before 1677 or after 2262): the arithmetic is checked.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
    let syntax = || TimeError::Syntax(s.to_string());
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(syntax());
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = s.get(r)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let field = |r| num(r).ok_or_else(syntax);
    let (y, mo, d) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (h, mi, sec) = (field(11..13)?, field(14..16)?, field(17..19)?);
    // Second 60 is a leap second (RFC 3339 §5.7); it counts as the next one.
    if !(1..=12).contains(&mo)
        || !(1..=days_in_month(y, mo)).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return Err(syntax());
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(syntax());
        }
        let mut scale = NANOS_PER_SEC;
        for c in frac[..digits].bytes().take(9) {
            scale /= 10;
            nanos += (c - b'0') as i64 * scale;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" => return Err(TimeError::NoZone(s.to_string())),
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let zone = |r: std::ops::Range<usize>| {
                rest.get(r)
                    .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|d| d.parse::<i64>().ok())
            };
            let (oh, om) = (
                zone(1..3).ok_or_else(syntax)?,
                zone(4..6).ok_or_else(syntax)?,
            );
            if oh > 23 || om > 59 {
                return Err(syntax());
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(syntax()),
    };
    // Four-digit years keep these seconds far inside i64; only the
    // nanoseconds can leave the type's range.
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    from_wide_parts(i128::from(secs), nanos as u64, NANOS_PER_SEC as u64)
        .ok_or_else(|| TimeError::OutOfRange(s.to_string()))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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

    pub const fn from_micros(us: i64) -> Self {
        Span(us.saturating_mul(1_000))
    }

    pub const fn from_millis(ms: i64) -> Self {
        Span(ms.saturating_mul(1_000_000))
    }

    pub const fn from_secs(s: i64) -> Self {
        Span(s.saturating_mul(NANOS_PER_SEC))
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
        } else if abs < 86_400 * 1_000_000_000 {
            let m = abs / 60_000_000_000;
            write!(f, "{sign}{}h{:02}m", m / 60, m % 60)
        } else {
            // Days and hours: minutes no longer matter to a reader.
            let h = abs / 3_600_000_000_000;
            write!(f, "{sign}{}d {}h", h / 24, h % 24)
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

    #[test]
    fn long_spans_read_in_days_and_hours() {
        assert_eq!(Span::from_secs(432_036).to_string(), "5d 0h");
        assert_eq!(Span::from_secs(90_000).to_string(), "1d 1h");
        assert_eq!(Span::from_secs(7_260).to_string(), "2h01m");
        assert_eq!(Span::from_secs(-90_000).to_string(), "-1d 1h");
    }

    use super::*;

    #[test]
    fn formats_rfc3339_with_microseconds() {
        let t = Timestamp::from_parts(1_764_000_047, 123_456_789, 1_000_000_000);
        assert_eq!(t.to_string(), "2025-11-24T16:00:47.123456Z");
        assert_eq!(
            Timestamp::from_nanos(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(Timestamp::MIN.to_string(), "1677-09-21T00:12:43.145224Z");
        assert_eq!(Timestamp::MAX.to_string(), "2262-04-11T23:47:16.854775Z");
        assert_eq!(
            Timestamp::from_nanos(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        // Across the range, by a stride that visits every field's digits,
        // the text parses back to the same microsecond.
        let mut n = i64::MIN + 1_000;
        while let Some(next) = n.checked_add(7_777_777_777_777_777) {
            let t = Timestamp::from_nanos(n);
            let back = parse_rfc3339(&t.to_string()).unwrap();
            assert_eq!(back.0.div_euclid(1_000), n.div_euclid(1_000), "{t}");
            n = next;
        }
    }

    #[test]
    fn rfc3339_round_trips_and_accepts_offsets() {
        let t = Timestamp::from_parts(1_764_000_047, 500_000, 1_000_000);
        assert_eq!(parse_rfc3339(&t.to_string()), Ok(t));
        assert_eq!(
            parse_rfc3339("2025-11-24T17:00:47.5+01:00"),
            Ok(Timestamp::from_parts(1_764_000_047, 5, 10))
        );
        assert_eq!(
            parse_rfc3339("2025-11-24 16:00:47z"),
            Ok(Timestamp::from_parts(1_764_000_047, 0, 1))
        );
        for bad in [
            "2025-13-24T17:00:47Z",
            "2025-02-29T00:00:00Z",
            "2025-11-24T17:00:47+0100",
            "2025-11-24T17:00:47+01:60",
            "+025-11-24T17:00:47Z",
            "2025-11-24T17:00:47.Z",
            "2025-11-24",
            "yesterday",
        ] {
            assert_eq!(
                parse_rfc3339(bad),
                Err(TimeError::Syntax(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z").map(|t| t.to_string()),
            Ok("2024-02-29T00:00:00.000000Z".into())
        );
    }

    #[test]
    fn a_time_without_a_zone_is_refused_with_a_hint() {
        let err = parse_rfc3339("2026-11-24T16:00:00").unwrap_err();
        assert_eq!(err, TimeError::NoZone("2026-11-24T16:00:00".into()));
        let message = err.to_string();
        assert!(message.contains("2026-11-24T16:00:00Z"), "{message}");
        assert!(message.contains("+01:00"), "{message}");
        assert!(matches!(
            parse_rfc3339("2026-11-24T16:00:00.25"),
            Err(TimeError::NoZone(_))
        ));
    }

    #[test]
    fn instants_outside_the_type_are_refused_not_wrapped() {
        // Used to wrap to 1715.
        let err = parse_rfc3339("2300-01-01T00:00:00Z").unwrap_err();
        assert_eq!(err, TimeError::OutOfRange("2300-01-01T00:00:00Z".into()));
        assert!(err.to_string().contains("2262-04-11T23:47:16.854775Z"));
        assert!(parse_rfc3339("1600-01-01T00:00:00Z").is_err());
        assert!(parse_rfc3339("9999-12-31T23:59:59.999999999Z").is_err());
        assert!(parse_rfc3339("0000-01-01T00:00:00Z").is_err());
        // The exact ends of the range are still instants.
        assert_eq!(
            parse_rfc3339("2262-04-11T23:47:16.854775807Z"),
            Ok(Timestamp::MAX)
        );
        assert_eq!(
            parse_rfc3339("1677-09-21T00:12:43.145224192Z"),
            Ok(Timestamp::MIN)
        );
        assert!(parse_rfc3339("2262-04-11T23:47:16.854775808Z").is_err());
        // An offset can carry an instant past the end, too.
        assert!(parse_rfc3339("2262-04-11T23:47:16-01:00").is_err());
    }

    #[test]
    fn file_timestamps_saturate_or_are_refused() {
        assert_eq!(
            Timestamp::from_pcapng(1_700_000_000_123_456_789, 1_000_000_000, 0),
            Some(Timestamp::from_nanos(1_700_000_000_123_456_789))
        );
        assert_eq!(
            Timestamp::from_pcapng(1_500, 1_000, 1_700_000_000),
            Some(Timestamp::from_nanos(1_700_000_001_500_000_000))
        );
        // Past 2262 in nanoseconds, a raw count of seconds, a hostile offset.
        assert_eq!(Timestamp::from_pcapng(u64::MAX, 1_000_000_000, 0), None);
        assert_eq!(Timestamp::from_pcapng(u64::MAX, 1, 0), None);
        assert_eq!(Timestamp::from_pcapng(0, 1_000_000, i64::MAX), None);
        assert_eq!(Timestamp::from_pcapng(u64::MAX, 1, i64::MIN), None);
        assert_eq!(
            Timestamp::from_pcapng(5, 1, -10),
            Some(Timestamp::from_nanos(-5_000_000_000))
        );
        // Resolution 2^-63 s (the largest binary one) and a zero one.
        assert_eq!(
            Timestamp::from_pcapng(1 << 62, 1 << 63, 0),
            Some(Timestamp::from_nanos(500_000_000))
        );
        assert_eq!(
            Timestamp::from_pcapng(7, 0, 0),
            Some(Timestamp::from_nanos(7_000_000_000))
        );
        assert_eq!(Timestamp::from_parts(i64::MAX, 0, 1), Timestamp::MAX);
        assert_eq!(Timestamp::from_parts(i64::MIN, 0, 1), Timestamp::MIN);
        assert_eq!(Timestamp::from_parts(0, u64::MAX, 1), Timestamp::MAX);
        assert_eq!(Timestamp::checked_from_parts(0, u64::MAX, 1), None);
        assert_eq!(Timestamp::MAX.checked_add(Span::from_nanos(1)), None);
        assert_eq!(Timestamp::MAX + Span::from_secs(1), Timestamp::MAX);
    }

    #[test]
    fn the_wall_clock_is_after_2025() {
        assert!(wall_clock() > parse_rfc3339("2025-01-01T00:00:00Z").unwrap());
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
