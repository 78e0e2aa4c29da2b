# shellcheck shell=bash
# scripts/lib.sh — shared helpers for Shardgate's scripts: throwaway MariaDB servers, free ports, background
# processes that are stopped on exit, and proxy config files. Source it (after `set -euo pipefail`); it runs nothing.
#
#   . "$ROOT/scripts/lib.sh"
#   sg_workdir_init "$dir"          # state dir; short socket dir; stops processes a previous run left there
#   sg_install_traps                # EXIT/INT/TERM: stop every process started here, remove temp dirs
#   port=$(sg_free_port)
#   sg_mariadb_start db1 "$port"    # fresh server from a template; root@127.0.0.1, empty password, TCP
#   sg_mysql "$port" -e 'select 1'
#   sg_write_proxy_config "$dir" 127.0.0.1:6446 127.0.0.1:9446 app app-secret app=127.0.0.1:$port
#   sg_proxy_start "$dir"           # sets SG_PROXY_PID
#   sg_mariadb_stop db1
#
# Every listener is on 127.0.0.1. Every wait loop is bounded. Only processes started through sg_spawn are stopped,
# each by its own pid.

if [[ -n "${SG_LIB_LOADED:-}" ]]; then
  return 0
fi
SG_LIB_LOADED=1

# mariadbd and haproxy live in /usr/sbin, which is not on a non-root user's PATH.
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) PATH="$PATH:/usr/sbin:/sbin" ;;
esac
export PATH

# Repository root (the directory above scripts/).
SG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

SG_WORK=""            # state directory (sg_workdir_init)
SG_SOCK_DIR=""        # short directory for unix sockets (< 108 bytes per path)
SG_PORTS_FILE=""      # ports handed out by sg_free_port in this run, so two calls never return the same one
SG_PIDS=()            # processes started by sg_spawn; sg_cleanup stops them in reverse order
SG_TMP_DIRS=()        # directories sg_cleanup removes
SG_LAST_PID=""        # pid of the last sg_spawn
SG_PROXY_PID=""       # pid of the proxy started by sg_proxy_start
SG_TEMPLATE=""        # initialised MariaDB data directory, copied per server
declare -gA SG_MARIADB_PID=()   # server name -> pid
declare -gA SG_MARIADB_PORT=()  # server name -> port
declare -gA SG_MARIADB_DIR=()   # server name -> directory (my.cnf, data/, error.log)

# Seconds to wait for a server to accept connections, and for one to stop after SIGTERM.
SG_START_TIMEOUT=${SG_START_TIMEOUT:-60}
SG_STOP_TIMEOUT=${SG_STOP_TIMEOUT:-30}

# ---------------------------------------------------------------------------------------------------------------
# Messages

