# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 14 — Writing Dockerfiles for ML applications
#
# **Where this sits:** module 13 opened the box (namespaces, cgroups, layers, registries). This lab is
# about the recipe: the Dockerfile of the running project's **fraud scorer**, a small batch app that
# loads a logistic-regression model and scores a CSV of transactions. Module 15 packages the FastAPI
# service and the ETL jobs the same way; module 16 versions and ships the images; module 18 adds GPUs.
#
# **You will:**
# 1. **structure** a Dockerfile for a Python/ML project so that editing code does not reinstall the
#    dependencies, and *prove* it by rebuilding and reading which steps came from the layer cache;
# 2. cut the **build context** with a `.dockerignore` (data, `.git`, `__pycache__`...), measured in bytes;
# 3. write a **multi-stage build**: install in a fat builder image, ship only the virtualenv on a slim
#    runtime image, and measure how much smaller it is;
# 4. manage Python dependencies with a **pip lock file** (pinned and hashed, installed offline from a
#    wheelhouse), and see how poetry and conda do the same job;
# 5. add **system-level libraries** (what OpenCV and LightGBM load at import time) with an apt layer that
#    stays small, and know where CUDA libraries come from;
# 6. gate every Dockerfile on **hadolint** with a team policy.
#
# **The engine here** is podman driven with Docker CLI commands (module 13). Every Containerfile takes
# its base images as build arguments: `PY_IMAGE` (here `PYTHON_IMAGE`: Debian's Python 3.11 with pip,
# venv and the course's ML stack — it plays the role of the fat `python:3.11` image) and `BASE` (here
# `BASE_IMAGE`: Debian minbase with python3 — the slim runtime, like `python:3.11-slim`). With Docker on
# your laptop set `PYTHON_IMAGE=python:3.11` and `BASE_IMAGE=python:3.11-slim`. No build downloads from
# PyPI: the wheels come from a local **wheelhouse** (`WHEELHOUSE`), the way air-gapped CI runners work.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
CONTAINER_ENGINE = os.environ.get("CONTAINER_ENGINE", "docker")
CONTAINER_HOST = os.environ.get("CONTAINER_HOST", "")
LOCAL_REGISTRY = os.environ.get("LOCAL_REGISTRY", "127.0.0.1:5000")
BASE_IMAGE = os.environ.get("BASE_IMAGE", "debian:bookworm")
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "python:3.11-slim")
WHEELHOUSE = os.environ.get("WHEELHOUSE", "")

# %% [markdown]
# ## Setup: the project
# The cell below lays out the fraud scorer's repository as a data scientist would have it: the app and
# its `fraudscore` package, the trained model, the dependency files, a `wheels/` folder — and also the
# things a repository collects: `data/` (a CSV and a 40 MB feature cache), `.git`, notebooks with their
# checkpoints, tests, and `__pycache__` folders. Images and containers are named from `RUN_ID`; the cell
# removes leftovers of a previous run.
#
# Builds go through `dockerfile.build(context, tag, file=..., build_args=...)`: `containers.build` (module
# 13), retried once if the shared engine kills a step from outside (never when your instruction fails).
# It returns the build log.

# %% locked=true
import compileall
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

from labkit import containers, dockerfile, labenv
from labkit.containers import EngineError, engine
from mlops_datasets import path as dataset_path

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST)
NAME = labenv.resource_name("m014", RUN_ID)
WORK = (Path("m014-work") / NAME).resolve()
PROJECT = WORK / "fraud-scorer"
FRAUD_DIR = dataset_path("fraud")
APP_IMAGE = f"localhost/{NAME}-scorer:single"
MULTI_IMAGE = f"localhost/{NAME}-scorer:multi"
PROBE_IMAGE = f"localhost/{NAME}-context:probe"
SYS_IMAGE = f"localhost/{NAME}-sysdeps:1"
IMAGES = (APP_IMAGE, MULTI_IMAGE, PROBE_IMAGE, SYS_IMAGE)
BUILD_ARGS = {"PY_IMAGE": PYTHON_IMAGE, "BASE": BASE_IMAGE}
LOCKED_PACKAGES = ("numpy", "joblib")  # what the scorer imports; pip's resolver adds their dependencies

containers.remove(*IMAGES)
shutil.rmtree(WORK, ignore_errors=True)
(PROJECT / "fraudscore").mkdir(parents=True)

(PROJECT / "fraudscore" / "__init__.py").write_text('"""Fraud scoring: features and model."""\n')
(PROJECT / "fraudscore" / "features.py").write_text('''\
"""The feature vector of one transaction (a row of transactions.csv, as strings)."""

import math

RISKY_DOMAINS = {"anonymous.com", "protonmail.com", "mail.com"}
NAMES = ["log_amount", "night", "no_device", "product_c", "risky_email", "round_amount"]


def features(row: dict) -> list:
    amount = float(row["TransactionAmt"])
    hour = (int(float(row["TransactionDT"])) // 3600) % 24
    return [
        math.log1p(amount),
        float(hour < 6),
        float(row["DeviceType"] == ""),
        float(row["ProductCD"] == "C"),
        float(row["P_emaildomain"] in RISKY_DOMAINS),
        float(amount % 50 == 0),
    ]
''')
(PROJECT / "app.py").write_text('''\
"""Batch fraud scoring: python app.py [transactions.csv] -> one JSON line with the batch's scores."""

import csv
import json
import sys
from pathlib import Path

import joblib
import numpy as np

from fraudscore.features import features

MODEL = joblib.load(Path(__file__).with_name("model.joblib"))


def score(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    X = np.array([features(r) for r in rows])
    p = 1.0 / (1.0 + np.exp(-(X @ MODEL["coef"] + MODEL["intercept"])))
    return {"model": MODEL["version"], "n": len(rows), "mean_score": float(p.mean()),
            "flagged": int((p >= MODEL["threshold"]).sum())}


if __name__ == "__main__":
    print(json.dumps(score(sys.argv[1] if len(sys.argv) > 1 else "/data/transactions.csv")))
''')
(PROJECT / "tests").mkdir()
(PROJECT / "tests" / "test_features.py").write_text(
    "from fraudscore.features import features\n\n\ndef test_round_amount():\n"
    "    row = {'TransactionAmt': '100', 'TransactionDT': '0', 'DeviceType': '', 'ProductCD': 'W',"
    " 'P_emaildomain': ''}\n    assert features(row)[-1] == 1.0\n"
)
(PROJECT / "README.md").write_text("# fraud-scorer\n\nBatch scoring of the fraud transactions.\n")

