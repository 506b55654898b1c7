#!/usr/bin/env bash
# Album GET by id against a bare axum + sqlx handler doing the same point select on the same
# database with a pool of the same size (services/bench/bare), side by side, over loopback.
#
#   services/bench/ratio.sh [mysql://root@127.0.0.1:3306]   (default shown; needs wrk)
#   ROUNDS=6 CONNS=16 THREADS=2 DURATION=5s LOG_LEVEL=info ALBUM_PORT=18080 BARE_PORT=18090
#
# The album service runs as shipped (every layer on, log level info). A second bare process
# (BARE_PORT+1) skips sqlx's ping before use, as the album's reads do on a connection used
# moments ago (lockstep_tidb's alive-bypass-window): the same two round trips per request, so
# album against it prices the layers alone. Each round runs album, bare and bare without the
# ping, and prints them, the ratios album/bare for throughput and p99, and the CPU time
# each server process spent per request (from /proc/<pid>/stat: steadier than throughput when
# wrk and MariaDB share the cores). The order of the three rotates each round; the summary
# gives the medians, the range of the per-round ratios, and the share of CPU time the
# hypervisor took meanwhile (steal), which is what makes single rounds swing on a shared VM.
# The first and last lines give the commit and the load average.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER=${1:-mysql://root@127.0.0.1:3306}
ROUNDS=${ROUNDS:-6}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
DURATION=${DURATION:-5s}
LOG_LEVEL=${LOG_LEVEL:-info}
ALBUM_PORT=${ALBUM_PORT:-18080}
BARE_PORT=${BARE_PORT:-18090}
DB=lockstep_ratio_$$
WORK=$(mktemp -d)
trap 'kill $(jobs -p) ${album_pid:-} ${bare_pid:-} ${noping_pid:-} 2>/dev/null || true; wait 2>/dev/null || true; mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build -q --release -p album-service -p lockstep-bench-bare
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $DB"
export BENCH_DATABASE_URL="$SERVER/$DB"
cat > "$WORK/album.yaml" <<YAML
server: {port: $ALBUM_PORT}
database: {url_env: BENCH_DATABASE_URL, max_connections: $CONNS}
log: {level: $LOG_LEVEL}
YAML
target/release/album-service --config "$WORK/album.yaml" > "$WORK/album.log" 2>&1 &
album_pid=$!
for _ in $(seq 100); do
  kill -0 "$album_pid" 2>/dev/null || { echo "album-service exited:"; tail -3 "$WORK/album.log"; exit 1; }
  curl -sf "localhost:$ALBUM_PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf -XPOST "localhost:$ALBUM_PORT/v1/albums" -H 'content-type: application/json' \
  -d '{"title":"Blue","artist":"Joni Mitchell","price":"19.99"}' >/dev/null
PORT=$BARE_PORT MAX_CONNECTIONS=$CONNS target/release/lockstep-bench-bare > "$WORK/bare.log" 2>&1 &
bare_pid=$!
NOPING_PORT=$((BARE_PORT + 1))
PORT=$NOPING_PORT MAX_CONNECTIONS=$CONNS TEST_BEFORE_ACQUIRE=false target/release/lockstep-bench-bare > "$WORK/bare-noping.log" 2>&1 &
noping_pid=$!
for port in "$BARE_PORT" "$NOPING_PORT"; do
  for _ in $(seq 100); do
    curl -sf "localhost:$port/v1/albums/1" >/dev/null && break
    sleep 0.1
  done
done
album=$(curl -sf "localhost:$ALBUM_PORT/v1/albums/1")
bare=$(curl -sf "localhost:$BARE_PORT/v1/albums/1")
[ "$album" = "$bare" ] || { echo "the two answers differ:"; echo "$album"; echo "$bare"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # pid url → "rps p99_ms cpu_us_per_request"
  local out rps p99 requests before after
  before=$(cpu_ticks "$1")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2")
  after=$(cpu_ticks "$1")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  python3 -c "import sys, os; v=sys.argv[1]; f={'us':1e-3,'ms':1,'s':1e3}; u=v.lstrip('0123456789.'); hz=os.sysconf('SC_CLK_TCK'); print(sys.argv[2], float(v[:len(v)-len(u)])*f[u], (int(sys.argv[4])-int(sys.argv[3]))*1e6/hz/int(sys.argv[5]))" "$p99" "$rps" "$before" "$after" "$requests"
}
for url in "localhost:$ALBUM_PORT/v1/albums/1" "localhost:$BARE_PORT/v1/albums/1" "localhost:$NOPING_PORT/v1/albums/1"; do
  wrk -t"$THREADS" -c"$CONNS" -d3s "http://$url" >/dev/null # warm-up, discarded
