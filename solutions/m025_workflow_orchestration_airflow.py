# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 25 — Workflow orchestration with Airflow
#
# **Where this sits:** the fraud models of Modules 1–4 are trained on per-card features (how many
# transactions a card made in a day, how much it spent). Someone has to compute those features every
# day, wait until the day's data has actually landed, retry when the source hiccups, and backfill the
# days that were missed. That someone is an orchestrator; this lab uses Apache Airflow 3.
#
# **You will:**
# 1. write a **batch feature-engineering DAG** (extract → transform → validate → load) with **retries**,
#    and watch Airflow retry a task that fails once;
# 2. use **scheduling semantics**: a `@daily` DAG with `catchup`, whose runs each process exactly their
#    own **data interval**, idempotently (a rerun overwrites its partition, never duplicates it);
# 3. gate a job on **data availability** with a **sensor** that waits for the data to land, and fails
#    cleanly (timeout) when it never does;
# 4. describe a training step as a **KubernetesPodOperator** pod: resources, GPU toleration, node
#    affinity, validated against the Kubernetes API schema.
#
# **What runs here:** real Airflow 3 (`apache-airflow` 3.3.2) in its own virtualenv `.venv-orch` (its
# pins clash with the notebook's), with a private `AIRFLOW_HOME` and a sqlite metadata database. Your
# DAG files are parsed by Airflow's `DagBag` and executed with `dag.test()`: the real task runner, one
# DagRun at a time, in one process, without a scheduler or webserver. There is no Kubernetes cluster
# here: the pod spec is rendered and validated, not run.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

# %% [markdown]
# ## Setup
# The lab works in a folder named from `RUN_ID`: the DAGs folder, the Airflow home and metadata DB,
# the raw data, the feature partitions. `labkit.orchestration.run_dags` starts `.venv-orch/bin/python`
# with that home, imports the DAGs folder and `dag.test()`s the runs you ask for, and returns what
# Airflow recorded (run state, logical date, data interval, each task's state and `try_number`).
# Starting Airflow costs seconds, so the lab starts it **once** for exercises 1–3, after you have
# written all three DAG pieces.

# %% locked=true
import csv
import json
import random
import shutil
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

from labkit import labenv
from labkit.orchestration import find_run, pod_problems, require_airflow, run_dags

labenv.configure(DATA_DIR)
NAME = labenv.resource_name("m025", RUN_ID)
print("Airflow interpreter:", require_airflow())  # a clear error here if .venv-orch is missing

WORK = (Path.cwd() / "m025-work" / NAME).resolve()
shutil.rmtree(WORK, ignore_errors=True)  # idempotent rerun: start from an empty work folder
DAGS, ROOT = WORK / "dags", WORK / "data"
RAW_CSV, FEATURES, STAGING, LANDING = ROOT / "transactions.csv", ROOT / "features", ROOT / "staging", ROOT / "landing"
for d in (DAGS, FEATURES, STAGING, LANDING):
    d.mkdir(parents=True, exist_ok=True)

