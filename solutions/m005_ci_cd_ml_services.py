# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 5 — CI/CD for ML services
#
# **Where this sits:** Module 1 put the fraud model in MLflow, Module 4 wrapped a model in an API.
# This module automates the path between them: every push to `main` lints and tests the model repo,
# retrains, evaluates, lets a **gate** decide whether the new model may be promoted, and ships an
# image to **ECR**. Then the new version meets real traffic gradually: a **canary** behind nginx,
# promoted or rolled back on the error rate it actually shows. Running example: the course's
# fraud-detection model.
#
# **You will:**
# 1. create an **ECR repository** the production way (scan on push, immutable tags, lifecycle policy)
#    and log in to it with an authorization token;
# 2. write the **promotion gate**: read the candidate's metric from MLflow and move the `production`
#    alias only if it beats a threshold *and* the model in production;
# 3. write a **GitHub Actions workflow** (lint → test → train → evaluate → gate → build → push) and run
#    it, every step for real, with a local runner;
# 4. serve two model versions behind **nginx with weighted upstreams** (90/10 canary), measure each
#    version's error rate from real responses, and **promote or roll back** with a config reload —
#    which is also how a **blue/green** switch works.
#
# **What runs here, honestly:** GitHub's hosted runners are not reachable, so `labkit.cicd.run_workflow`
# runs your workflow file the way [`act`](https://github.com/nektos/act) does: jobs in `needs:` order,
# `if:` and `${{ }}` evaluated, every `run:` step executed by bash in a fresh checkout, and local
# stand-ins for six common actions (checkout, setup-python, upload/download-artifact,
# configure-aws-credentials, amazon-ecr-login); `actionlint` checks the file as GitHub would parse it.
# ECR is moto's implementation of the ECR API: the image **manifest** is pushed with `ecr:PutImage`
# (moto has no blob upload endpoint, so layers stay on this machine). Reference workflows for a real
# service repo are in `infra-snippets/github-actions/` in the course repository.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")

# %% [markdown]
# ## Setup
# Everything is named from `RUN_ID`. MLflow and boto3 are told to fail fast, so a mistake is an
# error, not a hang. The cell then writes the **model repository** this lab's CI builds: a small
# fraud model whose scorer is plain Python (so the serving image needs no pip install), a unit test,
# and the scripts CI calls.

# %%
import base64
import hashlib
import inspect
import json
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import boto3
import mlflow
from botocore.config import Config
from mlflow import MlflowClient

from labkit import labenv
import labkit
from labkit import cicd, vcs
from labkit.canary import reload_nginx, send_traffic, upstream_servers
from labkit.fraud import feature_frame, time_split
from labkit.nginx import run_nginx
from mlops_datasets import load

labenv.configure(DATA_DIR)  # fail-fast clients, dummy AWS credentials, this env's tools on PATH
os.environ["AWS_ENDPOINT_URL"] = AWS_ENDPOINT_URL

NAME = "m005-" + RUN_ID.lower().replace("_", "-")
WORK = (Path("m005-work") / NAME).resolve()
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True)
ECR_REPOSITORY = f"mlops-course/{NAME}"
MODEL_NAME = f"fraud-{NAME}"
EXPERIMENT = f"ci-{NAME}"
AUC_THRESHOLD = 0.70

mlflow.set_tracking_uri(MLFLOW_TRACKING_URI)
client = MlflowClient(MLFLOW_TRACKING_URI)
ecr = boto3.client("ecr", endpoint_url=AWS_ENDPOINT_URL, config=Config(retries={"max_attempts": 1}))

