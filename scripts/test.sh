#!/usr/bin/env bash
# scripts/test.sh — Shardgate's whole test suite, as CI runs it (.ci/run):
#   1. scripts/setup.sh                  (system packages, Python client libraries)
#   2. cargo fmt --all -- --check
#   3. cargo clippy --workspace --all-targets -- -D warnings
#   4. cargo build --workspace --bins
#   5. cargo test --workspace -- --test-threads=2 [ARGS...]   (extra arguments go to the test binaries: filters,
#                                                              --nocapture, ...)
#   6. DEMO_EXIT=1 scripts/demo.sh      (smoke: servers + release proxy + one query; on free ports, own state dir)
# Every step runs even when an earlier one failed (TEST_FAIL_FAST=1 stops at the first failure), except that a
# failed setup stops everything. Exits non-zero if any step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"
sg_install_traps

passed=()
failed=()

# step NAME CMD [ARGS...] — run one step, record its result.
step() {
  local name=$1 start rc=0
  shift
  start=$(date +%s)
  printf '\n=== %s: %s\n' "$name" "$*" >&2
  "$@" || rc=$?
  if ((rc == 0)); then
    passed+=("$name")
    printf '=== %s: ok (%ss)\n' "$name" "$(($(date +%s) - start))" >&2
  else
    failed+=("$name")
    printf '=== %s: FAILED with exit code %s (%ss)\n' "$name" "$rc" "$(($(date +%s) - start))" >&2
    if [[ "${TEST_FAIL_FAST:-0}" == 1 ]]; then
      summary
      exit 1
    fi
  fi
}

summary() {
  printf '\n=== summary: %s step(s) ok: %s\n' "${#passed[@]}" "${passed[*]:-none}" >&2
  if ((${#failed[@]} > 0)); then
    printf '=== FAILED step(s): %s\n' "${failed[*]}" >&2
  fi
}

step setup bash scripts/setup.sh
if ((${#failed[@]} > 0)); then
  summary
  exit 1
fi
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step build cargo build --workspace --bins
step test cargo test --workspace -- --test-threads=2 "$@"

# The smoke demo gets its own state directory and free ports, so it never collides with a demo someone is running.
demo_dir=$(sg_mktemp_dir sg-demo-smoke)
sg_track_dir "$demo_dir"
SG_PORTS_FILE="$demo_dir/ports"
demo_port=$(sg_free_port)
demo_admin_port=$(sg_free_port)
step demo-smoke env DEMO_EXIT=1 DEMO_SKIP_SETUP=1 DEMO_DIR="$demo_dir/state" DEMO_PORT="$demo_port" \
  DEMO_ADMIN_PORT="$demo_admin_port" bash scripts/demo.sh

summary
if ((${#failed[@]} > 0)); then
  exit 1
fi
echo "test.sh: all ${#passed[@]} steps ok"
