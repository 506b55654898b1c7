//! Which servers the suites run against, chosen by environment variables.
//!
//! | variable | meaning |
//! |---|---|
//! | `DRIVER_TESTS_TIDB_URL`, `DRIVER_TESTS_MYSQL_URL`, `DRIVER_TESTS_MARIADB_URL` | a running server (admin URL; each test creates and drops its own database) |
//! | `DRIVER_TESTS_CONTAINERS` | `all` or a list like `tidb,mysql`: start those with testcontainers (needs Docker) |
//! | `DRIVER_TESTS_OPT_OUT` | `1`: run nothing and say so; the only way to pass without a target |
//!
//! With none of them set the run fails with [`NO_TARGET_HELP`].

use std::fmt;

/// The server families the testbench knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// PingCAP TiDB.
    Tidb,
    /// MySQL.
    Mysql,
    /// MariaDB.
    Mariadb,
}

impl TargetKind {
    /// All kinds in a stable order.
    pub const ALL: [TargetKind; 3] = [TargetKind::Tidb, TargetKind::Mysql, TargetKind::Mariadb];

    /// Lower-case name used in test names and env vars.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Tidb => "tidb",
            TargetKind::Mysql => "mysql",
            TargetKind::Mariadb => "mariadb",
        }
    }

    /// The env var naming a server of this kind by URL.
    pub fn url_var(self) -> String {
        format!("DRIVER_TESTS_{}_URL", self.name().to_uppercase())
    }

    fn parse(name: &str) -> Option<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a target's server comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A running server at this admin URL.
    Url(String),
    /// A container started by the testbench.
    Container,
}

/// One server the suites run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// Its family.
    pub kind: TargetKind,
    /// Where it comes from.
    pub source: Source,
}

/// The outcome of reading the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Run on these.
    Targets(Vec<TargetSpec>),
    /// The user opted out explicitly.
    OptedOut,
}

/// What a user reads when no target is configured.
pub const NO_TARGET_HELP: &str = "driver-tests: no database target configured, refusing to pass by skipping.
Provide one of:
  DRIVER_TESTS_MARIADB_URL=mysql://root@127.0.0.1:3306/test   (a running MariaDB; likewise _MYSQL_URL, _TIDB_URL)
  DRIVER_TESTS_CONTAINERS=all                                  (start TiDB, MySQL and MariaDB with testcontainers; needs Docker)
  docker compose -f compose/testbench.yml up -d  and the URLs it prints in compose/README.md
or opt out explicitly with DRIVER_TESTS_OPT_OUT=1.";

/// Reads the selection from a variable lookup (the real environment in production, a map in
/// tests).
pub fn select(var: impl Fn(&str) -> Option<String>) -> Result<Selection, String> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if set("DRIVER_TESTS_OPT_OUT").is_some_and(|v| v.trim() == "1") {
        return Ok(Selection::OptedOut);
    }
    let mut targets = Vec::new();
    for kind in TargetKind::ALL {
        if let Some(url) = set(&kind.url_var()) {
            targets.push(TargetSpec {
                kind,
                source: Source::Url(url),
            });
        }
    }
    if let Some(list) = set("DRIVER_TESTS_CONTAINERS") {
        let kinds: Vec<TargetKind> = if list.trim() == "all" {
            TargetKind::ALL.to_vec()
        } else {
            list.split(',')
                .map(|n| TargetKind::parse(n).ok_or_else(|| format!("DRIVER_TESTS_CONTAINERS: unknown target `{n}` (tidb, mysql, mariadb or all)")))
                .collect::<Result<_, _>>()?
        };
        for kind in kinds {
            if targets.iter().any(|t| t.kind == kind) {
                return Err(format!(
                    "{kind} is given both by {} and DRIVER_TESTS_CONTAINERS",
                    kind.url_var()
                ));
            }
            targets.push(TargetSpec {
                kind,
                source: Source::Container,
            });
        }
    }
    if targets.is_empty() {
        return Err(NO_TARGET_HELP.to_owned());
    }
    Ok(Selection::Targets(targets))
}

/// [`select`] on the process environment.
pub fn select_from_env() -> Result<Selection, String> {
    select(|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(vars: &[(&str, &str)]) -> Result<Selection, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        select(|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_configured_fails_with_help() {
        let err = run(&[]).unwrap_err();
        assert!(err.contains("DRIVER_TESTS_MARIADB_URL") && err.contains("DRIVER_TESTS_OPT_OUT=1"));
        assert!(run(&[("DRIVER_TESTS_MARIADB_URL", "  ")]).is_err());
        assert!(run(&[("DRIVER_TESTS_OPT_OUT", "yes")]).is_err());
    }

    #[test]
    fn urls_and_containers_combine() {
        let sel = run(&[
            ("DRIVER_TESTS_MARIADB_URL", "mysql://root@127.0.0.1/test"),
            ("DRIVER_TESTS_CONTAINERS", "tidb, mysql"),
        ])
        .unwrap();
        let Selection::Targets(t) = sel else { panic!() };
        assert_eq!(
            t.iter().map(|t| t.kind).collect::<Vec<_>>(),
            [TargetKind::Mariadb, TargetKind::Tidb, TargetKind::Mysql]
        );
        assert_eq!(
            t[0].source,
            Source::Url("mysql://root@127.0.0.1/test".into())
        );
        assert_eq!(t[1].source, Source::Container);
    }

    #[test]
    fn bad_container_lists_and_duplicates_are_errors() {
        assert!(
            run(&[("DRIVER_TESTS_CONTAINERS", "postgres")])
                .unwrap_err()
                .contains("unknown target")
        );
        let err = run(&[
            ("DRIVER_TESTS_CONTAINERS", "all"),
            ("DRIVER_TESTS_TIDB_URL", "tidb://h"),
        ])
        .unwrap_err();
        assert!(err.contains("both"));
        assert_eq!(
            run(&[("DRIVER_TESTS_OPT_OUT", "1")]).unwrap(),
            Selection::OptedOut
        );
    }
}