# Train the model here (the notebook is the "training job"); the app only needs numpy and joblib to score.
sys.path.insert(0, str(PROJECT))
_spec = importlib.util.spec_from_file_location("m014_scorer_app", PROJECT / "fraudscore" / "features.py")
_features_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_features_mod)
import csv  # noqa: E402

with open(FRAUD_DIR / "transactions.csv", newline="") as _f:
    _rows = sorted(csv.DictReader(_f), key=lambda r: float(r["TransactionDT"]))
_X = np.array([_features_mod.features(r) for r in _rows])
_y = np.array([int(r["isFraud"]) for r in _rows])
_clf = LogisticRegression(max_iter=500, random_state=0).fit(_X, _y)
joblib.dump({"version": "logreg-v1", "coef": _clf.coef_[0], "intercept": float(_clf.intercept_[0]),
             "threshold": 0.5, "features": _features_mod.NAMES}, PROJECT / "model.joblib")
_spec = importlib.util.spec_from_file_location("m014_scorer_app", PROJECT / "app.py")
_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_app)
REFERENCE = _app.score(FRAUD_DIR / "transactions.csv")  # what the containerised scorer must print

# The wheelhouse: the exact wheels the lock file resolves to (on a laptop with Docker and internet, the
# fallback downloads them once).
if not WHEELHOUSE:
    WHEELHOUSE = str(WORK / "wheelhouse")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version",
                    "3.11", "--platform", "manylinux_2_28_x86_64", "-d", WHEELHOUSE, *LOCKED_PACKAGES], check=True)
(PROJECT / "requirements.in").write_text("".join(f"{p}\n" for p in LOCKED_PACKAGES))
(PROJECT / "requirements.txt").write_text(dockerfile.pip_lock(PROJECT / "requirements.in", WHEELHOUSE))
LOCK = dockerfile.parse_lock((PROJECT / "requirements.txt").read_text())
(PROJECT / "wheels").mkdir()
for _whl in Path(WHEELHOUSE).glob("*.whl"):
    _dist = _whl.name.split("-")[0].lower().replace("_", "-")
    if _dist in LOCK and f"-{LOCK[_dist]}-" in _whl.name:
        shutil.copy2(_whl, PROJECT / "wheels" / _whl.name)

# What else lives in the repository.
(PROJECT / "data").mkdir()
shutil.copy2(FRAUD_DIR / "transactions.csv", PROJECT / "data" / "transactions.csv")
np.save(PROJECT / "data" / "features_cache.npy",
        np.random.default_rng(0).standard_normal((156_250, 64), dtype=np.float32))  # 40 MB
(PROJECT / "notebooks" / ".ipynb_checkpoints").mkdir(parents=True)
for _nb in ("notebooks/explore.ipynb", "notebooks/.ipynb_checkpoints/explore-checkpoint.ipynb"):
    (PROJECT / _nb).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
compileall.compile_dir(str(PROJECT / "fraudscore"), quiet=1)
compileall.compile_dir(str(PROJECT / "tests"), quiet=1)
_git = ["git", "-C", str(PROJECT), "-c", "user.name=lab", "-c", "user.email=lab@example.com"]
subprocess.run([*_git, "init", "-q"], check=True)
subprocess.run([*_git, "add", "app.py", "fraudscore/__init__.py", "fraudscore/features.py", "tests", "README.md",
                "requirements.in", "requirements.txt", "data/transactions.csv"], check=True)
subprocess.run([*_git, "commit", "-q", "-m", "fraud scorer"], check=True)


def score_in(image: str, *run_args: str) -> dict:
    """Run the scorer image on the fraud CSV (mounted read-only at /data, no network); its JSON line."""
    out = engine("run", "--rm", "--network", "none", "-v", f"{FRAUD_DIR}:/data:ro", *run_args, image, timeout=180)
    return json.loads(out.strip().splitlines()[-1])


def touch(path: Path) -> None:
    """Change a file the way an edit does (a new comment line), so its COPY step cannot come from the cache."""
    with open(path, "a") as f:
        f.write(f"# edited {time.time_ns()}\n")


print("engine:", " ".join(containers.engine_argv()))
print("reference scoring:", REFERENCE)
print("lock:", LOCK)
print(subprocess.run(["find", ".", "-maxdepth", "2", "-not", "-path", "./.git/*"], cwd=PROJECT,
                     capture_output=True, text=True).stdout)

# %% [markdown]
# ## 1. Structure: order the instructions for the layer cache
#
# Every instruction of a Dockerfile produces a layer, and the builder **reuses** a layer from its cache
# when the instruction and everything it depends on are unchanged: for `RUN`, the instruction text and
# the layer below; for `COPY`/`ADD`, also the *content* of the copied files. The first step whose cache
# key changes is rebuilt — **and every step after it**. So the order is a design decision:
#
# ```dockerfile
# # slow: any code edit invalidates the COPY, so pip reinstalls everything on every build
# COPY . /app
# RUN pip install -r /app/requirements.txt
#
# # fast: dependencies change rarely, code changes often -> dependencies first
# COPY requirements.txt /tmp/
# RUN pip install -r /tmp/requirements.txt
# COPY app.py /app/
# ```
#
# Other structure rules of thumb for Python/ML images: pin the base image (a tag, better a digest —
# never `latest`); install into a **virtualenv** (one self-contained folder you can copy: section 3);
# `pip install --no-cache-dir` (pip's cache is dead weight in an image); set `WORKDIR` rather than
# `cd`; exec-form `ENTRYPOINT`/`CMD` (`["python", "app.py"]`, so signals reach Python); run as a non-root
# `USER`; keep the model file and the code in their own late layers; `ENV PYTHONDONTWRITEBYTECODE=1
# PYTHONUNBUFFERED=1` for clean layers and live logs.
#
# The project's `requirements.txt` is a **lock file** (section 4): every package of the resolved
# closure pinned with its sha256. Installing it offline from the wheels in the context is:
# `pip install --no-cache-dir --no-index --find-links /wheels -r requirements.txt`.

