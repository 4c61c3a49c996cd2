# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 2 — Data and pipeline versioning with DVC and git-lfs
#
# **Where this sits:** Module 1 recorded *which code and parameters* produced a model. This module
# records *which data*: a model you cannot tie to the exact rows it was trained on is not
# reproducible. The running example is the course's fraud-detection project (synthetic
# IEEE-CIS-style transactions); later modules (feature stores, CI/CD for models, retraining) build
# on the versioned data and pipeline you make here.
#
# **You will:**
# 1. **version a dataset alongside code**: git stores a small `.dvc` pointer (an MD5), DVC stores
#    the bytes in its cache;
# 2. use an **S3 remote** with DVC: push the data to a bucket (the moto S3 API on this machine)
#    and pull it back into a fresh clone of the repository;
# 3. declare a **pipeline** (`prepare → train → evaluate`) in `dvc.yaml` and read its **lineage**
#    with `dvc dag`;
# 4. see **reproducibility** at work: `dvc repro` reruns only the stages whose inputs changed;
# 5. track a large binary with **git LFS**, and compare it with DVC;
# 6. **integrate DVC with MLflow**: every training run carries the MD5 of its data version, so a
#    model points to the exact bytes it learned from.
#
# Everything happens in a throwaway git repository under `m002-work/`, driven from this notebook
# with the same `git` / `dvc` commands you would type in a terminal (`labkit.vcs` runs them and
# shows their output when they fail). Open a terminal in that folder at any time and look around.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")

# %% [markdown]
# ## Setup
# Everything this lab creates is named from `RUN_ID`: the work folder, the S3 bucket, the MLflow
# experiment. A rerun starts from a clean work folder. DVC's usage analytics are switched off
# (`DVC_NO_ANALYTICS=1`, and `core.analytics false` in the repo below), and its site cache (a small
# index DVC keeps outside the repo) goes into the work folder. MLflow and boto3 fail fast instead
# of retrying for minutes.

# %%
import json
import shutil
import sys
from pathlib import Path

import boto3
import mlflow
import numpy as np
import yaml
from botocore.config import Config
from mlflow import MlflowClient
from mlops_datasets import load

from labkit import labenv
from labkit.vcs import CommandFailed, dvc, file_md5, file_sha256, git, init_repo

labenv.configure(DATA_DIR)  # fail-fast clients, dummy AWS credentials, this env's tools on PATH
os.environ["DVC_NO_ANALYTICS"] = "1"

SLUG = "".join(ch if ch.isalnum() else "-" for ch in RUN_ID.lower()).strip("-") or "local"
NAME = f"m002-{SLUG}"
WORK = (Path("m002-work") / NAME).resolve()
if WORK.exists():
    shutil.rmtree(WORK)  # a rerun starts from scratch
WORK.mkdir(parents=True)
REPO = WORK / "fraud-repo"  # the project repository you work in
CLONE = WORK / "fraud-clone"  # a teammate's fresh clone (Exercise 2)
STAGE_LOG = WORK / "stage_runs.log"  # each pipeline stage appends its name here when it runs
os.environ["DVC_SITE_CACHE_DIR"] = str(WORK / "dvc-site-cache")
os.environ["LAB_STAGE_LOG"] = str(STAGE_LOG)
BUCKET = f"m002-dvc-{SLUG}"[:63].rstrip("-")
EXPERIMENT = f"m002-fraud-{SLUG}"

s3 = boto3.client(
    "s3",
    endpoint_url=AWS_ENDPOINT_URL,
    config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}),
)
if BUCKET in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    for _obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=_obj["Key"])
else:
    s3.create_bucket(Bucket=BUCKET)

mlflow.set_tracking_uri(MLFLOW_TRACKING_URI)
client = MlflowClient(MLFLOW_TRACKING_URI)
_exp = client.get_experiment_by_name(EXPERIMENT)
if _exp is not None and _exp.lifecycle_stage == "deleted":
    client.restore_experiment(_exp.experiment_id)
if _exp is not None:
    for _run in client.search_runs([_exp.experiment_id]):
        client.delete_run(_run.info.run_id)
experiment_id = mlflow.set_experiment(EXPERIMENT).experiment_id
print("work dir:", WORK, "| bucket:", BUCKET, "| experiment:", EXPERIMENT)

# %% [markdown]
# ## A repository for code and data
#
# `git init` plus `dvc init` make a repository that versions both. `dvc init` creates `.dvc/`
# (config, cache, `.gitignore` for the cache) and stages them in git. The identity for commits is
# set *locally* in this throwaway repo (`git config user.name ...`), so nothing touches your global
# git config.

