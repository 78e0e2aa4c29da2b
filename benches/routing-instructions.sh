#!/usr/bin/env bash
# benches/routing-instructions.sh — what routing on a sharded keyspace costs, in instructions: the proxy's user-space
# instructions per sysbench query (callgrind), through an unsharded keyspace and through a 2-shard keyspace whose
# shards are the same server (so the only difference is the routing: normalize, plan cache, bind, shard pick).
# Instruction counts do not depend on what else runs on the machine, unlike QPS on a shared 2-core host.
# Method: benches/README.md, "Sharded keyspaces".
#
# Environment (defaults in brackets):
#   TESTS [oltp_point_select]  EVENTS [20000] sysbench events measured per target (after WARMUP_EVENTS [2000])
#   PS_MODES ["disable auto"] sysbench --db-ps-mode values (text queries, server-side prepared statements)
#   TABLES [2]  TABLE_SIZE [10000]
#   SHARDGATE_PROXY_BIN [target/release/shardgate-proxy, built with cargo unless SKIP_BUILD=1]
#   RESULTS_DIR [benches/results]  KEEP_WORK=1 keeps the work directory (callgrind outputs, logs)
# Prints a markdown report on stdout and writes it to RESULTS_DIR/<date>-routing-instructions[-N].md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TESTS=${TESTS:-oltp_point_select}
EVENTS=${EVENTS:-20000}
WARMUP_EVENTS=${WARMUP_EVENTS:-2000}
PS_MODES=${PS_MODES:-"disable auto"}
TABLES=${TABLES:-2}
TABLE_SIZE=${TABLE_SIZE:-10000}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/benches/results}
SB_USER=sbtest
SB_PASSWORD=sbtest

for v in EVENTS WARMUP_EVENTS TABLES TABLE_SIZE; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || sg_die "$v must be a positive integer (got '${!v}')"
done
for m in $PS_MODES; do
  [[ "$m" == auto || "$m" == disable ]] || sg_die "PS_MODES: 'auto' or 'disable' (got '$m')"
done
for t in $TESTS; do
  # Both shards of the sharded keyspace hold every row: only single-shard statements are meaningful.
  [[ "$t" == oltp_point_select ]] || sg_die "only oltp_point_select is meaningful here (got '$t')"
done
sg_require_cmd mariadbd mariadb sysbench valgrind callgrind_control awk timeout

WORK=$(sg_mktemp_dir sg-callgrind)
sg_on_exit_hook() {
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    sg_log "work directory kept: $WORK"
  else
    rm -rf -- "$WORK"
  fi
}
sg_install_traps
sg_workdir_init "$WORK"

if [[ -z "${SHARDGATE_PROXY_BIN:-}" && "${SKIP_BUILD:-0}" != 1 ]]; then
  sg_log "cargo build --release -p shardgate-proxy"
  (cd "$ROOT" && cargo build --release -p shardgate-proxy) >&2 || sg_die "cargo build --release -p shardgate-proxy failed"
fi
BIN=$(sg_proxy_bin)
[[ -x "$BIN" ]] || sg_die "no proxy binary at $BIN"

# --- MariaDB: sbtest, and a copy sbtest_1srv served as the sharded keyspace --------------------------------------
db_port=$(sg_free_port)
sg_mariadb_start db "$db_port" 1
sg_mysql "$db_port" <<SQL
CREATE DATABASE sbtest;
CREATE USER '$SB_USER'@'127.0.0.1' IDENTIFIED BY '$SB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$SB_USER'@'127.0.0.1';
SQL
sb_common=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD"
  --tables="$TABLES" --table-size="$TABLE_SIZE")
sg_log "sysbench prepare: $TABLES tables x $TABLE_SIZE rows"
sysbench oltp_read_write "${sb_common[@]}" --mysql-port="$db_port" --mysql-db=sbtest prepare >"$WORK/prepare.log" 2>&1 ||
  {
    sg_tail_log "$WORK/prepare.log"
    sg_die "sysbench prepare failed"
  }
{
  echo "CREATE DATABASE sbtest_1srv;"
  for ((i = 1; i <= TABLES; i++)); do
    echo "CREATE TABLE sbtest_1srv.sbtest$i LIKE sbtest.sbtest$i;"
    echo "INSERT INTO sbtest_1srv.sbtest$i SELECT * FROM sbtest.sbtest$i;"
  done
} | sg_mysql "$db_port"

# --- one proxy per keyspace kind, each under callgrind ------------------------------------------------------------
declare -A PORT=() PID=() DB=([unsharded]=sbtest [sharded]=sbtest_1srv)
for kind in unsharded sharded; do
  PORT[$kind]=$(sg_free_port)
  dir="$WORK/proxy-$kind"
  sg_write_proxy_config "$dir" "127.0.0.1:${PORT[$kind]}" "127.0.0.1:$(sg_free_port)" "$SB_USER" "$SB_PASSWORD" \
    "${DB[$kind]}=127.0.0.1:$db_port"
  if [[ $kind == sharded ]]; then
    {
      echo "version: 1"
      echo "cells: [dc1]"
      echo "keyspaces:"
      echo "  sbtest_1srv:"
      echo "    sharded: true"
      echo "    vindexes:"
      echo "      hash: { type: hash }"
      echo "    tables:"
      for ((i = 1; i <= TABLES; i++)); do
        echo "      sbtest$i: { column: id, vindex: hash }"
      done
      echo "    shards:"
      echo "      - { name: \"-80\", cell: dc1, primary: \"127.0.0.1:$db_port\" }"
      echo "      - { name: \"80-\", cell: dc1, primary: \"127.0.0.1:$db_port\" }"
    } >"$dir/shardmap.yaml"
  fi
  sg_spawn "$dir/proxy.log" env RUST_LOG=warn NO_COLOR=1 valgrind --tool=callgrind \
    --callgrind-out-file="$dir/callgrind.out.%p" "$BIN" --config "$dir/proxy.toml"
  PID[$kind]=$SG_LAST_PID
  sg_wait_tcp "${PORT[$kind]}" 120 "${PID[$kind]}" "$dir/proxy.log" || sg_die "proxy ($kind) under valgrind did not start"
