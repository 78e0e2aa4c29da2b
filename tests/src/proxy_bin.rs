//! Finding the `shardgate-proxy` binary under test: `SHARDGATE_PROXY_BIN`, else one `cargo build` per test process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The proxy binary; built on first use unless `SHARDGATE_PROXY_BIN` names one. Panics with cargo's output if the
/// build fails (in every caller, without building again).
///
/// The build is `cargo build -p shardgate-proxy --bin shardgate-proxy` in the workspace root, with `--release` when
/// `SHARDGATE_PROFILE=release`; the binary is taken from `$CARGO_TARGET_DIR` (or `<workspace>/target`).
/// This blocks for as long as the build takes: call it from a blocking context.
pub fn proxy_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(locate_or_build) {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn locate_or_build() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("SHARDGATE_PROXY_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("SHARDGATE_PROXY_BIN={} is not a file", bin.display()))
        };
    }
    let root = workspace_root();
    let release = std::env::var("SHARDGATE_PROFILE").is_ok_and(|p| p == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args(["build", "-p", "shardgate-proxy", "--bin", "shardgate-proxy"]);
    if release {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("run {} build in {}: {e}", cargo.to_string_lossy(), root.display()))?;
    if !out.status.success() {
        return Err(format!(
            "building shardgate-proxy failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir), // an absolute $CARGO_TARGET_DIR replaces `root`
        None => root.join("target"),
    };
    let bin = target
        .join(if release { "release" } else { "debug" })
        .join("shardgate-proxy");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "cargo built shardgate-proxy but {} does not exist",
            bin.display()
        ))
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