# %%
init_repo(REPO)
print(dvc(REPO, "init"))
dvc(REPO, "config", "core.analytics", "false")
git(REPO, "add", ".dvc", ".dvcignore")
git(REPO, "commit", "--quiet", "-m", "init DVC")
print(git(REPO, "log", "--oneline"))
print(git(REPO, "ls-files"))

# %% [markdown]
# The data: a CSV slice of the fraud transactions. **Version 1** is the first quarter (days 0–90);
# later in the lab a month more arrives and becomes version 2.

# %%
tx = load("fraud")["transactions"]
day = tx["TransactionDT"] // 86400
DATA_V1 = tx[day < 91]
DATA_V2 = tx[day < 121]
(REPO / "data").mkdir()
DATA_V1.to_csv(REPO / "data" / "transactions.csv", index=False)
print(
    f"v1: {len(DATA_V1)} rows, {(REPO / 'data' / 'transactions.csv').stat().st_size / 1e6:.1f} MB; "
    f"v2 will have {len(DATA_V2)} rows"
)

# %% [markdown]
# ## Exercise 1: version the dataset alongside the code
#
# Committing a CSV to git works until it is a few hundred MB; then every clone drags every version
# of it along. DVC keeps git small: `dvc add data/transactions.csv`
# - moves the bytes into the content-addressed cache `.dvc/cache/files/md5/<2 chars>/<30 chars>`
#   and links (or, on most file systems, copies) them back into the workspace;
# - writes `data/transactions.csv.dvc`, a few lines of YAML naming the file's **MD5** and size;
# - adds `transactions.csv` to `data/.gitignore`, so git never stores the CSV itself.
#
# Write `version_dataset()` that runs `dvc add` on the CSV, commits the `.dvc` file and the
# `.gitignore` to git with a message of your choice, and tags that commit `data-v1`. Use
# `dvc(REPO, ...)` and `git(REPO, ...)` from `labkit.vcs`: they run `dvc`/`git` in the repo and
# return the output.
#
# <details><summary>Hint 1</summary><code>dvc add</code> prints the exact <code>git add</code>
# command it expects you to run next.</details>
# <details><summary>Hint 2</summary><code>git(REPO, "tag", "data-v1")</code> tags the current
# commit. Do <b>not</b> <code>git add data/transactions.csv</code>: that is what DVC is for.</details>


# %% answer="version_data"
def version_dataset() -> None:
    ### BEGIN SOLUTION
    print(dvc(REPO, "add", "data/transactions.csv"))
    git(REPO, "add", "data/transactions.csv.dvc", "data/.gitignore")
    git(REPO, "commit", "--quiet", "-m", "data: transactions v1 (days 0-90)")
    git(REPO, "tag", "data-v1")
    ### END SOLUTION


version_dataset()
print((REPO / "data" / "transactions.csv.dvc").read_text())

