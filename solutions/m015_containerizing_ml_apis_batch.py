# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 15 — Containerizing ML APIs and batch jobs
#
# **Where this sits:** module 4 built the fraud-scoring API, module 13 opened the container box. Here
# the course's running project gets its two production workloads into images: the **online** one (the
# FastAPI model service, always on, answering requests) and the **offline** one (a daily feature ETL
# job that starts, does its work, and exits with a code a scheduler acts on). Modules 16-19 version,
# scan, compose and orchestrate these images.
#
# **You will:**
# 1. package the **FastAPI model service** in an image: the trained model inside, a non-root user, a
#    health check, the port published on loopback only;
# 2. build an image for a **preprocessing/ETL job** that reads raw data from S3 and writes partitioned
#    Parquet, and fails loudly (non-zero exit) on bad input;
# 3. use **ENTRYPOINT and CMD** the way batch containers need them: a fixed program, default arguments
#    a scheduler replaces;
# 4. pass **environment variables and secrets** safely, after seeing how a secret baked into an image
#    leaks to anyone who can pull it;
# 5. look at **performance**: order layers so a code change does not reinstall dependencies (the build
#    cache), and apply and *observe* memory limits (an OOM kill), CPU quotas and CPU pinning.
#
# **The engine here** is podman driven with Docker CLI commands (module 13); with Docker, set
# `CONTAINER_ENGINE=docker` and the same cells run.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
CONTAINER_ENGINE = os.environ.get("CONTAINER_ENGINE", "docker")
CONTAINER_HOST = os.environ.get("CONTAINER_HOST", "")
LOCAL_REGISTRY = os.environ.get("LOCAL_REGISTRY", "127.0.0.1:5000")
BASE_IMAGE = os.environ.get("BASE_IMAGE", "debian:bookworm")
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "python:3.11-slim")
WHEELHOUSE = os.environ.get("WHEELHOUSE", "")

# %% [markdown]
# ## Setup
# Every image, container, secret and bucket is named from `RUN_ID`; the cell removes leftovers of a
# previous run. `BUILDAH_FORMAT=docker` makes podman write Docker's image format: the OCI image config
# has no field for `HEALTHCHECK`, so in podman's default (OCI) format a health check would be dropped
# with a warning. Docker always writes its own format.

# %%
import hashlib
import json
import shutil
import time
import warnings
from pathlib import Path

# joblib cannot use /dev/shm in a sandboxed kernel and says so on import; it then works serially, as we want.
warnings.filterwarnings("ignore", message=".*joblib will operate in serial mode")

import boto3
import httpx
import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import labkit.fraud
from labkit import containerized, containers, labenv
from labkit.containerized import JobResult, healthcheck_status, history, run_job, secret_leaks
from labkit.containers import EngineError, engine
from labkit.fraud import FEATURES, feature_frame, time_split
from labkit.net import free_port, wait_for_http
from mlops_datasets import load
from mlops_datasets import path as dataset_path

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST, BUILDAH_FORMAT="docker")
NAME = labenv.resource_name("m015", RUN_ID)
WORK = (Path("m015-work") / NAME).resolve()
API_IMAGE = f"localhost/{NAME}-api:1.0"
ETL_IMAGE = f"localhost/{NAME}-etl:1.0"
ETL_IMAGE_V2 = f"localhost/{NAME}-etl:1.1"
LEAKY_IMAGE = f"localhost/{NAME}-leaky:demo"
BUILD_SECRET_IMAGE = f"localhost/{NAME}-build-secret:demo"
API_CONTAINER, SECURE_CONTAINER = f"{NAME}-api", f"{NAME}-api-secure"
ETL_CONTAINER, PROBE_CONTAINER, DEMO_CONTAINER = f"{NAME}-etl", f"{NAME}-probe", f"{NAME}-demo"
ENGINE_SECRET = f"{NAME}-api-key"
BUCKET = f"{NAME}-raw"
SECRET_ID = f"{NAME}/fraud-api-key"
s3 = boto3.client("s3", endpoint_url=AWS_ENDPOINT_URL)
secretsmanager = boto3.client("secretsmanager", endpoint_url=AWS_ENDPOINT_URL)
# No keep-alive: API containers come and go on reused ports, a pooled connection would go stale.
http = httpx.Client(timeout=10.0, limits=httpx.Limits(max_keepalive_connections=0))


def cleanup_engine() -> None:
    """Containers first (they hold images and secrets), then images, then the engine secret."""
    containers.remove(API_CONTAINER, SECURE_CONTAINER, ETL_CONTAINER, PROBE_CONTAINER, DEMO_CONTAINER,
                      f"{NAME}-api-check", kind="container")
    containers.remove(API_IMAGE, ETL_IMAGE, ETL_IMAGE_V2, LEAKY_IMAGE, BUILD_SECRET_IMAGE)
    engine("secret", "rm", ENGINE_SECRET, check=False, timeout=60)


cleanup_engine()
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True, exist_ok=True)
print("engine:", " ".join(containers.engine_argv()), "| python image:", PYTHON_IMAGE, "| work dir:", WORK)

# %% [markdown]
# ## 1. The model service in an image
#
# The service is module 4's contract — pydantic-validated transactions in, fraud probability out —
# as a standalone file, `app.py`, shown below. Two things change when an app moves into an image:
#
# - **the model travels with the code.** We train a pipeline here and save it with `joblib` into the
#   build context; the image carries that exact file (the `/health` endpoint reports its SHA-256, so you
#   can tell which model a running container serves). A pickled scikit-learn model loads reliably only
#   in the *same* scikit-learn version: `PYTHON_IMAGE` pins the course's versions, the same ones this
#   notebook trains with. Loading from a registry at start-up (module 4's MLflow alias) is the other
#   design: smaller images, but the container depends on the registry being up when it starts;
# - **configuration comes from the environment**, never from the code or the image: the model path,
#   the threshold, and the API key (a file path, `API_KEY_FILE` — more in section 4).

# %%
tx = load("fraud")["transactions"]
train_tx, valid_tx = time_split(tx)
X_train, X_valid = feature_frame(train_tx).astype(float), feature_frame(valid_tx).astype(float)
model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))
model.fit(X_train, train_tx["isFraud"].to_numpy())

