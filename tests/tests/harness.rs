//! Proves the harness against real MariaDB: clusters, SQL, TCP login, replication and failover, kill and restart,
//! and that nothing is left behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shardgate_tests::{free_port, unsharded_map, Cluster, MariaDb, ProxyConfig, TlsFiles};

const WAIT: Duration = Duration::from_secs(30);

/// Pids of live (non-zombie) processes whose command line mentions `needle`.
fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if cmdline.contains(&needle) && !zombie {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test]
async fn three_servers_each_run_sql_as_root_over_tcp() {
    let cluster = Cluster::start(3).await;
    assert_eq!(cluster.len(), 3);

    let mut ids = Vec::new();
    for (i, db) in cluster.iter().enumerate() {
        db.exec(&format!(
            "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20)); \
             INSERT INTO app.t VALUES (1, 'server{i}'), (2, 'two')"
        ))
        .await;
        let rows: Vec<(i32, String)> = db.query("SELECT id, v FROM app.t ORDER BY id").await;
        assert_eq!(rows, vec![(1, format!("server{i}")), (2, "two".to_string())]);

        // The login the proxy uses: root, empty password, TCP from 127.0.0.1, mysql_native_password.
        let (user, port, id): (String, u16, u32) = db
            .query_first("SELECT CURRENT_USER(), @@port, @@server_id")
            .await
            .unwrap();
        assert_eq!(user, "root@127.0.0.1");
        assert_eq!(port, db.port());
        assert_eq!(id, db.server_id());
        let plugin: Option<String> = db
            .query_first("SELECT plugin FROM mysql.user WHERE user = 'root' AND host = '127.0.0.1'")
            .await;
        assert_eq!(plugin.as_deref(), Some("mysql_native_password"));
        let (log_bin, format): (i32, String) = db.query_first("SELECT @@log_bin, @@binlog_format").await.unwrap();
        assert_eq!((log_bin, format.as_str()), (1, "ROW"));
        ids.push(id);
        assert!(db.addr().ends_with(&format!(":{}", db.port())));
        assert!(db.socket().as_os_str().len() < 108);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "server ids must be distinct");

    // A failing statement is reported, not swallowed.
    let err = cluster[0].try_exec("SELECT * FROM app.missing").await.unwrap_err();
    assert!(err.to_string().contains("doesn't exist"), "{err}");
}

#[tokio::test]
async fn replication_failover_and_rejoin() {
    let mut cluster = Cluster::start(2).await;
    cluster[1].replicate_from(&cluster[0]).await;
    let status = cluster[1].replication_status().await.unwrap();
    assert!(status.is_running(), "{status:?}");
    assert_eq!(status.using_gtid, "Slave_Pos");

    cluster[0]
        .exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1), (2)")
        .await;
    let pos = cluster[0].gtid_current_pos().await;
    assert!(!pos.is_empty());
    cluster[1].wait_for_gtid(&pos, WAIT).await;
    let ids: Vec<i32> = cluster[1].query("SELECT id FROM app.t ORDER BY id").await;
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(cluster[1].gtid_current_pos().await, pos);

    // Failover: the primary crashes, the replica takes over and accepts writes.
    cluster[0].kill();
    cluster[1].promote(WAIT).await;
    assert!(cluster[1].replication_status().await.is_none());
    cluster[1].exec("INSERT INTO app.t VALUES (3)").await;
    let new_pos = cluster[1].gtid_current_pos().await;

    // The old primary comes back and rejoins as a replica of the new one.
    cluster[0].restart().await;
    cluster[0].rejoin(&cluster[1]).await;
    cluster[0].wait_for_gtid(&new_pos, WAIT).await;
    let ids: Vec<i32> = cluster[0].query("SELECT id FROM app.t ORDER BY id").await;
    assert_eq!(ids, vec![1, 2, 3]);
}

#[tokio::test]
async fn kill_stop_and_restart_keep_port_and_data() {
    let mut db = MariaDb::start().await;
    let port = db.port();
    db.exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (7)")
        .await;
    assert!(db.is_running());

    db.kill();
    assert!(!db.is_running());
    assert!(db.pid().is_none());
    assert!(
        mysql_async::Conn::new(db.opts()).await.is_err(),
        "a killed server accepted a connection"
    );

    db.restart().await;
    assert!(db.is_running());
    assert_eq!(db.port(), port);
    let ids: Vec<i32> = db.query("SELECT id FROM app.t").await;
    assert_eq!(ids, vec![7], "a committed row survives SIGKILL");

    // A fresh connection after the restart works through the pool helper too.
    let pool = db.pool();
    let mut conn = pool.get_conn().await.unwrap();
    use mysql_async::prelude::Queryable;
    let one: Option<i32> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    drop(conn);
    pool.disconnect().await.unwrap();

    db.stop();
    assert!(!db.is_running());
    db.restart().await;
    let ids: Vec<i32> = db.query("SELECT id FROM app.t").await;
    assert_eq!(ids, vec![7]);
}

