# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 16 — Managing Docker images & registries
#
# **Where this sits:** module 13 opened the box (layers, a registry, a digest), module 5's CI pushed
# the fraud service's image to ECR. This lab is about living with images once there are many of them:
# naming and finding them, knowing exactly which one runs in production, getting back to the previous
# one in seconds, knowing what is inside them, and not paying to store the ones nobody needs.
#
# **You will:**
# 1. read image references the way the engine does: **Docker Hub**, **ECR** and a local registry;
# 2. **version** the fraud scorer's image for rollback and reproducibility: semantic version tags, a
#    tag naming the git commit, and **digests** that pin exactly what runs;
# 3. deploy **by digest** and **roll back** by moving the `prod` tag to the previous digest;
# 4. copy releases to **ECR** byte for byte, with immutable tags and a **lifecycle policy** that keeps
#    production's image while expiring old releases;
# 5. **scan**: `trivy config` finds misconfigurations in a Containerfile, `syft` writes the image's
#    **SBOM**; what needs a vulnerability database (Trivy's and Grype's CVE matching) and why;
# 6. write the **build-and-push script** CI runs, which refuses a dirty tree and never overwrites a release;
# 7. **clean up** dangling images and measure the space really reclaimed, then delete from the registry.
#
# **Here:** the engine is podman (Docker's CLI commands, Docker's API), the registry is the CNCF
# distribution server on `127.0.0.1` (what Docker Hub and most private registries run), ECR is moto's
# implementation of the ECR API. Each section says what the real cloud adds.

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
# Every image, container, registry repository and ECR repository is named from `RUN_ID`, and carries
# the label `org.mlops-labs.lab=<name>` so the lab can find (and clean) exactly its own images on an
# engine that other people use too. The cell removes what a previous run left.

# %%
import json
import shutil
import subprocess
import time
import urllib.request
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from botocore.config import Config
from sklearn.linear_model import LogisticRegression

from labkit import cicd, containers, labenv, net, vcs
from labkit import registry as reg
from labkit.containers import engine
from labkit.fraud import FEATURES, feature_frame, time_split
from mlops_datasets import load

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST, AWS_ENDPOINT_URL=AWS_ENDPOINT_URL)
NAME = labenv.resource_name("m016", RUN_ID)
WORK = (Path("m016-work") / NAME).resolve()
SCORER = f"{NAME}-scorer"  # the repository, in the local registry and (under mlops-course/) in ECR
LOCAL = f"localhost/{SCORER}"
REMOTE = f"{LOCAL_REGISTRY}/{SCORER}"
API = f"{NAME}-api"
LAB_LABEL = f"org.mlops-labs.lab={NAME}"
ECR_REPOSITORY = f"mlops-course/{SCORER}"
SCAN_CACHE = WORK / "scanner-cache"

registry = reg.Registry(LOCAL_REGISTRY)
ecr = boto3.client("ecr", endpoint_url=AWS_ENDPOINT_URL or None, config=Config(retries={"max_attempts": 1}))


def lab_images(*filters: str) -> list[str]:
    """Full ids of this lab's images (by label), optionally narrowed, e.g. `dangling=true`."""
    args = ["images", "-q", "--no-trunc", "--filter", f"label={LAB_LABEL}"]
    for f in filters:
        args += ["--filter", f]
    return sorted({i.removeprefix("sha256:") for i in engine(*args, timeout=60).split()})


def clean_up() -> None:
    containers.remove(API, kind="container")
    ids = lab_images()
    if ids:
        engine("rmi", "-f", *ids, check=False, timeout=300)
    for tag in registry.tags(SCORER):
        digest = registry.digest(SCORER, tag)
        if digest:
            try:
                registry.delete(SCORER, digest)
            except reg.RegistryError:
                pass  # already gone with another tag of the same digest
    try:
        ecr.delete_repository(repositoryName=ECR_REPOSITORY, force=True)
    except ecr.exceptions.RepositoryNotFoundException:
        pass


clean_up()
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True)
print("engine:", " ".join(containers.engine_argv()), "| registry:", LOCAL_REGISTRY, "| lab:", NAME)

# %% [markdown]
# ## 1. What an image reference means: Docker Hub, ECR, a local registry
#
# `docker pull python:3.11-slim` looks like a name, but the engine expands it to
# `docker.io/library/python:3.11-slim`: the first path component is a **registry host** only when it
# contains a `.` or `:` or is `localhost`; otherwise the image is on **Docker Hub**, and one-word names
# are Docker's *official images* under `library/`. A reference is `REGISTRY/REPOSITORY[:TAG][@DIGEST]`:
# the tag is a movable name, the digest (`sha256:` of the manifest's bytes) names content forever.

# %%
for ref in [
    "python:3.11-slim",
    "bitnami/redis:7.2",
    "ghcr.io/mlflow/mlflow:v2.19.0",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-course/fraud-scorer:1.2.0",
    f"{REMOTE}:1.0.0",
    "localhost/mlops-labs/debian",
]:
    print(f"{ref:80s} -> {reg.parse_reference(ref)}")
search = json.loads(engine("info", "--format", "json", timeout=60)).get("registries", {}).get("search")
print("\nregistries this engine searches for short names:", search)

# %% [markdown]
# **Docker Hub** is the default public registry: `docker login` (use an access token, not your
# password), `docker push <user>/<repo>:<tag>`; public repositories are free to pull, and pulls are
# rate-limited per IP for anonymous clients (a CI fleet behind one NAT address hits the limit), more
# generously for authenticated ones. Production pulls should not depend on it: mirror what you use into
# your own registry (ECR's *pull-through cache* does this for Docker Hub, with the Hub credentials kept in
# Secrets Manager). This machine has no route to Docker Hub at all: the engine searches **no** registry
# for short names (above), and the base image was built with `debootstrap`.
#
# **ECR** is AWS's registry: one registry per account and region
# (`<account>.dkr.ecr.<region>.amazonaws.com`), repositories inside it, IAM for access, and
# `aws ecr get-login-password | docker login --username AWS --password-stdin <registry>` to log in —
# a 12-hour token from `ecr:GetAuthorizationToken`. Module 5's `labkit.cicd.ecr_login` does exactly that
# against the emulator:

# %%
print("ECR registry host and user:", cicd.ecr_login()[:2])

# %% [markdown]
# ## 2. The service we ship: the fraud scorer
#
# A small model service: a logistic regression trained on the course's fraud data, exported as plain
# numbers, served by a stdlib HTTP server (`/health`, `/score?...`), so the image is the base plus a few
# kilobytes. Its git repository carries a `VERSION` file; the build stamps the version and the commit
# into the image as the standard OCI labels `org.opencontainers.image.version` and `...revision`.

# %%
tx = load("fraud")["transactions"]
_train, _ = time_split(tx)
X_TRAIN, Y_TRAIN = feature_frame(_train), _train["isFraud"].to_numpy()


def train_model(C: float) -> dict:
    model = LogisticRegression(C=C, max_iter=300).fit(X_TRAIN, Y_TRAIN)
    return {"C": C, "intercept": float(model.intercept_[0]), "weights": dict(zip(FEATURES, map(float, model.coef_[0])))}