done
echo "commit $(git rev-parse --short HEAD), wrk -t$THREADS -c$CONNS -d$DURATION on $(nproc) cores, log level $LOG_LEVEL, MariaDB $(mysql -uroot -h127.0.0.1 -N -e 'select version()'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
steal() { awk '/^cpu / {print $9}' /proc/stat; }
steal_before=$(steal); total_before=$(awk '/^cpu / {s=0; for (i=2; i<=NF; i++) s+=$i; print s}' /proc/stat)
names=(album bare noping)
pids=("$album_pid" "$bare_pid" "$noping_pid")
ports=("$ALBUM_PORT" "$BARE_PORT" "$NOPING_PORT")
for round in $(seq "$ROUNDS"); do
  # The order rotates, so no server always runs right after the same other one.
  declare -A got=()
  for k in 0 1 2; do
    i=$(( (k + round - 1) % 3 ))
    got[${names[$i]}]=$(measure "${pids[$i]}" "http://localhost:${ports[$i]}/v1/albums/1")
  done
  echo "$round ${got[album]} ${got[bare]} ${got[noping]}" >> "$WORK/rounds"
  python3 - $round ${got[album]} ${got[bare]} ${got[noping]} <<'PY'
import sys
r, a, ap, ac, b, bp, bc, n, np_, nc = sys.argv[1], *map(float, sys.argv[2:])
print(f"round {r}: album {a:6.0f} rps p99 {ap:5.2f} ms {ac:4.0f} us CPU/req | bare {b:6.0f} rps"
      f" p99 {bp:5.2f} ms {bc:4.0f} us | bare, no ping {n:6.0f} rps p99 {np_:5.2f} ms {nc:4.0f} us"
      f" | album/bare throughput {a / b:.3f}x, p99 {ap / bp:.2f}x; album/bare-no-ping {a / n:.3f}x")
PY
done
steal_after=$(steal); total_after=$(awk '/^cpu / {s=0; for (i=2; i<=NF; i++) s+=$i; print s}' /proc/stat)
python3 - "$WORK/rounds" $(( steal_after - steal_before )) $(( total_after - total_before )) <<'PY'
import statistics, sys
rows = [list(map(float, line.split()[1:])) for line in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
col = lambda i: [r[i] for r in rows]
through = [r[0] / r[3] for r in rows]
p99 = [r[1] / r[4] for r in rows]
print(f"medians over {len(rows)} rounds: album {med(col(0)):.0f} rps p99 {med(col(1)):.2f} ms"
      f" {med(col(2)):.0f} us CPU/req | bare {med(col(3)):.0f} rps p99 {med(col(4)):.2f} ms"
      f" {med(col(5)):.0f} us | bare, no ping {med(col(6)):.0f} rps p99 {med(col(7)):.2f} ms"
      f" {med(col(8)):.0f} us")
print(f"album/bare throughput: median {med(through):.3f}x, rounds {min(through):.3f}-{max(through):.3f}x,"
      f" {sum(t >= 0.9 for t in through)} of {len(rows)} rounds >= 0.90x (goal >= 0.90x)")
print(f"album/bare p99: median {med(p99):.2f}x, rounds {min(p99):.2f}-{max(p99):.2f}x,"
      f" {sum(p <= 1 for p in p99)} of {len(rows)} rounds <= 1.00x (goal <= 1.00x)")
print(f"CPU time stolen by the hypervisor during the runs: {100 * int(sys.argv[2]) / max(1, int(sys.argv[3])):.1f} %")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
