#!/usr/bin/env bash
# benches/sysbench-sharded.sh — what routing on a sharded keyspace costs: sysbench oltp_point_select through
# Shardgate on a 2-shard keyspace (sharded by id, hash vindex) against the same through Shardgate on an unsharded
# keyspace, and direct, alternating in one run. The report adds a "Routing cost" table (QPS ratio sharded /
# unsharded, proxy CPU per query). Method: benches/README.md, "Sharded keyspaces".
#
# It is benches/sysbench.sh with other defaults; every variable of that script applies:
#   TESTS [oltp_point_select]  TARGETS ["direct shardgate sharded sharded-1srv"]  PS_MODE [disable] (text queries
#   for every target; set PS_MODE=auto once sharded keyspaces serve server-side prepared statements)
#   THREADS ["1 4 16"]  ROUNDS [3]  DURATION [10]  TABLES [4]  TABLE_SIZE [10000]  WARMUP [5]  ...
set -euo pipefail

export TESTS=${TESTS:-oltp_point_select}
export TARGETS=${TARGETS:-"direct shardgate sharded sharded-1srv"}
export PS_MODE=${PS_MODE:-disable}
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/sysbench.sh" "$@"