API_CONTEXT = WORK / "api"
API_CONTEXT.mkdir(exist_ok=True)
joblib.dump(model, API_CONTEXT / "model.joblib")
(API_CONTEXT / "app.py").write_text(containerized.FRAUD_API_APP)
MODEL_SHA = hashlib.sha256((API_CONTEXT / "model.joblib").read_bytes()).hexdigest()[:12]

SAMPLE = X_valid.head(40).reset_index(drop=True)
EXPECTED = model.predict_proba(SAMPLE)[:, 1]


def to_payload(row: pd.Series) -> dict:
    """One feature row as the JSON body a client sends."""
    return {f: (float(row[f]) if f == "log_amount" else int(row[f])) for f in FEATURES}


print("model sha256:", MODEL_SHA, "| build context:", sorted(p.name for p in API_CONTEXT.iterdir()))
print(containerized.FRAUD_API_APP[: containerized.FRAUD_API_APP.index("FEATURES")])

# %% [markdown]
# A Containerfile (Docker calls it a Dockerfile; the format is the same) for a model service makes a
# handful of decisions, each visible from the outside with `inspect`:
#
# | instruction | here | why |
# |---|---|---|
# | `ARG BASE` + `FROM ${BASE}` | `PYTHON_IMAGE` | the ML stack, pinned; the base is a build argument so the same file builds on Docker Hub's `python:3.11-slim` |
# | `WORKDIR /app`, `COPY` | `app.py`, `model.joblib` into `/app` | the image is self-contained: no bind mount needed to serve |
# | `USER` | a numeric non-root uid (e.g. `10001`, created with `useradd`) | a process that escapes the app is not root in the container, and Kubernetes' `runAsNonRoot` can verify a numeric uid |
# | `EXPOSE 8000` | documentation + metadata | tells humans and tools which port the app listens on; it publishes nothing by itself |
# | `HEALTHCHECK` | a request to `/health` | the engine (and ECS) mark the container unhealthy when it stops answering |
# | `CMD` in **exec form** | `["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]` | uvicorn is PID 1 and receives `SIGTERM` on `stop`; the shell form `CMD uvicorn ...` runs `/bin/sh -c` as PID 1, which ignores `SIGTERM`, so every `stop` waits its full timeout and then kills |
#
# Inside the container uvicorn listens on `0.0.0.0` (all of *the container's* interfaces: the engine
# forwards to it); on the host the port is published on `127.0.0.1` only: `-p 127.0.0.1:PORT:8000`.
# Without the address, `-p PORT:8000` opens the API to the whole network.
#
# ### Exercise 1 — the API image (3 points)
# 1. Write `API_CONTEXT / "Containerfile"` with the decisions above: `ARG BASE` / `FROM ${BASE}`,
#    `app.py` and `model.joblib` in `/app`, a **non-root** `USER`, `EXPOSE 8000`, a `HEALTHCHECK` that
#    fails when `/health` does not answer, and `CMD` starting uvicorn in exec form.
# 2. Build it: `containers.build(API_CONTEXT, API_IMAGE, build_args={"BASE": PYTHON_IMAGE})`.
# 3. Write `start_api(name, port, options=())`: remove any container called `name`, start one from
#    `API_IMAGE` **detached**, with `options` (extra `run` flags; exercise 4 passes some) and port 8000
#    published on `127.0.0.1:port`; wait until `/health` answers (at most ~90 s) and return the base
#    URL `http://127.0.0.1:{port}`.
#
# <details><summary>Hint 1</summary><code>RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin api</code>
# then <code>USER 10001</code>. The files can stay owned by root: the app only needs to read them.</details>
# <details><summary>Hint 2</summary>There is no <code>curl</code> in the image, but there is Python:
# <code>HEALTHCHECK --interval=10s --timeout=3s CMD ["python", "-c", "import urllib.request;
# urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]</code> — <code>urlopen</code>
# raises (exit code 1) when nothing answers.</details>
# <details><summary>Hint 3</summary><code>engine("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000",
# *options, API_IMAGE, timeout=120)</code>, then <code>wait_for_http(f"{url}/health", timeout=90)</code>. If it
# times out, <code>containerized.logs(name)</code> shows why.</details>

# %% answer="api_image"
### BEGIN SOLUTION
(API_CONTEXT / "Containerfile").write_text(
    "ARG BASE\n"
    "FROM ${BASE}\n"
    "RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin api\n"
    "WORKDIR /app\n"
    "COPY model.joblib app.py /app/\n"
    "USER 10001\n"
    "EXPOSE 8000\n"
    "HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \\\n"
    "  CMD [\"python\", \"-c\", \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)\"]\n"
    'CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]\n'
)
containers.build(API_CONTEXT, API_IMAGE, build_args={"BASE": PYTHON_IMAGE})
### END SOLUTION


def start_api(name: str, port: int, options=()) -> str:
    ### BEGIN SOLUTION
    containers.remove(name, kind="container")
    engine("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", *options, API_IMAGE, timeout=120)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", timeout=90)
    except TimeoutError:
        print(containerized.logs(name)[-2000:])
        containers.remove(name, kind="container")
        raise
    return url
    ### END SOLUTION


API_URL = start_api(API_CONTAINER, free_port())
print(API_URL, http.get(f"{API_URL}/health").json())
print(http.post(f"{API_URL}/predict", json=to_payload(SAMPLE.iloc[0])).json())

# %% check="api_image" points=2
_health = http.get(f"{API_URL}/health").json()
assert _health.get("model_sha256") == MODEL_SHA, f"the container should serve model {MODEL_SHA}, /health says {_health}"
_r = http.post(f"{API_URL}/predict", json=to_payload(SAMPLE.iloc[3]))
assert _r.status_code == 200, f"POST /predict answered {_r.status_code}: {_r.text[:300]}"
assert abs(_r.json()["fraud_probability"] - EXPECTED[3]) < 1e-6, (
    f"fraud_probability {_r.json()['fraud_probability']:.6f}, expected {EXPECTED[3]:.6f}"
)
_cfg = containers.inspect(API_IMAGE, "image")["Config"]
assert (_cfg.get("User") or "root").split(":")[0] not in ("root", "0"), (
    f"the image should run as a non-root user, its Config.User is {_cfg.get('User')!r}"
)
assert "8000/tcp" in (_cfg.get("ExposedPorts") or {}), f"expected 8000/tcp in ExposedPorts, saw {_cfg.get('ExposedPorts')}"