# %% check="version_data" points=2
_pointer = yaml.safe_load((REPO / "data" / "transactions.csv.dvc").read_text())
_md5 = file_md5(REPO / "data" / "transactions.csv")
assert _pointer["outs"][0]["md5"] == _md5, f".dvc file records {_pointer['outs'][0]['md5']}, the CSV's MD5 is {_md5}"
assert "data/transactions.csv.dvc" in git(REPO, "ls-files").split(), "the .dvc file is not committed to git"
### BEGIN HIDDEN TESTS
assert "data/transactions.csv" not in git(REPO, "ls-files").split(), (
    "the CSV itself is in git: only its .dvc pointer should be (DVC keeps the bytes)"
)
assert "data-v1" in git(REPO, "tag").split(), f"no tag data-v1 in the repo (tags: {git(REPO, 'tag').split()})"
_tagged = yaml.safe_load(git(REPO, "show", "data-v1:data/transactions.csv.dvc"))
assert (
    _tagged["outs"][0]["md5"]
    == file_md5(REPO / "data" / "transactions.csv")
    == file_md5(REPO / ".dvc" / "cache" / "files" / "md5" / _md5[:2] / _md5[2:])
), "tag data-v1 must point at the commit whose .dvc file records this CSV, with the bytes in DVC's cache"
assert "transactions.csv" in git(REPO, "show", "data-v1:data/.gitignore"), "data/.gitignore was not committed"
assert git(REPO, "status", "--porcelain", "data").strip() == "", "uncommitted changes under data/"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: an S3 remote, and a clean clone that pulls the data
#
# The cache lives on your disk; a **remote** is where the team shares it. On AWS that is an S3
# bucket; here it is the bucket `BUCKET` on the moto S3 API at `AWS_ENDPOINT_URL`. Remote settings
# go into `.dvc/config`, which is committed, so every clone knows where the data lives;
# **credentials never go there** (they come from the environment, an AWS profile, or
# `dvc remote modify --local`, which writes the git-ignored `.dvc/config.local`).
#
# Write `share_dataset()` that:
# 1. adds a **default** remote named `storage` with URL `s3://{BUCKET}/dvcstore`
#    (`dvc remote add --default ...`);
# 2. sets its `endpointurl` to `AWS_ENDPOINT_URL` (`dvc remote modify storage endpointurl ...`:
#    needed for any S3-compatible store that is not AWS itself: moto, MinIO, Ceph);
# 3. commits `.dvc/config`, then runs `dvc push`;
# 4. makes a teammate's copy: `git clone REPO CLONE` (run it from `WORK`), and in `CLONE` runs
#    `dvc pull`, so the CSV appears there with the same bytes.
#
# <details><summary>Hint 1</summary><code>git(WORK, "clone", str(REPO), str(CLONE))</code>;
# then <code>dvc(CLONE, "pull")</code>.</details>
# <details><summary>Hint 2</summary>After a push, the object's key in the bucket is
# <code>dvcstore/files/md5/&lt;first 2 chars of the MD5&gt;/&lt;the rest&gt;</code>: list the bucket
# with <code>s3.list_objects_v2(Bucket=BUCKET)</code> to see it.</details>


# %% answer="s3_remote"
def share_dataset() -> None:
    ### BEGIN SOLUTION
    dvc(REPO, "remote", "add", "--default", "storage", f"s3://{BUCKET}/dvcstore")
    dvc(REPO, "remote", "modify", "storage", "endpointurl", AWS_ENDPOINT_URL)
    git(REPO, "add", ".dvc/config")
    git(REPO, "commit", "--quiet", "-m", "dvc: S3 remote 'storage'")
    print(dvc(REPO, "push"))
    git(WORK, "clone", "--quiet", str(REPO), str(CLONE))
    print(dvc(CLONE, "pull"))
    ### END SOLUTION


share_dataset()
print([o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])])

# %% check="s3_remote" points=2
_md5 = file_md5(REPO / "data" / "transactions.csv")
_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
assert f"dvcstore/files/md5/{_md5[:2]}/{_md5[2:]}" in _keys, (
    f"the CSV (md5 {_md5}) is not in s3://{BUCKET}/dvcstore; keys: {_keys}"
)
assert (CLONE / "data" / "transactions.csv").exists(), "the clone has no data/transactions.csv"
### BEGIN HIDDEN TESTS
assert file_md5(CLONE / "data" / "transactions.csv") == _md5, "the clone's CSV differs from the versioned one"
assert (CLONE / ".dvc" / "cache" / "files" / "md5" / _md5[:2] / _md5[2:]).exists(), (
    "the clone's DVC cache lacks the object: the data must arrive through `dvc pull`, not a copy"
)
_remotes = dvc(CLONE, "remote", "list").split()
assert _remotes[:3] == ["storage", f"s3://{BUCKET}/dvcstore", "(default)"], (
    f"a fresh clone should see the default remote storage -> s3://{BUCKET}/dvcstore from the committed config; "
    f"`dvc remote list` there shows {_remotes}"
)
_cfg = git(REPO, "show", "HEAD:.dvc/config")
assert AWS_ENDPOINT_URL in _cfg and "secret" not in _cfg.lower(), "commit the endpointurl, never credentials"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: a pipeline in `dvc.yaml`, and its lineage
#
# A DVC **pipeline** declares each stage's command, what it reads (`deps`, `params`) and what it
# writes (`outs`, `metrics`). From those declarations DVC builds a graph (the **lineage**: which
# data and code produced which model), records the hash of every input and output in `dvc.lock`
# after a run, and on the next `dvc repro` runs only the stages whose inputs changed.
#
# The three stage scripts and `params.yaml` are written for you below (read them):
# - `src/prepare.py` reads `data/transactions.csv` and param `prepare.valid_fraction`, writes
#   features to the folder `data/prepared/` (`train.csv`, `valid.csv`);
# - `src/train.py` reads `data/prepared/train.csv` and params `train.C`, `train.max_iter`, writes
#   `models/model.json` (a logistic regression in numpy: the stage starts fast and the model is
#   readable);
# - `src/evaluate.py` reads `models/model.json` and `data/prepared/valid.csv`, writes `metrics.json`.
#
# Each script also appends its name to `STAGE_LOG` when it runs, so you can count executions.

