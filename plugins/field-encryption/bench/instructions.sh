#!/usr/bin/env bash
# Instructions per seal/open against raw aes-gcm, with valgrind's callgrind (user space only, so
# the amortised getrandom system call of the nonce pool is not in the count; wall time is in
# `cargo run --release -p lockstep-field-encryption --example bench -- --micro-only`).
#
# Each operation runs SMALL and LARGE times; the difference divided by LARGE-SMALL is the count
# per operation, with key set-up cancelled out. Sizes: SIZES="16 256 1024" (default 256).
#
# usage: plugins/field-encryption/bench/instructions.sh
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
small=${SMALL:-2000}
large=${LARGE:-12000}
cargo build --release -q -p lockstep-field-encryption --example cost
source scripts/callgrind-lib.sh
bin=$(release_bin examples/cost)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

instructions() { # mode size iters
  N=$3 SIZE=$2 callgrind_total "$out/cg" "$bin" "$1"
}
per_op() { # mode size
  local a b
  a=$(instructions "$1" "$2" "$small")
  b=$(instructions "$1" "$2" "$large")
  echo $(( (b - a) / (large - small) ))
}

printf '%7s %10s %10s %7s %10s %10s %7s\n' bytes "raw enc" seal ratio "raw dec" open ratio
for size in ${SIZES:-256}; do
  re=$(per_op raw-enc "$size"); se=$(per_op seal "$size")
  rd=$(per_op raw-dec "$size"); op=$(per_op open "$size")
  awk -v s="$size" -v re="$re" -v se="$se" -v rd="$rd" -v op="$op" \
    'BEGIN { printf "%7d %10d %10d %7.3f %10d %10d %7.3f\n", s, re, se, se / re, rd, op, op / rd }'
done
