# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 4 — API development with FastAPI for model serving
#
# **Where this sits:** Module 1 registered fraud models in MLflow and gave the best one the alias
# `champion`. A model in a registry earns nothing until something answers requests with it. This lab
# builds that something: the fraud-scoring HTTP API of the course's running project, the service that
# Module 5 ships through CI/CD, Module 6 monitors and Module 15 puts in a container. Modules 35, 83, 107
# and 118 build more APIs on the same pattern.
#
# **You will:**
# 1. **design an inference API**: a typed request/response contract with pydantic, single and batch
#    endpoints, a health endpoint, bad input answered with `422` instead of a stack trace;
# 2. **load and serve an MLflow-registered model** by alias, so promotion in the registry changes what
#    the API serves without a code change, and every answer names the model version that produced it;
# 3. **secure the endpoints** with API keys (`401` without a key, `403` with a wrong one) and a
#    token-bucket **rate limiter** (`429` with `Retry-After`);
# 4. **instrument** the service with Prometheus metrics (`/metrics`: request counts by endpoint and
#    status, a latency histogram, the model version), and let the course's Prometheus scrape it.
#
# Every check talks to your API the way a client does: over HTTP, with `httpx`, against a real uvicorn
# server listening on `127.0.0.1`. The app is defined in this notebook and served on a background
# thread (`labkit.serving.serve_app`); in production the same app object runs as
# `python -m uvicorn fraud_api:app --host 0.0.0.0 --port 8000 --workers 4`.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
PROMETHEUS_URL = os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")
PROMETHEUS_TARGETS_DIR = os.environ.get("PROMETHEUS_TARGETS_DIR", "")

# %% [markdown]
# ## Setup
# Everything this lab creates (experiment, registered model, Prometheus scrape job) is named from
# `RUN_ID`. MLflow's client retries failed calls for minutes by default; we make it fail fast, and the
# HTTP client used by the checks gives up after 10 seconds.

# %%
import hashlib
import json
import logging
import math
import sys
import time
import warnings
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.routing import Match

from labkit import labenv
from labkit.fraud import FEATURES, feature_frame, time_split
from labkit.serving import parse_metrics, serve_app
from mlops_datasets import load

labenv.configure(DATA_DIR)  # fail-fast clients, dummy AWS credentials, this env's tools on PATH
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # progress bars go to stderr
logging.getLogger("mlflow").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="mlflow")

SLUG = "".join(ch if ch.isalnum() else "-" for ch in RUN_ID.lower())
NAME = f"m004-{SLUG}"
EXPERIMENT = f"fraud-api-{NAME}"
MODEL_NAME = f"fraud-{NAME}"
SCRAPE_JOB = NAME
WORK = Path("m004-work") / NAME
WORK.mkdir(parents=True, exist_ok=True)

mlflow.set_tracking_uri(MLFLOW_TRACKING_URI)
client = MlflowClient(MLFLOW_TRACKING_URI)
# No keep-alive: servers come and go on reused ports in this notebook, a pooled connection would go stale.
http = httpx.Client(timeout=10.0, limits=httpx.Limits(max_keepalive_connections=0))
print("tracking server:", MLFLOW_TRACKING_URI, "| model:", MODEL_NAME)

# %% [markdown]
# ## The model to serve
# The serving lab needs a registered model, so we make one the Module 1 way (no exercise here): two
# scikit-learn pipelines on `labkit.fraud`'s feature matrix, time-split, registered as versions 1 and 2
# of `MODEL_NAME`. Version 1 is the reviewed model and gets the alias **`champion`**; version 2 is a
# newer **`challenger`** trained with balanced class weights (so its scores are much higher). The newest
# version is *not* the one to serve: that is what aliases are for.
#
# Note `pyfunc_predict_fn="predict_proba"`: the API loads the model through MLflow's generic
# `pyfunc` interface (it does not care which library trained it), and for a fraud score we want
# `predict` to return class probabilities, not 0/1 labels. The signature makes pyfunc check column
# names and types at predict time.

# %%
tx = load("fraud")["transactions"]
train_tx, valid_tx = time_split(tx)
X_train, X_valid = feature_frame(train_tx).astype(float), feature_frame(valid_tx).astype(float)
y_train = train_tx["isFraud"].to_numpy()

candidates = {
    "1": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300)),
    "2": make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=300)),
}
_old = client.get_experiment_by_name(EXPERIMENT)
if _old is not None and _old.lifecycle_stage == "deleted":
    client.restore_experiment(_old.experiment_id)  # a rerun after cleanup
experiment_id = mlflow.set_experiment(EXPERIMENT).experiment_id
for _existing in client.search_registered_models(filter_string=f"name = '{MODEL_NAME}'"):
    client.delete_registered_model(_existing.name)  # a rerun starts from version 1 again
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for version, pipeline in candidates.items():
        pipeline.fit(X_train, y_train)
        with mlflow.start_run(run_name=f"candidate-v{version}") as run:
            mlflow.set_tag("lab_run", RUN_ID)
            signature = infer_signature(X_valid.head(5), pipeline.predict_proba(X_valid.head(5)))
            mlflow.sklearn.log_model(
                pipeline, name="model", signature=signature, pyfunc_predict_fn="predict_proba",
                pip_requirements=["scikit-learn"],
            )
        registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL_NAME)
        assert registered.version == version, f"expected version {version}, registry gave {registered.version}"
client.set_registered_model_alias(MODEL_NAME, "champion", "1")
client.set_registered_model_alias(MODEL_NAME, "challenger", "2")

