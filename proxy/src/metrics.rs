//! Prometheus metrics of the proxy (`shardgate_` prefix, base units). Hot-path handles (per-command counters,
//! byte counters) are resolved once at start so a statement touches only atomics, never a label hash map.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Command classes used as the `command` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum CommandClass {
    /// COM_QUERY
    Query,
    /// COM_STMT_PREPARE
    Prepare,
    /// COM_STMT_EXECUTE
    Execute,
    /// COM_STMT_FETCH
    Fetch,
    /// COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA
    StmtOther,
    /// COM_INIT_DB
    InitDb,
    /// COM_PING
    Ping,
    /// COM_FIELD_LIST
    FieldList,
    /// COM_STATISTICS
    Statistics,
    /// COM_SET_OPTION
    SetOption,
    /// COM_RESET_CONNECTION
    ResetConnection,
    /// COM_CHANGE_USER
    ChangeUser,
    /// Unknown commands
    Unknown,
}

const COMMAND_LABELS: [&str; 13] = [
    "query",
    "prepare",
    "execute",
    "fetch",
    "stmt_other",
    "init_db",
    "ping",
    "field_list",
    "statistics",
    "set_option",
    "reset_connection",
    "change_user",
    "unknown",
];

/// Outcome label values.
const OUTCOMES: [&str; 2] = ["ok", "error"];

/// All proxy metrics.
pub struct Metrics {
    registry: Registry,
    /// Open client connections.
    pub client_connections: IntGauge,
    /// Client connections accepted since start.
    pub client_connections_total: IntCounter,
    /// Client logins refused (bad user, password or plugin).
    pub client_auth_failures: IntCounter,
    /// Client connections refused before login, by reason.
    pub client_rejected: IntCounterVec,
    statements: Vec<[IntCounter; 2]>,
    /// Statement latency by backend address.
    pub statement_duration: HistogramVec,
    /// Open backend connections by backend.
    pub backend_open: IntGaugeVec,
    /// Idle pooled backend connections by backend.
    pub backend_idle: IntGaugeVec,
    /// Statements waiting for a backend connection by backend.
    pub backend_waiting: IntGaugeVec,
    /// Failed backend connection attempts by backend.
    pub backend_connect_failures: IntCounterVec,
    /// Bytes relayed from clients to backends.
    pub bytes_to_backend: IntCounter,
    /// Bytes relayed from backends to clients.
    pub bytes_to_client: IntCounter,
    /// Version of the shard map in use.
    pub shardmap_version: IntGauge,
    /// Shard map reloads by outcome.
    pub shardmap_reloads: IntCounterVec,
    /// Statements on sharded keyspaces, by route: `single` (one shard, relayed), `multi` (several shards, combined
    /// by the proxy), `refused` (the planner could not place them).
    pub sharded_statements: [IntCounter; 3],
    /// Shard transactions ended, by outcome: `one_phase`, `two_phase`, `multi` (shard by shard), `rollback`,
    /// `failed`.
    pub shard_transactions: IntCounterVec,
    /// Plan-cache hits (synchronised from the cache when metrics are rendered).
    pub plan_cache_hits: IntCounter,
    /// Plan-cache misses (statements parsed by the SQL parser).
    pub plan_cache_misses: IntCounter,
}

