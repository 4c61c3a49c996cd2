# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 13 — Docker fundamentals for ML workloads
#
# **Where this sits:** the first of the containers part. Module 4's fraud API and module 5's CI
# pipeline already produced an image; here we open the box: what a container *is* on a Linux host,
# what it costs next to a VM, how images are made of layers and travel through registries, and why
# "it ran in the image" is the reproducibility guarantee ML experiments need.
#
# **You will:**
# 1. look at a running container from the inside and the outside: **namespaces** (its own PID 1,
#    network, hostname, filesystem) and **cgroups** (the memory limit the kernel enforces);
# 2. **measure** what a container costs to start and to keep running, and compare with VMs;
# 3. read the **engine's configuration** (runtime, storage driver, cgroup manager);
# 4. build an image, read its **layers**, push it to a **registry** and pull it back by digest;
# 5. run the same **training** twice in an image and get the same metrics, bit for bit.
#
# **The engine here.** This machine has no Docker daemon; it runs **podman** (daemonless, rootful
# here, Docker-compatible API and CLI). The lab reads `CONTAINER_ENGINE` and speaks Docker CLI
# commands, so on your laptop with Docker Desktop the same cells work with `CONTAINER_ENGINE=docker`.
# Installing Docker for development: Docker Engine from Docker's apt/yum repository on Linux (add your
# user to the `docker` group — root-equivalent, see below), Docker Desktop on macOS/Windows (a Linux VM
# runs the engine), or podman (`apt install podman`, `podman machine` on macOS). Configure a
# registry mirror and the log driver in `/etc/docker/daemon.json` (podman: `containers.conf`,
# `registries.conf`, `storage.conf` — the harness generated those for this lab).

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

# %% [markdown]
# ## Setup
# Every image and container is named from `RUN_ID`; the cell removes leftovers of a previous run.

# %%
import json
import statistics
import time
import urllib.request
from pathlib import Path

from labkit import containers, labenv
from labkit.containers import engine
from mlops_datasets import path as dataset_path

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST)
NAME = labenv.resource_name("m013", RUN_ID)
WORK = (Path("m013-work") / NAME).resolve()
WORK.mkdir(parents=True, exist_ok=True)
PROBE = f"{NAME}-probe"
HELLO_IMAGE = f"localhost/{NAME}-hello:1.0"
TRAIN_IMAGE = f"localhost/{NAME}-train:1.0"
FRAUD_DIR = dataset_path("fraud")

containers.remove(PROBE, kind="container")
containers.remove(HELLO_IMAGE, TRAIN_IMAGE)
print("engine:", " ".join(containers.engine_argv()), "| base image:", BASE_IMAGE)

# %% [markdown]
# ## 1. A container is a process with a different view of the machine
#
# A container is not a small VM. It is an ordinary Linux process that the runtime (runc) started in
# new **namespaces** — its own PID numbering, network stack, hostname, mount table, IPC — and inside a
# **cgroup** that caps its memory, CPU and process count. The filesystem it sees is the image's
# layers stacked with **overlayfs**, plus one thin writable layer. Because it shares the host's
# kernel, it starts in milliseconds and costs only the memory its processes use.
#
# Start one, with limits, and keep it running:

# %%
engine("run", "-d", "--name", PROBE, "--memory", "256m", "--pids-limit", "64", "--hostname", "probe",
       BASE_IMAGE, "sleep", "600", timeout=120)
state = containers.inspect(PROBE, "container")["State"]
print("running:", state["Running"], "| host PID of the container's PID 1:", state["Pid"])
print("inside, PID 1 is:", engine("exec", PROBE, "cat", "/proc/1/cmdline", timeout=60).replace("\0", " "))

