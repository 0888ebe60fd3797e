#!/usr/bin/env python3
"""Checks the invariants operators rely on in rendered Switchboard manifests.

Usage: check_invariants.py [--min-replicas N] RENDERED.yaml [RENDERED.yaml ...]

Each file is one rendered shape (`kubectl kustomize deploy/overlays/<o>`),
checked on its own. The shape is read from the render: five per-service
Deployments (component = ticket, routing, ...) or one all-in-one Deployment
(component = all); anything else is an error. --min-replicas is the lowest
HPA minReplicas every Switchboard Deployment must have (2 for prod).

Prints every violation and exits 1 when there is any; 0 otherwise.
"""

import argparse
import re
import sys

import yaml

SERVICES = ("ticket", "routing", "notification", "knowledge", "analytics")
HEALTH = {s: f"switchboard.{s}.v1.{s.capitalize()}Service" for s in SERVICES}
HEALTH["all"] = ""
SECRET_REF = "switchboard-secrets"
# Settings that are secrets (or URLs that may embed credentials): never a
# literal `value`, never in a ConfigMap.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|SIGNING_KEY|DATABASE__URL|REDIS__URL|SMTP__URL", re.I)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def pod_spec(obj):
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def pod_labels(obj):
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def ours(obj):
    return labels(obj).get("app.kubernetes.io/name") == "switchboard"


def selects(selector, lbls):
    return bool(selector) and all(lbls.get(k) == v for k, v in selector.items())