# What each version must answer, computed from the trained objects (the checks compare against these).
SAMPLE = X_valid.head(40).reset_index(drop=True)
EXPECTED = {v: p.predict_proba(SAMPLE)[:, 1] for v, p in candidates.items()}
print({v: f"mean score on the sample {EXPECTED[v].mean():.3f}" for v in EXPECTED})

# %% [markdown]
# ## Designing an inference API
#
# A few decisions make the difference between a model behind HTTP and a service other teams can rely on:
#
# | decision | here | why |
# |---|---|---|
# | a typed contract | pydantic models for request and response | clients see the schema at `/docs`; bad input is rejected *before* the model sees it, with a `422` that says which field is wrong |
# | single **and** batch | `POST /predict`, `POST /predict/batch` | a checkout scores one transaction with low latency; a nightly back-fill scores thousands per call. Batches have a **maximum size**, or one request can take the service down |
# | the model version in every answer | `model_version` in each prediction | when a score is disputed, you can say which model produced it; monitoring can split metrics by version |
# | load by alias, not by "latest" | `models:/{name}@champion` | promotion is a registry operation; the API code never changes |
# | health endpoint | `GET /health` (no auth, no rate limit) | load balancers and Kubernetes probe it every few seconds |
# | features in, score out | the request carries the 9 model features | keeps this lab about serving. A production API often takes the raw transaction and computes features server-side (one code path for training and serving, no skew); velocity features such as `card_tx_last_hour` then come from an online feature store (Module 3) |
#
# The payload for one transaction looks like this:

# %%
INT_FEATURES = [f for f in FEATURES if f != "log_amount"]
THRESHOLD = 0.5  # is_fraud = fraud_probability >= THRESHOLD
MAX_BATCH = 100  # the most transactions one batch request may carry


def to_payload(row: pd.Series) -> dict:
    """One feature row as the JSON body a client sends (integers where the feature is a count or flag)."""
    return {f: (int(row[f]) if f in INT_FEATURES else float(row[f])) for f in FEATURES}


print(json.dumps(to_payload(SAMPLE.iloc[0]), indent=1))

# %% [markdown]
# ## Exercise 1: the request and response contract
#
# Write four pydantic models:
# - `Transaction`: one field per feature in `FEATURES`, with these constraints:
#   `log_amount` a float `>= 0`; `hour` an int in `0..23`; `card_tx_last_hour` an int `>= 0`; the six
#   flags (`round_amount`, `night`, `product_C`, `product_W`, `device_missing`, `risky_email`) ints in
#   `0..1`. Unknown fields are an **error**, not silently dropped (`model_config = ConfigDict(extra="forbid")`):
#   a client that misspells `card_tx_last_hour` must hear about it.
# - `BatchRequest`: `transactions: list[Transaction]` with at least 1 and at most `MAX_BATCH` items.
# - `Prediction`: `fraud_probability` (float in `0..1`), `is_fraud` (bool), `model_version` (str).
# - `BatchResponse`: `predictions: list[Prediction]`.
#
# <details><summary>Hint 1</summary><code>hour: int = Field(ge=0, le=23)</code>;
# <code>Field(min_length=1, max_length=MAX_BATCH)</code> constrains a list's length.</details>
# <details><summary>Hint 2</summary>Try it: <code>Transaction(**to_payload(SAMPLE.iloc[0]))</code>
# should work, <code>Transaction.model_validate({**payload, "hour": 24})</code> should raise
# <code>ValidationError</code>.</details>

# %% answer="schemas"
### BEGIN SOLUTION
Flag = Field(ge=0, le=1)


class Transaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log_amount: float = Field(ge=0, description="log(1 + amount in USD)")
    round_amount: int = Flag
    hour: int = Field(ge=0, le=23, description="hour of day of the transaction")
    night: int = Flag
    product_C: int = Flag
    product_W: int = Flag
    device_missing: int = Flag
    risky_email: int = Flag
    card_tx_last_hour: int = Field(ge=0, description="earlier transactions of this card in the last hour")


class BatchRequest(BaseModel):
    transactions: list[Transaction] = Field(min_length=1, max_length=MAX_BATCH)


class Prediction(BaseModel):
    fraud_probability: float = Field(ge=0, le=1)
    is_fraud: bool
    model_version: str


class BatchResponse(BaseModel):
    predictions: list[Prediction]
### END SOLUTION

# %% check="schemas" points=1
_ok = to_payload(SAMPLE.iloc[0])
assert Transaction.model_validate(_ok).hour == _ok["hour"], "a valid payload should parse"
for _field, _bad in [("hour", 24), ("product_C", 2)]:
    try:
        Transaction.model_validate({**_ok, _field: _bad})
    except ValidationError:
        pass
    else:
        raise AssertionError(f"{_field}={_bad} was accepted; it must be rejected")
### BEGIN HIDDEN TESTS
def _rejects(model, data) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return True
    return False


for _field, _bad in [("log_amount", -0.5), ("hour", -1), ("night", 3), ("card_tx_last_hour", -2), ("risky_email", "yes")]:
    assert _rejects(Transaction, {**_ok, _field: _bad}), f"{_field}={_bad!r} was accepted; it must be rejected"
