//! Operating a real `shardgate-proxy`: shard-map reloads on SIGHUP (refused when broken, applied without dropping
//! connections when valid), configuration errors at start, and the admin endpoints (`/healthz`, `/metrics`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use shardgate_tests::{keyspaces_map, unsharded_map, Cluster, MariaDb, Proxy, ProxyConfig};

const USER: &str = "app";
const PASS: &str = "app-secret";
/// Bound of every wait.
const WAIT: Duration = Duration::from_secs(10);

// ----- helpers -------------------------------------------------------------------------------------------------

/// One sample of the Prometheus text format: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_metrics(body: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in body.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad metric value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                let mut labels = BTreeMap::new();
                for pair in rest.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label in {line:?}"));
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (name.to_string(), labels)
            }
        };
        out.push(Sample { name, labels, value });
    }
    out
}

/// The value of the series `name` whose labels include `labels`, if exactly one matches.
fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} matches several series: {matching:?}"
    );
    matching.first().map(|s| s.value)
}

async fn scrape(proxy: &Proxy) -> Vec<Sample> {
    parse_metrics(&proxy.metrics().await)
}

/// Polls `/metrics` (bounded) until `name{labels}` satisfies `ok`; returns the last value seen.
async fn wait_for_metric(proxy: &Proxy, name: &str, labels: &[(&str, &str)], ok: impl Fn(f64) -> bool) -> f64 {
    let mut last = None;
    for _ in 0..200 {
        last = metric(&scrape(proxy).await, name, labels);
        if last.is_some_and(&ok) {
            return last.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} {labels:?} never reached the expected value; last seen {last:?}");
}

async fn scalar<T: mysql_async::prelude::FromValue + Send + 'static>(conn: &mut Conn, sql: &str) -> T {
    let row: Option<T> = tokio::time::timeout(WAIT, conn.query_first(sql))
        .await
        .unwrap_or_else(|_| panic!("`{sql}` hangs"))
        .unwrap_or_else(|e| panic!("`{sql}` through the proxy: {e}"));
    row.unwrap_or_else(|| panic!("`{sql}` returned no row"))
}

/// Writes `yaml` as the shard map, sends SIGHUP, and waits until the reload counter for `outcome` reaches `count`.
async fn reload(proxy: &mut Proxy, yaml: &str, outcome: &str, count: f64) {
    proxy.write_shardmap(yaml);
    proxy.sighup();
    wait_for_metric(
        proxy,
        "shardgate_shardmap_reloads_total",
        &[("outcome", outcome)],
        |v| v == count,
    )
    .await;
}

#[track_caller]
fn assert_no_panic(proxy: &Proxy) {
    assert!(
        !proxy.log().contains("panicked"),
        "the proxy panicked:\n{}",
        proxy.log_tail(60)
    );
}