REPO = vcs.init_repo(WORK / "scorer")
(REPO / "scorer.py").write_text('''\
"""The fraud scorer: GET /health, GET /score?log_amount=..&night=..  (plain Python, no dependencies)."""
import json
import math
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

# PID 1 in a container gets no default signal handlers: without this, `docker stop` waits 10 s and kills.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
MODEL = json.load(open("/app/model.json"))
VERSION = open("/app/VERSION").read().strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/health":
            body, status = {"status": "ok", "version": VERSION}, 200
        elif url.path == "/score":
            x = {k: float(v[0]) for k, v in parse_qs(url.query).items()}
            z = MODEL["intercept"] + sum(w * x.get(k, 0.0) for k, w in MODEL["weights"].items())
            body, status = {"version": VERSION, "score": 1 / (1 + math.exp(-z))}, 200
        else:
            body, status = {"error": "not found"}, 404
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
''')
(REPO / "Containerfile").write_text(f"""\
ARG BASE=localhost/mlops-labs/debian:bookworm
FROM ${{BASE}}
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="fraud-scorer" \\
      org.opencontainers.image.version="${{VERSION}}" \\
      org.opencontainers.image.revision="${{REVISION}}" \\
      {LAB_LABEL.split("=")[0]}="{NAME}"
WORKDIR /app
COPY scorer.py model.json VERSION /app/
USER 65534
EXPOSE 8000
CMD ["python3", "/app/scorer.py"]
""")


def build_scorer(version: str, C: float, tag: str | None = None, extra: tuple[str, ...] = ()) -> str:
    """Commit VERSION and a freshly trained model.json, build the image from that commit; returns its name."""
    (REPO / "VERSION").write_text(version + "\n")
    (REPO / "model.json").write_text(json.dumps(train_model(C)))
    vcs.git(REPO, "add", "-A")
    vcs.git(REPO, "commit", "-q", "--allow-empty", "-m", f"release {version}")
    revision = vcs.git(REPO, "rev-parse", "HEAD").strip()
    image = f"{LOCAL}:{tag or version}"
    containers.build(REPO, image, build_args={"BASE": BASE_IMAGE, "VERSION": version, "REVISION": revision}, extra=extra)
    return image


def labels(image: str) -> dict:
    info = containers.inspect(image, "image")
    return info.get("Labels") or info.get("Config", {}).get("Labels") or {}


V1 = build_scorer("1.0.0", C=0.05)
V2 = build_scorer("1.1.0", C=5.0)
print(V1, labels(V1)["org.opencontainers.image.revision"][:7], "|", V2, labels(V2)["org.opencontainers.image.revision"][:7])

# %% [markdown]
# ## 3. Tags for people, digests for machines
#
# A good tag scheme answers two questions at a glance: *which release is this?* (semantic version:
# `MAJOR.MINOR.PATCH`, where a MAJOR bump breaks clients, MINOR adds, PATCH fixes) and *which code built
# it?* (the git commit). Common practice (Docker's official images do it) adds **floating** tags: `1.1`
# and `1` follow the newest release of that line, so a user can ask for "the latest 1.x". Floating
# tags move; a **digest** never does, and that is what a deployment should pin. `latest` is just a
# floating tag nobody controls: never deploy it.

# %% [markdown]
# ### Exercise 1 — release tags and publishing (2 points)
# 1. `release_tags(version, revision, existing)` returns the tags a release gets:
#    - `version` itself, which must be a semantic version `MAJOR.MINOR.PATCH` with an optional
#      pre-release (`1.2.0-rc.1`), else `ValueError` (`reg.SEMVER_RE` matches semver; build metadata
#      `+...` can't be a tag: reject it too);
#    - `MAJOR.MINOR` and `MAJOR`, but only for a final release (no pre-release) that is **at least as new**
#      as every final release of that line among the `existing` tags (a hotfix `1.0.1` published after
#      `1.1.0` moves `1.0`, not `1`);
#    - `sha-` + the first 7 characters of `revision`, the commit the image was built from.
# 2. `publish(image, version)` pushes the local `image` to `REMOTE` under every tag from `release_tags`
#    (the revision comes from the image's `org.opencontainers.image.revision` label, the existing tags
#    from `registry.tags(SCORER)`), and returns the digest the registry now has for `version`
#    (`registry.digest(SCORER, version)`).
#
# <details><summary>Hint 1</summary>Compare versions as tuples of ints:
# <code>tuple(int(m[k]) for k in ("major", "minor", "patch"))</code> for <code>m = reg.SEMVER_RE.fullmatch(tag)</code>;
# skip existing tags that do not match or have a pre-release.</details>
# <details><summary>Hint 2</summary><code>engine("push", *containers.registry_flags(), image, f"{REMOTE}:{tag}")</code>
# (the local registry speaks plain HTTP: podman needs <code>--tls-verify=false</code>).</details>
# <details><summary>Hint 3</summary>Read the revision with <code>labels(image)["org.opencontainers.image.revision"]</code>,
# not from the repository's HEAD: HEAD may have moved since the image was built.</details>

# %% answer="tags"
def release_tags(version: str, revision: str, existing: list[str]) -> list[str]:
    ### BEGIN SOLUTION
    m = reg.SEMVER_RE.fullmatch(version)
    if m is None or m["build"]:
        raise ValueError(f"{version!r} is not MAJOR.MINOR.PATCH[-prerelease]")
    tags = [version]
    if not m["prerelease"]:
        mine = (int(m["major"]), int(m["minor"]), int(m["patch"]))
        finals = []
        for tag in existing:
            e = reg.SEMVER_RE.fullmatch(tag)
            if e and not e["prerelease"] and not e["build"]:
                finals.append((int(e["major"]), int(e["minor"]), int(e["patch"])))
        if all(v <= mine for v in finals if v[:2] == mine[:2]):
            tags.append(f"{mine[0]}.{mine[1]}")
        if all(v <= mine for v in finals if v[0] == mine[0]):
            tags.append(str(mine[0]))
    return [*tags, f"sha-{revision[:7]}"]
    ### END SOLUTION


def publish(image: str, version: str) -> str:
    ### BEGIN SOLUTION
    revision = labels(image)["org.opencontainers.image.revision"]
    for tag in release_tags(version, revision, registry.tags(SCORER)):
        engine("push", *containers.registry_flags(), image, f"{REMOTE}:{tag}", timeout=300)
    return registry.digest(SCORER, version)
    ### END SOLUTION


D1 = publish(V1, "1.0.0")
D2 = publish(V2, "1.1.0")
print("1.0.0 ->", D1, "\n1.1.0 ->", D2)
print("tags:", sorted(registry.tags(SCORER)))

# %% check="tags" points=1
_tags = set(registry.tags(SCORER))
for _t in ("1.0.0", "1.1.0", "1.0", "1.1", "1"):
    assert _t in _tags, f"expected tag {_t} in {SCORER}, the registry has {sorted(_tags)}"
_d1, _d2 = registry.digest(SCORER, "1.0.0"), registry.digest(SCORER, "1.1.0")
assert D1 == _d1 and D2 == _d2, f"publish should return the registry's digests {_d1}, {_d2}; saw {D1}, {D2}"
assert registry.digest(SCORER, "1") == _d2, "tag 1 should point at the newest 1.x release (1.1.0)"
assert registry.digest(SCORER, "1.0") == _d1, "tag 1.0 should point at 1.0.0"
for _d in (_d1, _d2):
    _rev = registry.config(SCORER, _d)["config"]["Labels"]["org.opencontainers.image.revision"]
    _sha = registry.digest(SCORER, f"sha-{_rev[:7]}")
    assert _sha == _d, f"sha-{_rev[:7]} should point at the image built from {_rev[:7]} ({_d}), it points at {_sha}"

# %% check="tags" points=1
### BEGIN HIDDEN TESTS
for _bad in ("1.2", "v1.2.0", "1.2.0+build.7", "01.2.0"):
    try:
        release_tags(_bad, "0" * 40, [])
    except ValueError:
        pass
    else:
        raise AssertionError(f"release_tags({_bad!r}) should raise ValueError")
