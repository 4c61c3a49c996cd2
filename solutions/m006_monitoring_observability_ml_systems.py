# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 6 — Monitoring and observability for ML systems
#
# **Where this sits:** Module 1 tracked and registered the fraud model; later modules serve it.
# A model in production fails in ways a web service does not: it keeps answering 200 while its
# inputs drift away from what it was trained on. This lab puts the fraud-detection model behind an
# API and builds the monitoring around it, the way you would on an EC2 instance next to the service.
#
# **You will:**
# 1. export the three layers of metrics from a model API: **infra** (process CPU and memory),
#    **application** (request counts by status, a latency histogram) and **model** (the prediction
#    score distribution and a **drift indicator**, the PSI of a feature over a sliding window
#    against the training reference);
# 2. **deploy Prometheus** with file-based service discovery, short scrape and evaluation intervals,
#    and see how the same config ships to an EC2 instance;
# 3. write **recording and alert rules** (latency SLO p95, error ratio, drift) and unit-test them
#    with `promtool test rules`;
# 4. route alerts with **Alertmanager**: tickets to a team webhook, pages to **SNS** (here: SNS on
#    moto, with an SQS queue subscribed as the on-call inbox);
# 5. drive traffic, plant a drift, and watch the alert travel from the metric to the queue;
# 6. write a **Grafana dashboard as code** (accuracy proxy, latency, traffic, drift) and prove every
#    panel's query returns data.
#
# Three layers, one line each: *infra* says whether the box is healthy, *application* whether the
# service answers well and fast, *model* whether the answers are still any good. Only the last one
# catches a model that is up, fast and wrong.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "http://127.0.0.1:9099")
PROMETHEUS_URL = os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")

# %% [markdown]
# ## Setup
# Everything this lab creates is named from `RUN_ID`. The course's shared Prometheus
# (`PROMETHEUS_URL`) is like a platform team's: you cannot change its config from a notebook. So
# you deploy your **own** Prometheus and Alertmanager (the same Debian binaries you would install on
# EC2) on free ports, and use the course's **webhook receiver** (`ALERT_WEBHOOK_URL`) as the team
# chat endpoint: it records every notification it gets, readable at `GET /alerts`.
#
# `WAIT` bounds every poll below: nothing in this lab sleeps for a fixed time.

# %%
import contextlib
import json
import shutil
import threading
import time
from collections import deque
from pathlib import Path

import boto3
import httpx
import numpy as np
import yaml
from botocore.config import Config
from fastapi import FastAPI, HTTPException, Request, Response
from mlops_datasets import load
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit import labenv
import labkit
from labkit import observability as obs
from labkit.fraud import FEATURES, feature_frame, time_split

labenv.configure(DATA_DIR)  # fail-fast clients, dummy AWS credentials, this env's tools on PATH
REGION = os.environ["AWS_DEFAULT_REGION"]

# a rerun in the same kernel: stop what the previous run started
for _old in ("traffic", "api", "prom", "alertmanager"):
    if _old in globals():
        globals()[_old].stop()

NAME = "m006-" + RUN_ID.lower().replace("_", "-")
WORK = (Path("m006-work") / NAME).resolve()
shutil.rmtree(WORK, ignore_errors=True)
TARGETS_DIR, RULES_DIR = WORK / "targets", WORK / "rules"
for _d in (TARGETS_DIR, RULES_DIR):
    _d.mkdir(parents=True)
JOB = f"fraud-api-{NAME}"  # the Prometheus job of our model API
API_PORT, PROM_PORT, AM_PORT = labkit.free_port(), labkit.free_port(), labkit.free_port()
API_URL, PROM_URL, AM_URL = (f"http://127.0.0.1:{p}" for p in (API_PORT, PROM_PORT, AM_PORT))
HOOK_URL = f"{ALERT_WEBHOOK_URL}/{NAME}"  # our path on the shared webhook: our notifications only
WAIT = 45 if FAST else 120  # seconds, the longest any poll below waits
T0 = time.time()

_aws = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1})
sns = boto3.client("sns", endpoint_url=AWS_ENDPOINT_URL, config=_aws)
sqs = boto3.client("sqs", endpoint_url=AWS_ENDPOINT_URL, config=_aws)
ec2 = boto3.client("ec2", endpoint_url=AWS_ENDPOINT_URL, config=_aws)
TOPIC_ARN = sns.create_topic(Name=f"{NAME}-oncall")["TopicArn"]
QUEUE_URL = sqs.create_queue(QueueName=f"{NAME}-oncall-inbox")["QueueUrl"]
with contextlib.suppress(sqs.exceptions.PurgeQueueInProgress):  # a rerun: start with an empty inbox
    sqs.purge_queue(QueueUrl=QUEUE_URL)
_queue_arn = sqs.get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=_queue_arn)
print("job:", JOB, "| SNS topic:", TOPIC_ARN, "| inbox:", QUEUE_URL)

# %% [markdown]
# ## The model and its training reference
# A logistic regression on the fraud features, trained on the first 70% of the timeline. For drift
# monitoring we keep the **reference distribution** of one input, `log_amount`: the decile edges
# of the training data and the share of training rows in each of the 10 bins (10% each, by
# construction). In production this reference is saved with the model (an MLflow artifact).
#
# Two traffic sources replay later transactions: `NORMAL_ROWS` from before the data's drift period,
# and `DRIFT_ROWS` from the drift period (day 150 on: new devices, card testing, amounts ×1.2)
# **plus a planted incident**: a payments partner starts sending amounts in another currency, so
# every amount is 2.5× larger.

# %%
tx = load("fraud")["transactions"]
train_tx, _ = time_split(tx)
X_train = feature_frame(train_tx)
# fitted on a plain array: the API predicts from arrays in FEATURES order
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train.to_numpy(), train_tx["isFraud"])

EDGES = np.quantile(X_train["log_amount"], np.linspace(0, 1, 11)[1:-1])  # 9 inner edges -> 10 bins
REF_FRACTIONS = np.bincount(np.searchsorted(EDGES, X_train["log_amount"], side="right"), minlength=10) / len(X_train)

DRIFT_START = load("fraud")["planted"]["periods"]["drift"]["TransactionDT"][0]
_rng = np.random.default_rng(6)
_all = feature_frame(tx)
_normal = _all.loc[(tx["TransactionDT"] >= train_tx["TransactionDT"].max()) & (tx["TransactionDT"] < DRIFT_START)]
_scaled = tx.assign(TransactionAmt=np.where(tx["TransactionDT"] >= DRIFT_START, (tx["TransactionAmt"] * 2.5).round(2),
                                            tx["TransactionAmt"]))
_drifted = feature_frame(_scaled).loc[tx["TransactionDT"] >= DRIFT_START]
NORMAL_ROWS = _normal.sample(frac=1.0, random_state=6).to_dict("records")
DRIFT_ROWS = _drifted.sample(frac=1.0, random_state=6).to_dict("records")
print(f"trained on {len(X_train)} rows | normal traffic {len(NORMAL_ROWS)} rows | drifted {len(DRIFT_ROWS)} rows")
print("reference bin shares:", np.round(REF_FRACTIONS, 3))