# %%
(REPO / "src").mkdir()
(REPO / "params.yaml").write_text("prepare:\n  valid_fraction: 0.3\ntrain:\n  C: 1.0\n  max_iter: 200\n")
_JOURNAL = '''
def journal(stage):
    """Append this stage's name to $LAB_STAGE_LOG (the lab counts stage runs with it)."""
    if os.environ.get("LAB_STAGE_LOG"):
        with open(os.environ["LAB_STAGE_LOG"], "a") as fh:
            fh.write(stage + "\\n")
'''
(REPO / "src" / "prepare.py").write_text(
    """import os
from pathlib import Path

import yaml
from labkit.fraud import feature_frame, time_split
import pandas as pd
"""
    + _JOURNAL
    + """
params = yaml.safe_load(open("params.yaml"))["prepare"]
tx = pd.read_csv("data/transactions.csv")
train, valid = time_split(tx, train_fraction=1 - params["valid_fraction"])
Path("data/prepared").mkdir(parents=True, exist_ok=True)
for name, part in (("train", train), ("valid", valid)):
    feature_frame(part).assign(isFraud=part["isFraud"]).to_csv(f"data/prepared/{name}.csv", index=False)
journal("prepare")
"""
)
(REPO / "src" / "train.py").write_text(
    """import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
"""
    + _JOURNAL
    + """
# L2-regularised logistic regression by gradient descent (the objective scikit-learn's
# LogisticRegression(C=...) minimises), in numpy so the stage starts fast and the model is readable JSON
params = yaml.safe_load(open("params.yaml"))["train"]
train = pd.read_csv("data/prepared/train.csv")
features = [c for c in train.columns if c != "isFraud"]
X, y = train[features].to_numpy(float), train["isFraud"].to_numpy(float)
mean, std = X.mean(0), X.std(0) + 1e-9
Z = (X - mean) / std
w, b = np.zeros(len(features)), 0.0
for _ in range(params["max_iter"]):
    p = 1 / (1 + np.exp(-(Z @ w + b)))
    w -= 0.5 * (Z.T @ (p - y) + w / params["C"]) / len(y)
    b -= 0.5 * float(np.mean(p - y))
Path("models").mkdir(exist_ok=True)
model = {"features": features, "mean": mean.tolist(), "std": std.tolist(), "coef": w.tolist(), "intercept": b}
json.dump(model, open("models/model.json", "w"), indent=1)
journal("train")
"""
)
(REPO / "src" / "evaluate.py").write_text(
    """import json
import os

import numpy as np
import pandas as pd
"""
    + _JOURNAL
    + """
model = json.load(open("models/model.json"))
valid = pd.read_csv("data/prepared/valid.csv")
X = (valid[model["features"]].to_numpy(float) - np.array(model["mean"])) / np.array(model["std"])
score = X @ np.array(model["coef"]) + model["intercept"]
fraud = valid["isFraud"].to_numpy() == 1
ranks = pd.Series(score).rank().to_numpy()  # ROC AUC = Mann-Whitney U / (n_pos * n_neg)
auc = (ranks[fraud].sum() - fraud.sum() * (fraud.sum() + 1) / 2) / (fraud.sum() * (~fraud).sum())
json.dump({"auc": round(float(auc), 4), "rows": len(valid)}, open("metrics.json", "w"), indent=1)
journal("evaluate")
"""
)
git(REPO, "add", "params.yaml", "src")
git(REPO, "commit", "--quiet", "-m", "pipeline code and params")
print(git(REPO, "log", "--oneline"))