_rc = release_tags("1.2.0-rc.1", "abcdef0123456789", ["1.0.0", "1.1.0"])
assert sorted(_rc) == sorted(["1.2.0-rc.1", "sha-abcdef0"]), f"a pre-release gets no floating tags, saw {_rc}"
_fresh = release_tags("2.0.0", "1234567fff", [])
assert sorted(_fresh) == sorted(["2.0.0", "2.0", "2", "sha-1234567"]), f"first 2.x release, saw {_fresh}"
# A hotfix of the older line, built, then HEAD moves on before publishing.
_hotfix = build_scorer("1.0.1", C=0.06)
_hotfix_rev = labels(_hotfix)["org.opencontainers.image.revision"]
vcs.git(REPO, "commit", "-q", "--allow-empty", "-m", "work after the hotfix")
_d101 = publish(_hotfix, "1.0.1")
assert registry.digest(SCORER, "1.0.1") == _d101, "publish should return the digest of 1.0.1"
assert registry.digest(SCORER, "1.0") == _d101, "the hotfix 1.0.1 is the newest 1.0.x: tag 1.0 should move to it"
assert registry.digest(SCORER, "1") == _d2, "tag 1 must stay on 1.1.0: the hotfix 1.0.1 is older than 1.1.0"
assert registry.digest(SCORER, "1.1") == _d2, "tag 1.1 must not move for a 1.0.x hotfix"
assert registry.digest(SCORER, f"sha-{_hotfix_rev[:7]}") == _d101, (
    "the sha- tag must name the commit the image was built from (its revision label), not the current HEAD"
)
### END HIDDEN TESTS

# %% [markdown]
# If Exercise 1 is not finished, this cell publishes the two releases with their version tags only, so
# that the rest of the lab has something to work with.

# %%
def ensure_release(image: str, version: str) -> str:
    if registry.digest(SCORER, version) is None:
        try:
            publish(image, version)
        except Exception as exc:  # Exercise 1 not done: push the version tag alone
            print(f"publish({version}) failed ({type(exc).__name__}); pushing the version tag only")
            engine("push", *containers.registry_flags(), image, f"{REMOTE}:{version}", timeout=300)
    return registry.digest(SCORER, version)


D1, D2 = ensure_release(V1, "1.0.0"), ensure_release(V2, "1.1.0")

# %% [markdown]
# ## 4. Deploy by digest, roll back by digest
#
# A deployment should name a digest: `REGISTRY/REPO@sha256:...` is the same bytes on every node, today
# and after any number of pushes. Kubernetes, ECS task definitions and SageMaker all accept digests; a
# release script (`crane digest`, `docker buildx imagetools inspect`) or Argo CD Image Updater's digest
# strategy resolves a tag to a digest at release time. The `prod` tag is the
# human-friendly pointer ("what runs now"); the deployment itself runs the digest it resolved.
#
# `deploy(ref)` (below) replaces the scorer container with one running `ref`. Moving a tag in the registry
# needs no pull and no rebuild: GET the manifest of the release, PUT the same bytes under `prod`
# (`registry.manifest(...)` / `registry.put_manifest(...)`, exactly what `crane tag` or `skopeo copy` do).

# %%
def deploy(ref: str) -> int:
    """Run the scorer from `ref` as the lab's API container; returns its port once /health answers."""
    containers.remove(API, kind="container")
    port = net.free_port()
    engine("run", "-d", "--name", API, *containers.registry_flags(), "-p", f"127.0.0.1:{port}:8000", ref, timeout=300)
    net.poll(lambda: healthy(port), 60, f"the scorer from {ref}")
    return port


def ask(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return json.load(resp)


def healthy(port: int) -> bool:
    try:
        return ask(port, "/health")["status"] == "ok"
    except OSError:
        return False


def running_image() -> str:
    """The image reference the API container was started from."""
    info = containers.inspect(API, "container")
    return info.get("ImageName") or info.get("Config", {}).get("Image", "")


def api_port() -> int:
    ports = containers.inspect(API, "container")["NetworkSettings"]["Ports"]["8000/tcp"]
    return int(ports[0]["HostPort"])


SUSPICIOUS = "/score?log_amount=6.5&night=1&device_missing=1&risky_email=1&card_tx_last_hour=4"

# %% [markdown]
# ### Exercise 2 — promote and roll back (2 points)
# Keep a deployment history in `DEPLOY_LOG` (one JSON object per line: at least `version` and `digest`).
# - `promote(version)`: resolve the version's digest in the registry, point `prod` at it (same manifest
#   bytes), append to the history, `deploy` the image **by digest** (`f"{REMOTE}@{digest}"`), return the digest;
# - `rollback()`: point `prod` back at the digest that was deployed **before the current one** (from the
#   history, not "the previous version number"), append that to the history, deploy it by digest,
#   return it. Without an earlier deployment, raise `RuntimeError`. Like `kubectl rollout undo`, a second
#   rollback goes back to where the first one came from.
#
# <details><summary>Hint 1</summary><code>m = registry.manifest(SCORER, version)</code> then
# <code>registry.put_manifest(SCORER, "prod", m)</code>; <code>m.digest</code> is the digest.</details>
# <details><summary>Hint 2</summary>Never rebuild to roll back: a rebuild has new timestamps, so a new digest
# — not the bytes that ran yesterday.</details>

# %% answer="rollback"
DEPLOY_LOG = WORK / "deployments.jsonl"


def promote(version: str) -> str:
    ### BEGIN SOLUTION
    manifest = registry.manifest(SCORER, version)
    registry.put_manifest(SCORER, "prod", manifest)
    with DEPLOY_LOG.open("a") as log:
        log.write(json.dumps({"version": version, "digest": manifest.digest, "at": time.time()}) + "\n")
    deploy(f"{REMOTE}@{manifest.digest}")
    return manifest.digest
    ### END SOLUTION


def rollback() -> str:
    ### BEGIN SOLUTION
    history = [json.loads(line) for line in DEPLOY_LOG.read_text().splitlines()] if DEPLOY_LOG.exists() else []
    if len(history) < 2:
        raise RuntimeError("no earlier deployment to roll back to")
    previous = history[-2]
    manifest = registry.manifest(SCORER, previous["digest"])
    registry.put_manifest(SCORER, "prod", manifest)
    with DEPLOY_LOG.open("a") as log:
        log.write(json.dumps({**previous, "at": time.time(), "rollback": True}) + "\n")
    deploy(f"{REMOTE}@{manifest.digest}")
    return manifest.digest
    ### END SOLUTION


promote("1.0.0")
print("1.0.0 in prod:", ask(api_port(), SUSPICIOUS))
promote("1.1.0")
print("1.1.0 in prod:", ask(api_port(), SUSPICIOUS), "<- the new model scores differently: roll back")
rollback()
print("after rollback:", ask(api_port(), SUSPICIOUS), "| running", running_image())

# %% check="rollback" points=1
_prod = registry.digest(SCORER, "prod")
assert _prod == D1, f"after the rollback prod should be 1.0.0's digest {D1}, it is {_prod}"
_answer = ask(api_port(), "/health")
assert _answer["version"] == "1.0.0", f"the running API should be 1.0.0 again, it answers {_answer}"
assert D1 in running_image(), f"the API should run the image by digest ({D1}), it runs {running_image()!r}"

# %% check="rollback" points=1
### BEGIN HIDDEN TESTS
# History decides, not version numbers: 1.1.0 then 1.0.0 deployed -> rollback returns to 1.1.0.
promote("1.1.0")
promote("1.0.0")
_back = rollback()
assert _back == D2 and registry.digest(SCORER, "prod") == D2, (
    f"deployed 1.1.0 then 1.0.0: rollback should return prod to 1.1.0 ({D2}), prod is {registry.digest(SCORER, 'prod')}"
)
assert ask(api_port(), "/health")["version"] == "1.1.0", "the API should run 1.1.0 after that rollback"
assert D2 in running_image(), f"the rollback should deploy by digest, the container runs {running_image()!r}"
_again = rollback()
assert _again == D1 and ask(api_port(), "/health")["version"] == "1.0.0", "a second rollback undoes the first"
# An empty history has nothing to roll back to.
_saved = DEPLOY_LOG.read_text()
DEPLOY_LOG.unlink()
try:
    rollback()
except RuntimeError:
    pass
else:
    raise AssertionError("rollback() with no earlier deployment should raise RuntimeError")
finally:
    DEPLOY_LOG.write_text(_saved)
assert registry.digest(SCORER, "prod") == D1, "prod should still be 1.0.0 after a refused rollback"
### END HIDDEN TESTS

# %% [markdown]
# Two more releases arrive (with Exercise 1's `publish` if it works, else with their version tag only):

# %%
V3 = build_scorer("1.2.0", C=0.5)
V4 = build_scorer("1.3.0", C=1.0)
D3, D4 = ensure_release(V3, "1.2.0"), ensure_release(V4, "1.3.0")
registry.put_manifest(SCORER, "prod", registry.manifest(SCORER, D1))  # production stays on 1.0.0
print({v: d[:19] for v, d in {"1.0.0": D1, "1.1.0": D2, "1.2.0": D3, "1.3.0": D4}.items()}, "| prod:", registry.digest(SCORER, "prod")[:19])

# %% [markdown]
# ## 5. ECR: the same bytes, immutable tags, a lifecycle policy
#
# The repository is created the production way (module 5 did this for CI): scan on push, and tags
# that can't be moved — except `prod`, which this team moves on purpose. ECR's
# `IMMUTABLE_WITH_EXCLUSION` mode does exactly that (release and `sha-` tags are frozen, tags matching an
# exclusion filter stay movable).

# %%
ecr.create_repository(
    repositoryName=ECR_REPOSITORY,
    imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
    imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "prod"}],
    imageScanningConfiguration={"scanOnPush": True},
)
_repo = ecr.describe_repositories(repositoryNames=[ECR_REPOSITORY])["repositories"][0]
print(_repo["repositoryUri"], _repo["imageTagMutability"], _repo.get("imageTagMutabilityExclusionFilters"))