done

# total_ir FILE — the `summary:` / `totals:` instruction count of a callgrind dump.
total_ir() {
  awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

# measure KIND TEST PS_MODE — instructions per query of the proxy serving KIND during EVENTS sysbench events.
measure() {
  local kind=$1 test=$2 mode=$3 dir="$WORK/proxy-$1" out before after dumps
  local -a args=("${sb_common[@]}" --mysql-port="${PORT[$kind]}" --mysql-db="${DB[$kind]}" --threads=1
    --db-ps-mode="$mode" --time=0 --report-interval=0)
  timeout 600 sysbench "$test" "${args[@]}" --events="$WARMUP_EVENTS" run >"$WORK/warmup-$kind.log" 2>&1 ||
    {
      sg_tail_log "$WORK/warmup-$kind.log"
      sg_die "warm-up through $kind failed"
    }
  # Zero the counters, run, dump: the dump holds exactly the measured run (plus idle wake-ups).
  callgrind_control --zero "${PID[$kind]}" >/dev/null 2>&1
  out="$WORK/run-$kind-$test-$mode.log"
  timeout 900 sysbench "$test" "${args[@]}" --events="$EVENTS" run >"$out" 2>&1 ||
    {
      sg_tail_log "$out"
      sg_die "run through $kind failed"
    }
  before=$(find "$dir" -name 'callgrind.out.*' | wc -l)
  callgrind_control --dump="$kind-$test-$mode" "${PID[$kind]}" >/dev/null 2>&1
  for ((i = 0; i < 100; i++)); do
    after=$(find "$dir" -name 'callgrind.out.*' | wc -l)
    ((after > before)) && break
    sleep 0.1
  done
  # shellcheck disable=SC2012 # our own file names: callgrind.out.<pid>.<n>
  dumps=$(ls -t "$dir"/callgrind.out.*.* 2>/dev/null | head -n1)
  [[ -n "$dumps" ]] || sg_die "no callgrind dump for $kind"
  queries=$(awk '/^ *queries:/ { print $2; exit }' "$out")
  awk -v ir="$(total_ir "$dumps")" -v q="$queries" 'BEGIN { printf "%.0f", ir / q }'
}

declare -A IPQ=()
ROWS=()
for test in $TESTS; do
  for mode in $PS_MODES; do
    for kind in unsharded sharded; do
      IPQ[$kind]=$(measure "$kind" "$test" "$mode")
      sg_log "$test, --db-ps-mode=$mode, through the $kind keyspace: ${IPQ[$kind]} instructions per query"
    done
    ROWS+=("$(awk -v t="$test" -v m="$mode" -v u="${IPQ[unsharded]}" -v s="${IPQ[sharded]}" 'BEGIN {
      printf "| %s | %s | %d | %d | %+d | %+.1f %% |", t, m, u, s, s - u, (s - u) / u * 100 }')")
  done
done

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
report() {
  echo "## Routing cost in instructions: unsharded vs 2-shard keyspace — $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "- Shardgate $commit${SHARDGATE_PROXY_BIN:+ (binary $SHARDGATE_PROXY_BIN)}, under valgrind --tool=callgrind" \
    "(user-space instructions of the whole proxy process; the kernel's TCP work is not counted)"
  echo "- sysbench $(sysbench --version | awk '{ print $2 }'), 1 thread, $TABLES tables x" \
    "$TABLE_SIZE rows; $WARMUP_EVENTS events of warm-up, then counters zeroed and $EVENTS events measured"
  echo "- sharded: keyspace sharded by id (hash vindex), shards -80 and 80- both on the one MariaDB (same backend" \
    "as unsharded: the difference is the routing)"
  echo
  echo "| test | --db-ps-mode | unsharded instr/query | sharded instr/query | difference | relative |"
  echo "|---|---|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
}
mkdir -p "$RESULTS_DIR"
results="$RESULTS_DIR/$(date +%Y-%m-%d)-routing-instructions.md"
n=2
while [[ -e "$results" ]]; do
  results="$RESULTS_DIR/$(date +%Y-%m-%d)-routing-instructions-$n.md"
  n=$((n + 1))
done
report | tee "$results"
sg_log "results written to $results"
if [[ "${KEEP_WORK:-0}" == 1 ]]; then
  sg_log "callgrind dumps: $WORK/proxy-{unsharded,sharded}/callgrind.out.*.* (callgrind_annotate shows where the instructions go)"
fi
