#!/usr/bin/env bash
# What OTLP trace export costs album-service: GET by id with export off and on, side by side.
#
#   services/bench/tracing.sh [mysql://root@127.0.0.1:3306]   (needs wrk, python3, a release build)
#
# Two album-service processes on one fresh MariaDB database: one without OTEL_* (export off),
# one exporting every request span to a loopback OTLP/HTTP collector (python, counts spans).
# wrk alternates off/on/off/on; the ratio is mean(off)/mean(on). The collector shares the two
# cores, which a real collector would not, so the figure is an upper bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER=${1:-mysql://root@127.0.0.1:3306}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
DB=lockstep_trace_bench_$$
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build -q --release -p album-service
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $DB"
export BENCH_DATABASE_URL="$SERVER/$DB"

python3 - "$WORK/spans" <<'PY' &
import http.server, sys
out = sys.argv[1]
spans = 0
class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global spans
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        spans += body.count(b"\x12\x07request")  # Span.name = "request", one per span
        open(out, "w").write(str(spans))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", 14318), Collector).serve_forever()
PY

for port in 18090 18091; do
  printf 'server: {port: %s}\ndatabase: {url_env: BENCH_DATABASE_URL, max_connections: 16}\nlog: {level: warn}\n' "$port" > "$WORK/$port.yaml"
done
target/release/album-service --config "$WORK/18090.yaml" &
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:14318 target/release/album-service --config "$WORK/18091.yaml" &
for port in 18090 18091; do
  for _ in $(seq 50); do curl -sf "localhost:$port/readyz" >/dev/null && break; sleep 0.2; done
done
curl -sf -XPOST localhost:18090/v1/albums -H 'content-type: application/json' \
  -d '{"title":"Blue","artist":"Joni Mitchell","price":"19.99"}' >/dev/null

# Prints "<rps> <requests>" for a run against port $2.
run() { wrk -t2 -c"$CONNS" -d"$1" --latency "http://127.0.0.1:$2/v1/albums/1" \
  | awk '/requests in/ {n=$1} /Requests\/sec/ {r=$2} END {print r, n}'; }
sent=$(run 3s 18091 | cut -d' ' -f2); run 3s 18090 >/dev/null   # warm-up (its spans count too)
echo "wrk -t2 -c$CONNS -d$DURATION on $(nproc) cores, album GET by id, MariaDB"
off=(); on=()
for round in 1 2; do
  read -r r _ < <(run "$DURATION" 18090); off+=("$r")
  read -r r n < <(run "$DURATION" 18091); on+=("$r"); sent=$((sent + n))
  echo "round $round: export off ${off[-1]} rps, export on ${on[-1]} rps"
done
sleep 6   # the batch processor's 5 s timer: let the last spans arrive
python3 - "${off[@]}" "${on[@]}" "$sent" "$(cat "$WORK/spans" 2>/dev/null || echo 0)" <<'PY'
import sys
off = [float(x) for x in sys.argv[1:3]]
on = [float(x) for x in sys.argv[3:5]]
sent, spans = int(sys.argv[5]), int(sys.argv[6])
print(f"throughput export off / on: {sum(off) / sum(on):.3f}x")
print(f"spans received / requests to the exporting instance: {spans} / {sent} ({100 * spans / max(sent, 1):.1f} %)")
PY
