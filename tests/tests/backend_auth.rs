//! The proxy's login to its backends with `caching_sha2_password`: full authentication through the RSA public-key
//! exchange on the first connection, the fast path on later ones, and a refused login reported to the client.
//!
//! MariaDB has no `caching_sha2_password` server plugin, so the backend here is a second Shardgate proxy whose user
//! requires that plugin (its server side is checked against independent clients in the other test files).

use mysql_async::prelude::*;
use shardgate_tests::{keyspaces_map, unsharded_map, MariaDb, Proxy, ProxyConfig};

fn map_to(addr: &str) -> String {
    keyspaces_map(1, &[("app", addr)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_login_with_caching_sha2_full_then_fast() {
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app").await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20))").await;
    db.exec("INSERT INTO app.t VALUES (1, 'one'), (2, 'two')").await;
    let inner = Proxy::start(ProxyConfig::new(unsharded_map("app", &db)).user_with_plugin(
        "inner",
        "inner-secret",
        "caching_sha2_password",
    ))
    .await;
    let outer = Proxy::start(
        ProxyConfig::new(map_to(&inner.classic_addr()))
            .backend_login("inner", "inner-secret")
            .user("app", "app-secret"),
    )
    .await;

    // Two sessions each hold a backend connection (open transactions), so the outer proxy logs in twice, one
    // after the other: the first login populates the inner proxy's cache, the second takes the fast path.
    let mut a = outer.conn("app", "app-secret", Some("app")).await;
    a.query_drop("BEGIN").await.unwrap();
    let v: Option<String> = a.query_first("SELECT v FROM t WHERE id = 1").await.unwrap();
    assert_eq!(v.as_deref(), Some("one"));
    let mut b = outer.conn("app", "app-secret", Some("app")).await;
    b.query_drop("BEGIN").await.unwrap();
    let v: Option<String> = b.query_first("SELECT v FROM t WHERE id = 2").await.unwrap();
    assert_eq!(v.as_deref(), Some("two"));
    a.query_drop("COMMIT").await.unwrap();
    b.query_drop("COMMIT").await.unwrap();

    let log = outer.log();
    assert!(
        log.contains("caching_sha2_password (full authentication, RSA)"),
        "no full authentication in:\n{log}"
    );
    assert!(
        log.contains("caching_sha2_password (fast path)"),
        "no fast-path login in:\n{log}"
    );
    drop(a);
    drop(b);

    // A wrong backend password is a clear error for the client, not a hang.
    let bad = Proxy::start(
        ProxyConfig::new(map_to(&inner.classic_addr()))
            .backend_login("inner", "wrong")
            .user("app", "app-secret"),
    )
    .await;
    // mysql_async runs a query while connecting, so the refusal may surface at connect or at the first query.
    let err = match bad.try_conn("app", "app-secret", Some("app")).await {
        Err(e) => e,
        Ok(mut c) => c.query_drop("SELECT 1").await.unwrap_err(),
    };
    match err {
        mysql_async::Error::Server(e) => {
            assert_eq!(e.code, 1429, "{e:?}");
            assert!(e.message.contains("Access denied"), "{e:?}");
        }
        other => panic!("expected a server error, got {other:?}"),
    }
}
