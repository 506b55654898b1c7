#!/usr/bin/env bash
# Client-side instructions per operation, raw sqlx vs lockstep-tidb, with valgrind's callgrind.
#
# Each side runs twice (SMALL and LARGE operations); the difference divided by LARGE-SMALL is
# the per-operation count, with connection setup and schema work cancelled out. The server is
# another process, so only the client's instructions are counted: exactly the driver overhead.
#
# usage: driver-tests/bench/callgrind.sh [admin-url]   (default: the local MariaDB)
#        OPS="insert:autocommit" SMALL=400 LARGE=4400 driver-tests/bench/callgrind.sh
# 4,000 operations between the two sizes: with 1,000 (200/1200) one side's count moved by up
# to 7 % between runs (how often a read found the socket not yet ready), enough to read 0.96
# or 1.09 for the same build.
# The binary is found wherever cargo puts it (CARGO_TARGET_DIR, a workspace target-dir).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
url=${1:-${DRIVER_BENCH_URL:-mysql://root@127.0.0.1:3306/test}}
small=${SMALL:-400}
large=${LARGE:-4400}
cargo build --release -q -p driver-tests --bin driver-bench
source scripts/callgrind-lib.sh
bin=$(release_bin driver-bench)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

instructions() { # side op iters
  callgrind_total "$out/cg.$1.$3" "$bin" --url "$url" --only "$1" --op "$2" --iters "$3"
}

printf '%-26s %14s %14s %8s\n' "op:mode" "raw Ir/op" "driver Ir/op" "ratio"
for op in ${OPS:-point_select:autocommit point_select:transaction insert:autocommit update:transaction}; do
  declare -A per=()
  for side in raw driver; do
    a=$(instructions "$side" "$op" "$small")
    b=$(instructions "$side" "$op" "$large")
    per[$side]=$(( (b - a) / (large - small) ))
  done
  awk -v o="$op" -v r="${per[raw]}" -v d="${per[driver]}" 'BEGIN { printf "%-26s %14d %14d %8.3f\n", o, r, d, d / r }'
done