# %% [markdown]
# Write `PIPELINE`, the text of `dvc.yaml`, with three stages named `prepare`, `train`, `evaluate`.
# For each: `cmd` (e.g. `python src/prepare.py`), `deps` (its script **and** every data file or
# folder it reads), `params` (the keys of `params.yaml` it reads) and `outs`; `evaluate` declares
# `metrics.json` under `metrics` with `cache: false` (small, kept in git, readable by
# `dvc metrics show`). Then write it to `REPO / "dvc.yaml"`, run `dvc repro`, and commit
# `dvc.yaml`, `dvc.lock` and the `.gitignore` files DVC created (`git add -A` is fine inside this
# throwaway repo: DVC has git-ignored the data and the model).
#
# <details><summary>Hint 1: the shape</summary>
#
# ```yaml
# stages:
#   prepare:
#     cmd: python src/prepare.py
#     deps: [src/prepare.py, data/transactions.csv]
#     params: [prepare.valid_fraction]
#     outs: [data/prepared]
#   train:
#     ...
# ```
# </details>
# <details><summary>Hint 2</summary>A stage that reads a file without declaring it in
# <code>deps</code> still runs, but DVC does not know the two stages are connected: the lineage
# (<code>dvc dag</code>) loses the edge and <code>dvc repro</code> will not rerun it when that
# input changes. <code>metrics: [{metrics.json: {cache: false}}]</code> is the list form.</details>

# %% answer="pipeline"
### BEGIN SOLUTION
PIPELINE = """
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/transactions.csv]
    params: [prepare.valid_fraction]
    outs: [data/prepared]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/prepared]
    params: [train.C, train.max_iter]
    outs: [models/model.json]
  evaluate:
    cmd: python src/evaluate.py
    deps: [src/evaluate.py, models/model.json, data/prepared]
    metrics:
    - metrics.json:
        cache: false
"""
(REPO / "dvc.yaml").write_text(PIPELINE)
print(dvc(REPO, "repro"))
git(REPO, "add", "-A")
git(REPO, "commit", "--quiet", "-m", "pipeline: prepare -> train -> evaluate")
### END SOLUTION

# %% check="pipeline" points=2
_lock = yaml.safe_load((REPO / "dvc.lock").read_text())
assert set(_lock.get("stages", {})) == {"prepare", "train", "evaluate"}, (
    f"dvc.lock has stages {sorted(_lock.get('stages', {}))}"
)
_metrics = json.loads((REPO / "metrics.json").read_text())
assert 0.7 < _metrics["auc"] <= 1.0, f"metrics.json auc {_metrics['auc']} is implausible"
### BEGIN HIDDEN TESTS
_dot = dvc(REPO, "dag", "--dot")
for _a, _b in (("prepare", "train"), ("train", "evaluate")):
    assert f'"{_a}" -> "{_b}"' in _dot, (
        f"the lineage lacks the edge {_a} -> {_b}: declare what each stage reads in deps. dvc dag --dot:\n{_dot}"
    )
_deps = {d["path"]: d["md5"] for d in _lock["stages"]["prepare"]["deps"]}
assert _deps.get("data/transactions.csv") == file_md5(REPO / "data" / "transactions.csv"), (
    "prepare should depend on data/transactions.csv (its MD5 should be in dvc.lock)"
)
_train_params = set(_lock["stages"]["train"].get("params", {}).get("params.yaml", {}))
assert {"train.C", "train.max_iter"} <= _train_params or "train" in _train_params, (
    f"train should declare the params it reads (train.C, train.max_iter); dvc.lock records {sorted(_train_params)}"
)
_shown = json.loads(dvc(REPO, "metrics", "show", "--json"))
assert "auc" in json.dumps(_shown), (
    f"`dvc metrics show` does not see metrics.json: declare it under metrics. Got {_shown}"
)
assert json.loads(dvc(REPO, "status", "--json")) == {}, "the pipeline is not up to date after dvc repro"
assert "dvc.lock" in git(REPO, "ls-files").split() and git(REPO, "status", "--porcelain").strip() == "", (
    "commit dvc.yaml, dvc.lock and the .gitignore files: the working tree should be clean"
)
### END HIDDEN TESTS

# %% [markdown]
# The lineage, as DVC sees it: every model is the end of a chain you can walk back to the data.
# (`dvc status` compares the workspace with `dvc.lock`; right after `dvc repro` it reports
# "Data and pipelines are up to date".)

# %%
print(dvc(REPO, "dag"))
print(dvc(REPO, "metrics", "show"))

# %% [markdown]
# ## Exercise 4: reproduce only what changed
#
# `dvc repro` compares each stage's inputs (file MD5s, param values, the command) with `dvc.lock`.
# Change the regularization `train.C` and only `train` and `evaluate` are stale: `prepare` is
# skipped (its data and params are unchanged), which is what makes a long pipeline cheap to iterate.
#
# Write `retrain(C)` that sets `train.C` in `params.yaml` to `C` (keep the other params), prints
# `dvc status` (it names the stale stages), runs `dvc repro` and returns its output, and commits the
# result. Then look at the printed output: it says which stages it skipped.
#
# <details><summary>Hint</summary><code>p = yaml.safe_load(path.read_text()); p["train"]["C"] = C;
# path.write_text(yaml.safe_dump(p))</code>. Do not force anything: <code>dvc repro --force</code>
# reruns every stage, which is exactly what we want to avoid.</details>

