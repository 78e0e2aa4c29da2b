#!/usr/bin/env bash
# benches/sysbench.sh — end-to-end benchmark: sysbench against one MariaDB directly, through HAProxy (TCP mode) and
# through Shardgate, alternating targets run by run; prints a markdown table of medians (QPS, ratio to direct, p95
# latency, proxy CPU time per query) and writes it to benches/results/<date>.md. Method: benches/README.md.
#
# Targets: direct (MariaDB), haproxy, shardgate (unsharded keyspace on that MariaDB), sharded (Shardgate, keyspace
# sharded by id over two more MariaDB servers, filled by `sysbench prepare` through the proxy), sharded-1srv
# (Shardgate, a 2-shard keyspace whose shards are both the direct server: routing cost alone; oltp_point_select only).
# benches/sysbench-sharded.sh runs the routing-cost comparison (direct, shardgate, sharded, sharded-1srv).
#
# Environment (defaults in brackets):
#   TESTS ["oltp_point_select oltp_read_write"]  THREADS ["1 4 16"]  ROUNDS [3]  DURATION [10] seconds per run
#   TARGETS ["direct haproxy shardgate"]         PS_MODE [auto] (server-side prepared statements) or disable;
#                                                the same for every target
#   TABLES [4]  TABLE_SIZE [10000]               WARMUP [5] seconds of direct load per test before measuring
#   HAPROXY_NBTHREAD [unset = HAProxy's default, one thread per CPU]
#   PROXY_THREADS [0 = Shardgate's default, one worker per core]
#   SHARDGATE_PROXY_BIN [target/release/shardgate-proxy, built with cargo unless SKIP_BUILD=1]
#   RESULTS_DIR [benches/results]  KEEP_WORK=1 keeps the work directory (servers, logs, sysbench outputs)
# Exit status: 0 when every run of every target succeeded, 1 otherwise (the table is printed either way, with the
# failed targets marked and their errors listed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TESTS=${TESTS:-"oltp_point_select oltp_read_write"}
THREADS=${THREADS:-"1 4 16"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
TARGETS=${TARGETS:-"direct haproxy shardgate"}
PS_MODE=${PS_MODE:-auto}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
WARMUP=${WARMUP:-5}
HAPROXY_NBTHREAD=${HAPROXY_NBTHREAD:-}
PROXY_THREADS=${PROXY_THREADS:-0}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/benches/results}
# A run that takes this much longer than DURATION is killed and counted as failed.
RUN_GRACE=${RUN_GRACE:-30}

SB_USER=sbtest
SB_PASSWORD=sbtest

for v in ROUNDS DURATION TABLES TABLE_SIZE WARMUP PROXY_THREADS RUN_GRACE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || sg_die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS > 0 && DURATION > 0)) || sg_die "ROUNDS and DURATION must be > 0"
[[ -z "$HAPROXY_NBTHREAD" || "$HAPROXY_NBTHREAD" =~ ^[1-9][0-9]*$ ]] || sg_die "HAPROXY_NBTHREAD must be a positive integer"
[[ "$PS_MODE" == auto || "$PS_MODE" == disable ]] || sg_die "PS_MODE must be 'auto' or 'disable' (got '$PS_MODE')"
for t in $THREADS; do
  [[ "$t" =~ ^[1-9][0-9]*$ ]] || sg_die "THREADS must be positive integers (got '$t')"
done
for t in $TARGETS; do
  case $t in
    direct | haproxy | shardgate | sharded | sharded-1srv) ;;
    *) sg_die "unknown target '$t' (direct haproxy shardgate sharded sharded-1srv)" ;;
  esac
done
if [[ " $TARGETS " == *" sharded-1srv "* ]]; then
  for t in $TESTS; do
    # Both shards of sharded-1srv hold every row: statements that run on several shards would read rows twice.
    [[ "$t" == oltp_point_select ]] ||
      sg_die "target sharded-1srv serves single-shard statements only: run it with TESTS=oltp_point_select (got '$t')"
  done