REPO = vcs.init_repo(WORK / "model-repo")
FILES = {
    "fraudmodel.py": '''
        """The fraud scorer: a logistic regression exported as plain numbers, scored without numpy."""
        import json
        import math
        from pathlib import Path


        def load_model(path="model.json"):
            return json.loads(Path(path).read_text())


        def score(model, features):
            """Fraud probability for one transaction's feature dict (a missing feature counts as 0)."""
            z = model["intercept"]
            for name, coef, mean, std in zip(model["features"], model["coef"], model["mean"], model["std"]):
                z += coef * (float(features.get(name, 0.0)) - mean) / std
            return 1.0 / (1.0 + math.exp(-z))
    ''',
    "train.py": '''
        """Train on the first 70% of the fraud transactions (by time) and export model.json."""
        import json

        from sklearn.linear_model import LogisticRegression

        from labkit.fraud import FEATURES, feature_frame, time_split
        from mlops_datasets import load

        train, _ = time_split(load("fraud")["transactions"])
        X, y = feature_frame(train), train["isFraud"].to_numpy()
        mean, std = X.mean(), X.std().replace(0, 1.0)
        clf = LogisticRegression(C=1.0, max_iter=200).fit((X - mean) / std, y)
        model = {
            "features": FEATURES,
            "coef": clf.coef_[0].tolist(),
            "intercept": float(clf.intercept_[0]),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "trained_rows": len(X),
        }
        with open("model.json", "w") as fh:
            json.dump(model, fh)
        print(f"trained on {len(X)} rows -> model.json")
    ''',
    "evaluate.py": '''
        """Score the validation window, log the run to MLflow, register a model version, write candidate.json."""
        import json
        import os

        import mlflow
        from sklearn.metrics import roc_auc_score

        from fraudmodel import load_model, score
        from labkit.fraud import feature_frame, time_split
        from mlops_datasets import load

        model_name = os.environ["MODEL_NAME"]
        _, valid = time_split(load("fraud")["transactions"])
        model = load_model()
        rows = feature_frame(valid).to_dict("records")
        auc = roc_auc_score(valid["isFraud"], [score(model, r) for r in rows])
        sha = os.environ.get("GITHUB_SHA", "local")
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "ci"))
        with mlflow.start_run(run_name=f"ci-{sha[:7]}") as run:
            mlflow.set_tags({"git_sha": sha, "ci": os.environ.get("CI", "false")})
            mlflow.log_metric("val_auc", auc)
            mlflow.log_artifact("model.json")
        client = mlflow.MlflowClient()
        try:
            client.create_registered_model(model_name)
        except mlflow.exceptions.MlflowException:
            pass  # already registered
        mv = client.create_model_version(
            model_name,
            source=f"{run.info.artifact_uri}/model.json",
            run_id=run.info.run_id,
            tags={"git_sha": sha},
            await_creation_for=0,
        )
        candidate = {"model_name": model_name, "version": mv.version, "run_id": run.info.run_id, "val_auc": auc}
        with open("candidate.json", "w") as fh:
            json.dump(candidate, fh)
        if os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
                fh.write(f"version={mv.version}\\nval_auc={auc:.4f}\\n")
        print(f"val_auc={auc:.4f}: registered {model_name} version {mv.version}")
    ''',
    "serve.py": '''
        """A stdlib HTTP server for the model: POST /predict {features} -> {"score": p}; GET /health."""
        import json
        import os
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from pathlib import Path

        from fraudmodel import load_model, score

        VERSION = os.environ.get("MODEL_VERSION", "dev")
        MODEL = load_model(os.environ.get("MODEL_PATH", Path(__file__).with_name("model.json")))


        class Handler(BaseHTTPRequestHandler):
            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Model-Version", VERSION)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.reply(200 if self.path == "/health" else 404, {"version": VERSION})

            def do_POST(self):
                try:
                    features = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    self.reply(200, {"score": score(MODEL, features), "version": VERSION})
                except Exception as exc:
                    self.reply(500, {"error": repr(exc), "version": VERSION})

            def log_message(self, *args):
                pass


        if __name__ == "__main__":
            ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
    ''',
    "tests/test_fraudmodel.py": '''
        import math

        from fraudmodel import score

        MODEL = {"features": ["a", "b"], "coef": [1.0, -2.0], "intercept": 0.5, "mean": [0.0, 1.0], "std": [1.0, 2.0]}


        def test_score_is_a_probability():
            p = score(MODEL, {"a": 3.0, "b": 1.0})
            assert 0.0 < p < 1.0
            assert math.isclose(p, 1 / (1 + math.exp(-3.5)))


        def test_higher_a_means_higher_risk():
            assert score(MODEL, {"a": 2.0, "b": 1.0}) > score(MODEL, {"a": 1.0, "b": 1.0})
    ''',
    "Containerfile": '''
        # In a service repo this would be FROM python:3.11-slim; there is no registry to pull from here,
        # so the base is the course's debootstrapped Debian with python3 (localhost/mlops-labs/debian).
        FROM localhost/mlops-labs/debian:bookworm
        ARG MODEL_VERSION=dev
        ENV MODEL_VERSION=${MODEL_VERSION} PORT=8080
        COPY fraudmodel.py serve.py model.json /app/
        WORKDIR /app
        EXPOSE 8080
        CMD ["python3", "serve.py"]
    ''',
    "ruff.toml": 'line-length = 120\n[lint]\nselect = ["E", "F"]\n',
    "pytest.ini": "[pytest]\npythonpath = .\naddopts = -p no:cacheprovider\n",
    ".gitignore": "model.json\ncandidate.json\n__pycache__/\n",
}
for rel, text in FILES.items():
    (REPO / rel).parent.mkdir(parents=True, exist_ok=True)
    (REPO / rel).write_text(textwrap.dedent(text).lstrip())
vcs.git(REPO, "add", "-A")
vcs.git(REPO, "commit", "-q", "-m", "fraud model repo")
print("model repo:", REPO, "| ECR repository:", ECR_REPOSITORY, "| model:", MODEL_NAME)

# %% [markdown]
# ## Exercise 1: an ECR repository, and logging in to it
#
# CI pushes to a repository that exists already (created by Terraform in Module 3 of the cloud tier;
# here with boto3). Write `create_repository()` that (re)creates `ECR_REPOSITORY` and returns the
# repository dict from `describe_repositories`:
# - delete it first if it exists (`ecr.delete_repository(..., force=True)`), so the lab reruns cleanly;
# - **scan on push** (`imageScanningConfiguration={"scanOnPush": True}`): every pushed image is
#   scanned for CVEs before anyone deploys it;
# - **immutable tags** (`imageTagMutability="IMMUTABLE"`): a tag, like the git SHA CI uses, can never
#   be moved to different content, so "the image for commit abc123" means one thing forever;
# - a **lifecycle policy** (`ecr.put_lifecycle_policy`, the policy as a JSON *string*) with two rules:
#   priority 1 expires **untagged** images 7 days after push (`countType: sinceImagePushed`,
#   `countUnit: days`), priority 2 keeps at most 30 images of **any** tag status
#   (`countType: imageCountMoreThan`).
#
# Then write `registry_login()` returning `(registry, username, password)` from
# `ecr.get_authorization_token()`: the token is base64 of `"AWS:<password>"`, and the registry host is
# `proxyEndpoint` without `https://`. This is what `aws ecr get-login-password | docker login` and the
# `amazon-ecr-login` action do.
#
# <details><summary>Hint 1</summary>A rule looks like <code>{"rulePriority": 1, "description": "...",
# "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
# "countNumber": 7}, "action": {"type": "expire"}}</code>; the policy is <code>{"rules": [...]}</code>.</details>
# <details><summary>Hint 2</summary><code>ecr.exceptions.RepositoryNotFoundException</code> is what
# deleting a missing repository raises.</details>