# %% check="api_image" points=1
### BEGIN HIDDEN TESTS
_uid = engine("exec", API_CONTAINER, "id", "-u", timeout=60).strip()
assert _uid != "0", "the API process runs as root inside the container"
_hc = healthcheck_status(API_CONTAINER)
assert _hc is not None, "the image has no HEALTHCHECK"
assert _hc == 0, f"the HEALTHCHECK command fails against a healthy API (exit code {_hc})"
_pid1 = engine("exec", API_CONTAINER, "cat", "/proc/1/cmdline", timeout=60).split("\0")
assert Path(_pid1[0]).name not in ("sh", "bash", "dash"), (
    f"PID 1 is a shell ({' '.join(_pid1)}): use the exec form of CMD so uvicorn gets SIGTERM"
)
_bind = containers.inspect(API_CONTAINER, "container")["HostConfig"]["PortBindings"]["8000/tcp"][0]
assert _bind.get("HostIp") == "127.0.0.1", f"publish the port on 127.0.0.1 only, saw HostIp {_bind.get('HostIp')!r}"
_batch = http.post(f"{API_URL}/predict/batch", json={"transactions": [to_payload(r) for _, r in SAMPLE.iterrows()]})
assert _batch.status_code == 200 and np.allclose([p["fraud_probability"] for p in _batch.json()], EXPECTED, atol=1e-6)
# The image is self-contained: the model file is inside it, not mounted from the host.
_mounts = containers.inspect(API_CONTAINER, "container").get("Mounts") or []
assert not _mounts, f"the API should need no mounts to serve, saw {[m.get('Destination') for m in _mounts]}"
_inside = engine("exec", API_CONTAINER, "python", "-c",
                 "import hashlib; print(hashlib.sha256(open('/app/model.joblib', 'rb').read()).hexdigest()[:12])",
                 timeout=60).strip()
assert _inside == MODEL_SHA, f"/app/model.joblib in the image has sha {_inside}, expected {MODEL_SHA}"
### END HIDDEN TESTS

# %% [markdown]
# The image from the outside: the metadata a scheduler reads, and the layers the build added on top of
# the base (`history` shows the instruction that made each; metadata-only steps have size 0).

# %%
if containers.exists(API_IMAGE):
    _cfg = containers.inspect(API_IMAGE, "image")["Config"]
    print({k: _cfg.get(k) for k in ("User", "ExposedPorts", "WorkingDir", "Entrypoint", "Cmd")})
    _img = containers.inspect(API_IMAGE, "image")
    print("healthcheck:", _cfg.get("Healthcheck") or _img.get("Healthcheck"))  # podman: at the top level
    _base = {s.key for s in history(PYTHON_IMAGE)}
    for _step in history(API_IMAGE):
        if _step.key not in _base:
            print("metadata" if _step.empty_layer else "layer   ", _step.created_by[:110])

# %% [markdown]
# ## 2. A batch ETL image: ENTRYPOINT and CMD
#
# A batch container is a program run to completion: a scheduler (cron, Airflow, AWS Batch, a Kubernetes
# `Job`) starts it with arguments, reads its **exit code**, and retries or alerts on failure. Two
# Containerfile instructions decide what runs:
#
# | | `ENTRYPOINT ["python", "/app/etl.py"]` + `CMD ["--date", "2017-12-02"]` |
# |---|---|
# | `run IMAGE` | `python /app/etl.py --date 2017-12-02` — CMD supplies **default arguments** |
# | `run IMAGE --date 2018-01-15` | `python /app/etl.py --date 2018-01-15` — arguments after the image **replace CMD only** |
# | `run --entrypoint python IMAGE -c "..."` | `python -c "..."` — `--entrypoint` replaces the program (and drops CMD) |
#
# Two classic mistakes: the **shell form** `ENTRYPOINT python /app/etl.py` runs `/bin/sh -c "..."`, which
# silently *ignores* CMD and every argument you pass; and putting the whole command in `CMD` means
# `run IMAGE --date X` tries to execute a program called `--date`. Kubernetes names the same two fields
# `command` (ENTRYPOINT) and `args` (CMD); AWS Batch's `command` overrides CMD.
#
# **The job.** `etl.py` (below) reads the raw transactions CSV, computes one day's model features with
# the *same* feature code the model was trained with (`labkit/fraud.py`, copied into the image as
# `fraud_features.py`: one implementation, no training/serving skew) and writes Parquet partitioned by
# date and product, `OUT/date=D/ProductCD=X/`. A rerun replaces the partition (idempotent), and bad
# input ends with a non-zero exit code: **2** bad arguments, **3** no transactions on that date,
# **4** input unreadable.
#
# **The input is in S3.** The raw export lands in a bucket; the job reads it through a **presigned URL**:
# the notebook (the orchestrator, which holds AWS credentials) signs a time-limited GET for one object,
# and the container receives only that URL — no AWS keys inside the container at all. (moto, the S3
# emulator here, accepts any signature; real S3 checks the signature and the expiry.)

# %%
if not any(b["Name"] == BUCKET for b in s3.list_buckets()["Buckets"]):
    s3.create_bucket(Bucket=BUCKET)
s3.upload_file(str(dataset_path("fraud") / "transactions.csv"), BUCKET, "raw/transactions.csv")
RAW_URL = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "raw/transactions.csv"},
                                    ExpiresIn=3600)

ETL_CONTEXT = WORK / "etl"
ETL_CONTEXT.mkdir(exist_ok=True)
(ETL_CONTEXT / "etl.py").write_text(containerized.ETL_JOB)
shutil.copy(labkit.fraud.__file__, ETL_CONTEXT / "fraud_features.py")
(ETL_CONTEXT / "requirements.txt").write_text("numpy==2.4.6\npandas==2.3.3\npyarrow==25.0.1\n")
OUT = WORK / "features"
OUT.mkdir(exist_ok=True)
print(containerized.ETL_JOB[: containerized.ETL_JOB.index("import")])

# %% [markdown]
# **Why `--network host`.** The URL points at `127.0.0.1:<port>`, where moto listens on *this* machine.
# Inside a container, `127.0.0.1` is the container's own loopback (its own network namespace, module
# 13), so the request goes nowhere:

# %%
_fetch = "import os, urllib.request; print(len(urllib.request.urlopen(os.environ['RAW_URL'], timeout=10).read()))"
for _net in ("bridge", "host"):
    _job = run_job(PYTHON_IMAGE, "python", "-c", _fetch, name=DEMO_CONTAINER,
                   options=["--network", _net, "-e", f"RAW_URL={RAW_URL}"], timeout=120)
    print(f"--network {_net}: exit {_job.exit_code}:", _job.logs.strip().splitlines()[-1][:100])

# %% [markdown]
# `--network host` shares the host's network namespace: the job reaches loopback services — all of them,
# which is why production jobs run on a normal network and reach S3 at its real address (or a VPC
# endpoint). Note also what the job does *not* log: the URL. A presigned URL is a credential until it
# expires; the ETL's error messages name the exception, never the source.
#
# The requirements file pins what the job imports. In this image the pins are already installed (the
# `PYTHON_IMAGE` venv), so installing them is a quick check that costs seconds; from a slim base the same
# step downloads and unpacks ~100 MB. Either way it belongs in its **own layer, before the code**: the
# subject of exercise 3.
#
# ### Exercise 2 — the ETL image (2 points)
# 1. Write `ETL_CONTEXT / "Containerfile"`: `ARG BASE` / `FROM ${BASE}`; copy `requirements.txt` and
#    install it (`pip install --no-index -r requirements.txt`: no downloads during builds here) **before**
#    copying `etl.py` and `fraud_features.py` into `/app`; `ENTRYPOINT ["python", "/app/etl.py"]` and
#    `CMD ["--date", "2017-12-02"]`.
# 2. Write `build_etl(tag)`, which builds that context as `tag` (base `PYTHON_IMAGE`), and build
#    `ETL_IMAGE`.
# 3. Write `run_etl(*args, entrypoint=None, image=ETL_IMAGE) -> JobResult` that runs the image to
#    completion with `run_job(image, *args, name=ETL_CONTAINER, options=[...])` where the options give the
#    container: the host network; `RAW_URL` in its environment; `OUT` mounted at `/out`; `--user` set to
#    this notebook's uid:gid (`f"{os.getuid()}:{os.getgid()}"`) so the Parquet files it writes belong to
#    you, not to root; and `--entrypoint` when `entrypoint` is given.
#
# <details><summary>Hint 1</summary>
#
# ```
# WORKDIR /app
# COPY requirements.txt .
# RUN pip install --no-cache-dir --no-index -r requirements.txt
# COPY fraud_features.py etl.py ./
# ```
# </details>
# <details><summary>Hint 2</summary><code>options = ["--network", "host", "-e", f"RAW_URL={RAW_URL}",
# "-v", f"{OUT}:/out", "--user", f"{os.getuid()}:{os.getgid()}"]</code>, plus
# <code>["--entrypoint", entrypoint]</code> when one is given. <code>run_job</code> returns the exit code, the
# logs and the container's <code>inspect</code>.</details>

# %% answer="etl_image"
def build_etl(tag: str) -> str:
    ### BEGIN SOLUTION
    (ETL_CONTEXT / "Containerfile").write_text(
        "ARG BASE\n"
        "FROM ${BASE}\n"
        "WORKDIR /app\n"
        "COPY requirements.txt /app/requirements.txt\n"
        "RUN pip install --no-cache-dir --no-index -r /app/requirements.txt\n"
        "COPY fraud_features.py etl.py /app/\n"
        'ENTRYPOINT ["python", "/app/etl.py"]\n'
        'CMD ["--date", "2017-12-02"]\n'
    )
    return containers.build(ETL_CONTEXT, tag, build_args={"BASE": PYTHON_IMAGE})
    ### END SOLUTION


def run_etl(*args: str, entrypoint: str | None = None, image: str = ETL_IMAGE) -> JobResult:
    ### BEGIN SOLUTION
    options = ["--network", "host", "-e", f"RAW_URL={RAW_URL}", "-v", f"{OUT}:/out",
               "--user", f"{os.getuid()}:{os.getgid()}"]
    if entrypoint:
        options += ["--entrypoint", entrypoint]
    return run_job(image, *args, name=ETL_CONTAINER, options=options, timeout=180)
    ### END SOLUTION


ETL_BUILD_LOG = build_etl(ETL_IMAGE)
_job = run_etl()
print("default run: exit", _job.exit_code, _job.last_json())

# %% [markdown]
# The check computes each day's expected features on the host with `labkit.fraud` and compares them
# with what your container wrote.

# %%
REFERENCE = pd.Timestamp("2017-12-01")


def expected_day(date: str) -> pd.DataFrame:
    """The features the ETL should write for one day, computed here from the same data."""
    start = (pd.Timestamp(date) - REFERENCE).days * 86400
    feats = feature_frame(tx)
    day = tx.loc[feats.index]
    mask = ((day.TransactionDT >= start) & (day.TransactionDT < start + 86400)).to_numpy()
    return feats[mask].set_axis(day.TransactionID[mask].to_numpy()).sort_index()


def written_day(date: str) -> pd.DataFrame:
    got = pd.read_parquet(OUT / f"date={date}")
    return got.set_index("TransactionID").sort_index()

# %% check="etl_image" points=1
_cfg = containers.inspect(ETL_IMAGE, "image")["Config"]
_ep, _cmd = _cfg.get("Entrypoint") or [], _cfg.get("Cmd") or []
assert len(_ep) == 2 and Path(_ep[0]).name in ("python", "python3") and _ep[1] == "/app/etl.py", (
    f"expected ENTRYPOINT ['python', '/app/etl.py'] (exec form), saw {_ep}"
)
assert _cmd == ["--date", "2017-12-02"], f"expected CMD ['--date', '2017-12-02'], saw {_cmd}"
shutil.rmtree(OUT / "date=2018-01-15", ignore_errors=True)
_job = run_etl("--date", "2018-01-15")
assert _job.exit_code == 0, f"`run IMAGE --date 2018-01-15` exited {_job.exit_code}: {_job.logs[-500:]}"
_got, _exp = written_day("2018-01-15"), expected_day("2018-01-15")
assert len(_got) == len(_exp), f"expected {len(_exp)} rows for 2018-01-15, the job wrote {len(_got)}"
assert np.allclose(_got[FEATURES].to_numpy(float), _exp[FEATURES].to_numpy(float)), "features differ from labkit.fraud's"