# %% [markdown]
# ### Exercise 1 — a cache-friendly Dockerfile (2 points)
# Write `PROJECT / "Containerfile"` for the scorer:
# - `ARG PY_IMAGE` then `FROM ${PY_IMAGE}` (the builder passes `--build-arg PY_IMAGE=...`);
# - create a virtualenv at `/venv` (`python3 -m venv /venv`) and install the lock file into it with
#   `/venv/bin/pip`, offline from `wheels/`, **before** any application file is copied;
# - then copy `app.py`, the `fraudscore/` package and `model.joblib` to `/app`;
# - `ENTRYPOINT ["/venv/bin/python", "/app/app.py"]` so that `run IMAGE` scores
#   `/data/transactions.csv` (the check mounts the fraud data there) and `run IMAGE other.csv` works too.
#
# The check builds it as `APP_IMAGE`, runs it, then edits `app.py` and rebuilds: the `pip install` step
# must come from the cache, the step that copies `app.py` must not. `dockerfile.build_steps(log)` reads a
# build log into steps with a `cached` flag — try it on your own rebuilds.
#
# <details><summary>Hint 1</summary>Two COPY instructions after the install:
# <code>COPY app.py model.joblib /app/</code> and <code>COPY fraudscore/ /app/fraudscore/</code>.</details>
# <details><summary>Hint 2</summary><code>dockerfile.build(PROJECT, APP_IMAGE, file=PROJECT / "Containerfile",
# build_args=BUILD_ARGS)</code> returns the log; print
# <code>[(s.instruction[:50], s.cached) for s in dockerfile.build_steps(log)]</code>.</details>
# <details><summary>Hint 3</summary>Python puts the script's folder on <code>sys.path</code>, so
# <code>/app/app.py</code> finds <code>/app/fraudscore</code> without <code>WORKDIR</code>; set
# <code>WORKDIR /app</code> anyway.</details>

# %% answer="cache"
### BEGIN SOLUTION
(PROJECT / "Containerfile").write_text("""\
ARG PY_IMAGE
FROM ${PY_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN python3 -m venv /venv
COPY requirements.txt /tmp/requirements.txt
COPY wheels/ /wheels/
RUN /venv/bin/pip install --no-cache-dir --no-index --find-links /wheels -r /tmp/requirements.txt
WORKDIR /app
COPY fraudscore/ /app/fraudscore/
COPY app.py model.joblib /app/
ENTRYPOINT ["/venv/bin/python", "/app/app.py"]
""")
### END SOLUTION
print((PROJECT / "Containerfile").read_text())

# %% check="cache" points=1
_log = dockerfile.build(PROJECT, APP_IMAGE, file=PROJECT / "Containerfile", build_args=BUILD_ARGS)
_out = score_in(APP_IMAGE)
assert _out["n"] == REFERENCE["n"] and _out["flagged"] == REFERENCE["flagged"], f"expected {REFERENCE}, saw {_out}"
assert abs(_out["mean_score"] - REFERENCE["mean_score"]) < 1e-9, f"expected {REFERENCE}, saw {_out}"
touch(PROJECT / "app.py")
_steps = dockerfile.build_steps(
    dockerfile.build(PROJECT, APP_IMAGE, file=PROJECT / "Containerfile", build_args=BUILD_ARGS)
)
_pip = [i for i, s in enumerate(_steps) if "pip install" in s.instruction]
assert _pip, f"no `pip install` step in the build: {[s.instruction for s in _steps]}"
_redone = [s.instruction for s in _steps[: _pip[-1] + 1] if not s.cached]
assert not _redone, f"after editing app.py these steps up to the pip install were rebuilt, expected none: {_redone}"
assert any(not s.cached for s in _steps[_pip[-1] + 1 :]), "editing app.py should rebuild the step that copies it"
print("rebuild after editing app.py:", [(s.instruction[:40], "cached" if s.cached else "rebuilt") for s in _steps])

# %% check="cache" points=1
### BEGIN HIDDEN TESTS
# An edit inside the package must not reinstall the dependencies either, and the scorer still works.
touch(PROJECT / "fraudscore" / "features.py")
_steps = dockerfile.build_steps(
    dockerfile.build(PROJECT, APP_IMAGE, file=PROJECT / "Containerfile", build_args=BUILD_ARGS)
)
_pip = [i for i, s in enumerate(_steps) if "pip install" in s.instruction]
_redone = [s.instruction for s in _steps[: _pip[-1] + 1] if not s.cached]
assert not _redone, f"after editing fraudscore/features.py these steps were rebuilt, expected none: {_redone}"
_out = score_in(APP_IMAGE)
assert _out["n"] == REFERENCE["n"], f"expected {REFERENCE}, saw {_out}"
# Another input file as argument (ENTRYPOINT, not CMD, holds the program).
_other = engine("run", "--rm", "--network", "none", "-v", f"{FRAUD_DIR}:/in:ro", APP_IMAGE, "/in/transactions.csv",
                timeout=180)
assert json.loads(_other.strip().splitlines()[-1])["n"] == REFERENCE["n"], f"`run IMAGE /in/transactions.csv` said {_other!r}"
# The venv holds exactly the locked versions.
_ver = engine("run", "--rm", "--entrypoint", "/venv/bin/python", APP_IMAGE, "-c",
              "import numpy, joblib; print(numpy.__version__, joblib.__version__)", timeout=120).split()