# %% answer="ecr_repo"
def create_repository() -> dict:
    ### BEGIN SOLUTION
    try:
        ecr.delete_repository(repositoryName=ECR_REPOSITORY, force=True)
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    ecr.create_repository(
        repositoryName=ECR_REPOSITORY,
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged images after 7 days",
                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                              "countNumber": 7},
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": "keep at most 30 images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
                "action": {"type": "expire"},
            },
        ]
    }
    ecr.put_lifecycle_policy(repositoryName=ECR_REPOSITORY, lifecyclePolicyText=json.dumps(policy))
    return ecr.describe_repositories(repositoryNames=[ECR_REPOSITORY])["repositories"][0]
    ### END SOLUTION


def registry_login() -> tuple[str, str, str]:
    ### BEGIN SOLUTION
    data = ecr.get_authorization_token()["authorizationData"][0]
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return data["proxyEndpoint"].removeprefix("https://").rstrip("/"), username, password
    ### END SOLUTION


repository = create_repository()
REGISTRY, _user, _password = registry_login()
print("repository:", repository["repositoryUri"], "| registry:", REGISTRY, "| user:", _user)

# %% check="ecr_repo" points=2
_repo = ecr.describe_repositories(repositoryNames=[ECR_REPOSITORY])["repositories"][0]
assert _repo["imageScanningConfiguration"]["scanOnPush"] is True, "scanOnPush should be enabled"
assert _repo["imageTagMutability"] == "IMMUTABLE", f"tags should be IMMUTABLE, got {_repo['imageTagMutability']}"
### BEGIN HIDDEN TESTS
_rules = json.loads(ecr.get_lifecycle_policy(repositoryName=ECR_REPOSITORY)["lifecyclePolicyText"])["rules"]
_untagged = [r for r in _rules if r["selection"].get("tagStatus") == "untagged"]
assert _untagged and _untagged[0]["selection"]["countType"] == "sinceImagePushed", (
    f"expected a rule expiring untagged images by age, rules were {_rules}"
)
assert 1 <= _untagged[0]["selection"]["countNumber"] <= 14, "untagged images should expire within two weeks"
_cap = [r for r in _rules if r["selection"].get("countType") == "imageCountMoreThan"]
assert _cap and _cap[0]["selection"].get("tagStatus") == "any" and _cap[0]["selection"]["countNumber"] == 30, (
    f"expected a rule keeping at most 30 images of any tag status, rules were {_rules}"
)
assert _untagged[0]["rulePriority"] < _cap[0]["rulePriority"], "the untagged rule should come first (lower priority)"
_data = ecr.get_authorization_token()["authorizationData"][0]
assert REGISTRY == _repo["repositoryUri"].split("/", 1)[0], f"registry {REGISTRY!r} is not the repository's host"
assert (_user, _password) == tuple(base64.b64decode(_data["authorizationToken"]).decode().split(":", 1)), (
    "username/password should be the decoded authorization token"
)
_manifest = json.dumps({"schemaVersion": 2, "mediaType": cicd.OCI_MANIFEST, "config": {}, "layers": []})
ecr.put_image(repositoryName=ECR_REPOSITORY, imageManifest=_manifest, imageTag="probe")
try:
    ecr.put_image(repositoryName=ECR_REPOSITORY, imageManifest=_manifest.replace("[]", '[{"digest": "x"}]'),
                  imageTag="probe")
    raise AssertionError("an IMMUTABLE repository must refuse to move an existing tag to new content")
except (ecr.exceptions.ImageTagAlreadyExistsException, ecr.exceptions.ImageAlreadyExistsException):
    pass  # AWS raises ImageTagAlreadyExistsException; moto raises ImageAlreadyExistsException
finally:
    ecr.batch_delete_image(repositoryName=ECR_REPOSITORY, imageIds=[{"imageTag": "probe"}])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: the promotion gate
#
# CI trains on every push, but only a better model may reach production. The gate is a small
# function CI calls after evaluation. Write `promote_if_better(client, model_name, version, threshold)`:
# 1. read the candidate's `val_auc` from **MLflow**: the model version's `run_id`, then that run's
#    metrics (never trust a number passed along on the command line);
# 2. read the model currently behind the alias `production`, if any, and its `val_auc`
#    (`client.get_model_version_by_alias` raises `MlflowException` when the alias is not set);
# 3. if the candidate's `val_auc` is **at least `threshold`** and **strictly higher** than production's,
#    set alias `production` on the candidate and return `True`; otherwise change nothing and return `False`.
#
# The lab writes your function into the repo as `gate.py` (with a small command line around it:
# `python gate.py --threshold 0.7` reads `candidate.json` from `evaluate.py` and exits 1 when the
# gate says no), so CI runs exactly the code you wrote. Keep it self-contained: `MlflowClient` and
# `MlflowException` are imported for you in `gate.py`.
#
# <details><summary>Hint 1</summary><code>client.get_model_version(model_name, version).run_id</code>,
# then <code>client.get_run(run_id).data.metrics["val_auc"]</code>.</details>
# <details><summary>Hint 2</summary>"Promote whatever is latest" is the classic bug: a newer model
# that passes the threshold but is worse than production must not replace it.</details>