# %% check="etl_image" points=1
### BEGIN HIDDEN TESTS
# No arguments: CMD's default date.
shutil.rmtree(OUT / "date=2017-12-02", ignore_errors=True)
_job = run_etl()
assert _job.exit_code == 0 and (OUT / "date=2017-12-02").is_dir(), f"a run without arguments should process CMD's date: {_job.logs[-300:]}"
_day = tx[(tx.TransactionDT >= 86400) & (tx.TransactionDT < 2 * 86400)]
_parts = sorted(p.name for p in (OUT / "date=2017-12-02").iterdir())
assert _parts == sorted(f"ProductCD={c}" for c in _day.ProductCD.unique()), f"partitions by product expected, saw {_parts}"
_files = [p for p in (OUT / "date=2017-12-02").rglob("*.parquet")]
assert all(p.stat().st_uid == os.getuid() for p in _files), "the job's files should belong to this notebook's user (--user)"
# Bad input must fail loudly: a day without transactions is the job's exit code 3.
_job = run_etl("--date", "2019-06-01")
assert _job.exit_code == 3, f"run IMAGE --date 2019-06-01 (no data) should exit 3, exited {_job.exit_code}"
# --entrypoint replaces the program.
_job = run_etl("-c", "import sys; print('override'); sys.exit(7)", entrypoint="python")
assert _job.exit_code == 7 and "override" in _job.logs, f"--entrypoint python should run python -c: {_job.exit_code}"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The build cache: dependencies before code
#
# Every instruction produces a layer, and the engine reuses a cached layer when the instruction, its
# parent layer and (for `COPY`/`ADD`) the checksums of the copied files are unchanged. The first changed
# step invalidates **everything after it**. So a Containerfile copies the rarely-changing things first
# (requirements, then installed dependencies) and the often-changing code last: editing `etl.py` then
# rebuilds one small `COPY` layer, not a dependency install that takes minutes (and downloads the
# internet each time) in a real project. Docker BuildKit adds cache *mounts* (`RUN --mount=type=cache`)
# for pip's download cache, and `--cache-from` a registry so CI runners start warm.
#
# The cell below changes the job's code (a version line) and rebuilds with your `build_etl` as
# `ETL_IMAGE_V2`. The rebuild's log says which steps came from the cache:

# %%
_code = (ETL_CONTEXT / "etl.py").read_text()
if "ETL_VERSION" not in _code:
    (ETL_CONTEXT / "etl.py").write_text(_code.replace("import argparse", 'ETL_VERSION = "1.1"\n\nimport argparse', 1))
try:
    _t0 = time.perf_counter()
    REBUILD_LOG = build_etl(ETL_IMAGE_V2)
    print(f"rebuild: {time.perf_counter() - _t0:.1f} s")
    print("\n".join(line for line in REBUILD_LOG.splitlines() if line.startswith(("STEP", "--> Using cache", "#"))))
except (NotImplementedError, EngineError) as exc:
    REBUILD_LOG = ""
    print("rebuild not possible yet:", type(exc).__name__, str(exc)[:200])

# %% [markdown]
# ### Exercise 3 — which layers did the rebuild reuse? (1 point)
# `history(image)` (from `labkit.containerized`) lists an image's build steps oldest first, each with
# `created_by` (the instruction), `empty_layer` (a metadata-only step) and a `key`: the step's creation
# time and instruction. A step taken from the cache keeps the creation time of the build that first made
# it; a rebuilt step gets a new one. Write `cache_report(before, after)` returning
# `{"reused": [...], "rebuilt": [...]}`: the `created_by` of each step of `after` that is **not a step of
# `PYTHON_IMAGE`**, oldest first, under `"reused"` when a step with the same `key` exists in `before`,
# under `"rebuilt"` otherwise. The check also asserts what the report should show for *your* images:
# the dependency install reused, the code copy rebuilt. If it fails there, look at the order in your
# exercise 2 Containerfile.
#
# <details><summary>Hint</summary><code>base = {s.key for s in history(PYTHON_IMAGE)}</code>;
# <code>old = {s.key for s in history(before)}</code>; then one pass over <code>history(after)</code>.</details>

# %% answer="cache"
def cache_report(before: str, after: str) -> dict:
    ### BEGIN SOLUTION
    base = {s.key for s in history(PYTHON_IMAGE)}
    old = {s.key for s in history(before)}
    report = {"reused": [], "rebuilt": []}
    for step in history(after):
        if step.key not in base:
            report["reused" if step.key in old else "rebuilt"].append(step.created_by)
    return report
    ### END SOLUTION


CACHE_REPORT = cache_report(ETL_IMAGE, ETL_IMAGE_V2)
print(json.dumps(CACHE_REPORT, indent=1)[:1500])

# %% check="cache" points=1
_base = {s.key for s in history(PYTHON_IMAGE)}
_old = {s.key for s in history(ETL_IMAGE)}
_new = [s for s in history(ETL_IMAGE_V2) if s.key not in _base]
_truth = {"reused": [s.created_by for s in _new if s.key in _old], "rebuilt": [s.created_by for s in _new if s.key not in _old]}
assert CACHE_REPORT == _truth, f"expected {_truth}, saw {CACHE_REPORT}"
_install = [c for c in _truth["reused"] + _truth["rebuilt"] if "pip" in c and "install" in c]
assert _install, "the ETL image should install its requirements in a RUN step"
assert all(c in _truth["reused"] for c in _install), (
    f"after a code change the dependency install should come from the cache; rebuilt: {_truth['rebuilt']}"
)
assert any("etl.py" in c or "COPY" in c.upper() for c in _truth["rebuilt"]), (
    f"the changed etl.py should be in a rebuilt layer; rebuilt: {_truth['rebuilt']}"
)
### BEGIN HIDDEN TESTS
_same = cache_report(ETL_IMAGE_V2, ETL_IMAGE_V2)
assert _same["rebuilt"] == [] and len(_same["reused"]) == len(_new), f"an image against itself reuses everything: {_same}"
_other = cache_report(ETL_IMAGE, API_IMAGE) if containers.exists(API_IMAGE) else None
if _other is not None:
    _api_new = [s for s in history(API_IMAGE) if s.key not in _base]
    assert len(_other["reused"]) + len(_other["rebuilt"]) == len(_api_new), "only the steps above PYTHON_IMAGE count"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Environment variables and secrets