#[tokio::test]
async fn drop_leaves_no_process_and_no_directory() {
    let mut cluster = Cluster::start(3).await;
    // One of them dropped while stopped, the others while running.
    cluster[2].kill();
    let dirs: Vec<(PathBuf, PathBuf)> = cluster
        .iter()
        .map(|db| (db.dir().to_path_buf(), db.socket().parent().unwrap().to_path_buf()))
        .collect();
    for (i, (dir, _)) in dirs.iter().enumerate() {
        let expected = usize::from(i < 2);
        assert_eq!(
            processes_mentioning(dir).len(),
            expected,
            "server {i} in {}",
            dir.display()
        );
    }

    drop(cluster);

    for (dir, sock_dir) in &dirs {
        assert_eq!(
            processes_mentioning(dir),
            Vec::<u32>::new(),
            "left running: {}",
            dir.display()
        );
        assert!(!dir.exists(), "left behind: {}", dir.display());
        assert!(!sock_dir.exists(), "left behind: {}", sock_dir.display());
    }
}

#[tokio::test]
async fn drop_during_a_panicking_test_kills_the_server() {
    let handle = tokio::spawn(async {
        let db = MariaDb::start().await;
        let dir = db.dir().to_path_buf();
        // Smuggle the directory out through the panic message.
        panic!("{}", dir.display());
    });
    let panic = handle.await.unwrap_err().into_panic();
    let dir = PathBuf::from(*panic.downcast::<String>().unwrap());
    assert_eq!(processes_mentioning(&dir), Vec::<u32>::new());
    assert!(!dir.exists());
}

#[test]
fn free_ports_are_distinct_and_bindable() {
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len());
    for port in ports {
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}

#[test]
fn tls_files_are_pem() {
    let tls = TlsFiles::generate();
    let cert = std::fs::read_to_string(&tls.cert).unwrap();
    let key = std::fs::read_to_string(&tls.key).unwrap();
    let ca = std::fs::read_to_string(&tls.ca).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(ca, tls.ca_pem);
    assert_ne!(cert, ca);
    let dir = tls.dir().to_path_buf();
    drop(tls);
    assert!(!dir.exists());
}

#[tokio::test]
async fn proxy_config_points_at_the_server() {
    let db = MariaDb::start().await;
    let map = unsharded_map("app", &db);
    assert!(map.contains(&format!("primary: {}\n", db.addr())), "{map}");
    let toml = ProxyConfig::new(map)
        .user("app", "secret")
        .to_toml("127.0.0.1:1", "127.0.0.1:2");
    assert!(
        toml.contains("[[users]]\nname = \"app\"\npassword = \"secret\""),
        "{toml}"
    );
    assert!(toml.contains("[backend]\nuser = \"root\"\npassword = \"\""), "{toml}");
}

/// Helper process for [`killed_test_process_takes_its_servers_along`]; does nothing when run normally.
#[tokio::test]
#[ignore = "helper: run as a child process by killed_test_process_takes_its_servers_along"]
async fn child_process_that_gets_killed() {
    if std::env::var_os("SG_HARNESS_CHILD").is_none() {
        return;
    }
    let db = MariaDb::start().await;
    println!("READY {}", db.dir().display());
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[test]
fn killed_test_process_takes_its_servers_along() {
    let child_stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_process_that_gets_killed", "--nocapture"])
        .env("SG_HARNESS_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(child_stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(dir) = line.strip_prefix("READY ") {
                let _ = tx.send(PathBuf::from(dir));
            }
        }
    });
    let dir = rx.recv_timeout(Duration::from_secs(90)).unwrap_or_else(|e| {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = std::fs::read_to_string(child_stderr.path()).unwrap_or_default();
        panic!("the child test process never reported a server: {e}\n--- its stderr ---\n{stderr}")
    });
    assert_eq!(processes_mentioning(&dir).len(), 1, "the child's server is not running");

    child.kill().unwrap(); // SIGKILL: no Drop runs in the child
    child.wait().unwrap();

    // The kernel kills the server (PR_SET_PDEATHSIG) as the child dies; allow it a moment to be reaped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_mentioning(&dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_mentioning(&dir),
        Vec::<u32>::new(),
        "server outlived its test process"
    );

    // The child could not remove its directories; do it here rather than leave them to the next test process.
    let marker = format!("-{}-", child.id());
    for parent in [std::env::temp_dir(), PathBuf::from("/tmp")] {
        for entry in std::fs::read_dir(parent).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("sg-") && name.contains(&marker) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