def check(docs, min_replicas):
    problems = []

    def fail(obj, why):
        meta = obj.get("metadata") or {}
        problems.append(f"{obj.get('kind')}/{meta.get('name')}: {why}")

    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    config = next((c for c in by_kind.get("ConfigMap", []) if c["metadata"]["name"] == "switchboard-config"), None)
    grace = int(((config or {}).get("data") or {}).get("SWITCHBOARD__SHUTDOWN__GRACE_SECONDS", "20"))

    # --- every workload -------------------------------------------------
    for obj in (d for k in WORKLOADS for d in by_kind.get(k, [])):
        kind = obj["kind"]
        pod = pod_spec(obj)
        cs = pod.get("containers") or []
        if not cs:
            fail(obj, "has no containers")
        psc = pod.get("securityContext") or {}
        for c in cs + (pod.get("initContainers") or []):
            name = c.get("name")
            sc = c.get("securityContext") or {}
            if kind != "Job" and (not c.get("readinessProbe") or not c.get("livenessProbe")):
                fail(obj, f"container {name} needs readiness and liveness probes")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                got = res.get(part) or {}
                if "cpu" not in got or "memory" not in got:
                    fail(obj, f"container {name} needs cpu and memory {part}")
            if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                fail(obj, f"container {name} must set runAsNonRoot")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                fail(obj, f"container {name} must drop ALL capabilities")
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(obj, f"container {name} must set allowPrivilegeEscalation: false")
            # Datastore StatefulSets (PostgreSQL) write outside their volumes;
            # every Deployment and Job, and all of ours, must not.
            if (kind != "StatefulSet" or ours(obj)) and sc.get("readOnlyRootFilesystem") is not True:
                fail(obj, f"container {name} needs readOnlyRootFilesystem: true")
            for env in c.get("env") or []:
                if SECRET_NAME.search(env.get("name", "")) and "value" in env:
                    fail(obj, f"env {env['name']} is a literal; take it from a secretKeyRef")
        if ours(obj):
            if pod.get("automountServiceAccountToken") is not False:
                fail(obj, "must set automountServiceAccountToken: false")
            if psc.get("runAsUser") != 65532:
                fail(obj, "must run as uid 65532")
            if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                fail(obj, "needs seccompProfile RuntimeDefault")
            tmp = [m for c in cs for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
            if not tmp:
                fail(obj, "needs an emptyDir mounted at /tmp")

    # --- our Deployments --------------------------------------------------
    deployments = [d for d in by_kind.get("Deployment", []) if ours(d)]
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", [])}
    components = []
    for obj in deployments:
        component = labels(obj).get("app.kubernetes.io/component")
        components.append(component)
        pod = pod_spec(obj)
        main = (pod.get("containers") or [{}])[0]
        args = main.get("args") or []
        chosen = [a.split("=", 1)[1] for a in args if a.startswith("--services=")]
        if component not in HEALTH:
            fail(obj, f"unknown component `{component}`")
            continue
        if args[:1] != ["serve"] or chosen != [component]:
            fail(obj, f"args {args} must be `serve --services={component}` (exactly its own service)")
        ready = main.get("readinessProbe") or {}
        if (ready.get("grpc") or {}).get("service", "") != HEALTH[component] or "grpc" not in ready:
            fail(obj, f"readiness must be the gRPC health of `{HEALTH[component]}`")
        live = main.get("livenessProbe") or {}
        # Only the `liveness` name ignores the dependencies; any other name
        # would restart every pod in a database outage.
        if "grpc" in live and (live.get("grpc") or {}).get("service") != "liveness":
            fail(obj, "a gRPC liveness probe must ask for the `liveness` health name (the others follow the dependencies)")
        if pod.get("terminationGracePeriodSeconds", 30) < grace + 10:
            fail(obj, f"terminationGracePeriodSeconds must exceed shutdown.grace_seconds ({grace}) by >= 10 s")
        if pod_labels(obj).get("app.kubernetes.io/component") != component:
            fail(obj, "pod template must carry the component label")
        hpa = hpas.get(obj["metadata"]["name"])
        if hpa is None:
            fail(obj, "has no HorizontalPodAutoscaler")
        else:
            if "replicas" in obj["spec"]:
                fail(obj, "sets spec.replicas although an HPA owns the count")
            if hpa["spec"].get("minReplicas", 1) < min_replicas:
                fail(hpa, f"minReplicas must be >= {min_replicas}")
        if not any(selects((p["spec"].get("selector") or {}).get("matchLabels"), pod_labels(obj))
                   for p in by_kind.get("PodDisruptionBudget", [])):
            fail(obj, "has no PodDisruptionBudget")
        if not any(selects(s["spec"].get("selector"), pod_labels(obj)) for s in by_kind.get("Service", [])):
            fail(obj, "no Service selects its pods")

    if "all" in components:
        if components != ["all"]:
            problems.append(f"an all-in-one render must hold exactly one Switchboard Deployment, got {components}")
    elif sorted(components) != sorted(SERVICES):
        problems.append(f"a per-service render must hold one Deployment per service, got {sorted(components)}")

    # --- Services, Secrets, ConfigMaps ----------------------------------
    templates = [pod_labels(d) for k in WORKLOADS for d in by_kind.get(k, [])]
    for obj in by_kind.get("Service", []):
        for port in obj.get("spec", {}).get("ports") or []:
            if not port.get("name"):
                fail(obj, f"port {port.get('port')} has no name")
            if ours(obj) and port.get("port") == 50051 and port.get("appProtocol") != "grpc":
                fail(obj, "port 50051 needs appProtocol: grpc")
        sel = obj.get("spec", {}).get("selector")
        if sel and not any(selects(sel, t) for t in templates):
            fail(obj, f"selector {sel} matches no pod template")
    for obj in by_kind.get("Secret", []):
        if obj.get("data") or obj.get("stringData"):
            fail(obj, f"carries literal secret values; reference `{SECRET_REF}` instead")
    for obj in by_kind.get("ConfigMap", []):
        for key in (obj.get("data") or {}):
            if SECRET_NAME.search(key):
                fail(obj, f"key {key} looks like a secret; use a secretKeyRef")
    if config is None:
        problems.append("ConfigMap/switchboard-config is missing")
    else:
        data = config.get("data") or {}
        if data.get("SWITCHBOARD__LOG__FORMAT") != "json":
            fail(config, "log.format must be json")
        if data.get("SWITCHBOARD__DATABASE__MIGRATE_ON_START") != "false":
            fail(config, "database.migrate_on_start must be false (the Job migrates)")

    # --- migration Job ----------------------------------------------------
    jobs = [j for j in by_kind.get("Job", []) if labels(j).get("app.kubernetes.io/component") == "migrate"]
    if len(jobs) != 1:
        problems.append(f"expected one migration Job, got {len(jobs)}")
    for job in jobs:
        c = pod_spec(job)["containers"][0]
        tag = c.get("image", "").rsplit("/", 1)[-1].partition(":")[2]
        name = job["metadata"]["name"]
        if (c.get("args") or [])[:1] != ["migrate"]:
            fail(job, "must run `switchboard migrate`")
        if not tag or name != f"switchboard-migrate-{tag}":
            fail(job, f"name must be switchboard-migrate-<image tag> (tag `{tag}`)")
        if len(name) > 63 or not DNS_LABEL.match(name):
            fail(job, "name must be a DNS name of at most 63 characters")
        if "backoffLimit" not in job["spec"] or "ttlSecondsAfterFinished" not in job["spec"]:
            fail(job, "needs backoffLimit and ttlSecondsAfterFinished")

    # --- NetworkPolicies ----------------------------------------------------
    deny = [p for p in by_kind.get("NetworkPolicy", [])
            if (p["spec"].get("podSelector") or {}).get("matchLabels") == {"app.kubernetes.io/name": "switchboard"}
            and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        problems.append("no default-deny NetworkPolicy selects the Switchboard pods")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-replicas", type=int, default=1)
    parser.add_argument("files", nargs="+")
    opts = parser.parse_args()
    failed = False
    for path in opts.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        problems = check(docs, opts.min_replicas)
        for p in problems:
            print(f"  {path}: {p}")
        failed |= bool(problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