# Three days of card transactions (seeded): the source system the feature job reads.
rng = random.Random(25)
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
with RAW_CSV.open("w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["ts", "card_id", "amount"])
    for _ in range(900 if FAST else 3000):
        ts = START + timedelta(seconds=rng.randrange(3 * 86400))
        w.writerow([ts.isoformat(), f"c{rng.randrange(12):02d}", round(rng.lognormvariate(3.2, 0.9), 2)])

# %% [markdown]
# ### The feature library the DAG calls
# A DAG file should be thin: it *wires* tasks; the work lives in an importable module (here written
# into the DAGs folder, which Airflow puts on `sys.path`). `extract` reads the transactions with
# `start <= ts < end` into a staging file and, like a real flaky source, **fails the first call for
# every interval** (a dropped connection). `load` overwrites the partition `dt=<day>` in one go.

# %% locked=true
FEATLIB = f'''
"""Feature functions the m025 DAGs call (written by the lab)."""
import csv, json, os
from datetime import datetime
from pathlib import Path

RAW_CSV = Path({str(RAW_CSV)!r})
FEATURES = Path({str(FEATURES)!r})
STAGING = Path({str(STAGING)!r})
LANDING = Path({str(LANDING)!r})


def extract(start, end) -> str:
    """Rows with start <= ts < end -> a staging JSON file; the first call per interval fails."""
    key = f"{{start:%Y%m%dT%H%M}}-{{end:%Y%m%dT%H%M}}"
    flag = STAGING / f"{{key}}.seen"
    if not flag.exists():
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("1")
        raise ConnectionError("source dropped the connection (transient)")
    rows = [r for r in csv.DictReader(RAW_CSV.open()) if start <= datetime.fromisoformat(r["ts"]) < end]
    out = STAGING / f"{{key}}.json"
    out.write_text(json.dumps(rows))
    return str(out)


def transform(staged: str) -> str:
    """Per-card daily features: n_tx, total, mean_amount, max_amount."""
    feats = {{}}
    for r in json.loads(Path(staged).read_text()):
        f = feats.setdefault(r["card_id"], {{"n_tx": 0, "total": 0.0, "max_amount": 0.0}})
        f["n_tx"] += 1
        f["total"] += float(r["amount"])
        f["max_amount"] = max(f["max_amount"], float(r["amount"]))
    for f in feats.values():
        f["total"] = round(f["total"], 2)
        f["mean_amount"] = round(f["total"] / f["n_tx"], 4)
    out = Path(staged).with_suffix(".features.json")
    out.write_text(json.dumps(feats, sort_keys=True))
    return str(out)


def validate(features_path: str, min_cards: int = 1) -> str:
    """Raise (fail the task) on an empty day or impossible values."""
    feats = json.loads(Path(features_path).read_text())
    if len(feats) < min_cards:
        raise ValueError(f"only {{len(feats)}} cards, expected >= {{min_cards}}")
    bad = [c for c, f in feats.items() if f["n_tx"] <= 0 or f["total"] < 0]
    if bad:
        raise ValueError(f"impossible features for {{bad}}")
    return features_path


def load(day: str, features_path: str) -> dict:
    """Overwrite partition dt=<day> atomically (write to a temp dir, then rename)."""
    final = FEATURES / f"dt={{day}}"
    tmp = FEATURES / f".tmp-dt={{day}}"
    tmp.mkdir(parents=True, exist_ok=True)
    feats = json.loads(Path(features_path).read_text())
    (tmp / "features.json").write_text(json.dumps(feats, sort_keys=True))
    (tmp / "_SUCCESS").write_text(json.dumps({{"cards": len(feats)}}))
    if final.exists():
        for p in final.iterdir():
            p.unlink()
        final.rmdir()
    os.replace(tmp, final)
    return {{"day": day, "cards": len(feats)}}
'''
(DAGS / "m025_featlib.py").write_text(FEATLIB)


def write_dag(filename: str, source: str) -> Path:
    """Write one DAG file into this lab's DAGs folder (Airflow parses it when the lab runs the DAGs)."""
    path = DAGS / filename
    path.write_text(source)
    return path


print("DAGs folder:", DAGS)

# %% [markdown]
# ## Airflow basics, and setting it up locally and on EC2
#
# A **DAG** is a Python file that declares tasks and their dependencies; the **scheduler** parses it,
# creates a **DagRun** per schedule tick, and hands ready **task instances** to an executor; the
# **metadata database** records every state change (queued, running, up_for_retry, success...). With
# the TaskFlow API a task is a decorated function and `b(a())` both wires `a >> b` and passes `a`'s
# return value through XCom.
#
# **Locally** Airflow needs only `pip install "apache-airflow==3.3.2" --constraint <constraints file>`
# (the constraints pin ~200 transitive packages; this repo pins its set in
# `infra-snippets/requirements-orchestration.txt`), an `AIRFLOW_HOME`, and a metadata DB
# (`airflow db migrate`); `airflow standalone` then runs scheduler, API server and DAG processor with
# sqlite. That is exactly what `run_dags` sets up, minus the long-running processes: `dag.test()` runs
# one DagRun in-process. **On an EC2 instance** the same install goes into user-data, with Postgres
# (RDS) instead of sqlite (sqlite allows one writer, so only the SequentialExecutor-style `dag.test`
# is safe on it) and `LocalExecutor`, behind a security group that opens the UI only to your network.
# The walk-through cell below writes that user-data and launches the instance on the course's EC2
# emulator (moto): the API calls are real, the VM is not; on AWS (or with MWAA, the managed service)
# the same calls start a real one.

# %%
import boto3

USER_DATA = """#!/bin/bash
set -euo pipefail
python3 -m venv /opt/airflow/venv
/opt/airflow/venv/bin/pip install "apache-airflow[postgres]==3.3.2" \\
  --constraint https://raw.githubusercontent.com/apache/airflow/constraints-3.3.2/constraints-3.12.txt
export AIRFLOW_HOME=/opt/airflow
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow@metadata-db:5432/airflow
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
/opt/airflow/venv/bin/airflow db migrate
systemctl enable --now airflow-scheduler airflow-api-server airflow-dag-processor
"""
ec2 = boto3.client("ec2", endpoint_url=AWS_ENDPOINT_URL, region_name="us-east-1")
try:
    sg = ec2.create_security_group(GroupName=f"{NAME}-airflow", Description="Airflow UI from the office only")
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}],
    )
    sg_id = sg["GroupId"]