# %% [markdown]
# The same process has two PIDs: `State.Pid` on the host, **1** inside its PID namespace. Each
# namespace is a file under `/proc/<pid>/ns/`; two processes share a namespace exactly when those
# links point to the same inode. This notebook's kernel is a process too, so compare.
#
# ### Exercise 1 — an isolation report (2 points)
# Write `isolation_report(container)` returning a dict:
# - `"namespaces"`: for each of `pid`, `net`, `uts`, `mnt`, `ipc`, whether the container's PID 1 is
#   in a **different** namespace from this kernel (`True` = isolated). Read the container's links with
#   `engine("exec", container, "readlink", "/proc/1/ns/<ns>")`, yours with `os.readlink`;
# - `"memory_limit_bytes"`: the memory limit the kernel enforces on the container, read **from inside**
#   the container's cgroup. cgroup v2 puts it in `/sys/fs/cgroup/memory.max`, v1 in
#   `/sys/fs/cgroup/memory/memory.limit_in_bytes` — support both (this machine has a hybrid setup);
# - `"hostname"`: the hostname the container sees.
#
# <details><summary>Hint 1</summary><code>engine("exec", c, "sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null ||
# cat /sys/fs/cgroup/memory/memory.limit_in_bytes")</code></details>
# <details><summary>Hint 2</summary>A link reads like <code>pid:[4026532201]</code>; compare the strings.</details>

# %% answer="isolation"
NAMESPACES = ("pid", "net", "uts", "mnt", "ipc")


def isolation_report(container: str) -> dict:
    ### BEGIN SOLUTION
    inside = {ns: engine("exec", container, "readlink", f"/proc/1/ns/{ns}", timeout=60).strip() for ns in NAMESPACES}
    mine = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in NAMESPACES}
    limit = engine(
        "exec", container, "sh", "-c",
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
        timeout=60,
    ).strip()
    return {
        "namespaces": {ns: inside[ns] != mine[ns] for ns in NAMESPACES},
        "memory_limit_bytes": int(limit),
        "hostname": engine("exec", container, "hostname", timeout=60).strip(),
    }
    ### END SOLUTION


report = isolation_report(PROBE)
report

# %% check="isolation" points=2
_r = isolation_report(PROBE)
assert set(_r["namespaces"]) >= set(NAMESPACES), f"report every namespace of {NAMESPACES}, saw {sorted(_r['namespaces'])}"
assert all(_r["namespaces"][ns] for ns in ("pid", "net", "uts", "mnt")), (
    f"the container runs in its own pid/net/uts/mnt namespaces, the report says {_r['namespaces']}"
)
assert _r["memory_limit_bytes"] == 256 * 1024**2, f"expected 268435456 (256m), saw {_r['memory_limit_bytes']}"
### BEGIN HIDDEN TESTS
assert _r["hostname"] == "probe", f"the container's hostname is 'probe', saw {_r['hostname']!r}"
# A second container with another limit: the answer must be read, not remembered.
_other = f"{NAME}-probe2"
containers.remove(_other, kind="container")
try:
    engine("run", "-d", "--name", _other, "--memory", "96m", BASE_IMAGE, "sleep", "120", timeout=120)
    _r2 = isolation_report(_other)
    assert _r2["memory_limit_bytes"] == 96 * 1024**2, f"a 96m container reported {_r2['memory_limit_bytes']}"
finally:
    containers.remove(_other, kind="container")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. What a container costs: start time and memory, next to a VM
#
# ### Exercise 2 — measure container start-up (2 points)
# Write `measure_starts(image, n)` that runs `n` throw-away containers (`run --rm IMAGE true`) one
# after the other and returns the list of wall-clock seconds each took (use `time.perf_counter`).
# Then the cell below puts your median next to figures for VMs.
#
# <details><summary>Hint</summary><code>t0 = time.perf_counter(); engine("run", "--rm", image, "true");
# times.append(time.perf_counter() - t0)</code></details>

# %% answer="starts"
def measure_starts(image: str, n: int) -> list[float]:
    ### BEGIN SOLUTION
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        engine("run", "--rm", image, "true", timeout=120)
        times.append(time.perf_counter() - t0)
    return times
    ### END SOLUTION


START_TIMES = measure_starts(BASE_IMAGE, 3 if FAST else 10)
print("container start, median of", len(START_TIMES), f"runs: {statistics.median(START_TIMES):.2f} s")

# %% check="starts" points=2
_t0 = time.time() - 1
_times = measure_starts(BASE_IMAGE, 2)
assert isinstance(_times, list) and len(_times) == 2, f"expected 2 timings, saw {_times!r}"
assert all(0.01 < t < 60 for t in _times), f"each start should take between 10 ms and 60 s, saw {_times}"
### BEGIN HIDDEN TESTS
# The engine's event log must show the containers really started (not timings made up).
_events = engine("events", "--since", str(int(_t0)), "--stream=false", "--filter", "event=start",
                 "--format", "{{.Image}}", timeout=60).split()