assert _rejects(Transaction, {k: v for k, v in _ok.items() if k != "card_tx_last_hour"}), "a missing field was accepted"
assert _rejects(Transaction, {**_ok, "card_tx_last_hr": 1}), (
    "an unknown field was accepted silently: set model_config = ConfigDict(extra='forbid')"
)
assert _rejects(BatchRequest, {"transactions": []}), "an empty batch was accepted"
assert _rejects(BatchRequest, {"transactions": [_ok] * (MAX_BATCH + 1)}), f"a batch of {MAX_BATCH + 1} was accepted"
assert len(BatchRequest.model_validate({"transactions": [_ok] * MAX_BATCH}).transactions) == MAX_BATCH
assert _rejects(Prediction, {"fraud_probability": 1.5, "is_fraud": True, "model_version": "1"}), "probability 1.5 accepted"
_resp = BatchResponse.model_validate({"predictions": [{"fraud_probability": 0.2, "is_fraud": False, "model_version": "1"}]})
assert _resp.predictions[0].model_version == "1"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: load the champion and serve it
#
# Two functions:
#
# **`load_champion() -> (model, version)`** resolves the alias `champion` of `MODEL_NAME` to a version
# number (`client.get_model_version_by_alias`), then loads *that version*
# (`mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}")`) and returns both, the version as a
# string. Resolving first and loading the pinned version means the number you report is the model you
# loaded, even if someone moves the alias in between.
#
# **`create_app(model, model_version, dependencies=()) -> FastAPI`** builds the API:
# - `GET /health` → `{"status": "ok", "model_version": model_version}`;
# - `POST /predict`, body `Transaction` → `Prediction`;
# - `POST /predict/batch`, body `BatchRequest` → `BatchResponse`, predictions in request order.
#
# Build a DataFrame with the columns in `FEATURES` order as floats, call `model.predict(frame)` (it
# returns an `N x 2` array of class probabilities; column 1 is fraud), and set
# `is_fraud = fraud_probability >= THRESHOLD`. Put the two predict routes on an
# `APIRouter(dependencies=list(dependencies))` and include it in the app: Exercise 6 passes the API-key
# check in there, and `/health` must stay open.
#
# Define the routes with `def`, not `async def`: the model call is CPU work, and FastAPI runs `def`
# endpoints in a thread pool so one slow prediction does not block the event loop.
#
# <details><summary>Hint 1</summary>
#
# ```python
# app = FastAPI(title="fraud scoring")
# router = APIRouter(dependencies=list(dependencies))
#
# @router.post("/predict", response_model=Prediction)
# def predict(tx: Transaction) -> Prediction: ...
#
# app.include_router(router)
# ```
# </details>
# <details><summary>Hint 2</summary><code>pd.DataFrame([t.model_dump() for t in txs], columns=FEATURES).astype(float)</code>
# is the frame; one helper that scores a list of transactions serves both routes.</details>

# %% answer="serve_model"
def load_champion():
    ### BEGIN SOLUTION
    version = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}")
    return model, str(version)
    ### END SOLUTION


def create_app(model, model_version: str, dependencies=()) -> FastAPI:
    ### BEGIN SOLUTION
    app = FastAPI(title="fraud scoring", version=model_version)
    router = APIRouter(dependencies=list(dependencies))

    def score(txs: list[Transaction]) -> list[Prediction]:
        frame = pd.DataFrame([t.model_dump() for t in txs], columns=FEATURES).astype(float)
        proba = np.asarray(model.predict(frame))[:, 1]
        return [
            Prediction(fraud_probability=float(p), is_fraud=bool(p >= THRESHOLD), model_version=model_version)
            for p in proba
        ]

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_version": model_version}

    @router.post("/predict", response_model=Prediction)
    def predict(tx: Transaction) -> Prediction:
        return score([tx])[0]

    @router.post("/predict/batch", response_model=BatchResponse)
    def predict_batch(batch: BatchRequest) -> BatchResponse:
        return BatchResponse(predictions=score(batch.transactions))

    app.include_router(router)
    return app
    ### END SOLUTION

# %% [markdown]
# Serve it and call it like a client would. Open `{api.url}/docs` in a browser (from JupyterLab on your
# machine) to see the schema FastAPI generated from your pydantic models.

# %%
if "api" in globals():
    api.stop()  # rerunning this cell replaces the server
model, model_version = load_champion()
api = serve_app(create_app(model, model_version))
print("serving model version", model_version, "at", api.url)
print(http.post(f"{api.url}/predict", json=to_payload(SAMPLE.iloc[0])).json())
_bad = http.post(f"{api.url}/predict", json={**to_payload(SAMPLE.iloc[0]), "hour": 31})
print(_bad.status_code, _bad.json()["detail"][0]["msg"])

# %% check="serve_model" points=2
_r = http.post(f"{api.url}/predict", json=to_payload(SAMPLE.iloc[3]))
assert _r.status_code == 200, f"POST /predict answered {_r.status_code}: {_r.text[:300]}"
assert _r.json()["model_version"] == "1", f"the champion is version 1, the API says {_r.json()['model_version']!r}"
assert abs(_r.json()["fraud_probability"] - EXPECTED["1"][3]) < 1e-6, (
    f"fraud_probability {_r.json()['fraud_probability']:.6f}, expected {EXPECTED['1'][3]:.6f} (column 1 of predict)"
)
_r = http.post(f"{api.url}/predict", json={**to_payload(SAMPLE.iloc[3]), "hour": 31})
assert _r.status_code == 422, f"an invalid transaction should get 422, got {_r.status_code}"
### BEGIN HIDDEN TESTS
assert http.get(f"{api.url}/health").json() == {"status": "ok", "model_version": "1"}, "GET /health body"
_batch = [to_payload(SAMPLE.iloc[i]) for i in range(len(SAMPLE))]
_r = http.post(f"{api.url}/predict/batch", json={"transactions": _batch})
assert _r.status_code == 200, f"POST /predict/batch answered {_r.status_code}: {_r.text[:300]}"
_got = np.array([p["fraud_probability"] for p in _r.json()["predictions"]])
assert _got.shape == EXPECTED["1"].shape, f"{len(_batch)} transactions in, {len(_got)} predictions out"
assert np.allclose(_got, EXPECTED["1"], atol=1e-6), "batch predictions differ from the model's (or are out of order)"
assert [p["is_fraud"] for p in _r.json()["predictions"]] == list(EXPECTED["1"] >= THRESHOLD), "is_fraud vs THRESHOLD"
for _body, _what in [({"transactions": []}, "an empty batch"), ({"transactions": [_batch[0]] * (MAX_BATCH + 1)}, "an oversized batch"),
                     ({"transactions": [{**_batch[0], "colour": "red"}]}, "an unknown field")]:
    _code = http.post(f"{api.url}/predict/batch", json=_body).status_code
    assert _code == 422, f"{_what} should get 422, got {_code}"