# %% [markdown]
# ## Exercise 1: instrument the model API (infra, application, model metrics)
#
# The API below is written for you; it takes its metrics from a dict that you build. Write
# `make_metrics(registry)` that registers, **on `registry`** (a fresh `CollectorRegistry`, so a rerun
# never collides with old metrics), and returns them in a dict:
#
# | key | type | name | labels | notes |
# |---|---|---|---|---|
# | `"requests"` | Counter | `fraud_api_requests` (exported as `fraud_api_requests_total`) | `endpoint`, `status` | |
# | `"latency"` | Histogram | `fraud_api_request_duration_seconds` | `endpoint` | buckets `LATENCY_BUCKETS` |
# | `"score"` | Histogram | `fraud_model_score` | none | buckets `SCORE_BUCKETS` |
# | `"psi"` | Gauge | `fraud_feature_psi` | `feature` | the drift indicator |
#
# and also registers a `ProcessCollector` on the same registry: that is the **infra** layer
# (`process_cpu_seconds_total`, `process_resident_memory_bytes`, open file descriptors).
#
# Why histograms and not summaries: a histogram's buckets can be summed across replicas and turned
# into any quantile *in PromQL*; a summary's quantiles are computed per process and cannot be
# aggregated. The SLO threshold (250 ms) must be a bucket boundary so "share of requests under
# 250 ms" is exact.
#
# <details><summary>Hint 1</summary><code>from prometheus_client import Counter, Gauge, Histogram,
# ProcessCollector</code>; every constructor takes <code>registry=registry</code>.</details>
# <details><summary>Hint 2</summary><code>Histogram("fraud_model_score", "...", buckets=SCORE_BUCKETS,
# registry=registry)</code>; labels go in <code>labelnames=["endpoint"]</code>.</details>

# %%
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 10))  # 0.1 ... 0.9 (+Inf is added)
THRESHOLD = 0.5  # the score above which a transaction is flagged for review

# %% answer="instrument"
from prometheus_client import Counter, Gauge, Histogram, ProcessCollector


def make_metrics(registry: CollectorRegistry) -> dict:
    ### BEGIN SOLUTION
    ProcessCollector(registry=registry)
    return {
        "requests": Counter("fraud_api_requests", "Requests by endpoint and HTTP status",
                            labelnames=["endpoint", "status"], registry=registry),
        "latency": Histogram("fraud_api_request_duration_seconds", "Request latency",
                             labelnames=["endpoint"], buckets=LATENCY_BUCKETS, registry=registry),
        "score": Histogram("fraud_model_score", "Predicted fraud probability", buckets=SCORE_BUCKETS,
                           registry=registry),
        "psi": Gauge("fraud_feature_psi", "PSI of a feature over the recent window vs training",
                     labelnames=["feature"], registry=registry),
    }
    ### END SOLUTION


# %% [markdown]
# ### The API (given)
# A middleware times every request and counts it by status, so errors raised anywhere are counted
# too. Label values are **pre-initialised** (`labels(...)` once at start): a 5xx series that does not
# exist yet would make the error ratio query return *nothing* instead of 0. The drift monitor keeps
# the last `WINDOW` values of `log_amount`; it computes the PSI once you have written it in
# Exercise 2. The API runs in a thread of this kernel; in production it is its own container.

# %%
WINDOW, MIN_WINDOW = 200, 100


class DriftWindow:
    """The last `size` values of one feature; `score` turns the window into a drift number."""

    def __init__(self, size: int):
        self.values: deque = deque(maxlen=size)
        self.lock = threading.Lock()
        self.score = None  # set after Exercise 2: window (np.ndarray) -> PSI

    def add(self, value: float):
        with self.lock:
            self.values.append(value)
            if self.score is None or len(self.values) < MIN_WINDOW:
                return None
            return float(self.score(np.fromiter(self.values, float)))


def create_app(model, registry: CollectorRegistry, metrics: dict, drift: DriftWindow) -> FastAPI:
    app = FastAPI(title="fraud-api")
    for status in ("200", "422", "500"):
        metrics["requests"].labels(endpoint="/predict", status=status)
    metrics["latency"].labels(endpoint="/predict")

    @app.middleware("http")
    async def measure(request: Request, call_next):
        if request.url.path == "/metrics":
            return await call_next(request)
        start, status = time.perf_counter(), "500"
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:
            metrics["requests"].labels(endpoint=request.url.path, status=status).inc()
            metrics["latency"].labels(endpoint=request.url.path).observe(time.perf_counter() - start)

    @app.post("/predict")
    def predict(tx: dict[str, float]):
        missing = [f for f in FEATURES if f not in tx]
        if missing:
            raise HTTPException(422, f"missing features: {missing}")
        score = float(model.predict_proba(np.array([[tx[f] for f in FEATURES]]))[0, 1])
        metrics["score"].observe(score)
        psi_now = drift.add(tx["log_amount"])
        if psi_now is not None:
            metrics["psi"].labels(feature="log_amount").set(psi_now)
        return {"score": score, "flagged": score >= THRESHOLD}

    @app.get("/metrics")
    def metrics_endpoint():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def send(rows, client=None) -> None:
    """POST each row to /predict (sequentially)."""
    with httpx.Client(base_url=API_URL, timeout=5) if client is None else client as c:
        for row in rows:
            c.post("/predict", json=row)


