# Sourced by the callgrind benchmarks (driver-tests/bench/callgrind.sh,
# plugins/field-encryption/bench/instructions.sh): where cargo put a release binary, and the
# instruction total of one callgrind run.

# release_bin <path under target/release>: the binary, wherever cargo's target directory is
# (CARGO_TARGET_DIR, a workspace target-dir); fails naming it when it is missing.
release_bin() {
  local dir
  dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  [[ -x "$dir/release/$1" ]] || { echo "no $1 under $dir/release: build it first" >&2; return 1; }
  echo "$dir/release/$1"
}

# callgrind_total <out-file> <command…>: runs the command under callgrind, prints Ir in total.
callgrind_total() {
  local out=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$out.log"
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}
