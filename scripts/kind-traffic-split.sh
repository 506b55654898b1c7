#!/usr/bin/env bash
# The real traffic split of a 25 % canary step, measured through Envoy Gateway on kind (run by
# .github/workflows/e2e.yml after the chart and Envoy Gateway are installed; needs kubectl, curl,
# jq and the album-service image loaded as $IMAGE).
#
# An AlbumService routed by an HTTPRoute is deployed (revision 1), then a config change rolls out
# as revision 2 with steps [setWeight 25, pause]. At the pause, 1,000 requests go through the
# Gateway to /version, whose config_hash tells the two revisions apart. With p = 0.25 the share
# of revision 2 lies within 0.25 ± 0.055 (4 σ of the binomial) unless the split is wrong; the
# script fails outside it.
set -euo pipefail

NS=${NS:-lockstep-traffic}
IMAGE=${IMAGE:-album-service:e2e}
REQUESTS=${REQUESTS:-1000}

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$NS" -f - <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: lockstep-eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public}
spec:
  gatewayClassName: lockstep-eg
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: albums}
spec:
  parentRefs: [{name: public}]
  rules:
    - backendRefs:
        - {name: albums-stable, port: 8080, weight: 100}
        - {name: albums-canary, port: 8080, weight: 0}
---
apiVersion: lockstep.dev/v1alpha1
kind: AlbumService
metadata: {name: albums}
spec:
  release:
    version: "1.0.0"
    image: $IMAGE
    config:
      server: {port: 8080}
      database: {sqlite_path: /tmp/albums.db}
      log: {level: info}
  replicas: 4
  rollout:
    strategy: Canary
    trafficRouting: {gatewayAPI: {httpRoute: albums}}
    steps: [{setWeight: 25}, {pause: {}}]
YAML

phase() { kubectl get albumservice albums -n "$NS" -o jsonpath='{.status.phase}'; }
wait_phase() {
  for _ in $(seq 1 300); do
    [ "$(phase)" = "$1" ] && return 0
    sleep 1
  done
  echo "albums never reached $1: $(kubectl get albumservice albums -n "$NS" -o jsonpath='{.status}')" >&2
  return 1
}
wait_phase Healthy
kubectl wait -n "$NS" gateway/public --for=condition=Programmed --timeout=300s
SVC=$(kubectl get svc -n envoy-gateway-system \
  -l "gateway.envoyproxy.io/owning-gateway-namespace=$NS,gateway.envoyproxy.io/owning-gateway-name=public" \
  -o jsonpath='{.items[0].metadata.name}')
kubectl port-forward -n envoy-gateway-system "service/$SVC" 18080:80 >/dev/null 2>&1 &
FORWARD=$!
trap 'kill $FORWARD 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fsS http://127.0.0.1:18080/version >/dev/null 2>&1 && break; sleep 1; done
STABLE_HASH=$(curl -fsS http://127.0.0.1:18080/version | jq -r .config_hash)

kubectl patch albumservice albums -n "$NS" --type merge \
  -p '{"spec":{"release":{"version":"1.0.1","config":{"log":{"level":"debug"}}}}}'
wait_phase Paused
kubectl get albumservice albums -n "$NS" -o jsonpath='{.status.traffic}'; echo

canary=0
for _ in $(seq 1 "$REQUESTS"); do
  hash=$(curl -fsS http://127.0.0.1:18080/version | jq -r .config_hash)
  [ "$hash" != "$STABLE_HASH" ] && canary=$((canary + 1))
done
share=$(echo "scale=4; $canary / $REQUESTS" | bc)
echo "25 % step through Envoy Gateway: $canary of $REQUESTS requests reached the canary ($share)"
if [ "$(echo "$share < 0.195 || $share > 0.305" | bc)" = 1 ]; then
  echo "outside 0.25 ± 0.055: the route does not carry the split" >&2
  exit 1
fi