#
# Configuration that changes between environments goes into **environment variables** (`-e`,
# `--env-file`): the same image runs in staging and production. Secrets are different: whatever sits in
# an image is readable by everyone who can pull it, forever, and whatever is passed with `-e` is shown by
# `inspect` to everyone who can talk to the engine. Here is the mistake, on a throw-away image: an API key
# passed as a build argument and stored with `ENV`.

# %%
LEAK_CONTEXT = WORK / "leaky"
LEAK_CONTEXT.mkdir(exist_ok=True)
(LEAK_CONTEXT / "Containerfile").write_text(
    "ARG BASE\nFROM ${BASE}\nARG API_KEY\nENV API_KEY=${API_KEY}\nRUN echo configured > /etc/fraud-api.conf\n"
)
DEMO_KEY = f"demo-{NAME}-do-not-ship"
containers.build(LEAK_CONTEXT, LEAKY_IMAGE, build_args={"BASE": BASE_IMAGE, "API_KEY": DEMO_KEY})
for _where in secret_leaks(DEMO_KEY, images=[LEAKY_IMAGE]):
    print("LEAK:", _where)

# %% [markdown]
# The `ENV` value is in the image config; the build argument is in the **history** of the `RUN` step that
# saw it (`|1 API_KEY=... /bin/sh -c ...`), so even an `ARG` without `ENV` leaks. Deleting the file or
# unsetting the variable in a later layer does not help: the earlier layer is still in the image. Push
# this image to a registry and the key is public to everyone with pull access.
#
# **Build-time secrets done right** (a private package index token, say): a secret *mount*, which exists
# only while that one `RUN` executes and is written to no layer:

# %%
_token_file = WORK / "build-token.txt"
_token_file.write_text(DEMO_KEY)
_token_file.chmod(0o600)
(LEAK_CONTEXT / "Containerfile.secret").write_text(
    "ARG BASE\nFROM ${BASE}\n"
    'RUN --mount=type=secret,id=token test -s /run/secrets/token && echo "token used" > /etc/build-note\n'
)
containers.build(LEAK_CONTEXT, BUILD_SECRET_IMAGE, file=LEAK_CONTEXT / "Containerfile.secret",
                 build_args={"BASE": BASE_IMAGE}, extra=["--secret", f"id=token,src={_token_file}"])
_token_file.unlink()
print("leaks with a secret mount:", secret_leaks(DEMO_KEY, images=[BUILD_SECRET_IMAGE]) or "none")
print(engine("run", "--rm", BUILD_SECRET_IMAGE, "cat", "/etc/build-note", timeout=60).strip())

# %% [markdown]
# **Run-time secrets.** `-e API_KEY=...` keeps the key out of the image but not out of the engine: the
# container's `inspect` (and `/proc/1/environ`, and any crash dump of the environment) shows it:

# %%
_job = run_job(BASE_IMAGE, "true", name=DEMO_CONTAINER, options=["-e", f"API_KEY={DEMO_KEY}"], timeout=60)
print("container started with -e:", [e for e in _job.inspect["Config"]["Env"] if e.startswith("API_KEY")])

# %% [markdown]
# The safe pattern: the secret lives in a **secrets manager**, the deployer fetches it at start time and
# hands it to the container as a **file** (a tmpfs mount under `/run/secrets/`), and the app reads the
# file (`API_KEY_FILE`, the `_FILE` convention of the official Postgres and MySQL images). podman has
# this built in: `secret create NAME -` (value on stdin) and `run --secret NAME` mounts it at
# `/run/secrets/NAME`. Docker's `docker run` has no `--secret` (only Swarm services do): there you
# bind-mount a file readable only by the container's user, `-v /path/key:/run/secrets/api_key:ro`. ECS
# does the same from AWS Secrets Manager (`secrets` in a task definition), Kubernetes with `Secret`
# volumes.
#
# The API key of this lab is in **AWS Secrets Manager** (moto here):

# %%
API_KEY = hashlib.sha256(f"{NAME}-{time.time()}".encode()).hexdigest()[:32]
try:
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=API_KEY)
except secretsmanager.exceptions.ResourceExistsException:
    secretsmanager.put_secret_value(SecretId=SECRET_ID, SecretString=API_KEY)
print("secret", SECRET_ID, "version", secretsmanager.describe_secret(SecretId=SECRET_ID).get("VersionIdsToStages"))

# %% [markdown]
# ### Exercise 4 — the API with its key as a secret (2 points)
# Write `start_secure_api(name, port)` that reads the **current** key from Secrets Manager
# (`SECRET_ID`), makes it available to a container as a file, and starts the API image with
# `start_api(name, port, options=[...])` so that `/predict` requires the key (`X-API-Key` header) and
# `/health` stays open. The key must not appear in the image (history, inspect) nor in the container's
# `inspect`. The check rotates the key in Secrets Manager and starts your API again.
#
# <details><summary>Hint 1</summary>Remove the old container first (a secret in use cannot be removed),
# then <code>engine("secret", "rm", ENGINE_SECRET, check=False)</code> and
# <code>engine("secret", "create", ENGINE_SECRET, "-", input=key)</code>.</details>
# <details><summary>Hint 2</summary>Options: <code>["--secret", ENGINE_SECRET, "-e",
# f"API_KEY_FILE=/run/secrets/{ENGINE_SECRET}"]</code>. The path is not secret; the file's content is.
# (With Docker: write the key to a file with mode 0400 and bind-mount it instead.)</details>

# %% answer="secrets"
def start_secure_api(name: str, port: int) -> str:
    ### BEGIN SOLUTION
    key = secretsmanager.get_secret_value(SecretId=SECRET_ID)["SecretString"]
    containers.remove(name, kind="container")
    engine("secret", "rm", ENGINE_SECRET, check=False, timeout=60)
    engine("secret", "create", ENGINE_SECRET, "-", input=key, timeout=60)
    options = ["--secret", ENGINE_SECRET, "-e", f"API_KEY_FILE=/run/secrets/{ENGINE_SECRET}"]
    return start_api(name, port, options=options)
    ### END SOLUTION


SECURE_URL = start_secure_api(SECURE_CONTAINER, free_port())
print(SECURE_URL, http.get(f"{SECURE_URL}/health").json())

