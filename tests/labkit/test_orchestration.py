"""labkit.orchestration: pod manifest checks (always) and one dag.test() round trip (when .venv-orch exists)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from labkit import orchestration as orch

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
G5 = {"node.kubernetes.io/instance-type": "g5.2xlarge"}
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "train-2026-01-01", "namespace": "ml-jobs"},
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "train",
                "image": "ghcr.io/acme/fraud-train:1.4.2",
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                    "limits": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
                },
            }
        ],
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5.2xlarge"]}
                            ]
                        }
                    ]
                }
            }
        },
    },
}


def test_valid_pod_schedules_on_gpu_node() -> None:
    assert orch.pod_problems(POD, taints=[GPU_TAINT], node_labels=G5) == []


def test_pod_problems_are_reported() -> None:
    bad = copy.deepcopy(POD)
    res = bad["spec"]["containers"][0]["resources"]
    res["requests"]["memory"] = "4Gi"  # above its limit
    res["requests"]["nvidia.com/gpu"] = "2"  # extended resource request != limit
    bad["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoExecute"}]
    bad["spec"]["containers"][0]["imagePullPolcy"] = "Always"  # typo: strict schema rejects it
    problems = orch.pod_problems(bad, taints=[GPU_TAINT], node_labels={"node.kubernetes.io/instance-type": "m5.large"})
    text = "\n".join(problems)
    assert "memory request 4Gi exceeds limit 2Gi" in text
    assert "nvidia.com/gpu request 2 must equal limit 1" in text
    assert "no toleration for taint nvidia.com/gpu" in text
    assert "matches no node" in text
    assert "schema:" in text


def test_quantities() -> None:
    assert orch._quantity("500m") == 0.5 and orch._quantity("2Gi") == 2 * 2**30 and orch._quantity(3) == 3.0


def test_missing_venv_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCH_VENV", str(tmp_path / "nope"))
    with pytest.raises(orch.OrchestrationMissing, match="install-infra-tools"):
        orch.require_airflow()


DAG = """
from datetime import datetime, timedelta
from pathlib import Path
from airflow.sdk import dag, task

@dag(dag_id="t_flaky", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=True,
     default_args={"retries": 1, "retry_delay": timedelta(seconds=0)})
def t_flaky():
    @task
    def once() -> int:
        flag = Path(__file__).with_name("seen")
        if not flag.exists():
            flag.write_text("1")
            raise RuntimeError("transient")
        return 1
    once()

t_flaky()
"""


def test_run_dags_retries_and_plan(tmp_path: Path) -> None:
    if not orch.orch_python().exists():
        pytest.skip(".venv-orch missing")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "flaky.py").write_text(DAG)
    result = orch.run_dags(
        dags,
        tmp_path / "work",
        runs=[{"dag_id": "nope", "label": "missing"}],
        plan={"dag_id": "t_flaky", "until": "2026-01-03T00:00:00+00:00", "run": True, "label": "c"},
    )
    assert [p["data_interval"][0][:10] for p in result["plan"]] == ["2026-01-01", "2026-01-02"]
    first = orch.find_run(result, "c-0")
    assert first["state"] == "success" and first["task_runs"]["once"]["try_number"] == 2
    assert first["data_interval"][0].startswith("2026-01-01")
    assert "not found" in orch.find_run(result, "missing")["error"]