assert _ver == [LOCK["numpy"], LOCK["joblib"]], f"the venv should hold the locked numpy/joblib {LOCK}, saw {_ver}"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The build context and `.dockerignore`
#
# `docker build PATH` first packs **everything under PATH** into a tarball and sends it to the engine
# (over the API socket, or to a remote builder in CI). Your exercise-1 builds sent the whole repository
# every time — including the data, `.git` and the notebooks that no `COPY` uses:

# %%
_all = dockerfile.context_files(PROJECT, [])
_top: dict[str, int] = {}
for _rel, _size in _all.items():
    _key = _rel.split("/")[0]
    _top[_key] = _top.get(_key, 0) + _size
print(f"context without .dockerignore: {sum(_all.values()) / 1e6:.1f} MB in {len(_all)} files")
for _key, _size in sorted(_top.items(), key=lambda kv: -kv[1])[:8]:
    print(f"  {_size / 1e6:8.2f} MB  {_key}")

# %% [markdown]
# A `.dockerignore` at the root of the context lists what *not* to send. Its patterns are **not**
# `.gitignore` patterns: they are anchored at the context root (`__pycache__` matches only
# `./__pycache__`; `**/__pycache__` matches at every depth), `*` stays within one path segment, `!` re-
# includes, and the last matching line wins. `dockerfile.context_files(PROJECT)` applies the patterns
# exactly as the engines do, so you can measure before you build. A smaller context builds faster, and
# `COPY . /app` can no longer ship your data or your `.git` history (with its secrets) into an image.
#
# ### Exercise 2 — a `.dockerignore` that sends only what the image needs (2 points)
# Write `PROJECT / ".dockerignore"` so that the context keeps `app.py`, `fraudscore/*.py`,
# `model.joblib`, `requirements.txt` and `wheels/*.whl`, and drops `.git/`, `data/`, `notebooks/`,
# `tests/`, and every `__pycache__` folder and `.pyc` file **at any depth**. The check builds an image
# with `COPY . /ctx` and lists what arrived.
#
# <details><summary>Hint 1</summary>One pattern per line: <code>.git</code>, <code>data</code>, ...
# A directory pattern excludes everything below it.</details>
# <details><summary>Hint 2</summary><code>**/__pycache__</code> and <code>**/*.pyc</code>.</details>

# %% answer="ignore"
### BEGIN SOLUTION
(PROJECT / ".dockerignore").write_text("""\
# version control, data and notebooks never go into the image
.git
data
notebooks
tests
# Python's bytecode, at every depth
**/__pycache__
**/*.pyc
""")
### END SOLUTION
CONTEXT_BEFORE = dockerfile.context_size(PROJECT, [])
CONTEXT_AFTER = dockerfile.context_size(PROJECT)
print(f"context: {CONTEXT_BEFORE / 1e6:.1f} MB -> {CONTEXT_AFTER / 1e6:.1f} MB")


# %%
def context_in_image(marker: str = "probe") -> set[str]:
    """Build `COPY . /ctx` from PROJECT (with its .dockerignore) and list the files that arrived."""
    probe_file = PROJECT / f".{marker}.Containerfile"
    probe_file.write_text("ARG BASE\nFROM ${BASE}\nCOPY . /ctx\n")
    try:
        dockerfile.build(PROJECT, PROBE_IMAGE, file=probe_file, build_args={"BASE": BASE_IMAGE})
    finally:
        probe_file.unlink()
    listing = engine("run", "--rm", PROBE_IMAGE, "find", "/ctx", "-type", "f", timeout=120).split()
    return {p.removeprefix("/ctx/") for p in listing} - {probe_file.name}


# %% check="ignore" points=1
_seen = context_in_image()
_need = {"app.py", "model.joblib", "requirements.txt", "fraudscore/__init__.py", "fraudscore/features.py"}
assert _need <= _seen, f"the context must keep {sorted(_need)}, missing {sorted(_need - _seen)}"
assert any(p.startswith("wheels/") and p.endswith(".whl") for p in _seen), "the wheels/ must stay in the context"
_junk = sorted(p for p in _seen if p.startswith((".git/", "data/", "notebooks/", "tests/")) or "__pycache__" in p
               or p.endswith(".pyc"))
assert not _junk, f"these should have stayed out of the context: {_junk[:8]}"
assert CONTEXT_AFTER < 0.5 * CONTEXT_BEFORE, f"expected the context to shrink by half or more, saw {CONTEXT_BEFORE} -> {CONTEXT_AFTER}"
print(f"{len(_seen)} files arrived; context {CONTEXT_BEFORE / 1e6:.1f} MB -> {CONTEXT_AFTER / 1e6:.1f} MB")

# %% check="ignore" points=1
### BEGIN HIDDEN TESTS
# New bytecode and data appear in places the visible check did not have: the patterns must cover them.
for _rel in ("tests/__pycache__/conftest.cpython-311.pyc", "fraudscore/models/__pycache__/x.cpython-311.pyc",
             "fraudscore/models/__init__.py", "data/incoming/batch-2.csv", "notebooks/.ipynb_checkpoints/x.ipynb"):
    (PROJECT / _rel).parent.mkdir(parents=True, exist_ok=True)
    (PROJECT / _rel).write_text("x\n")
try:
    _seen = context_in_image("probe2")
    _junk = sorted(p for p in _seen if "__pycache__" in p or p.endswith(".pyc") or p.startswith(("data/", "notebooks/")))
    assert not _junk, f"these should have stayed out of the context: {_junk}"
    assert "fraudscore/models/__init__.py" in _seen, "a new module of the package must still reach the image"
    # The measurement helper and the engine agree on what is sent (so the sizes above are real).
    _measured = set(dockerfile.context_files(PROJECT))
    assert _measured == _seen, f"context_files and the engine disagree: {sorted(_measured ^ _seen)[:6]}"