# %% locked=true
_runs_before = STAGE_LOG.read_text().split() if STAGE_LOG.exists() else []


# %% answer="repro"
def retrain(C: float) -> str:
    ### BEGIN SOLUTION
    path = REPO / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"]["C"] = C
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    print(dvc(REPO, "status"))
    output = dvc(REPO, "repro")
    git(REPO, "add", "-A")
    git(REPO, "commit", "--quiet", "-m", f"train with C={C}")
    return output
    ### END SOLUTION


repro_output = retrain(0.1)
print(repro_output)

# %% check="repro" points=1
_runs = (STAGE_LOG.read_text().split() if STAGE_LOG.exists() else [])[len(_runs_before) :]
assert _runs.count("train") == 1 and _runs.count("evaluate") == 1, (
    f"train and evaluate should each run once, ran: {_runs}"
)
### BEGIN HIDDEN TESTS
assert _runs.count("prepare") == 0, (
    f"prepare's inputs did not change, so dvc repro should skip it; stages that ran: {_runs}"
)
_lock = yaml.safe_load((REPO / "dvc.lock").read_text())
_p = _lock["stages"]["train"]["params"]["params.yaml"]
_C = _p["train.C"] if "train.C" in _p else _p.get("train", {}).get("C")
assert abs(float(_C) - 0.1) < 1e-9, f"dvc.lock records train.C={_C}, expected 0.1"
assert json.loads(dvc(REPO, "status", "--json")) == {}, "the pipeline is stale after retrain()"
assert git(REPO, "status", "--porcelain").strip() == "", "commit params.yaml and dvc.lock after the run"
assert "skipping" in repro_output and "prepare" in repro_output, "return the output of dvc repro"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: git LFS for a large binary
#
# Some large files belong with the code rather than with the data: a pretrained embedding table,
# test fixtures, images for the docs. **Git LFS** keeps them out of git's history the other way
# round from DVC: git stores a ~130-byte **pointer** (`oid sha256:...`, `size ...`) and the LFS
# client keeps the bytes in `.git/lfs/objects`, uploading them to the LFS server of your git host
# on `git push`. Patterns to track live in `.gitattributes` (committed), e.g.
# `*.npy filter=lfs diff=lfs merge=lfs -text`.
#
# Below, a ~6 MB card-embedding table is written to `assets/card_embeddings.npy`. Write
# `track_with_lfs()` that enables LFS in this repo only (`git lfs install --local`: it registers
# the clean/smudge filters in `.git/config`), tracks `*.npy`, and commits `.gitattributes` and the
# `.npy` file. Then `git lfs ls-files` should list it.
#
# <details><summary>Hint 1</summary>Order matters: a file committed <i>before</i> its pattern is
# tracked goes into git as a normal blob (fixing that later needs <code>git lfs migrate</code>).</details>
# <details><summary>Hint 2</summary><code>git(REPO, "lfs", "track", "*.npy")</code>, then
# <code>git add .gitattributes assets/card_embeddings.npy</code>.</details>

# %%
(REPO / "assets").mkdir()
np.save(
    REPO / "assets" / "card_embeddings.npy", np.random.default_rng(2).standard_normal((2000, 768)).astype(np.float32)
)
print(f"{(REPO / 'assets' / 'card_embeddings.npy').stat().st_size / 1e6:.1f} MB")


# %% answer="git_lfs"
def track_with_lfs() -> None:
    ### BEGIN SOLUTION
    git(REPO, "lfs", "install", "--local")
    git(REPO, "lfs", "track", "*.npy")
    git(REPO, "add", ".gitattributes", "assets/card_embeddings.npy")
    git(REPO, "commit", "--quiet", "-m", "assets: card embeddings via git LFS")
    ### END SOLUTION


track_with_lfs()
print(git(REPO, "lfs", "ls-files"))
print(git(REPO, "cat-file", "-p", "HEAD:assets/card_embeddings.npy")[:300])  # what git itself stores