// ----- SIGHUP ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn sighup_refuses_broken_maps_and_applies_valid_ones_without_dropping_connections() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster[0], &cluster[1]);
    a.exec("CREATE DATABASE app; CREATE TABLE app.t (v VARCHAR(10)); INSERT INTO app.t VALUES ('on a')")
        .await;
    b.exec("CREATE DATABASE app; CREATE TABLE app.t (v VARCHAR(10)); INSERT INTO app.t VALUES ('on b')")
        .await;
    b.exec("CREATE DATABASE extra; CREATE TABLE extra.e (x INT); INSERT INTO extra.e VALUES (42)")
        .await;
    let v5 = keyspaces_map(5, &[("app", &a.addr())]);
    let mut proxy = Proxy::start(ProxyConfig::new(v5.clone()).user(USER, PASS)).await;
    let samples = scrape(&proxy).await;
    assert_eq!(metric(&samples, "shardgate_shardmap_version", &[]), Some(5.0));

    let mut open = proxy.conn(USER, PASS, Some("app")).await;
    assert_eq!(scalar::<String>(&mut open, "SELECT v FROM t").await, "on a");

    let broken: Vec<(&str, String, &str)> = vec![
        (
            "invalid YAML",
            "version: 6\ncells: [dc1\nkeyspaces: {".to_string(),
            "shardmap",
        ),
        (
            "unknown key",
            v5.replace("version: 5", "version: 6")
                .replace("sharded: false", "sharded: false\n    colour: blue"),
            "colour",
        ),
        (
            "cell not in cells",
            v5.replace("version: 5", "version: 6").replace("cell: dc1", "cell: dc9"),
            "keyspaces.app.shards[0].cell",
        ),
        (
            "bad primary address",
            v5.replace("version: 5", "version: 6")
                .replace(&a.addr(), "not-an-address"),
            "keyspaces.app.shards[0].primary",
        ),
        (
            "lower version",
            keyspaces_map(4, &[("app", &a.addr()), ("extra", &b.addr())]),
            "version 4",
        ),
        ("empty file", String::new(), "shardmap"),
    ];
    for (i, (what, yaml, key)) in broken.iter().enumerate() {
        reload(&mut proxy, yaml, "refused", (i + 1) as f64).await;
        let log = proxy.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("reload refused"))
            .unwrap_or_else(|| panic!("{what}: no refusal logged"));
        assert!(
            line.contains("shardmap.yaml"),
            "{what}: the refusal does not name the file: {line}"
        );
        assert!(line.contains(key), "{what}: the refusal does not name {key:?}: {line}");

        // The old map stays in force, for the open connection and for new ones.
        let samples = scrape(&proxy).await;
        assert_eq!(metric(&samples, "shardgate_shardmap_version", &[]), Some(5.0), "{what}");
        assert_eq!(scalar::<String>(&mut open, "SELECT v FROM t").await, "on a", "{what}");
        let mut fresh = proxy.conn(USER, PASS, Some("app")).await;
        assert_eq!(scalar::<String>(&mut fresh, "SELECT v FROM t").await, "on a", "{what}");
        let dbs: Vec<String> = fresh.query("SHOW DATABASES").await.unwrap();
        assert_eq!(dbs, vec!["app", "information_schema"], "{what}");
        fresh.disconnect().await.unwrap();
        assert_eq!(proxy.http_get("/healthz").await.status, 200, "{what}");
    }
    // A map file that disappeared is refused too.
    std::fs::remove_file(proxy.shardmap_path()).unwrap();
    proxy.sighup();
    let refused = (broken.len() + 1) as f64;
    wait_for_metric(
        &proxy,
        "shardgate_shardmap_reloads_total",
        &[("outcome", "refused")],
        |v| v == refused,
    )
    .await;
    assert_eq!(
        scalar::<String>(&mut open, "SELECT v FROM t").await,
        "on a",
        "map file removed"
    );
    let samples = scrape(&proxy).await;
    assert!(
        metric(&samples, "shardgate_shardmap_reloads_total", &[("outcome", "ok")]).unwrap_or(0.0) == 0.0,
        "a broken map counted as a successful reload"
    );

    // A valid map adding keyspace `extra` on the second server, while a statement is in flight.
    let mut sleeper = proxy.conn(USER, PASS, Some("app")).await;
    let in_flight = tokio::spawn(async move {
        let r: Result<Option<i64>, _> = sleeper.query_first("SELECT SLEEP(2)").await;
        (sleeper, r)
    });
    let running = a.wait_for_statement("SELECT SLEEP(2)", Duration::from_secs(4)).await;
    assert!(running.is_some(), "SELECT SLEEP(2) never showed up on the backend");
    reload(
        &mut proxy,
        &keyspaces_map(6, &[("app", &a.addr()), ("extra", &b.addr())]),
        "ok",
        1.0,
    )
    .await;
    assert_eq!(
        metric(&scrape(&proxy).await, "shardgate_shardmap_version", &[]),
        Some(6.0)
    );
    assert!(proxy.log().contains("shard map reloaded"), "no reload logged");
    let dbs: Vec<String> = open.query("SHOW DATABASES").await.unwrap();
    assert_eq!(dbs, vec!["app", "extra", "information_schema"]);
    open.query_drop("USE extra")
        .await
        .expect("USE a keyspace added by the reload");
    assert_eq!(scalar::<i32>(&mut open, "SELECT x FROM e").await, 42);
    assert_eq!(scalar::<u16>(&mut open, "SELECT @@port").await, b.port());
    open.query_drop("USE app").await.unwrap();
    assert_eq!(scalar::<String>(&mut open, "SELECT v FROM t").await, "on a");
    let (mut sleeper, r) = tokio::time::timeout(WAIT, in_flight)
        .await
        .expect("in-flight statement hangs")
        .unwrap();
    assert_eq!(r.expect("statement in flight during the reload"), Some(0));
    assert_eq!(scalar::<String>(&mut sleeper, "SELECT v FROM t").await, "on a");
    let mut new = proxy.conn(USER, PASS, Some("extra")).await;
    assert_eq!(scalar::<i32>(&mut new, "SELECT x FROM e").await, 42);

    // Moving keyspace `app` to the second server (a failover done by map): unpinned sessions follow.
    reload(
        &mut proxy,
        &keyspaces_map(7, &[("app", &b.addr()), ("extra", &b.addr())]),
        "ok",
        2.0,
    )
    .await;
    assert_eq!(scalar::<String>(&mut open, "SELECT v FROM t").await, "on b");
    assert_eq!(scalar::<String>(&mut sleeper, "SELECT v FROM t").await, "on b");

    // Removing keyspace `extra`: it disappears; a session using it gets "unknown database" and can move on.
    reload(&mut proxy, &keyspaces_map(8, &[("app", &b.addr())]), "ok", 3.0).await;
    let dbs: Vec<String> = open.query("SHOW DATABASES").await.unwrap();
    assert_eq!(dbs, vec!["app", "information_schema"]);
    let e = new.query_drop("SELECT x FROM e").await.unwrap_err();
    match e {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1049, "{e:?}"),
        other => panic!("statement in a removed keyspace: {other:?}"),
    }
    new.query_drop("USE app").await.unwrap();
    assert_eq!(scalar::<String>(&mut new, "SELECT v FROM t").await, "on b");
    // The same version again is accepted (versions must not go backwards; equal is not backwards).
    reload(&mut proxy, &keyspaces_map(8, &[("app", &b.addr())]), "ok", 4.0).await;
    for c in [open, sleeper, new] {
        c.disconnect().await.unwrap();
    }
    assert!(proxy.is_running());
    assert_no_panic(&proxy);
}