finally:
    shutil.rmtree(PROJECT / "fraudscore" / "models", ignore_errors=True)
    shutil.rmtree(PROJECT / "data" / "incoming", ignore_errors=True)
    shutil.rmtree(PROJECT / "tests" / "__pycache__", ignore_errors=True)
    (PROJECT / "notebooks" / ".ipynb_checkpoints" / "x.ipynb").unlink(missing_ok=True)
compileall.compile_dir(str(PROJECT / "tests"), quiet=1)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Multi-stage builds: build fat, ship slim
#
# The exercise-1 image carries everything needed to *install* the app: the whole builder image (pip,
# venv, headers, the course's ML stack), the `wheels/` layer, the lock file. None of it is needed to
# *run* the scorer. Look at the layers: deleting files in a later `RUN` would not help — a layer is
# an immutable diff, and the bytes stay in the layer that added them.

# %%
print(engine("image", "history", "--format", "{{.Size}}\t{{.CreatedBy}}", APP_IMAGE, timeout=60)[:1500])

# %% [markdown]
# A **multi-stage** Dockerfile has several `FROM`s. The first stage (`AS build`) installs; the last
# stage starts again from a slim base and `COPY --from=build` takes only the result — here the `/venv`
# folder. A virtualenv is copyable as long as the runtime image has the **same Python at the same path**
# (`/venv/bin/python` is a symlink to it; `/venv/pyvenv.cfg` records it): Debian's `/usr/bin/python3.11`
# in both our images, `/usr/local/bin/python3.11` in both `python:3.11` and `python:3.11-slim`. Compiled
# artifacts (wheels you build from source, a model you export) cross stages the same way.
#
# ### Exercise 3 — a multi-stage scorer image (2 points)
# Write `PROJECT / "Containerfile.multi"`:
# - `ARG PY_IMAGE` and `ARG BASE` before the first `FROM`;
# - stage `build` `FROM ${PY_IMAGE}`: the same venv + lock-file install as exercise 1 (same instructions
#   in the same order reuse exercise 1's cached layers);
# - final stage `FROM ${BASE}`: only `/venv` from the build stage, then the app files; run as a
#   **non-root** user (`USER 10001`); same `ENTRYPOINT` as before.
#
# Build it as `MULTI_IMAGE` (`dockerfile.build(PROJECT, MULTI_IMAGE, file=PROJECT / "Containerfile.multi",
# build_args=BUILD_ARGS)`)
# and set `SIZE_SINGLE` and `SIZE_MULTI` to the two images' sizes in bytes (`containers.image_size`).
#
# <details><summary>Hint 1</summary><code>COPY --from=build /venv /venv</code></details>
# <details><summary>Hint 2</summary>The final stage must not see <code>wheels/</code> or the
# requirements: copy only what runs.</details>

# %% answer="multistage"
### BEGIN SOLUTION
(PROJECT / "Containerfile.multi").write_text("""\
ARG PY_IMAGE
ARG BASE

FROM ${PY_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN python3 -m venv /venv
COPY requirements.txt /tmp/requirements.txt
COPY wheels/ /wheels/
RUN /venv/bin/pip install --no-cache-dir --no-index --find-links /wheels -r /tmp/requirements.txt

FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /venv /venv
WORKDIR /app
COPY fraudscore/ /app/fraudscore/
COPY app.py model.joblib /app/
USER 10001
ENTRYPOINT ["/venv/bin/python", "/app/app.py"]
""")
dockerfile.build(PROJECT, MULTI_IMAGE, file=PROJECT / "Containerfile.multi", build_args=BUILD_ARGS)
SIZE_SINGLE = containers.image_size(APP_IMAGE)
SIZE_MULTI = containers.image_size(MULTI_IMAGE)
### END SOLUTION
print(f"single-stage {SIZE_SINGLE / 1e6:.0f} MB, multi-stage {SIZE_MULTI / 1e6:.0f} MB "
      f"({100 * (1 - SIZE_MULTI / SIZE_SINGLE):.0f} % smaller)")

# %% check="multistage" points=1
_out = score_in(MULTI_IMAGE)
assert _out["n"] == REFERENCE["n"] and abs(_out["mean_score"] - REFERENCE["mean_score"]) < 1e-9, (
    f"the multi-stage image should score like the reference {REFERENCE}, saw {_out}"
)
assert (SIZE_SINGLE, SIZE_MULTI) == (containers.image_size(APP_IMAGE), containers.image_size(MULTI_IMAGE)), (
    "SIZE_SINGLE / SIZE_MULTI should be the engine's sizes of APP_IMAGE / MULTI_IMAGE"
)
assert SIZE_MULTI < 0.5 * SIZE_SINGLE, f"expected the multi-stage image under half of {SIZE_SINGLE}, saw {SIZE_MULTI}"
_uid = engine("run", "--rm", "--entrypoint", "id", MULTI_IMAGE, "-u", timeout=60).strip()
assert _uid != "0", f"the scorer should run as a non-root user, it runs as uid {_uid}"

# %% check="multistage" points=1
### BEGIN HIDDEN TESTS
_base_layers = containers.inspect(BASE_IMAGE, "image")["RootFS"]["Layers"]
_layers = containers.inspect(MULTI_IMAGE, "image")["RootFS"]["Layers"]
assert _layers[: len(_base_layers)] == _base_layers, "the final stage should start FROM the slim BASE image"
_left = engine("run", "--rm", "--entrypoint", "sh", MULTI_IMAGE, "-c",
               "ls -d /wheels /opt/venv /tmp/requirements.txt /app/requirements.txt 2>/dev/null; true", timeout=60).split()
assert not _left, f"build-only files reached the final image: {_left}"
_dists = json.loads(engine(
    "run", "--rm", "--entrypoint", "/venv/bin/python", MULTI_IMAGE, "-c",
    "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name'].lower(): d.version "
    "for d in m.distributions()}))", timeout=60))
