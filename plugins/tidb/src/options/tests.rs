//! URL parsing: endpoints, options, TLS checks and redaction.
use super::*;

fn err(url: &str) -> String {
    url.parse::<ConnectOptions>().unwrap_err().to_string()
}

#[test]
fn parses_several_endpoints_with_scheme_default_ports() {
    let o: ConnectOptions =
        "tidb://app:s3cret@a,b:4001, c:4002/shop?max-connections=20&charset=utf8mb4"
            .parse()
            .unwrap();
    assert_eq!(o.endpoint_names(), ["a:4000", "b:4001", "c:4002"]);
    assert_eq!(o.pool.max_connections, 20);
    for e in &o.endpoints {
        assert_eq!(e.get_username(), "app");
        assert_eq!(e.get_database(), Some("shop"));
        assert_eq!(e.get_charset(), "utf8mb4");
    }
    let m: ConnectOptions = "mysql://root@127.0.0.1/test".parse().unwrap();
    assert_eq!(m.endpoint_names(), ["127.0.0.1:3306"]);
    assert_eq!(m.pool, PoolSettings::default());
    assert_eq!(m.timeouts, Timeouts::default());
}

#[test]
fn time_bounds_come_from_the_url() {
    let o: ConnectOptions = "mysql://root@db/test?connect-timeout=2&attempt-timeout=1500ms&retry-budget=20s&acquire-timeout=250ms"
        .parse()
        .unwrap();
    assert_eq!(o.timeouts.connect, Duration::from_secs(2));
    assert_eq!(o.timeouts.attempt, Duration::from_millis(1500));
    assert_eq!(o.timeouts.retry_budget, Duration::from_secs(20));
    assert_eq!(o.pool.acquire_timeout, Duration::from_millis(250));
    let e = err("mysql://root@db/test?attempt-timeout=soon");
    assert!(e.contains("attempt-timeout") && e.contains("soon"), "{e}");
    assert!(err("mysql://root@db/test?retry-budget=0").contains("more than zero"));
    let o: ConnectOptions =
        "mysql://root@db/test?set.lock_wait_timeout=7&set.tidb_txn_mode=optimistic"
            .parse()
            .unwrap();
    assert_eq!(
        o.session.statement().unwrap(),
        "SET SESSION lock_wait_timeout = 7, tidb_txn_mode = 'optimistic'"
    );
    assert!(err("mysql://root@db/test?set.x=a'b").contains("may hold only"));
}

#[test]
fn the_alive_bypass_window_defaults_to_500ms_and_zero_turns_it_off() {
    let window = |url: &str| {
        url.parse::<ConnectOptions>()
            .unwrap()
            .pool
            .alive_bypass_window
    };
    assert_eq!(window("mysql://root@db/test"), Duration::from_millis(500));
    assert_eq!(
        window("mysql://root@db/test?alive-bypass-window=250ms"),
        Duration::from_millis(250)
    );
    for off in ["0", "0s", "0ms"] {
        assert_eq!(
            window(&format!("mysql://root@db/test?alive-bypass-window={off}")),
            Duration::ZERO
        );
    }
    let e = err("mysql://root@db/test?alive-bypass-window=soon");
    assert!(
        e.contains("alive-bypass-window") && e.contains("soon"),
        "{e}"
    );
    assert!(err("mysql://root@db/test?alive-bypass-window=90000s").contains("at most 24 h"));
}

#[test]
fn bad_urls_name_what_is_wrong_and_hide_the_password() {
    let cases = [
        ("postgres://u:pw@h/db", "unsupported scheme `postgres`"),
        ("tidb://u:pw@/db", "no host given"),
        ("tidb://u:pw@h:99999/db", "bad port `99999`"),
        ("tidb://u:pw@a,,b/db", "empty host"),
        (
            "tidb://u:pw@h/db?max-conections=3",
            "unknown option `max-conections`",
        ),
        ("tidb://u:pw@h/db?max-connections=lots", "wants a number"),
        ("tidb://u:pw@h/db?max-connections=0", "at least 1"),
        ("tidb://u:pw@h/db?ssl-mode=SOMETIMES", "options:"),
        ("h:4000", "expected `mysql://` or `tidb://`"),
    ];
    for (url, want) in cases {
        let msg = err(url);
        assert!(msg.contains(want), "{url}: {msg}");
        assert!(!msg.contains("pw"), "password leaked: {msg}");
    }
}