def scrape(url: str = API_URL) -> dict:
    """The API's /metrics as {(sample name, sorted label items): value}."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


registry = CollectorRegistry()
metrics = make_metrics(registry)
drift = DriftWindow(WINDOW)
api = obs.serve_app(create_app(model, registry, metrics, drift), API_PORT)
SMOKE = 50
send(NORMAL_ROWS[:SMOKE])
send([{"log_amount": 1.0}])  # a malformed request: 422
print(httpx.get(f"{API_URL}/metrics").text[:600])

# %% check="instrument" points=2
_m = scrape()
_ok = _m.get(("fraud_api_requests_total", (("endpoint", "/predict"), ("status", "200"))), 0)
assert _ok >= SMOKE, f"fraud_api_requests_total{{endpoint='/predict',status='200'}} is {_ok}, expected >= {SMOKE}"
assert any(name == "process_resident_memory_bytes" for name, _ in _m), "no process metrics: register a ProcessCollector"
### BEGIN HIDDEN TESTS
_bad = _m.get(("fraud_api_requests_total", (("endpoint", "/predict"), ("status", "422"))), 0)
assert _bad >= 1, f"the malformed request should be counted with status='422', found {_bad}"
_lat = {dict(k).get("le") for name, k in _m if name == "fraud_api_request_duration_seconds_bucket"}
assert {"0.1", "0.25", "+Inf"} <= _lat, f"latency must be a Histogram with LATENCY_BUCKETS, buckets seen: {sorted(_lat - {None})}"
_lat_n = _m.get(("fraud_api_request_duration_seconds_count", (("endpoint", "/predict"),)), 0)
assert _lat_n >= _ok + _bad, f"every request should be timed: {_lat_n} observations for {_ok + _bad} requests"
_score_n = _m.get(("fraud_model_score_count", ()), 0)
assert _score_n >= SMOKE, f"fraud_model_score should be a Histogram observed once per prediction, count {_score_n}"
_sle = {dict(k).get("le") for name, k in _m if name == "fraud_model_score_bucket"}
assert {"0.1", "0.5", "0.9", "+Inf"} <= _sle, f"score buckets should be SCORE_BUCKETS, saw {sorted(_sle - {None})}"
assert 0 < _m[("fraud_model_score_sum", ())] < _score_n, "score observations should be probabilities in [0, 1]"
assert any(name == "process_cpu_seconds_total" for name, _ in _m), "process_cpu_seconds_total missing"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: a drift indicator — PSI over a sliding window
#
# The **population stability index** compares the share of values in each bin now (`actual`) with
# the training reference (`expected`):
#
# $$\mathrm{PSI} = \sum_i (a_i - e_i)\,\ln\frac{a_i}{e_i}$$
#
# Rules of thumb: < 0.1 stable, 0.1–0.2 watch, > 0.2 significant shift. A window of only 200
# requests is noisy (about 0.05 on unchanged data), which is one reason the alert threshold is 0.2.
#
# Write:
# - `bin_fractions(values, edges)`: the share of `values` in each of the `len(edges) + 1` bins
#   defined by the inner `edges` (use `np.searchsorted(edges, values, side="right")`, as the
#   reference above did); the result sums to 1;
# - `psi(expected, actual)`: the formula above, after flooring both share vectors at `1e-4` (an
#   empty bin would otherwise give `log(0)`).
#
# The given cell then plugs them into the API's drift window.
#
# <details><summary>Hint 1</summary><code>np.bincount(idx, minlength=len(edges) + 1) / len(values)</code>.</details>
# <details><summary>Hint 2</summary><code>e = np.maximum(expected, 1e-4)</code>, likewise <code>a</code>,
# then <code>float(np.sum((a - e) * np.log(a / e)))</code>.</details>

# %% answer="psi"
def bin_fractions(values, edges) -> np.ndarray:
    ### BEGIN SOLUTION
    idx = np.searchsorted(edges, np.asarray(values, dtype=float), side="right")
    return np.bincount(idx, minlength=len(edges) + 1) / len(idx)
    ### END SOLUTION


def psi(expected, actual) -> float:
    ### BEGIN SOLUTION
    e = np.maximum(np.asarray(expected, dtype=float), 1e-4)
    a = np.maximum(np.asarray(actual, dtype=float), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))
    ### END SOLUTION


# %% [markdown]
# Both windows below hold 200 values, like the API's. Then the API's drift window starts using your PSI.

# %%
_normal_amounts = np.array([r["log_amount"] for r in NORMAL_ROWS[:WINDOW]])
_drift_amounts = np.array([r["log_amount"] for r in DRIFT_ROWS[:WINDOW]])
print(f"PSI, a window of normal traffic: {psi(REF_FRACTIONS, bin_fractions(_normal_amounts, EDGES)):.3f}")
print(f"PSI, a window of drifted traffic: {psi(REF_FRACTIONS, bin_fractions(_drift_amounts, EDGES)):.3f}")
drift.score = lambda window: psi(REF_FRACTIONS, bin_fractions(window, EDGES))

# %% check="psi" points=1
_pn = psi(REF_FRACTIONS, bin_fractions(_normal_amounts, EDGES))
_pd = psi(REF_FRACTIONS, bin_fractions(_drift_amounts, EDGES))
assert 0 <= _pn < 0.15, f"PSI of normal traffic should be small (< 0.15), got {_pn:.3f}"
assert _pd > 0.3, f"PSI of the drifted traffic should be large (> 0.3), got {_pd:.3f}"
### BEGIN HIDDEN TESTS
_f = bin_fractions([0.5, 1.5, 1.5, 2.0, 9.0], [1.0, 2.0, 3.0])
assert np.allclose(_f, [0.2, 0.4, 0.2, 0.2]), f"bin_fractions([0.5,1.5,1.5,2,9], [1,2,3]) should be [.2,.4,.2,.2], got {_f}"
assert abs(psi(REF_FRACTIONS, REF_FRACTIONS)) < 1e-12, "PSI of a distribution with itself must be 0"
_e, _a = np.array([0.25, 0.25, 0.25, 0.25]), np.array([0.1, 0.2, 0.3, 0.4])
_want = float(np.sum((_a - _e) * np.log(_a / _e)))
assert abs(psi(_e, _a) - _want) < 1e-9, f"psi([.25]*4, [.1,.2,.3,.4]) should be {_want:.6f}, got {psi(_e, _a):.6f}"
_empty = psi([0.5, 0.5, 0.0], [0.5, 0.0, 0.5])
assert np.isfinite(_empty) and abs(_empty - (0.4999 * np.log(0.5 / 1e-4) * 2)) < 1e-6, (
    f"empty bins must be floored at 1e-4 (finite PSI), got {_empty}"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: deploy Prometheus
#
# Write `PROM_CONFIG`, the content of `prometheus.yml` as a dict (it is dumped to YAML for you), and
# the **file-SD target file** `TARGETS_DIR / f"{JOB}.json"`:
# - `global`: `scrape_interval` and `evaluation_interval` of `"1s"` (production uses 15–60 s; the lab
#   needs alerts within seconds);
# - `rule_files`: every `*.yml` in `RULES_DIR` (a glob: `str(RULES_DIR / "*.yml")`);
# - `alerting`: one Alertmanager at `127.0.0.1:{AM_PORT}` (`static_configs`; it starts in Exercise 5);
# - `scrape_configs`: one job named `JOB` that discovers its targets from files
#   (`file_sd_configs` with `files: [str(TARGETS_DIR / "*.json")]`);
# - the target file: a JSON list with one group, `targets: ["127.0.0.1:{API_PORT}"]` and
#   `labels: {"service": "fraud-api"}`.
#
# File-based discovery is how a config-management tool (or a small script reading the EC2 API) adds
# and removes instances without restarting Prometheus: it notices the file change by itself.
#
# <details><summary>Hint 1</summary><code>{"global": {...}, "rule_files": [...], "alerting":
# {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{AM_PORT}"]}]}]},
# "scrape_configs": [{"job_name": JOB, "file_sd_configs": [{"files": [...]}]}]}</code></details>
# <details><summary>Hint 2</summary><code>(TARGETS_DIR / f"{JOB}.json").write_text(json.dumps([{"targets":
# [...], "labels": {...}}]))</code></details>

# %% answer="prometheus"
### BEGIN SOLUTION
PROM_CONFIG = {
    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
    "rule_files": [str(RULES_DIR / "*.yml")],
    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{AM_PORT}"]}]}]},
    "scrape_configs": [{"job_name": JOB, "file_sd_configs": [{"files": [str(TARGETS_DIR / "*.json")]}]}],
}
(TARGETS_DIR / f"{JOB}.json").write_text(
    json.dumps([{"targets": [f"127.0.0.1:{API_PORT}"], "labels": {"service": "fraud-api"}}])
)
### END SOLUTION

# %% [markdown]
# The given cell validates the config with `promtool check config` (as a CI step or an Ansible
# handler would before a restart) and starts Prometheus. Then we wait for the first scrape.

# %%
PROM_YML = WORK / "prometheus.yml"
PROM_YML.write_text(yaml.safe_dump(PROM_CONFIG, sort_keys=False))
_res = obs.tool("promtool", "check", "config", str(PROM_YML))
print(_res.stdout, _res.stderr)
if _res.returncode != 0:
    raise RuntimeError("promtool rejected prometheus.yml (see above)")
prom = obs.start_prometheus(PROM_YML, PROM_PORT, WORK)
obs.wait_for(lambda: obs.value(PROM_URL, f'up{{job="{JOB}"}}') == 1, WAIT, f"first scrape of {JOB}")
print("Prometheus:", PROM_URL, "| resident memory of the API process:",
      obs.value(PROM_URL, f'process_resident_memory_bytes{{job="{JOB}"}}') / 2**20, "MiB")

# %% check="prometheus" points=2
_up = obs.query(PROM_URL, f'up{{job="{JOB}"}}')
assert _up and _up[0]["value"][1] == "1", f"Prometheus should scrape {JOB} successfully, up = {_up}"
_mem = obs.query(PROM_URL, f'process_resident_memory_bytes{{job="{JOB}"}}')
assert _mem, "Prometheus has no process_resident_memory_bytes for the job (infra metrics not scraped)"
### BEGIN HIDDEN TESTS
_targets = [t for t in obs.api_get(PROM_URL, "/api/v1/targets")["activeTargets"] if t["labels"].get("job") == JOB]
assert len(_targets) == 1, f"expected one target in job {JOB}, found {len(_targets)}"
assert "__meta_filepath" in _targets[0]["discoveredLabels"], "the target should come from file_sd_configs (a JSON file)"
assert _targets[0]["labels"].get("service") == "fraud-api", f"target labels {_targets[0]['labels']} lack service=fraud-api"
assert _targets[0]["scrapeInterval"] == "1s", f"scrape interval is {_targets[0]['scrapeInterval']}, expected 1s"
_cfg = yaml.safe_load(obs.api_get(PROM_URL, "/api/v1/status/config")["yaml"])
assert _cfg["global"]["evaluation_interval"] == "1s", f"evaluation_interval is {_cfg['global']['evaluation_interval']}"
_ams = obs.api_get(PROM_URL, "/api/v1/alertmanagers")["activeAlertmanagers"]
assert any(f":{AM_PORT}/" in a["url"] for a in _ams), f"alerts should go to the Alertmanager on {AM_PORT}, got {_ams}"
assert any(str(RULES_DIR) in f for f in _cfg.get("rule_files", [])), f"rule_files should load {RULES_DIR}/*.yml"
### END HIDDEN TESTS

# %% [markdown]
# ### The same deployment on EC2
# On AWS this Prometheus (and Alertmanager, and Grafana) runs on an EC2 instance whose **user data**
# installs the packages and writes the configs you just wrote; a security group admits the ports
# only from inside the VPC (Grafana's 3000 goes behind a load balancer with SSO). Below the launch
# request goes to EC2 on moto: moto **records** the instance, security group and user data, but
# boots nothing. The running stack is the processes on this machine.

# %%
_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
for _sg in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{NAME}-monitoring"]}])[
    "SecurityGroups"
]:  # a rerun: the previous run's group
    ec2.delete_security_group(GroupId=_sg["GroupId"])
SG_ID = ec2.create_security_group(
    GroupName=f"{NAME}-monitoring", Description="Prometheus, Alertmanager, Grafana", VpcId=_vpc["VpcId"]
)["GroupId"]
ec2.authorize_security_group_ingress(GroupId=SG_ID, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": _vpc["CidrBlock"]}]}
    for p in (9090, 9093, 3000)
])
USER_DATA = "\n".join([
    "#!/bin/bash",
    "set -euo pipefail",
    "apt-get update && apt-get install -y prometheus prometheus-alertmanager",
    "cat > /etc/prometheus/prometheus.yml <<'EOF'",
    yaml.safe_dump(PROM_CONFIG, sort_keys=False).strip(),
    "EOF",
    "systemctl restart prometheus prometheus-alertmanager",
    "# Grafana: apt repo from packages.grafana.com, dashboards provisioned from /var/lib/grafana/dashboards",
])
_image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
INSTANCE_ID = ec2.run_instances(
    ImageId=_image, InstanceType="t3.small", MinCount=1, MaxCount=1, UserData=USER_DATA, SecurityGroupIds=[SG_ID],
    TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"{NAME}-monitoring"}]}],
)["Instances"][0]["InstanceId"]
print("recorded instance", INSTANCE_ID, "in", SG_ID, "with", len(USER_DATA), "bytes of user data")

# %% [markdown]
# ## Exercise 4: recording rules and alert rules, unit-tested with promtool
#
# **Recording rules** precompute the expressions that dashboards and alerts read, under names of
# the form `level:metric:operations`. **Alert rules** fire when an expression stays true for `for:`.
# Write `RULES_YAML` (YAML text) with one group named `fraud-api` containing, in this order:
#
# | kind | name | expression |
# |---|---|---|
# | record | `job:fraud_api_request_duration_seconds:p95_1m` | the 0.95 `histogram_quantile` of the per-second `rate` over `[1m]` of `fraud_api_request_duration_seconds_bucket`, summed `by (job, le)` |
# | record | `job:fraud_api_error_ratio:rate1m` | rate of requests with a **5xx** status (`status=~"5.."`) over the rate of all requests, each summed `by (job)`, `[1m]` |
# | record | `job:fraud_feature_psi:max` | the largest `fraud_feature_psi` `by (job)` |
# | alert | `FraudApiLatencyP95High` | p95 record `> 0.25`, `for: 5s`, label `severity: ticket`, annotation `summary: "{{ $labels.job }} p95 latency above 250 ms"` |
# | alert | `FraudApiErrorRateHigh` | error ratio record `> 0.05`, `for: 5s`, label `severity: ticket`, annotation `summary: "{{ $labels.job }} 5xx ratio above 5%"` |
# | alert | `FraudFeatureDrift` | PSI record `> 0.2`, `for: 5s`, label `severity: page`, annotation `summary: '{{ $labels.job }} input drift: PSI {{ printf "%.2f" $value }}'` |
#
# (`for: 5s` keeps the lab short; production uses 5–30 minutes so one noisy window pages no one.)
# A 4xx is the client's mistake and does not count against the service; an **average** latency
# hides the slow tail an SLO is about. The cell after yours runs `promtool check rules` and the
# unit tests in `RULES_TEST_YAML` (read them: they are the spec in executable form), then reloads
# Prometheus.
#
# <details><summary>Hint 1</summary><code>histogram_quantile(0.95, sum by (job, le)
# (rate(fraud_api_request_duration_seconds_bucket[1m])))</code></details>
# <details><summary>Hint 2</summary>An alert rule:
# <code>- alert: FraudFeatureDrift</code> / <code>expr: job:fraud_feature_psi:max > 0.2</code> /
# <code>for: 5s</code> / <code>labels: {severity: page}</code> / <code>annotations: {summary: ...}</code>.
# Mind the YAML quoting of the summary that contains double quotes.</details>

# %%
RULES_FILE = RULES_DIR / "fraud-api.yml"
RULES_TEST_YAML = f"""
rule_files: [{RULES_FILE}]
evaluation_interval: 5s
tests:
  - name: p95 latency, fast then slow
    interval: 15s
    input_series:
      # 10 requests per 15 s, all under 100 ms for 5 min; then all between 250 and 500 ms
      - series: 'fraud_api_request_duration_seconds_bucket{{job="fraud-api",endpoint="/predict",le="0.1"}}'
        values: '0+10x20 200x20'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="fraud-api",endpoint="/predict",le="0.25"}}'
        values: '0+10x20 200x20'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="fraud-api",endpoint="/predict",le="0.5"}}'
        values: '0+10x40'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="fraud-api",endpoint="/predict",le="+Inf"}}'
        values: '0+10x40'
    alert_rule_test:
      - alertname: FraudApiLatencyP95High
        eval_time: 4m
        exp_alerts: []
      - alertname: FraudApiLatencyP95High
        eval_time: 9m
        exp_alerts:
          - exp_labels: {{severity: ticket, job: fraud-api}}
            exp_annotations: {{summary: "fraud-api p95 latency above 250 ms"}}
  - name: 5xx errors raise the error ratio alert
    interval: 15s
    input_series:
      - series: 'fraud_api_requests_total{{job="fraud-api",endpoint="/predict",status="200"}}'
        values: '0+90x40'
      - series: 'fraud_api_requests_total{{job="fraud-api",endpoint="/predict",status="500"}}'
        values: '0+10x40'
    promql_expr_test:
      - expr: round(job:fraud_api_error_ratio:rate1m, 0.001)
        eval_time: 5m
        exp_samples:
          - labels: '{{job="fraud-api"}}'
            value: 0.1
    alert_rule_test:
      - alertname: FraudApiErrorRateHigh
        eval_time: 5m
        exp_alerts:
          - exp_labels: {{severity: ticket, job: fraud-api}}
            exp_annotations: {{summary: "fraud-api 5xx ratio above 5%"}}
  - name: drift pages
    interval: 15s
    input_series:
      - series: 'fraud_feature_psi{{job="fraud-api",feature="log_amount"}}'
        values: '0.05x8 0.5x8'
    alert_rule_test:
      - alertname: FraudFeatureDrift
        eval_time: 1m
        exp_alerts: []
      - alertname: FraudFeatureDrift
        eval_time: 3m
        exp_alerts:
          - exp_labels: {{severity: page, job: fraud-api}}
            exp_annotations: {{summary: "fraud-api input drift: PSI 0.50"}}