fi
[[ -n "${TESTS// /}" ]] || sg_die "TESTS is empty"
[[ -n "${THREADS// /}" && -n "${TARGETS// /}" ]] || sg_die "THREADS and TARGETS must not be empty"
# Normalise the lists to single spaces (the reports and the " $TARGETS " membership tests rely on it).
read -ra _list <<<"$TESTS" && TESTS="${_list[*]}"
read -ra _list <<<"$THREADS" && THREADS="${_list[*]}"
read -ra _list <<<"$TARGETS" && TARGETS="${_list[*]}"

sg_require_cmd mariadbd mariadb sysbench awk timeout getconf
[[ " $TARGETS " == *" haproxy "* ]] && sg_require_cmd haproxy
CLK_TCK=$(getconf CLK_TCK)

WORK=$(sg_mktemp_dir sg-bench)
sg_on_exit_hook() {
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    sg_log "work directory kept: $WORK"
  else
    rm -rf -- "$WORK"
  fi
}
sg_install_traps
sg_workdir_init "$WORK"
mkdir -p "$WORK/runs"

declare -A PORT=()        # target -> port sysbench connects to
declare -A DB=([direct]=sbtest [haproxy]=sbtest [shardgate]=sbtest [sharded]=sbtest [sharded-1srv]=sbtest_1srv)
declare -A PID=()         # proxy target -> pid whose CPU time is measured
declare -A LOG=()         # proxy target -> its log
declare -A DB_PIDS=()     # target -> pids of the MariaDB servers behind it (their CPU time is measured too)
declare -A UNAVAILABLE=() # target -> reason it is not (or no longer) measured
ERRORS=()                 # human-readable failures, listed under the table

# mark_unavailable TARGET REASON
mark_unavailable() {
  UNAVAILABLE[$1]=$2
  ERRORS+=("$1: $2")
  sg_warn "target $1 unavailable: $2"
}

# sb_args PORT [DATABASE] — sysbench options common to prepare and run.
sb_args() {
  printf '%s\n' --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" --mysql-user="$SB_USER" \
    --mysql-password="$SB_PASSWORD" --mysql-db="${2:-sbtest}" --tables="$TABLES" --table-size="$TABLE_SIZE"
}

# cpu_ticks_sum PID... — utime + stime of all those processes together, in clock ticks ("" if one is unreadable).
cpu_ticks_sum() {
  local pid t sum=0
  for pid in "$@"; do
    t=$(sg_cpu_ticks "$pid" 2>/dev/null) || return 0
    sum=$((sum + t))
  done
  echo "$sum"
}

# is_proxy_target TARGET — a target served by shardgate-proxy.
is_proxy_target() {
  [[ "$1" == shardgate || "$1" == sharded || "$1" == sharded-1srv ]]
}

# proxy_targets — the targets of TARGETS served by shardgate-proxy (one line each).
proxy_targets() {
  local t
  for t in $TARGETS; do
    if is_proxy_target "$t"; then echo "$t"; fi
  done
}

# write_sharded_map FILE KEYSPACE ADDR_A ADDR_B — a shard map with one keyspace sharded by `id` (hash vindex) over
# shards -80 (ADDR_A) and 80- (ADDR_B), tables sbtest1..sbtest$TABLES.
write_sharded_map() {
  local file=$1 ks=$2 a=$3 b=$4 i
  {
    echo "# Generated by benches/sysbench.sh: keyspace $ks sharded by id over two shards."
    echo "version: 1"
    echo "cells: [dc1]"
    echo "keyspaces:"
    echo "  $ks:"
    echo "    sharded: true"
    echo "    vindexes:"
    echo "      hash: { type: hash }"
    echo "    tables:"
    for ((i = 1; i <= TABLES; i++)); do
      echo "      sbtest$i: { column: id, vindex: hash }"
    done
    echo "    shards:"
    echo "      - { name: \"-80\", cell: dc1, primary: \"$a\" }"
    echo "      - { name: \"80-\", cell: dc1, primary: \"$b\" }"
  } >"$file"
}