_started = [e for e in _events if e == BASE_IMAGE or e.startswith(BASE_IMAGE.split(":")[0] + ":")]
assert len(_started) >= 2, f"the engine recorded {len(_started)} container starts of {BASE_IMAGE}, expected 2"
### END HIDDEN TESTS

# %% [markdown]
# Memory: a running container costs what its processes use (plus the runtime's small monitor,
# `conmon`). The probe above runs `sleep`:

# %%
stats = json.loads(engine("stats", "--no-stream", "--format", "json", PROBE, timeout=60))
stats = stats[0] if isinstance(stats, list) else stats
print({k: stats.get(k) for k in ("name", "mem_usage", "mem_percent", "pids")})
print(f"start-up: {statistics.median(START_TIMES):.2f} s median here (includes the CLI and API round trip)")

# %% [markdown]
# | | container (measured above) | microVM (Firecracker) | full VM (EC2, KVM) |
# |---|---|---|---|
# | start | ~0.1–1 s | ~0.125 s to user space (published figure) | 30–90 s to SSH |
# | memory overhead | the processes' own (a few MB for `sleep`) | ~5 MB per VMM + guest kernel | a whole guest OS: 100s of MB |
# | isolation | shared kernel: namespaces, cgroups, seccomp | own kernel, hardware virtualization | own kernel |
# | image | layers, MBs–GBs, shared between containers | rootfs + kernel | AMI, GBs |
#
# No hypervisor runs on this machine, so the VM columns are the vendors' published figures, not
# measurements — that is the honest limit of this lab. The trade-off for ML: containers pack
# many services on one GPU node and start fast enough for autoscaling; VMs (and microVMs such as
# Lambda/Fargate's Firecracker) give a hard isolation boundary between tenants.

# %% [markdown]
# ## 3. The engine's configuration

# %%
info = json.loads(engine("info", "--format", "json", timeout=60))
host = info.get("host", {})
print("runtime:", host.get("ociRuntime", {}).get("name"), "| cgroups:", host.get("cgroupManager"),
      host.get("cgroupVersion"), "| storage:", info.get("store", {}).get("graphDriverName"))

# %% [markdown]
# `runc` creates the namespaces and cgroup; `overlay` stacks the image layers. (Docker's `docker info`
# shows the same facts as *Runtimes*, *Cgroup Driver* and *Storage Driver*.)
#
# ## 4. Images are layers; registries move them
#
# Each instruction that changes the filesystem adds a **layer** (a tarball of the changes); the
# image's config lists them by digest. Two images built from the same base share the base's layers
# on disk and in the registry. A registry stores blobs (layers, config) and **manifests** that name
# them; a tag points at a manifest; the manifest's digest identifies the image immutably.
#
# ### Exercise 3 — build, inspect, push and pull by digest (3 points)
# 1. Write a Containerfile into `WORK / "hello"` that starts `FROM` the base (`ARG BASE` then
#    `FROM ${BASE}`), adds **two** filesystem layers (e.g. a `RUN` writing `/opt/app/version.txt`
#    containing `1.0`, and a `COPY` of a small `greet.sh`), and sets `CMD` so that running the image
#    prints `hello from 1.0`.
# 2. Build it as `HELLO_IMAGE` (`containers.build(context, tag, build_args={"BASE": BASE_IMAGE})`).
# 3. Push it to the local registry as `f"{LOCAL_REGISTRY}/{NAME}-hello:1.0"`
#    (`engine("push", *containers.registry_flags(), HELLO_IMAGE, remote)`).
# 4. Set `PUSHED_DIGEST` to the manifest digest the registry serves for that tag: ask the registry's
#    HTTP API `GET /v2/<repo>/manifests/1.0` with the Accept header
#    `application/vnd.oci.image.manifest.v1+json` and read the `Docker-Content-Digest` response header.
#
# <details><summary>Hint 1</summary><code>engine("image", "history", HELLO_IMAGE)</code> lists the layers
# with the instruction that made each.</details>
# <details><summary>Hint 2</summary><code>req = urllib.request.Request(url, headers={"Accept": ...});
# urllib.request.urlopen(req).headers["Docker-Content-Digest"]</code></details>

