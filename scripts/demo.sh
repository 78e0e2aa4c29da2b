#!/usr/bin/env bash
# scripts/demo.sh — a local Shardgate to try: two MariaDB servers (keyspace `app` on one, `sbtest` on the other,
# each unsharded), shardgate-proxy in front on 127.0.0.1:6446 (admin/metrics on 9446), one query through it to
# prove it works, then it waits until Ctrl-C and stops everything.
#
# Environment:
#   DEMO_EXIT=1          stop everything and exit 0 right after the proof query (CI smoke test)
#   DEMO_PORT=6446       classic protocol port;  DEMO_ADMIN_PORT=9446  admin HTTP port
#   DEMO_DIR=<repo>/.demo   state (servers' data, logs, proxy config); processes a previous demo left there are stopped
#   DEMO_SKIP_SETUP=1    do not run scripts/setup.sh;  DEMO_SKIP_BUILD=1  do not run cargo build
#   SHARDGATE_PROXY_BIN  use this proxy binary instead of target/release/shardgate-proxy
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

DEMO_DIR=${DEMO_DIR:-$ROOT/.demo}
DEMO_PORT=${DEMO_PORT:-6446}
DEMO_ADMIN_PORT=${DEMO_ADMIN_PORT:-9446}
DEMO_EXIT=${DEMO_EXIT:-0}
PROXY_USER=app
PROXY_PASSWORD=app-secret

sg_on_exit_hook() {
  if [[ "$1" != 0 && -n "$SG_WORK" ]]; then
    sg_warn "demo failed (exit $1); logs are in $SG_WORK"
  fi
}
sg_install_traps
if [[ "$DEMO_EXIT" != 1 ]]; then
  # Ctrl-C is how this demo is meant to end: stop everything and exit 0.
  trap 'sg_log "stopping" || true; exit 0' INT TERM
fi

if [[ "${DEMO_SKIP_SETUP:-0}" != 1 ]]; then
  bash "$ROOT/scripts/setup.sh"
fi
sg_require_cmd mariadbd mariadb mariadb-install-db

if [[ "${DEMO_SKIP_BUILD:-0}" != 1 && -z "${SHARDGATE_PROXY_BIN:-}" ]]; then
  sg_log "cargo build --release -p shardgate-proxy"
  (cd "$ROOT" && cargo build --release -p shardgate-proxy) >&2
fi

sg_workdir_init "$DEMO_DIR"
for p in "$DEMO_PORT" "$DEMO_ADMIN_PORT"; do
  if sg_port_in_use "$p"; then
    sg_die "port 127.0.0.1:$p is in use (another demo?); stop it or set DEMO_PORT / DEMO_ADMIN_PORT"
  fi
done

# --- backends -------------------------------------------------------------------------------------------------------
app_port=$(sg_free_port)
sbtest_port=$(sg_free_port)
sg_mariadb_start app "$app_port" 1
sg_mariadb_start sbtest "$sbtest_port" 2

sg_mysql "$app_port" <<'SQL'
CREATE DATABASE app;
CREATE TABLE app.customers (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  email VARCHAR(128) NOT NULL,
  country CHAR(2) NOT NULL
) ENGINE=InnoDB;
INSERT INTO app.customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 'GB'),
  (2, 'Grace Hopper', 'grace@example.com', 'US'),
  (3, 'Alan Turing', 'alan@example.com', 'GB'),
  (4, 'Margaret Hamilton', 'margaret@example.com', 'US');
SQL
sg_mysql "$sbtest_port" -e 'CREATE DATABASE sbtest'

# --- proxy ----------------------------------------------------------------------------------------------------------
sg_write_proxy_config "$SG_WORK/proxy" "127.0.0.1:$DEMO_PORT" "127.0.0.1:$DEMO_ADMIN_PORT" \
  "$PROXY_USER" "$PROXY_PASSWORD" "app=127.0.0.1:$app_port" "sbtest=127.0.0.1:$sbtest_port"
sg_proxy_start "$SG_WORK/proxy" 30 || sg_die "shardgate-proxy did not start (config: $SG_WORK/proxy/proxy.toml)"

# --- prove it works -------------------------------------------------------------------------------------------------
client=(mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$DEMO_PORT" -u"$PROXY_USER" -p"$PROXY_PASSWORD"
  --connect-timeout=5)
sg_log "query through the proxy: SELECT * FROM app.customers"
if ! out=$(timeout 30 "${client[@]}" --table app -e 'SELECT id, name, country FROM customers ORDER BY id' 2>&1); then
  printf '%s\n' "$out" >&2
  sg_tail_log "$SG_WORK/proxy/proxy.log"
  sg_die "the proof query through shardgate-proxy failed"
fi
printf '%s\n' "$out"
rows=$(timeout 30 "${client[@]}" -N -B app -e 'SELECT COUNT(*) FROM customers' 2>&1) || rows="error: $rows"
[[ "$rows" == 4 ]] || sg_die "expected 4 rows in app.customers through the proxy, got: $rows"
if command -v curl >/dev/null 2>&1; then
  if health=$(curl -fsS --max-time 5 "http://127.0.0.1:$DEMO_ADMIN_PORT/healthz" 2>&1); then
    sg_log "admin /healthz: $health"
  else
    sg_warn "admin /healthz did not answer: $health"
  fi
fi

cat <<EOF

Shardgate demo is running.
  connect:   mariadb --no-defaults -h127.0.0.1 -P$DEMO_PORT -u$PROXY_USER -p$PROXY_PASSWORD app
             (keyspaces: app on 127.0.0.1:$app_port, sbtest on 127.0.0.1:$sbtest_port)
  metrics:   curl -s http://127.0.0.1:$DEMO_ADMIN_PORT/metrics
  health:    curl -s http://127.0.0.1:$DEMO_ADMIN_PORT/healthz
  backends:  mariadb --no-defaults -h127.0.0.1 -P$app_port -uroot app
  state:     $SG_WORK (proxy log: $SG_WORK/proxy/proxy.log)
EOF

if [[ "$DEMO_EXIT" == 1 ]]; then
  sg_log "DEMO_EXIT=1: stopping"
  exit 0
fi
echo "Press Ctrl-C to stop."
# Runs until Ctrl-C (the one intentionally unbounded wait); ends with an error if the proxy or a server dies.
while true; do
  sg_alive "$SG_PROXY_PID" || { sg_tail_log "$SG_WORK/proxy/proxy.log"; sg_die "shardgate-proxy exited"; }
  for name in app sbtest; do
    sg_alive "${SG_MARIADB_PID[$name]}" || sg_die "MariaDB '$name' exited (log: ${SG_MARIADB_DIR[$name]}/error.log)"
  done
  sleep 1
done