def _teapot():
    raise HTTPException(status_code=418, detail="dependency ran")


with serve_app(create_app(model, model_version, dependencies=[Depends(_teapot)])) as _guarded:
    _code = http.post(f"{_guarded.url}/predict", json=_batch[0]).status_code
    assert _code == 418, f"create_app must apply `dependencies` to /predict (got {_code})"
    _code = http.post(f"{_guarded.url}/predict/batch", json={"transactions": _batch[:2]}).status_code
    assert _code == 418, f"create_app must apply `dependencies` to /predict/batch (got {_code})"
    assert http.get(f"{_guarded.url}/health").status_code == 200, "/health must not carry the dependencies"
### END HIDDEN TESTS

# %% [markdown]
# The alias is the contract between the registry and the service: whoever promotes a model moves the
# alias, and the next deployment (or reload) of the API serves the new version. This check promotes the
# challenger, asks your `load_champion()` again, and then puts everything back.

# %% check="serve_model" points=1
assert load_champion()[1] == "1", f"champion is version 1, load_champion() says {load_champion()[1]!r}"
### BEGIN HIDDEN TESTS
try:
    client.set_registered_model_alias(MODEL_NAME, "champion", "2")
    _m2, _v2 = load_champion()
    assert _v2 == "2", f"after promoting version 2, load_champion() returned version {_v2!r}: load by alias"
    with serve_app(create_app(_m2, _v2)) as _srv:
        _r = http.post(f"{_srv.url}/predict/batch", json={"transactions": [to_payload(SAMPLE.iloc[i]) for i in range(5)]})
        _got = np.array([p["fraud_probability"] for p in _r.json()["predictions"]])
        assert np.allclose(_got, EXPECTED["2"][:5], atol=1e-6), "after promotion the API does not serve version 2's scores"
finally:
    client.set_registered_model_alias(MODEL_NAME, "champion", "1")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: API keys
#
# Each client team gets a key and sends it in the `X-API-Key` header. The service stores only the
# **SHA-256 hashes** of the keys (a leaked config file leaks no keys), mapped to the client's name. In the
# cloud the mapping lives in a secret store (AWS Secrets Manager, SSM Parameter Store) and is read at
# start-up.
#
# Write the FastAPI dependency `require_api_key(x_api_key: str | None = Header(default=None)) -> str`:
# - no key (or an empty one) → `HTTPException(401)` with the header `WWW-Authenticate: APIKey`
#   ("authenticate first");
# - a key whose hash is not in `API_KEY_HASHES` → `HTTPException(403)` ("we know you are not allowed");
# - otherwise return the client's name.
#
# Any route with `dependencies=[Depends(require_api_key)]` (or a parameter
# `client: str = Depends(require_api_key)`) is then protected.
#
# <details><summary>Hint 1</summary>The parameter name <code>x_api_key</code> with <code>Header()</code>
# reads the <code>X-API-Key</code> header (FastAPI converts underscores to dashes). Without
# <code>Header()</code> FastAPI would read a <em>query parameter</em>: keys in URLs end up in access logs.</details>
# <details><summary>Hint 2</summary><code>HTTPException(status_code=401, detail="missing API key",
# headers={"WWW-Authenticate": "APIKey"})</code>; <code>hashlib.sha256(key.encode()).hexdigest()</code>.</details>

# %%
ALICE_KEY, BOB_KEY = f"alice-{SLUG}-7f3a9c", f"bob-{SLUG}-e21d04"  # what the client teams were given
API_KEY_HASHES = {hashlib.sha256(k.encode()).hexdigest(): name for k, name in [(ALICE_KEY, "alice"), (BOB_KEY, "bob")]}

# %% answer="api_keys"
def require_api_key(x_api_key: str | None = Header(default=None)) -> str:
    ### BEGIN SOLUTION
    if not x_api_key:
        raise HTTPException(status_code=401, detail="missing API key", headers={"WWW-Authenticate": "APIKey"})
    client_name = API_KEY_HASHES.get(hashlib.sha256(x_api_key.encode()).hexdigest())
    if client_name is None:
        raise HTTPException(status_code=403, detail="invalid API key")
    return client_name
    ### END SOLUTION

# %% check="api_keys" points=1
_app = FastAPI()


@_app.get("/whoami")
def _whoami(client_name: str = Depends(require_api_key)):
    return {"client": client_name}


