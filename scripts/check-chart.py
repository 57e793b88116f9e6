#!/usr/bin/env python3
"""Lints and renders charts/capstan with the real Helm engine (helm-python-sdk embeds Helm v4),
validates every rendered manifest and the CRDs against the Kubernetes schemas
(kubernetes-validate, strict), checks the RBAC has no wildcards, and validates the example
resources in examples/k8s against the generated CRDs' OpenAPI schemas (jsonschema), and checks
deploy/Dockerfile statically (multi-stage, non-root final user, only tracked files copied, the
products it documents exist).

Exit status 0 when everything holds; otherwise prints what failed and where.
Run by the Swift test suite "Helm chart" and usable alone: python3 scripts/check-chart.py
"""
import json
import pathlib
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml
from helm_python import chart as helm_chart

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "capstan"
K8S_VERSION = "1.30.0"
failures = []


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def validate(doc, origin):
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        fail(f"{origin}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}: {error.message} at {list(error.path)}")
    except Exception as error:  # unknown kinds and schema lookup problems
        fail(f"{origin}: {doc.get('kind')}: {error}")


def lint():
    report = helm_chart.lint(str(CHART), strict=True, kube_version="v" + K8S_VERSION)
    for message in report.get("messages", []):
        if message.get("severity", 0) >= 2:
            fail(f"helm lint: {message.get('path')}: {message.get('error')}")
    for error in report.get("errors", []) or []:
        fail(f"helm lint: {error}")
    print(f"helm lint: {report.get('total_charts_linted')} chart(s), {len(report.get('messages', []))} message(s)")


def render(values, label):
    with helm_chart.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values=values, name="capstan", namespace="capstan-system", is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append((path, doc))
    kinds = sorted({d["kind"] for _, d in docs})
    print(f"render ({label}): {len(docs)} manifests: {', '.join(kinds)}")
    for path, doc in docs:
        validate(doc, f"{label} {path}")
    return docs


def check_rbac(docs):
    for path, doc in docs:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in doc.get("rules", []):
            for field in ("verbs", "resources", "apiGroups"):
                if "*" in rule.get(field, []):
                    fail(f"{path}: {doc['kind']} {doc['metadata']['name']} uses a wildcard in {field}")
            if "secrets" in rule.get("resources", []):
                fail(f"{path}: the operator must not read Secrets")


def check_defaults(docs):
    deployment = next(d for _, d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    security = container["securityContext"]
    if not (security.get("readOnlyRootFilesystem") and security.get("runAsNonRoot")):
        fail("operator container must run as non-root with a read-only root filesystem")
    if "--leader-elect" not in container["args"]:
        fail("leader election is on by default")
    if not any(d["kind"] == "Role" and "leader-election" in d["metadata"]["name"] for _, d in docs):
        fail("leader-election Role missing")


def check_crds_and_examples():
    schemas = {}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            validate(doc, f"crds/{path.name}")
            version = doc["spec"]["versions"][0]
            schemas[doc["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    if set(schemas) != {"FeatureView", "ModelDeployment", "DriftPolicy", "BatchJob"}:
        fail(f"chart CRDs: expected FeatureView, ModelDeployment, DriftPolicy and BatchJob, found {sorted(schemas)}")
    count = 0
    # examples/k8s holds only resources; examples/churn also other configuration (gateway.yaml).
    paths = sorted((ROOT / "examples" / "k8s").glob("*.yaml")) + sorted((ROOT / "examples" / "churn").glob("*.yaml"))
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            if path.parent.name == "churn" and not str(doc.get("apiVersion", "")).startswith("ml.capstan.dev/"):
                continue
            schema = schemas.get(doc["kind"])
            if schema is None:
                fail(f"{path.name}: no CRD for kind {doc['kind']}")
                continue
            try:
                jsonschema.validate(doc, schema)
                count += 1
            except jsonschema.ValidationError as error:
                fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}")
    # The schema must reject what it claims to reject.
    bad = {"apiVersion": "ml.capstan.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "x"},
           "spec": {"model": "m", "entity": "e", "features": ["v.f"],
                    "versions": [{"name": "v1", "format": "onnx", "storageUri": "file:///m", "weight": 100}]}}
    try:
        jsonschema.validate(bad, schemas["ModelDeployment"])
        fail("ModelDeployment schema accepted format onnx")
    except jsonschema.ValidationError:
        pass
    print(f"CRDs valid; {count} example resource(s) valid against them")


def check_dockerfile():
    path = ROOT / "deploy" / "Dockerfile"
    lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    if len(stages) < 2:
        fail("deploy/Dockerfile: expected a multi-stage build")
        return
    final = lines[stages[-1]:]
    users = [l.split(None, 1)[1] for l in final if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        fail(f"deploy/Dockerfile: the final stage must switch to a non-root numeric user, got {users}")
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    tracked = listing.stdout.split() if listing.returncode == 0 else None
    if tracked is None:
        print("Dockerfile: not a git checkout, COPY sources not checked")
    for line in lines if tracked is not None else []:
        if line.upper().startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if not any(t == source or t.startswith(source.rstrip("/") + "/") for t in tracked):
                    fail(f"deploy/Dockerfile: COPY {source}: not tracked by git, a fresh clone lacks it")
    products = set(re.findall(r'\.executable\(name: "([^"]+)"', (ROOT / "Package.swift").read_text()))
    documented = set(re.findall(r"PRODUCT=(capstan[a-z-]*)", path.read_text()))
    for product in sorted(documented - products):
        fail(f"deploy/Dockerfile: documents PRODUCT={product}, which Package.swift does not build")
    for product in ("capstan-operator", "capstan-feature-worker", "capstan-serving"):
        if product not in documented:
            fail(f"deploy/Dockerfile: no documented build for {product}, which the chart and the operator deploy")
    print(f"Dockerfile: {len(stages)} stages, user {users[-1] if users else '?'}, products {sorted(documented)}")


lint()
default_docs = render(None, "defaults")
check_rbac(default_docs)
check_defaults(default_docs)
render({"stores": {"kafka": {"create": True, "value": "kafka:9092"},
                   "redis": {"create": True, "value": "redis://redis:6379/0"},
                   "postgres": {"create": True, "value": "postgres://u:p@pg:5432/capstan"}},
        "operator": {"watchNamespace": "ml", "leaderElection": {"enabled": False}, "replicas": 1}}, "stores+single")
check_crds_and_examples()
check_dockerfile()
if failures:
    print(f"{len(failures)} problem(s)")
    sys.exit(1)
print("chart OK")