assert all(_dists.get(k) == v for k, v in LOCK.items()), f"the venv should hold the lock {LOCK}, holds {_dists}"
assert set(_dists) - set(LOCK) <= {"pip", "setuptools", "wheel"}, f"unlocked packages in the venv: {set(_dists) - set(LOCK)}"
assert SIZE_MULTI - containers.image_size(BASE_IMAGE) < 150e6, (
    f"the final stage should add only the venv and the app to BASE, it adds {(SIZE_MULTI - containers.image_size(BASE_IMAGE)) / 1e6:.0f} MB"
)
### END HIDDEN TESTS

# %% [markdown]
# Why the copied venv works on a base without pip: numpy's wheel is a **manylinux** wheel — its compiled
# code and the libraries it needs (OpenBLAS, gfortran) are bundled inside the wheel (`numpy.libs/`),
# and it may only expect a short list of system libraries (glibc, libstdc++, ...) from the OS. `ldd`
# in the runtime image shows where each shared library resolves:

# %%
try:
    print(engine("run", "--rm", "--entrypoint", "sh", MULTI_IMAGE, "-c",
                 "ldd /venv/lib/python3*/site-packages/numpy/_core/_multiarray_umath*.so", timeout=60))
except EngineError as exc:
    print("the multi-stage image is not there yet:", str(exc)[:200])

# %% [markdown]
# ## 4. Managing Python dependencies: pip, poetry, conda
#
# What goes into the image must be **exactly** what you tested: the same versions of every package in
# the closure, from the same files. All three tools solve it with a *lock file*; they differ in what
# they lock and how an image installs it.
#
# The project's `requirements.in` names what the code imports; `requirements.txt` is its lock, made by
# pip's own resolver (offline, against the wheelhouse — `dockerfile.pip_lock`, the job `pip-compile
# --generate-hashes` or `uv pip compile --generate-hashes` do with an index):

# %%
print((PROJECT / "requirements.in").read_text())
print((PROJECT / "requirements.txt").read_text())

# %% [markdown]
# `cloudpickle` is in the lock though nobody asked for it: joblib depends on it. Because the lock has
# `--hash` lines, pip installs in **hash-checking mode**: a package missing from the lock or a file
# whose bytes differ (a re-uploaded wheel, a compromised mirror) fails the install. pip's resolver
# shows it, offline:

# %%
_tampered = WORK / "tampered.txt"
_tampered.write_text(re.sub(r"sha256:[0-9a-f]{8}", "sha256:00000000", (PROJECT / "requirements.txt").read_text(), count=1))
_check = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
                         "--no-cache-dir", "--find-links", WHEELHOUSE, "-r", str(_tampered)],
                        capture_output=True, text=True, timeout=120, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
print("pip exit code:", _check.returncode)
print(_check.stderr.strip()[:600])

# %% [markdown]
# | | pip + lock (`pip-tools`, `uv`) | poetry | conda / mamba |
# |---|---|---|---|
# | you edit | `requirements.in` | `pyproject.toml` | `environment.yml` |
# | lock | `requirements.txt`: `name==version --hash=...` | `poetry.lock`: versions + file hashes for every platform | `conda-lock.yml` / `@EXPLICIT` URL lists, per platform |
# | in the image | `pip install --no-cache-dir -r requirements.txt` into a venv | builder: `pip install poetry`, `poetry install --only main --no-root` with `POETRY_VIRTUALENVS_IN_PROJECT=true`, copy `.venv` (or `poetry export` to a requirements.txt and use pip) | `micromamba create -p /env -f conda-lock.yml`, copy `/env` (or `conda-pack`) onto a slim base |
# | non-Python libraries | no (system packages: apt, section 5) | no | **yes**: CUDA, MKL, GDAL, ffmpeg come as conda packages |
# | image cost | smallest | poetry itself stays in the builder stage | larger: the env carries its own OpenSSL, BLAS, libstdc++... |
#
# **What ran here:** pip only — its resolver, its hash-checking mode and the offline install in the
# builds. Poetry and conda are not installed on this machine and their lock steps need a package index;
# the rows above are how the same multi-stage pattern looks with them (`poetry.lock` and
# `conda-lock.yml` play the role `requirements.txt` plays here). Whatever the tool, the image installs
# the **lock**, never the loose spec, and the installer stays in the builder stage.
#
# ## 5. System-level dependencies
#
# Some Python packages load shared libraries **from the operating system** at import time — those the
# manylinux policy lets a wheel expect instead of bundling. Two classics: `opencv-python` needs
# `libGL.so.1` (Debian package `libgl1`) and GLib (`libglib-2.0.so.0`, `libgthread-2.0.so.0`: package
# `libglib2.0-0`); LightGBM's wheel needs the OpenMP runtime `libgomp.so.1` (`libgomp1`). On a slim base
# the import dies with the loader's message. The wheels of OpenCV and LightGBM are not in this offline
# wheelhouse, so we call the loader directly — `ctypes.CDLL` is the same `dlopen` their import performs:

# %%
LIBS = ("libglib-2.0.so.0", "libgthread-2.0.so.0", "libgomp.so.1")
LOAD_LIBS = "import ctypes, sys\nfor lib in sys.argv[1:]:\n    ctypes.CDLL(lib)\n    print('loaded', lib)\n"
_try = subprocess.run([*containers.engine_argv(), "run", "--rm", BASE_IMAGE, "python3", "-c", LOAD_LIBS, *LIBS],
                      capture_output=True, text=True, timeout=120)
print("on BASE_IMAGE:", _try.stdout.strip() or "-", "|", _try.stderr.strip().splitlines()[-1])