# %% [markdown]
# **What moto keeps.** A real `docker push` to ECR uploads each layer blob, then the manifest; ECR's
# `PutImage` API refuses a manifest whose layers it doesn't have. moto implements the ECR *API* (it even
# accepts layer uploads, but keeps only their digest and size, no bytes) and stores the manifest, its
# tags, digest and push time. So here the manifest is what travels, and it must travel **byte for
# byte**: the digest is the SHA-256 of those bytes, and re-serializing the JSON (different spacing or key
# order) gives a different digest — a different image as far as every pin is concerned.
#
# ### Exercise 3 — copy releases to ECR, expire old ones (2 points)
# 1. `copy_to_ecr(tag)`: read the manifest of `tag` from the local registry and `ecr.put_image` it under
#    the same tag (pass `imageManifest` as the exact text, `imageManifestMediaType` and `imageDigest`);
#    return the digest ECR reports. The cell copies the four releases, their `sha-` tags and `prod`.
#    (Floating tags such as `1` are not copied: they move, and this repository freezes tags.)
# 2. `LIFECYCLE_POLICY`, three rules:
#    - priority 1: images tagged with prefix `prod` are kept (`imageCountMoreThan` 9999) — a rule that
#      expires nothing, but ECR never lets a lower-priority rule expire an image a higher one selected;
#    - priority 2: untagged images expire 1 day after push (`sinceImagePushed`, `countUnit` `days`);
#    - priority 3: of the images with a tag matching `*.*.*` (`tagPatternList`), keep the newest 2.
# 3. `apply_lifecycle(now)`: moto stores lifecycle policies but never runs them (and has no policy
#    preview), so evaluate the stored policy yourself with `reg.lifecycle_expired(policy, images, now)`
#    (ECR's rules, implemented and tested in `labkit.registry`), delete what it expires with
#    `ecr.batch_delete_image` (by digest) and return the expired digests.
#
# <details><summary>Hint 1</summary><code>m = registry.manifest(SCORER, tag)</code>; <code>m.body.decode()</code>,
# <code>m.media_type</code>, <code>m.digest</code>.</details>
# <details><summary>Hint 2</summary>A rule: <code>{"rulePriority": 3, "selection": {"tagStatus": "tagged",
# "tagPatternList": ["*.*.*"], "countType": "imageCountMoreThan", "countNumber": 2}, "action": {"type": "expire"}}</code>;
# <code>put_lifecycle_policy(..., lifecyclePolicyText=json.dumps(LIFECYCLE_POLICY))</code>.</details>

# %% answer="ecr"
def copy_to_ecr(tag: str) -> str:
    ### BEGIN SOLUTION
    manifest = registry.manifest(SCORER, tag)
    out = ecr.put_image(
        repositoryName=ECR_REPOSITORY,
        imageManifest=manifest.body.decode(),
        imageManifestMediaType=manifest.media_type,
        imageDigest=manifest.digest,
        imageTag=tag,
    )
    return out["image"]["imageId"]["imageDigest"]
    ### END SOLUTION


def apply_lifecycle(now: datetime) -> list[str]:
    ### BEGIN SOLUTION
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=ECR_REPOSITORY)["lifecyclePolicyText"])
    images = ecr.describe_images(repositoryName=ECR_REPOSITORY)["imageDetails"]
    expired = [img["imageDigest"] for img in reg.lifecycle_expired(policy, images, now)]
    if expired:
        ecr.batch_delete_image(repositoryName=ECR_REPOSITORY, imageIds=[{"imageDigest": d} for d in expired])
    return expired
    ### END SOLUTION


LIFECYCLE_POLICY: dict = {}
### BEGIN SOLUTION
LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "never expire what production runs",
            "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan",
                          "countNumber": 9999},
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "untagged images go after a day",
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                          "countNumber": 1},
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "description": "keep the two newest releases",
            "selection": {"tagStatus": "tagged", "tagPatternList": ["*.*.*"], "countType": "imageCountMoreThan",
                          "countNumber": 2},
            "action": {"type": "expire"},
        },
    ]
}
### END SOLUTION

# %%
COPIED = {}
for _version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
    COPIED[_version] = copy_to_ecr(_version)
    _rev = registry.config(SCORER, _version)["config"]["Labels"]["org.opencontainers.image.revision"]
    if registry.digest(SCORER, f"sha-{_rev[:7]}"):
        copy_to_ecr(f"sha-{_rev[:7]}")
COPIED["prod"] = copy_to_ecr("prod")
ecr.put_lifecycle_policy(repositoryName=ECR_REPOSITORY, lifecyclePolicyText=json.dumps(LIFECYCLE_POLICY))
EXPIRED = apply_lifecycle(datetime.now(timezone.utc))
for _img in ecr.describe_images(repositoryName=ECR_REPOSITORY)["imageDetails"]:
    print(_img["imageDigest"][:19], sorted(_img.get("imageTags", [])))
print("expired:", EXPIRED)

# %% check="ecr" points=1
_ecr_images = ecr.describe_images(repositoryName=ECR_REPOSITORY)["imageDetails"]
_by_tag = {t: i["imageDigest"] for i in _ecr_images for t in i.get("imageTags", [])}
for _v, _d in (("1.0.0", D1), ("1.2.0", D3), ("1.3.0", D4), ("prod", D1)):
    assert _by_tag.get(_v) == _d, f"ECR's {_v} should be the local registry's digest {_d}, ECR has {_by_tag.get(_v)}"
_got = ecr.batch_get_image(repositoryName=ECR_REPOSITORY, imageIds=[{"imageTag": "1.3.0"}],
                           acceptedMediaTypes=list(reg.MANIFEST_TYPES))["images"][0]