except ec2.exceptions.ClientError:  # rerun: reuse the group
    sg_id = ec2.describe_security_groups(GroupNames=[f"{NAME}-airflow"])["SecurityGroups"][0]["GroupId"]
inst = ec2.run_instances(
    ImageId="ami-12c6146b", InstanceType="t3.large", MinCount=1, MaxCount=1, UserData=USER_DATA,
    SecurityGroupIds=[sg_id], TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"{NAME}-airflow"}]}],
)["Instances"][0]
print("Airflow host (emulated):", inst["InstanceId"], inst["InstanceType"], "SG", sg_id)

# %% [markdown]
# ## Exercise 1 — A batch feature DAG with retries (and a daily schedule with catchup)
#
# Write the DAG file `features.py` with `dag_id="m025_features"`:
# - `schedule="@daily"`, `start_date=datetime(2026, 1, 1)` (UTC), **`catchup=True`** and
#   `max_active_runs=1`;
# - four tasks chained **extract → transform → validate → load**, each calling the function of the same
#   name in `m025_featlib` (import it: `import m025_featlib as lib`);
# - **retries**: every task retries at least twice, with `retry_delay=timedelta(seconds=1)` (in
#   production: minutes, often with `retry_exponential_backoff=True`). `extract` fails on its first
#   try for every interval: without retries every run fails;
# - **scheduling semantics**: a run must process **its data interval**, not "today" and not the logical
#   date's calendar day: `extract(data_interval_start, data_interval_end)`, and `load` writes the
#   partition named after the interval start, `data_interval_start.strftime("%Y-%m-%d")`. Read them
#   from `get_current_context()`.
#
# The lab then asks Airflow's own timetable which runs a scheduler would create from `start_date` up to
# 2026-01-04 00:00 with your catchup setting, runs each of them with `dag.test()`, and then reruns the
# first one (a rerun must overwrite its partition, not add to it).

# %% answer="feature_dag"
### BEGIN SOLUTION
FEATURE_DAG = '''
from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

import m025_featlib as lib


@dag(
    dag_id="m025_features",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
    tags=["mlops", "features"],
)
def m025_features():
    @task
    def extract() -> str:
        ctx = get_current_context()
        return lib.extract(ctx["data_interval_start"], ctx["data_interval_end"])

    @task
    def transform(staged: str) -> str:
        return lib.transform(staged)

    @task
    def validate(features_path: str) -> str:
        return lib.validate(features_path)

    @task
    def load(features_path: str) -> dict:
        day = get_current_context()["data_interval_start"].strftime("%Y-%m-%d")
        return lib.load(day, features_path)

    load(validate(transform(extract())))


m025_features()
'''
write_dag("features.py", FEATURE_DAG)
### END SOLUTION

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. Start from `@dag(dag_id=..., schedule="@daily", start_date=..., catchup=True, default_args={...})`
#    around a function with four `@task` functions inside, and call the decorated function at the end of
#    the file so the DAG object exists at import time.
# 2. `default_args={"retries": 2, "retry_delay": timedelta(seconds=1)}` applies to every task.
# 3. `ctx = get_current_context()`; `ctx["data_interval_start"]` and `ctx["data_interval_end"]` are
#    timezone-aware datetimes. `ctx["ds"]` is the *logical date*: the interval start for a scheduled run
#    but the interval **end** for a manual run (which is what `dag.test()` makes): using it picks the
#    wrong day.
# 4. Wire with `load(validate(transform(extract())))`; write the file with `write_dag("features.py", src)`.
# </details>

