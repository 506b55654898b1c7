//! Session variables set on every new connection, from `set.<name>=<value>` URL options.
//!
//! ```text
//! tidb://app@tidb-0:4000/shop?set.tidb_txn_mode=optimistic&set.tidb_replica_read=follower
//!   → every pooled connection (sqlx and SeaORM alike) runs, once, before first use:
//!     SET SESSION tidb_txn_mode = 'optimistic', tidb_replica_read = 'follower'
//! ```
//!
//! TiDB tunes much per session (`tidb_txn_mode`, `tidb_retry_limit`, `tidb_read_staleness`,
//! `tidb_replica_read`, …), and a pool hands out connections the application never opened, so
//! the only reliable place to set them is the pool's connect hook. Names and values are checked
//! when the URL is parsed, so what reaches the server is a plain literal: integers as numbers,
//! anything else as a quoted string of a restricted alphabet. A variable the server does not
//! know fails the first connection, so `Db::connect` reports it instead of every later query.

/// One variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionValue {
    /// Sent as a number (`set.tidb_retry_limit=10`).
    Int(i64),
    /// Sent quoted (`set.tidb_txn_mode=optimistic`); letters, digits and `_ - . , : + /` only.
    Text(String),
}

/// Session variables in URL order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionVars(Vec<(String, SessionValue)>);

impl SessionVars {
    /// The URL option prefix.
    pub const PREFIX: &'static str = "set.";

    /// Adds `name = value` from the URL option `set.<name>=<value>`.
    pub(crate) fn push(&mut self, name: &str, value: &str) -> Result<(), String> {
        let plain_name = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain_name {
            return Err(format!(
                "session variable `{name}` is not a plain variable name"
            ));
        }
        if self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(format!("session variable `{name}` is set twice"));
        }
        let value = match value.parse::<i64>() {
            Ok(n) => SessionValue::Int(n),
            Err(_) if safe_text(value) => SessionValue::Text(value.to_owned()),
            Err(_) => {
                return Err(format!(
                    "session variable `{name}`: value `{value}` may hold only letters, digits and _ - . , : + /"
                ));
            }
        };
        self.0.push((name.to_owned(), value));
        Ok(())
    }

    /// The variables, in URL order.
    pub fn iter(&self) -> impl Iterator<Item = &(String, SessionValue)> {
        self.0.iter()
    }

    /// The one `SET SESSION` statement that sets them all, if any are given.
    pub fn statement(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let assignments: Vec<String> = self
            .0
            .iter()
            .map(|(name, value)| match value {
                SessionValue::Int(n) => format!("{name} = {n}"),
                SessionValue::Text(t) => format!("{name} = '{t}'"),
            })
            .collect();
        Some(format!("SET SESSION {}", assignments.join(", ")))
    }
}

fn safe_text(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:+/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_one_statement_with_numbers_and_quoted_words() {
        let mut vars = SessionVars::default();
        assert_eq!(vars.statement(), None);
        vars.push("tidb_txn_mode", "optimistic").unwrap();
        vars.push("tidb_retry_limit", "10").unwrap();
        vars.push("sql_mode", "STRICT_TRANS_TABLES,NO_ZERO_DATE")
            .unwrap();
        vars.push("time_zone", "+00:00").unwrap();
        assert_eq!(
            vars.statement().unwrap(),
            "SET SESSION tidb_txn_mode = 'optimistic', tidb_retry_limit = 10, \
             sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE', time_zone = '+00:00'"
        );
    }

    #[test]
    fn refuses_anything_that_is_not_a_plain_name_or_literal() {
        let mut vars = SessionVars::default();
        for bad in [
            "",
            "1x",
            "a b",
            "x;DROP",
            "@@global.x",
            "a.b",
            &"x".repeat(65),
        ] {
            let err = vars.push(bad, "1").unwrap_err();
            assert!(err.contains("not a plain variable name"), "{bad}: {err}");
        }
        for bad in [
            "",
            "it's",
            "a b",
            "x'; DROP TABLE t; --",
            "a\\b",
            "%27",
            &"x".repeat(257),
        ] {
            let err = vars.push("v", bad).unwrap_err();
            assert!(err.contains("may hold only"), "{bad}: {err}");
        }
        vars.push("v", "1").unwrap();
        assert!(vars.push("V", "2").unwrap_err().contains("set twice"));
    }
}
