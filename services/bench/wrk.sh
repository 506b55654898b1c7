#!/usr/bin/env bash
# Load test of album-service and note-service on MariaDB over loopback with wrk.
#
#   services/bench/wrk.sh [mysql://root@127.0.0.1:3306]   (default shown; needs wrk, release builds)
#   ALBUM_PORT=18080 NOTE_PORT=18081 LOG_LEVEL=info CONNS=32 THREADS=2 DURATION=10s ROUNDS=1
#
# Creates a fresh database, starts both services (release, the shipped log level `info` unless
# LOG_LEVEL says otherwise), waits until each one's process is alive and its /readyz answers
# (fails naming the service otherwise), seeds one row each, and runs wrk side by side: album GET
# by id and POST; note GET (encrypted) vs the plaintext control GET, and POST. ROUNDS repeats
# the measured runs; the note GET ratio is computed per round from its runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER=${1:-mysql://root@127.0.0.1:3306}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
ALBUM_PORT=${ALBUM_PORT:-18080}
NOTE_PORT=${NOTE_PORT:-18081}
LOG_LEVEL=${LOG_LEVEL:-info}
DB=lockstep_bench_$$
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build -q --release -p album-service -p note-service
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $DB"
export BENCH_DATABASE_URL="$SERVER/$DB"
export NOTE_JWT_SECRET=bench-secret-bench-secret-bench-secret
mkdir -p "$WORK/keys"
head -c 32 /dev/urandom > "$WORK/keys/acme.1.key"
head -c 32 /dev/urandom > "$WORK/keys/acme.blind"
chmod 0400 "$WORK/keys/"*
for svc in album note; do
  port=$([ $svc = album ] && echo "$ALBUM_PORT" || echo "$NOTE_PORT")
  cat > "$WORK/$svc.yaml" <<YAML
server: {port: $port}
database: {url_env: BENCH_DATABASE_URL, max_connections: 16}
log: {level: $LOG_LEVEL}
YAML
done
echo "encryption: {keys_dir: $WORK/keys}" >> "$WORK/note.yaml"
target/release/album-service --config "$WORK/album.yaml" > "$WORK/album.log" 2>&1 &
album_pid=$!
target/release/note-service --config "$WORK/note.yaml" serve --control-routes > "$WORK/note.log" 2>&1 &
note_pid=$!
# Ready means: our process is still alive (not another program on the port) and /readyz is 200.
ready() { # name pid port
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || { echo "$1-service exited:"; head -5 "$WORK/$1.log"; exit 1; }
    curl -sf "localhost:$3/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "$1-service (pid $2) not ready on port $3 after 10 s:"; tail -5 "$WORK/$1.log"; exit 1
}
ready album "$album_pid" "$ALBUM_PORT"
ready note "$note_pid" "$NOTE_PORT"
TOKEN=$(target/release/note-service --config "$WORK/note.yaml" token --tenant acme)
export TOKEN
curl -sf -XPOST localhost:$ALBUM_PORT/v1/albums -H 'content-type: application/json' \
  -d '{"title":"Blue","artist":"Joni Mitchell","price":"19.99"}' >/dev/null
note=$(printf '{"title":"seed","body":"%0256d","tags":["a"]}' 0)
curl -sf -XPOST localhost:$NOTE_PORT/v1/notes -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$note" >/dev/null
curl -sf -XPOST localhost:$NOTE_PORT/v1/control/notes -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$note" >/dev/null

run() { # name, wrk args...
  local name=$1; shift
  local out
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-34s %10s rps   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" > "$WORK/$name.rps"
}
# Warm-up (discarded): connection pools, allocator, CPU frequency.
wrk -t"$THREADS" -c"$CONNS" -d3s http://127.0.0.1:$ALBUM_PORT/v1/albums/1 >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d3s -s services/bench/auth.lua http://127.0.0.1:$NOTE_PORT/v1/notes/1 >/dev/null
echo "wrk -t$THREADS -c$CONNS -d$DURATION on $(nproc) cores, log level $LOG_LEVEL, MariaDB $(mysql -uroot -h127.0.0.1 -N -e 'select version()')"
for round in $(seq "$ROUNDS"); do
[ "$ROUNDS" = 1 ] || echo "round $round"
run album-get http://127.0.0.1:$ALBUM_PORT/v1/albums/1
run album-post -s services/bench/post-album.lua http://127.0.0.1:$ALBUM_PORT/v1/albums
run note-get-encrypted -s services/bench/auth.lua http://127.0.0.1:$NOTE_PORT/v1/notes/1
run note-get-plain-control -s services/bench/auth.lua http://127.0.0.1:$NOTE_PORT/v1/control/notes/1
run note-get-encrypted-again -s services/bench/auth.lua http://127.0.0.1:$NOTE_PORT/v1/notes/1
run note-post -s services/bench/post-note.lua http://127.0.0.1:$NOTE_PORT/v1/notes
python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
r = lambda n: float(open(f"{w}/{n}.rps").read())
enc = (r("note-get-encrypted") + r("note-get-encrypted-again")) / 2
print(f"note GET plaintext control / encrypted throughput: {r('note-get-plain-control') / enc:.3f}x (goal <= 1.2x)")
PY
done
