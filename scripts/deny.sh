#!/usr/bin/env bash
# cargo-deny over the whole dependency graph: licences, bans, sources and RustSec advisories.
#
# Advisories come from the live database when GitHub answers, otherwise from the snapshot in
# .ci/advisory-db (its SNAPSHOT file says which upstream commit; refresh it with
# `scripts/deny.sh --refresh-snapshot` on a machine with network). The run says which it used.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null || {
  echo "cargo-deny missing: installing it (cargo install --locked cargo-deny)"
  cargo install --locked cargo-deny
}

snapshot=.ci/advisory-db
# cargo-deny keeps a database under <db-path>/advisory-db-<hash of its URL>.
work=target/advisory-db
db="$work/advisory-db-3157b0e258782691"

if [[ "${1:-}" == "--refresh-snapshot" ]]; then
  rm -rf "$work/upstream"
  git clone --depth 1 https://github.com/rustsec/advisory-db "$work/upstream"
  rm -rf "$snapshot/crates"
  cp -r "$work/upstream/crates" "$work/upstream/LICENSE.txt" "$snapshot/"
  git -C "$work/upstream" log -1 --format="https://github.com/rustsec/advisory-db %H %cI" >"$snapshot/SNAPSHOT"
  echo "snapshot now: $(cat "$snapshot/SNAPSHOT")"
  exit 0
fi

# cargo metadata needs every package of the lock file, for every platform.
cargo fetch --locked
cargo deny --offline check licenses bans sources

if timeout 60 cargo deny check advisories; then
  echo "advisories: checked against the live RustSec database"
  exit 0
elif timeout 10 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  # GitHub answered, so the failure above is a finding, not the network.
  exit 1
fi

# No network to GitHub: the committed snapshot, as a git repository (cargo-deny reads the
# commit date to judge staleness) dated as upstream's commit was.
read -r _ commit date <"$snapshot/SNAPSHOT"
rm -rf "$db" && mkdir -p "$db"
cp -r "$snapshot/crates" "$db/"
git -C "$db" init -q
git -C "$db" add -A
GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
  git -C "$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m "$commit"
config="$work/deny.toml"
sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$PWD/$work\"|" deny.toml >"$config"
cargo deny --offline --config "$config" check advisories
echo "advisories: checked against the committed snapshot (upstream $commit, $date); no network to GitHub"