# %% answer="gate"
from mlflow.exceptions import MlflowException


def promote_if_better(client, model_name, version, threshold, metric="val_auc"):
    ### BEGIN SOLUTION
    candidate = client.get_model_version(model_name, str(version))
    score = client.get_run(candidate.run_id).data.metrics[metric]
    try:
        current = client.get_model_version_by_alias(model_name, "production")
        best = client.get_run(current.run_id).data.metrics.get(metric, float("-inf"))
    except MlflowException:
        current, best = None, float("-inf")
    if score < threshold or score <= best:
        print(f"gate: version {version} {metric}={score:.4f} stays out (threshold {threshold}, production {best})")
        return False
    client.set_registered_model_alias(model_name, "production", str(version))
    print(f"gate: version {version} {metric}={score:.4f} promoted to production")
    return True
    ### END SOLUTION


GATE_MAIN = '''

if __name__ == "__main__":
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--candidate", default="candidate.json")
    args = parser.parse_args()
    cand = json.load(open(args.candidate))
    promoted = promote_if_better(MlflowClient(), cand["model_name"], cand["version"], args.threshold)
    sys.exit(0 if promoted else 1)
'''
gate_source = (
    '"""CI gate: promote the candidate to alias `production` only if it beats the threshold and production."""\n'
    "from mlflow import MlflowClient\nfrom mlflow.exceptions import MlflowException  # noqa: F401\n\n\n"
    + inspect.getsource(promote_if_better)
    + GATE_MAIN
)
(REPO / "gate.py").write_text(gate_source)
vcs.git(REPO, "add", "gate.py")
vcs.git(REPO, "commit", "-q", "-m", "add the promotion gate")
print("gate.py committed:", vcs.git(REPO, "rev-parse", "--short", "HEAD").strip())

# %% [markdown]
# The check imports `gate.py` from the repository (the file CI runs) and calls it on candidate
# models it registers in MLflow with known metrics, then reads the alias back from the registry.

# %% check="gate" points=2
import importlib.util
import logging

logging.getLogger("mlflow").setLevel(logging.ERROR)
_spec = importlib.util.spec_from_file_location("lab_gate", REPO / "gate.py")
_gate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gate)
_GATE_MODEL = f"{MODEL_NAME}-gate"
_gate_exp = client.get_experiment_by_name(f"{EXPERIMENT}-gate")
_gate_exp_id = _gate_exp.experiment_id if _gate_exp else client.create_experiment(f"{EXPERIMENT}-gate")
try:
    client.create_registered_model(_GATE_MODEL)
except MlflowException:
    pass


def _gate_case(_auc):
    _run = client.create_run(_gate_exp_id)
    client.log_metric(_run.info.run_id, "val_auc", _auc)
    client.set_terminated(_run.info.run_id)
    _mv = client.create_model_version(
        _GATE_MODEL, source=f"{_run.info.artifact_uri}/model", run_id=_run.info.run_id, await_creation_for=0
    )
    _ok = _gate.promote_if_better(client, _GATE_MODEL, _mv.version, AUC_THRESHOLD)
    try:
        _prod = client.get_model_version_by_alias(_GATE_MODEL, "production").version
    except MlflowException:
        _prod = None
    return _mv.version, _ok, _prod


