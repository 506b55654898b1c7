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
        ("tidb://u:pw@h/db?ssl-mode=SOMETIMES", "endpoint `h`"),
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
}
