"""Run by the .venv-orch interpreter (Airflow 3 + KFP 2), not by pytest directly:

    .venv-orch/bin/python tests/infra/orch_checks.py airflow|kfp WORKDIR

Prints one JSON line with the results; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SNIPPETS = Path(__file__).resolve().parents[2] / "infra-snippets"


def check_airflow(work: Path) -> dict[str, object]:
    os.environ["AIRFLOW_HOME"] = str(work / "airflow-home")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{work / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(SNIPPETS / "airflow" / "dags")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3 location
    from airflow.utils.db import resetdb

    resetdb()
    bag = DagBag(dag_folder=str(SNIPPETS / "airflow" / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    results: dict[str, object] = {"dags": sorted(bag.dag_ids)}
    data_root = work / "features"
    run = bag.get_dag("feature_pipeline").test(run_conf={"data_root": str(data_root)})
    results["feature_pipeline"] = str(run.state)
    success = list(data_root.glob("*/_SUCCESS"))
    if str(run.state) != "success" or len(success) != 1:
        raise SystemExit(f"feature_pipeline: state={run.state}, outputs={success}")
    results["feature_rows"] = json.loads(success[0].read_text())["rows"]
    run = bag.get_dag("retrain_on_drift").test(run_conf={"psi": 0.35})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    results["retrain_on_drift"] = states
    if states.get("retrain") != "success" or states.get("skip") != "skipped":
        raise SystemExit(f"retrain_on_drift branch went wrong: {states}")
    return results


def check_kfp(work: Path) -> dict[str, object]:
    import yaml
    from kfp import local

    sys.path.insert(0, str(SNIPPETS / "kubeflow" / "pipelines"))
    import train_pipeline as tp

    out = work / "train_pipeline.yaml"
    tp.main(["--out", str(out)])
    spec = yaml.safe_load(out.read_text())
    tasks = sorted(spec["root"]["dag"]["tasks"])
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(work / "kfp-root"))
    task = tp.train_pipeline(n_rows=400, seed=7, min_accuracy=0.5)
    return {"compiled_tasks": tasks, "local_run_outputs": sorted(task.outputs) if task.outputs else []}


if __name__ == "__main__":
    kind, workdir = sys.argv[1], Path(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    result = check_airflow(workdir) if kind == "airflow" else check_kfp(workdir)
    print("ORCH_RESULT " + json.dumps(result, default=str))
