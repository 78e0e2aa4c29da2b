#!/usr/bin/env bash
# scripts/demo.sh — a local sharded Shardgate to try: three MariaDB servers (keyspace `app` sharded over two of them,
# shards `-80` and `80-`; keyspace `app_seq` unsharded on the third, holding the id sequence), shardgate-proxy in
# front on 127.0.0.1:6446 (admin/metrics on 9446). The schema is created and filled through the proxy (DDL reaches
# every shard, rows go to the shard of their key, ids come from the sequence), a scatter query proves it works,
# then it waits until Ctrl-C and stops everything.
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
shard_a_port=$(sg_free_port)
shard_b_port=$(sg_free_port)
meta_port=$(sg_free_port)
sg_mariadb_start shard_a "$shard_a_port" 1
sg_mariadb_start shard_b "$shard_b_port" 2
sg_mariadb_start meta "$meta_port" 3
sg_mysql "$shard_a_port" -e 'CREATE DATABASE app'
sg_mysql "$shard_b_port" -e 'CREATE DATABASE app'
sg_mysql "$meta_port" -e 'CREATE DATABASE app_seq'

# --- proxy ----------------------------------------------------------------------------------------------------------
sg_write_proxy_config "$SG_WORK/proxy" "127.0.0.1:$DEMO_PORT" "127.0.0.1:$DEMO_ADMIN_PORT" \
  "$PROXY_USER" "$PROXY_PASSWORD" "app_seq=127.0.0.1:$meta_port"
cat >"$SG_WORK/proxy/shardmap.yaml" <<EOF
# The demo's shard map (format: docs/CONFIG.md).
version: 1
cells: [dc1]
keyspaces:
  app:
    sharded: true
    vindexes:
      hash: { type: hash }
    tables:
      customers: { column: id, vindex: hash, auto_increment: { column: id, sequence: app_seq.customers_seq } }
      orders: { column: customer_id, vindex: hash }
      countries: { type: reference }
    shards:
      - { name: "-80", cell: dc1, primary: "127.0.0.1:$shard_a_port" }
      - { name: "80-", cell: dc1, primary: "127.0.0.1:$shard_b_port" }
  app_seq:
    sharded: false
    shards: [ { name: "0", cell: dc1, primary: "127.0.0.1:$meta_port" } ]
EOF
sg_proxy_start "$SG_WORK/proxy" 30 || sg_die "shardgate-proxy did not start (config: $SG_WORK/proxy/proxy.toml)"

# --- schema and data through the proxy ------------------------------------------------------------------------------
client=(mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$DEMO_PORT" -u"$PROXY_USER" -p"$PROXY_PASSWORD"
  --connect-timeout=5)
through_proxy() {
  local out
  if ! out=$(timeout 30 "${client[@]}" "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    sg_tail_log "$SG_WORK/proxy/proxy.log"
    sg_die "a statement through shardgate-proxy failed"
  fi
  printf '%s\n' "$out"
}
sg_log "creating the schema and rows through the proxy"
through_proxy app >/dev/null <<'SQL'
CREATE TABLE customers (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, country CHAR(2) NOT NULL);
CREATE TABLE orders (id BIGINT NOT NULL, customer_id BIGINT NOT NULL, amount DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (customer_id, id));
CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(64) NOT NULL);
INSERT INTO countries (code, name) VALUES ('GB', 'United Kingdom'), ('US', 'United States');
INSERT INTO customers (name, country) VALUES ('Ada Lovelace', 'GB'), ('Grace Hopper', 'US'),
  ('Alan Turing', 'GB'), ('Margaret Hamilton', 'US');
INSERT INTO orders (id, customer_id, amount) VALUES (1, 1, 10.50), (2, 1, 4.25), (1, 2, 99.00), (1, 3, 7.00),
  (1, 4, 12.75), (2, 4, 3.50);
SQL

# --- prove it works -------------------------------------------------------------------------------------------------
sg_log "query through the proxy (a join on the shard key, grouped and ordered across shards)"
through_proxy --table app -e 'SELECT c.id, c.name, k.name AS country, SUM(o.amount) AS spent
  FROM customers c JOIN orders o ON o.customer_id = c.id JOIN countries k ON k.code = c.country
  GROUP BY c.id, c.name, k.name ORDER BY spent DESC'
rows=$(timeout 30 "${client[@]}" -N -B app -e 'SELECT COUNT(*) FROM customers' 2>&1) || rows="error: $rows"
[[ "$rows" == 4 ]] || sg_die "expected 4 rows in app.customers through the proxy, got: $rows"
on_a=$(sg_mysql "$shard_a_port" -N -B -e 'SELECT COUNT(*) FROM app.customers')
on_b=$(sg_mysql "$shard_b_port" -N -B -e 'SELECT COUNT(*) FROM app.customers')
sg_log "customers per shard: -80 has $on_a, 80- has $on_b"
((on_a + on_b == 4)) || sg_die "the shards hold $on_a + $on_b customers, expected 4"
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
             (keyspace app sharded: -80 on 127.0.0.1:$shard_a_port, 80- on 127.0.0.1:$shard_b_port;
              app_seq on 127.0.0.1:$meta_port)
  try:       SELECT * FROM customers WHERE id = 2;   -- one shard
             SELECT country, COUNT(*) FROM customers GROUP BY country;   -- every shard, merged
  metrics:   curl -s http://127.0.0.1:$DEMO_ADMIN_PORT/metrics
  health:    curl -s http://127.0.0.1:$DEMO_ADMIN_PORT/healthz
  backends:  mariadb --no-defaults -h127.0.0.1 -P$shard_a_port -uroot app   (and -P$shard_b_port)
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
  for name in shard_a shard_b meta; do
    sg_alive "${SG_MARIADB_PID[$name]}" || sg_die "MariaDB '$name' exited (log: ${SG_MARIADB_DIR[$name]}/error.log)"
  done
  sleep 1
done
