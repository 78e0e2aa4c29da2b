//! GTID replication between harness servers: attach a replica, wait for a GTID, read status, promote.
//!
//! Follows the recipe verified on this machine (see `ENVIRONMENT.md`): the replica is made `read_only`, pointed at
//! the primary with `MASTER_USE_GTID=slave_pos` and `MASTER_CONNECT_RETRY=1` as `root` with an empty password, and
//! started; `MASTER_GTID_WAIT` tells when a GTID has been applied.

use std::time::{Duration, Instant};

use mysql_async::Row;

use crate::mariadb::MariaDb;

/// How long a replica may take to have both replication threads running.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);

/// The parts of `SHOW SLAVE STATUS` tests look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// `Slave_IO_Running`: `Yes`, `No` or `Connecting`.
    pub io_running: String,
    /// `Slave_SQL_Running`: `Yes` or `No`.
    pub sql_running: String,
    /// `Last_IO_Error`, empty when none.
    pub last_io_error: String,
    /// `Last_SQL_Error`, empty when none.
    pub last_sql_error: String,
    /// `Gtid_IO_Pos`: the GTIDs received (not necessarily applied yet).
    pub gtid_io_pos: String,
    /// `Using_Gtid`: `No`, `Slave_Pos` or `Current_Pos`.
    pub using_gtid: String,
}

impl ReplicationStatus {
    /// True when both the IO and the SQL thread run.
    pub fn is_running(&self) -> bool {
        self.io_running == "Yes" && self.sql_running == "Yes"
    }
}

impl MariaDb {
    /// Makes this server a `read_only` replica of `primary` (`MASTER_USE_GTID=slave_pos`) and waits (at most 30 s)
    /// until both replication threads run; panics with the replication status otherwise.
    ///
    /// Both servers come from the same template, so a fresh replica fetches the primary's whole binary log.
    pub async fn replicate_from(&self, primary: &MariaDb) {
        self.attach(primary, "slave_pos").await;
    }

    /// Makes this server (typically a former primary) a `read_only` replica of `primary` with
    /// `MASTER_USE_GTID=current_pos`, the way a old primary rejoins after a failover, and waits as
    /// [`MariaDb::replicate_from`] does. With `gtid_strict_mode`, a diverged server is refused: that panics.
    pub async fn rejoin(&self, primary: &MariaDb) {
        self.attach(primary, "current_pos").await;
    }

    async fn attach(&self, primary: &MariaDb, use_gtid: &str) {
        self.exec(&format!(
            "SET GLOBAL read_only=1; \
             CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', MASTER_PASSWORD='', \
             MASTER_CONNECT_RETRY=1, MASTER_USE_GTID={use_gtid}; \
             START SLAVE",
            primary.port()
        ))
        .await;
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        loop {
            let status = self.replication_status().await.unwrap_or_default();
            if status.is_running() {
                return;
            }
            let sql_failed = status.sql_running == "No" && !status.last_sql_error.is_empty();
            if sql_failed || Instant::now() > deadline {
                panic!(
                    "replica {} of {} is not replicating: {status:?}\nreplica error log:\n{}",
                    self.addr(),
                    primary.addr(),
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `SHOW SLAVE STATUS`, or `None` when this server is not a replica.
    pub async fn replication_status(&self) -> Option<ReplicationStatus> {
        let row: Row = self.query_first("SHOW SLAVE STATUS").await?;
        let text = |name: &str| -> String { row.get::<Option<String>, _>(name).flatten().unwrap_or_default() };
        Some(ReplicationStatus {
            io_running: text("Slave_IO_Running"),
            sql_running: text("Slave_SQL_Running"),
            last_io_error: text("Last_IO_Error"),
            last_sql_error: text("Last_SQL_Error"),
            gtid_io_pos: text("Gtid_IO_Pos"),
            using_gtid: text("Using_Gtid"),
        })
    }

    /// `@@gtid_current_pos`: the last GTID of each domain this server has written or applied (e.g. `0-1-42`).
    pub async fn gtid_current_pos(&self) -> String {
        self.query_first::<Option<String>>("SELECT @@GLOBAL.gtid_current_pos")
            .await
            .flatten()
            .unwrap_or_default()
    }

    /// `@@gtid_binlog_pos`: the last GTID of each domain in this server's binary log.
    pub async fn gtid_binlog_pos(&self) -> String {
        self.query_first::<Option<String>>("SELECT @@GLOBAL.gtid_binlog_pos")
            .await
            .flatten()
            .unwrap_or_default()
    }

    /// Waits until this replica has applied `gtid` (a GTID position such as `0-1-42`, as returned by
    /// [`MariaDb::gtid_current_pos`] on the primary), using `MASTER_GTID_WAIT`.
    ///
    /// Panics with the replication status if that takes longer than `timeout`.
    pub async fn wait_for_gtid(&self, gtid: &str, timeout: Duration) {
        let sql = format!(
            "SELECT MASTER_GTID_WAIT('{}', {:.3})",
            gtid.replace('\'', "''"),
            timeout.as_secs_f64()
        );
        let result: Option<Option<i64>> = self.query_first(&sql).await;
        if result.flatten() != Some(0) {
            panic!(
                "replica {} did not apply GTID {gtid} within {timeout:?}: gtid_current_pos={}, {:?}",
                self.addr(),
                self.gtid_current_pos().await,
                self.replication_status().await
            );
        }
    }

    /// Promotes this replica to primary: waits (at most `timeout`) until everything it received is applied, then
    /// `STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0`. Works while the old primary is dead.
    pub async fn promote(&self, timeout: Duration) {
        if let Some(status) = self.replication_status().await {
            self.wait_for_gtid(&status.gtid_io_pos, timeout).await;
        }
        self.exec("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0").await;
    }
}