assert reg.sha256_digest(_got["imageManifest"].encode()) == D4, "ECR's manifest bytes should hash to the digest"
### BEGIN HIDDEN TESTS
# Immutable releases, movable prod.
_other = registry.manifest(SCORER, "1.3.0")
try:
    ecr.put_image(repositoryName=ECR_REPOSITORY, imageManifest=_other.body.decode(), imageTag="1.0.0",
                  imageDigest=_other.digest, imageManifestMediaType=_other.media_type)
    raise AssertionError("the repository must refuse to move release tag 1.0.0 to other content")
except (ecr.exceptions.ImageTagAlreadyExistsException, ecr.exceptions.ImageAlreadyExistsException):
    pass
### END HIDDEN TESTS

# %% check="ecr" points=1
assert D2 in EXPIRED, f"1.1.0 is the third-newest release and not in prod: it should expire, expired {EXPIRED}"
assert D1 not in EXPIRED, "1.0.0 is what prod runs: the lifecycle policy must not expire it"
_left = {i["imageDigest"] for i in ecr.describe_images(repositoryName=ECR_REPOSITORY)["imageDetails"]}
assert D2 not in _left and {D1, D3, D4} <= _left, f"ECR should keep 1.0.0 (prod), 1.2.0 and 1.3.0 only; has {_left}"
### BEGIN HIDDEN TESTS
_stored = json.loads(ecr.get_lifecycle_policy(repositoryName=ECR_REPOSITORY)["lifecyclePolicyText"])
_t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _img(d, tags, days):
    return {"imageDigest": d, "imageTags": tags, "imagePushedAt": _t0 + timedelta(days=days)}


_synthetic = [
    _img("a", ["1.0.0", "prod"], 0), _img("b", ["1.1.0"], 1), _img("c", ["1.2.0"], 2), _img("d", [], 3),
    _img("e", ["1.3.0", "sha-abc1234"], 4), _img("f", ["sha-def5678"], 5), _img("g", [], 9.9),
]
_exp = {i["imageDigest"] for i in reg.lifecycle_expired(_stored, _synthetic, _t0 + timedelta(days=10))}
assert _exp == {"b", "d"}, f"on a test repository your stored policy expires {sorted(_exp)}, expected ['b', 'd']"
_synthetic[0]["imageTags"] = ["1.0.0"]  # prod moved away: 1.0.0 is now just the oldest release
_exp = {i["imageDigest"] for i in reg.lifecycle_expired(_stored, _synthetic, _t0 + timedelta(days=10))}
assert _exp == {"a", "b", "d"}, f"without prod, 1.0.0 should expire too; your policy expires {sorted(_exp)}"
### END HIDDEN TESTS

# %% [markdown]
# ECR's lifecycle policies run in the cloud on their own (within about a day of a change), and
# `start-lifecycle-policy-preview` shows what a policy would expire before you attach it. Both are
# missing from moto, which is why the evaluation ran in `labkit.registry` here — the same rules, but run
# by us, at a time we chose.
#
# ## 6. Scanning: misconfigurations, SBOMs, vulnerabilities
#
# Three different questions, three kinds of tools:
# - **Is the image built badly?** (runs as root, unpinned base, secrets in layers, `ADD` from URLs):
#   *misconfiguration* scanners read the Containerfile: `trivy config`, hadolint, checkov. Their rules ship
#   **inside** the tool, so they work offline.
# - **What is in the image?** An **SBOM** (software bill of materials) lists every package and version:
#   `syft` reads the package databases inside the image (dpkg's status file, Python's `*.dist-info`, ...),
#   offline.
# - **Is any of that vulnerable?** `trivy image`, `grype` and ECR's scan-on-push match those packages
#   against a **vulnerability database** (NVD, the distributions' security trackers, GitHub advisories)
#   that they download and refresh daily. That download can't happen on this machine.
#
# A Containerfile a hurried colleague wrote for the scorer:

# %%
BAD = WORK / "scan-bad"
BAD.mkdir(parents=True, exist_ok=True)
(BAD / "Dockerfile").write_text("""\
FROM python:latest
ADD https://models.example.com/fraud/model.json /app/model.json
COPY scorer.py VERSION /app/
EXPOSE 22 8000
CMD python3 /app/scorer.py
""")


def trivy_findings(path: Path) -> list[dict]:
    """trivy config's failed checks for a Containerfile directory (built-in checks, no download)."""
    return reg.misconfigurations(path, cache=SCAN_CACHE)


try:
    for _f in trivy_findings(BAD):
        print(f"{_f['id']:10s} {_f['severity']:8s} {_f['title']}")
except reg.ToolMissing as exc:
    print("trivy is not available here:", exc)

# %% [markdown]
# ### Exercise 4a — a Containerfile that passes the scan (1 point)
# Write `HARDENED / "Containerfile"` for the scorer (the scorer's files are copied into `HARDENED`) so that
# `trivy config` reports **no failed check at all**, and the image works:
# - base from a build argument with a pinned default: `ARG BASE=localhost/mlops-labs/debian:bookworm`,
#   `FROM ${BASE}` (a tag, never `latest`; in production pin `@sha256:...` too);
# - `COPY`, not `ADD` (ADD fetches URLs and unpacks archives implicitly);
# - a non-root `USER` (e.g. `65534`, *nobody*), only port 8000, a `HEALTHCHECK` that calls `/health`,
#   and the exec form of `CMD`.
# The cell builds it as `HARDENED_IMAGE` (in Docker's image format: the OCI format has no `HEALTHCHECK`).
#
# <details><summary>Hint 1</summary><code>HEALTHCHECK CMD ["python3", "-c", "import urllib.request;
# urllib.request.urlopen('http://127.0.0.1:8000/health')"]</code></details>
# <details><summary>Hint 2</summary>Run <code>trivy_findings(HARDENED)</code> and read each title: every finding
# names the instruction to change.</details>

# %% answer="misconfig"
HARDENED = WORK / "scan-hardened"
HARDENED.mkdir(parents=True, exist_ok=True)
for _name in ("scorer.py", "model.json", "VERSION"):
    shutil.copy(REPO / _name, HARDENED / _name)
HARDENED_IMAGE = f"{LOCAL}:hardened"
### BEGIN SOLUTION
(HARDENED / "Containerfile").write_text(f"""\
ARG BASE=localhost/mlops-labs/debian:bookworm
FROM ${{BASE}}
LABEL {LAB_LABEL.split("=")[0]}="{NAME}"
WORKDIR /app
COPY scorer.py model.json VERSION /app/
USER 65534
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"]
CMD ["python3", "/app/scorer.py"]
""")
### END SOLUTION

# %%
containers.build(HARDENED, HARDENED_IMAGE, build_args={"BASE": BASE_IMAGE}, extra=["--format", "docker"])
try:
    print("findings:", trivy_findings(HARDENED))
except reg.ToolMissing as exc:
    print("trivy is not available here:", exc)

# %% check="misconfig" points=1
assert (HARDENED / "Containerfile").exists(), f"write the Containerfile into {HARDENED}"
if reg.find_tool("trivy") is None:
    raise AssertionError("trivy is not installed on this machine, so the scan can't be checked")
_bad = trivy_findings(BAD)
assert len(_bad) >= 3, f"sanity: trivy should flag the bad Containerfile, it found {_bad}"
_left_over = trivy_findings(HARDENED)
assert not _left_over, "trivy config still reports: " + "; ".join(f"{f['id']} {f['title']}" for f in _left_over)
_uid = engine("run", "--rm", HARDENED_IMAGE, "id", "-u", timeout=120).strip()
assert _uid != "0", f"the hardened image should run as a non-root user, `id -u` says {_uid}"
### BEGIN HIDDEN TESTS
_info = containers.inspect(HARDENED_IMAGE, "image")
_hc = _info.get("Healthcheck") or (_info.get("Config") or {}).get("Healthcheck") or {}  # podman | docker
assert _hc.get("Test"), f"the image should carry a HEALTHCHECK, its config has {_hc}"
_exposed = set(((_info.get("Config") or {}).get("ExposedPorts") or {}).keys())
assert _exposed <= {"8000/tcp"}, f"only port 8000 should be exposed, saw {_exposed}"
_name_h = f"{NAME}-hardened"
containers.remove(_name_h, kind="container")
try:
    _port = net.free_port()
    engine("run", "-d", "--name", _name_h, "-p", f"127.0.0.1:{_port}:8000", HARDENED_IMAGE, timeout=120)
    net.poll(lambda: healthy(_port), 30, "the hardened scorer")