# %% [markdown]
# ## Exercise 2 — A sensor for data availability
#
# Upstream, a partner lands each day's chargeback file in `LANDING/dt=<day>/` and drops an empty
# `_READY` marker when the file is complete. Write `sensor.py` with `dag_id="m025_wait_for_data"`
# (`schedule="@daily"`, `start_date=datetime(2026, 1, 1)`, `catchup=False`, no retries):
# - a sensor task `wait_for_ready` that succeeds once `m025_featlib.LANDING / f"dt={day}" / "_READY"`
#   exists, where `day` is the data interval start (`YYYY-MM-DD`) of the run: a `PythonSensor`
#   (`airflow.providers.standard.sensors.python`) works without any connection set up;
# - `poke_interval=1` second and `timeout=10` seconds, `mode="poke"` (in production: minutes and hours,
#   and `mode="reschedule"` so a waiting sensor frees its worker slot between pokes);
# - the sensor must **fail** when the time runs out (not `soft_fail`: a missing day is an incident);
# - downstream, a `consume` task that writes `LANDING/dt=<day>/_CONSUMED`.
#
# The lab runs it twice: for the day of 2026-01-01 the marker lands 5 seconds after the run starts; for
# 2026-01-02 it never lands.

# %% answer="sensor_dag"
### BEGIN SOLUTION
SENSOR_DAG = '''
from datetime import datetime

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import dag, get_current_context, task

import m025_featlib as lib


def _day() -> str:
    return get_current_context()["data_interval_start"].strftime("%Y-%m-%d")


def _ready() -> bool:
    return (lib.LANDING / f"dt={_day()}" / "_READY").exists()


@dag(dag_id="m025_wait_for_data", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False)
def m025_wait_for_data():
    wait = PythonSensor(task_id="wait_for_ready", python_callable=_ready, poke_interval=1, timeout=10, mode="poke")

    @task
    def consume() -> str:
        out = lib.LANDING / f"dt={_day()}" / "_CONSUMED"
        out.write_text("ok")
        return str(out)

    wait >> consume()


m025_wait_for_data()
'''
write_dag("sensor.py", SENSOR_DAG)
### END SOLUTION

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. `PythonSensor(task_id="wait_for_ready", python_callable=fn, poke_interval=1, timeout=10, mode="poke")`:
#    Airflow calls `fn` every `poke_interval` seconds until it returns True or `timeout` passes.
# 2. Inside `fn`, `get_current_context()["data_interval_start"]` gives the day the run is about.
# 3. Chain with `wait >> consume()`; leave `soft_fail` at its default (False) so a timeout fails the run.
# </details>

# %% [markdown]
# ## Run the DAGs in Airflow
# One Airflow process: import the DAGs folder (import errors are shown), plan the catchup runs of
# `m025_features` with its timetable, run them plus a rerun of the first, then the two sensor runs. It
# takes a little while (each `dag.test()` starts real task runners).

# %% locked=true
t0 = time.time()
AIRFLOW = run_dags(
    DAGS,
    WORK / "airflow",
    runs=[
        {"dag_id": "m025_features", "label": "rerun", "logical_date": "2026-01-02T00:00:00+00:00"},
        {"dag_id": "m025_wait_for_data", "label": "arrives", "logical_date": "2026-01-02T00:00:00+00:00",
         "drop_file": str(LANDING / "dt=2026-01-01" / "_READY"), "drop_after_s": 5},
        {"dag_id": "m025_wait_for_data", "label": "never", "logical_date": "2026-01-03T00:00:00+00:00"},
    ],
    plan={"dag_id": "m025_features", "until": "2026-01-04T00:00:00+00:00", "run": True, "label": "catchup"},
    max_wait_s=15,
    timeout_s=300,
)
print(f"Airflow finished in {time.time() - t0:.0f}s (exit {AIRFLOW['returncode']}); DAGs: {AIRFLOW.get('dags')}")
for path, err in (AIRFLOW.get("import_errors") or {}).items():
    print("IMPORT ERROR", path, "\n", err)
print("catchup plan:", [p["data_interval"] for p in AIRFLOW.get("plan") or []])
for r in AIRFLOW["runs"]:
    tries = {t: v["try_number"] for t, v in (r.get("task_runs") or {}).items()}
    print(f"{r['label']:>9} {r['dag_id']:<20} {r.get('state', '-'):<8} {r.get('data_interval', '')} tries={tries} {r.get('error', '')}")
if not AIRFLOW["runs"]:
    print(AIRFLOW["log_tail"])