_v, _ok, _prod = _gate_case(0.80)
assert _ok is True and _prod == _v, f"a first model with val_auc 0.80 > {AUC_THRESHOLD} should be promoted, got {_prod}"
### BEGIN HIDDEN TESTS
_v2, _ok, _prod = _gate_case(0.65)
assert not _ok and _prod == _v, f"val_auc 0.65 is under the threshold: production should stay {_v}, got {_prod}"
_v3, _ok, _prod = _gate_case(0.78)
assert not _ok and _prod == _v, (
    f"version {_v3} (0.78) passes the threshold but is worse than production (0.80): production should stay "
    f"{_v}, got {_prod} (promoting the latest model is the bug this gate exists to stop)"
)
_v4, _ok, _prod = _gate_case(0.85)
assert _ok is True and _prod == _v4, f"version {_v4} (0.85) beats production (0.80): expected it promoted, got {_prod}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the CI workflow
#
# Write `WORKFLOW`, the YAML of `.github/workflows/model-ci.yml`, named `model-ci`, triggered on
# `push` to `main` and on `pull_request`, with **three jobs** (each job starts on a fresh runner: it
# must check out the code, and files pass between jobs only as artifacts):
#
# 1. `test`: `actions/checkout@v4`, `actions/setup-python@v5` (python-version `"3.11"`), then
#    `python -m ruff check .` and `python -m pytest -q`;
# 2. `model` (**needs** `test`): checkout, setup-python, then `python train.py`, `python evaluate.py`
#    (give that step `id: evaluate`), `python gate.py --threshold ${{ vars.AUC_THRESHOLD }}`, and
#    `actions/upload-artifact@v4` with `name: model` and `path: model.json`. The job needs the env
#    `MLFLOW_TRACKING_URI: ${{ vars.MLFLOW_TRACKING_URI }}`, `MODEL_NAME: ${{ vars.MODEL_NAME }}`,
#    `MLFLOW_EXPERIMENT_NAME: ${{ vars.MLFLOW_EXPERIMENT_NAME }}`; expose the job output
#    `model_version: ${{ steps.evaluate.outputs.version }}`;
# 3. `image` (**needs** `model`, and only when `github.ref == 'refs/heads/main'`; permissions
#    `id-token: write`, `contents: read`): checkout, `actions/download-artifact@v4` (name `model`),
#    `aws-actions/configure-aws-credentials@v4` (`role-to-assume: ${{ vars.AWS_CI_ROLE_ARN }}`,
#    `aws-region: us-east-1`), `aws-actions/amazon-ecr-login@v2` with `id: ecr`, then build and push
#    `$REGISTRY/$ECR_REPOSITORY:${{ github.sha }}` with `docker build` (pass
#    `--build-arg MODEL_VERSION=${{ needs.model.outputs.model_version }}`) and `docker push`, where
#    `REGISTRY` is `${{ steps.ecr.outputs.registry }}` and `ECR_REPOSITORY` is `${{ vars.ECR_REPOSITORY }}`.
#
# The lab commits the file and runs the workflow for a push to `main` with the repository
# variables in `CI_VARS`.
#
# <details><summary>Hint 1</summary>Quote YAML values that start with <code>${{</code> only when they
# are the whole value and contain a colon; <code>run: |</code> blocks keep shell lines readable.</details>
# <details><summary>Hint 2</summary>Job-level <code>if: github.ref == 'refs/heads/main'</code>; job
# outputs live under <code>outputs:</code> at the job level, step outputs under
# <code>steps.&lt;id&gt;.outputs</code>.</details>
# <details><summary>Hint 3</summary>Without <code>needs:</code> jobs run in parallel: an image would be
# pushed even when the tests fail.</details>

# %%
CI_VARS = {
    "MLFLOW_TRACKING_URI": MLFLOW_TRACKING_URI,
    "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
    "MODEL_NAME": MODEL_NAME,
    "AUC_THRESHOLD": str(AUC_THRESHOLD),
    "ECR_REPOSITORY": ECR_REPOSITORY,
    "AWS_CI_ROLE_ARN": "arn:aws:iam::123456789012:role/github-ci",
}
WORKFLOW_PATH = REPO / ".github" / "workflows" / "model-ci.yml"

# %% answer="workflow"
### BEGIN SOLUTION
WORKFLOW = """\
name: model-ci

on:
  push:
    branches: [main]
  pull_request:

permissions:
  contents: read

jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Lint
        run: python -m ruff check .
      - name: Unit tests
        run: python -m pytest -q

  model:
    needs: test
    runs-on: ubuntu-24.04
    env:
      MLFLOW_TRACKING_URI: ${{ vars.MLFLOW_TRACKING_URI }}
      MLFLOW_EXPERIMENT_NAME: ${{ vars.MLFLOW_EXPERIMENT_NAME }}
      MODEL_NAME: ${{ vars.MODEL_NAME }}
    outputs:
      model_version: ${{ steps.evaluate.outputs.version }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Train
        run: python train.py
      - name: Evaluate and register
        id: evaluate
        run: python evaluate.py
      - name: Gate (promote to production only if better)
        run: python gate.py --threshold "${{ vars.AUC_THRESHOLD }}"
      - uses: actions/upload-artifact@v4
        with:
          name: model
          path: model.json

  image:
    needs: model
    if: github.ref == 'refs/heads/main'
    runs-on: ubuntu-24.04
    permissions:
      id-token: write
      contents: read
    env:
      ECR_REPOSITORY: ${{ vars.ECR_REPOSITORY }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/download-artifact@v4
        with:
          name: model
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: ${{ vars.AWS_CI_ROLE_ARN }}
          aws-region: us-east-1
      - id: ecr
        uses: aws-actions/amazon-ecr-login@v2
      - name: Build
        env:
          REGISTRY: ${{ steps.ecr.outputs.registry }}
        run: |
          docker build --build-arg MODEL_VERSION=${{ needs.model.outputs.model_version }} \\
            -t "$REGISTRY/$ECR_REPOSITORY:${{ github.sha }}" .
      - name: Push
        env:
          REGISTRY: ${{ steps.ecr.outputs.registry }}
        run: docker push "$REGISTRY/$ECR_REPOSITORY:${{ github.sha }}"
"""
### END SOLUTION

# %%
WORKFLOW_PATH.parent.mkdir(parents=True, exist_ok=True)
WORKFLOW_PATH.write_text(WORKFLOW)
vcs.git(REPO, "add", ".github")
vcs.git(REPO, "commit", "-q", "-m", "CI workflow")
lint_rc, lint_out = cicd.actionlint(WORKFLOW_PATH)
print("actionlint:", "not installed here, skipped" if lint_rc is None else (lint_out or "clean"))
ci_run = cicd.run_workflow(WORKFLOW_PATH, REPO, event="push", ref="refs/heads/main", vars=CI_VARS,
                           state=WORK / "runner", run_number=1)
print(ci_run.summary())
for _ref, _img in cicd.local_images(WORK / "runner").items():
    print("image:", _ref, "| built with", _img["engine"], "| manifest", _img["digest"])
if ci_run.conclusion != "success":
    print(ci_run.log()[-3000:])

