"""Airflow from a lab kernel: run DAGs with `dag.test()` in the orchestration venv, and check pod specs.

Airflow 3 lives in `.venv-orch` (its pins clash with the course venv), so the kernel never imports it:
`run_dags` writes a small runner script, starts `.venv-orch/bin/python` on it with a private
AIRFLOW_HOME and sqlite metadata DB, and reads back one JSON document with what Airflow recorded
(run state, logical date, data interval, per-task state, try number, start/end times).

`pod_problems` validates a Kubernetes Pod manifest (the pod a KubernetesPodOperator would create)
against the Kubernetes OpenAPI schema (kubernetes-validate) and the scheduling rules a cluster
enforces at admission/scheduling time.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from labkit.iac import orch_python

INSTALL_HINT = (
    "run scripts/install-infra-tools.sh "
    "(it creates .venv-orch with Airflow 3 from infra-snippets/requirements-orchestration.txt)"
)

# Runs inside .venv-orch. argv[1] = spec JSON path, argv[2] = result JSON path (rewritten after every run,
# so a run killed by the timeout keeps what finished before it).
RUNNER = r"""
import json, os, sys, threading, time
from pathlib import Path
spec = json.loads(Path(sys.argv[1]).read_text())
out = Path(sys.argv[2])
home = Path(spec["home"])
os.environ["AIRFLOW_HOME"] = str(home)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = spec["dags"]
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# cron schedules get data intervals ("@daily" = the day that just ended), stated rather than left to defaults
os.environ["AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS"] = "True"
os.environ["PYTHONPATH"] = spec["dags"]  # DAG files import helper modules next to them
sys.path.insert(0, spec["dags"])
result = {"import_errors": {}, "dags": [], "runs": []}
def save():
    out.write_text(json.dumps(result, default=str))
import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.utils.db import resetdb
resetdb()
bag = DagBag(dag_folder=spec["dags"])
result["import_errors"] = {str(k): str(v)[-1500:] for k, v in bag.import_errors.items()}
result["dags"] = sorted(bag.dag_ids)
save()
limit = float(spec.get("max_wait_s", 30))
if spec.get("plan"):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction
    p = spec["plan"]
    dag = bag.get_dag(p["dag_id"])
    planned = []
    if dag is not None:
        until = pendulum.parse(p["until"])
        restriction = TimeRestriction(earliest=dag.start_date, latest=until, catchup=bool(dag.catchup))
        timetable = coerce_to_core_timetable(dag.timetable)
        last = None
        for _ in range(50):
            info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
            if info is None or info.run_after > until:
                break
            planned.append({"logical_date": str(info.logical_date), "run_after": str(info.run_after),
                            "data_interval": [str(info.data_interval.start), str(info.data_interval.end)]})
            last = info.data_interval
    result["plan"] = planned
    save()
    # dag.test() makes a manual run, whose data interval Airflow infers as the one ENDING at its logical
    # date: pass the interval end so each test run covers the interval the scheduled run would.
    for i, info in enumerate(planned if p.get("run") else []):
        spec["runs"].insert(i, {"dag_id": p["dag_id"], "label": f"{p.get('label', 'plan')}-{i}",
                                "logical_date": info["data_interval"][1]})
for job in spec["runs"]:
    rec = {"dag_id": job["dag_id"], "label": job.get("label", ""), "logical_date": job.get("logical_date")}
    result["runs"].append(rec)
    dag = bag.get_dag(job["dag_id"])
    if dag is None:
        rec["error"] = f"DAG {job['dag_id']!r} not found in {spec['dags']}"
        save(); continue
    rec["catchup"] = bool(dag.catchup)
    rec["schedule"] = str(getattr(dag, "schedule", ""))
    rec["tasks"] = {t.task_id: {"retries": t.retries, "retry_delay_s": t.retry_delay.total_seconds(),
                                "upstream": sorted(t.upstream_task_ids),
                                "timeout_s": getattr(t, "timeout", None), "mode": getattr(t, "mode", None),
                                "poke_interval_s": getattr(t, "poke_interval", None)} for t in dag.tasks}
    slow = [f"{t.task_id}: retry_delay {t.retry_delay.total_seconds():.0f}s" for t in dag.tasks
            if t.retries and t.retry_delay.total_seconds() > limit]
    slow += [f"{t.task_id}: sensor timeout {t.timeout}s" for t in dag.tasks
             if getattr(t, "timeout", None) is not None and hasattr(t, "poke") and float(t.timeout) > limit]
    if slow:
        rec["error"] = f"refused to run (this lab waits at most {limit:.0f}s): " + "; ".join(slow)
        save(); continue
    if job.get("drop_file"):
        path, delay = Path(job["drop_file"]), float(job.get("drop_after_s", 0))
        def drop(path=path, delay=delay, rec=rec):
            time.sleep(delay)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("ready")
            rec["dropped_at"] = pendulum.now("UTC").isoformat()
        threading.Thread(target=drop, daemon=True).start()
    kwargs = {"run_conf": job.get("conf") or None}
    if job.get("logical_date"):
        kwargs["logical_date"] = pendulum.parse(job["logical_date"])
    started = time.time()
    try:
        run = dag.test(**kwargs)
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"[-1500:]
        save(); continue
    rec["wall_s"] = round(time.time() - started, 2)
    rec["state"] = str(run.state)
    rec["logical_date"] = str(run.logical_date)
    rec["data_interval"] = [str(run.data_interval_start), str(run.data_interval_end)]
    rec["task_runs"] = {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number,
                                     "start": str(ti.start_date), "end": str(ti.end_date),
                                     "duration_s": ti.duration} for ti in run.get_task_instances()}
    save()