# %% check="secrets" points=1
_body = to_payload(SAMPLE.iloc[5])
assert http.get(f"{SECURE_URL}/health").status_code == 200, "/health should stay open"
_code = http.post(f"{SECURE_URL}/predict", json=_body).status_code
assert _code == 401, f"/predict without a key should answer 401, answered {_code}"
_r = http.post(f"{SECURE_URL}/predict", json=_body, headers={"X-API-Key": API_KEY})
assert _r.status_code == 200, f"/predict with the key from Secrets Manager answered {_r.status_code}"
_leaks = secret_leaks(API_KEY, images=[API_IMAGE], containers_=[SECURE_CONTAINER])
assert not _leaks, f"the key is visible to anyone with engine access: {_leaks}"

# %% check="secrets" points=1
### BEGIN HIDDEN TESTS
assert http.post(f"{SECURE_URL}/predict", json=_body, headers={"X-API-Key": "not-the-key"}).status_code == 403
# Rotation: a new key in Secrets Manager, a new start: the new key works, the old one does not.
_rotated = hashlib.sha256(f"rotated-{API_KEY}".encode()).hexdigest()[:32]
secretsmanager.put_secret_value(SecretId=SECRET_ID, SecretString=_rotated)
SECURE_URL = start_secure_api(SECURE_CONTAINER, free_port())
_code_new = http.post(f"{SECURE_URL}/predict", json=_body, headers={"X-API-Key": _rotated}).status_code
_code_old = http.post(f"{SECURE_URL}/predict", json=_body, headers={"X-API-Key": API_KEY}).status_code
assert (_code_new, _code_old) == (200, 403), f"after rotation: new key -> {_code_new}, old key -> {_code_old}"
_leaks = secret_leaks(_rotated, images=[API_IMAGE], containers_=[SECURE_CONTAINER])
assert not _leaks, f"the rotated key is visible: {_leaks}"
_env = engine("exec", SECURE_CONTAINER, "cat", "/proc/1/environ", timeout=60)
assert _rotated not in _env, "the key is in the API process's environment"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Memory limits, CPU quotas, CPU pinning
#
# Without limits a container may use all the host's memory and CPUs; one leaky batch job then takes down
# the API next to it. The engine turns `run` flags into **cgroup** settings that the kernel enforces:
#
# | flag | cgroup setting | what happens at the limit |
# |---|---|---|
# | `--memory 128m` (+ `--memory-swap 128m`: no swap on top) | memory limit | the kernel's **OOM killer** kills the biggest process: exit code 137 (128 + SIGKILL) |
# | `--cpus 0.5` | CFS quota: 50 ms of CPU per 100 ms period | the container is **throttled**, never killed: slower, not dead |
# | `--cpuset-cpus 0` | cpuset: which CPUs it may run on (**pinning**) | keeps a latency-critical API off the cores a batch job hammers; on NUMA hosts, near its memory |
#
# A trap for ML code: `os.cpu_count()` (what numpy's BLAS, PyTorch and `n_jobs=-1` look at) still
# reports the **host's** CPUs inside a container with `--cpus 0.5`; size thread pools from the quota
# (`OMP_NUM_THREADS`, uvicorn `--workers`) or the container will thrash against its own throttle.
#
# How much does our API use? `stats` reads the same cgroup counters the kernel enforces:

# %%
try:
    _stats = json.loads(engine("stats", "--no-stream", "--format", "json", API_CONTAINER, timeout=60))
    _stats = _stats[0] if isinstance(_stats, list) else _stats
    print({k: _stats.get(k) for k in ("name", "mem_usage", "cpu_percent", "pids")})
except (EngineError, ValueError) as exc:
    print("the API container is not running:", str(exc)[:200])

# %% [markdown]
# To observe limits from the inside we use a small **probe** job (`labkit.containerized.LIMITS_PROBE`):
# it reads the limits from its cgroup, starts a worker that allocates `--alloc-mb` MiB and burns CPU for
# `--burn-s` seconds, and prints a JSON report: the limits it saw, the CPUs it may run on, how the worker
# ended and the kernel's OOM-kill counter. Engines record OOM kills differently — Docker sets
# `State.OOMKilled`; podman 4.3 on this host's cgroup v1 leaves it `false` even when the kernel killed
# — so the probe reads the kernel's own counter (`oom_kill` in `memory.oom_control` / `memory.events`).
#
# ### Exercise 5 — limits applied and observed (2 points)
# Write `run_limited(alloc_mb, burn_s, memory, cpus, cpuset)` that runs the probe
# (`python /probe/probe.py --alloc-mb A --burn-s B`, the file mounted read-only from `PROBE_DIR`) in
# `PYTHON_IMAGE` with `run_job(..., name=PROBE_CONTAINER)`, limited to `memory` (no extra swap), `cpus`
# CPUs and pinned to `cpuset`, and returns a dict: `exit_code`, `report` (the probe's JSON), and the
# limits as the **engine** recorded them: `memory_bytes`, `nano_cpus`, `cpuset` (from the container's
# `HostConfig`).
#
# <details><summary>Hint 1</summary><code>["--memory", memory, "--memory-swap", memory, "--cpus", str(cpus),
# "--cpuset-cpus", cpuset, "-v", f"{PROBE_DIR}:/probe:ro"]</code></details>
# <details><summary>Hint 2</summary><code>job.host_config["Memory"]</code>, <code>["NanoCpus"]</code>,
# <code>["CpusetCpus"]</code>; <code>job.last_json()</code> is the report.</details>

# %%
PROBE_DIR = WORK / "probe"
PROBE_DIR.mkdir(exist_ok=True)
(PROBE_DIR / "probe.py").write_text(containerized.LIMITS_PROBE)

# %% answer="limits"
def run_limited(alloc_mb: int, burn_s: float, memory: str, cpus: float, cpuset: str) -> dict:
    ### BEGIN SOLUTION
    options = ["--memory", memory, "--memory-swap", memory, "--cpus", str(cpus), "--cpuset-cpus", cpuset,
               "-v", f"{PROBE_DIR}:/probe:ro"]
    job = run_job(PYTHON_IMAGE, "python", "/probe/probe.py", "--alloc-mb", str(alloc_mb), "--burn-s", str(burn_s),
                  name=PROBE_CONTAINER, options=options, timeout=120)
    return {
        "exit_code": job.exit_code,
        "report": job.last_json(),
        "memory_bytes": job.host_config.get("Memory"),
        "nano_cpus": job.host_config.get("NanoCpus"),
        "cpuset": job.host_config.get("CpusetCpus"),
    }
    ### END SOLUTION