def expected_features(start: datetime, end: datetime) -> dict:
    """Per-card features computed here, independently of the DAG, from the raw CSV."""
    out: dict = {}
    for r in csv.DictReader(RAW_CSV.open()):
        if start <= datetime.fromisoformat(r["ts"]) < end:
            f = out.setdefault(r["card_id"], [0, 0.0])
            f[0] += 1
            f[1] += float(r["amount"])
    return out


# %% check="feature_dag" points=2
run0 = find_run(AIRFLOW, "catchup-0")
assert run0, f"no catchup run of m025_features happened; plan={AIRFLOW.get('plan')} errors={AIRFLOW.get('import_errors')}"
assert "error" not in run0, run0.get("error")
tasks = run0["tasks"]
assert set(tasks) == {"extract", "transform", "validate", "load"}, f"expected tasks extract/transform/validate/load, saw {sorted(tasks)}"
assert tasks["load"]["upstream"] == ["validate"] and tasks["validate"]["upstream"] == ["transform"] and tasks["transform"]["upstream"] == ["extract"], f"expected a chain extract>>transform>>validate>>load, saw {tasks}"
assert run0["state"] == "success", f"expected the run to succeed, saw {run0['state']}: {run0['task_runs']}"
### BEGIN HIDDEN TESTS
assert all(t["retries"] >= 2 for t in tasks.values()), f"expected retries >= 2 on every task, saw { {k: v['retries'] for k, v in tasks.items()} }"
assert run0["task_runs"]["extract"]["try_number"] == 2, f"expected extract to succeed on try 2, saw {run0['task_runs']['extract']}"
assert all(run0["task_runs"][t]["try_number"] == 1 for t in ("transform", "validate", "load")), f"{run0['task_runs']}"
### END HIDDEN TESTS

# %% check="feature_dag" points=2
plan = AIRFLOW.get("plan") or []
assert len(plan) == 3, f"expected the timetable to plan 3 catchup runs (Jan 1, 2, 3) up to 2026-01-04, saw {len(plan)}: {plan}"
parts = sorted(p.name for p in FEATURES.glob("dt=*"))
assert parts == ["dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-03"], f"expected partitions dt=2026-01-01..03, saw {parts}"
### BEGIN HIDDEN TESTS
for i in range(3):
    r = find_run(AIRFLOW, f"catchup-{i}")
    assert r.get("state") == "success", f"catchup run {i}: expected success, saw {r.get('state')} {r.get('error', '')}"
    start, end = (datetime.fromisoformat(x) for x in r["data_interval"])
    want = expected_features(start, end)
    got = json.loads((FEATURES / f"dt={start:%Y-%m-%d}" / "features.json").read_text())
    assert set(got) == set(want), f"dt={start:%Y-%m-%d}: expected cards {sorted(want)}, saw {sorted(got)}"
    for card, (n, total) in want.items():
        assert got[card]["n_tx"] == n and abs(got[card]["total"] - total) < 0.05, f"dt={start:%Y-%m-%d} card {card}: expected n_tx={n} total={total:.2f}, saw {got[card]}"
rerun = find_run(AIRFLOW, "rerun")
assert rerun.get("state") == "success", f"the rerun should succeed, saw {rerun.get('state')} {rerun.get('error', '')}"
assert len(list(FEATURES.glob("dt=*"))) == 3, "the rerun must overwrite its partition, not add one"
### END HIDDEN TESTS

# %% [markdown]
# Look at the plan: with data intervals (the lab states `create_cron_data_intervals=True`; Airflow 3's
# default for cron schedules is a trigger timetable with zero-length intervals) the scheduled `@daily`
# run with logical date 2026-01-01 processes **[2026-01-01, 2026-01-02)** and starts only **after** that
# day is complete. A manual run (the UI's *Trigger*, `airflow dags test`, `dag.test()`) gets the interval
# that ends at its logical date, so `ds` means different days for scheduled and manual runs of the same
# DAG: code that reads the interval is right in both. `catchup=True` made the timetable plan every
# missed interval since `start_date`; with `catchup=False` a newly enabled DAG runs only the latest one
# and history is backfilled explicitly (`airflow backfill create --dag-id ... --from-date ... --to-date
# ...`). Idempotent, interval-keyed partitions are what make both safe.