"""


class OrchestrationMissing(RuntimeError):
    """The orchestration venv (Airflow 3) is not installed."""


def require_airflow() -> Path:
    """The `.venv-orch` interpreter; raises OrchestrationMissing with the install hint when absent."""
    python = orch_python()
    if not python.exists():
        raise OrchestrationMissing(f"{python} not found: Airflow 3 is not installed here; {INSTALL_HINT}")
    return python


def run_dags(
    dags_folder: Path,
    work: Path,
    runs: list[dict[str, Any]],
    *,
    plan: dict[str, str] | None = None,
    max_wait_s: float = 30,
    timeout_s: float = 240,
) -> dict[str, Any]:
    """Import `dags_folder` in Airflow and `dag.test()` each entry of `runs`, in one Airflow process.

    A run is `{"dag_id", "logical_date"?, "conf"?, "label"?, "drop_file"?, "drop_after_s"?}`; `drop_file`
    is written `drop_after_s` seconds after that run starts (an upstream producer landing data).
    `plan={"dag_id", "until", "run"?, "label"?}` first lists the runs the scheduler's timetable would create
    from the DAG's start_date up to `until` (catchup on or off as the DAG says); with `run` true they are
    executed first, labelled `<label>-0`, `<label>-1`... DAGs whose retry delay or sensor
    timeout exceed `max_wait_s` are refused rather than left to hang. Returns the runner's JSON plus
    `returncode` and the tail of its log.
    """
    python = require_airflow()
    work.mkdir(parents=True, exist_ok=True)
    home = work / "airflow-home"
    home.mkdir(exist_ok=True)
    (work / "runner.py").write_text(RUNNER)
    spec = {"home": str(home), "dags": str(dags_folder), "runs": runs, "plan": plan, "max_wait_s": max_wait_s}
    (work / "spec.json").write_text(json.dumps(spec))
    result_path = work / "result.json"
    result_path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env["NO_COLOR"] = "1"
    log = work / "airflow.log"
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                [str(python), str(work / "runner.py"), str(work / "spec.json"), str(result_path)],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=work,
                timeout=timeout_s,
                check=False,
            )
            code: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            code = f"timeout after {timeout_s:.0f}s"
    result: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {"runs": []}
    result["returncode"] = code
    result["log_tail"] = log.read_text(errors="replace")[-3000:]
    return result


def find_run(result: dict[str, Any], label: str) -> dict[str, Any]:
    """The run record with this label (an empty dict if the run never happened)."""
    return next((r for r in result.get("runs", []) if r.get("label") == label), {})


def _quantity(value: Any) -> float:
    """A Kubernetes quantity ('500m', '2Gi', '1', 4) as a float in base units."""
    text = str(value).strip()
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for tol in tolerations:
        if tol.get("effect") not in (None, "", taint["effect"]):
            continue
        if tol.get("operator", "Equal") == "Exists" and tol.get("key") in (None, "", taint["key"]):
            return True
        if tol.get("key") == taint["key"] and str(tol.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def pod_problems(
    pod: dict[str, Any],
    *,
    k8s_version: str = "1.30.0",
    taints: list[dict[str, str]] | None = None,
    node_labels: dict[str, str] | None = None,
) -> list[str]:
    """What stops this Pod manifest from being accepted and scheduled; an empty list when it is fine.

    Schema: kubernetes-validate against the OpenAPI schema of `k8s_version` (strict: unknown fields are
    errors). Rules the API server / scheduler apply that a schema cannot: every container sets CPU and
    memory requests and limits with request <= limit; extended resources (nvidia.com/gpu) have
    request == limit; the pod tolerates every taint of the target node and its required node affinity
    matches the node's labels.
    """
    import kubernetes_validate

    problems: list[str] = []
    try:
        kubernetes_validate.validate(pod, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        problems.append(f"schema: {exc.message} at {where or '<root>'}")
    except Exception as exc:  # malformed beyond the schema (missing kind/apiVersion, ...)
        problems.append(f"schema: {type(exc).__name__}: {exc}")
    spec = pod.get("spec") or {}
    for c in spec.get("containers") or []:
        name = c.get("name", "?")
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for key in ("cpu", "memory"):
            if key not in req or key not in lim:
                problems.append(f"container {name}: {key} request and limit must both be set")
            elif _quantity(req[key]) > _quantity(lim[key]):
                problems.append(f"container {name}: {key} request {req[key]} exceeds limit {lim[key]}")
        for key in set(req) | set(lim):
            if "/" in key and key in req and str(req.get(key)) != str(lim.get(key)):  # a lone limit sets the request
                problems.append(f"container {name}: {key} request {req.get(key)} must equal limit {lim.get(key)}")
    for taint in taints or []:
        if not _tolerates(spec.get("tolerations") or [], taint):
            problems.append(f"no toleration for taint {taint['key']}={taint.get('value', '')}:{taint['effect']}")
    if node_labels is not None:
        terms = (
            ((spec.get("affinity") or {}).get("nodeAffinity") or {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", {})
            .get("nodeSelectorTerms", [])
        )
        if not terms:
            problems.append("no required node affinity: the pod could land on any node")
        elif not any(_term_matches(t, node_labels) for t in terms):
            problems.append(f"required node affinity matches no node with labels {node_labels}")
    return problems


def _term_matches(term: dict[str, Any], labels: dict[str, str]) -> bool:
    for expr in term.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
