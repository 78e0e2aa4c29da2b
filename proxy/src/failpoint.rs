//! Crash points for fault-injection tests: `SHARDGATE_FAILPOINT=<name>` makes the process abort when it reaches the
//! point of that name (e.g. `xa-after-prepare`, `xa-after-decision`), as a power cut there would. Unset in
//! production; reading it is one relaxed load after the first call.

use std::sync::OnceLock;

static ARMED: OnceLock<Option<String>> = OnceLock::new();

/// Aborts the process when `name` is the armed crash point.
pub fn crash_point(name: &str) {
    let armed = ARMED.get_or_init(|| std::env::var("SHARDGATE_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        tracing::error!(failpoint = name, "crash point reached: aborting (SHARDGATE_FAILPOINT)");
        std::process::abort();
    }
}