# start_proxy TARGET DIR — start shardgate-proxy for TARGET from DIR/proxy.toml (PORT[TARGET] already chosen); on
# success sets PID[TARGET], else marks the target unavailable. Returns 1 on failure.
start_proxy() {
  local target=$1 dir=$2
  LOG[$target]="$dir/proxy.log"
  if [[ ! -x "$(sg_proxy_bin)" ]]; then
    mark_unavailable "$target" "no proxy binary at $(sg_proxy_bin) (cargo build --release -p shardgate-proxy)"
    return 1
  fi
  if ! RUST_LOG=${RUST_LOG:-warn} sg_proxy_start "$dir" 30; then
    mark_unavailable "$target" "shardgate-proxy did not start (binary $(sg_proxy_bin), log ${LOG[$target]})"
    return 1
  fi
  PID[$target]=$SG_PROXY_PID
}

# check_login TARGET — one point select through TARGET's port, bounded.
check_login() {
  local target=$1 out
  if out=$(timeout 20 mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"${PORT[$target]}" -u"$SB_USER" \
    -p"$SB_PASSWORD" --connect-timeout=5 -N -B "${DB[$target]}" -e 'SELECT id FROM sbtest1 WHERE id = 1' 2>&1) &&
    [[ "$out" == 1 ]]; then
    return 0
  fi
  sg_warn "query through $target (127.0.0.1:${PORT[$target]}) failed: ${out:-<timeout or no output>}"
  return 1
}

# --- Shardgate build (before anything starts: it takes minutes) -----------------------------------------------------
if [[ -n "$(proxy_targets)" && -z "${SHARDGATE_PROXY_BIN:-}" && "${SKIP_BUILD:-0}" != 1 ]]; then
  sg_log "cargo build --release -p shardgate-proxy"
  if ! (cd "$ROOT" && cargo build --release -p shardgate-proxy) >&2; then
    for t in $(proxy_targets); do
      mark_unavailable "$t" "cargo build --release -p shardgate-proxy failed"
    done
  fi
fi

# --- MariaDB + data -------------------------------------------------------------------------------------------------
PORT[direct]=$(sg_free_port)
sg_mariadb_start db "${PORT[direct]}" 1
for t in direct haproxy shardgate sharded-1srv; do
  DB_PIDS[$t]=${SG_MARIADB_PID[db]}
done
sg_mysql "${PORT[direct]}" <<SQL
CREATE DATABASE sbtest;
CREATE USER '$SB_USER'@'127.0.0.1' IDENTIFIED BY '$SB_PASSWORD';
GRANT ALL PRIVILEGES ON sbtest.* TO '$SB_USER'@'127.0.0.1';
SQL
sg_log "sysbench prepare: $TABLES tables x $TABLE_SIZE rows"
mapfile -t prep_args < <(sb_args "${PORT[direct]}")
if ! sysbench oltp_read_write "${prep_args[@]}" prepare >"$WORK/prepare.log" 2>&1; then
  sg_tail_log "$WORK/prepare.log"
  sg_die "sysbench prepare failed"
fi

