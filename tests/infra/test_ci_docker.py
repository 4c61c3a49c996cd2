"""GitHub Actions (actionlint, run: references exist, gate scripts), Dockerfiles (hadolint, checkov)
and the tiny app the images package."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.infra.test_observability import _wait
from tests.infra.tools import REPO, SNIPPETS, free_port, require_tool, run

GHA = SNIPPETS / "github-actions"
WORKFLOWS = sorted((GHA / "workflows").glob("*.yml"))
DOCKER = SNIPPETS / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile*"))
PATH_TOKEN = re.compile(r"^(?:\./)?(?:infra-snippets|scripts|tests|\.venv|autograder|docker)/[\w./-]*\w$")


def test_actionlint() -> None:
    run([require_tool("actionlint"), "-no-color", *map(str, WORKFLOWS)])


def test_actionlint_catches_unknown_needs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text((GHA / "workflows" / "ci-cd.yml").read_text().replace("needs: test\n", "needs: tests\n"))
    proc = run([require_tool("actionlint"), "-no-color", str(bad)], check=False)
    assert proc.returncode != 0 and "tests" in proc.stdout


def run_references(script: str) -> list[str]:
    """Repo paths and make targets a run: block depends on, e.g. 'make:test' or 'infra-snippets/x.py'."""
    refs: list[str] = []
    for line in script.replace("\\\n", " ").splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        for i, token in enumerate(tokens):
            if token == "make" and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                refs.append(f"make:{tokens[i + 1]}")
            elif PATH_TOKEN.match(token):
                refs.append(token)
    return refs


def missing_references(workflow: Path) -> list[str]:
    makefile = (REPO / "Makefile").read_text() if (REPO / "Makefile").exists() else ""
    missing = []
    for job in yaml.safe_load(workflow.read_text())["jobs"].values():
        for step in job.get("steps", []):
            for ref in run_references(step.get("run", "")):
                if ref.startswith("make:"):
                    if not re.search(rf"^{re.escape(ref[5:])}\s*:", makefile, re.M):
                        missing.append(ref)
                elif not (REPO / ref).exists():
                    missing.append(ref)
    return missing


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_run_steps_reference_existing_files(workflow: Path) -> None:
    assert missing_references(workflow) == []


def test_reference_check_catches_missing_script(tmp_path: Path) -> None:
    bad = tmp_path / "wf.yml"
    bad.write_text(
        yaml.safe_dump(
            {
                "jobs": {
                    "j": {
                        "steps": [
                            {"run": "python infra-snippets/github-actions/scripts/nope.py --x 1\nmake no-such-target"}
                        ]
                    }
                }
            }
        )
    )
    assert missing_references(bad) == ["infra-snippets/github-actions/scripts/nope.py", "make:no-such-target"]


def _gate(tmp_path: Path, candidate: dict[str, float], production: dict[str, float] | None) -> tuple[int, str]:
    (tmp_path / "c.json").write_text(json.dumps(candidate))
    cmd = [
        sys.executable,
        str(GHA / "scripts" / "check_metrics_gate.py"),
        "--candidate",
        str(tmp_path / "c.json"),
        "--min",
        "auc=0.80",
        "--max",
        "p95_latency_ms=120",
        "--min-improvement",
        "auc=0.002",
        "--github-output",
        str(tmp_path / "out"),
    ]
    if production is not None:
        (tmp_path / "p.json").write_text(json.dumps(production))
        cmd += ["--production", str(tmp_path / "p.json")]
    proc = run(cmd, check=False)
    return proc.returncode, (tmp_path / "out").read_text().strip().splitlines()[-1]


def test_metrics_gate(tmp_path: Path) -> None:
    assert _gate(tmp_path, {"auc": 0.86, "p95_latency_ms": 80}, {"auc": 0.85}) == (0, "passed=true")
    assert _gate(tmp_path, {"auc": 0.86, "p95_latency_ms": 80}, None) == (0, "passed=true")
    assert _gate(tmp_path, {"auc": 0.851, "p95_latency_ms": 80}, {"auc": 0.85}) == (1, "passed=false")
    assert _gate(tmp_path, {"auc": 0.9, "p95_latency_ms": 200}, None) == (1, "passed=false")
    assert _gate(tmp_path, {"p95_latency_ms": 80}, None) == (1, "passed=false")  # missing metric fails closed


def test_export_model_metrics_against_local_mlflow(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    client.create_registered_model("churn")
    for version, auc in (("1", 0.85), ("2", 0.87)):
        run_id = client.create_run(client.create_experiment(f"e{version}")).info.run_id
        client.log_metric(run_id, "auc", auc)
        client.create_model_version("churn", f"file://{tmp_path}/m{version}", run_id=run_id)
    client.set_registered_model_alias("churn", "production", "1")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    script = str(GHA / "scripts" / "export_model_metrics.py")
    run([sys.executable, script, "--model", "churn", "--version", "2", "--out", str(tmp_path / "m")], env=env)
    assert json.loads((tmp_path / "m" / "candidate.json").read_text()) == {"auc": 0.87}
    assert json.loads((tmp_path / "m" / "production.json").read_text()) == {"auc": 0.85}
    run([sys.executable, script, "--model", "churn", "--version", "2", "--promote"], env=env)
    assert str(client.get_model_version_by_alias("churn", "production").version) == "2"


# ---------------------------------------------------------------- docker


def test_hadolint() -> None:
    run([require_tool("hadolint"), *map(str, DOCKERFILES)])


def test_hadolint_catches_latest_and_root(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n")
    proc = run([require_tool("hadolint"), str(bad)], check=False)
    assert proc.returncode != 0 and "DL3007" in proc.stdout


def test_dockerfiles_multistage_nonroot() -> None:
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert len(re.findall(r"^FROM ", text, re.M)) >= 2, f"{dockerfile.name}: not multi-stage"
        users = re.findall(r"^USER (\S+)", text, re.M)
        assert users and users[-1] not in {"root", "0", "0:0"}, f"{dockerfile.name}: runs as root"
        for src in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", text, re.M):
            assert (DOCKER / src).exists(), f"{dockerfile.name}: COPY source {src} missing"


def test_dockerignore_keeps_secrets_and_bulk_out() -> None:
    patterns = {
        ln.strip()
        for ln in (DOCKER / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert {"**/.git", "**/.venv*", "*.env", "**/*.pem", "data/"} <= patterns


def test_requirements_pinned() -> None:
    for req in DOCKER.glob("requirements*.txt"):
        for line in req.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            assert not line or re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", line), f"{req.name}: {line}"


def test_checkov_dockerfiles(checkov_failures_by_area: dict[str, list[str]]) -> None:
    assert "docker" in checkov_failures_by_area["_scanned"]
    assert checkov_failures_by_area.get("docker", []) == []


def test_model_server_app_serves() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.main", "--port", str(port)], cwd=DOCKER)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200, 20, "model server", proc)
        req = urllib.request.Request(
            f"{base}/predict", method="POST", data=json.dumps({"features": {"support_calls": 5}}).encode()
        )
        score = json.load(urllib.request.urlopen(req, timeout=5))["churn_probability"]
        assert 0.5 < score < 1.0
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert 'http_requests_total{code="200",route="/predict",service="model-api"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_training_entrypoint() -> None:
    pytest.importorskip("sklearn")
    proc = run([sys.executable, "-m", "app.train"], cwd=DOCKER)
    assert json.loads(proc.stdout)["auc"] > 0.8