with serve_app(_app) as _srv:
    _none = http.get(f"{_srv.url}/whoami")
    _wrong = http.get(f"{_srv.url}/whoami", headers={"X-API-Key": "not-a-key"})
    _alice = http.get(f"{_srv.url}/whoami", headers={"X-API-Key": ALICE_KEY})
    assert _none.status_code == 401, f"no key: expected 401, got {_none.status_code}"
    assert _wrong.status_code == 403, f"wrong key: expected 403, got {_wrong.status_code}"
    assert _alice.status_code == 200 and _alice.json() == {"client": "alice"}, f"alice's key: {_alice.status_code} {_alice.text[:200]}"
    ### BEGIN HIDDEN TESTS
    assert _none.headers.get("www-authenticate", "").lower().startswith("apikey"), (
        f"a 401 must say how to authenticate (WWW-Authenticate: APIKey), got {_none.headers.get('www-authenticate')!r}"
    )
    assert http.get(f"{_srv.url}/whoami", headers={"X-API-Key": BOB_KEY}).json() == {"client": "bob"}, "bob's key"
    _code = http.get(f"{_srv.url}/whoami", headers={"X-API-Key": ALICE_KEY[:-1]}).status_code
    assert _code == 403, f"a truncated key must get 403, got {_code}"
    for _param in ("x_api_key", "api_key"):
        _code = http.get(f"{_srv.url}/whoami", params={_param: ALICE_KEY}).status_code
        assert _code == 401, f"a key in the query string (?{_param}=) must not be accepted (got {_code}): read the header"
    ### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: a token-bucket rate limiter
#
# One client in a retry loop should not starve the others. A **token bucket** per client holds up to
# `burst` tokens and refills at `rate` tokens per second; each request takes one token; a request that
# finds less than one token gets `429 Too Many Requests` with a `Retry-After` header: the whole number of
# seconds until a token is there again, `ceil((1 - tokens) / rate)`, at least 1. A bucket allows short
# bursts and enforces the average rate. (A sliding-window counter is the other common choice; API gateways
# such as AWS API Gateway usage plans implement token buckets.)
#
# Write `RateLimitMiddleware(app, rate, burst, clock=time.monotonic)`, a Starlette middleware (subclass
# `BaseHTTPMiddleware`, call `super().__init__(app)`, implement `async def dispatch(self, request, call_next)`):
# - the client is the `X-API-Key` header, or the client's IP (`request.client.host`) when there is none;
# - each client starts with a full bucket (`burst` tokens);
# - read the time **only** through `self.clock()` (the check drives a fake clock: deterministic tests
#   of time-dependent code);
# - requests to `EXEMPT_PATHS` pass without touching any bucket: health probes and Prometheus scrapes
#   must never be throttled;
# - a throttled request gets `JSONResponse({"detail": "rate limit exceeded"}, status_code=429,
#   headers={"Retry-After": ...})` and does **not** reach the app.
#
# The buckets live in this process: with 4 uvicorn workers or 3 replicas each keeps its own. Shared limits
# need shared state (Redis, Module 3) or the limit at the gateway.
#
# <details><summary>Hint 1</summary>Keep <code>self.buckets = {client: (tokens, last_time)}</code>. On a
# request: <code>tokens = min(burst, tokens + (now - last) * rate)</code>; if <code>tokens >= 1</code>
# take one and pass the request on, else answer 429.</details>
# <details><summary>Hint 2</summary>Middleware is added with <code>app.add_middleware(RateLimitMiddleware,
# rate=..., burst=...)</code>: Starlette calls your <code>__init__</code> with the app as the first argument.</details>

# %%
EXEMPT_PATHS = ("/health", "/metrics")