# %% check="sensor_dag" points=2
arr = find_run(AIRFLOW, "arrives")
assert arr, f"no run of m025_wait_for_data happened; DAGs seen: {AIRFLOW.get('dags')}"
assert "error" not in arr, arr.get("error")
assert arr["state"] == "success", f"expected the run to succeed once the marker landed, saw {arr['state']}: {arr.get('task_runs')}"
assert (LANDING / "dt=2026-01-01" / "_CONSUMED").exists(), "expected consume to write LANDING/dt=2026-01-01/_CONSUMED"
### BEGIN HIDDEN TESTS
sensor = arr["task_runs"]["wait_for_ready"]
dropped = datetime.fromisoformat(arr["dropped_at"])
assert datetime.fromisoformat(sensor["start"]) < dropped <= datetime.fromisoformat(sensor["end"]), f"expected the sensor to be waiting when the marker landed at {dropped}, saw it run {sensor['start']} .. {sensor['end']}"
cfg = arr["tasks"]["wait_for_ready"]
assert cfg["poke_interval_s"] is not None and float(cfg["poke_interval_s"]) <= 2, f"expected poke_interval <= 2 s, saw {cfg['poke_interval_s']}"
### END HIDDEN TESTS

# %% check="sensor_dag" points=1
nev = find_run(AIRFLOW, "never")
assert nev and "error" not in nev, f"the no-data run did not complete: {nev.get('error') if nev else 'missing'}"
assert nev["state"] == "failed", f"expected the run to FAIL when the data never lands, saw {nev['state']}"
### BEGIN HIDDEN TESTS
states = {t: v["state"] for t, v in nev["task_runs"].items()}
assert states.get("wait_for_ready") == "failed", f"expected the sensor to fail on timeout, saw {states}"
assert states.get("consume") in ("upstream_failed", "None", None), f"consume must not run without data, saw {states}"
assert not (LANDING / "dt=2026-01-02" / "_CONSUMED").exists(), "consume ran for a day whose data never landed"
assert float(nev["tasks"]["wait_for_ready"]["timeout_s"]) <= 12, f"expected timeout about 10 s, saw {nev['tasks']['wait_for_ready']['timeout_s']}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 — The training step as a KubernetesPodOperator pod
#
# Feature engineering is light; training is not. `KubernetesPodOperator` (provider
# `apache-airflow-providers-cncf-kubernetes`) runs a task as its own pod, so each step gets its own
# image, CPU/GPU and memory, on a node pool that scales to zero between runs. The operator is a thin
# wrapper over a **Pod manifest**:
#
# ```python
# KubernetesPodOperator(
#     task_id="train", name="fraud-train", namespace="ml-jobs", image="ghcr.io/acme/fraud-train:1.4.2",
#     cmds=["python", "-m", "train"], arguments=["--features", "s3://.../dt={{ data_interval_start | ds }}"],
#     container_resources=k8s.V1ResourceRequirements(requests={...}, limits={...}),
#     tolerations=[k8s.V1Toleration(...)], affinity=k8s.V1Affinity(...), get_logs=True,
#     on_finish_action="delete_pod",
# )
# ```
#
# The provider is not installed here and there is no cluster, so you write the Pod manifest it would
# submit, and the lab validates it with `kubernetes-validate` (the Kubernetes 1.30 OpenAPI schema,
# strict) plus the admission/scheduling rules `labkit.orchestration.pod_problems` checks.
#
# Write `training_pod(day: str) -> dict` returning a `v1` `Pod`:
# - `metadata`: `name` `f"{NAME}-train-{day}"` (dots/underscores not allowed, the day has only
#   dashes), `namespace` `"ml-jobs"`, label `app: fraud-train`;
# - one container `train`, image `ghcr.io/acme/fraud-train:1.4.2`, command `["python", "-m", "train"]`,
#   args `["--day", day]`; resources: requests `cpu "4"`, `memory "16Gi"`, limits `cpu "8"`,
#   `memory "16Gi"`, and **one GPU** (`nvidia.com/gpu`);
# - `restartPolicy: "Never"` (Airflow owns retries, not the kubelet);
# - it must schedule on the GPU pool: nodes labelled `node.kubernetes.io/instance-type: g5.2xlarge`
#   (use a **required** node affinity accepting `g5.xlarge` and `g5.2xlarge`), tainted
#   `nvidia.com/gpu=present:NoSchedule`.