# sg_log MESSAGE... — timestamped progress line on stderr (stdout stays free for results).
sg_log() {
  printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# sg_warn MESSAGE... — warning on stderr.
sg_warn() {
  printf '[%s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# sg_die MESSAGE... — error on stderr, exit 1 (the EXIT trap cleans up).
sg_die() {
  printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2
  exit 1
}

# sg_tail_log FILE [LINES] — the end of a log file on stderr, framed, for error reports.
sg_tail_log() {
  local file=$1 lines=${2:-30}
  if [[ -s "$file" ]]; then
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf -- '----- end of %s -----\n' "$file" >&2
  else
    printf -- '----- %s is empty or missing -----\n' "$file" >&2
  fi
}

# sg_require_cmd CMD... — fail with a hint when a command is missing.
sg_require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || sg_die "'$c' not found on PATH; run scripts/setup.sh (as root) first"
  done
}

# ---------------------------------------------------------------------------------------------------------------
# Processes

# sg_alive PID — true while the process exists and is not a zombie.
sg_alive() {
  local pid=$1 stat state
  [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  state=${stat##*) }   # the command name may contain spaces and parentheses: cut after the last ") "
  state=${state%% *}
  [[ "$state" != "Z" && "$state" != "X" ]]
}

# sg_cpu_ticks PID — utime + stime of the process (all threads) in clock ticks (getconf CLK_TCK per second).
sg_cpu_ticks() {
  local pid=$1 stat rest
  stat=$(cat "/proc/$pid/stat") || return 1
  rest=${stat##*) }
  # rest: state(3) ppid(4) ... utime(14) stime(15): fields 12 and 13 of rest.
  awk '{ print $12 + $13 }' <<<"$rest"
}

# sg_spawn LOGFILE CMD [ARGS...] — start CMD in the background in its own session (so a terminal Ctrl-C reaches
# only this script, which then stops it in order), stdin from /dev/null, output appended to LOGFILE.
# Sets SG_LAST_PID and registers the pid for sg_cleanup (and in $SG_WORK/pids for sg_workdir_init's stale check).
sg_spawn() {
  local log=$1
  shift
  setsid "$@" </dev/null >>"$log" 2>&1 &
  SG_LAST_PID=$!
  SG_PIDS+=("$SG_LAST_PID")
  if [[ -n "$SG_WORK" ]]; then
    echo "$SG_LAST_PID" >>"$SG_WORK/pids"
  fi
}

# sg_stop_pid PID [TIMEOUT_SECONDS] — SIGTERM, wait (bounded), then SIGKILL; reap it if it is our child.
sg_stop_pid() {
  local pid=$1 timeout=${2:-$SG_STOP_TIMEOUT} i
  [[ -n "$pid" ]] || return 0
  if sg_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      sg_alive "$pid" || break
      sleep 0.1
    done
    if sg_alive "$pid"; then
      sg_warn "pid $pid did not stop within ${timeout}s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        sg_alive "$pid" || break
        sleep 0.1
      done
    fi
  fi
  # Reap our own child (a no-op for a pid that is not ours); never blocks, as the process is gone by now.
  if ! sg_alive "$pid"; then
    wait "$pid" 2>/dev/null || true
  fi
  sg__forget_pid "$pid"
}

sg__forget_pid() {
  local pid=$1 p keep=()
  for p in "${SG_PIDS[@]}"; do
    [[ "$p" == "$pid" ]] || keep+=("$p")
  done
  SG_PIDS=("${keep[@]}")
}

# sg_cleanup — stop every process started by sg_spawn (newest first), remove temporary directories.
sg_cleanup() {
  local i
  for ((i = ${#SG_PIDS[@]} - 1; i >= 0; i--)); do
    sg_stop_pid "${SG_PIDS[$i]}" || true
  done
  SG_PIDS=()
  for i in "${SG_TMP_DIRS[@]}"; do
    [[ -n "$i" && -d "$i" ]] && rm -rf -- "$i"
  done
  SG_TMP_DIRS=()
}

sg__on_exit() {
  local rc=$?
  set +e
  # Finish cleaning up even if stderr's reader is gone (SIGPIPE) or Ctrl-C is pressed again: every step is bounded.
  trap '' PIPE INT TERM
  if [[ -n "$(type -t sg_on_exit_hook)" ]]; then
    sg_on_exit_hook "$rc"
  fi
  sg_cleanup
  exit "$rc"
}

# sg_install_traps — on exit (normal, error, Ctrl-C, TERM, or SIGPIPE when our output's reader went away) run
# sg_on_exit_hook RC if the script defines it, then sg_cleanup. Ctrl-C exits 130, TERM 143, PIPE 141. (Caught, not
# ignored, so the processes we start keep the default SIGPIPE behaviour.)
sg_install_traps() {
  trap sg__on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 141' PIPE
}

# sg_mktemp_dir PREFIX — a new directory under /tmp (short path), removed by sg_cleanup. Prints its path.
# (Call as dir=$(sg_mktemp_dir x) and then sg_track_dir "$dir": a command substitution cannot register it.)
sg_mktemp_dir() {
  mktemp -d "/tmp/$1.XXXXXX"
}

# sg_track_dir DIR — have sg_cleanup remove DIR.
sg_track_dir() {
  SG_TMP_DIRS+=("$1")
}

# sg_workdir_init DIR — use DIR for state (created if missing). Stops processes a previous run recorded in
# DIR/pids (only those whose command line still names DIR), creates a short socket directory, resets the port list.
sg_workdir_init() {
  local dir=$1 pid cmdline
  mkdir -p "$dir"
  SG_WORK="$(cd "$dir" && pwd -P)"
  if [[ -f "$SG_WORK/pids" ]]; then
    while read -r pid; do
      [[ "$pid" =~ ^[0-9]+$ ]] || continue
      sg_alive "$pid" || continue
      cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
      if [[ "$cmdline" == *"$SG_WORK"* ]]; then
        sg_log "stopping pid $pid left by a previous run in $SG_WORK"
        sg_stop_pid "$pid"
      fi
    done <"$SG_WORK/pids"
  fi
  : >"$SG_WORK/pids"
  SG_SOCK_DIR=$(sg_mktemp_dir sgs)
  sg_track_dir "$SG_SOCK_DIR"
  SG_PORTS_FILE="$SG_WORK/ports"
  : >"$SG_PORTS_FILE"
}

# ---------------------------------------------------------------------------------------------------------------
# Ports

# sg_port_in_use PORT — true when something accepts TCP on 127.0.0.1:PORT.
sg_port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# sg_free_port — prints a TCP port on 127.0.0.1 that nothing listens on. Picked at random in 20000–31999, below
# Linux's ephemeral range (32768+) so outgoing client sockets never take it, and never one already handed out in
# this run (SG_PORTS_FILE).
sg_free_port() {
  local i p r
  for ((i = 0; i < 500; i++)); do
    r=${SRANDOM:-$((RANDOM * 32768 + RANDOM))}
    p=$((20000 + r % 12000))
    if [[ -n "$SG_PORTS_FILE" ]] && grep -qx "$p" "$SG_PORTS_FILE" 2>/dev/null; then
      continue
    fi
    sg_port_in_use "$p" && continue
    if [[ -n "$SG_PORTS_FILE" ]]; then
      echo "$p" >>"$SG_PORTS_FILE"
    fi
    echo "$p"
    return 0
  done
  sg_die "no free TCP port found on 127.0.0.1 after 500 tries"
}

# sg_wait_tcp PORT TIMEOUT_SECONDS [PID [LOGFILE]] — wait until 127.0.0.1:PORT accepts TCP. Fails early (with the
# log's tail) if PID exits, and after TIMEOUT_SECONDS.
sg_wait_tcp() {
  local port=$1 timeout=$2 pid=${3:-} log=${4:-} i
  for ((i = 0; i < timeout * 10; i++)); do
    if [[ -n "$pid" ]] && ! sg_alive "$pid"; then
      sg_warn "process $pid exited before listening on 127.0.0.1:$port"
      [[ -n "$log" ]] && sg_tail_log "$log"
      return 1
    fi
    sg_port_in_use "$port" && return 0
    sleep 0.1
  done
  sg_warn "nothing accepted TCP on 127.0.0.1:$port within ${timeout}s"
  [[ -n "$log" ]] && sg_tail_log "$log"
  return 1
}

# ---------------------------------------------------------------------------------------------------------------
# MariaDB

# sg_mysql PORT [MARIADB-CLIENT-ARGS...] — the mariadb client as root (empty password) over TCP to 127.0.0.1:PORT,
# ignoring every option file.
sg_mysql() {
  local port=$1
  shift
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$port" -uroot --connect-timeout=5 "$@"
}

# sg_mariadb_template — initialise a MariaDB data directory once under $SG_WORK/mariadb-template (reused when
# already there) with root@127.0.0.1 and root@::1 (mysql_native_password, empty password, all privileges) and
# root@localhost accepting the unix socket or the empty password. Sets SG_TEMPLATE.
sg_mariadb_template() {
  [[ -n "$SG_WORK" ]] || sg_die "sg_mariadb_template: call sg_workdir_init first"
  local tpl="$SG_WORK/mariadb-template"
  if [[ -f "$tpl/.ready" ]]; then
    SG_TEMPLATE=$tpl
    return 0
  fi
  sg_require_cmd mariadb-install-db mariadbd mariadb
  local tmp="$tpl.tmp.$$"
  rm -rf -- "$tmp" "$tpl"
  mkdir -p "$tmp"
  # --extra-file runs with grant tables off until FLUSH PRIVILEGES.
  cat >"$tmp/init.sql" <<'SQL'
FLUSH PRIVILEGES;
ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS root@'127.0.0.1';
ALTER USER root@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS root@'::1';
ALTER USER root@'::1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO root@'::1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  # A private tmpdir (in an option file, so any path works): at startup mariadbd deletes every `#sql*` file in its
  # tmpdir, so with a shared /tmp a server starting meanwhile destroys bootstrap's temporary tables ("Unknown table
  # 'mysql.tmp_user_sys'"), and bootstrap destroys those of running servers. The file also keeps /etc/mysql out.
  mkdir -p "$tmp/tmp"
  cat >"$tmp/install.cnf" <<EOF
[mariadbd]
tmpdir=$tmp/tmp
EOF
  sg_log "initialising MariaDB template in $tpl"
  if ! mariadb-install-db --defaults-file="$tmp/install.cnf" --user=root --datadir="$tmp/data" --skip-test-db \
    --extra-file="$tmp/init.sql" >"$tmp/install.log" 2>&1; then
    sg_tail_log "$tmp/install.log"
    sg_die "mariadb-install-db failed (log above)"
  fi
  mv -T -- "$tmp" "$tpl"
  touch "$tpl/.ready"
  SG_TEMPLATE=$tpl
}

# sg_mariadb_start NAME PORT [SERVER_ID] — a fresh server in $SG_WORK/NAME (any previous one there is wiped) on
# 127.0.0.1:PORT, copied from the template. Extra [mariadbd] lines may be given in SG_MARIADB_EXTRA_CNF. Waits until
# root can run a query over TCP. Sets SG_MARIADB_PID/PORT/DIR[NAME].
sg_mariadb_start() {
  local name=$1 port=$2 server_id=${3:-$2}
  local dir="$SG_WORK/$name" sock="$SG_SOCK_DIR/$name.sock" pid i
  [[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || sg_die "sg_mariadb_start: bad server name '$name'"
  ((${#sock} < 108)) || sg_die "socket path too long (${#sock} bytes): $sock"
  sg_mariadb_template
  if [[ -n "${SG_MARIADB_PID[$name]:-}" ]]; then
    sg_die "sg_mariadb_start: server '$name' is already running (pid ${SG_MARIADB_PID[$name]})"
  fi
  if sg_port_in_use "$port"; then
    sg_die "port 127.0.0.1:$port is already in use; cannot start MariaDB '$name' there"
  fi
  rm -rf -- "$dir"
  mkdir -p "$dir" "$dir/tmp"
  cp -a "$SG_TEMPLATE/data" "$dir/data"
  # log-basename must come before log-error, or the error log silently moves. tmpdir is the server's own: at
  # startup mariadbd deletes every `#sql*` file in its tmpdir, which with a shared /tmp destroys the temporary
  # tables of every other server and of a concurrent mariadb-install-db.
  cat >"$dir/my.cnf" <<EOF
[mariadbd]
user=root
port=$port
bind-address=127.0.0.1
socket=$sock
datadir=$dir/data
tmpdir=$dir/tmp
pid-file=$dir/mariadbd.pid
log-basename=$name
log-error=$dir/error.log
log-bin=$name-bin
binlog_format=ROW
server-id=$server_id
gtid_strict_mode=ON
innodb_flush_log_at_trx_commit=2
sync_binlog=0
performance_schema=OFF
max_connections=1000
skip-name-resolve
${SG_MARIADB_EXTRA_CNF:-}
EOF
  sg_spawn "$dir/stdout.log" mariadbd --defaults-file="$dir/my.cnf"
  pid=$SG_LAST_PID
  SG_MARIADB_PID[$name]=$pid
  # shellcheck disable=SC2034 # read by the scripts that source this file
  SG_MARIADB_PORT[$name]=$port
  # shellcheck disable=SC2034
  SG_MARIADB_DIR[$name]=$dir
  for ((i = 0; i < SG_START_TIMEOUT * 10; i++)); do
    if ! sg_alive "$pid"; then
      sg_tail_log "$dir/error.log"
      sg_tail_log "$dir/stdout.log" 10
      sg_die "MariaDB '$name' (pid $pid) exited during startup"
    fi
    if sg_mysql "$port" -N -e 'select 1' >/dev/null 2>&1; then
      sg_log "MariaDB '$name' ready on 127.0.0.1:$port (pid $pid, dir $dir)"
      return 0
    fi
    sleep 0.1
  done
  sg_tail_log "$dir/error.log"
  # Show the real client error.
  sg_mysql "$port" -e 'select 1' >&2 || true
  sg_die "MariaDB '$name' did not accept 'select 1' as root over TCP on 127.0.0.1:$port within ${SG_START_TIMEOUT}s"
}

# sg_mariadb_stop NAME — stop a server started by sg_mariadb_start (SIGTERM = clean shutdown, bounded wait).
sg_mariadb_stop() {
  local name=$1 pid
  pid=${SG_MARIADB_PID[$name]:-}
  [[ -n "$pid" ]] || return 0
  sg_stop_pid "$pid" "$SG_STOP_TIMEOUT"
  unset 'SG_MARIADB_PID[$name]'
  sg_log "MariaDB '$name' stopped"
}

# ---------------------------------------------------------------------------------------------------------------
# Shardgate proxy

# sg_toml_str VALUE — VALUE as a TOML basic string (quoted, escaped).
sg_toml_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# sg_write_shardmap FILE KEYSPACE=HOST:PORT... — a shard map with one unsharded keyspace (one shard "0", primary
# HOST:PORT, cell dc1) per argument.
sg_write_shardmap() {
  local file=$1 arg ks addr
  shift
  (($# > 0)) || sg_die "sg_write_shardmap: give at least one KEYSPACE=HOST:PORT"
  {
    echo "# Generated by scripts/lib.sh (sg_write_shardmap)."
    echo "version: 1"
    echo "cells: [dc1]"
    echo "keyspaces:"
    for arg in "$@"; do
      ks=${arg%%=*}
      addr=${arg#*=}
      [[ "$arg" == *=* && "$ks" =~ ^[A-Za-z0-9_]+$ && "$addr" =~ ^[0-9.]+:[0-9]+$ ]] ||
        sg_die "sg_write_shardmap: bad argument '$arg' (want KEYSPACE=127.0.0.1:PORT)"
      echo "  $ks:"
      echo "    sharded: false"
      echo "    shards:"
      echo "      - name: \"0\""
      echo "        cell: dc1"
      echo "        primary: $addr"
    done
  } >"$file"
}

# sg_write_proxy_config DIR CLASSIC_ADDR ADMIN_ADDR USER PASSWORD KEYSPACE=HOST:PORT... — DIR/proxy.toml and
# DIR/shardmap.yaml (format: docs/CONFIG.md): one proxy user, backends as root with an empty password, one unsharded
# keyspace per KEYSPACE=HOST:PORT. SG_PROXY_WORKER_THREADS (default 0 = one per core) sets worker_threads.
sg_write_proxy_config() {
  local dir=$1 classic=$2 admin=$3 user=$4 password=$5
  shift 5
  mkdir -p "$dir"
  sg_write_shardmap "$dir/shardmap.yaml" "$@"
  cat >"$dir/proxy.toml" <<EOF
# Generated by scripts/lib.sh (sg_write_proxy_config). Format: docs/CONFIG.md.
[proxy]
cell = "dc1"
classic_listen = $(sg_toml_str "$classic")
admin_listen = $(sg_toml_str "$admin")
worker_threads = ${SG_PROXY_WORKER_THREADS:-0}
max_connections = 10000

[backend]
user = "root"
password = ""

[pool]
max_open = 256
connect_timeout_ms = 2000
checkout_timeout_ms = 5000

[[users]]
name = $(sg_toml_str "$user")
password = $(sg_toml_str "$password")
auth_plugin = "mysql_native_password"

[shardmap]
file = "shardmap.yaml"
EOF
}

# sg_proxy_bin — path of the release shardgate-proxy binary (SHARDGATE_PROXY_BIN overrides).
sg_proxy_bin() {
  if [[ -n "${SHARDGATE_PROXY_BIN:-}" ]]; then
    echo "$SHARDGATE_PROXY_BIN"
  else
    echo "${CARGO_TARGET_DIR:-$SG_ROOT/target}/release/shardgate-proxy"
  fi
}

# sg_proxy_start DIR [TIMEOUT_SECONDS] — start `shardgate-proxy --config DIR/proxy.toml` (log DIR/proxy.log) and
# wait until its classic and admin listeners accept TCP. Sets SG_PROXY_PID. Returns 1 (log tail shown) on failure,
# leaving a still-running proxy registered for sg_cleanup.
sg_proxy_start() {
  local dir=$1 timeout=${2:-30} bin classic admin
  bin=$(sg_proxy_bin)
  if [[ ! -x "$bin" ]]; then
    sg_warn "proxy binary $bin not found; build it with: cargo build --release -p shardgate-proxy"
    return 1
  fi
  classic=$(sed -n 's/^classic_listen = "\(.*\)"$/\1/p' "$dir/proxy.toml")
  admin=$(sed -n 's/^admin_listen = "\(.*\)"$/\1/p' "$dir/proxy.toml")
  if sg_port_in_use "${classic##*:}"; then
    sg_warn "port ${classic##*:} (classic_listen $classic) is already in use"
    return 1
  fi
  sg_spawn "$dir/proxy.log" env RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "$bin" --config "$dir/proxy.toml"
  SG_PROXY_PID=$SG_LAST_PID
  sg_wait_tcp "${classic##*:}" "$timeout" "$SG_PROXY_PID" "$dir/proxy.log" || return 1
  if [[ -n "$admin" ]]; then
    sg_wait_tcp "${admin##*:}" "$timeout" "$SG_PROXY_PID" "$dir/proxy.log" || return 1
  fi
  sg_log "shardgate-proxy listening on $classic (admin $admin), pid $SG_PROXY_PID"
}
