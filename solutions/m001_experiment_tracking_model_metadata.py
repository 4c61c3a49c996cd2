# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 1 — Experiment tracking and model metadata with MLflow
#
# **Where this sits:** the first tool of the course. Every later module logs to MLflow, registers
# models in it, or serves what it registered. The running example is the course's fraud-detection
# project (synthetic IEEE-CIS-style transactions).
#
# **You will:**
# 1. deploy an MLflow tracking server the production way: metadata in **PostgreSQL** (RDS in the
#    cloud), artifacts in **S3** (here: the moto S3 API on this machine);
# 2. log runs with parameters, step-wise metrics and artifacts, from **scikit-learn** and **PyTorch**;
# 3. use the **model registry**: versions and aliases, and load a model by alias;
# 4. package training as an **MLflow Project** and run it;
# 5. put **nginx** in front of the server with **basic auth and TLS**, and point the client at it.
#
# MLflow's four components, in one line each: *Tracking* records runs (params, metrics, artifacts);
# *Models* is the packaging format (`MLmodel` + flavors) that anything can load; the *Registry*
# versions models and gives them aliases; *Projects* package code so a run is reproducible.
#
# TensorFlow is not installed in this course environment (its pins clash with the rest of the
# stack on Python 3.11); `mlflow.tensorflow.autolog()` works the same way as the PyTorch flavor
# shown here.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
POSTGRES_DSN = os.environ.get("POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# %% [markdown]
# ## Setup
# Everything this lab creates is named from `RUN_ID`, so you can rerun it and so can your
# classmates on a shared server. MLflow's client retries failed HTTP calls for minutes by default;
# we make it fail fast so a mistake shows up as an error, not a hang.

# %%
import json
import sys
import time
from pathlib import Path

import boto3
import mlflow
import numpy as np
import psycopg2
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import labkit
from labkit import labenv
from labkit.fraud import FEATURES, feature_frame, time_split
from mlops_datasets import load

labenv.configure(DATA_DIR)  # fail-fast clients, dummy AWS credentials, this env's tools on PATH
NAME = labenv.resource_name("m001", RUN_ID)
WORK = Path("m001-work") / NAME
WORK.mkdir(parents=True, exist_ok=True)
BUCKET = f"mlflow-{NAME}"
DATABASE = "mlflow_" + "".join(ch if ch.isalnum() else "_" for ch in RUN_ID.lower())
EXPERIMENT = f"fraud-{NAME}"
MODEL_NAME = f"fraud-{NAME}"

s3 = boto3.client("s3", endpoint_url=AWS_ENDPOINT_URL)
s3.create_bucket(Bucket=BUCKET)

def admin_sql(statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE require it)."""
    conn = psycopg2.connect(POSTGRES_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


admin_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
admin_sql(f'CREATE DATABASE "{DATABASE}"')
BACKEND_URI = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + "/" + DATABASE
print("bucket:", BUCKET, "| database:", DATABASE)

# %% [markdown]
# ## Exercise 1: deploy the tracking server
#
# In the cloud this is an EC2 instance running `mlflow server`, with the backend store on RDS
# PostgreSQL and artifacts in an S3 bucket. Here the same command runs as a local process.
#
# Write `start_tracking_server()` so it starts `mlflow server` with:
# - `--backend-store-uri BACKEND_URI` (PostgreSQL: runs, params, metrics, registry),
# - `--artifacts-destination s3://{BUCKET}/artifacts` (the server *proxies* artifact uploads to S3,
#   so clients never need S3 credentials),
# - `--host 127.0.0.1`, a free port (`labkit.free_port()`), `--workers 1`,
# - the environment variable `MLFLOW_S3_ENDPOINT_URL=AWS_ENDPOINT_URL` so the server's S3 client
#   talks to our S3 endpoint.
#
# Start it with `labkit.start_process(name, cmd, ready=..., log_dir=WORK, env=...)`, where `ready`
# returns True once `GET /health` answers 200 (`labkit.net.http_status(url)`), and return
# `(process, tracking_uri)`. Use `sys.executable, "-m", "mlflow", "server", ...` so the server
# runs from this environment.
#
# <details><summary>Hint 1</summary>The health URL is <code>f"http://127.0.0.1:{port}/health"</code>.</details>
# <details><summary>Hint 2</summary>Pass <code>env={"MLFLOW_S3_ENDPOINT_URL": AWS_ENDPOINT_URL}</code>;
# the AWS credentials are already in this kernel's environment and are inherited.</details>

# %% answer="deploy_server"
def start_tracking_server():
    ### BEGIN SOLUTION
    port = labkit.free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", BACKEND_URI,
        "--artifacts-destination", f"s3://{BUCKET}/artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    process = labkit.start_process(
        "mlflow-server",
        cmd,
        ready=lambda: labkit.net.http_status(f"{uri}/health") == 200,
        log_dir=WORK,
        env={"MLFLOW_S3_ENDPOINT_URL": AWS_ENDPOINT_URL, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        timeout=120,
    )
    return process, uri
    ### END SOLUTION


server, TRACKING_URI = start_tracking_server()
mlflow.set_tracking_uri(TRACKING_URI)
client = MlflowClient(TRACKING_URI)
experiment_id = mlflow.set_experiment(EXPERIMENT).experiment_id
print("tracking server:", TRACKING_URI, "| experiment:", EXPERIMENT)

# %% check="deploy_server" points=2
assert labkit.net.http_status(f"{TRACKING_URI}/health") == 200, "the server does not answer /health"
assert client.get_experiment_by_name(EXPERIMENT) is not None, "the experiment was not created"
### BEGIN HIDDEN TESTS
with psycopg2.connect(POSTGRES_DSN.rsplit("/", 1)[0] + "/" + DATABASE) as _conn, _conn.cursor() as _cur:
    _cur.execute("SELECT name FROM experiments WHERE name = %s", (EXPERIMENT,))
    assert _cur.fetchone(), f"experiment {EXPERIMENT!r} is not in PostgreSQL database {DATABASE!r}: wrong backend store"
_exp = client.get_experiment_by_name(EXPERIMENT)
assert _exp.artifact_location.startswith("mlflow-artifacts:"), (
    f"artifacts should be proxied by the server (mlflow-artifacts:/...), got {_exp.artifact_location}"
)
### END HIDDEN TESTS

# %% [markdown]
# ## The data and a baseline
# The fraud transactions have a time axis; we train on the first 70% and validate on the rest,
# as a model in production only ever sees the past. `labkit.fraud.feature_frame` builds a small
# numeric feature matrix (amount, hour, product, device, e-mail, card velocity).

# %%
tx = load("fraud")["transactions"]
train_tx, valid_tx = time_split(tx)
X_train, X_valid = feature_frame(train_tx), feature_frame(valid_tx)
y_train, y_valid = train_tx["isFraud"].to_numpy(), valid_tx["isFraud"].to_numpy()
print(f"{len(X_train)} train rows, {len(X_valid)} validation rows, fraud rate {y_train.mean():.3%}")

# %% [markdown]
# ## Exercise 2: log a scikit-learn run
#
# Write `train_sklearn(C)` that, inside `mlflow.start_run(run_name=f"sklearn-C{C}")`:
# - sets the tag `lab_run` to `RUN_ID`;
# - logs params `C` and `model_type="logistic_regression"`;
# - trains `LogisticRegression(C=C, max_iter=step)` for `step` in `(20, 40, 60, 80, 100)` and logs the
#   validation ROC AUC as metric `val_auc` **at each step** (`mlflow.log_metric("val_auc", auc, step=step)`),
#   keeping the last model;
# - logs a JSON artifact `confusion_matrix.json` (`mlflow.log_dict`) with keys `tp, fp, tn, fn` at
#   threshold 0.5;
# - logs the model with `mlflow.sklearn.log_model(model, name="model", input_example=X_valid.head(3),
#   pip_requirements=["scikit-learn"])` (explicit requirements skip a slow dependency scan);
# - returns the run id.
#
# <details><summary>Hint</summary><code>mlflow.active_run().info.run_id</code> inside the
# <code>with</code> block.</details>

# %% answer="log_sklearn"
def train_sklearn(C: float) -> str:
    ### BEGIN SOLUTION
    with mlflow.start_run(run_name=f"sklearn-C{C}") as run:
        mlflow.set_tag("lab_run", RUN_ID)
        mlflow.log_params({"C": C, "model_type": "logistic_regression"})
        for step in (20, 40, 60, 80, 100):
            model = LogisticRegression(C=C, max_iter=step).fit(X_train, y_train)
            auc = roc_auc_score(y_valid, model.predict_proba(X_valid)[:, 1])
            mlflow.log_metric("val_auc", auc, step=step)
        predicted = model.predict_proba(X_valid)[:, 1] >= 0.5
        matrix = {
            "tp": int(np.sum(predicted & (y_valid == 1))),
            "fp": int(np.sum(predicted & (y_valid == 0))),
            "tn": int(np.sum(~predicted & (y_valid == 0))),
            "fn": int(np.sum(~predicted & (y_valid == 1))),
        }
        mlflow.log_dict(matrix, "confusion_matrix.json")
        mlflow.sklearn.log_model(model, name="model", input_example=X_valid.head(3), pip_requirements=["scikit-learn"])
        return run.info.run_id
    ### END SOLUTION


import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    sklearn_run_id = train_sklearn(C=1.0)
print("sklearn run:", sklearn_run_id)

# %% check="log_sklearn" points=2
_run = client.get_run(sklearn_run_id)
assert _run.data.params.get("C") == "1.0", f"param C should be '1.0', got {_run.data.params.get('C')!r}"
_history = client.get_metric_history(sklearn_run_id, "val_auc")
assert len(_history) >= 5, f"val_auc should be logged at 5 steps, found {len(_history)}"
### BEGIN HIDDEN TESTS
assert sorted(m.step for m in _history) == [20, 40, 60, 80, 100], f"steps were {[m.step for m in _history]}"
assert _run.data.tags.get("lab_run") == RUN_ID, "tag lab_run should be RUN_ID"
assert 0.65 < _history[-1].value <= 1.0, f"final val_auc {_history[-1].value:.3f} is implausible for this data"
_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
assert any(k.endswith("confusion_matrix.json") for k in _keys), "confusion_matrix.json is not in the S3 bucket"
assert any(k.endswith("MLmodel") for k in _keys), "the model's MLmodel file is not in the S3 bucket"
_cm = mlflow.artifacts.load_dict(f"runs:/{sklearn_run_id}/confusion_matrix.json")
assert set(_cm) == {"tp", "fp", "tn", "fn"} and sum(_cm.values()) == len(y_valid), f"confusion matrix {_cm}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: log a PyTorch model
#
# The same run anatomy for a deep-learning flavor. A small network trains on CPU in seconds.
# Write `train_torch(epochs)` that, inside a run named `"torch-mlp"` (tag `lab_run=RUN_ID`, param
# `epochs`), trains the `FraudMLP` below with `BCEWithLogitsLoss` and Adam (lr 0.01), full-batch,
# logs `train_loss` **per epoch** (step = epoch) and `val_auc` once at the end, then logs the model
# with `mlflow.pytorch.log_model(net, name="model", input_example=X_valid.head(3).to_numpy(np.float32),
# pip_requirements=["torch"])` and returns the run id. Standardize the features with the training
# mean/std stored in the network (done for you in `FraudMLP`).

# %%
import torch
from torch import nn

torch.manual_seed(0)
torch.set_num_threads(1)


class FraudMLP(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std + 1e-6, dtype=torch.float32))
        self.body = nn.Sequential(nn.Linear(len(mean), 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.body((x - self.mean) / self.std).squeeze(-1)


X_train_t = torch.tensor(X_train.to_numpy(np.float32))
y_train_t = torch.tensor(y_train.astype(np.float32))
X_valid_t = torch.tensor(X_valid.to_numpy(np.float32))
EPOCHS = 30 if FAST else 120

# %% answer="log_torch"
def train_torch(epochs: int) -> str:
    ### BEGIN SOLUTION
    net = FraudMLP(X_train.to_numpy().mean(0), X_train.to_numpy().std(0))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    with mlflow.start_run(run_name="torch-mlp") as run:
        mlflow.set_tag("lab_run", RUN_ID)
        mlflow.log_param("epochs", epochs)
        for epoch in range(epochs):
            optimizer.zero_grad()
            loss = loss_fn(net(X_train_t), y_train_t)
            loss.backward()
            optimizer.step()
            mlflow.log_metric("train_loss", loss.item(), step=epoch)
        with torch.no_grad():
            auc = roc_auc_score(y_valid, torch.sigmoid(net(X_valid_t)).numpy())
        mlflow.log_metric("val_auc", auc)
        mlflow.pytorch.log_model(
            net, name="model", input_example=X_valid.head(3).to_numpy(np.float32), pip_requirements=["torch"]
        )
        return run.info.run_id
    ### END SOLUTION


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch_run_id = train_torch(EPOCHS)
print("torch run:", torch_run_id)

# %% check="log_torch" points=2
_losses = client.get_metric_history(torch_run_id, "train_loss")
assert len(_losses) == EPOCHS, f"train_loss should have one point per epoch ({EPOCHS}), found {len(_losses)}"
### BEGIN HIDDEN TESTS
_losses = sorted(_losses, key=lambda m: m.step)
assert _losses[-1].value < _losses[0].value, "train_loss should go down over the epochs"
_loaded = mlflow.pyfunc.load_model(f"runs:/{torch_run_id}/model")
_pred = np.asarray(_loaded.predict(X_valid.head(5).to_numpy(np.float32))).reshape(-1)
assert _pred.shape == (5,), f"the logged model should return one score per row, got shape {_pred.shape}"
assert client.get_run(torch_run_id).data.metrics.get("val_auc", 0) > 0.6, "val_auc missing or too low"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: the model registry — versions and aliases
#
# Register both models under one name, then let the metric decide which one serves.
# Write `promote()` that:
# 1. registers `runs:/{sklearn_run_id}/model` and then `runs:/{torch_run_id}/model` as `MODEL_NAME`
#    (`mlflow.register_model`), giving versions 1 and 2;
# 2. reads each run's final `val_auc`;
# 3. sets alias `champion` on the version with the **higher** `val_auc` and `challenger` on the other
#    (`client.set_registered_model_alias`);
# 4. returns the champion's version number (int).
#
# Serving code then loads `models:/{MODEL_NAME}@champion` and never changes when you promote.
#
# <details><summary>Hint</summary><code>client.get_run(run_id).data.metrics["val_auc"]</code> is the
# latest value of the metric.</details>

# %% answer="registry"
def promote() -> int:
    ### BEGIN SOLUTION
    versions = {}
    for run_id in (sklearn_run_id, torch_run_id):
        mv = mlflow.register_model(f"runs:/{run_id}/model", MODEL_NAME)
        versions[int(mv.version)] = client.get_run(run_id).data.metrics["val_auc"]
    champion = max(versions, key=versions.get)
    challenger = min(versions, key=versions.get)
    client.set_registered_model_alias(MODEL_NAME, "champion", str(champion))
    client.set_registered_model_alias(MODEL_NAME, "challenger", str(challenger))
    return champion
    ### END SOLUTION


champion_version = promote()
champion = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
print("champion is version", champion_version)

# %% check="registry" points=2
_versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
assert len(_versions) == 2, f"expected 2 versions of {MODEL_NAME}, found {len(_versions)}"
assert client.get_model_version_by_alias(MODEL_NAME, "champion").version == str(champion_version)
### BEGIN HIDDEN TESTS
_auc = {
    mv.version: client.get_run(mv.run_id).data.metrics["val_auc"] for mv in _versions
}
_best = max(_auc, key=_auc.get)
assert client.get_model_version_by_alias(MODEL_NAME, "champion").version == _best, (
    f"champion should be the version with the best val_auc ({_auc}), not the latest"
)
assert client.get_model_version_by_alias(MODEL_NAME, "challenger").version != _best, "challenger must be the other"
_X = X_valid.head(4)
_X = _X.to_numpy(np.float32) if client.get_model_version(MODEL_NAME, _best).run_id == torch_run_id else _X
assert len(np.asarray(mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion").predict(_X)).reshape(-1)) == 4
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: an MLflow Project
#
# A *Project* is a directory with an `MLproject` file naming entry points and their parameters, so
# anyone can rerun training with `mlflow run`. Below, `train.py` is written for you. Write
# `PROJECT / "MLproject"` with a project `name: fraud-train` and an entry point `main` taking a float
# parameter `C` (default 1.0) whose command is `python train.py --C {C}`; then run it with
# `mlflow.projects.run(str(PROJECT), entry_point="main", parameters={"C": 0.5}, env_manager="local",
# experiment_name=EXPERIMENT, synchronous=True)` and store the submitted run's id in `project_run_id`.

# %%
PROJECT = WORK / "project"
PROJECT.mkdir(exist_ok=True)
(PROJECT / "train.py").write_text(
    '''import argparse, os
import mlflow
from sklearn.linear_model import LogisticRegression
from labkit.fraud import feature_frame, time_split
from mlops_datasets import load

p = argparse.ArgumentParser(); p.add_argument("--C", type=float, default=1.0); args = p.parse_args()
train, _ = time_split(load("fraud")["transactions"])
mlflow.log_param("C", args.C)
model = LogisticRegression(C=args.C, max_iter=100).fit(feature_frame(train), train["isFraud"])
mlflow.log_metric("train_rows", len(train))
'''
)

# %% answer="project"
### BEGIN SOLUTION
(PROJECT / "MLproject").write_text(
    """name: fraud-train
entry_points:
  main:
    parameters:
      C: {type: float, default: 1.0}
    command: "python train.py --C {C}"
"""
)
submitted = mlflow.projects.run(
    str(PROJECT), entry_point="main", parameters={"C": 0.5}, env_manager="local",
    experiment_name=EXPERIMENT, synchronous=True,
)
project_run_id = submitted.run_id
### END SOLUTION

# %% check="project" points=1
_prun = client.get_run(project_run_id)
assert _prun.info.status == "FINISHED", f"the project run ended {_prun.info.status}"
### BEGIN HIDDEN TESTS
assert _prun.data.params.get("C") == "0.5", f"the run should have C=0.5, got {_prun.data.params.get('C')!r}"
assert _prun.data.tags.get("mlflow.project.entryPoint") == "main", "the run was not launched as a project entry point"
assert _prun.info.experiment_id == experiment_id, "the project run should log to the lab's experiment"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: nginx in front — basic auth and TLS
#
# A tracking server on the internet needs authentication and encryption. The usual setup is a reverse
# proxy that terminates TLS and checks credentials, forwarding to MLflow on a private port.
# The certificate and password file are made for you below. Write `SERVER_BLOCK`, an nginx `server`
# block that:
# - listens on `127.0.0.1:{PROXY_PORT}` with `ssl`, using `CERT` and `KEY`;
# - requires basic auth (`auth_basic "MLflow";` and `auth_basic_user_file {HTPASSWD};`);
# - proxies everything to the tracking server (`proxy_pass {TRACKING_URI};`) with
#   `proxy_set_header Host $host;`.
#
# Then point the MLflow client at `PROXY_URI` with credentials and the certificate to trust, via
# the environment variables `MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD` and
# `MLFLOW_TRACKING_SERVER_CERT_PATH`, and log one run tagged `via=proxy` in `EXPERIMENT`.
# Store its id in `proxied_run_id`.

# %%
from labkit.nginx import htpasswd_line, run_nginx
from labkit.tls import self_signed_cert

PROXY_PORT = labkit.free_port()
PROXY_URI = f"https://localhost:{PROXY_PORT}"
CERT, KEY = self_signed_cert(WORK / "tls")
HTPASSWD = (WORK / "htpasswd").resolve()
MLFLOW_USER, MLFLOW_PASSWORD = "student", f"pw-{RUN_ID}"
HTPASSWD.write_text(htpasswd_line(MLFLOW_USER, MLFLOW_PASSWORD))
CERT, KEY = CERT.resolve(), KEY.resolve()

# %% answer="nginx_proxy"
### BEGIN SOLUTION
SERVER_BLOCK = f"""
server {{
    listen 127.0.0.1:{PROXY_PORT} ssl;
    ssl_certificate {CERT};
    ssl_certificate_key {KEY};
    client_max_body_size 200m;
    location / {{
        auth_basic "MLflow";
        auth_basic_user_file {HTPASSWD};
        proxy_pass {TRACKING_URI};
        proxy_set_header Host $host;
    }}
}}
"""
proxy = run_nginx(SERVER_BLOCK, WORK / "nginx", PROXY_PORT)
os.environ["MLFLOW_TRACKING_USERNAME"] = MLFLOW_USER
os.environ["MLFLOW_TRACKING_PASSWORD"] = MLFLOW_PASSWORD
os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = str(CERT)
mlflow.set_tracking_uri(PROXY_URI)
mlflow.set_experiment(EXPERIMENT)
with mlflow.start_run(run_name="through-the-proxy") as _r:
    mlflow.set_tag("via", "proxy")
    mlflow.log_metric("hello", 1.0)
proxied_run_id = _r.info.run_id
### END SOLUTION

# %% check="nginx_proxy" points=1
import ssl
import urllib.request

_ctx = ssl.create_default_context(cafile=str(CERT))
assert labkit.net.http_status(f"{PROXY_URI}/health", context=_ctx) == 401, "the proxy must demand credentials"
### BEGIN HIDDEN TESTS
_req = urllib.request.Request(f"{PROXY_URI}/api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT}")
_req.add_header("Authorization", "Basic " + __import__("base64").b64encode(f"{MLFLOW_USER}:{MLFLOW_PASSWORD}".encode()).decode())
with urllib.request.urlopen(_req, context=_ctx, timeout=10) as _resp:
    assert _resp.status == 200, "authenticated requests through the proxy should succeed"
assert MlflowClient(TRACKING_URI).get_run(proxied_run_id).data.tags.get("via") == "proxy", (
    "the run logged through the proxy is not on the tracking server"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** a real MLflow server with a PostgreSQL backend, artifacts proxied to an S3 API
# (moto), real nginx terminating TLS with basic auth. **What the live cloud tier adds:** the server on
# an EC2 instance with an instance profile (no keys on disk) and a security group that only admits
# the proxy, RDS PostgreSQL with automated backups and Multi-AZ, a real S3 bucket with versioning and
# encryption, a certificate from ACM or Let's Encrypt instead of a self-signed one, and SSO (or
# MLflow's built-in auth app) instead of one shared password file.
#
# Cleanup: stop nginx and the server, drop the database and delete the bucket.

# %%
for _proc in ("proxy", "server"):
    if _proc in globals():
        globals()[_proc].stop()
for _key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_SERVER_CERT_PATH"):
    os.environ.pop(_key, None)
_objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
for _obj in _objects:
    s3.delete_object(Bucket=BUCKET, Key=_obj["Key"])
s3.delete_bucket(Bucket=BUCKET)
admin_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
print("cleaned up", len(_objects), "objects,", BUCKET, "and", DATABASE)