// ----- bad configuration at start ------------------------------------------------------------------------------

/// A `proxy.toml` with every required key, listening where the harness says, serving `shardmap.yaml`.
fn good_toml(extra_proxy: &str, rest: &str) -> String {
    format!(
        "[proxy]\ncell = \"dc1\"\nclassic_listen = \"{{classic_listen}}\"\nadmin_listen = \"{{admin_listen}}\"\n{extra_proxy}\n\
         [backend]\nuser = \"root\"\npassword = \"\"\n\n\
         [[users]]\nname = \"app\"\npassword = \"pw\"\n\n\
         [shardmap]\nfile = \"shardmap.yaml\"\n{rest}"
    )
}

#[tokio::test]
async fn bad_configuration_or_map_at_start_is_refused_naming_file_and_key() {
    // Nothing connects to the backend at start, so no server is needed.
    let good_map = "version: 1\ncells: [dc1]\nkeyspaces:\n  app:\n    sharded: false\n    shards:\n      - name: \"0\"\n        cell: dc1\n        primary: 127.0.0.1:9\n";
    // Sanity: the good pair starts.
    let proxy = Proxy::try_start(ProxyConfig::new(good_map).raw_toml(good_toml("", "")))
        .await
        .expect("the reference configuration starts");
    drop(proxy);

    let cases: Vec<(&str, ProxyConfig, &[&str])> = vec![
        (
            "user without a password",
            ProxyConfig::new(good_map).raw_toml(good_toml("", "").replace("password = \"pw\"\n", "")),
            &["proxy.toml", "users[0].password"],
        ),
        (
            "unknown key in [proxy]",
            ProxyConfig::new(good_map).raw_toml(good_toml("colour = \"blue\"", "")),
            &["proxy.toml", "colour"],
        ),
        (
            "bad listen address",
            ProxyConfig::new(good_map).raw_toml(good_toml("", "").replace("{classic_listen}", "nowhere")),
            &["proxy.toml", "classic_listen"],
        ),
        (
            "no users",
            ProxyConfig::new(good_map)
                .raw_toml(good_toml("", "").replace("[[users]]\nname = \"app\"\npassword = \"pw\"\n", "")),
            &["proxy.toml", "users"],
        ),
        (
            "bad password hash",
            ProxyConfig::new(good_map)
                .raw_toml(good_toml("", "").replace("password = \"pw\"", "password_hash = \"*1234\"")),
            &["proxy.toml", "users[0].password_hash"],
        ),
        (
            "pool.max_open = 0",
            ProxyConfig::new(good_map).raw_toml(good_toml("", "\n[pool]\nmax_open = 0\n")),
            &["proxy.toml", "pool.max_open"],
        ),
        (
            "unknown auth plugin",
            ProxyConfig::new(good_map).raw_toml(
                good_toml("", "").replace("password = \"pw\"", "password = \"pw\"\nauth_plugin = \"ed25519\""),
            ),
            &["proxy.toml", "auth_plugin"],
        ),
        (
            "missing TLS certificate",
            ProxyConfig::new(good_map).raw_toml(good_toml(
                "",
                "\n[tls]\ncert = \"missing.pem\"\nkey = \"missing.key\"\n",
            )),
            &["proxy.toml", "tls.cert", "missing.pem"],
        ),
        (
            "bad primary address in the map",
            ProxyConfig::new(good_map.replace("127.0.0.1:9", "not-an-address")).raw_toml(good_toml("", "")),
            &["shardmap.yaml", "keyspaces.app.shards[0].primary"],
        ),
        (
            "cell not in cells",
            ProxyConfig::new(good_map.replace("cell: dc1", "cell: dc2")).raw_toml(good_toml("", "")),
            &["shardmap.yaml", "keyspaces.app.shards[0].cell"],
        ),
        (
            "unknown key in the map",
            ProxyConfig::new(good_map.replace("sharded: false", "sharded: false\n    weight: 3"))
                .raw_toml(good_toml("", "")),
            &["shardmap.yaml", "weight"],
        ),
        (
            "invalid YAML",
            ProxyConfig::new("cells: [dc1\n").raw_toml(good_toml("", "")),
            &["shardmap.yaml"],
        ),
        (
            "missing map file",
            ProxyConfig::new(good_map)
                .raw_toml(good_toml("", "").replace("file = \"shardmap.yaml\"", "file = \"nope.yaml\"")),
            &["nope.yaml"],
        ),
        (
            "reserved keyspace name",
            ProxyConfig::new(good_map.replace("  app:", "  mysql:")).raw_toml(good_toml("", "")),
            &["shardmap.yaml", "keyspaces.mysql"],
        ),
    ];
    for (what, cfg, needles) in cases {
        let err = match Proxy::try_start(cfg).await {
            Ok(_) => panic!("{what}: the proxy started"),
            Err(e) => e,
        };
        assert!(err.contains("exited with exit status: "), "{what}: did not exit: {err}");
        assert!(!err.contains("exit status: 0"), "{what}: exit status 0: {err}");
        let log = err.split("--- log ---").nth(1).unwrap_or_default();
        for needle in needles {
            assert!(
                log.contains(needle),
                "{what}: the error does not name {needle:?}:\n{log}"
            );
        }
        assert!(!log.contains("panicked"), "{what}: the proxy panicked:\n{log}");
    }
}

