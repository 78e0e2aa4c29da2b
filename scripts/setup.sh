#!/usr/bin/env bash
# scripts/setup.sh — install what Shardgate's tests, demo and benchmarks need on a fresh Debian 12 machine.
#
# Run as root. Idempotent: skips apt when every package is already installed and pip when every module imports.
# Reaches only Debian's mirrors and PyPI. Installs:
#   Debian: mariadb-server mariadb-client sysbench haproxy python3-pip
#   PyPI (for the python3 on PATH): pymysql mysql-connector-python cryptography
# Node.js is optional for now (later client-compatibility tests). A Rust toolchain (cargo, rustfmt, clippy) is
# expected to be there already; this script only checks for it.
set -euo pipefail

APT_PACKAGES=(mariadb-server mariadb-client sysbench haproxy python3-pip)
PIP_PACKAGES=(pymysql mysql-connector-python cryptography)
PIP_IMPORTS="import pymysql, mysql.connector, cryptography"

log() { printf '[setup] %s\n' "$*" >&2; }
die() {
  printf '[setup] ERROR: %s\n' "$*" >&2
  exit 1
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0
cleanup() {
  if ((POLICY_RC_OURS)); then
    rm -f "$POLICY_RC"
  fi
}
trap cleanup EXIT

# --- Debian packages ------------------------------------------------------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
else
  log "dpkg-query not found (not Debian?): checking commands instead of packages"
  for cmd in mariadbd mariadb mariadb-install-db sysbench haproxy; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) || die "missing commands: ${missing[*]}; install them with your package manager"
fi

if ((${#missing[@]} == 0)); then
  log "Debian packages already installed: ${APT_PACKAGES[*]}"
else
  [[ "$(id -u)" == 0 ]] || die "missing packages: ${missing[*]}; run this script as root (it uses apt-get)"
  # No service may start during the install (no systemd here; a stray mariadbd on 3306 helps nobody).
  if [[ ! -e "$POLICY_RC" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    POLICY_RC_OURS=1
  fi
  log "installing: ${APT_PACKAGES[*]} (missing: ${missing[*]})"
  apt-get -o DPkg::Lock::Timeout=300 update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y "${APT_PACKAGES[@]}"
fi

# --- Python modules (for the python3 on PATH: pyenv's when there is one, else Debian's) --------------------------
command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH"
if python3 -c "$PIP_IMPORTS" >/dev/null 2>&1; then
  log "Python modules already installed for $(command -v python3): ${PIP_PACKAGES[*]}"
else
  python3 -m pip --version >/dev/null 2>&1 ||
    die "$(command -v python3) has no pip module; install python3-pip (Debian) or ensurepip"
  log "pip installing for $(command -v python3): ${PIP_PACKAGES[*]}"
  pip_args=(install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}")
  if ! out=$(PIP_ROOT_USER_ACTION=ignore python3 -m pip "${pip_args[@]}" 2>&1); then
    if grep -q 'externally-managed-environment' <<<"$out"; then
      # Stock Debian 12 python3 (PEP 668): install next to the system packages anyway.
      log "externally managed Python: retrying with --break-system-packages"
      PIP_ROOT_USER_ACTION=ignore python3 -m pip "${pip_args[@]}" --break-system-packages
    else
      printf '%s\n' "$out" >&2
      die "pip install failed"
    fi
  fi
  python3 -c "$PIP_IMPORTS" || die "Python modules still do not import after pip install"
fi

# --- Checks only ----------------------------------------------------------------------------------------------------
if command -v cargo >/dev/null 2>&1; then
  log "rust: $(cargo --version)"
  cargo fmt --version >/dev/null 2>&1 || log "WARNING: rustfmt missing (cargo fmt): scripts/test.sh needs it"
  cargo clippy --version >/dev/null 2>&1 || log "WARNING: clippy missing (cargo clippy): scripts/test.sh needs it"
else
  log "WARNING: cargo not found: a Rust toolchain (>= 1.85, with rustfmt and clippy) is needed to build Shardgate"
fi
if command -v node >/dev/null 2>&1; then
  log "node: $(node --version) (optional for now)"
else
  log "node not found: optional for now (later Node.js client tests: apt-get install nodejs npm)"
fi
log "done"