"""

# %% answer="rules"
### BEGIN SOLUTION
RULES_YAML = """
groups:
  - name: fraud-api
    rules:
      - record: job:fraud_api_request_duration_seconds:p95_1m
        expr: histogram_quantile(0.95, sum by (job, le) (rate(fraud_api_request_duration_seconds_bucket[1m])))
      - record: job:fraud_api_error_ratio:rate1m
        expr: |
          sum by (job) (rate(fraud_api_requests_total{status=~"5.."}[1m]))
          /
          sum by (job) (rate(fraud_api_requests_total[1m]))
      - record: job:fraud_feature_psi:max
        expr: max by (job) (fraud_feature_psi)
      - alert: FraudApiLatencyP95High
        expr: job:fraud_api_request_duration_seconds:p95_1m > 0.25
        for: 5s
        labels: {severity: ticket}
        annotations:
          summary: "{{ $labels.job }} p95 latency above 250 ms"
      - alert: FraudApiErrorRateHigh
        expr: job:fraud_api_error_ratio:rate1m > 0.05
        for: 5s
        labels: {severity: ticket}
        annotations:
          summary: "{{ $labels.job }} 5xx ratio above 5%"
      - alert: FraudFeatureDrift
        expr: job:fraud_feature_psi:max > 0.2
        for: 5s
        labels: {severity: page}
        annotations:
          summary: '{{ $labels.job }} input drift: PSI {{ printf "%.2f" $value }}'
