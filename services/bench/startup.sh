#!/usr/bin/env bash
# Time from starting album-service (built-in config: port 8080, a fresh albums.db) until its
# /readyz answers 200, ROUNDS times. The README's "ready within 0.1 s" figure comes from here.
#
#   services/bench/startup.sh            ROUNDS=3 PROFILE=debug (or release)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-debug}
flag=$([ "$PROFILE" = release ] && echo --release || true)
cargo build -q $flag -p album-service
# Wherever cargo's target directory is (CARGO_TARGET_DIR, a workspace target-dir).
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/$PROFILE/album-service"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for round in $(seq "$ROUNDS"); do
  rm -f "$work/albums.db"
  started=$(date +%s%N)
  (cd "$work" && exec "$bin") > "$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 500); do
    kill -0 "$pid" 2>/dev/null || { echo "album-service exited:"; head -5 "$work/log"; exit 1; }
    curl -sf localhost:8080/readyz >/dev/null && break
    sleep 0.01
  done
  echo "round $round: ready after $(( ($(date +%s%N) - started) / 1000000 )) ms ($PROFILE)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
