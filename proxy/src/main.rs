//! `shardgate-proxy --config proxy.toml`: the Shardgate data plane process.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Command line.
#[derive(Parser, Debug)]
#[command(version, about = "Shardgate: a sharding data plane for MySQL-family databases")]
struct Args {
    /// Path of the proxy configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Check the configuration and shard map, then exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = match shardgate_proxy::config::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shardgate-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        return match shardgate_proxy::server::load_map(&cfg.shardmap.file) {
            Ok(m) => {
                println!(
                    "configuration OK; shard map version {} with {} keyspace(s)",
                    m.version,
                    m.keyspaces.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shardgate-proxy: {e}");
                ExitCode::from(2)
            }
        };
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    rt.worker_threads(shardgate_proxy::config::effective_worker_threads(
        cfg.proxy.worker_threads,
    ));
    let rt = match rt.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shardgate-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(shardgate_proxy::server::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardgate-proxy: {e}");
            ExitCode::from(2)
        }
    }
}