# --- HAProxy --------------------------------------------------------------------------------------------------------
if [[ " $TARGETS " == *" haproxy "* ]]; then
  PORT[haproxy]=$(sg_free_port)
  {
    echo "# Generated by benches/sysbench.sh: plain TCP relay to one MariaDB."
    echo "global"
    echo "    maxconn 4096"
    [[ -n "$HAPROXY_NBTHREAD" ]] && echo "    nbthread $HAPROXY_NBTHREAD"
    echo "defaults"
    echo "    mode tcp"
    echo "    timeout connect 5s"
    echo "    timeout client 1h"
    echo "    timeout server 1h"
    echo "frontend mysql"
    echo "    bind 127.0.0.1:${PORT[haproxy]}"
    echo "    default_backend db"
    echo "backend db"
    echo "    server db1 127.0.0.1:${PORT[direct]}"
  } >"$WORK/haproxy.cfg"
  LOG[haproxy]="$WORK/haproxy.log"
  if ! haproxy -c -q -f "$WORK/haproxy.cfg" >"${LOG[haproxy]}" 2>&1; then
    sg_tail_log "${LOG[haproxy]}"
    mark_unavailable haproxy "haproxy -c rejected $WORK/haproxy.cfg"
  else
    sg_spawn "${LOG[haproxy]}" haproxy -db -f "$WORK/haproxy.cfg"
    PID[haproxy]=$SG_LAST_PID
    if ! sg_wait_tcp "${PORT[haproxy]}" 15 "${PID[haproxy]}" "${LOG[haproxy]}"; then
      mark_unavailable haproxy "haproxy did not listen on 127.0.0.1:${PORT[haproxy]} (log ${LOG[haproxy]})"
    elif ! check_login haproxy; then
      mark_unavailable haproxy "query through haproxy failed"
    else
      sg_log "HAProxy on 127.0.0.1:${PORT[haproxy]} (pid ${PID[haproxy]}, nbthread ${HAPROXY_NBTHREAD:-default})"
    fi
  fi
fi

# --- Shardgate ------------------------------------------------------------------------------------------------------
if [[ " $TARGETS " == *" shardgate "* && -z "${UNAVAILABLE[shardgate]:-}" ]]; then
  PORT[shardgate]=$(sg_free_port)
  SG_PROXY_WORKER_THREADS=$PROXY_THREADS sg_write_proxy_config "$WORK/proxy" "127.0.0.1:${PORT[shardgate]}" \
    "127.0.0.1:$(sg_free_port)" "$SB_USER" "$SB_PASSWORD" "sbtest=127.0.0.1:${PORT[direct]}"
  if start_proxy shardgate "$WORK/proxy"; then
    check_login shardgate || mark_unavailable shardgate "query through shardgate-proxy failed (log ${LOG[shardgate]})"
  fi
fi

# --- Shardgate, sharded keyspace on two more servers ----------------------------------------------------------------
if [[ " $TARGETS " == *" sharded "* && -z "${UNAVAILABLE[sharded]:-}" ]]; then
  shard_ports=("$(sg_free_port)" "$(sg_free_port)")
  sg_mariadb_start shard1 "${shard_ports[0]}" 2
  sg_mariadb_start shard2 "${shard_ports[1]}" 3
  DB_PIDS[sharded]="${SG_MARIADB_PID[shard1]} ${SG_MARIADB_PID[shard2]}"
  for p in "${shard_ports[@]}"; do
    sg_mysql "$p" -e 'CREATE DATABASE sbtest'
  done
  PORT[sharded]=$(sg_free_port)
  # proxy.toml as for the unsharded target; then the sharded map replaces its shardmap.yaml.
  SG_PROXY_WORKER_THREADS=$PROXY_THREADS sg_write_proxy_config "$WORK/proxy-sharded" "127.0.0.1:${PORT[sharded]}" \
    "127.0.0.1:$(sg_free_port)" "$SB_USER" "$SB_PASSWORD" "sbtest=127.0.0.1:${shard_ports[0]}"
  write_sharded_map "$WORK/proxy-sharded/shardmap.yaml" sbtest "127.0.0.1:${shard_ports[0]}" "127.0.0.1:${shard_ports[1]}"
  if start_proxy sharded "$WORK/proxy-sharded"; then
    # sysbench creates and fills the tables through the proxy: CREATE TABLE / CREATE INDEX on both shards, each
    # row of the multi-row INSERTs to the shard its id hashes to (ids given, not AUTO_INCREMENT).
    sg_log "sysbench prepare through Shardgate (sharded): $TABLES tables x $TABLE_SIZE rows"
    mapfile -t sharded_args < <(sb_args "${PORT[sharded]}" sbtest)
    if ! timeout --foreground 600 sysbench oltp_read_write "${sharded_args[@]}" --auto-inc=off prepare \
      >"$WORK/prepare-sharded.log" 2>&1; then
      sg_tail_log "$WORK/prepare-sharded.log"
      sg_tail_log "${LOG[sharded]}"
      mark_unavailable sharded "sysbench prepare through the sharded keyspace failed: $(grep -m1 -E 'FATAL|error' \
        "$WORK/prepare-sharded.log" || echo "see $WORK/prepare-sharded.log")"
    else
      counts=()
      for p in "${shard_ports[@]}"; do
        counts+=("$(sg_mysql "$p" -N -B -e 'SELECT COUNT(*) FROM sbtest.sbtest1')")
      done
      sg_log "sbtest1 rows per shard: -80: ${counts[0]}, 80-: ${counts[1]}"
      check_login sharded || mark_unavailable sharded "query through shardgate-proxy failed (log ${LOG[sharded]})"
    fi
  fi