/// `proxy.toml: <key>: <message>`: a value of the wrong type or an unknown enum value names the key it belongs to.
#[tokio::test]
async fn type_errors_in_proxy_toml_name_the_key() {
    let good_map = "cells: [dc1]\nkeyspaces:\n  app:\n    shards:\n      - name: \"0\"\n        cell: dc1\n        primary: 127.0.0.1:9\n";
    let cases = [
        (
            good_toml("", "").replace("password = \"pw\"", "password = \"pw\"\nauth_plugin = \"ed25519\""),
            "proxy.toml: users[0].auth_plugin: ",
        ),
        (
            good_toml("", "").replace("{classic_listen}", "nowhere"),
            "proxy.toml: proxy.classic_listen: ",
        ),
        (
            good_toml("max_connections = \"many\"", ""),
            "proxy.toml: proxy.max_connections: ",
        ),
    ];
    for (toml, want) in cases {
        let err = match Proxy::try_start(ProxyConfig::new(good_map).raw_toml(toml)).await {
            Ok(_) => panic!("{want}: the proxy started"),
            Err(e) => e,
        };
        assert!(err.contains(want), "expected {want:?} in:\n{err}");
    }
}

/// Shard-map reloads while clients run statements: no statement fails, every reload is applied.
#[tokio::test]
async fn reloads_under_load_do_not_disturb_statements() {
    const RELOADS: u64 = 15;
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app; CREATE DATABASE other").await;
    let mut proxy = Proxy::start(ProxyConfig::new(keyspaces_map(1, &[("app", &db.addr())])).user(USER, PASS)).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opts = proxy.opts(USER, PASS);
    let mut clients = Vec::new();
    for i in 0..6 {
        let (opts, stop) = (opts.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut c = Conn::new(opts.db_name(Some("app"))).await.unwrap();
            let mut n = 0u64;
            for j in 0..100_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let v: i64 = scalar(&mut c, &format!("SELECT {i} + {j}")).await;
                assert_eq!(v, i + j);
                n += 1;
            }
            c.disconnect().await.unwrap();
            n
        }));
    }
    for v in 2..2 + RELOADS {
        // Alternate between one and two keyspaces.
        let yaml = if v % 2 == 0 {
            keyspaces_map(v, &[("app", &db.addr()), ("other", &db.addr())])
        } else {
            keyspaces_map(v, &[("app", &db.addr())])
        };
        reload(&mut proxy, &yaml, "ok", (v - 1) as f64).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statements = 0;
    for c in clients {
        statements += c.await.unwrap();
    }
    assert!(statements > 0);
    assert_eq!(
        metric(&scrape(&proxy).await, "shardgate_shardmap_version", &[]),
        Some((1 + RELOADS) as f64)
    );
    assert_no_panic(&proxy);
}