finally:
    containers.remove(_name_h, kind="container")
### END HIDDEN TESTS

# %% [markdown]
# ### SBOM: what is inside the ML runtime image
#
# `PYTHON_IMAGE` is the base every ML service of these modules builds on: Debian plus a venv with the
# course's pinned numpy, pandas, scikit-learn and FastAPI. Its SBOM is the inventory a vulnerability
# scanner (or an auditor) works from. `syft` catalogs an image from an archive (`podman save` /
# `docker save` → `syft docker-archive:image.tar`), straight from a registry (`syft registry:REF`) or a
# directory. Saving this ~1 GB image and cataloging it takes about a minute on this machine, so with
# `FAST` the helper below streams **only the package metadata** out of the image — dpkg's status file,
# every `*.dist-info` and `os-release`, the files syft's catalogers read — and syft catalogs that
# directory. The package list is the same; what the full scan adds is file digests and binaries
# outside any package manager. Set `FAST=0` to scan the whole saved image.

# %%
def sbom_source(image: str) -> str:
    """A syft source for `image`: its package metadata as a directory (FAST) or the saved image."""
    safe = image.replace("/", "_").replace(":", "_")
    if not FAST:
        archive = WORK / f"{safe}.tar"
        archive.unlink(missing_ok=True)
        engine("save", "--format", "docker-archive", "-o", str(archive), image, timeout=600)
        return f"docker-archive:{archive}"
    dest = WORK / "rootfs" / safe
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    meta = ("cd / && tar -cf - $(ls -d etc/os-release usr/lib/os-release var/lib/dpkg/status var/lib/dpkg/status.d "
            "opt/*/lib/python3*/site-packages/*.dist-info usr/lib/python3*/*-packages/*.dist-info "
            "usr/local/lib/python3*/*-packages/*.dist-info 2>/dev/null) | tar -xf - -C /out")
    engine("run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}", "-v", f"{dest}:/out",
           "--entrypoint", "sh", image, "-c", meta, timeout=300)
    return f"dir:{dest}"


print(sbom_source(PYTHON_IMAGE))

# %% [markdown]
# ### Exercise 4b — the SBOM lists the pinned versions (1 point)
# Write `sbom_packages(image)`: run syft on `sbom_source(image)` with CycloneDX JSON output
# (`-o cyclonedx-json=<file>`; CycloneDX and SPDX are the formats ECR/Inspector, Dependency-Track and
# GitHub consume), save the file as `WORK / "sbom" / <something>.cdx.json`, and return `{name: version}` for
# the **Python** packages in it (components whose `purl` starts with `pkg:pypi/`; use the component's
# `name` and `version`). Use `reg.run_tool("syft", ..., cache=SCAN_CACHE)`; a non-zero exit code is an error.
#
# <details><summary>Hint</summary><code>doc["components"]</code> is a list of dicts with <code>name</code>,
# <code>version</code>, <code>purl</code> (e.g. <code>pkg:pypi/scikit-learn@1.9.1</code>).</details>