# %% answer="registry"
HELLO_REMOTE = f"{LOCAL_REGISTRY}/{NAME}-hello:1.0"
### BEGIN SOLUTION
ctx = WORK / "hello"
ctx.mkdir(parents=True, exist_ok=True)
(ctx / "greet.sh").write_text('#!/bin/sh\necho "hello from $(cat /opt/app/version.txt)"\n')
(ctx / "Containerfile").write_text(
    "ARG BASE\n"
    "FROM ${BASE}\n"
    "RUN mkdir -p /opt/app && echo 1.0 > /opt/app/version.txt\n"
    "COPY greet.sh /opt/app/greet.sh\n"
    'CMD ["sh", "/opt/app/greet.sh"]\n'
)
containers.build(ctx, HELLO_IMAGE, build_args={"BASE": BASE_IMAGE})
engine("push", *containers.registry_flags(), HELLO_IMAGE, HELLO_REMOTE, timeout=300)
_req = urllib.request.Request(
    f"http://{LOCAL_REGISTRY}/v2/{NAME}-hello/manifests/1.0",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
)
with urllib.request.urlopen(_req, timeout=30) as resp:
    PUSHED_DIGEST = resp.headers["Docker-Content-Digest"]
### END SOLUTION
print(engine("image", "history", "--format", "{{.Size}}\t{{.CreatedBy}}", HELLO_IMAGE, timeout=60)[:800])
print("pushed:", HELLO_REMOTE, PUSHED_DIGEST)

# %% check="registry" points=1
assert engine("run", "--rm", HELLO_IMAGE, timeout=120).strip() == "hello from 1.0", "running the image should print 'hello from 1.0'"
_base_layers = containers.inspect(BASE_IMAGE, "image")["RootFS"]["Layers"]
_layers = containers.inspect(HELLO_IMAGE, "image")["RootFS"]["Layers"]
assert _layers[: len(_base_layers)] == _base_layers, "the image should start from the base image's layers"
assert len(_layers) - len(_base_layers) == 2, f"expected 2 layers on top of the base, saw {len(_layers) - len(_base_layers)}"

# %% check="registry" points=2
_accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
with urllib.request.urlopen(f"http://{LOCAL_REGISTRY}/v2/{NAME}-hello/tags/list", timeout=30) as _resp:
    _tags = json.load(_resp)["tags"]
assert "1.0" in _tags, f"the registry should have tag 1.0 for {NAME}-hello, has {_tags}"
_req = urllib.request.Request(f"http://{LOCAL_REGISTRY}/v2/{NAME}-hello/manifests/1.0", headers=_accept)
with urllib.request.urlopen(_req, timeout=30) as _resp:
    _manifest, _served = json.load(_resp), _resp.headers["Docker-Content-Digest"]
assert PUSHED_DIGEST == _served, f"PUSHED_DIGEST should be the registry's digest {_served}, saw {PUSHED_DIGEST!r}"
### BEGIN HIDDEN TESTS
assert len(_manifest["layers"]) == len(_layers), (
    f"the registry's manifest lists {len(_manifest['layers'])} layers, the local image has {len(_layers)}"
)
# Pull by digest (immutable) and run it: the registry really holds the image.
_by_digest = f"{LOCAL_REGISTRY}/{NAME}-hello@{_served}"
engine("pull", *containers.registry_flags(), _by_digest, timeout=300)
assert engine("run", "--rm", _by_digest, timeout=120).strip() == "hello from 1.0"
containers.remove(_by_digest)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Containers make ML experiments reproducible
#
# A training run's result depends on the code, the data, the seeds **and** the library versions
# (scikit-learn changed default hyper-parameters more than once). An image freezes the last part:
# `PYTHON_IMAGE` holds the course's pinned numpy/pandas/scikit-learn. Mount the data read-only,
# mount an output directory, and the same image gives the same metrics anywhere.
#
# ### Exercise 4 — the same training twice, the same metrics (3 points)
# Write `train.py` into `WORK / "train"` that reads `/data/transactions.csv`, trains a
# `LogisticRegression` on a few numeric columns to predict `isFraud` (first 70 % of rows by
# `TransactionDT` for training, the rest for validation), and writes `/out/metrics.json` with at
# least `auc` (validation ROC AUC), `sklearn` (`sklearn.__version__`) and `python`
# (`sys.executable`). Then implement `run_training(out_dir)` that runs it in `PYTHON_IMAGE` with the
# fraud data directory mounted **read-only** at `/data`, `out_dir` mounted at `/out`, the script
# mounted (or built into an image — your choice), **no network** (`--network none`), and returns
# the parsed metrics.
#
# <details><summary>Hint 1</summary><code>-v f"{FRAUD_DIR}:/data:ro"</code>, <code>-v f"{out_dir}:/out"</code>,
# <code>-v f"{WORK / 'train'}:/app:ro"</code>, then <code>python /app/train.py</code>.</details>
# <details><summary>Hint 2</summary>Seed what is random (<code>random_state=0</code>) and sort before
# splitting.</details>

