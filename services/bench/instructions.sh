#!/usr/bin/env bash
# Instructions per album GET by id against the bare handler without the ping (the same two
# database round trips), counted by callgrind: steady where throughput swings with the
# machine's load. Each server runs under valgrind; after a warm-up the counts are zeroed, wrk
# sends requests for DURATION over 4 connections, and the counts are dumped.
#
#   services/bench/instructions.sh [mysql://root@127.0.0.1:3306]   (needs wrk, valgrind)
#   DURATION=20s LOG_LEVEL=info PORT=18070
#
# Counts are user-space instructions only: system calls and the database are not in them, and
# valgrind runs portable code where the CPU has SHA or AES instructions (album's ETag is
# SHA-256: about 16,000 of its instructions here, a fraction of a microsecond natively).
# Idle work between requests (parking, epoll) is spread over them, so repeated runs differ by
# about 1 %.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER=${1:-mysql://root@127.0.0.1:3306}
DURATION=${DURATION:-20s}
LOG_LEVEL=${LOG_LEVEL:-info}
PORT=${PORT:-18070}
DB=lockstep_instructions_$$
WORK=$(mktemp -d)
trap 'kill ${vg_pid:-} 2>/dev/null || true; wait 2>/dev/null || true; mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build -q --release -p album-service -p lockstep-bench-bare
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $DB"
export BENCH_DATABASE_URL="$SERVER/$DB"
printf 'server: {port: %s}\ndatabase: {url_env: BENCH_DATABASE_URL, max_connections: 16}\nlog: {level: %s}\n' \
  "$PORT" "$LOG_LEVEL" > "$WORK/album.yaml"

count() { # name command... → instructions per request
  local name=$1 out requests total
  shift
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.%p" "$@" > "$WORK/$name.log" 2>&1 &
  vg_pid=$!
  for _ in $(seq 300); do
    curl -sf "localhost:$PORT/v1/albums/1" >/dev/null && break
    kill -0 "$vg_pid" 2>/dev/null || { echo "$name exited:"; tail -3 "$WORK/$name.log"; exit 1; }
    sleep 0.2
  done
  wrk -t1 -c4 -d5s "http://localhost:$PORT/v1/albums/1" >/dev/null # warm-up, not counted
  callgrind_control --zero "$vg_pid" >/dev/null 2>&1
  out=$(wrk -t1 -c4 -d"$DURATION" "http://localhost:$PORT/v1/albums/1")
  callgrind_control --dump=measured "$vg_pid" >/dev/null 2>&1
  kill "$vg_pid"; wait "$vg_pid" 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  total=$(awk '/^summary:/ {print $2}' "$WORK"/"$name".*.1)
  echo $(( total / requests ))
}

# The album row the bare handler reads; the album service creates the table.
target/release/album-service --config "$WORK/album.yaml" >/dev/null 2>&1 &
vg_pid=$!
for _ in $(seq 300); do curl -sf "localhost:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf -XPOST "localhost:$PORT/v1/albums" -H 'content-type: application/json' \
  -d '{"title":"Blue","artist":"Joni Mitchell","price":"19.99"}' >/dev/null
kill "$vg_pid"; wait "$vg_pid" 2>/dev/null || true

album=$(count album target/release/album-service --config "$WORK/album.yaml")
bare=$(PORT=$PORT MAX_CONNECTIONS=16 TEST_BEFORE_ACQUIRE=false count bare target/release/lockstep-bench-bare)
echo "commit $(git rev-parse --short HEAD), wrk -t1 -c4 -d$DURATION under callgrind, log level $LOG_LEVEL"
python3 -c "import sys; a, b = map(int, sys.argv[1:]); print(f'album {a} instructions/request, bare without the ping {b}: album/bare {a / b:.3f}x')" "$album" "$bare"