fi

# --- Shardgate, 2-shard keyspace whose shards are both the direct server ---------------------------------------------
if [[ " $TARGETS " == *" sharded-1srv "* && -z "${UNAVAILABLE[sharded-1srv]:-}" ]]; then
  {
    echo "CREATE DATABASE sbtest_1srv;"
    for ((i = 1; i <= TABLES; i++)); do
      echo "CREATE TABLE sbtest_1srv.sbtest$i LIKE sbtest.sbtest$i;"
      echo "INSERT INTO sbtest_1srv.sbtest$i SELECT * FROM sbtest.sbtest$i;"
    done
  } | sg_mysql "${PORT[direct]}"
  PORT[sharded-1srv]=$(sg_free_port)
  SG_PROXY_WORKER_THREADS=$PROXY_THREADS sg_write_proxy_config "$WORK/proxy-1srv" "127.0.0.1:${PORT[sharded-1srv]}" \
    "127.0.0.1:$(sg_free_port)" "$SB_USER" "$SB_PASSWORD" "sbtest_1srv=127.0.0.1:${PORT[direct]}"
  write_sharded_map "$WORK/proxy-1srv/shardmap.yaml" sbtest_1srv "127.0.0.1:${PORT[direct]}" "127.0.0.1:${PORT[direct]}"
  if start_proxy sharded-1srv "$WORK/proxy-1srv"; then
    check_login sharded-1srv || mark_unavailable sharded-1srv "query through shardgate-proxy failed (log ${LOG[sharded-1srv]})"
  fi
fi

# --- Warm-up --------------------------------------------------------------------------------------------------------
if ((WARMUP > 0)); then
  for test in $TESTS; do
    sg_log "warm-up: $test direct for ${WARMUP}s"
    if ! timeout --foreground $((WARMUP + RUN_GRACE)) sysbench "$test" "${prep_args[@]}" --threads=4 --time="$WARMUP" \
      --db-ps-mode="$PS_MODE" run >"$WORK/warmup-$test.log" 2>&1; then
      sg_tail_log "$WORK/warmup-$test.log"
      sg_die "warm-up run of $test against MariaDB failed (is '$test' a sysbench test?)"
    fi
    # The shard servers' buffer pools, through their proxy (a failure here shows again in the measured runs).
    if [[ " $TARGETS " == *" sharded "* && -z "${UNAVAILABLE[sharded]:-}" ]]; then
      sg_log "warm-up: $test through Shardgate (sharded) for ${WARMUP}s"
      timeout --foreground $((WARMUP + RUN_GRACE)) sysbench "$test" "${sharded_args[@]}" --threads=4 --time="$WARMUP" \
        --db-ps-mode="$PS_MODE" run >"$WORK/warmup-$test-sharded.log" 2>&1 ||
        sg_warn "warm-up of $test through the sharded keyspace failed (log $WORK/warmup-$test-sharded.log)"
    fi
  done
fi

# --- Runs -----------------------------------------------------------------------------------------------------------
RAW="$WORK/raw.tsv" # test threads target round qps p95_ms proxy_cpu_us_per_query queries mariadb_cpu_us_per_query
: >"$RAW"
declare -A CELL_FAILED=() # "test threads target" -> first error

