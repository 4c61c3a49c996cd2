"""Airflow DAGs (import + dag.test()) and the KFP pipeline (compile + kfp.local run).

Airflow 3 and KFP 2 live in their own venv (.venv-orch, pins in
infra-snippets/requirements-orchestration.txt) because their pins clash with the course venv;
these tests shell out to that interpreter running tests/infra/orch_checks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.tools import REPO, SNIPPETS, orch_python, run

CHECKS = Path(__file__).with_name("orch_checks.py")


def orch(kind: str, work: Path) -> dict[str, object]:
    python = orch_python()
    if not python.exists():
        pytest.skip(f"{python} missing (scripts/install-infra-tools.sh creates it)")
    proc = run([str(python), str(CHECKS), kind, str(work)], cwd=REPO, timeout=400)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("ORCH_RESULT "))
    return dict(json.loads(line.removeprefix("ORCH_RESULT ")))


def test_airflow_dags_import_and_run(tmp_path: Path) -> None:
    result = orch("airflow", tmp_path)
    assert result["dags"] == ["feature_pipeline", "retrain_on_drift"]
    assert result["feature_pipeline"] == "success" and result["feature_rows"] == 500


def test_kfp_pipeline_compiles_and_runs_locally(tmp_path: Path) -> None:
    result = orch("kfp", tmp_path)
    assert result["compiled_tasks"] == ["condition-1", "evaluate", "prepare-data", "train"]


def test_orchestration_pins_are_exact_and_installed() -> None:
    pins = {}
    for line in (SNIPPETS / "requirements-orchestration.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line}"
            pins[name.lower().replace("_", "-")] = version
    assert {"apache-airflow", "kfp"} <= set(pins)
    python = orch_python()
    if not python.exists():
        pytest.skip(f"{python} missing")
    freeze = run([str(python), "-m", "pip", "freeze", "--all"]).stdout
    installed = {n.lower().replace("_", "-"): v for n, _, v in (ln.partition("==") for ln in freeze.splitlines())}
    assert installed["apache-airflow"] == pins["apache-airflow"] and installed["kfp"] == pins["kfp"]


def test_airflow_check_catches_import_error(tmp_path: Path) -> None:
    python = orch_python()
    if not python.exists():
        pytest.skip(f"{python} missing")
    bad = tmp_path / "dags"
    bad.mkdir()
    (bad / "broken.py").write_text(
        (SNIPPETS / "airflow" / "dags" / "feature_pipeline.py")
        .read_text()
        .replace("from airflow.sdk import", "from airflow.sdk.nope import")
    )
    code = (
        "import os,sys; os.environ['AIRFLOW_HOME']=sys.argv[2]; "
        "from airflow.dag_processing.dagbag import DagBag; "
        "b=DagBag(dag_folder=sys.argv[1]); sys.exit(1 if b.import_errors else 0)"
    )
    proc = run([str(python), "-c", code, str(bad), str(tmp_path / "home")], check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