# %% [markdown]
# Now the same workflow meets a bad commit: someone pushes a change whose unit test fails. A correct
# pipeline stops at `test`: nothing is trained, registered or pushed for that commit.

# %%
(REPO / "tests" / "test_regression.py").write_text(
    "from fraudmodel import score\n\n\ndef test_missing_features_score_at_the_mean():\n"
    "    model = {'features': ['a'], 'coef': [1.0], 'intercept': 0.0, 'mean': [5.0], 'std': [1.0]}\n"
    "    assert score(model, {}) == 0.5  # fails: a missing feature is scored as 0, not as the mean\n"
)
vcs.git(REPO, "add", "tests")
vcs.git(REPO, "commit", "-q", "-m", "a change with a failing test")
bad_run = cicd.run_workflow(WORKFLOW_PATH, REPO, event="push", ref="refs/heads/main", vars=CI_VARS,
                            state=WORK / "runner", run_number=2)
print(bad_run.summary())
vcs.git(REPO, "revert", "--no-edit", "HEAD")

# %% check="workflow" points=3
assert lint_rc in (None, 0), f"actionlint found problems in the workflow:\n{lint_out}"
if lint_rc is None:
    print("actionlint is not installed on this machine: that assertion was skipped (the runner still parsed the file)")
assert ci_run.conclusion == "success", f"the workflow run failed:\n{ci_run.summary()}"
assert set(ci_run.jobs) == {"test", "model", "image"}, f"expected jobs test, model, image; got {list(ci_run.jobs)}"
### BEGIN HIDDEN TESTS
assert ci_run.order == ["test", "model", "image"], f"jobs ran in the order {ci_run.order}: needs test -> model -> image"
_images = ecr.describe_images(repositoryName=ECR_REPOSITORY)["imageDetails"]
_by_tag = {t: d for d in _images for t in d.get("imageTags", [])}
assert ci_run.sha in _by_tag, f"no image tagged with the commit {ci_run.sha[:7]} in ECR; tags: {list(_by_tag)}"
_local = cicd.local_images(WORK / "runner")
_ref = f"{REGISTRY}/{ECR_REPOSITORY}:{ci_run.sha}"
assert _ref in _local, f"the image {_ref} was not built by the workflow; built: {list(_local)}"
assert _by_tag[ci_run.sha]["imageDigest"] == _local[_ref]["digest"], "the pushed digest differs from the built one"
_got = ecr.batch_get_image(repositoryName=ECR_REPOSITORY, imageIds=[{"imageTag": ci_run.sha}])["images"][0]
assert "sha256:" + hashlib.sha256(_got["imageManifest"].encode()).hexdigest() == _local[_ref]["digest"]
_versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
_mine = [mv for mv in _versions if mv.tags.get("git_sha") == ci_run.sha]
assert len(_mine) == 1, f"expected one model version registered by CI for {ci_run.sha[:7]}, found {len(_mine)}"
assert client.get_model_version_by_alias(MODEL_NAME, "production").version == _mine[0].version, (
    "the CI-trained model passed the gate, so alias production should point at it"
)
assert ci_run.jobs["model"].outputs.get("model_version") == _mine[0].version, "job output model_version is wrong"
assert bad_run.jobs["test"].result == "failure", "the commit with a failing test should fail the test job"
assert bad_run.sha not in {t for d in ecr.describe_images(repositoryName=ECR_REPOSITORY)["imageDetails"]
                           for t in d.get("imageTags", [])}, "an image was pushed for a commit whose tests failed"
assert not [mv for mv in client.search_model_versions(f"name = '{MODEL_NAME}'")
            if mv.tags.get("git_sha") == bad_run.sha], "a model was registered for a commit whose tests failed"
_doc = __import__("yaml").safe_load(WORKFLOW_PATH.read_text())
assert cicd.triggered(_doc, "pull_request", "refs/pull/7/merge"), "the workflow should also run on pull_request"
_pr_ctx = {"github": {"ref": "refs/pull/7/merge", "event_name": "pull_request", "sha": ci_run.sha}, "vars": CI_VARS}
assert not cicd._condition(_doc["jobs"]["image"].get("if"), _pr_ctx, {"success": True, "failure": False,
                                                                      "always": True, "cancelled": False}), (
    "on a pull request the image job must be skipped: only main pushes images"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Canary and blue/green, behind nginx
#
# The image is in the registry and the registry says which model is `production`. Deploying it is a
# traffic question: how many users see the new version before you trust it?
#
# - **Blue/green**: two full environments; all traffic on *blue*, the new release on *green*; one
#   switch moves 100% to green, and blue stays up for an instant switch back. Simple, but every user
#   meets the new version at once.
# - **Canary**: a small share of traffic (say 10%) goes to the new version; you **measure** it (error
#   rate, latency, model metrics) against the stable version, then **promote** (100% to the canary)
#   or **roll back** (0%). On AWS this is ALB weighted target groups, CodeDeploy or Argo Rollouts; the
#   mechanism here is the same: a weighted load balancer, nginx.
#
# Three builds of the serving code run below as processes (the same `serve.py` the image contains):
# **v1**, the stable version; **v2**, a release whose refactored scorer reads every feature with
# `features[name]` (its unit tests pass, since they send complete rows); and **v3**, the fixed release.
# 15% of real clients (an old mobile SDK) omit `card_tx_last_hour`.

# %%
import random

_, _valid_tx = time_split(load("fraud")["transactions"])
_rows = feature_frame(_valid_tx).head(600).to_dict("records")
_rng = random.Random(5)
PAYLOADS = [{k: v for k, v in r.items() if not (k == "card_tx_last_hour" and _rng.random() < 0.15)} for r in _rows]
N_REQUESTS = 300

vcs.git(REPO, "clone", "-q", str(REPO), str(WORK / "v2"))
(WORK / "v2" / "fraudmodel.py").write_text(
    (REPO / "fraudmodel.py").read_text().replace('float(features.get(name, 0.0))', "float(features[name])")
)
_model_json = WORK / "runner" / "work" / "image" / "model.json"
if not _model_json.exists():  # the workflow did not produce it: train here so the canary still runs
    subprocess.run([sys.executable, "train.py"], cwd=REPO, check=True, capture_output=True, timeout=300)
    _model_json = REPO / "model.json"
backends = {}
for _version, _code in (("v1", REPO), ("v2", WORK / "v2"), ("v3", REPO)):
    _port = labkit.free_port()
    backends[_version] = (_port, labkit.start_process(
        f"serve-{_version}", [sys.executable, "serve.py"], cwd=_code, log_dir=WORK / "logs",
        env={"PORT": str(_port), "MODEL_VERSION": _version, "MODEL_PATH": str(_model_json)},
        ready=lambda p=_port: labkit.net.http_status(f"http://127.0.0.1:{p}/health") == 200, timeout=60,
    ))
PROXY_PORT = labkit.free_port()
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}/predict"
print({v: p for v, (p, _) in backends.items()}, "| proxy", PROXY_URL)