// ----- backend pool --------------------------------------------------------------------------------------------

/// Ids of the backend connections the proxy has open on `db` (every root connection but the asking one).
async fn proxy_threads(db: &MariaDb) -> Vec<u64> {
    db.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'root' AND ID <> CONNECTION_ID() ORDER BY ID")
        .await
}

/// Runs `n` statements at once through `n` sessions, so the pool opens `n` connections.
async fn open_n_backend_connections(proxy: &Proxy, n: usize) {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(proxy.conn(USER, PASS, Some("app")).await);
    }
    let mut tasks = Vec::new();
    for mut c in conns {
        tasks.push(tokio::spawn(async move {
            let v: i64 = scalar(&mut c, "SELECT SLEEP(0.3)").await;
            assert_eq!(v, 0);
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn pool_keeps_min_idle_closes_idle_connections_and_skips_dead_ones() {
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app").await;
    let backend = db.addr();
    let cfg = ProxyConfig::new(unsharded_map("app", &db))
        .user(USER, PASS)
        .pool(shardgate_tests::PoolSettings {
            min_idle: Some(2),
            max_open: Some(8),
            idle_timeout_ms: Some(400),
            ..Default::default()
        });
    let proxy = Proxy::start(cfg).await;
    let open = [("backend", backend.as_str())];

    // The pool exists once used; then it keeps min_idle connections open.
    let mut c = proxy.conn(USER, PASS, Some("app")).await;
    let _: i32 = scalar(&mut c, "SELECT 1").await;
    c.disconnect().await.unwrap();
    wait_for_metric(&proxy, "shardgate_backend_connections_idle", &open, |v| v == 2.0).await;

    // A burst opens more; once idle longer than idle_timeout_ms they are closed down to min_idle.
    open_n_backend_connections(&proxy, 6).await;
    let peak = metric(&scrape(&proxy).await, "shardgate_backend_connections_open", &open).unwrap();
    assert!(
        peak >= 6.0,
        "a burst of 6 concurrent statements opened only {peak} connections"
    );
    wait_for_metric(&proxy, "shardgate_backend_connections_open", &open, |v| v == 2.0).await;
    wait_for_metric(&proxy, "shardgate_backend_connections_idle", &open, |v| v == 2.0).await;
    // The backend agrees (bounded poll: closed connections leave its process list asynchronously).
    let mut threads = Vec::new();
    for _ in 0..200 {
        threads = proxy_threads(&db).await;
        if threads.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(threads.len(), 2, "backend connections of the proxy: {threads:?}");

    // Pooled connections killed on the backend are not handed to statements.
    for id in &threads {
        db.exec(&format!("KILL {id}")).await;
    }
    for _ in 0..200 {
        if proxy_threads(&db).await.iter().all(|t| !threads.contains(t)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Let the FINs arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..3 {
        let mut c = proxy.conn(USER, PASS, Some("app")).await;
        let v: i32 = scalar(&mut c, &format!("SELECT {i}")).await;
        assert_eq!(v, i);
        c.disconnect().await.unwrap();
    }
    wait_for_metric(&proxy, "shardgate_backend_connections_idle", &open, |v| v == 2.0).await;
    let now = proxy_threads(&db).await;
    assert!(
        now.iter().all(|t| !threads.contains(t)),
        "killed connections still listed: {now:?}"
    );
    assert_no_panic(&proxy);
}

// ----- admin endpoints -----------------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_and_metrics() {
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app").await;
    let backend = db.addr();
    let proxy = Proxy::start(ProxyConfig::new(unsharded_map("app", &db)).user(USER, PASS)).await;

    let health = proxy.http_get("/healthz").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(health.body.contains("version 1"), "{}", health.body);
    assert_eq!(proxy.http_get("/no-such-page").await.status, 404);

    let samples = scrape(&proxy).await;
    assert_eq!(metric(&samples, "shardgate_shardmap_version", &[]), Some(1.0));
    assert_eq!(metric(&samples, "shardgate_client_connections", &[]), Some(0.0));
    let query_ok = |s: &[Sample]| {
        metric(
            s,
            "shardgate_statements_total",
            &[("command", "query"), ("outcome", "ok")],
        )
        .unwrap_or(0.0)
    };
    let query_err = |s: &[Sample]| {
        metric(
            s,
            "shardgate_statements_total",
            &[("command", "query"), ("outcome", "error")],
        )
        .unwrap_or(0.0)
    };

    let mut a = proxy.conn(USER, PASS, Some("app")).await;
    let mut b = proxy.conn(USER, PASS, Some("app")).await;
    wait_for_metric(&proxy, "shardgate_client_connections", &[], |v| v == 2.0).await;
    let total = metric(&scrape(&proxy).await, "shardgate_client_connections_total", &[]).unwrap();
    assert!(total >= 2.0);

    // Statements are counted by command and outcome.
    let before = scrape(&proxy).await;
    for i in 0..10 {
        let v: Option<i32> = a.query_first(format!("SELECT {i}")).await.unwrap();
        assert_eq!(v, Some(i));
    }
    let ok_target = query_ok(&before) + 10.0;
    wait_for_metric(
        &proxy,
        "shardgate_statements_total",
        &[("command", "query"), ("outcome", "ok")],
        |v| v >= ok_target,
    )
    .await;
    assert!(a.query_drop("SELECT * FROM missing").await.is_err());
    let err_target = query_err(&before) + 1.0;
    wait_for_metric(
        &proxy,
        "shardgate_statements_total",
        &[("command", "query"), ("outcome", "error")],
        |v| v >= err_target,
    )
    .await;
    let after = scrape(&proxy).await;
    assert_eq!(query_ok(&after), ok_target, "exactly the ten statements were counted");
    assert_eq!(query_err(&after), err_target);
    let prepare_before = metric(
        &after,
        "shardgate_statements_total",
        &[("command", "prepare"), ("outcome", "ok")],
    )
    .unwrap_or(0.0);
    let v: Option<i64> = b.exec_first("SELECT ? * 2", (21,)).await.unwrap();
    assert_eq!(v, Some(42));
    wait_for_metric(
        &proxy,
        "shardgate_statements_total",
        &[("command", "prepare"), ("outcome", "ok")],
        |v| v > prepare_before,
    )
    .await;
    wait_for_metric(
        &proxy,
        "shardgate_statements_total",
        &[("command", "execute"), ("outcome", "ok")],
        |v| v >= 1.0,
    )
    .await;
    b.ping().await.unwrap();
    wait_for_metric(
        &proxy,
        "shardgate_statements_total",
        &[("command", "ping"), ("outcome", "ok")],
        |v| v >= 1.0,
    )
    .await;

    // Latency histogram and pool gauges are per backend.
    let s = scrape(&proxy).await;
    let count = metric(
        &s,
        "shardgate_statement_duration_seconds_count",
        &[("backend", &backend)],
    )
    .expect("statement duration histogram for the backend");
    assert!(count >= 11.0, "histogram count {count}");
    let inf = metric(
        &s,
        "shardgate_statement_duration_seconds_bucket",
        &[("backend", &backend), ("le", "+Inf")],
    )
    .expect("+Inf bucket");
    assert_eq!(inf, count);
    assert!(
        s.iter()
            .filter(|x| x.name == "shardgate_statement_duration_seconds_bucket" && x.labels["backend"] == backend)
            .count()
            > 5,
        "histogram buckets missing"
    );
    let open = metric(&s, "shardgate_backend_connections_open", &[("backend", &backend)]).expect("open gauge");
    let idle = metric(&s, "shardgate_backend_connections_idle", &[("backend", &backend)]).expect("idle gauge");
    // b holds its connection (prepared statement); a's is back in the pool.
    assert!(open >= 1.0 && idle >= 0.0 && idle <= open, "open {open}, idle {idle}");
    // Relayed bytes grow by at least what a big result carries.
    let to_client = |s: &[Sample]| {
        metric(s, "shardgate_relayed_bytes_total", &[("direction", "to_client")]).expect("to_client bytes")
    };
    let before = to_client(&scrape(&proxy).await);
    let big: Option<String> = a.query_first("SELECT REPEAT('x', 200000)").await.unwrap();
    assert_eq!(big.map(|s| s.len()), Some(200_000));
    wait_for_metric(
        &proxy,
        "shardgate_relayed_bytes_total",
        &[("direction", "to_client")],
        |v| v >= before + 200_000.0,
    )
    .await;
    assert!(
        metric(
            &scrape(&proxy).await,
            "shardgate_relayed_bytes_total",
            &[("direction", "to_backend")]
        )
        .unwrap()
            > 0.0
    );

    // Authentication failures.
    let failures = |s: &[Sample]| metric(s, "shardgate_client_auth_failures_total", &[]).unwrap_or(0.0);
    let before = failures(&scrape(&proxy).await);
    assert!(proxy.try_conn(USER, "wrong", None).await.is_err());
    assert!(proxy.try_conn("nobody", "x", None).await.is_err());
    assert_eq!(failures(&scrape(&proxy).await), before + 2.0);

    // Disconnects bring the client gauge back down.
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    wait_for_metric(&proxy, "shardgate_client_connections", &[], |v| v == 0.0).await;

    // Many concurrent scrapes while clients run statements.
    let proxy = Arc::new(proxy);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = proxy.conn(USER, PASS, Some("app")).await;
            for j in 0..20 {
                let _ = proxy.metrics().await;
                let v: i32 = scalar(&mut c, &format!("SELECT {i} * 100 + {j}")).await;
                assert_eq!(v, i * 100 + j);
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_no_panic(&proxy);
}