#[test]
fn tls_misconfiguration_is_reported_before_connecting() {
    let msg = err("tidb://u@h/db?ssl-mode=VERIFY_CA&ssl-ca=/no/such/ca.pem");
    assert!(
        msg.contains("ssl-ca file `/no/such/ca.pem` does not exist"),
        "{msg}"
    );
    let msg = err("tidb://u@h/db?ssl-mode=VERIFY_CA");
    assert!(msg.contains("needs ssl-ca"), "{msg}");
    let msg = err("tidb://abc.root@gateway01.eu-central-1.prod.aws.tidbcloud.com/db");
    assert!(msg.contains("ssl-mode=VERIFY_IDENTITY"), "{msg}");
    let msg = err("tidb://root@gateway01.prod.aws.tidbcloud.com/db?ssl-mode=VERIFY_IDENTITY");
    assert!(msg.contains("cluster prefix"), "{msg}");
    "tidb://abc.root@gateway01.prod.aws.tidbcloud.com/db?ssl-mode=VERIFY_IDENTITY"
        .parse::<ConnectOptions>()
        .unwrap();
}

#[test]
fn debug_never_shows_the_password() {
    let options: ConnectOptions = "tidb://app:s3cr3t-pw@tidb-0:4000,tidb-1:4000/shop"
        .parse()
        .unwrap();
    let shown = format!("{options:?} {options:#?}");
    assert!(!shown.contains("s3cr3t"), "password in Debug: {shown}");
    assert!(
        shown.contains("tidb-1:4000") && shown.contains("shop") && shown.contains("app"),
        "{shown}"
    );
}

#[test]
fn redact_masks_only_the_password() {
    assert_eq!(redact("tidb://u:pw@a,b/db?x=1"), "tidb://u:***@a,b/db?x=1");
    assert_eq!(redact("mysql://root@h/db"), "mysql://root@h/db");
    assert_eq!(redact("not a url"), "not a url");
    assert_eq!(redact("mysql://[::1]:3306/db"), "mysql://[::1]:3306/db");
}

/// The four malformed URLs that printed their password (an unencoded `/` or `?` in it, one
/// slash after the scheme, no scheme), and a password whose `@host` is missing.
#[test]
fn malformed_urls_never_print_their_password() {
    let cases = [
        ("mysql://u:pa/Zq7SECRETpw@h/db", "`@` after the host list"),
        ("mysql://u:pa?Zq7SECRETpw@h/db", "`@` after the host list"),
        ("mysql://u:pa#Zq7SECRETpw@h/db", "`@` after the host list"),
        ("mysql:/u:Zq7SECRETpw@h/db", "expected `mysql://`"),
        ("u:Zq7SECRETpw@h/db", "expected `mysql://`"),
        ("mysql://u:Zq7SECRETpw/db", "bad port after `u:`"),
        ("mysql://u:Zq7SECRETpw", "bad port after `u:`"),
    ];
    for (url, want) in cases {
        let msg = err(url);
        assert!(msg.contains(want), "{url}: {msg}");
        for fragment in ["Zq7", "SECRET", "pa/", "pa?"] {
            assert!(!msg.contains(fragment), "{url}: `{fragment}` leaked: {msg}");
        }
        let debug = format!("{:?}", url.parse::<ConnectOptions>().unwrap_err());
        assert!(!debug.contains("SECRET"), "{debug}");
    }
}

/// Accepted URLs with what they mean, like libpq's and Connector/J's URL tables.
#[test]
fn the_url_grammar_accepts() {
    let cases: [(&str, &[&str], &str, Option<&str>); 8] = [
        (
            "mysql://root@127.0.0.1/test",
            &["127.0.0.1:3306"],
            "root",
            Some("test"),
        ),
        (
            "tidb://app@a,b:4001/shop",
            &["a:4000", "b:4001"],
            "app",
            Some("shop"),
        ),
        ("mysql://root@[::1]/db", &["[::1]:3306"], "root", Some("db")),
        (
            "mysql://root@[::1]:4000/db",
            &["[::1]:4000"],
            "root",
            Some("db"),
        ),
        (
            "tidb://app@[fe80::1]:4000,h/x",
            &["[fe80::1]:4000", "h:4000"],
            "app",
            Some("x"),
        ),
        ("mysql://root@h", &["h:3306"], "root", None),
        ("mysql://root@h/", &["h:3306"], "root", None),
        (
            "mysql://us%40er:p%2Fw%3F%23%40@h/d%2Db",
            &["h:3306"],
            "us@er",
            Some("d-b"),
        ),
    ];
    for (url, names, user, database) in cases {
        let o: ConnectOptions = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(o.endpoint_names(), names, "{url}");
        assert_eq!(o.user(), user, "{url}");
        assert_eq!(o.database(), database, "{url}");
    }
    let o: ConnectOptions = "mysql://u:p%2Fw%3F%23%40@h/db".parse().unwrap();
    assert_eq!(o.endpoints[0].get_host(), "h");
    let o: ConnectOptions = "mysql://u:a@b@h/db".parse().unwrap();
    assert_eq!(
        o.endpoint_names(),
        ["h:3306"],
        "the secret ends at the last `@`"
    );
}