# %% [markdown]
# ## Exercise 4: a weighted canary upstream
#
# Write `canary_config(stable_port, canary_port, stable_weight, canary_weight)` returning nginx
# server blocks (the text `labkit.nginx.run_nginx` wraps in `http { }`) with:
# - an `upstream model_backends { ... }` listing `server 127.0.0.1:<port> weight=<w>;` for both;
# - a `server` listening on `127.0.0.1:{PROXY_PORT}` whose `location /` does `proxy_pass
#   http://model_backends;`.
#
# Careful: nginx refuses `weight=0`. A version that should get **no** traffic (after a rollback, or
# the idle colour in blue/green) stays listed with the `down` flag instead (`server ... down;`), so
# switching back is a one-word change.
#
# The lab then starts nginx with v1 stable and v2 as a 90/10 canary and sends `N_REQUESTS` requests.
#
# <details><summary>Hint</summary>Build the two <code>server</code> lines with a small helper:
# <code>f"server 127.0.0.1:{port} weight={w};" if w > 0 else f"server 127.0.0.1:{port} down;"</code>.</details>

# %% answer="canary_config"
def canary_config(stable_port: int, canary_port: int, stable_weight: int, canary_weight: int) -> str:
    ### BEGIN SOLUTION
    def line(port, weight):
        return f"server 127.0.0.1:{port} weight={weight};" if weight > 0 else f"server 127.0.0.1:{port} down;"

    return f"""
upstream model_backends {{
    {line(stable_port, stable_weight)}
    {line(canary_port, canary_weight)}
}}
server {{
    listen 127.0.0.1:{PROXY_PORT};
    location / {{
        proxy_pass http://model_backends;
    }}
}}
"""
    ### END SOLUTION


proxy = run_nginx(canary_config(backends["v1"][0], backends["v2"][0], 90, 10), WORK / "nginx", PROXY_PORT)
canary_stats = send_traffic(PROXY_URL, PAYLOADS[:N_REQUESTS])
print("v1 stable / v2 canary at 90/10:", canary_stats)

# %% check="canary_config" points=2
_total = sum(s["requests"] for s in canary_stats.values())
_share = canary_stats.get("v2", {}).get("requests", 0) / max(_total, 1)
assert _total == N_REQUESTS, f"expected {N_REQUESTS} answered requests, got {canary_stats}"
assert 0.06 <= _share <= 0.14, f"the canary should get about 10% of the traffic, it got {_share:.1%}"
### BEGIN HIDDEN TESTS
assert set(canary_stats) == {"v1", "v2"}, f"only v1 and v2 should answer, got {set(canary_stats)}"
_servers = upstream_servers((WORK / "nginx" / "nginx.conf").read_text())
assert sorted(s["weight"] for s in _servers if not s["down"]) == [10, 90], f"upstream servers: {_servers}"
_probe = canary_config(backends["v1"][0], backends["v2"][0], 100, 0)
_probe_dir = WORK / "nginx-probe"
(_probe_dir / "tmp").mkdir(parents=True, exist_ok=True)
(_probe_dir / "nginx.conf").write_text(labkit.nginx.render_config(_probe, _probe_dir))
_t = subprocess.run([labkit.nginx.nginx_binary(), "-t", "-q", "-p", str(_probe_dir), "-c", str(_probe_dir / "nginx.conf")],
             capture_output=True, text=True, timeout=30)
