#!/usr/bin/env bash
# Instructions per seal/open against raw aes-gcm 0.10 and raw ring 0.17 (the AEAD the plugin uses), with valgrind's callgrind (user space only, so
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

printf '%6s %8s %7s %7s %8s %7s %8s %7s %7s %8s %7s\n' bytes aes-gcm ring seal /aes-gcm /ring \
  aes-gcm ring open /aes-gcm /ring
for size in ${SIZES:-256}; do
  ae=$(per_op raw-enc "$size"); re=$(per_op ring-enc "$size"); se=$(per_op seal "$size")
  ad=$(per_op raw-dec "$size"); rd=$(per_op ring-dec "$size"); op=$(per_op open "$size")
  awk -v s="$size" -v ae="$ae" -v re="$re" -v se="$se" -v ad="$ad" -v rd="$rd" -v op="$op" \
    'BEGIN { printf "%6d %8d %7d %7d %8.3f %7.3f %8d %7d %7d %8.3f %7.3f\n", s, ae, re, se, se / ae, se / re, ad, rd, op, op / ad, op / rd }'
done
