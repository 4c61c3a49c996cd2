"""One checkov run for all of infra-snippets (checkov costs ~30 s per start on 2 cores).

The session fixture lays out a temp tree, runs checkov once over it and returns the failed
checks grouped by top-level folder: terraform/, k8s/ (plain + rendered), docker/, and the
deliberately broken copies neg-terraform/ and neg-k8s/ used by the negative tests.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.infra.tools import SNIPPETS, find_tool, run

CHECKOV_CONFIG = SNIPPETS / "k8s" / ".checkov.yaml"


def parse_checkov(stdout: str) -> list[tuple[str, str]]:
    reports = json.loads(stdout) if stdout.strip() else []
    if isinstance(reports, dict):
        reports = [reports]
    return [
        (check["check_id"], f"{check['file_path']}:{check['resource']}")
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.fixture(scope="session")
def checkov_failures_by_area(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    checkov = find_tool("checkov")
    if checkov is None:
        pytest.skip("checkov not found (run scripts/install-infra-tools.sh)")
    from tests.infra import test_k8s_helm as k8s

    root = tmp_path_factory.mktemp("checkov")
    shutil.copytree(SNIPPETS / "terraform", root / "terraform")
    shutil.copytree(SNIPPETS / "docker", root / "docker")

    # Negative copies: must be caught.
    neg_tf = root / "neg-terraform" / "s3-bucket"
    shutil.copytree(SNIPPETS / "terraform" / "modules" / "s3-bucket", neg_tf)
    main = neg_tf / "main.tf"
    main.write_text(main.read_text().replace("block_public_acls       = true", "block_public_acls       = false"))
    doc = k8s.load_docs((k8s.K8S / "base" / "deployment.yaml").read_text())[0]
    doc["metadata"]["namespace"] = "ml-serving"
    doc["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    (root / "neg-k8s").mkdir()
    (root / "neg-k8s" / "deployment.yaml").write_text(yaml.safe_dump(doc))

    # Everything that reaches a cluster: plain manifests and rendered kustomize/helm output.
    for path in k8s.plain_manifests():
        target = root / "k8s" / path.relative_to(k8s.K8S)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    if find_tool("kustomize") and find_tool("helm"):
        for path in k8s.KUSTOMIZATIONS:
            (root / "k8s" / f"kustomize-{path.name}.yaml").write_text(k8s.kustomize_build(path))
        for values in k8s.HELM_VALUES:
            name = f"helm-{values.stem if values else 'default'}.yaml"
            (root / "k8s" / name).write_text(k8s.helm_template(k8s.CHART, values))

    proc = run(
        [
            checkov,
            "-d",
            str(root),
            "--framework",
            "terraform",
            "kubernetes",
            "dockerfile",
            "--config-file",
            str(CHECKOV_CONFIG),
            "-o",
            "json",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        check=False,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    grouped: dict[str, list[str]] = {}
    for check_id, where in parse_checkov(proc.stdout):
        area = where.lstrip("/").split("/", 1)[0]
        grouped.setdefault(area, []).append(f"{check_id} {where}")
    grouped["_scanned"] = sorted(p.name for p in root.iterdir())
    return grouped