/// Index into [`Metrics::sharded_statements`].
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// One shard, relayed.
    Single = 0,
    /// Several shards, combined by the proxy.
    Multi = 1,
    /// Refused by the planner.
    Refused = 2,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone())).expect("metric names are unique");
            m
        }
        let statements_vec = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "shardgate_statements_total",
                    "Client commands handled, by command and outcome",
                ),
                &["command", "outcome"],
            )
            .expect("valid metric"),
        );
        let statements = COMMAND_LABELS
            .iter()
            .map(|c| [0, 1].map(|o| statements_vec.with_label_values(&[c, OUTCOMES[o]])))
            .collect();
        let bytes = reg(
            &registry,
            IntCounterVec::new(
                Opts::new("shardgate_relayed_bytes_total", "Bytes relayed, by direction"),
                &["direction"],
            )
            .expect("valid metric"),
        );
        let buckets = vec![
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            5.0, 10.0,
        ];
        Metrics {
            client_connections: reg(
                &registry,
                IntGauge::new("shardgate_client_connections", "Open client connections").expect("valid metric"),
            ),
            client_connections_total: reg(
                &registry,
                IntCounter::new("shardgate_client_connections_total", "Client connections accepted")
                    .expect("valid metric"),
            ),
            client_auth_failures: reg(
                &registry,
                IntCounter::new("shardgate_client_auth_failures_total", "Client logins refused").expect("valid metric"),
            ),
            client_rejected: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "shardgate_client_connections_rejected_total",
                        "Client connections refused, by reason",
                    ),
                    &["reason"],
                )
                .expect("valid metric"),
            ),
            statements,
            statement_duration: reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "shardgate_statement_duration_seconds",
                        "Statement latency through the proxy, by backend",
                    )
                    .buckets(buckets),
                    &["backend"],
                )
                .expect("valid metric"),
            ),
            backend_open: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new("shardgate_backend_connections_open", "Open backend connections"),
                    &["backend"],
                )
                .expect("valid metric"),
            ),
            backend_idle: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new("shardgate_backend_connections_idle", "Idle pooled backend connections"),
                    &["backend"],
                )
                .expect("valid metric"),
            ),
            backend_waiting: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "shardgate_backend_connections_waiting",
                        "Statements waiting for a backend connection",
                    ),
                    &["backend"],
                )
                .expect("valid metric"),
            ),
            backend_connect_failures: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "shardgate_backend_connect_failures_total",
                        "Failed backend connection attempts",
                    ),
                    &["backend"],
                )
                .expect("valid metric"),
            ),
            bytes_to_backend: bytes.with_label_values(&["to_backend"]),
            bytes_to_client: bytes.with_label_values(&["to_client"]),
            shardmap_version: reg(
                &registry,
                IntGauge::new("shardgate_shardmap_version", "Version of the shard map in use").expect("valid metric"),
            ),
            shardmap_reloads: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new("shardgate_shardmap_reloads_total", "Shard map reloads, by outcome"),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            sharded_statements: {
                let v = reg(
                    &registry,
                    IntCounterVec::new(
                        Opts::new(
                            "shardgate_sharded_statements_total",
                            "Statements on sharded keyspaces, by route",
                        ),
                        &["route"],
                    )
                    .expect("valid metric"),
                );
                ["single", "multi", "refused"].map(|r| v.with_label_values(&[r]))
            },
            shard_transactions: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "shardgate_shard_transactions_total",
                        "Shard transactions ended, by outcome",
                    ),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            plan_cache_hits: reg(
                &registry,
                IntCounter::new("shardgate_plan_cache_hits_total", "Plan-cache hits").expect("valid metric"),
            ),
            plan_cache_misses: reg(
                &registry,
                IntCounter::new(
                    "shardgate_plan_cache_misses_total",
                    "Plan-cache misses (SQL parser runs)",
                )
                .expect("valid metric"),
            ),
            registry,
        }
    }

    /// Counts a statement on a sharded keyspace.
    pub fn routed(&self, route: Route) {
        self.sharded_statements[route as usize].inc();
    }

    /// Brings the plan-cache counters up to the cache's own (hits, misses).
    pub fn sync_plan_cache(&self, (hits, misses): (u64, u64)) {
        self.plan_cache_hits
            .inc_by(hits.saturating_sub(self.plan_cache_hits.get()));
        self.plan_cache_misses
            .inc_by(misses.saturating_sub(self.plan_cache_misses.get()));
    }

    /// Counts one command with its outcome.
    pub fn statement(&self, class: CommandClass, ok: bool) {
        self.statements[class as usize][usize::from(!ok)].inc();
    }

    /// The latency histogram of one backend (resolve once, observe many times).
    pub fn duration_for(&self, backend: &str) -> Histogram {
        self.statement_duration.with_label_values(&[backend])
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding to a Vec cannot fail");
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