# %% answer="rate_limit"
### BEGIN SOLUTION
class RateLimitMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, rate: float, burst: int, clock=time.monotonic):
        super().__init__(app)
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def wait_time(self, client_id: str) -> float:
        """Take a token and return 0.0, or return how many seconds until one is available."""
        now = self.clock()
        tokens, last = self.buckets.get(client_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[client_id] = (tokens - 1, now)
            return 0.0
        self.buckets[client_id] = (tokens, now)
        return (1 - tokens) / self.rate

    async def dispatch(self, request: Request, call_next):
        if request.url.path in EXEMPT_PATHS:
            return await call_next(request)
        client_id = request.headers.get("x-api-key") or (request.client.host if request.client else "unknown")
        wait = self.wait_time(client_id)
        if wait > 0:
            return JSONResponse(
                {"detail": "rate limit exceeded"}, status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return await call_next(request)
### END SOLUTION

# %% check="rate_limit" points=1
class _FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_clock, _hits = _FakeClock(), []
_app = FastAPI()


@_app.get("/work")
def _work():
    _hits.append(1)
    return {"ok": True}


@_app.get("/health")
def _health():
    return {"status": "ok"}


def _get(path="/work", key=ALICE_KEY):
    return http.get(f"{_limited.url}{path}", headers={"X-API-Key": key} if key else {})


_app.add_middleware(RateLimitMiddleware, rate=0.5, burst=3, clock=_clock)
_limited = serve_app(_app)
try:
    _codes = [_get().status_code for _ in range(4)]
    assert _codes == [200, 200, 200, 429], f"burst=3: expected [200, 200, 200, 429], got {_codes}"
    _r = _get()
    assert _r.headers.get("retry-after") == "2", (
        f"empty bucket at 0.5 tokens/s: Retry-After should be '2', got {_r.headers.get('retry-after')!r}"
    )
    assert len(_hits) == 3, f"throttled requests must not reach the app: it ran {len(_hits)} times for 3 allowed"
finally:
    _limited.stop()

# %% check="rate_limit" points=1
_clock, _hits = _FakeClock(), []
_app = FastAPI()
_app.add_api_route("/work", _work)
_app.add_api_route("/health", _health)
_app.add_middleware(RateLimitMiddleware, rate=0.5, burst=3, clock=_clock)
_limited = serve_app(_app)
try:
    assert [_get().status_code for _ in range(3)] == [200] * 3, "a fresh bucket should allow `burst` requests"
    assert _get().status_code == 429, "the 4th request in the same instant should get 429"
    _clock.now += 2.0  # refills exactly one token
    assert _get().status_code == 200, "after 2 s at 0.5 tokens/s one request should pass again"
    ### BEGIN HIDDEN TESTS
    assert _get().status_code == 429, "...and only one: the refill was a single token"
    assert _get(key=BOB_KEY).status_code == 200, "bob has his own bucket: alice's requests must not throttle him"
    assert all(_get("/health").status_code == 200 for _ in range(6)), "/health is exempt from rate limiting"
    _clock.now += 1.5
    _r = _get()
    assert _r.status_code == 429 and _r.headers.get("retry-after") == "1", (
        f"0.75 tokens after 1.5 s: expected 429 with Retry-After '1' (ceil of 0.5 s), got {_r.status_code} {_r.headers.get('retry-after')!r}"
    )
    assert _r.json().get("detail") == "rate limit exceeded", f"429 body {_r.text[:100]}"
    _clock.now += 1000.0  # a long pause: the bucket fills up to `burst`, not beyond
    _codes = [_get().status_code for _ in range(5)]
    assert _codes == [200, 200, 200, 429, 429], f"after a long pause the bucket holds at most burst=3 tokens, got {_codes}"
    _codes = [_get(key=None).status_code for _ in range(4)]
    assert _codes == [200, 200, 200, 429], f"requests without a key are limited by client IP, got {_codes}"
    ### END HIDDEN TESTS
finally:
    _limited.stop()

# %% [markdown]
# ## Exercise 5: Prometheus metrics
#
# Prometheus *pulls*: every few seconds it GETs `/metrics` from each target and stores the numbers. Three
# metrics answer most questions about a model API:
#
# - `api_requests_total{endpoint, method, status}`, a **Counter**: traffic and error rate
#   (`sum by (status) (rate(api_requests_total[5m]))`);
# - `api_request_duration_seconds{endpoint}`, a **Histogram**: latency percentiles
#   (`histogram_quantile(0.95, ...)`). A Summary computes quantiles inside one process and cannot be
#   aggregated over replicas; histogram buckets can;
# - `model_info{model_name, version}`, a **Gauge** set to 1: which model each replica serves, to join with
#   any other metric.
#
# Labels must have **few values**: every distinct label set is a separate time series. Label by the
# route *template* (`/items/{item_id}`), never by the raw path (`/items/123`), and lump unknown paths
# together. `endpoint_of(request)` below does that.
#
# Write `instrument(app, registry, model_name, model_version)` that, for one app:
# 1. creates the three metrics **on `registry`** (pass `registry=registry`: a fresh `CollectorRegistry`
#    per app, so two apps in one process, or a rerun of this notebook, do not collide), with
#    `LATENCY_BUCKETS` for the histogram, and sets `model_info` for this model to 1;
# 2. adds an HTTP middleware (`@app.middleware("http")`) that times every request and, after the response
#    (whatever its status: 200, 401, 404, 422, ...), increments the counter and observes the histogram
#    with `endpoint_of(request)`, `request.method` and `str(response.status_code)`;
# 3. adds `GET /metrics` returning `generate_latest(registry)` with media type `CONTENT_TYPE_LATEST`.
#
# <details><summary>Hint 1</summary>prometheus_client appends <code>_total</code> to a Counter's name:
# <code>Counter("api_requests", "HTTP requests", ["endpoint", "method", "status"], registry=registry)</code>.</details>
# <details><summary>Hint 2</summary>
#
# ```python
# @app.middleware("http")
# async def observe(request, call_next):
#     start = time.perf_counter()
#     response = await call_next(request)
#     ...
#     return response
# ```
# </details>

# %%
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


try:
    from fastapi.routing import iter_route_contexts  # the routes of included routers, with their prefixes
except ImportError:  # FastAPI before 0.16x listed them in app.routes directly

    def iter_route_contexts(routes):
        return routes


def endpoint_of(request: Request) -> str:
    """The route template of this request (`/predict`), or "unmatched": a bounded set of label values."""
    route = request.scope.get("route")  # set by FastAPI once it routed the request
    if route is not None:
        return route.path
    # Not routed: a 404, or a request a middleware answered before routing (a 429). Match it ourselves.
    for candidate in iter_route_contexts(request.app.routes):
        match, _ = candidate.matches(request.scope)
        if match != Match.NONE:
            return candidate.path
    return "unmatched"

# %% answer="metrics"
def instrument(app: FastAPI, registry: CollectorRegistry, model_name: str, model_version: str) -> None:
    ### BEGIN SOLUTION
    requests_total = Counter(
        "api_requests", "HTTP requests by endpoint, method and status", ["endpoint", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "api_request_duration_seconds", "Request latency by endpoint", ["endpoint"],
        buckets=LATENCY_BUCKETS, registry=registry,
    )
    model_info = Gauge("model_info", "The model this API serves (value 1)", ["model_name", "version"], registry=registry)
    model_info.labels(model_name=model_name, version=model_version).set(1)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        status = "500"  # an exception escaping the app is a 500 to the client
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:
            endpoint = endpoint_of(request)
            requests_total.labels(endpoint=endpoint, method=request.method, status=status).inc()
            latency.labels(endpoint=endpoint).observe(time.perf_counter() - start)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    ### END SOLUTION

# %% check="metrics" points=1
def _toy_app():
    app = FastAPI()

    @app.get("/ok")
    def ok():
        return {"ok": True}

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"item": item_id}

    def deny():
        raise HTTPException(status_code=401, detail="no")

    @app.get("/private", dependencies=[Depends(deny)])
    def private():
        return {}

    return app


def _metric(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


_toy = _toy_app()
instrument(_toy, CollectorRegistry(), "toy-model", "7")
with serve_app(_toy) as _srv:
    for _path in ["/ok"] * 3 + ["/items/1", "/items/2", "/private", "/nope/a", "/nope/b"]:
        http.get(f"{_srv.url}{_path}")
    _page = http.get(f"{_srv.url}/metrics")
assert _page.status_code == 200, f"GET /metrics answered {_page.status_code}"
assert _page.headers["content-type"].startswith("text/plain"), f"content type {_page.headers['content-type']!r}"
_samples = parse_metrics(_page.text)
_n = _metric(_samples, "api_requests_total", endpoint="/ok", method="GET", status="200")
assert _n == 3, f'api_requests_total{{endpoint="/ok",method="GET",status="200"}} is {_n}, expected 3'
assert _metric(_samples, "model_info", model_name="toy-model", version="7") == 1, "model_info{model_name, version} should be 1"

# %% check="metrics" points=1
assert _metric(_samples, "api_request_duration_seconds_count", endpoint="/ok") is not None, "no latency histogram for /ok"
### BEGIN HIDDEN TESTS
_endpoints = {dict(labels).get("endpoint") for (name, labels) in _samples if name == "api_requests_total"}
assert not any(str(e).startswith(("/items/1", "/items/2", "/nope")) for e in _endpoints), (
    f"endpoint labels must be route templates, not raw paths (unbounded series): saw {sorted(map(str, _endpoints))}"
)
assert _metric(_samples, "api_requests_total", endpoint="/items/{item_id}", method="GET", status="200") == 2, (
    "two requests to /items/{item_id} should count under the template"
)
assert _metric(_samples, "api_requests_total", endpoint="/private", method="GET", status="401") == 1, (
    "a request rejected with 401 must be counted with status 401"
)
assert _metric(_samples, "api_requests_total", endpoint="unmatched", method="GET", status="404") == 2, "404s as 'unmatched'"
assert _metric(_samples, "api_request_duration_seconds_count", endpoint="/ok") == 3, "latency histogram: 3 observations for /ok"
assert _metric(_samples, "api_request_duration_seconds_bucket", endpoint="/ok", le="0.005") is not None, (
    "api_request_duration_seconds must be a Histogram with LATENCY_BUCKETS (no bucket le=0.005 found)"
)
assert _metric(_samples, "api_request_duration_seconds_sum", endpoint="/ok") > 0, "latency sum should be > 0"
# A second app in the same process starts from zero on its own registry.
_toy2 = _toy_app()
instrument(_toy2, CollectorRegistry(), "toy-model", "8")
with serve_app(_toy2) as _srv:
    http.get(f"{_srv.url}/ok")
    _samples2 = parse_metrics(http.get(f"{_srv.url}/metrics").text)
assert _metric(_samples2, "api_requests_total", endpoint="/ok", method="GET", status="200") == 1, (
    "a second instrumented app must count its own requests: create the metrics on the registry you were given"
)
assert _metric(_samples2, "model_info", model_name="toy-model", version="7") is None, "model 7's info leaked into app 2"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: put it together and let Prometheus scrape it
#
# Write `build_service() -> FastAPI`: load the champion, create the app with the API-key dependency on the
# predict routes, add the rate limiter (`rate=RATE, burst=BURST`) and instrument it (a new
# `CollectorRegistry()`, `MODEL_NAME`, the champion's version).
#
# **Order matters.** Starlette wraps the app in middleware from the last added (outermost) to the first
# added (innermost). The metrics must see *every* request, including those the rate limiter turns away
# with 429: so the metrics middleware goes on the outside.
#
# The cells after yours serve the app, register it with the course's Prometheus as a scrape target, and
# send some traffic: alice scores transactions, someone without a key tries, and bob sends a burst.
#
# <details><summary>Hint</summary>Add the rate limiter first, then call <code>instrument(...)</code>
# (which adds its middleware last, i.e. outermost).</details>

# %%
RATE, BURST = 0.2, 5  # 5 requests at once, then one every 5 s per client

# %% answer="assemble"
def build_service() -> FastAPI:
    ### BEGIN SOLUTION
    model, version = load_champion()
    app = create_app(model, version, dependencies=[Depends(require_api_key)])
    app.add_middleware(RateLimitMiddleware, rate=RATE, burst=BURST)
    instrument(app, CollectorRegistry(), MODEL_NAME, version)
    return app
    ### END SOLUTION

# %% [markdown]
# Prometheus discovers targets here through **file-based service discovery**: it watches a directory of
# JSON files listing `host:port` targets and their labels, and picks up changes without a restart. (In
# Kubernetes the Prometheus Operator does the same from a `ServiceMonitor`.) When this notebook runs inside
# the grader's sandbox that directory is not visible; the registration is then skipped and the checks
# read `/metrics` directly, exactly as Prometheus would.

# %%
def register_scrape_target(job: str, port: int) -> bool:
    """Add 127.0.0.1:port as scrape job `job`; False when the targets directory is not writable here."""
    if not PROMETHEUS_TARGETS_DIR or not os.access(PROMETHEUS_TARGETS_DIR, os.W_OK):
        return False
    path = Path(PROMETHEUS_TARGETS_DIR) / f"{job}.json"
    tmp = path.with_suffix(".tmp")  # written whole, then renamed: Prometheus never reads half a file
    tmp.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"job": job}}]))
    tmp.replace(path)
    return True