/// Refused URLs with their messages.
#[test]
fn the_url_grammar_refuses() {
    let cases = [
        (
            "mysql://root@h:0/db",
            "bad port `0` for `h`: use 1 to 65535",
        ),
        ("mysql://root@h:65536/db", "bad port `65536`"),
        ("mysql://root@::1/db", "an IPv6 address goes in brackets"),
        ("mysql://root@[::1/db", "`[` without `]`"),
        ("mysql://root@[::1]x/db", "expected `:port` after `]`"),
        ("mysql://root@[zz]/db", "not an IPv6 address"),
        (
            "mysql://root@a:4000,A:4000/db",
            "endpoint `A:4000` is listed twice",
        ),
        (
            "tidb://root@a,a:4000/db",
            "endpoint `a:4000` is listed twice",
        ),
        ("mysql://root@my host/db", "host `my host` may hold only"),
        (
            "mysql://root@h/db/extra",
            "database name `db/extra` may not contain `/`",
        ),
        ("mysql://root@h/d%2Fb", "may not contain `/`"),
        ("mysql://root@h/db#x", "fragment"),
        (
            "mysql://root@h/db?ssl-ca=/a@b.pem",
            "`@` in option values (%40)",
        ),
        (
            "mysql://root@h/db?max-connections=2&max-connections=3",
            "`max-connections` is given twice",
        ),
        (
            "mysql://root@h/db?ssl-mode=DISABLED&sslmode=REQUIRED",
            "`sslmode` is given twice",
        ),
        ("mysql://root@h/db?max-connections=10001", "from 0 to 10000"),
        (
            "mysql://root@h/db?acquire-timeout=0",
            "`acquire-timeout` must be more than zero",
        ),
        ("mysql://root@h/db?idle-timeout=0ms", "more than zero"),
        (
            "mysql://root@h/db?attempt-timeout=4294967295",
            "at most 24 h",
        ),
        ("mysql://root@h/db?retry-budget=86401", "at most 24 h"),
        (
            "mysql://root@h/db?max-lifetime=99999999999999999999",
            "at most 24 h",
        ),
        (
            "mysql://u:%zz@h/db",
            "password is not valid percent-encoded",
        ),
    ];
    for (url, want) in cases {
        let msg = err(url);
        assert!(msg.contains(want), "{url}: {msg}");
    }
    "mysql://root@h/db?attempt-timeout=86400&set.a=1&set.b=2"
        .parse::<ConnectOptions>()
        .unwrap();
}

proptest::proptest! {
    /// Whatever a URL with a secret password looks like — reserved characters unencoded, the
    /// scheme mangled, hosts and options of every kind — no error, `Debug` or `Display` of the
    /// parse result holds any part of the secret. The secret's letters (`ZQX`) appear nowhere
    /// else in the generated URLs, so even a three-letter fragment is a leak.
    #[test]
    fn no_error_or_debug_holds_the_secret(
        scheme in proptest::sample::select(vec!["mysql://", "tidb://", "mysql:/", "mysql:", "", "postgres://", "tidb:///"]),
        user in "[a-z]{0,4}",
        pieces in proptest::collection::vec(
            proptest::sample::select(vec!["ZQX", "ZQXZQX", "/", "?", "#", "@", ":", ",", "%", "%2F", "&", "=", " ", "[", "]", "9"]),
            1..8,
        ),
        hosts in proptest::sample::select(vec!["h", "h:4000", "a,b", "[::1]", "[::1]:1", "", "h:x", "a,a"]),
        path in proptest::sample::select(vec!["", "/", "/db", "/db/x", "/d@b"]),
        query in proptest::sample::select(vec!["", "?max-connections=3", "?x", "?a@b=1", "?ssl-mode=NOPE", "?acquire-timeout=0"]),
    ) {
        let password: String = pieces.concat();
        let url = format!("{scheme}{user}:{password}@{hosts}{path}{query}");
        let shown = match url.parse::<ConnectOptions>() {
            Ok(options) => format!("{options:?} {options:#?}"),
            Err(e) => format!("{e} {e:?} {:?}", std::error::Error::source(&e)),
        };
        proptest::prop_assert!(!shown.contains("ZQX"), "{} leaked: {}", url, shown);
        let redacted = redact(&url);
        proptest::prop_assert!(!redacted.contains("ZQX"), "{} redacted as {}", url, redacted);
    }
}
