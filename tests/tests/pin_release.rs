//! Connection-local state pins a session to its backend connection only while it exists: temporary tables until
//! dropped, named locks until released, table locks until UNLOCK TABLES, SQL prepared statements until deallocated,
//! SQL_CALC_FOUND_ROWS until the next statement. With one backend connection in the pool, a second session can run
//! exactly when the first one is not pinned.

use mysql_async::prelude::*;
use shardgate_tests::{unsharded_map, MariaDb, PoolSettings, Proxy, ProxyConfig};

/// True when a second session can run a statement (the only backend connection is free).
async fn other_session_runs(proxy: &Proxy) -> bool {
    // mysql_async runs queries while connecting: a pinned pool can already refuse the connect.
    let r = match proxy.try_conn("u", "p", Some("app")).await {
        Ok(mut other) => other.query_drop("SELECT 1").await,
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => true,
        Err(mysql_async::Error::Server(e)) if e.code == 1040 => false,
        Err(e) => panic!("unexpected error from the second session: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_are_released_when_their_state_is_gone() {
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)")
        .await;
    let proxy = Proxy::start(
        ProxyConfig::new(unsharded_map("app", &db))
            .user("u", "p")
            .pool(PoolSettings {
                max_open: Some(1),
                checkout_timeout_ms: Some(300),
                ..Default::default()
            }),
    )
    .await;
    let mut c = proxy.conn("u", "p", Some("app")).await;
    assert!(other_session_runs(&proxy).await, "nothing pins at first");

    for (create, drop, what) in [
        (
            "CREATE TEMPORARY TABLE tmp1 (x INT)",
            "DROP TEMPORARY TABLE tmp1",
            "temporary table",
        ),
        ("DO GET_LOCK('job', 1)", "DO RELEASE_LOCK('job')", "named lock"),
        (
            "SELECT GET_LOCK('a', 1), GET_LOCK('b', 1)",
            "DO RELEASE_ALL_LOCKS()",
            "two named locks",
        ),
        ("LOCK TABLES t READ", "UNLOCK TABLES", "table lock"),
        (
            "PREPARE s1 FROM 'SELECT 1'",
            "DEALLOCATE PREPARE s1",
            "SQL prepared statement",
        ),
    ] {
        c.query_drop(create).await.unwrap();
        assert!(
            !other_session_runs(&proxy).await,
            "{what}: the session is pinned while it exists"
        );
        c.query_drop(drop).await.unwrap();
        assert!(
            other_session_runs(&proxy).await,
            "{what}: the pin is released once it is gone"
        );
    }

    // Two temporary tables: dropping one keeps the pin.
    c.query_drop("CREATE TEMPORARY TABLE a1 (x INT)").await.unwrap();
    c.query_drop("CREATE TEMPORARY TABLE a2 (x INT)").await.unwrap();
    c.query_drop("DROP TEMPORARY TABLE a1").await.unwrap();
    assert!(!other_session_runs(&proxy).await, "a2 still exists");
    c.query_drop("DROP TEMPORARY TABLE IF EXISTS a2").await.unwrap();
    assert!(other_session_runs(&proxy).await);

    // SQL_CALC_FOUND_ROWS: FOUND_ROWS() on the next statement is the server's count, then the pin goes.
    c.query_drop("INSERT INTO t VALUES (1), (2), (3)").await.unwrap();
    let _: Vec<i32> = c.query("SELECT SQL_CALC_FOUND_ROWS id FROM t LIMIT 1").await.unwrap();
    let found: Option<u64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
    assert_eq!(found, Some(3));
    assert!(
        other_session_runs(&proxy).await,
        "released after the statement that may read FOUND_ROWS()"
    );

    // User variables stay pinned (their end is not visible) until the session is reset.
    c.query_drop("SET @v = 1").await.unwrap();
    assert!(!other_session_runs(&proxy).await);
    c.reset().await.unwrap();
    assert!(other_session_runs(&proxy).await, "COM_RESET_CONNECTION ends every pin");
}