# %% answer="sbom"
def sbom_packages(image: str) -> dict[str, str]:
    ### BEGIN SOLUTION
    out = WORK / "sbom" / (image.replace("/", "_").replace(":", "_") + ".cdx.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = reg.run_tool("syft", sbom_source(image), "-q", "-o", f"cyclonedx-json={out}", cache=SCAN_CACHE, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"syft failed: {proc.stderr[-1000:]}")
    doc = json.loads(out.read_text())
    return {c["name"]: c["version"] for c in doc.get("components", []) if c.get("purl", "").startswith("pkg:pypi/")}
    ### END SOLUTION


ML_PACKAGES = sbom_packages(PYTHON_IMAGE)
print(len(ML_PACKAGES), "Python packages;", {k: ML_PACKAGES.get(k) for k in ("numpy", "pandas", "scikit-learn", "fastapi")})

# %% check="sbom" points=1
_probe = ("import json, importlib.metadata as m; "
          "print(json.dumps({p: m.version(p) for p in ('numpy', 'pandas', 'scikit-learn', 'fastapi')}))")
_inside = json.loads(engine("run", "--rm", "--network", "none", PYTHON_IMAGE, "python", "-c", _probe, timeout=120))
for _p, _v in _inside.items():
    assert ML_PACKAGES.get(_p) == _v, f"the image has {_p}=={_v}, the SBOM says {ML_PACKAGES.get(_p)}"
_files = list((WORK / "sbom").glob("*.cdx.json"))
assert _files and json.loads(_files[0].read_text()).get("bomFormat") == "CycloneDX", "expected a CycloneDX file in WORK/sbom"
### BEGIN HIDDEN TESTS
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _base_pkgs = sbom_packages(BASE_IMAGE)
assert "scikit-learn" not in _base_pkgs and "numpy" not in _base_pkgs, (
    f"the plain Debian base has no numpy/scikit-learn, but sbom_packages(BASE_IMAGE) lists {sorted(_base_pkgs)[:10]}: "
    "the SBOM must be read from the image, not from this kernel's environment"
)
### END HIDDEN TESTS

# %% [markdown]
# **Vulnerabilities need a database.** The next step would be `grype sbom:<file>` or
# `trivy sbom <file>`: both match the SBOM's packages and versions against a CVE database they download
# first (Trivy pulls its DB as an OCI artifact from a registry, Grype from Anchore's CDN). Asked to skip
# that download, Trivy says what is missing:

# %%
_sbom_file = next(iter((WORK / "sbom").glob("*.cdx.json")), None)
if _sbom_file is not None and reg.find_tool("trivy"):
    _proc = reg.run_tool("trivy", "sbom", "--skip-db-update", "--quiet", str(_sbom_file), cache=SCAN_CACHE, timeout=120)
    print("trivy sbom exit", _proc.returncode, "->", (_proc.stderr or _proc.stdout).strip()[-400:])
print("grype here:", reg.find_tool("grype") or "not installed (and its DB would need a download too)")
try:
    ecr.start_image_scan(repositoryName=ECR_REPOSITORY, imageId={"imageTag": "1.3.0"})
    _findings = ecr.describe_image_scan_findings(repositoryName=ECR_REPOSITORY, imageId={"imageTag": "1.3.0"})
    print("moto's scan findings (a fixed placeholder, NOT a scan of the image):",
          [(f["name"], f["severity"]) for f in _findings["imageScanFindings"].get("findings", [])])
except ecr.exceptions.ImageNotFoundException:
    print("1.3.0 is not in ECR yet (Exercise 3)")

# %% [markdown]
# With a network, a CI job runs `trivy image --exit-code 1 --severity HIGH,CRITICAL $IMAGE` (or
# `grype $IMAGE --fail-on high`) and the pipeline stops on findings; air-gapped sites mirror the DB
# (`trivy --download-db-only`, `oras pull ghcr.io/aquasecurity/trivy-db:2`) and run with
# `--skip-db-update`. In AWS, ECR scan-on-push (basic scanning, or Amazon Inspector's enhanced scanning
# that rescans when new CVEs appear) writes findings you can read with `describe-image-scan-findings` and
# route through EventBridge. moto's answer above is a fixed placeholder (`CVE-9999-9999` in package
# `moto_fake`): it shows the API's shape and nothing about our image.
#
# ## 7. Build and push from CI
#
# CI should be the only way an image reaches the registry, and the script it runs decides what a
# version means. Module 5 ran a GitHub Actions workflow on this machine; here is the script such a job
# calls (`run: ci/build_and_push.sh`, with `ENGINE=docker` and the registry login done before).

# %% [markdown]
# ### Exercise 5 — a build-and-push script with guard rails (1 point)
# Write `CI_SCRIPT`, a bash script (saved as `ci/build_and_push.sh` in the scorer repository and
# committed). It runs in the repository and gets `ENGINE` (the engine command, e.g. `docker` or
# `podman --remote --url ...`), `PUSH_FLAGS`, `REGISTRY`, `IMAGE` (the repository name) and `BASE` from
# the environment. It must:
# 1. **refuse a dirty tree** (any change or untracked file per `git status --porcelain`): exit non-zero;
# 2. read the version from the `VERSION` file and **refuse to overwrite** it: if the registry already has
#    that tag (`curl` a HEAD request to `http://$REGISTRY/v2/$IMAGE/manifests/$VERSION`; 200 means it
#    exists), exit non-zero;
# 3. build with `--build-arg BASE=... VERSION=... REVISION=<full commit>` and push the image as
#    `$VERSION` and `sha-<first 7 of the commit>`.
#
# <details><summary>Hint 1</summary><code>set -euo pipefail</code>; <code>[ -n "$(git status --porcelain)" ] && exit 2</code>.</details>
# <details><summary>Hint 2</summary><code>curl -fsSI -o /dev/null -H "Accept: application/vnd.oci.image.manifest.v1+json" "$URL"</code>
# exits 0 only when the tag exists.</details>

# %% answer="ci"
CI_SCRIPT = ""
### BEGIN SOLUTION
CI_SCRIPT = r"""#!/usr/bin/env bash
# Build the scorer from a clean commit and push it as VERSION and sha-<commit>.
# Refuses a dirty working tree and never overwrites a version that is already in the registry.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
if [ -n "$(git status --porcelain)" ]; then
  echo "refusing to build: uncommitted changes in the working tree" >&2
  exit 2
fi
VERSION=$(tr -d '[:space:]' < VERSION)
REVISION=$(git rev-parse HEAD)
ACCEPT="application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
URL="http://${REGISTRY}/v2/${IMAGE}/manifests/${VERSION}"
if curl -fsSI -o /dev/null -H "Accept: ${ACCEPT}" "${URL}"; then
  echo "refusing to push: ${IMAGE}:${VERSION} already exists; bump VERSION" >&2
  exit 3
fi
LOCAL_TAG="localhost/${IMAGE}:${VERSION}"
$ENGINE build -q -t "${LOCAL_TAG}" --build-arg "BASE=${BASE}" --build-arg "VERSION=${VERSION}" \
  --build-arg "REVISION=${REVISION}" .
for TAG in "${VERSION}" "sha-${REVISION:0:7}"; do
  $ENGINE push ${PUSH_FLAGS} "${LOCAL_TAG}" "${REGISTRY}/${IMAGE}:${TAG}"
done
echo "pushed ${REGISTRY}/${IMAGE}:${VERSION} (sha-${REVISION:0:7})"
"""
### END SOLUTION

# %%
def run_ci() -> subprocess.CompletedProcess:
    """Run ci/build_and_push.sh in the scorer repository the way a CI job would."""
    env = {**os.environ, "ENGINE": " ".join(containers.engine_argv()), "PUSH_FLAGS": " ".join(containers.registry_flags()),
           "REGISTRY": LOCAL_REGISTRY, "IMAGE": SCORER, "BASE": BASE_IMAGE}
    return subprocess.run(["bash", "ci/build_and_push.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


(REPO / "ci").mkdir(exist_ok=True)
(REPO / "ci" / "build_and_push.sh").write_text(CI_SCRIPT)
(REPO / "VERSION").write_text("1.4.0\n")
vcs.git(REPO, "add", "-A")
vcs.git(REPO, "commit", "-q", "-m", "release 1.4.0 from CI")
CI_RUN = run_ci()
print("exit", CI_RUN.returncode, CI_RUN.stdout.strip()[-300:], CI_RUN.stderr.strip()[-300:])

# %% check="ci" points=1
_head = vcs.git(REPO, "rev-parse", "HEAD").strip()
_d140 = registry.digest(SCORER, "1.4.0")
assert CI_RUN.returncode == 0, f"the script should succeed on a clean tree with a new version: {CI_RUN.stderr[-500:]}"
assert _d140 is not None, "after the script, the registry should have tag 1.4.0"
assert registry.digest(SCORER, f"sha-{_head[:7]}") == _d140, f"sha-{_head[:7]} should point at the same image as 1.4.0"
_lab = registry.config(SCORER, "1.4.0")["config"]["Labels"]
assert _lab.get("org.opencontainers.image.revision") == _head, f"revision label should be {_head}, is {_lab}"
_again = run_ci()
assert _again.returncode != 0, "running the script again for the same VERSION must fail (no overwrite)"
assert registry.digest(SCORER, "1.4.0") == _d140, "the refused run must leave 1.4.0 untouched"
### BEGIN HIDDEN TESTS
(REPO / "VERSION").write_text("1.5.0\n")
(REPO / "scorer.py").write_text((REPO / "scorer.py").read_text() + "\n# work in progress\n")
try:
    _dirty = run_ci()
    assert _dirty.returncode != 0, "the script must refuse to build a dirty working tree"
    assert registry.digest(SCORER, "1.5.0") is None, "nothing may be pushed from a dirty tree"
finally:
    vcs.git(REPO, "checkout", "--", ".")
(REPO / "notes.txt").write_text("untracked\n")
try:
    vcs.git(REPO, "commit", "-q", "--allow-empty", "-m", "bump")
    (REPO / "VERSION").write_text("1.5.0\n")
    vcs.git(REPO, "commit", "-q", "-am", "1.5.0")
    _untracked = run_ci()
    assert _untracked.returncode != 0, "an untracked file also makes the tree dirty: the script must refuse"
finally:
    (REPO / "notes.txt").unlink()
assert registry.digest(SCORER, "1.5.0") is None, "nothing may be pushed from a tree with untracked files"
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Cleaning up: dangling images, reclaimed bytes, registry deletes
#
# Every rebuild of a tag leaves the previous image behind, untagged: a **dangling** image (`<none>`).
# On a CI runner or a dev laptop they pile up by the hundreds. `docker image prune` removes them;
# `docker system df -v` shows, per image, its **size**, the part **shared** with other images (the base
# layers) and the **unique** part — the bytes removing it would really free.
#
# Three development builds of the scorer, each retagged `dev`: the first two are now dangling. (podman
# and Docker's classic builder also keep an untagged *intermediate* image per instruction as build
# cache; `prune` removes those together with their dangling child. The dev builds below use
# `--layers=false`, so each is one new layer on the base. BuildKit, Docker's default builder, keeps its
# cache apart from images: `docker builder prune` cleans that.)

# %%
DEV_BUILD = ("--layers=false",) if CONTAINER_ENGINE == "podman" else ()
for _c in (0.1, 0.2, 0.3):
    build_scorer("1.5.0-dev", C=_c, tag="dev", extra=DEV_BUILD)
DANGLING = lab_images("dangling=true")
for _i in DANGLING:
    print(_i[:12], "image size", f"{containers.image_size(_i) / 1e6:.1f} MB", [
        f"{layer.size / 1e3:.1f} kB" for layer in reg.image_layers(_i)])

# %% [markdown]
# Each image "is" 170 MB, but almost all of that is the base's layers, which the base image itself and
# every other image built on it still use. Removing an image frees only the layers **no other image
# uses**: `reg.reclaimable_bytes(ids)` finds them (it reads every local image's layer list from the
# engine API, identifies layers by their chain id — a layer *together with everything under it* — and adds
# up the sizes of the layers only `ids` use).
#
# ### Exercise 6 — remove this lab's dangling images and measure it (1 point)
# Write `prune_dangling()`: find this lab's dangling images (`lab_images("dangling=true")`), measure what
# removing them frees with `reg.reclaimable_bytes(...)` **before** removing them, remove **exactly those
# images**, and return `{"removed": [ids], "reclaimed_bytes": <bytes>}`.
#
# The engine is shared: a bare `image prune` deletes everyone's dangling images. And
# `image prune --filter label=KEY=VALUE` is not the fix on podman 4.3: Docker compares the label value
# exactly, but podman's prune treats it as a regular expression and matches **substrings**, so pruning
# `org.mlops-labs.lab=m016-abc` also prunes run `m016-abc2`'s images (the `images` listing, on the other
# hand, matches exactly — measured on this machine). List by label, remove by id.
#
# <details><summary>Hint</summary><code>engine("rmi", *ids)</code> removes exactly those images (an image still
# used by a container is refused: nothing is forced).</details>

# %% answer="prune"
def prune_dangling() -> dict:
    ### BEGIN SOLUTION
    dangling = lab_images("dangling=true")
    reclaimed = reg.reclaimable_bytes(dangling) if dangling else 0
    if dangling:
        engine("rmi", *dangling, timeout=300)
    return {"removed": dangling, "reclaimed_bytes": reclaimed}
    ### END SOLUTION


PRUNED = prune_dangling()
print(f"removed {len(PRUNED['removed'])} images, reclaimed {PRUNED['reclaimed_bytes'] / 1e3:.1f} kB")

# %% check="prune" points=1
assert set(DANGLING) <= set(PRUNED["removed"]), f"expected {DANGLING} removed, saw {PRUNED['removed']}"
assert not lab_images("dangling=true"), f"dangling images of this lab remain: {lab_images('dangling=true')}"
assert 0 < PRUNED["reclaimed_bytes"] < 20e6, (
    f"the dev builds differ by a few kilobytes of model; reclaimed {PRUNED['reclaimed_bytes']} bytes: "
    "count only the layers no other image uses, not the shared base layers"
)
### BEGIN HIDDEN TESTS
# Fresh dangling images, and a neighbour's dangling image that must survive.
_neighbour_dir = WORK / "neighbour"
_neighbour_dir.mkdir(exist_ok=True)
(_neighbour_dir / "Containerfile").write_text(
    f"ARG BASE\nFROM ${{BASE}}\nLABEL org.mlops-labs.lab={NAME}-neighbour n=1\n"
)
_ntag = f"localhost/{NAME}-neighbour:1"
containers.build(_neighbour_dir, _ntag, build_args={"BASE": BASE_IMAGE}, extra=DEV_BUILD)
(_neighbour_dir / "Containerfile").write_text(
    f"ARG BASE\nFROM ${{BASE}}\nLABEL org.mlops-labs.lab={NAME}-neighbour n=2\n"
)
containers.build(_neighbour_dir, _ntag, build_args={"BASE": BASE_IMAGE}, extra=DEV_BUILD)
_neighbour_ids = {
    i.removeprefix("sha256:") for i in engine("images", "-q", "--no-trunc", "--filter", "dangling=true", "--filter",
                                                f"label=org.mlops-labs.lab={NAME}-neighbour", timeout=60).split()
}
try:
    for _c in (0.4, 0.5, 0.6):
        build_scorer("1.5.0-dev", C=_c, tag="dev", extra=DEV_BUILD)
    _expect_ids = lab_images("dangling=true")
    _expect = reg.reclaimable_bytes(_expect_ids)
    _res = prune_dangling()
    assert set(_expect_ids) <= set(_res["removed"]), f"expected {_expect_ids} removed, saw {_res['removed']}"
    assert abs(_res["reclaimed_bytes"] - _expect) <= 0.1 * _expect + 4096, (
        f"the removed images' unique bytes are {_expect}, prune_dangling reported {_res['reclaimed_bytes']}"
    )
    assert _neighbour_ids and all(containers.exists(i) for i in _neighbour_ids), (
        "another run's dangling image was removed: remove exactly this lab's dangling images"
    )
finally:
    engine("rmi", "-f", _ntag, *_neighbour_ids, check=False, timeout=120)
### END HIDDEN TESTS

# %% [markdown]
# Tools' own figures deserve suspicion: podman 4.3's prune API answers with the sum of the removed
# images' **full** sizes (about 170 MB per image here, where a few kilobytes were freed), and its
# `system df -v` counts as "shared" only what an image shares with its *parent image* (an image built
# with `--layers=false` has none, so the base shows up as "unique"). Measure layers, or the disk itself.
#
# **The registry side.** Deleting from a registry is by **digest**: `DELETE /v2/<repo>/manifests/<digest>`
# removes that manifest and every tag pointing at it. 1.1.0 was the bad release:

# %%
_before = sorted(registry.tags(SCORER))
registry.delete(SCORER, D2)
print("before:", _before)
print("after: ", sorted(registry.tags(SCORER)))

# %% [markdown]
# Every tag on 1.1.0's digest went with it: its `sha-` tag and the floating `1.1`, which now points
# nowhere until a 1.1.x release moves it. Delete by digest knowingly. The layer **blobs** stay in the
# registry's storage until the operator runs garbage collection
# (`registry garbage-collect --delete-untagged /etc/docker/registry/config.yml`, with the registry
# read-only or stopped); ECR collects unreferenced layers itself.
#
# **What storage costs.** ECR charges about $0.10 per GB-month for what it stores (compressed layers).
# The manifest's layer sizes say what one release of the scorer weighs in a registry:

# %%
_layers = registry.manifest(SCORER, "1.3.0").json()["layers"]
_total = sum(layer["size"] for layer in _layers)
print(f"1.3.0: {len(_layers)} layers, {_total / 1e6:.1f} MB compressed; the app layer alone: {_layers[-1]['size'] / 1e3:.1f} kB")
print(f"as a full copy at $0.10/GB-month: ${_total / 1e9 * 0.10 * 12:.2f}/year per image; "
      f"a CI that pushes 20 builds a day and never expires any: ${_total / 1e9 * 0.10 * 20 * 365:.0f}/month after a year "
      "(an upper bound: a content-addressed registry stores a shared layer once; a lifecycle policy bounds it)")

# %% [markdown]
# ## Wrap-up
#
# - A reference is `registry/repository:tag@digest`; short names mean Docker Hub. Tags are for people
#   (semver + `sha-<commit>`, floating `MAJOR`/`MAJOR.MINOR`), **digests** are what deployments pin.
# - Rollback is moving a pointer back to bytes that already ran — never a rebuild; keep a deployment history.
# - Copy images between registries byte for byte: the digest is the manifest's hash.
# - Immutable release tags + a lifecycle policy that protects production: ECR's precedence rules matter.
# - Scan at three levels: Containerfile misconfigurations (offline), SBOM (offline), CVEs (needs a DB).
# - CI builds only clean commits and never overwrites a version; prune by label on shared engines and
#   measure unique bytes.
#
# **In the cloud tier:** `docker push` uploads real layers to ECR; scan-on-push (basic or Inspector
# enhanced) returns real CVE findings you gate on; lifecycle policies run by themselves and can be
# previewed; pull-through cache rules mirror Docker Hub; replication copies images across regions and
# accounts; image signing (Notation with AWS Signer, or cosign) lets the cluster admit only signed digests.
#
# Cleanup: the API container, this lab's images, the registry repository's manifests and the ECR repository.

# %%
clean_up()
shutil.rmtree(WORK / "rootfs", ignore_errors=True)
print("removed", API, SCORER, ECR_REPOSITORY)