def promql(query: str) -> list[dict]:
    r = http.get(f"{PROMETHEUS_URL}/api/v1/query", params={"query": query})
    r.raise_for_status()
    return r.json()["data"]["result"]


if "service" in globals():
    service.stop()
service = serve_app(build_service())
REGISTERED = register_scrape_target(SCRAPE_JOB, service.port)
print("fraud API at", service.url, "| Prometheus scrape target registered:", REGISTERED)

_rows = [to_payload(SAMPLE.iloc[i]) for i in range(len(SAMPLE))]
traffic = {
    "alice": [http.post(f"{service.url}/predict", json=_rows[i], headers={"X-API-Key": ALICE_KEY}).status_code for i in range(3)],
    "alice batch": [http.post(f"{service.url}/predict/batch", json={"transactions": _rows[:20]}, headers={"X-API-Key": ALICE_KEY}).status_code],
    "no key": [http.post(f"{service.url}/predict", json=_rows[0]).status_code],
    "bob burst": [http.post(f"{service.url}/predict", json=_rows[0], headers={"X-API-Key": BOB_KEY}).status_code for _ in range(BURST + 3)],
}
print(traffic)

# %% check="assemble" points=1
_samples = parse_metrics(http.get(f"{service.url}/metrics").text)
_by_status = {}
for (_name, _labels), _value in _samples.items():
    if _name == "api_requests_total" and dict(_labels).get("endpoint") == "/predict":
        _by_status[dict(_labels)["status"]] = _by_status.get(dict(_labels)["status"], 0) + _value