# run_one TEST THREADS TARGET ROUND — one sysbench run; appends a line to RAW or records the failure.
run_one() {
  local test=$1 threads=$2 target=$3 round=$4 out rc=0 before="" after="" queries qps p95 cpu err args
  local db_before db_after db_cpu
  local -a db_pids
  read -ra db_pids <<<"${DB_PIDS[$target]:-}"
  local pid=${PID[$target]:-}
  out="$WORK/runs/$test-$threads-$target-$round.log"
  if [[ -n "$pid" ]] && ! sg_alive "$pid"; then
    sg_tail_log "${LOG[$target]}"
    mark_unavailable "$target" "process $pid exited (log ${LOG[$target]})"
    return 0
  fi
  [[ -n "$pid" ]] && before=$(sg_cpu_ticks "$pid" 2>/dev/null || true)
  db_before=$(cpu_ticks_sum "${db_pids[@]}")
  mapfile -t args < <(sb_args "${PORT[$target]}" "${DB[$target]}")
  timeout --foreground -k 5 $((DURATION + RUN_GRACE)) sysbench "$test" "${args[@]}" --threads="$threads" --time="$DURATION" \
    --report-interval=0 --percentile=95 --db-ps-mode="$PS_MODE" run >"$out" 2>&1 || rc=$?
  [[ -n "$pid" ]] && after=$(sg_cpu_ticks "$pid" 2>/dev/null || true)
  db_after=$(cpu_ticks_sum "${db_pids[@]}")
  queries=$(awk '/^ *queries:/ { print $2; exit }' "$out")
  qps=$(awk '/^ *queries:/ { gsub(/[(]/, "", $3); print $3; exit }' "$out")
  p95=$(awk '/95th percentile:/ { print $3; exit }' "$out")
  if ((rc != 0)) || [[ -z "$queries" || -z "$qps" || -z "$p95" ]] || ((queries == 0)); then
    if ((rc == 124 || rc == 137)); then
      err="sysbench did not finish within $((DURATION + RUN_GRACE))s (killed)"
    else
      err=$(grep -m1 -E 'FATAL|ERROR|error' "$out" || true)
      err="sysbench exit $rc${err:+: $err}"
    fi
    sg_warn "$test threads=$threads target=$target round=$round failed: $err (output: $out)"
    tail -n 5 "$out" >&2 || true
    CELL_FAILED["$test $threads $target"]=$err
    ERRORS+=("$test, $threads threads, $target: $err")
    if [[ -n "$pid" ]] && ! sg_alive "$pid"; then
      sg_tail_log "${LOG[$target]}"
      mark_unavailable "$target" "process $pid exited during $test at $threads threads (log ${LOG[$target]})"
    fi
    return 0
  fi
  cpu=-
  if [[ -n "$before" && -n "$after" ]]; then
    cpu=$(awk -v a="$after" -v b="$before" -v hz="$CLK_TCK" -v q="$queries" 'BEGIN { printf "%.2f", (a - b) / hz * 1e6 / q }')
  fi
  db_cpu=-
  if [[ -n "$db_before" && -n "$db_after" ]]; then
    db_cpu=$(awk -v a="$db_after" -v b="$db_before" -v hz="$CLK_TCK" -v q="$queries" 'BEGIN { printf "%.2f", (a - b) / hz * 1e6 / q }')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$test" "$threads" "$target" "$round" "$qps" "$p95" "$cpu" "$queries" \
    "$db_cpu" >>"$RAW"
  sg_log "$test threads=$threads $target round $round: $qps qps, p95 ${p95} ms, proxy cpu ${cpu} us/query," \
    "mariadb cpu ${db_cpu} us/query"
}

start_ts=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for test in $TESTS; do
  for threads in $THREADS; do
    for ((round = 1; round <= ROUNDS; round++)); do
      for target in $TARGETS; do
        [[ -n "${UNAVAILABLE[$target]:-}" ]] && continue
        [[ -n "${CELL_FAILED["$test $threads $target"]:-}" ]] && continue
        run_one "$test" "$threads" "$target" "$round"
      done
    done
  done
