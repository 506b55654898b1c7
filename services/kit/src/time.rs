//! Timestamps on the wire: RFC 3339, UTC written as `Z`, always six fractional digits — on
//! every backend and both protocols, so clients can compare them as strings and a value reads
//! back exactly as it was answered.
//!
//! Microseconds because that is what MySQL's `DATETIME(6)` keeps; [`now`] truncates to it
//! before a value is stored, so what is answered at creation is what a later read returns.

use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Timelike, Utc};

/// The current time, truncated to the microsecond.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `2026-12-07T11:25:26.123456Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    let mut text = String::with_capacity(STAMP_LEN);
    // Writing to a String cannot fail.
    let _ = write(t, &mut text);
    text
}

/// The length of a timestamp of a year from 0 to 9999.
const STAMP_LEN: usize = 27;

/// Writes `t` as [`format`] does, without allocating: every response and every log line
/// carries one, and chrono's general formatter was 1,400 instructions of each access log line
/// (`services/bench/README.md`). Years outside 0–9999 and leap seconds, which chrono writes
/// in its own way (`+10000-…`, `:60`), are written by chrono.
pub fn write(t: &DateTime<Utc>, out: &mut impl fmt::Write) -> fmt::Result {
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return out.write_str(
            &t.trunc_subsecs(6)
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        );
    }
    let mut stamp = *b"0000-00-00T00:00:00.000000Z";
    let mut digits = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            stamp[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(0, 4, year.unsigned_abs());
    digits(5, 2, t.month());
    digits(8, 2, t.day());
    digits(11, 2, t.hour());
    digits(14, 2, t.minute());
    digits(17, 2, t.second());
    digits(20, 6, nanos / 1000);
    // Only ASCII digits were written into an ASCII template.
    out.write_str(std::str::from_utf8(&stamp).map_err(|_| fmt::Error)?)
}

/// For `#[serde(serialize_with = "lockstep_service_kit::time::serialize")]` on a DTO field
/// (reading back uses chrono's own RFC 3339 parser).
pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Stamp(t))
}

/// [`write`] as `Display`, for serializers that take one without an intermediate `String`.
struct Stamp<'a>(&'a DateTime<Utc>);

impl fmt::Display for Stamp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_shape_whatever_the_precision() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 7, 11, 25, 26).unwrap();
        assert_eq!(format(&whole), "2026-12-07T11:25:26.000000Z");
        let nanos = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(
            format(&nanos),
            "2026-12-07T11:25:26.123456Z",
            "truncated, not rounded"
        );
        assert_eq!(now().timestamp_subsec_nanos() % 1000, 0);
        let parsed: DateTime<Utc> = format(&nanos).parse().unwrap();
        assert_eq!(parsed, nanos.trunc_subsecs(6));
    }

    /// The fast path writes what chrono writes, across the range and its edges.
    #[test]
    fn writes_what_chrono_writes() {
        let chrono_way = |t: &DateTime<Utc>| {
            t.trunc_subsecs(6)
                .to_rfc3339_opts(SecondsFormat::Micros, true)
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (first, last) = (
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp_micros(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
                .unwrap()
                .timestamp_micros()
                + 999_999,
        );
        let span = u64::try_from(last - first).unwrap() + 1;
        let mut times: Vec<DateTime<Utc>> = (0..20_000)
            .map(|_| {
                let micros = first + i64::try_from(next() % span).unwrap();
                DateTime::from_timestamp_micros(micros).unwrap()
                    + chrono::Duration::nanoseconds(i64::try_from(next() % 1000).unwrap())
            })
            .collect();
        times.extend([
            DateTime::from_timestamp_micros(first).unwrap(),
            DateTime::from_timestamp_micros(last).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap(),
            // A leap second, as chrono represents one.
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999)
                + chrono::Duration::nanoseconds(1),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        ]);
        for t in &times {
            assert_eq!(format(t), chrono_way(t), "{t:?}");
        }
        let json = serde_json::to_string(&Wire { at: times[0] }).unwrap();
        assert_eq!(json, format!("{{\"at\":\"{}\"}}", chrono_way(&times[0])));
    }

    #[derive(serde::Serialize)]
    struct Wire {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
    }
}