assert _by_status.get("200", 0) >= 3, f"/predict requests by status: {_by_status}; expected alice's 200s"
assert _by_status.get("401", 0) >= 1, f"/predict requests by status: {_by_status}; the request without a key should be 401"
assert http.get(f"{service.url}/health").status_code == 200, "/health must answer without a key"
### BEGIN HIDDEN TESTS
assert _by_status.get("429", 0) >= 1, (
    f"/predict requests by status: {_by_status}; bob's burst got {traffic['bob burst']} but no 429 was counted: "
    "the metrics middleware must be outside (added after) the rate limiter"
)
assert _metric(_samples, "model_info", model_name=MODEL_NAME, version="1") == 1, "model_info should name the champion, version 1"
assert http.post(f"{service.url}/predict", json=_rows[0], headers={"X-API-Key": "nope"}).status_code in (403, 429), "a wrong key"
if REGISTERED:  # outside the grader's sandbox: the numbers must also have arrived in Prometheus
    _deadline = time.monotonic() + 30
    while time.monotonic() < _deadline:
        _res = promql(f'sum(api_requests_total{{job="{SCRAPE_JOB}", status="429"}})')
        if _res and float(_res[0]["value"][1]) >= 1:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"Prometheus has no api_requests_total{{status='429'}} for job {SCRAPE_JOB} after 30 s")
### END HIDDEN TESTS

# %% [markdown]
# What Prometheus sees (when the target could be registered): the request rate by status, the p95
# latency from the histogram buckets, and which model version is live. These are the queries a Grafana
# dashboard and an alert rule (Module 6) are built from.

# %%
if REGISTERED:
    for _q in [
        f'sum by (endpoint, status) (api_requests_total{{job="{SCRAPE_JOB}"}})',
        # p95 over all requests so far; a dashboard uses rate(...[5m]) inside to get the recent p95
        f'histogram_quantile(0.95, sum by (le) (api_request_duration_seconds_bucket{{job="{SCRAPE_JOB}"}}))',
        f'model_info{{job="{SCRAPE_JOB}"}}',
    ]:
        print(_q, "\n   ", [(r["metric"], r["value"][1]) for r in promql(_q)])
else:
    print("not registered with Prometheus here; the service's own /metrics page:")
    print("\n".join(l for l in http.get(f"{service.url}/metrics").text.splitlines() if l.startswith("api_requests_total")))

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** a real FastAPI service on uvicorn serving a model loaded from the MLflow registry by
# alias, pydantic validation, API-key auth, a token-bucket limiter and Prometheus metrics, called over HTTP
# and (outside the grader's sandbox) scraped by a real Prometheus.
#
# **What the live cloud tier adds:** the app in a container (Module 15) behind a load balancer (ALB) on
# ECS or EKS with several uvicorn workers and replicas: prometheus_client then needs its *multiprocess
# mode* (one registry shared across worker processes through files) and the rate limit moves to shared
# state (Redis) or the edge (API Gateway usage plans with API keys, AWS WAF rate-based rules); the keys
# live in Secrets Manager and rotate; TLS terminates at the load balancer; Prometheus finds replicas
# through Kubernetes service discovery (`ServiceMonitor`) or runs as Amazon Managed Service for Prometheus,
# with Grafana dashboards and alerts on error rate and p95 latency; the model is loaded once at start-up
# (a lifespan handler) and a new champion is rolled out by restarting replicas gradually.
#
# Cleanup: stop the servers, remove the scrape target, delete the registered model and the experiment.

# %%
for _name in ("service", "api"):
    if _name in globals() and hasattr(globals()[_name], "stop"):
        globals()[_name].stop()
if PROMETHEUS_TARGETS_DIR:
    (Path(PROMETHEUS_TARGETS_DIR) / f"{SCRAPE_JOB}.json").unlink(missing_ok=True)
for _model in client.search_registered_models(filter_string=f"name = '{MODEL_NAME}'"):
    client.delete_registered_model(_model.name)
_exp = client.get_experiment_by_name(EXPERIMENT)
if _exp is not None and _exp.lifecycle_stage == "active":
    client.delete_experiment(_exp.experiment_id)
http.close()
print("stopped the servers, removed", SCRAPE_JOB, "and deleted", MODEL_NAME, "and", EXPERIMENT)