done
elapsed=$(($(date +%s) - start_ts))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- Report ---------------------------------------------------------------------------------------------------------
# median COLUMN TEST THREADS TARGET — median of a RAW column over rounds ("" when no run succeeded or no value).
median() {
  awk -F'\t' -v col="$1" -v t="$2" -v th="$3" -v tg="$4" '
    $1 == t && $2 == th && $3 == tg && $col != "-" { v[n++] = $col + 0 }
    END {
      if (n == 0) exit
      for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
      if (n % 2) print v[(n - 1) / 2]; else print (v[n / 2 - 1] + v[n / 2]) / 2
    }' "$RAW"
}

# routing_report — when TARGETS has shardgate and a sharded target: each sharded target's median QPS and proxy CPU
# per query against the unsharded keyspace's (routing cost = 1 - QPS ratio).
routing_report() {
  [[ " $TARGETS " == *" shardgate "* && (" $TARGETS " == *" sharded "* || " $TARGETS " == *" sharded-1srv "*) ]] ||
    return 0
  local test threads target uq ucpu udb qps cpu db ratio dcpu ddb
  echo
  echo "Routing cost: sharded keyspaces against the unsharded one (shardgate), both through Shardgate:"
  echo
  echo "| test | threads | target | QPS | QPS vs shardgate | 1 - ratio | proxy CPU µs/query | vs shardgate | MariaDB CPU µs/query | vs shardgate |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  for test in $TESTS; do
    for threads in $THREADS; do
      uq=$(median 5 "$test" "$threads" shardgate)
      ucpu=$(median 7 "$test" "$threads" shardgate)
      udb=$(median 9 "$test" "$threads" shardgate)
      for target in sharded sharded-1srv; do
        [[ " $TARGETS " == *" $target "* ]] || continue
        qps=$(median 5 "$test" "$threads" "$target")
        cpu=$(median 7 "$test" "$threads" "$target")
        db=$(median 9 "$test" "$threads" "$target")
        if [[ -z "$qps" || -z "$uq" ]]; then
          echo "| $test | $threads | $target | ${qps:-FAILED} | n/a | n/a | ${cpu:--} | n/a | ${db:--} | n/a |"
          continue
        fi
        ratio=$(awk -v a="$qps" -v b="$uq" 'BEGIN { printf "%.3f", a / b }')
        dcpu=n/a
        if [[ -n "$cpu" && -n "$ucpu" ]]; then
          dcpu=$(awk -v a="$cpu" -v b="$ucpu" 'BEGIN { printf "%+.1f", a - b }')
          cpu=$(awk -v c="$cpu" 'BEGIN { printf "%.1f", c }')
        fi
        ddb=n/a
        if [[ -n "$db" && -n "$udb" ]]; then
          ddb=$(awk -v a="$db" -v b="$udb" 'BEGIN { printf "%+.1f", a - b }')
          db=$(awk -v c="$db" 'BEGIN { printf "%.1f", c }')
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$test" "$threads" "$target" \
          "$(awk -v q="$qps" 'BEGIN { printf "%.0f", q }')" "$ratio" \
          "$(awk -v r="$ratio" 'BEGIN { printf "%.1f %%", (1 - r) * 100 }')" "${cpu:--}" "$dcpu" "${db:--}" "$ddb"
      done
    done
  done
}

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n1)" ]]; then
  commit="$commit (dirty)"
