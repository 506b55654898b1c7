//! Guards for MySQL types that sqlx 0.9 decodes to a wrong value without an error.
//!
//! Measured on MariaDB 10.11 (`driver-tests` suite `types_limits` keeps each fact a test):
//!
//! | column | decoded as | binary protocol | text protocol | use instead |
//! |---|---|---|---|---|
//! | `TIME` `-01:30:00` | `NaiveTime` | `01:30:00` — the sign is dropped | error | [`SignedTime`] |
//! | `TIME` `-00:30:00` | `MySqlTime` | right | `00:30:00` — the sign is dropped when the hours are 0 | [`SignedTime`] |
//! | `DECIMAL(65,30)` `1e-30` | `rust_decimal::Decimal` | `0` — rounded to 28 places | `0` | [`ExactDecimal`] |
//! | `DATETIME` `0000-00-00` | `Option<NaiveDateTime>` | `None` — read as NULL | error | `set.sql_mode=…NO_ZERO_DATE,NO_ZERO_IN_DATE` in the URL so none is stored |
//!
//! A decoder cannot see the zero date (sqlx reports the empty binary value as NULL before any
//! `Decode` runs), so that guard is on the way in: TiDB and MySQL 8 refuse zero dates by
//! default; MariaDB needs the `sql_mode` above.

use std::str::FromStr;

use chrono::TimeDelta;
use rust_decimal::Decimal;
use sqlx::error::BoxDynError;
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySql, MySqlTypeInfo, MySqlValueRef};

use crate::error::{Error, Result};

/// A `MySqlTime` as a signed duration. Right for what sqlx decodes over the binary protocol
/// only: over the text protocol sqlx reads the sign from the hours, so `-00:30:00` arrives as
/// `00:30:00`. Decode [`SignedTime`] instead, which is right on both.
pub fn time_delta(time: &MySqlTime) -> TimeDelta {
    let magnitude = TimeDelta::hours(i64::from(time.hours()))
        + TimeDelta::minutes(i64::from(time.minutes()))
        + TimeDelta::seconds(i64::from(time.seconds()))
        + TimeDelta::microseconds(i64::from(time.microseconds()));
    if time.sign().is_negative() {
        -magnitude
    } else {
        magnitude
    }
}

/// A `TIME` column as a signed duration (`-838:59:59.999999` … `838:59:59.999999`), right on
/// both protocols: `NaiveTime` cannot hold a sign or more than 24 h, and sqlx's `MySqlTime`
/// loses the sign of `-00:MM:SS` over the text protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedTime(pub TimeDelta);

impl sqlx::Type<MySql> for SignedTime {
    fn type_info() -> MySqlTypeInfo {
        <MySqlTime as sqlx::Type<MySql>>::type_info()
    }

    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <MySqlTime as sqlx::Type<MySql>>::compatible(ty)
    }
}

/// sqlx does not say which protocol a value came by, but the first byte does: a binary `TIME`
/// starts with its length (0, 8 or 12), a text one with `-` or a digit.
impl<'r> sqlx::Decode<'r, MySql> for SignedTime {
    fn decode(value: MySqlValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let raw = <&[u8] as sqlx::Decode<'r, MySql>>::decode(value.clone())?;
        match raw.first() {
            Some(b'-' | b'0'..=b'9') => Ok(SignedTime(parse_time(std::str::from_utf8(raw)?)?)),
            _ => Ok(SignedTime(time_delta(&MySqlTime::decode(value)?))),
        }
    }
}

/// `[-]H…H:MM:SS[.ffffff]`, the text protocol's `TIME`.
fn parse_time(text: &str) -> std::result::Result<TimeDelta, String> {
    let bad = || format!("`{text}` is not a TIME value");
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (clock, fraction) = magnitude.split_once('.').unwrap_or((magnitude, ""));
    let mut fields = clock.split(':');
    let (Some(h), Some(m), Some(s), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad());
    };
    let number = |digits: &str, max: i64| {
        (!digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<i64>().ok())
            .flatten()
            .filter(|n| *n <= max)
            .ok_or_else(bad)
    };
    let (hours, minutes, seconds) = (number(h, 838)?, number(m, 59)?, number(s, 59)?);
    if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let micros = format!("{fraction:0<6}")
        .parse::<i64>()
        .map_err(|_| bad())?;
    let magnitude = TimeDelta::hours(hours)
        + TimeDelta::minutes(minutes)
        + TimeDelta::seconds(seconds)
        + TimeDelta::microseconds(micros);
    Ok(if negative { -magnitude } else { magnitude })
}

/// A `DECIMAL` exactly as the server sent it (up to 65 digits, 30 after the point), on both
/// protocols. `rust_decimal` holds at most 28 places and rounds the rest away silently;
/// [`ExactDecimal::to_decimal`] converts only when nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactDecimal(pub String);

impl ExactDecimal {
    /// The value as a `rust_decimal::Decimal`, or [`Error::Lossy`] when it does not fit exactly.
    pub fn to_decimal(&self) -> Result<Decimal> {
        Decimal::from_str_exact(&self.0).map_err(|e| Error::Lossy {
            value: self.0.clone(),
            into: "rust_decimal::Decimal",
            reason: e.to_string(),
        })
    }
}

impl FromStr for ExactDecimal {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !plain(int) || !plain(frac) || int.len() + frac.len() > 65 {
            return Err(Error::InvalidArgument(format!("`{s}` is not a DECIMAL")));
        }
        Ok(ExactDecimal(s.to_owned()))
    }
}

impl sqlx::Type<MySql> for ExactDecimal {
    fn type_info() -> MySqlTypeInfo {
        <Decimal as sqlx::Type<MySql>>::type_info()
    }

    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <Decimal as sqlx::Type<MySql>>::compatible(ty)
    }
}

/// `DECIMAL` travels as text on both protocols; this keeps it as text.
impl<'r> sqlx::Decode<'r, MySql> for ExactDecimal {
    fn decode(value: MySqlValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let text = <&str as sqlx::Decode<'r, MySql>>::decode(value)?;
        Ok(text.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_times_keep_their_sign() {
        let t = |h, m, s, us| {
            TimeDelta::hours(h)
                + TimeDelta::minutes(m)
                + TimeDelta::seconds(s)
                + TimeDelta::microseconds(us)
        };
        let cases = [
            ("-00:30:00", -t(0, 30, 0, 0)),
            ("-00:00:01", -t(0, 0, 1, 0)),
            ("-01:30:00.25", -t(1, 30, 0, 250_000)),
            ("838:59:59.000001", t(838, 59, 59, 1)),
            ("-838:59:59", -t(838, 59, 59, 0)),
            ("00:00:00", TimeDelta::zero()),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "-",
            "1:2",
            "1:2:3:4",
            "839:00:00",
            "00:60:00",
            "00:00:00.1234567",
            "a:b:c",
            "+1:00:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_decimals_convert_only_without_loss() {
        let tiny: ExactDecimal = "0.000000000000000000000000000001".parse().unwrap();
        let err = tiny.to_decimal().unwrap_err();
        assert!(matches!(err, Error::Lossy { .. }), "{err}");
        let money: ExactDecimal = "-12345.67".parse().unwrap();
        assert_eq!(money.to_decimal().unwrap(), Decimal::new(-1_234_567, 2));
        for bad in ["", "1e5", "1.2.3", "--1", "abc", &"9".repeat(66)] {
            assert!(bad.parse::<ExactDecimal>().is_err(), "{bad}");
        }
    }
}
