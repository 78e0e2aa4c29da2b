//! The harness's temp directories: named after the owning process, so leftovers of killed test processes go away.
//!
//! Each directory is a [`TempDir`] removed on drop, also while a test panics. A test process that is killed
//! (SIGKILL, CI timeout) cannot remove anything; its directories are named `sg-<kind>-<pid>-<random>`, and the
//! first directory created by a later test process removes those whose process no longer exists.

use std::path::{Path, PathBuf};
use std::sync::Once;

use tempfile::TempDir;

/// Every name starts with this, then the kind, `-`, the pid, `-`.
const PREFIX: &str = "sg-";

/// Creates a directory `sg-<kind>-<pid>-<random>` in `parent` (the system temp dir when `None`).
///
/// `kind` must not contain `-`. Panics if the directory cannot be created.
pub(crate) fn create(kind: &str, parent: Option<&Path>) -> TempDir {
    debug_assert!(!kind.contains('-'));
    static SWEEP: Once = Once::new();
    SWEEP.call_once(remove_stale);
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{kind}-{}-", std::process::id()))
        .tempdir_in(&parent)
        .unwrap_or_else(|e| panic!("create a {kind} directory in {}: {e}", parent.display()))
}

/// Removes `sg-<kind>-<pid>-*` directories in the temp dir and in /tmp whose process is gone.
fn remove_stale() {
    let mut parents = vec![std::env::temp_dir()];
    if parents[0] != Path::new("/tmp") {
        parents.push(PathBuf::from("/tmp"));
    }
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(owner_pid) else {
                continue;
            };
            if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The pid in a name of the form `sg-<kind>-<pid>-<random>`, if it has that form.
fn owner_pid(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix(PREFIX)?.splitn(3, '-');
    let kind = parts.next()?;
    let pid = parts.next()?;
    let random = parts.next()?;
    let well_formed = !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_lowercase())
        && !random.is_empty()
        && !pid.is_empty()
        && pid.chars().all(|c| c.is_ascii_digit());
    well_formed.then(|| pid.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn parses_only_harness_names() {
        assert_eq!(owner_pid("sg-mariadb-123-AbC9x"), Some(123));
        assert_eq!(owner_pid("sg-sock-7-x"), Some(7));
        assert_eq!(owner_pid("sg-bench.1W1t0R"), None);
        assert_eq!(owner_pid("sg-jwBYqn"), None);
        assert_eq!(owner_pid("sg-mariadb-O4vwHW"), None);
        assert_eq!(owner_pid("sg-mariadb-12x-abc"), None);
    }
}
