"""Kubernetes manifests, kustomize overlays and the Helm chart: render, validate against bundled
Kubernetes schemas (CRDs against tests/infra/crd_schemas.py), helm lint, checkov."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.infra.crd_schemas import CRD_SCHEMAS
from tests.infra.tools import SNIPPETS, require_tool, run

K8S = SNIPPETS / "k8s"
CHART = SNIPPETS / "helm" / "model-server"
K8S_VERSION = "1.31.0"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "prod"]
HELM_VALUES: list[Path | None] = [None, CHART / "ci" / "gpu-values.yaml"]


def plain_manifests() -> list[Path]:
    """Stand-alone manifests: everything under k8s/ not owned by a kustomization."""
    owned = {p for k in KUSTOMIZATIONS for p in k.glob("*.yaml")}
    return sorted(p for p in K8S.rglob("*.yaml") if p not in owned and not p.name.startswith("."))


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def validate_doc(doc: dict[str, Any]) -> None:
    """Core kinds: kubernetes-validate (strict: unknown fields fail). CRDs: our documented-field schemas."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in CRD_SCHEMAS:
        jsonschema.validate(doc, CRD_SCHEMAS[key])
        return
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    kv.validate(doc, K8S_VERSION, strict=True)


def kustomize_build(path: Path) -> str:
    return run([require_tool("kustomize"), "build", str(path)]).stdout


def helm_template(chart: Path, values: Path | None) -> str:
    cmd = [
        require_tool("helm"),
        "template",
        "release",
        str(chart),
        "--kube-version",
        K8S_VERSION,
        "--namespace",
        "ml-serving",
    ]
    if values is not None:
        cmd += ["-f", str(values)]
    return run(cmd).stdout


@pytest.mark.parametrize("path", plain_manifests(), ids=lambda p: str(p.relative_to(K8S)))
def test_plain_manifest_valid(path: Path) -> None:
    docs = load_docs(path.read_text())
    assert docs
    for doc in docs:
        validate_doc(doc)


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_kustomize_build_valid(path: Path) -> None:
    docs = load_docs(kustomize_build(path))
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
    } <= kinds
    for doc in docs:
        validate_doc(doc)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "ml-serving"


def test_prod_overlay_patches_apply() -> None:
    docs = {d["kind"]: d for d in load_docs(kustomize_build(K8S / "overlays" / "prod"))}
    assert docs["Deployment"]["spec"]["replicas"] == 3
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 3
    limits = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "4Gi"


@pytest.mark.parametrize("values", HELM_VALUES, ids=lambda v: v.name if v else "default-values")
def test_helm_lint_and_template_valid(values: Path | None) -> None:
    cmd = [require_tool("helm"), "lint", "--strict", str(CHART), "--kube-version", K8S_VERSION]
    run(cmd + (["-f", str(values)] if values else []))
    docs = load_docs(helm_template(CHART, values))
    for doc in docs:
        validate_doc(doc)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    gpu = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu")
    assert gpu == (1 if values else None)


def test_gpu_job_scheduling() -> None:
    job = load_docs((K8S / "gpu" / "training-job.yaml").read_text())[0]
    pod = job["spec"]["template"]["spec"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    res = pod["containers"][0]["resources"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"]


def test_checkov_kubernetes(checkov_failures_by_area: dict[str, list[str]]) -> None:
    """checkov over everything that reaches a cluster: plain manifests and rendered kustomize/helm output."""
    require_tool("helm")
    require_tool("kustomize")
    assert checkov_failures_by_area.get("k8s", []) == []


# ---------------------------------------------------------------- negative tests: broken copies are caught


def test_strict_validation_catches_misspelled_field() -> None:
    doc = load_docs((K8S / "base" / "deployment.yaml").read_text())[0]
    doc["spec"]["replica"] = doc["spec"].pop("replicas")
    kv = pytest.importorskip("kubernetes_validate")
    with pytest.raises(kv.ValidationError):
        validate_doc(doc)


def test_crd_schema_catches_bad_inferenceservice() -> None:
    doc = load_docs((K8S / "kserve" / "inferenceservice.yaml").read_text())[0]
    doc["spec"]["predictor"]["canaryTrafficPercent"] = 150
    with pytest.raises(jsonschema.ValidationError):
        validate_doc(doc)


def test_helm_lint_catches_latest_tag(tmp_path: Path) -> None:
    bad = tmp_path / "values.yaml"
    bad.write_text("image:\n  repository: x\n  tag: latest\n  pullPolicy: Always\n")
    proc = run([require_tool("helm"), "lint", "--strict", str(CHART), "-f", str(bad)], check=False)
    assert proc.returncode != 0 and "tag" in proc.stdout + proc.stderr


def test_checkov_catches_privileged_pod(checkov_failures_by_area: dict[str, list[str]]) -> None:
    failures = checkov_failures_by_area.get("neg-k8s", [])
    assert any(f.startswith("CKV_K8S_16 ") for f in failures), failures