assert _t.returncode == 0, f"canary_config(..., 100, 0) must be a valid nginx config (weight=0 is not): {_t.stderr}"
assert [s["down"] for s in upstream_servers(_probe)] == [False, True], "a 0% version should be listed as `down`"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: promote or roll back on the measured error rate
#
# Write `rollout_weights(stats, max_error_rate=0.02, min_requests=20)` that takes the per-version stats
# measured through the proxy (`{"v1": {"requests": n, "errors": e}, "v2": {...}}`, the canary is the
# version that is **not** `"v1"`) and returns the new `(stable_weight, canary_weight)`:
# - **promote** `(0, 100)` when the canary answered at least `min_requests` requests **and its own**
#   error rate (errors / requests) is at most `max_error_rate`;
# - otherwise **roll back** `(100, 0)`: too few requests to judge is not a pass.
#
# Judge the canary on **its own** errors: 10% of traffic at a 15% error rate is only 1.5% of all
# requests, under the 2% budget, while one user in seven of the canary fails.
#
# The lab applies your decision with `reload_nginx` (nginx re-reads its config without dropping
# connections: this reload *is* the blue/green switch), then replays the scenario with v3 as canary.
#
# <details><summary>Hint</summary><code>canary = next(v for v in stats if v != "v1")</code>.</details>

# %% answer="rollout"
def rollout_weights(stats: dict, max_error_rate: float = 0.02, min_requests: int = 20) -> tuple[int, int]:
    ### BEGIN SOLUTION
    canary = next((v for v in stats if v not in ("v1", "nginx")), None)
    if canary is None:
        return 100, 0
    seen = stats[canary]
    if seen["requests"] >= min_requests and seen["errors"] / seen["requests"] <= max_error_rate:
        return 0, 100
    return 100, 0
    ### END SOLUTION


decisions = {}
after = {}
for _canary in ("v2", "v3"):
    reload_nginx(proxy, canary_config(backends["v1"][0], backends[_canary][0], 90, 10))
    _measured = send_traffic(PROXY_URL, PAYLOADS[:N_REQUESTS])
    decisions[_canary] = rollout_weights(_measured)
    reload_nginx(proxy, canary_config(backends["v1"][0], backends[_canary][0], *decisions[_canary]))
    after[_canary] = send_traffic(PROXY_URL, PAYLOADS[N_REQUESTS:N_REQUESTS + 100])
    print(f"canary {_canary}: measured {_measured} -> weights {decisions[_canary]} -> then {after[_canary]}")
final_conf = (WORK / "nginx" / "nginx.conf").read_text()

# %% check="rollout" points=1
assert decisions.get("v2") == (100, 0), f"v2 fails ~15% of its requests: expected a rollback (100, 0), got {decisions}"
assert set(after["v2"]) == {"v1"}, f"after the rollback all traffic should reach v1, got {after['v2']}"
### BEGIN HIDDEN TESTS
assert decisions.get("v3") == (0, 100), f"v3 is healthy: expected promotion (0, 100), got {decisions.get('v3')}"
assert set(after["v3"]) == {"v3"} and after["v3"]["v3"]["errors"] == 0, f"after promotion: {after['v3']}"
_final = upstream_servers(final_conf)
_v3_port = f"127.0.0.1:{backends['v3'][0]}"
assert [s["address"] for s in _final if not s["down"]] == [_v3_port], f"final nginx upstreams: {_final}"
assert rollout_weights({"v1": {"requests": 295, "errors": 0}, "v9": {"requests": 5, "errors": 0}}) == (100, 0), (
    "5 canary requests are too few to promote"
)
assert rollout_weights({"v1": {"requests": 270, "errors": 0}, "v9": {"requests": 30, "errors": 1}}) == (100, 0), (
    "1 error in 30 canary requests is 3.3%, over the 2% budget"
)
assert rollout_weights({"v1": {"requests": 270, "errors": 9}, "v9": {"requests": 30, "errors": 0}}) == (0, 100)
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** a real workflow file, linted by actionlint (where installed) and executed step
# by step in fresh checkouts: ruff, pytest, training, evaluation logged to a real MLflow server, your
# gate moving the `production` alias, an image built (podman when it is usable on the machine, else
# an OCI layout written in Python from the same Containerfile) and its manifest pushed to ECR's API;
# then real nginx splitting real HTTP traffic between model servers and a reload applying the decision.
#
# **What the live tier adds:** GitHub's hosted runners and its OIDC token, exchanged by
# `configure-aws-credentials` for a short-lived IAM role (no keys in secrets); `docker push` uploading
# layers to a real ECR registry, where scan-on-push returns CVE findings you can gate on; a deployment
# target (ECS, EKS with Argo Rollouts, or SageMaker endpoints with traffic shifting) whose canary
# analysis reads CloudWatch/Prometheus metrics and rolls back automatically; and environment
# protection rules, so a human approves the production deploy.
#
# Cleanup: stop nginx and the model servers, delete the ECR repository, the registered models and
# the experiments, and the work folder.

# %%
for _name in ("proxy",):
    if _name in globals():
        globals()[_name].stop()
for _port_proc in globals().get("backends", {}).values():
    _port_proc[1].stop()
try:
    ecr.delete_repository(repositoryName=ECR_REPOSITORY, force=True)
except ecr.exceptions.RepositoryNotFoundException:
    pass
for _model in (MODEL_NAME, f"{MODEL_NAME}-gate"):
    try:
        client.delete_registered_model(_model)
    except MlflowException:
        pass
for _exp_name in (EXPERIMENT, f"{EXPERIMENT}-gate"):
    _exp = client.get_experiment_by_name(_exp_name)
    if _exp is not None:
        client.delete_experiment(_exp.experiment_id)
for _state in ("runner",):
    cicd.remove_local_images(WORK / _state)
shutil.rmtree(WORK, ignore_errors=True)
print("cleaned up", ECR_REPOSITORY, MODEL_NAME, EXPERIMENT)