# %% [markdown]
# The fix is an `apt-get` layer — and it is easy to make it ten times bigger than needed:
# - `apt-get update` downloads ~80 MB of package lists, and apt keeps ~75 MB of binary caches
#   (`/var/cache/apt/*.bin`) plus the downloaded `.deb`s: remove them **in the same `RUN`**
#   (`rm -rf /var/lib/apt/lists/*`, `apt-get clean`), or they stay in the layer forever;
# - without `--no-install-recommends` apt adds "recommended" packages (for GLib: shared-mime-info,
#   libxml2 and the 35 MB ICU library);
# - `update` and `install` in **one** `RUN`: a cached `update` layer with a changed `install` line
#   installs from stale lists.
#
# The weight of a dependency is worth knowing before you add it: when this lab was written, installing
# `libgl1 libglib2.0-0` on this base, even with `--no-install-recommends`, pulled 41 packages — 52 MB to
# download, 220 MB installed (Mesa's drivers and LLVM come with libGL) — the reason server images use
# `opencv-python-headless`, which has no GL/GUI dependency.
#
# **CUDA libraries** are system libraries of the same kind, at a different scale. The GPU **driver**
# (`libcuda.so`) is never in the image: the NVIDIA Container Toolkit mounts the host's driver into the
# container at run time. The CUDA **runtime** libraries (cuBLAS, cuDNN...) come either from an
# `nvidia/cuda:12.x-runtime` base image (with a `-devel` image as the builder stage of a multi-stage
# build when you compile kernels) or, for PyTorch and JAX, from pip wheels (`nvidia-cublas-cu12`...)
# inside the venv — several GB either way. Module 18 builds and runs GPU images; this machine has no GPU.
#
# ### Exercise 4 — a small system-dependency layer (2 points)
# Write `WORK / "sysdeps" / "Containerfile"` (`ARG BASE`, `FROM ${BASE}`) that installs the Debian
# packages `libglib2.0-0` and `libgomp1` in **one** `RUN`, without recommended packages, leaving no
# package lists or apt caches behind; the layer should add **less than 20 MB** to `BASE`. Build it as
# `SYS_IMAGE` (build arg `BASE`). This is the lab's only build that downloads from the Debian mirror
# (~20–40 s).
#
# <details><summary>Hint 1</summary><code>apt-get update && apt-get install -y --no-install-recommends
# ... && apt-get clean && rm -rf /var/lib/apt/lists/*</code></details>
# <details><summary>Hint 2</summary>Measure before you guess: <code>engine("run", "--rm", SYS_IMAGE, "du",
# "-sh", "/var/cache/apt", "/var/lib/apt/lists")</code>.</details>

# %% answer="sysdeps"
SYSDEPS = WORK / "sysdeps"
SYSDEPS.mkdir(parents=True, exist_ok=True)
### BEGIN SOLUTION
(SYSDEPS / "Containerfile").write_text("""\
ARG BASE
FROM ${BASE}
RUN apt-get update \\
    && apt-get install -y --no-install-recommends libglib2.0-0 libgomp1 \\
    && apt-get clean \\
    && rm -rf /var/lib/apt/lists/*
""")
dockerfile.build(SYSDEPS, SYS_IMAGE, build_args={"BASE": BASE_IMAGE})
### END SOLUTION
print(f"{SYS_IMAGE}: +{(containers.image_size(SYS_IMAGE) - containers.image_size(BASE_IMAGE)) / 1e6:.1f} MB over BASE")

# %% check="sysdeps" points=1
_run = subprocess.run([*containers.engine_argv(), "run", "--rm", "--network", "none", SYS_IMAGE, "python3", "-c",
                       LOAD_LIBS, *LIBS], capture_output=True, text=True, timeout=120)
assert _run.returncode == 0, f"loading {LIBS} in SYS_IMAGE failed: {_run.stderr.strip()[-300:]}"
assert _run.stdout.count("loaded") == len(LIBS), f"expected {len(LIBS)} libraries loaded, saw {_run.stdout!r}"
_added = containers.image_size(SYS_IMAGE) - containers.image_size(BASE_IMAGE)
assert _added < 20e6, f"the apt layer should add less than 20 MB to BASE, it adds {_added / 1e6:.1f} MB"

# %% check="sysdeps" points=1
### BEGIN HIDDEN TESTS
_state = engine("run", "--rm", SYS_IMAGE, "sh", "-c",
                "find /var/lib/apt/lists /var/cache/apt -type f -not -name lock | wc -l; "
                "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' shared-mime-info xdg-user-dirs 2>/dev/null "
                "| grep -c '^ii' || true", timeout=60).split()
assert _state[0] == "0", f"apt left {_state[0]} files in its lists/caches"
assert _state[1] == "0", "recommended packages (shared-mime-info, xdg-user-dirs) were installed"
_base_layers = containers.inspect(BASE_IMAGE, "image")["RootFS"]["Layers"]
_layers = containers.inspect(SYS_IMAGE, "image")["RootFS"]["Layers"]
assert _layers[: len(_base_layers)] == _base_layers and len(_layers) == len(_base_layers) + 1, (
    f"expected BASE plus exactly one layer (one RUN), saw {len(_layers) - len(_base_layers)} layers on top of BASE"
)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Lint every Dockerfile: hadolint
#
# [hadolint](https://github.com/hadolint/hadolint) parses a Dockerfile (and the shell in its `RUN`s,
# with ShellCheck) and reports rule violations: `DL3007` `latest` tag, `DL3042` pip without
# `--no-cache-dir`, `DL3008` unpinned apt packages, `DL3002` last `USER` is root, `DL3059` consecutive
# `RUN`s... Each finding has a level — `error`, `warning`, `info`, `style` — and hadolint exits non-zero
# when a finding reaches the **failure threshold**. A team writes its policy once in `.hadolint.yaml`
# (CI runs `hadolint --config .hadolint.yaml Dockerfile`), e.g. which rules it accepts and why.
# `dockerfile.hadolint(path, config)` returns the findings and the exit code:

# %%
LINT = WORK / "lint"
LINT.mkdir(exist_ok=True)
(LINT / "naive.Dockerfile").write_text(
    "FROM python:latest\nCOPY . /app\nRUN cd /app && pip install -r requirements.txt\nCMD python /app/app.py\n"
)
_res = dockerfile.hadolint(LINT / "naive.Dockerfile")
print("exit code", _res.returncode)
for _f in _res.findings:
    print(f"  line {_f.line} {_f.code} {_f.level}: {_f.message[:90]}")