# %% check="git_lfs" points=1
_listed = git(REPO, "lfs", "ls-files", "--name-only").split()
assert "assets/card_embeddings.npy" in _listed, (
    f"git lfs ls-files should list assets/card_embeddings.npy, lists {_listed}"
)
### BEGIN HIDDEN TESTS
_blob = git(REPO, "cat-file", "-p", "HEAD:assets/card_embeddings.npy")
_npy = REPO / "assets" / "card_embeddings.npy"
assert _blob.startswith("version https://git-lfs.github.com/spec/v1"), "git stores the full file, not an LFS pointer"
assert f"oid sha256:{file_sha256(_npy)}" in _blob and f"size {_npy.stat().st_size}" in _blob, (
    f"pointer does not match the file:\n{_blob}"
)
assert ".gitattributes" in git(REPO, "ls-files").split() and "*.npy filter=lfs" in git(
    REPO, "show", "HEAD:.gitattributes"
), ".gitattributes with the *.npy rule is not committed: a clone would not know the file is in LFS"
_sha = file_sha256(_npy)
assert (REPO / ".git" / "lfs" / "objects" / _sha[:2] / _sha[2:4] / _sha).exists(), (
    "the bytes are not in .git/lfs/objects"
)
### END HIDDEN TESTS

# %% [markdown]
# No LFS server runs here, so the bytes stay in `.git/lfs/objects`. A **hosted LFS** (GitHub,
# GitLab, Bitbucket, or a self-hosted server backed by S3) adds what makes it a team tool: `git push`
# uploads the objects and `git clone` downloads them transparently (the smudge filter swaps pointers
# for bytes), per-repo access control, storage and bandwidth quotas, and `git lfs lock` for files
# that cannot be merged. **DVC or LFS?** LFS: a few binaries that version with the code and are
# served by your git host. DVC: datasets and models in *your* bucket, shared cache, pipelines and
# lineage, partial fetches (`dvc pull <one file>`), no git-host quota.

# %% [markdown]
# ## Exercise 6: tie every MLflow run to its data version
#
# The payoff: a training run in MLflow records the **MD5 of the data it trained on**, taken from
# `dvc.lock`, plus the git commit. From any model you can then go back to the exact bytes
# (`git checkout <commit> && dvc pull`, or `dvc get . data/transactions.csv --rev <commit>`), and
# two runs with different data can never be confused.
#
# Write `log_training_run()` that, in the experiment `EXPERIMENT`, starts a run and:
# - sets the tag `dvc.data_md5` to the MD5 of `data/transactions.csv` **as recorded in `dvc.lock`**
#   (the `prepare` stage's entry for that path under `deps`);
# - sets the tag `git_commit` to the repo's current commit (`git rev-parse HEAD`);
# - logs the `train` params from `params.yaml` (`C`, `max_iter`) and the metric `val_auc` from
#   `metrics.json`;
# - logs `dvc.lock` as an artifact;
# - returns the run id.
#
# The cell after it logs a run for the current data (v1), then a month of new transactions
# arrives: it re-adds the data, reruns the pipeline, commits, pushes and logs a second run.
#
# <details><summary>Hint 1</summary><code>lock = yaml.safe_load((REPO / "dvc.lock").read_text())</code>;
# <code>lock["stages"]["prepare"]["deps"]</code> is a list of <code>{"path", "md5", ...}</code>.</details>
# <details><summary>Hint 2</summary>Read the files <i>inside</i> the function, each time it is
# called: the hash must follow the data.</details>


# %% answer="mlflow_lineage"
def log_training_run() -> str:
    ### BEGIN SOLUTION
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    data_md5 = next(d["md5"] for d in lock["stages"]["prepare"]["deps"] if d["path"] == "data/transactions.csv")
    params = yaml.safe_load((REPO / "params.yaml").read_text())["train"]
    metrics = json.loads((REPO / "metrics.json").read_text())
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-data-{data_md5[:8]}") as run:
        mlflow.set_tags({"dvc.data_md5": data_md5, "git_commit": git(REPO, "rev-parse", "HEAD").strip()})
        mlflow.log_params(params)
        mlflow.log_metric("val_auc", metrics["auc"])
        mlflow.log_artifact(str(REPO / "dvc.lock"))
        return run.info.run_id
    ### END SOLUTION


# %%
run_v1 = log_training_run()

DATA_V2.to_csv(REPO / "data" / "transactions.csv", index=False)  # a month of new transactions
dvc(REPO, "add", "data/transactions.csv")
print(dvc(REPO, "repro"))
git(REPO, "add", "-A")
git(REPO, "commit", "--quiet", "-m", "data: transactions v2 (days 0-120)")
git(REPO, "tag", "data-v2")
dvc(REPO, "push")
run_v2 = log_training_run()
for _rid in (run_v1, run_v2):
    _r = client.get_run(_rid)
    print(_rid, _r.data.tags.get("dvc.data_md5"), _r.data.tags.get("git_commit"), _r.data.metrics)