# %% answer="reproducible"
def run_training(out_dir: Path) -> dict:
    ### BEGIN SOLUTION
    app = WORK / "train"
    app.mkdir(parents=True, exist_ok=True)
    (app / "train.py").write_text(
        "import json, sys\n"
        "import numpy as np, pandas as pd, sklearn\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.metrics import roc_auc_score\n"
        "tx = pd.read_csv('/data/transactions.csv').sort_values('TransactionDT')\n"
        "hour = (tx.TransactionDT // 3600) % 24\n"
        "risky = tx.P_emaildomain.isin(['anonymous.com', 'protonmail.com', 'mail.com'])\n"
        "X = np.column_stack([np.log1p(tx.TransactionAmt), hour.between(0, 5), tx.DeviceType.isna(),\n"
        "                     tx.ProductCD.eq('C'), risky, tx.TransactionAmt % 50 == 0]).astype(float)\n"
        "y = tx.isFraud.to_numpy()\n"
        "cut = int(len(tx) * 0.7)\n"
        "model = LogisticRegression(max_iter=500, random_state=0).fit(X[:cut], y[:cut])\n"
        "auc = roc_auc_score(y[cut:], model.predict_proba(X[cut:])[:, 1])\n"
        "json.dump({'auc': auc, 'sklearn': sklearn.__version__, 'python': sys.executable},\n"
        "          open('/out/metrics.json', 'w'))\n"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    engine(
        "run", "--rm", "--network", "none",
        "-v", f"{FRAUD_DIR}:/data:ro", "-v", f"{out_dir}:/out", "-v", f"{app}:/app:ro",
        PYTHON_IMAGE, "python", "/app/train.py",
        timeout=300,
    )
    return json.loads((out_dir / "metrics.json").read_text())
    ### END SOLUTION


RUN_A = run_training(WORK / "run-a")
RUN_B = run_training(WORK / "run-b")
print(RUN_A, RUN_B, sep="\n")

# %% check="reproducible" points=2
assert RUN_A == RUN_B, f"two runs of the same image on the same data should agree exactly: {RUN_A} vs {RUN_B}"
assert 0.55 < RUN_A["auc"] <= 1.0, f"validation AUC should beat chance clearly, saw {RUN_A['auc']}"
assert (WORK / "run-a" / "metrics.json").exists(), "metrics.json should be written to the mounted output dir"

# %% check="reproducible" points=1
### BEGIN HIDDEN TESTS
# The metrics come from inside the image: its venv and its pinned scikit-learn, not this kernel's Python.
assert RUN_A["python"] != __import__("sys").executable, "train.py must run inside the container, not in this kernel"
assert RUN_A["python"].startswith(("/opt/venv", "/usr/local/bin", "/usr/bin")), f"unexpected interpreter {RUN_A['python']}"
_inside = engine("run", "--rm", PYTHON_IMAGE, "python", "-c", "import sklearn; print(sklearn.__version__)", timeout=120).strip()
assert RUN_A["sklearn"] == _inside, f"metrics say sklearn {RUN_A['sklearn']}, the image has {_inside}"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# - A container = namespaces + cgroups + layered filesystem, run by `runc`; you read all three.
# - It starts in well under a second and costs what its processes use; a VM boots a kernel.
# - Images are content-addressed layers; a digest pins exactly what ran — the reproducibility anchor
#   module 16 uses for rollbacks.
# - **The engine socket is root**: anyone who can talk to dockerd/podman's socket can mount `/` into a
#   container. Keep it off shared machines; prefer rootless podman or Docker's rootless mode for
#   development.
#
# **In the cloud:** images go to ECR (module 16), run on ECS/EKS/SageMaker, and GPU hosts add the
# NVIDIA Container Toolkit (module 18).
#
# Cleanup:

# %%
containers.remove(PROBE, kind="container")
containers.remove(HELLO_IMAGE, TRAIN_IMAGE, HELLO_REMOTE)
print("removed", PROBE, HELLO_IMAGE)