# %% answer="kpo_pod"
### BEGIN SOLUTION
def training_pod(day: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{NAME}-train-{day}", "namespace": "ml-jobs", "labels": {"app": "fraud-train"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "train",
                    "image": "ghcr.io/acme/fraud-train:1.4.2",
                    "command": ["python", "-m", "train"],
                    "args": ["--day", day],
                    "resources": {
                        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                        "limits": {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "1"},
                    },
                }
            ],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5.xlarge", "g5.2xlarge"]}]}
                        ]
                    }
                }
            },
        },
    }
### END SOLUTION

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. Extended resources such as `nvidia.com/gpu` cannot be overcommitted: if you request one, the limit
#    must be the same number (setting only the limit also works: the request defaults to it).
# 2. A toleration matches a taint on `key`, `value` (operator `Equal`) and `effect`.
# 3. Affinity path: `spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[].matchExpressions[]`.
# 4. Run `pod_problems(training_pod("2026-01-01"), taints=[...], node_labels={...})` yourself: it lists
#    what a cluster would reject.
# </details>

# %% check="kpo_pod" points=1
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pod = training_pod("2026-01-01")
    probs = pod_problems(pod)
assert not probs, f"expected a valid Pod manifest, saw problems: {probs}"
assert pod["metadata"]["name"] == f"{NAME}-train-2026-01-01", f"expected name {NAME}-train-2026-01-01, saw {pod['metadata'].get('name')}"
### BEGIN HIDDEN TESTS
assert pod["spec"].get("restartPolicy") == "Never", f"expected restartPolicy Never, saw {pod['spec'].get('restartPolicy')}"
assert pod["metadata"].get("namespace") == "ml-jobs", f"expected namespace ml-jobs, saw {pod['metadata'].get('namespace')}"
### END HIDDEN TESTS

# %% check="kpo_pod" points=2
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pod = training_pod("2026-01-02")
    probs = pod_problems(pod, taints=[GPU_TAINT], node_labels={"node.kubernetes.io/instance-type": "g5.2xlarge"})
assert not probs, f"expected the pod to schedule on a g5.2xlarge GPU node, saw: {probs}"
### BEGIN HIDDEN TESTS
c = pod["spec"]["containers"][0]
res = c["resources"]
assert str(res["limits"].get("nvidia.com/gpu")) == "1", f"expected exactly 1 GPU, saw {res['limits'].get('nvidia.com/gpu')}"
assert str(res["requests"]["cpu"]) == "4" and str(res["limits"]["cpu"]) == "8", f"expected cpu 4/8, saw {res['requests'].get('cpu')}/{res['limits'].get('cpu')}"
assert str(res["requests"]["memory"]) == "16Gi" == str(res["limits"]["memory"]), f"expected memory 16Gi/16Gi, saw {res}"
assert c["image"] == "ghcr.io/acme/fraud-train:1.4.2" and c["args"] == ["--day", "2026-01-02"], f"expected image and --day args, saw {c.get('image')} {c.get('args')}"
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    cpu_node = pod_problems(pod, taints=[], node_labels={"node.kubernetes.io/instance-type": "m5.2xlarge"})
assert cpu_node, "the affinity must keep the training pod off CPU-only nodes (m5.2xlarge)"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# What ran here was real Airflow: DAG parsing, the timetable that plans catchup runs, the task runner
# with retries and `try_number`, a poking sensor that timed out. What the live tier adds:
# - a **scheduler** and **DAG processor** running continuously (catchup happens by itself; `dag.test()`
#   ran one run at a time by hand), an **executor** with parallel workers (Local, Celery or Kubernetes),
#   Postgres as the metadata DB, the web UI with logs and Gantt charts; on AWS, MWAA manages all that;
# - **deferrable** sensors (`deferrable=True`) that hand the wait to the triggerer instead of holding
#   a worker slot, and S3 sensors (`S3KeySensor`) with an AWS connection;
# - the KubernetesPodOperator actually creating the pod on EKS, streaming its logs, and a cluster
#   autoscaler (Karpenter) bringing up the g5 node the affinity asked for; here the manifest was only
#   validated against the schema and the scheduling rules.
#
# Cleanup: the emulated EC2 instance and security group, and this lab's work folder.

# %%
ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
try:
    ec2.delete_security_group(GroupId=sg_id)
except ec2.exceptions.ClientError as exc:
    print("security group kept:", exc)
shutil.rmtree(WORK, ignore_errors=True)
print("cleaned up", NAME)