# %% check="mlflow_lineage" points=2
_t1, _t2 = (client.get_run(r).data.tags for r in (run_v1, run_v2))
_lock_now = {d["path"]: d["md5"] for d in yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]["prepare"]["deps"]}
assert _t2.get("dvc.data_md5") == _lock_now["data/transactions.csv"], (
    f"run tag dvc.data_md5={_t2.get('dvc.data_md5')!r}, dvc.lock has {_lock_now['data/transactions.csv']!r}"
)
assert _t1.get("dvc.data_md5") != _t2.get("dvc.data_md5"), "new data must give a new dvc.data_md5 tag"
### BEGIN HIDDEN TESTS
try:
    _lock_text_v1 = git(REPO, "show", f"{_t1.get('git_commit')}:dvc.lock")
except CommandFailed:
    raise AssertionError(
        f"run 1's git_commit {_t1.get('git_commit')!r} has no dvc.lock: tag the commit trained on"
    ) from None
_lock_v1 = {d["path"]: d["md5"] for d in yaml.safe_load(_lock_text_v1)["stages"]["prepare"]["deps"]}
assert _t1.get("dvc.data_md5") == _lock_v1["data/transactions.csv"], (
    "run 1's tag does not match dvc.lock at its git_commit"
)
assert _t2.get("git_commit") == git(REPO, "rev-parse", "HEAD").strip(), "git_commit should be the commit trained on"
# go back from the run to the data: fetch data/transactions.csv at run 1's commit from the S3 remote
_out = WORK / "check-v1.csv"
_out.unlink(missing_ok=True)
dvc(WORK, "get", str(REPO), "data/transactions.csv", "--rev", _t1["git_commit"], "-o", str(_out))
assert (
    file_md5(_out)
    == _t1["dvc.data_md5"]
    == file_md5(REPO / ".dvc" / "cache" / "files" / "md5" / _t1["dvc.data_md5"][:2] / _t1["dvc.data_md5"][2:])
), "the data at run 1's commit does not hash to its dvc.data_md5"
_r2 = client.get_run(run_v2)
assert (
    _r2.data.params.get("C") == "0.1"
    and abs(_r2.data.metrics.get("val_auc", 0) - json.loads((REPO / "metrics.json").read_text())["auc"]) < 1e-6
), f"log the train params and val_auc from metrics.json; saw params {_r2.data.params}, metrics {_r2.data.metrics}"
assert "dvc.lock" in [a.path for a in client.list_artifacts(run_v2)], "dvc.lock is not among the run's artifacts"
### END HIDDEN TESTS

# %% [markdown]
# Walk it backwards: the MLflow run names a data MD5 and a commit; the commit's `dvc.lock` names
# the same MD5; the remote serves those bytes. `dvc params diff` and `dvc metrics diff` compare two
# versions of the pipeline directly from git. Here: run 1's commit against the current one.

# %%
_rev_v1 = client.get_run(run_v1).data.tags["git_commit"]
print(dvc(REPO, "metrics", "diff", _rev_v1))

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** real git, git-lfs and DVC on a throwaway repository; a real S3 API (moto) as
# DVC's remote, with a push and a pull into a fresh clone; a real MLflow tracking server holding
# runs tagged with their data's MD5. **What the live cloud tier adds:** a real S3 bucket (versioning,
# encryption, lifecycle rules to age out old cache objects) reached with an IAM role instead of
# keys and without `endpointurl`; a hosted git remote (GitHub/GitLab) where the repository and its
# LFS objects live and where CI runs `dvc pull && dvc repro` on every pull request (CML or a GitHub
# Action posting `dvc metrics diff` to the review); and, for large teams, a shared DVC cache on EFS
# or DVC Studio for browsing experiments. Apart from dropping `endpointurl`, the commands stay the same.
#
# Cleanup: delete the bucket and its objects, the MLflow experiment, and the work folder (comment
# out the last step if you want to keep exploring the repository in a terminal).

# %%
_objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
for _obj in _objects:
    s3.delete_object(Bucket=BUCKET, Key=_obj["Key"])
s3.delete_bucket(Bucket=BUCKET)
client.delete_experiment(experiment_id)
shutil.rmtree(WORK, ignore_errors=True)
print("cleaned up", len(_objects), "objects,", BUCKET, EXPERIMENT, "and", WORK)
