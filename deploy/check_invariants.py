#!/usr/bin/env python3
"""Checks the invariants operators rely on in rendered manifests.

Usage: check_invariants.py SHAPE RENDERED.yaml
SHAPE is `per-service` (one Deployment per service) or `all-in-one`.
Exits 1 and lists every violation when any invariant fails.
"""

import sys

import yaml

SERVICES = {"ticket", "routing", "notification", "knowledge", "analytics"}


def containers(obj):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec, spec.get("containers", [])


def check(shape, docs):
    problems = []

    def fail(obj, why):
        meta = obj.get("metadata", {})
        problems.append(f"{obj.get('kind')}/{meta.get('name')}: {why}")

    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    ours = [d for d in deployments if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "switchboard"]
    for obj in deployments + [d for d in docs if d.get("kind") == "StatefulSet"]:
        pod, cs = containers(obj)
        if not cs:
            fail(obj, "has no containers")
        pod_sc = pod.get("securityContext", {})
        for c in cs:
            sc = c.get("securityContext", {})
            if "readinessProbe" not in c or "livenessProbe" not in c:
                fail(obj, f"container {c.get('name')} needs readiness and liveness probes")
            res = c.get("resources", {})
            if not res.get("limits") or not res.get("requests"):
                fail(obj, f"container {c.get('name')} needs resource requests and limits")
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                fail(obj, f"container {c.get('name')} must run as non-root")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                fail(obj, f"container {c.get('name')} must drop all capabilities")
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(obj, f"container {c.get('name')} must forbid privilege escalation")
        # The datastore images need a writable root; ours never does.
        if obj in ours:
            for c in cs:
                if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                    fail(obj, f"container {c.get('name')} needs a read-only root filesystem")
            if pod.get("automountServiceAccountToken") is not False:
                fail(obj, "must not mount a service account token")

    for obj in docs:
        if obj.get("kind") == "Service":
            for port in obj.get("spec", {}).get("ports", []):
                if not port.get("name"):
                    fail(obj, f"port {port.get('port')} has no name")
        if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
            fail(obj, "carries literal secret values; reference switchboard-secrets instead")

    selected = set()
    for obj in ours:
        component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
        _, cs = containers(obj)
        args = cs[0].get("args", []) if cs else []
        chosen = [a.split("=", 1)[1] for a in args if a.startswith("--services=")]
        if shape == "per-service":
            if chosen != [component] or component not in SERVICES:
                fail(obj, f"args {args} must select exactly its own service `{component}`")
            probe = cs[0].get("readinessProbe", {}).get("grpc", {}).get("service", "")
            if component not in probe.lower():
                fail(obj, f"readiness must probe its own service, not `{probe}`")
            selected.add(component)
        elif chosen != ["all"]:
            fail(obj, f"args {args} must select all services")
    if shape == "per-service" and selected != SERVICES:
        problems.append(f"services without a Deployment: {sorted(SERVICES - selected)}")
    if shape == "all-in-one" and len(ours) != 1:
        problems.append(f"all-in-one must render exactly one Switchboard Deployment, got {len(ours)}")
    return problems


def main():
    shape, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = check(shape, docs)
    for p in problems:
        print(f"  {p}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