fi
report() {
  echo "## sysbench: ${TARGETS// / vs } — $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
  echo "- versions: MariaDB $(mariadbd --version | awk '{ sub(/-.*/, "", $3); print $3 }'), sysbench $(sysbench --version | awk '{ print $2 }')$(
    command -v haproxy >/dev/null && haproxy -v | awk 'NR == 1 { print ", HAProxy " $3 }'), Shardgate $commit${SHARDGATE_PROXY_BIN:+ (binary $SHARDGATE_PROXY_BIN)}"
  echo "- sysbench: $TABLES tables x $TABLE_SIZE rows, --db-ps-mode=$PS_MODE, ${DURATION}s per run, $ROUNDS round(s)" \
    "alternating ${TARGETS// / → }, medians over rounds; ${elapsed}s of runs"
  echo "- HAProxy: mode tcp, nbthread ${HAPROXY_NBTHREAD:-default (one per CPU)}; Shardgate: worker_threads $PROXY_THREADS" \
    "(0 = automatic: half the cores, at least 1), release build"
  if [[ " $TARGETS " == *" sharded "* ]]; then
    echo "- sharded: Shardgate, keyspace sbtest sharded by id (hash vindex) over shards -80 and 80- on two more MariaDB" \
      "servers (same settings), tables created and filled by \`sysbench prepare --auto-inc=off\` through the proxy"
  fi
  if [[ " $TARGETS " == *" sharded-1srv "* ]]; then
    echo "- sharded-1srv: Shardgate, keyspace sbtest_1srv sharded by id (hash vindex) over shards -80 and 80- that are" \
      "both the direct server (a copy of sbtest): same backend as shardgate, plus routing"
  fi
  echo "- proxy CPU: utime+stime from /proc/<pid>/stat around each run / queries of that run (CLK_TCK $CLK_TCK);" \
    "MariaDB CPU: the same for the server(s) behind the target (both shards for sharded)"
  echo "- load average (1, 5, 15 min) before the runs: $load_before; after: $load_after"
  echo
  echo "| test | threads | target | QPS | vs direct | p95 ms | proxy CPU µs/query | MariaDB CPU µs/query |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|"
  local test threads target qps dq ratio p95 cpu db
  for test in $TESTS; do
    for threads in $THREADS; do
      dq=$(median 5 "$test" "$threads" direct)
      for target in $TARGETS; do
        qps=$(median 5 "$test" "$threads" "$target")
        if [[ -z "$qps" ]]; then
          echo "| $test | $threads | $target | FAILED | | | | |"
          continue
        fi
        ratio=n/a
        [[ -n "$dq" ]] && ratio=$(awk -v a="$qps" -v b="$dq" 'BEGIN { printf "%.2f", a / b }')
        p95=$(median 6 "$test" "$threads" "$target")
        cpu=$(median 7 "$test" "$threads" "$target")
        [[ -n "$cpu" ]] && cpu=$(awk -v c="$cpu" 'BEGIN { printf "%.1f", c }')
        db=$(median 9 "$test" "$threads" "$target")
        [[ -n "$db" ]] && db=$(awk -v c="$db" 'BEGIN { printf "%.1f", c }')
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$test" "$threads" "$target" \
          "$(awk -v q="$qps" 'BEGIN { printf "%.0f", q }')" "$ratio" "$p95" "${cpu:--}" "${db:--}"
      done
    done
  done
  routing_report
  if ((${#ERRORS[@]} > 0)); then
    echo
    echo "Failures:"
    local e
    for e in "${ERRORS[@]}"; do
      echo "- $e"
    done
  fi
  echo
  echo "<details><summary>all runs</summary>"
  echo
  echo "| test | threads | target | round | QPS | p95 ms | proxy CPU µs/query | MariaDB CPU µs/query | queries |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $9, $8 }' "$RAW"
  echo
  echo "</details>"
}

mkdir -p "$RESULTS_DIR"
results="$RESULTS_DIR/$(date +%Y-%m-%d).md"
n=2
while [[ -e "$results" ]]; do
  results="$RESULTS_DIR/$(date +%Y-%m-%d)-$n.md"
  n=$((n + 1))
done
report | tee "$results"
sg_log "results written to $results"
if ((${#ERRORS[@]} > 0)); then
  sg_warn "${#ERRORS[@]} failure(s), listed under the table; logs: $WORK (set KEEP_WORK=1 to keep them)"
  exit 1
fi