OOM_RUN = run_limited(alloc_mb=300, burn_s=0, memory="128m", cpus=1.0, cpuset="0")
OK_RUN = run_limited(alloc_mb=64, burn_s=1.0, memory="256m", cpus=0.5, cpuset="0")
for _label, _run in (("300 MiB in 128m", OOM_RUN), ("64 MiB in 256m, 0.5 CPU", OK_RUN)):
    print(f"{_label}: exit {_run['exit_code']}", _run["report"])

# %% check="limits" points=1
assert OOM_RUN["exit_code"] == 137, f"a 300 MiB worker under --memory 128m should end with 137, saw {OOM_RUN['exit_code']}"
assert OOM_RUN["report"] and OOM_RUN["report"]["oom_kills"] >= 1, f"the kernel should report an OOM kill: {OOM_RUN['report']}"
assert OOM_RUN["memory_bytes"] == 128 * 2**20, f"HostConfig.Memory should be 134217728, saw {OOM_RUN['memory_bytes']}"
assert OK_RUN["exit_code"] == 0, f"64 MiB under --memory 256m should succeed, exit {OK_RUN['exit_code']}: {OK_RUN['report']}"
_rep = OK_RUN["report"]
assert _rep["memory_limit_bytes"] == 256 * 2**20, f"inside, the memory limit should be 256 MiB, saw {_rep['memory_limit_bytes']}"
assert _rep["cpu_quota"] is not None and abs(_rep["cpu_quota"] - 0.5) < 0.01, f"inside, the CPU quota should be 0.5, saw {_rep['cpu_quota']}"
assert _rep["affinity"] == [0], f"pinned to CPU 0, the worker may run on {_rep['affinity']}"

# %% check="limits" points=1
### BEGIN HIDDEN TESTS
assert OK_RUN["nano_cpus"] == 500_000_000, f"HostConfig.NanoCpus should be 5e8 for --cpus 0.5, saw {OK_RUN['nano_cpus']}"
assert OK_RUN["cpuset"] == "0", f"HostConfig.CpusetCpus should be '0', saw {OK_RUN['cpuset']!r}"
assert _rep["worker_cpu_s"] <= 0.65 * _rep["worker_wall_s"] + 0.05, (
    f"with --cpus 0.5 the worker cannot use more than half a CPU: {_rep['worker_cpu_s']} s CPU in {_rep['worker_wall_s']} s"
)
# Other values: the answer must pass its arguments through, not repeat the examples.
_cpu = "1" if (os.cpu_count() or 1) > 1 else "0"
_run = run_limited(alloc_mb=32, burn_s=0, memory="200m", cpus=1.5 if (os.cpu_count() or 1) > 1 else 0.75, cpuset=_cpu)
assert _run["exit_code"] == 0, f"32 MiB under 200m should succeed: {_run}"
assert _run["report"]["memory_limit_bytes"] == 200 * 2**20, f"--memory 200m: the probe saw {_run['report']['memory_limit_bytes']}"
assert _run["report"]["affinity"] == [int(_cpu)], f"--cpuset-cpus {_cpu}: the probe may run on {_run['report']['affinity']}"
assert _run["nano_cpus"] in (1_500_000_000, 750_000_000), f"NanoCpus {_run['nano_cpus']}"
assert _run["report"]["oom_kills"] == 0
### END HIDDEN TESTS

# %% [markdown]
# Read the two reports: the OOM run's worker died of signal 9 and the kernel counted the kill; the
# limited run's worker got at most half a CPU although `cpu_count` still says the host's number. Under a
# memory limit the right reaction to 137 is to measure the job's peak (`stats`, or a profile) and set the
# limit above it with headroom — or to make the job stream its data in chunks. Memory is
# **incompressible** (over the limit means dead); CPU is **compressible** (over the quota means slow).
#
# ## Wrap-up
#
# - An online model service image: model + code inside, non-root numeric `USER`, `EXPOSE`, a
#   `HEALTHCHECK`, exec-form `CMD` (PID 1 gets `SIGTERM`), published on loopback only.
# - A batch image: `ENTRYPOINT` is the program, `CMD` the default arguments a scheduler replaces;
#   meaningful exit codes; idempotent partitioned output; `--user` for files on mounted volumes.
# - Configuration in environment variables; secrets neither in the image (history and config are public
#   to whoever pulls) nor in `-e` (inspect), but in a secrets manager, delivered as a file.
# - Layers ordered by how often they change; limits set from measurements and observed in the kernel.
#
# **What the cloud tier adds.** The images go to ECR (module 16). The API runs as an **ECS/Fargate**
# service: `cpu`/`memory` in the task definition become these same cgroup limits (Fargate also sizes the
# micro-VM from them), and the container `healthCheck` replaces the engine's. ECS `secrets` (a Secrets
# Manager ARN in the task definition) keep the value out of the image and the task definition: the agent
# fetches it with the task's execution role at start — but injects it as an environment variable, so
# for a *file* the app reads Secrets Manager itself with its task role (as exercise 4's deployer did), or
# a sidecar writes it to a shared volume. The ETL runs as an **AWS Batch** job or an ECS scheduled task:
# the job definition's `command` overrides CMD, the exit code decides retries, and the job reads S3
# through its IAM role (no presigned URL needed, never access keys in the container).
# SageMaker's bring-your-own-container contract is the same idea as section 2: it runs your image with
# the argument `serve` or `train`. What did not run here: a real network between the job and S3 (we
# shared the host network), signature checking (moto accepts any presigned signature), and BuildKit's
# cache mounts and registry cache.
#
# Cleanup:

# %%
cleanup_engine()
try:
    secretsmanager.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
except secretsmanager.exceptions.ResourceNotFoundException:
    pass
for _obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
    s3.delete_object(Bucket=BUCKET, Key=_obj["Key"])
s3.delete_bucket(Bucket=BUCKET)
http.close()
shutil.rmtree(WORK, ignore_errors=True)
print("removed containers, images, the engine secret, the Secrets Manager secret, the bucket and the work dir of", NAME)