"""
### END SOLUTION

# %%
RULES_FILE.write_text(RULES_YAML)
RULES_TEST = WORK / "rules_test.yml"
RULES_TEST.write_text(RULES_TEST_YAML)
for _args in (("check", "rules", str(RULES_FILE)), ("test", "rules", str(RULES_TEST))):
    _res = obs.tool("promtool", *_args)
    print(f"$ promtool {' '.join(_args[:2])}: exit {_res.returncode}\n{_res.stdout}{_res.stderr}")
obs.reload(PROM_URL)
obs.wait_for(lambda: any(g["name"] == "fraud-api" for g in obs.api_get(PROM_URL, "/api/v1/rules")["groups"]),
             WAIT, "rule group fraud-api loaded")
print("loaded:", [r["name"] for g in obs.api_get(PROM_URL, "/api/v1/rules")["groups"] for r in g["rules"]])

# %% check="rules" points=2
_res = obs.tool("promtool", "test", "rules", str(RULES_TEST))
assert _res.returncode == 0, f"promtool test rules failed:\n{_res.stdout[-1500:]}{_res.stderr[-500:]}"
_loaded = {r["name"] for g in obs.api_get(PROM_URL, "/api/v1/rules")["groups"] for r in g["rules"]}
assert {"FraudApiLatencyP95High", "FraudApiErrorRateHigh", "FraudFeatureDrift"} <= _loaded, (
    f"Prometheus should have loaded the three alerts, it has {sorted(_loaded)}"
)
### BEGIN HIDDEN TESTS
_hidden = WORK / "rules_test_hidden.yml"
_hidden.write_text(f"""
rule_files: [{RULES_FILE}]
evaluation_interval: 5s
tests:
  - name: a slow tail fires even when the average is fine
    interval: 15s
    input_series:
      - series: 'fraud_api_request_duration_seconds_bucket{{job="a",endpoint="/predict",le="0.01"}}'
        values: '0+18x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="a",endpoint="/predict",le="0.25"}}'
        values: '0+18x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="a",endpoint="/predict",le="1"}}'
        values: '0+20x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="a",endpoint="/predict",le="+Inf"}}'
        values: '0+20x30'
      - series: 'fraud_api_request_duration_seconds_sum{{job="a",endpoint="/predict"}}'
        values: '0+2.09x30'
      - series: 'fraud_api_request_duration_seconds_count{{job="a",endpoint="/predict"}}'
        values: '0+20x30'
    alert_rule_test:
      - alertname: FraudApiLatencyP95High
        eval_time: 5m
        exp_alerts:
          - exp_labels: {{severity: ticket, job: a}}
            exp_annotations: {{summary: "a p95 latency above 250 ms"}}
  - name: two replicas are one job
    interval: 15s
    input_series:
      # 19 fast requests on x, 1 slow one on y: the job's p95 is fast, y's alone is not
      - series: 'fraud_api_request_duration_seconds_bucket{{job="b",instance="x",le="0.1"}}'
        values: '0+19x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="b",instance="x",le="0.5"}}'
        values: '0+19x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="b",instance="x",le="+Inf"}}'
        values: '0+19x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="b",instance="y",le="0.1"}}'
        values: '0+0x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="b",instance="y",le="0.5"}}'
        values: '0+1x30'
      - series: 'fraud_api_request_duration_seconds_bucket{{job="b",instance="y",le="+Inf"}}'
        values: '0+1x30'
    promql_expr_test:
      - expr: count(job:fraud_api_request_duration_seconds:p95_1m{{job="b"}})
        eval_time: 5m
        exp_samples:
          - labels: '{{}}'
            value: 1
    alert_rule_test:
      - alertname: FraudApiLatencyP95High
        eval_time: 5m
        exp_alerts: []
  - name: 4xx are not server errors
    interval: 15s
    input_series:
      - series: 'fraud_api_requests_total{{job="c",endpoint="/predict",status="200"}}'
        values: '0+80x30'
      - series: 'fraud_api_requests_total{{job="c",endpoint="/predict",status="422"}}'
        values: '0+20x30'
      - series: 'fraud_api_requests_total{{job="c",endpoint="/predict",status="500"}}'
        values: '0+0x30'
    alert_rule_test:
      - alertname: FraudApiErrorRateHigh
        eval_time: 5m
        exp_alerts: []
  - name: errors long ago are over
    interval: 15s
    input_series:
      - series: 'fraud_api_requests_total{{job="d",endpoint="/predict",status="200"}}'
        values: '0+50x40'
      - series: 'fraud_api_requests_total{{job="d",endpoint="/predict",status="503"}}'
        values: '0+50x8 400x32'
    alert_rule_test:
      - alertname: FraudApiErrorRateHigh
        eval_time: 1m30s
        exp_alerts:
          - exp_labels: {{severity: ticket, job: d}}
            exp_annotations: {{summary: "d 5xx ratio above 5%"}}
      - alertname: FraudApiErrorRateHigh
        eval_time: 9m
        exp_alerts: []
  - name: drift is the worst feature, and mild drift does not page
    interval: 15s
    input_series:
      - series: 'fraud_feature_psi{{job="e",feature="log_amount"}}'
        values: '0.05x20'
      - series: 'fraud_feature_psi{{job="e",feature="hour"}}'
        values: '0.4x20'
      - series: 'fraud_feature_psi{{job="f",feature="log_amount"}}'
        values: '0.15x20'
    alert_rule_test:
      - alertname: FraudFeatureDrift
        eval_time: 3m
        exp_alerts:
          - exp_labels: {{severity: page, job: e}}
            exp_annotations: {{summary: "e input drift: PSI 0.40"}}