# %% [markdown]
# ### Exercise 5 — the team's hadolint policy (2 points)
# Write `PROJECT / ".hadolint.yaml"` so that hadolint run with it:
# - **fails** (non-zero exit) on any finding of level `warning` or `error` — e.g. the naive Dockerfile
#   above, a `latest` tag, a `pip install` without `--no-cache-dir`;
# - **passes** Dockerfiles that only have `info`/`style` findings;
# - accepts rule `DL3008` (unpinned apt versions): the Debian release is fixed by the base image, and
#   exact apt pins break the build whenever Debian ships a security update.
#
# Your three Dockerfiles (exercises 1, 3, 4) must pass the policy, and — checked with hadolint's own
# defaults — have **no** `warning`/`error` finding other than `DL3008`: fix them rather than ignoring
# rules.
#
# <details><summary>Hint 1</summary>Two keys: <code>failure-threshold</code> and <code>ignored</code>
# (a list of rule codes).</details>
# <details><summary>Hint 2</summary>hadolint's default threshold is <code>info</code>: without your
# setting, a harmless <code>DL3059</code> fails the build.</details>

# %% answer="lint"
### BEGIN SOLUTION
(PROJECT / ".hadolint.yaml").write_text("""\
# Team policy: warnings and errors fail CI; info/style are advice.
failure-threshold: warning
ignored:
  - DL3008  # apt versions float within the base image's Debian release (security updates)
""")
### END SOLUTION
for _df in (PROJECT / "Containerfile", PROJECT / "Containerfile.multi", WORK / "sysdeps" / "Containerfile"):
    if _df.exists():
        _res = dockerfile.hadolint(_df, PROJECT / ".hadolint.yaml")
        print(_df.name, "exit", _res.returncode, [(f.code, f.level) for f in _res.findings])

# %% check="lint" points=1
_policy = PROJECT / ".hadolint.yaml"
_mine = (PROJECT / "Containerfile", PROJECT / "Containerfile.multi", WORK / "sysdeps" / "Containerfile")
for _df in _mine:
    assert _df.exists(), f"{_df} does not exist (exercises 1, 3 and 4 write it)"
    _res = dockerfile.hadolint(_df, _policy)
    assert _res.returncode == 0, f"{_df.name} fails the policy: {[(f.code, f.level) for f in _res.findings]}"
    _bad = [f"{f.code} ({f.level}) line {f.line}" for f in dockerfile.hadolint(_df).at_least("warning") if f.code != "DL3008"]
    assert not _bad, f"{_df.name} has hadolint warnings/errors under the default rules: {_bad}"
_res = dockerfile.hadolint(LINT / "naive.Dockerfile", _policy)
assert _res.returncode != 0, "the naive Dockerfile (latest tag, cd, unpinned pip with cache) must fail the policy"

# %% check="lint" points=1
### BEGIN HIDDEN TESTS
_cases = {
    # name: (Dockerfile text, should pass the policy)
    "latest-only": ("FROM python:latest\nCOPY app.py /app/\nUSER 10001\nCMD [\"python\", \"/app/app.py\"]\n", False),
    "pip-cache": ("FROM python:3.11-slim\nRUN pip install numpy==2.4.6\nUSER 10001\n", False),
    "info-only": ("ARG BASE\nFROM ${BASE}\nRUN echo one > /one\nRUN echo two > /two\nUSER 10001\n", True),
    "apt-unpinned": ("ARG BASE\nFROM ${BASE}\nRUN apt-get update && apt-get install -y --no-install-recommends "
                     "libgomp1 && rm -rf /var/lib/apt/lists/*\n", True),
}
for _name, (_text, _ok) in _cases.items():
    _path = LINT / f"{_name}.Dockerfile"
    _path.write_text(_text)
    _rc = dockerfile.hadolint(_path, _policy).returncode
    assert (_rc == 0) == _ok, f"{_name}: expected the policy to {'pass' if _ok else 'fail'} it, hadolint exit code {_rc}"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# - **Order for the cache**: base, system packages, dependency lock, install, then code and model —
#   you proved it by rebuilding, not by reading the file.
# - **Context**: `.dockerignore` with root-anchored patterns (`**/` for every depth); you measured it.
# - **Multi-stage**: the installer, wheels and build tools stay in the builder; the runtime image got
#   the venv and the app, and ran as non-root.
# - **Dependencies**: install a hashed lock, offline, into a venv; poetry and conda follow the same
#   builder/runtime split.
# - **System libraries**: one `RUN` with `--no-install-recommends` and the cleanup; know the weight
#   (libGL) before adding it. CUDA: driver from the host, runtime from the base image or wheels.
# - **hadolint** with a written policy in CI.
#
# **What the cloud/live tier adds:** BuildKit (Docker's builder, in CI and `docker buildx`) adds
# cache mounts (`RUN --mount=type=cache,target=/root/.cache/pip` keeps pip's cache *outside* the layers),
# secret mounts for private indexes, and a **remote layer cache** (`--cache-from`/`--cache-to` an ECR or
# registry repository) so CI runners reuse layers between builds; multi-arch images (`--platform
# linux/amd64,linux/arm64` for Graviton); image scanning on push (ECR, `trivy image` with an online
# vulnerability database). Module 16 pushes these images to ECR; module 18 builds the GPU variant.
#
# Cleanup: the lab's images, and the 40 MB feature cache of the project copy. Layers that other images
# still share (the base images, a builder stage's cache) stay in the engine for the next build; on your
# own machine `docker image prune` removes the untagged ones (not run here: the engine is shared).

# %%
containers.remove(*IMAGES)
(PROJECT / "data" / "features_cache.npy").unlink(missing_ok=True)
print("removed", ", ".join(IMAGES))
