//! Timestamps on the wire: RFC 3339, UTC written as `Z`, always six fractional digits — on
//! every backend and both protocols, so clients can compare them as strings and a value reads
//! back exactly as it was answered.
//!
//! Microseconds because that is what MySQL's `DATETIME(6)` keeps; [`now`] truncates to it
//! before a value is stored, so what is answered at creation is what a later read returns.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// The current time, truncated to the microsecond.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `2026-12-07T11:25:26.123456Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    t.trunc_subsecs(6)
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// For `#[serde(serialize_with = "lockstep_service_kit::time::serialize")]` on a DTO field
/// (reading back uses chrono's own RFC 3339 parser).
pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
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
}