""")
_res = obs.tool("promtool", "test", "rules", str(_hidden))
assert _res.returncode == 0, f"hidden rule tests failed:\n{_res.stdout[-2500:]}{_res.stderr[-500:]}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: Alertmanager — tickets to the team webhook, pages to SNS
#
# Prometheus decides *that* something is wrong; Alertmanager decides *who hears about it*: it
# groups, deduplicates, silences and routes. Write `AM_CONFIG` (the content of `alertmanager.yml`
# as a dict) with:
# - two receivers:
#   - `team-webhook`: a `webhook_configs` entry with `url: HOOK_URL` and `send_resolved: True`;
#   - `oncall`: an `sns_configs` entry publishing to `TOPIC_ARN` with `api_url: AWS_ENDPOINT_URL`
#     and `sigv4: {"region": REGION}` (the credentials come from the environment, as they would from
#     the EC2 instance profile), **and** a `webhook_configs` entry to `HOOK_URL` so the team sees
#     pages too;
# - a `route` with default receiver `team-webhook`, `group_by: ["alertname", "job"]`,
#   `group_wait: "1s"`, `group_interval: "2s"`, `repeat_interval: "1h"`, and one child route that
#   sends alerts matching `severity="page"` (`matchers: ['severity="page"']`) to `oncall`.
#
# The given cell checks it with `amtool check-config` and starts Alertmanager on `AM_PORT`, where
# your Prometheus already sends its alerts.
#
# <details><summary>Hint 1</summary><code>{"route": {"receiver": "team-webhook", ..., "routes":
# [{"matchers": ['severity="page"'], "receiver": "oncall"}]}, "receivers": [...]}</code></details>
# <details><summary>Hint 2</summary><code>{"name": "oncall", "sns_configs": [{"api_url":
# AWS_ENDPOINT_URL, "topic_arn": TOPIC_ARN, "sigv4": {"region": REGION}}], "webhook_configs":
# [{"url": HOOK_URL}]}</code></details>

# %% answer="alertmanager"
### BEGIN SOLUTION
AM_CONFIG = {
    "route": {
        "receiver": "team-webhook",
        "group_by": ["alertname", "job"],
        "group_wait": "1s",
        "group_interval": "2s",
        "repeat_interval": "1h",
        "routes": [{"matchers": ['severity="page"'], "receiver": "oncall"}],
    },
    "receivers": [
        {"name": "team-webhook", "webhook_configs": [{"url": HOOK_URL, "send_resolved": True}]},
        {
            "name": "oncall",
            "sns_configs": [{"api_url": AWS_ENDPOINT_URL, "topic_arn": TOPIC_ARN, "sigv4": {"region": REGION}}],
            "webhook_configs": [{"url": HOOK_URL}],
        },
    ],
}
### END SOLUTION

# %%
AM_YML = WORK / "alertmanager.yml"
AM_YML.write_text(yaml.safe_dump(AM_CONFIG, sort_keys=False))
_res = obs.tool("amtool", "check-config", str(AM_YML))
print(_res.stdout, _res.stderr)
if _res.returncode != 0:
    raise RuntimeError("amtool rejected alertmanager.yml (see above)")
alertmanager = obs.start_alertmanager(AM_YML, AM_PORT, WORK)
print("Alertmanager:", AM_URL)


def route_of(*labels: str) -> str:
    """Which receivers the *running* Alertmanager picks for an alert with these labels."""
    res = obs.tool("amtool", "config", "routes", "test", f"--alertmanager.url={AM_URL}", *labels, timeout=20)
    return res.stdout.strip() or res.stderr.strip()


print("drift page ->", route_of("alertname=FraudFeatureDrift", "severity=page"))
print("latency ticket ->", route_of("alertname=FraudApiLatencyP95High", "severity=ticket"))

# %% check="alertmanager" points=1
_r = route_of("alertname=FraudFeatureDrift", "severity=page", f"job={JOB}")
assert _r == "oncall", f"a severity=page alert should route to 'oncall', the running Alertmanager says {_r!r}"
### BEGIN HIDDEN TESTS
_r = route_of("alertname=FraudApiErrorRateHigh", "severity=ticket", f"job={JOB}")
assert _r == "team-webhook", f"a ticket must not page on-call: routed to {_r!r}, expected 'team-webhook'"
_live = yaml.safe_load(obs.api_get(AM_URL, "/api/v2/status")["config"]["original"])
_recv = {r["name"]: r for r in _live["receivers"]}
_sns = (_recv.get("oncall") or {}).get("sns_configs") or [{}]
assert _sns[0].get("topic_arn") == TOPIC_ARN, f"oncall should publish to {TOPIC_ARN}, config has {_sns[0].get('topic_arn')}"
assert any(w.get("url") == HOOK_URL for w in (_recv.get("team-webhook") or {}).get("webhook_configs", [])), (
    f"team-webhook should post to {HOOK_URL}"
)
assert _live["route"].get("group_wait") == "1s", f"group_wait is {_live['route'].get('group_wait')}, expected 1s"
### END HIDDEN TESTS

# %% [markdown]
# ## Traffic, a planted drift, and the alert's journey
#
# A background thread now sends steady traffic (up to 40 requests/s, fewer on a busy machine; 2% of them
# malformed, which the API answers 422). First normal transactions; once Prometheus has seen the API's latency and PSI,
# the source switches to the drifted rows. Watch the PSI climb in Prometheus, the alert go
# *pending* then *firing*, and the notification arrive at the webhook and in the SQS queue behind
# the SNS topic. The traffic keeps running for the dashboard exercise.

# %%
class Traffic:
    """Replays rows against the API from a background thread at about `rate` requests per second."""

    def __init__(self, rows, rate: float = 40.0):
        self.rows, self.rate, self.sent = rows, rate, 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        with httpx.Client(base_url=API_URL, timeout=5) as client:
            while not self.stop_event.is_set():
                start = time.perf_counter()
                row = self.rows[self.sent % len(self.rows)]
                body = {"log_amount": row["log_amount"]} if self.sent % 50 == 49 else row
                with contextlib.suppress(httpx.HTTPError):
                    client.post("/predict", json=body)
                self.sent += 1
                self.stop_event.wait(max(0.0, 1 / self.rate - (time.perf_counter() - start)))

    def switch(self, rows):
        self.rows = rows

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)


def webhook_notifications() -> list:
    """Notifications our Alertmanager posted to the course webhook (our path, this run)."""
    records = httpx.get(f"{ALERT_WEBHOOK_URL}/alerts", timeout=5).json()
    return [r["payload"] for r in records if r["path"] == f"/{NAME}" and r["received_at"] >= T0]


def psi_in_prometheus():
    return obs.value(PROM_URL, f'job:fraud_feature_psi:max{{job="{JOB}"}}')


def p95_in_prometheus():
    return obs.value(PROM_URL, f'job:fraud_api_request_duration_seconds:p95_1m{{job="{JOB}"}}')


def fired(alertname: str) -> list:
    return [p for p in webhook_notifications()
            if p.get("status") == "firing" and any(a["labels"].get("alertname") == alertname for a in p["alerts"])]


if not all(name in globals() for name in ("api", "prom", "alertmanager")):
    raise RuntimeError("the API (Exercise 1), Prometheus (Exercise 3) and Alertmanager (Exercise 5) must be running")
traffic = Traffic(NORMAL_ROWS)
traffic.thread.start()
obs.wait_for(lambda: psi_in_prometheus() is not None and p95_in_prometheus() is not None, WAIT,
             "PSI and p95 in Prometheus")
print(f"normal traffic: PSI {psi_in_prometheus():.3f}, p95 {1000 * p95_in_prometheus():.1f} ms")

_t = time.monotonic()
traffic.switch(DRIFT_ROWS)
obs.wait_for(lambda: psi_in_prometheus() > 0.2, WAIT, "PSI above 0.2")
print(f"{time.monotonic() - _t:5.1f} s: PSI in Prometheus is {psi_in_prometheus():.2f}")
obs.wait_for(lambda: obs.query(PROM_URL, 'ALERTS{alertname="FraudFeatureDrift",alertstate="firing"}'), WAIT,
             "FraudFeatureDrift firing in Prometheus")
print(f"{time.monotonic() - _t:5.1f} s: FraudFeatureDrift is firing in Prometheus")
obs.wait_for(lambda: fired("FraudFeatureDrift"), WAIT, "FraudFeatureDrift at the webhook")
print(f"{time.monotonic() - _t:5.1f} s: the webhook got it:", fired("FraudFeatureDrift")[0]["commonAnnotations"])

SNS_MESSAGES = []


def inbox_has_drift() -> bool:
    for msg in sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        SNS_MESSAGES.append(json.loads(msg["Body"]))
        sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=msg["ReceiptHandle"])
    return any("FraudFeatureDrift" in m.get("Subject", "") + m.get("Message", "") for m in SNS_MESSAGES)


obs.wait_for(inbox_has_drift, WAIT, "the page in the SQS inbox")
print(f"{time.monotonic() - _t:5.1f} s: SNS -> SQS:", SNS_MESSAGES[-1]["Subject"])

# %% check="alertmanager" points=1
_pages = fired("FraudFeatureDrift")
assert _pages, f"no firing FraudFeatureDrift notification reached {HOOK_URL}"
assert any("FraudFeatureDrift" in m.get("Subject", "") + m.get("Message", "") for m in SNS_MESSAGES), (
    f"no FraudFeatureDrift message in the SQS queue subscribed to {TOPIC_ARN}: {SNS_MESSAGES}"
)
### BEGIN HIDDEN TESTS
assert all(p["receiver"] == "oncall" for p in _pages), f"the drift page came via {[p['receiver'] for p in _pages]}"
_a = next(a for p in _pages for a in p["alerts"] if a["labels"]["alertname"] == "FraudFeatureDrift")
assert _a["labels"].get("job") == JOB and _a["labels"].get("severity") == "page", f"alert labels {_a['labels']}"
assert float(_a["annotations"]["summary"].rsplit(" ", 1)[-1]) > 0.2, f"summary {_a['annotations']['summary']!r}"
assert any(m.get("TopicArn") == TOPIC_ARN and m.get("Subject", "").startswith("[FIRING") for m in SNS_MESSAGES), (
    "the SQS message should be Alertmanager's SNS notification ([FIRING...] subject) from the on-call topic"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: a Grafana dashboard as code
#
# Dashboards clicked together in a UI drift and get lost; a dashboard generated from code is
# reviewed, versioned and provisioned like everything else. Grafana's dashboard is a JSON model;
# `panel()` below builds one panel. Write `build_dashboard()` returning
# `{"uid": f"fraud-{NAME}"[:40], "title": f"Fraud model — {NAME}", "schemaVersion": 39,
# "time": {"from": "now-15m", "to": "now"}, "refresh": "5s", "panels": [...]}` with four panels
# (ids 1–4, each 12 wide and 8 high on a 2×2 grid), each with PromQL filtered to `job="{JOB}"`:
# 1. **"Accuracy proxy: share flagged"**: the share of predictions with score above `THRESHOLD`
#    over the last minute: `1 - rate(bucket{le="0.5"}) / rate(count)` of `fraud_model_score`
#    (labels arrive weeks later in fraud, as chargebacks: until then, a sudden change in the flagged
#    share or the mean score is the best accuracy signal you have);
# 2. **"Latency p95"**: the recording rule from Exercise 4 (unit `s`);
# 3. **"Traffic by status"**: requests per second `sum by (status) (rate(fraud_api_requests_total[1m]))`;
# 4. **"Drift: PSI of log_amount"**: the PSI recording rule, with a red threshold at 0.2.
#
# No Grafana server runs in this environment, so the check does what Grafana would do with each
# panel: it runs every target's `expr` against your Prometheus and requires data.
#
# <details><summary>Hint</summary><code>panel(1, "Accuracy proxy: share flagged", f'1 -
# sum(rate(fraud_model_score_bucket{{job="{JOB}",le="0.5"}}[1m])) /
# sum(rate(fraud_model_score_count{{job="{JOB}"}}[1m]))', unit="percentunit", x=0, y=0)</code></details>

# %%
DASHBOARD_FILE = WORK / "dashboards" / f"fraud-{NAME}.json"


def panel(pid: int, title: str, expr: str, *, unit: str = "short", x: int = 0, y: int = 0,
          legend: str = "", red_above: float | None = None) -> dict:
    """One Grafana timeseries panel reading one PromQL expression from the Prometheus datasource."""
    steps = [{"color": "green", "value": None}] + ([{"color": "red", "value": red_above}] if red_above else [])
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


# %% answer="dashboard"
def build_dashboard() -> dict:
    ### BEGIN SOLUTION
    sel = f'job="{JOB}"'
    panels = [
        panel(1, "Accuracy proxy: share flagged",
              f'1 - sum(rate(fraud_model_score_bucket{{{sel},le="0.5"}}[1m])) / sum(rate(fraud_model_score_count{{{sel}}}[1m]))',
              unit="percentunit", x=0, y=0),
        panel(2, "Latency p95", f"job:fraud_api_request_duration_seconds:p95_1m{{{sel}}}", unit="s", x=12, y=0),
        panel(3, "Traffic by status", f"sum by (status) (rate(fraud_api_requests_total{{{sel}}}[1m]))",
              unit="reqps", x=0, y=8, legend="{{status}}"),
        panel(4, "Drift: PSI of log_amount", f"job:fraud_feature_psi:max{{{sel}}}", x=12, y=8, red_above=0.2),
    ]
    return {"uid": f"fraud-{NAME}"[:40], "title": f"Fraud model — {NAME}", "schemaVersion": 39,
            "time": {"from": "now-15m", "to": "now"}, "refresh": "5s", "panels": panels}
    ### END SOLUTION


DASHBOARD_FILE.parent.mkdir(parents=True, exist_ok=True)
DASHBOARD_FILE.write_text(json.dumps(build_dashboard(), indent=2))
for _p in json.loads(DASHBOARD_FILE.read_text())["panels"]:
    for _tgt in _p["targets"]:
        print(f"{_p['title']:32s}", [round(float(r["value"][1]), 3) for r in obs.query(PROM_URL, _tgt["expr"])])

# %% check="dashboard" points=1
_dash = json.loads(DASHBOARD_FILE.read_text())
_exprs = [(p["title"], t["expr"]) for p in _dash["panels"] for t in p.get("targets", [])]
assert len(_dash["panels"]) >= 4, f"expected 4 panels, found {len(_dash['panels'])}"
for _title, _expr in _exprs:
    assert obs.query(PROM_URL, _expr), f"panel {_title!r}: query {_expr!r} returns no data from Prometheus"
### BEGIN HIDDEN TESTS
def _panel_values(word):
    _ps = [p for p in _dash["panels"] if word in p["title"].lower()]
    assert _ps, f"no panel with {word!r} in its title: {[p['title'] for p in _dash['panels']]}"
    return [float(r["value"][1]) for t in _ps[0]["targets"] for r in obs.query(PROM_URL, t["expr"])]


assert all(0 <= v <= 1 for v in _panel_values("accuracy")), "the accuracy proxy should be a share in [0, 1]"
assert all(0 < v < 1 for v in _panel_values("latency")), "p95 latency should be in seconds (0 < p95 < 1)"
assert max(_panel_values("drift")) > 0.2, "the drift panel should show the PSI above 0.2 now"
assert len(_panel_values("traffic")) >= 2, "traffic should be split by status (200 and 422 are both flowing)"
assert len({p["id"] for p in _dash["panels"]}) == len(_dash["panels"]), "panel ids must be unique"
assert all(p["datasource"]["type"] == "prometheus" and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in _dash["panels"])
assert all(f'job="{JOB}"' in e or JOB in e for _, e in _exprs), "every query should be filtered to the lab's job"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** a real FastAPI model API exporting infra, application and model metrics; the
# real Prometheus and Alertmanager binaries with the configs you wrote, scraping every second,
# evaluating rules unit-tested with `promtool`; a drift alert that fired on a planted incident and
# travelled through Alertmanager's native SNS integration (SigV4-signed, against moto) to an SQS
# queue, and to a webhook. **What did not run:** Grafana (no server here; the dashboard JSON was
# checked by running its queries) and EC2 (moto only recorded the instance).
#
# **What the live cloud tier adds:** Prometheus, Alertmanager and Grafana on an EC2 instance with an
# instance profile (no keys), EBS for the TSDB and longer retention (or Amazon Managed Prometheus /
# Grafana), EC2 service discovery (`ec2_sd_configs`) instead of a target file, an Alertmanager
# pair for high availability, SNS fanning out to e-mail, SMS or PagerDuty, Grafana provisioned from
# the dashboard file and behind SSO, and alerts with production `for:` windows and runbook links.
#
# Cleanup: stop the traffic, the API, Prometheus and Alertmanager; delete the topic, queue,
# instance and security group; remove the work directory.

# %%
for _proc in ("traffic", "api", "prom", "alertmanager"):
    if _proc in globals():
        globals()[_proc].stop()
for _call in (
    lambda: ec2.terminate_instances(InstanceIds=[INSTANCE_ID]),
    lambda: ec2.delete_security_group(GroupId=SG_ID),
    lambda: sns.delete_topic(TopicArn=TOPIC_ARN),
    lambda: sqs.delete_queue(QueueUrl=QUEUE_URL),
):
    try:
        _call()
    except Exception as _exc:
        print("skip:", type(_exc).__name__)
shutil.rmtree(WORK, ignore_errors=True)
print("cleaned up", NAME)
