# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 18 — GPU-accelerated containers for ML/DL
#
# **Where this sits:** modules 13–16 put the course's training and serving code into images. Deep
# learning (the CV and NLP projects later in the course) needs those images to reach a GPU. A container
# does not get one by default: the host needs NVIDIA's driver, the **NVIDIA Container Toolkit** wires
# the driver into containers, and the image carries CUDA user-space libraries and a CUDA build of
# PyTorch. This lab walks through all three and measures what a GPU (or, here, a CPU) delivers.
#
# **You will:**
# 1. learn what **installing the NVIDIA Container Toolkit** does (apt repository, `nvidia-ctk runtime
#    configure`, `nvidia-ctk cdi generate`) and read the **CDI spec** it produces;
# 2. write a **CUDA-enabled Dockerfile for PyTorch** that passes `hadolint`;
# 3. control **GPU resource isolation**: `CUDA_VISIBLE_DEVICES` for processes, `--gpus` and CDI
#    `--device nvidia.com/gpu=N` for containers — and the traps in each;
# 4. **benchmark** a matrix multiply and a training step, on the GPU when CUDA is present and always on
#    the CPU, and run a benchmark **inside a container** with CPU limits before paying for cloud GPUs.
#
# **What runs here.** This machine (and CI) has **no GPU**: PyTorch is installed but
# `torch.cuda.is_available()` is `False`, and the container engine is podman without NVIDIA's toolkit.
# Every cell detects CUDA and says which device ran; on a GPU host (a `g5`/`p4d` instance, a
# workstation, Colab) the same cells time the GPU too. The CUDA image is linted and read here, and
# built only where a GPU host and Docker Hub exist.

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
# ## Setup
# Names come from `RUN_ID`; the work directory and the benchmark container of a previous run are
# removed first. `device_report()` (in `labkit/gpu.py`) says what PyTorch sees.

# %% locked=true
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from labkit import containers, gpu, labenv
from labkit.containers import EngineError, engine

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST)
NAME = labenv.resource_name("m018", RUN_ID)
WORK = (Path("m018-work") / NAME).resolve()
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True)
BENCH_CONTAINER = f"{NAME}-bench"
containers.remove(BENCH_CONTAINER, kind="container")
torch.manual_seed(0)

DEVICE = gpu.device_report()
print(json.dumps(DEVICE, indent=1))
print("this lab runs on:", "GPU " + DEVICE["name"] if DEVICE["cuda_available"] else "CPU only (no CUDA device)")

# %% [markdown]
# `cuda_build` is the CUDA version PyTorch was **compiled** against (its wheels bundle the CUDA
# runtime, cuBLAS and cuDNN). It needs a host **driver** at least that new; nothing else about CUDA
# has to be installed on the host. `cuda_available` is whether a driver and a device answered.
#
# ## 1. The NVIDIA Container Toolkit
#
# A container shares the host kernel, and the NVIDIA kernel driver lives there. What a container
# lacks is (a) the device files `/dev/nvidia0`, `/dev/nvidiactl`, `/dev/nvidia-uvm`, and (b) the
# **user-space half of the driver** (`libcuda.so`, `libnvidia-ml.so`, `nvidia-smi`), whose version must
# match the kernel module exactly — so it cannot be baked into an image. The toolkit injects both when
# a container starts. Installing it on an Ubuntu GPU host (driver already installed):
#
# ```bash
# # 1. NVIDIA's apt repository, signed
# curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey \
#   | sudo gpg --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
# curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
#   | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#' \
#   | sudo tee /etc/apt/sources.list.d/nvidia-container-toolkit.list
# sudo apt-get update && sudo apt-get install -y nvidia-container-toolkit
# # 2. Docker: register the `nvidia` runtime in /etc/docker/daemon.json, restart dockerd
# sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker
# # 3. CDI (podman, containerd, Docker >= 25): describe the GPUs in a spec file
# sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml && nvidia-ctk cdi list
# # 4. smoke test
# docker run --rm --gpus all nvidia/cuda:12.8.1-base-ubuntu22.04 nvidia-smi
# podman run --rm --device nvidia.com/gpu=all nvidia/cuda:12.8.1-base-ubuntu22.04 nvidia-smi
# ```
#
# Two mechanisms, then: Docker's `--gpus` goes through the `nvidia` runtime hook; **CDI** (the
# Container Device Interface, a CNCF spec) is a plain YAML file listing, per device, the device nodes,
# mounts, environment and hooks an engine must add. On AWS the GPU AMIs (Deep Learning AMI, EKS/ECS GPU
# AMIs) ship driver + toolkit preinstalled; on EKS the NVIDIA device plugin / GPU operator does steps 1–3.
#
# What this host has:

# %%
for tool in ("nvidia-smi", "nvidia-ctk", "nvidia-container-runtime"):
    print(f"{tool:26s}", shutil.which(tool) or "not installed")
print("/dev/nvidia* device nodes:", sorted(str(p) for p in Path("/dev").glob("nvidia*")) or "none")
print("CDI spec dirs:", {d: Path(d).is_dir() for d in ("/etc/cdi", "/var/run/cdi")})

# %% [markdown]
# No driver, no toolkit: so we generate the spec `nvidia-ctk cdi generate` would write on a host with
# **two GPUs** (the template is documented in `labkit/gpu.py`, following the toolkit's output) and
# validate its structure against the CDI rules. Read it: one device per GPU by index, one per GPU
# UUID, `all`, and spec-wide edits (control devices, driver libraries, an `ldconfig` hook).

# %%
CDI_SPEC = gpu.generate_cdi_spec(2)
CDI_FILE = WORK / "cdi" / "nvidia.yaml"
CDI_FILE.parent.mkdir(parents=True)
CDI_FILE.write_text(yaml.safe_dump(CDI_SPEC, sort_keys=False))
print(CDI_FILE.read_text()[:900], "...")
print("validation errors:", gpu.validate_cdi_spec(yaml.safe_load(CDI_FILE.read_text())))
print("edits for nvidia.com/gpu=1:", gpu.resolve_cdi(CDI_SPEC, ["nvidia.com/gpu=1"])["deviceNodes"])

# %% [markdown]
# The engine here is podman; it **does** speak CDI, and it tells us plainly that this host has no
# spec. Docker's `--gpus` is another story on podman 4.3: it accepts the flag for compatibility and
# silently ignores it — the container starts with no GPU at all. On podman, always use CDI.

# %%
try:
    engine("run", "--rm", "--device", "nvidia.com/gpu=0", BASE_IMAGE, "true", timeout=60)
    print("CDI device resolved: this host has a GPU spec")
except EngineError as exc:
    print("CDI:", str(exc).split(": ", 1)[-1][-160:])
print("--gpus all ->", engine("run", "--rm", "--gpus", "all", BASE_IMAGE, "sh", "-c",
                              "ls /dev/nvidia* 2>/dev/null || echo 'started, no /dev/nvidia*'", timeout=60).strip())

# %% [markdown]
# ## 2. A CUDA-enabled image for PyTorch
#
# NVIDIA publishes `nvidia/cuda:<version>-<flavour>-<os>` images: `base` (the CUDA runtime only),
# `runtime` (+ cuBLAS, cuFFT..., what inference and training need), `cudnn-runtime` (+ cuDNN),
# `devel` (+ compilers and headers, to *build* CUDA extensions — multi-stage it away). The CUDA
# version in the tag must be supported by the host driver (driver 550 → CUDA ≤ 12.4, 570 → ≤ 12.8).
# PyTorch wheels come from `https://download.pytorch.org/whl/cuXYZ` (one index per CUDA build; `/whl/cpu`
# is the CPU-only build — a classic way to ship a 2 GB image that never uses the GPU). TensorFlow has
# the same pattern: `pip install tensorflow[and-cuda]==2.x` on a CUDA base, or the
# `tensorflow/tensorflow:2.x-gpu` image.
#
# The project's own GPU lab image is `docker/Dockerfile.gpu` (a uv-installed Python, torch from PyPI,
# non-root JupyterLab). Read as data:

# %%
_project_gpu = next((p / "docker" / "Dockerfile.gpu" for p in [Path.cwd(), *Path.cwd().parents]
                     if (p / "docker" / "Dockerfile.gpu").exists()), None)
if _project_gpu is not None:
    for _stage in gpu.dockerfile_stages(_project_gpu.read_text()):
        print(f"stage {_stage.name}: FROM {_stage.base} | user {_stage.user} |",
              {k: v for k, v in _stage.env.items() if k.startswith("NVIDIA")})
else:
    print("docker/Dockerfile.gpu is not reachable from this run directory (graded sandbox)")

# %% [markdown]
# ### Exercise 1 — a CUDA PyTorch Dockerfile, hadolint-clean (3 points)
# Write `CUDA_DOCKERFILE` (already a path under `WORK`) so that it:
# - declares `ARG CUDA_IMAGE=nvidia/cuda:12.<minor>.<patch>-cudnn-runtime-ubuntu22.04` **before** `FROM
#   ${CUDA_IMAGE}` (a `--build-arg CUDA_IMAGE=...` then swaps the CUDA version; never `latest`);
# - installs Python 3 with apt (`--no-install-recommends`, clean the lists) and a **pinned**
#   `torch==X.Y.Z` from the PyTorch **CUDA 12** index that matches the base (`/whl/cu12x`), with
#   `--no-cache-dir`;
# - sets `NVIDIA_VISIBLE_DEVICES=all` and `NVIDIA_DRIVER_CAPABILITIES=compute,utility` (what the toolkit
#   reads: which GPUs, and which driver parts — `compute` for CUDA, `utility` for `nvidia-smi`);
# - runs as a **non-root** user; `CMD` prints `torch.cuda.is_available()`.
#
# `hadolint` must report **no errors**, and none of: DL3002 (last USER root), DL3006/DL3007 (untagged /
# `latest` base), DL3013 (unpinned pip), DL3042 (pip cache). DL3008 (unpinned apt packages) is tolerated.
#
# <details><summary>Hint 1</summary>Lint as you go: <code>gpu.hadolint(CUDA_DOCKERFILE)</code>; read it
# back like a build would: <code>gpu.dockerfile_stages(CUDA_DOCKERFILE.read_text())[-1]</code>.</details>
# <details><summary>Hint 2</summary><code>RUN pip3 install --no-cache-dir --index-url
# https://download.pytorch.org/whl/cu128 "torch==2.9.1"</code> on a 12.8 base;
# <code>RUN useradd --create-home --uid 1000 ml</code> then <code>USER ml</code>.</details>

# %% answer="cuda_dockerfile"
CUDA_DOCKERFILE = WORK / "cuda" / "Dockerfile"
CUDA_DOCKERFILE.parent.mkdir(parents=True, exist_ok=True)
### BEGIN SOLUTION
CUDA_DOCKERFILE.write_text("""\
# syntax=docker/dockerfile:1
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
FROM ${CUDA_IMAGE}
ARG TORCH_VERSION=2.9.1
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive \\
    PYTHONUNBUFFERED=1 \\
    NVIDIA_VISIBLE_DEVICES=all \\
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN apt-get update \\
    && apt-get install -y --no-install-recommends python3 python3-pip \\
    && rm -rf /var/lib/apt/lists/*
RUN pip3 install --no-cache-dir --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" \\
    && useradd --create-home --uid 1000 ml
USER 1000
WORKDIR /home/ml
CMD ["python3", "-c", "import torch; print(torch.cuda.is_available(), torch.cuda.device_count())"]
""")
### END SOLUTION
for _f in gpu.hadolint(CUDA_DOCKERFILE):
    print(f"{_f['code']} {_f['level']:7s} line {_f['line']}: {_f['message'][:90]}")
print(gpu.dockerfile_stages(CUDA_DOCKERFILE.read_text())[-1])

# %% check="cuda_dockerfile" points=1
assert CUDA_DOCKERFILE.is_file(), f"expected a Dockerfile at {CUDA_DOCKERFILE}, found none"
_findings = gpu.hadolint(CUDA_DOCKERFILE)
_errors = [f"{f['code']} (line {f['line']})" for f in _findings if f["level"] == "error"]
assert not _errors, f"hadolint should report no errors, saw {_errors}"
_stage = gpu.dockerfile_stages(CUDA_DOCKERFILE.read_text())[-1]
_m = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)(?:\.\d+)?-cudnn\d*-runtime-ubuntu22\.04", _stage.base)
assert _m, f"expected a base like nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04, saw {_stage.base!r}"
assert _m.group(1) == "12", f"expected a CUDA 12 base, saw CUDA {_m.group(1)}"

# %% check="cuda_dockerfile" points=2
assert CUDA_DOCKERFILE.is_file(), f"expected a Dockerfile at {CUDA_DOCKERFILE}, found none"
_text = CUDA_DOCKERFILE.read_text()
_stage = gpu.dockerfile_stages(_text)[-1]
assert _stage.env.get("NVIDIA_VISIBLE_DEVICES"), f"NVIDIA_VISIBLE_DEVICES should be set, ENV is {_stage.env}"
_caps = set(_stage.env.get("NVIDIA_DRIVER_CAPABILITIES", "").split(","))
assert _caps >= {"compute", "utility"} or "all" in _caps, f"expected capabilities compute,utility, saw {_caps}"
assert _stage.user and _stage.user.split(":")[0] not in ("root", "0"), f"expected a non-root USER, saw {_stage.user!r}"
### BEGIN HIDDEN TESTS
_bad = sorted({f["code"] for f in gpu.hadolint(CUDA_DOCKERFILE)} & {"DL3002", "DL3006", "DL3007", "DL3013", "DL3042"})
assert not _bad, f"hadolint findings that must be fixed: {_bad}"
# The base must come from the ARG, so a --build-arg swaps it.
_swapped = gpu.dockerfile_stages(_text, {"CUDA_IMAGE": "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04"})[-1].base
assert _swapped == "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04", (
    f"--build-arg CUDA_IMAGE=... should change the base, the build would use {_swapped!r}"
)
_pips = [p for r in _stage.runs for p in gpu.pip_installs(r)]
_torch = [(s, p["indexes"]) for p in _pips for s in p["specs"] if re.match(r"torch\b", s)]
assert _torch, f"no `pip install torch...` found in the final stage's RUN commands ({_pips})"
_spec, _indexes = _torch[0]
assert re.fullmatch(r"torch==\d+\.\d+\.\d+", _spec), f"torch must be pinned exactly (torch==X.Y.Z), saw {_spec!r}"
_cu = [re.search(r"download\.pytorch\.org/whl/cu(\d+)", u) for u in _indexes]
_cu = [m.group(1) for m in _cu if m]
assert _cu, f"torch must come from a CUDA index (https://download.pytorch.org/whl/cuXYZ), saw indexes {_indexes}"
assert _cu[0].startswith("12"), f"a CUDA 12 base needs a cu12x wheel index, saw cu{_cu[0]}"
### END HIDDEN TESTS

# %% [markdown]
# **Building it.** `docker build -f Dockerfile -t fraud-gpu:0.1 .` then `docker run --rm --gpus all
# fraud-gpu:0.1` prints `True 1`. This machine cannot: Docker Hub (`nvidia/cuda`) and PyPI are not
# reachable from the engine, and there is no GPU to run it on — so here the Dockerfile is linted and read
# as a build would read it; the build belongs on a GPU host (or in CI on a GPU runner). The image is
# ~6 GB (cuDNN + torch's bundled CUDA libraries): multi-stage builds do not shrink that, choosing
# `runtime` over `devel` does.
#
# ## 3. GPU resource isolation
#
# Three layers decide which GPUs a workload sees:
# - **the engine**: `docker run --gpus device=1` or `--device nvidia.com/gpu=1` (CDI) puts only
#   `/dev/nvidia1` in the container; inside, it is numbered **0**;
# - **`NVIDIA_VISIBLE_DEVICES`** in the image/container: read by the toolkit's hook (legacy runtime path);
# - **`CUDA_VISIBLE_DEVICES`** in a process: the CUDA runtime hides the others and renumbers. It is read
#   **once**, when CUDA initialises — setting it in a running Python process that already touched CUDA
#   does nothing, which is why it belongs in the environment of a *new* process.
#
# `CUDA_VISIBLE_DEVICES=""` hides every GPU (a handy "force CPU" switch); unset means all.

# %% [markdown]
# ### Exercise 2 — what a child process sees (1 point)
# Write `child_gpu_view(value)` that starts a **new Python process** (`sys.executable`) with
# `CUDA_VISIBLE_DEVICES` set to `value` (or removed from its environment when `value is None`), leaving
# this kernel's own environment untouched, and returns the dict the child prints as JSON:
# `{"CUDA_VISIBLE_DEVICES": <what the child's os.environ has, or None>, "device_count":
# torch.cuda.device_count(), "pid": os.getpid()}`.
#
# <details><summary>Hint 1</summary><code>env = {**os.environ}</code>, change the copy, then
# <code>subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)</code>.</details>
# <details><summary>Hint 2</summary>The child prints <code>json.dumps({...})</code>; parse the last line of its stdout.</details>

# %% answer="visibility"
def child_gpu_view(value: str | None) -> dict:
    ### BEGIN SOLUTION
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    if value is not None:
        env["CUDA_VISIBLE_DEVICES"] = value
    code = ("import json, os, torch; print(json.dumps({'CUDA_VISIBLE_DEVICES': os.environ.get('CUDA_VISIBLE_DEVICES'),"
            " 'device_count': torch.cuda.device_count(), 'pid': os.getpid()}))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
    ### END SOLUTION


HIDDEN_VIEW = child_gpu_view("")
print("CUDA_VISIBLE_DEVICES='' ->", HIDDEN_VIEW, "| this kernel sees", torch.cuda.device_count(), "GPU(s)")

# %% check="visibility" points=1
_env_before = os.environ.get("CUDA_VISIBLE_DEVICES")
_v = HIDDEN_VIEW
assert _v["CUDA_VISIBLE_DEVICES"] == "", f"the child should see CUDA_VISIBLE_DEVICES='', it saw {_v['CUDA_VISIBLE_DEVICES']!r}"
assert _v["device_count"] == 0, f"with CUDA_VISIBLE_DEVICES='' no GPU is visible, the child counted {_v['device_count']}"
assert _v["pid"] != os.getpid(), "the view must come from a new process, not this kernel"
### BEGIN HIDDEN TESTS
_v0 = child_gpu_view("0")
assert os.environ.get("CUDA_VISIBLE_DEVICES") == _env_before, (
    f"this kernel's CUDA_VISIBLE_DEVICES changed from {_env_before!r} to {os.environ.get('CUDA_VISIBLE_DEVICES')!r}"
)
assert _v0["CUDA_VISIBLE_DEVICES"] == "0", f"the child should see '0', saw {_v0['CUDA_VISIBLE_DEVICES']!r}"
_expected = len(gpu.cuda_visible("0", torch.cuda.device_count()))
assert _v0["device_count"] == _expected, f"CUDA_VISIBLE_DEVICES=0 should show {_expected} GPU(s), saw {_v0['device_count']}"
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 — engine flags for one GPU, two GPUs, all (2 points)
# On the 2-GPU host described by `CDI_SPEC`, write `gpu_run_args(request, mode, spec)` returning the
# `run` arguments (before the image name) that give a container exactly the requested GPUs:
# - `request` is `"1"`, `"0,1"`, `"all"` or a GPU UUID from the spec (`"GPU-..."`);
# - `mode="gpus"`: Docker's `--gpus`; `mode="cdi"`: one `--device <kind>=<name>` per GPU (or `=all`);
# - raise `ValueError` when a requested GPU is not in the spec (e.g. `"2"` on this host).
#
# Mind the two classic traps: `--gpus 1` means **a count** (one GPU: GPU 0), not GPU 1; and the
# docker CLI reads the `--gpus` value as a CSV record, so `device=0,1` splits into two fields and fails
# — the value must carry literal double quotes: `'"device=0,1"'` (in a shell: `--gpus '"device=0,1"'`).
# The check reads your arguments the way the docker CLI and a CDI-aware engine do
# (`gpu.engine_gpu_devices`).
#
# <details><summary>Hint 1</summary>Device names in the spec: <code>[d["name"] for d in spec["devices"]]</code>;
# the kind is <code>spec["kind"]</code>.</details>
# <details><summary>Hint 2</summary><code>["--gpus", f'"device={request}"']</code> works for one id and
# for several.</details>

# %% answer="engine_flags"
def gpu_run_args(request: str, mode: str, spec: dict) -> list[str]:
    ### BEGIN SOLUTION
    names = {d["name"] for d in spec["devices"]}
    wanted = ["all"] if request == "all" else [r.strip() for r in request.split(",")]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise ValueError(f"GPU(s) {missing} are not in the CDI spec")
    if mode == "gpus":
        return ["--gpus", "all" if request == "all" else f'"device={",".join(wanted)}"']
    if mode == "cdi":
        return [arg for w in wanted for arg in ("--device", f"{spec['kind']}={w}")]
    raise ValueError(f"mode must be 'gpus' or 'cdi', saw {mode!r}")
    ### END SOLUTION


for _req in ("1", "0,1", "all"):
    for _mode in ("gpus", "cdi"):
        _args = gpu_run_args(_req, _mode, CDI_SPEC)
        print(f"{_req:4s} {_mode:5s} {_args} -> host GPUs {gpu.engine_gpu_devices(_args, CDI_SPEC)}")

# %% check="engine_flags" points=1
for _mode in ("gpus", "cdi"):
    _args = gpu_run_args("1", _mode, CDI_SPEC)
    _got = gpu.engine_gpu_devices(_args, CDI_SPEC)
    assert _got == [1], f"request '1' ({_mode}) should expose host GPU [1], {_args} exposes {_got}"
    _args = gpu_run_args("all", _mode, CDI_SPEC)
    assert gpu.engine_gpu_devices(_args, CDI_SPEC) == [0, 1], f"'all' ({_mode}): {_args} does not expose [0, 1]"

# %% check="engine_flags" points=1
### BEGIN HIDDEN TESTS
for _mode in ("gpus", "cdi"):
    _args = gpu_run_args("0,1", _mode, CDI_SPEC)
    try:
        _got = gpu.engine_gpu_devices(_args, CDI_SPEC)
    except ValueError as _exc:
        raise AssertionError(f"request '0,1' ({_mode}): the engine would refuse {_args}: {_exc}") from None
    assert _got == [0, 1], f"request '0,1' ({_mode}) should expose [0, 1], {_args} exposes {_got}"
    _uuid = gpu.fake_uuid(1)
    _got = gpu.engine_gpu_devices(gpu_run_args(_uuid, _mode, CDI_SPEC), CDI_SPEC)
    assert _got == [1], f"GPU {_uuid} ({_mode}) is host GPU 1, the arguments expose {_got}"
    try:
        gpu_run_args("2", _mode, CDI_SPEC)
    except ValueError:
        pass
    else:
        raise AssertionError(f"GPU 2 does not exist on this 2-GPU host: gpu_run_args('2', {_mode!r}) should raise ValueError")
_four = gpu.generate_cdi_spec(4)
assert gpu.engine_gpu_devices(gpu_run_args("3", "cdi", _four), _four) == [3], "the spec passed in must be used"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Benchmarking: the GPU when present, the CPU always
#
# Timing GPU code has two traps. CUDA kernels are **asynchronous**: `a @ b` returns as soon as the
# kernel is queued, so without `torch.cuda.synchronize()` you time the launch, not the work. And the
# first call pays one-off costs (CUDA context, cuBLAS handle, kernel selection): **warm up**, then
# take the **median** of several repetitions. An n×n matmul does n² dot products of length n: **2n³**
# floating-point operations.

# %% [markdown]
# ### Exercise 4 — time a matmul properly (2 points)
# Write `time_matmul(n, reps, device)` returning `{"device", "n", "reps", "times_s", "median_s",
# "gflops"}`: two random `float32` n×n tensors on `device`, at least one warm-up multiply, `reps` timed
# multiplies (`time.perf_counter`, synchronising on CUDA before reading the clock), the median of the
# timings and GFLOP/s from 2n³ and that median.
#
# <details><summary>Hint 1</summary><code>a = torch.randn(n, n, device=device)</code>; on CUDA,
# <code>torch.cuda.synchronize()</code> before <code>t0</code> and before each reading.</details>
# <details><summary>Hint 2</summary>GFLOP/s = <code>2 * n**3 / median_s / 1e9</code>.</details>

# %% answer="benchmark"
def time_matmul(n: int, reps: int, device: str) -> dict:
    ### BEGIN SOLUTION
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"device": device, "n": n, "reps": reps, "times_s": times, "median_s": median, "gflops": 2 * n**3 / median / 1e9}
    ### END SOLUTION


MM_N, MM_REPS = (256, 5) if FAST else (2048, 20)
MY_MATMUL = {dev: time_matmul(MM_N if dev == "cpu" else 4 * MM_N, MM_REPS, dev)
             for dev in (["cpu", "cuda"] if DEVICE["cuda_available"] else ["cpu"])}
for _dev, _r in MY_MATMUL.items():
    print(f"{_dev}: n={_r['n']} median {_r['median_s'] * 1e3:.2f} ms -> {_r['gflops']:.1f} GFLOP/s")

# %% check="benchmark" points=1
_r = MY_MATMUL["cpu"]
assert _r["device"] == "cpu" and _r["n"] == MM_N, f"expected the cpu result for n={MM_N}, saw {_r['device']}, n={_r['n']}"
assert len(_r["times_s"]) == MM_REPS, f"expected {MM_REPS} timings (warm-up excluded), saw {len(_r['times_s'])}"
assert all(t > 0 for t in _r["times_s"]), f"timings must be positive, saw {_r['times_s']}"
_expect = 2 * _r["n"] ** 3 / _r["median_s"] / 1e9
assert abs(_r["gflops"] - _expect) <= 0.01 * _expect, f"GFLOP/s from 2n^3 and the median is {_expect:.3f}, saw {_r['gflops']:.3f}"

# %% check="benchmark" points=1
### BEGIN HIDDEN TESTS
assert abs(_r["median_s"] - statistics.median(_r["times_s"])) < 1e-12, (
    f"median_s should be the median of times_s ({statistics.median(_r['times_s']):.6f}), saw {_r['median_s']:.6f}"
)
_small = time_matmul(96, 3, "cpu")
assert _small["n"] == 96 and len(_small["times_s"]) == 3, f"time_matmul(96, 3) returned n={_small['n']}, {len(_small['times_s'])} timings"
_e = 2 * 96**3 / _small["median_s"] / 1e9
assert abs(_small["gflops"] - _e) <= 0.01 * _e, f"n=96: GFLOP/s should be {_e:.3f}, saw {_small['gflops']:.3f}"
assert 1e-3 < _small["gflops"] < 1e5, f"a CPU matmul at {_small['gflops']:.1f} GFLOP/s is not plausible"
if DEVICE["cuda_available"]:
    _g = MY_MATMUL["cuda"]
    # Without synchronize the 'time' is the launch: tens of microseconds regardless of n.
    assert _g["gflops"] < 1e5, f"{_g['gflops']:.0f} GFLOP/s exceeds any GPU: synchronize before reading the clock"
### END HIDDEN TESTS

# %% [markdown]
# The benchmark cell of the lab: a matmul and one **training step** (forward, loss, backward, SGD-with-momentum
# update of a small MLP) with `labkit.gpu`, on every device present. The same code on a GPU host adds a
# `cuda` row; the ratio between rows is what you are paying the GPU for.

# %%
BENCH = []
for _dev in ["cpu", "cuda"] if DEVICE["cuda_available"] else ["cpu"]:
    _mm = gpu.matmul_benchmark(MM_N if _dev == "cpu" else 4 * MM_N, reps=MM_REPS, device=_dev)
    _tr = gpu.train_step_benchmark(_dev, batch=256 if FAST else 4096, hidden=128 if FAST else 1024,
                                   steps=3 if FAST else 20)
    BENCH.append({"device": _dev, "matmul_n": _mm["n"], "matmul_gflops": round(_mm["gflops"], 2),
                  "train_step_ms": round(_tr["step_s"] * 1e3, 2), "samples_per_s": round(_tr["samples_per_s"]),
                  "loss": f"{_tr['loss_first']:.3f} -> {_tr['loss_last']:.3f}"})
for _row in BENCH:
    print(_row)
print("ran on:", [r["device"] for r in BENCH],
      "" if DEVICE["cuda_available"] else "(no CUDA here: the GPU row appears on a GPU host)")

# %% [markdown]
# ## 5. Test the container locally before the cloud
#
# A GPU instance costs dollars per hour; the mistakes that waste it (wrong image, wrong Python, a
# benchmark that silently measured the wrong thing, a resource limit nobody set) show up on a laptop
# first. Here the CPU stands in: run the benchmark **inside `PYTHON_IMAGE`** (numpy, since torch is not in
# that image) and compare with this host, then cap the container with `--cpus`. `--cpus 0.5` is a CFS
# **quota** (50 ms of CPU per 100 ms period), not fewer cores: `nproc` still says 2. The container can
# read its own quota from its cgroup — cgroup v2: `/sys/fs/cgroup/cpu.max` (`"50000 100000"` or `"max
# 100000"`); v1 (this machine): `/sys/fs/cgroup/cpu/cpu.cfs_quota_us` (`-1` = none) and `cpu.cfs_period_us`.

# %% [markdown]
# ### Exercise 5 — a benchmark in a container, with and without a CPU limit (2 points)
# Write `container_matmul(cpus, n)` that runs a small numpy script in `PYTHON_IMAGE` as container
# `BENCH_CONTAINER` (`--rm`, `--network none`, `-e OPENBLAS_NUM_THREADS=1`, and `--cpus <cpus>` unless
# `cpus is None`) and returns the JSON the script prints: `{"n", "median_s", "gflops", "cpu_quota",
# "numpy", "python"}` — median over ≥ 3 timed batches of n×n float64 matmuls, GFLOP/s from 2n³ and
# the per-matmul median, `cpu_quota` = quota/period as a float read from the cgroup inside (None when
# unlimited), `numpy.__version__` and `sys.executable` of the container's Python.
#
# <details><summary>Hint 1</summary>Write the script into a directory under <code>WORK</code> and mount it:
# <code>-v f"{dir}:/app:ro"</code>, then <code>python /app/bench.py N</code>.</details>
# <details><summary>Hint 2</summary>Short matmuls finish inside one CFS period and are never throttled:
# time batches of several matmuls (≥ 0.1 s) and divide.</details>

# %% answer="container_cpus"
def container_matmul(cpus: float | None, n: int) -> dict:
    ### BEGIN SOLUTION
    app = WORK / "bench"
    app.mkdir(parents=True, exist_ok=True)
    (app / "bench.py").write_text('''\
import json, statistics, sys, time
from pathlib import Path
import numpy as np

def cpu_quota():
    v2 = Path("/sys/fs/cgroup/cpu.max")
    if v2.exists():
        quota, period = v2.read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    if not v1.exists():
        return None
    quota = int(v1.read_text())
    period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    return None if quota < 0 else quota / period

n, batch, reps = int(sys.argv[1]), 8, 3
rng = np.random.default_rng(0)
a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
a @ b
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(batch):
        a @ b
    times.append((time.perf_counter() - t0) / batch)
median = statistics.median(times)
print(json.dumps({"n": n, "median_s": median, "gflops": 2 * n**3 / median / 1e9, "cpu_quota": cpu_quota(),
                  "numpy": np.__version__, "python": sys.executable}))
''')
    limit = [] if cpus is None else ["--cpus", str(cpus)]
    containers.remove(BENCH_CONTAINER, kind="container")
    out = engine("run", "--rm", "--name", BENCH_CONTAINER, "--network", "none", "-e", "OPENBLAS_NUM_THREADS=1",
                 *limit, "-v", f"{app}:/app:ro", PYTHON_IMAGE, "python", "/app/bench.py", str(n), timeout=180)
    return json.loads(out.strip().splitlines()[-1])
    ### END SOLUTION


CT_N = 256 if FAST else 1024
CONTAINER_RUNS = {"unlimited": container_matmul(None, CT_N), "cpus=0.5": container_matmul(0.5, CT_N)}
for _k, _r in CONTAINER_RUNS.items():
    print(f"container {_k:9s} quota={_r['cpu_quota']} {_r['gflops']:.2f} GFLOP/s (numpy {_r['numpy']}, {_r['python']})")

# %% check="container_cpus" points=1
_u, _l = CONTAINER_RUNS["unlimited"], CONTAINER_RUNS["cpus=0.5"]
assert _u["cpu_quota"] is None, f"without --cpus the container has no CPU quota, it reported {_u['cpu_quota']}"
assert _l["cpu_quota"] is not None and abs(_l["cpu_quota"] - 0.5) < 1e-6, f"--cpus 0.5 -> quota 0.5, reported {_l['cpu_quota']}"
for _r in (_u, _l):
    _e = 2 * _r["n"] ** 3 / _r["median_s"] / 1e9
    assert abs(_r["gflops"] - _e) <= 0.01 * _e, f"GFLOP/s should be 2n^3/median = {_e:.3f}, saw {_r['gflops']:.3f}"

# %% check="container_cpus" points=1
### BEGIN HIDDEN TESTS
_r = container_matmul(0.75, 128)
assert _r["n"] == 128, f"container_matmul(0.75, 128) benchmarked n={_r['n']}"
assert _r["cpu_quota"] is not None and abs(_r["cpu_quota"] - 0.75) < 1e-6, f"--cpus 0.75 -> quota 0.75, reported {_r['cpu_quota']}"
assert _r["python"] != sys.executable, "the benchmark must run inside the container, not in this kernel"
assert CONTAINER_RUNS["unlimited"]["python"] != sys.executable, "the unlimited run must be in the container too"
_e = 2 * 128**3 / _r["median_s"] / 1e9
assert abs(_r["gflops"] - _e) <= 0.01 * _e, f"n=128: GFLOP/s should be {_e:.3f}, saw {_r['gflops']:.3f}"
### END HIDDEN TESTS

# %% [markdown]
# Host versus container, same script: on the same CPU the numbers should agree within noise — an
# image that is much slower than the host usually has a different BLAS (or a thread setting) inside,
# exactly the kind of surprise to find before renting a GPU. This machine is shared and busy, so the
# effect of `--cpus 0.5` on throughput is noisy here; the quota the container read is exact.

# %%
_bench = WORK / "bench" / "bench.py"
if _bench.exists() and globals().get("CONTAINER_RUNS"):
    _host = subprocess.run([sys.executable, str(_bench), str(CT_N)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    try:
        _h = json.loads(_host.stdout.strip().splitlines()[-1])
        print(f"host (numpy {_h['numpy']}): {_h['gflops']:.2f} GFLOP/s")
    except (IndexError, ValueError, KeyError):
        print("the host run of bench.py failed:", _host.stderr.strip()[-300:])
    for _k, _r in CONTAINER_RUNS.items():
        print(f"container {_k}: {_r['gflops']:.2f} GFLOP/s")
else:
    print("no container benchmark yet (Exercise 5)")

# %% [markdown]
# ## Wrap-up
#
# - The **toolkit** injects the driver's device nodes and user-space libraries at container start;
#   `nvidia-ctk` registers Docker's `nvidia` runtime and generates the **CDI** spec that podman,
#   containerd and newer Docker read.
# - A **CUDA image** = an `nvidia/cuda:*-runtime` base + a torch wheel from the matching `cuXYZ` index,
#   pinned, non-root, with `NVIDIA_VISIBLE_DEVICES` / `NVIDIA_DRIVER_CAPABILITIES` set.
# - **Isolation**: `--gpus '"device=1"'` or `--device nvidia.com/gpu=1` per container,
#   `CUDA_VISIBLE_DEVICES` per process (set before CUDA starts); inside, GPUs are renumbered from 0.
#   GPUs are not shared fairly like CPUs: a container that gets a GPU gets all its memory — MIG (A100/H100
#   partitions, each its own CDI device) or time-slicing on Kubernetes split one.
# - **Benchmarks** synchronise, warm up and take medians, and run in the image before the cloud.
#
# **What the GPU tier adds** (a GPU host, not this machine): building and running the image
# (`docker run --gpus all ... python -c "import torch; print(torch.cuda.is_available())"` → `True`),
# the `cuda` rows of the benchmark, `nvidia-smi` inside the container, the real `/etc/cdi/nvidia.yaml`
# (`nvidia-ctk cdi list`), and `nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 1` or
# DCGM exporter metrics in Prometheus (module 19) while it trains. On AWS: a `g5.xlarge` (A10G, 24 GB)
# with the Deep Learning AMI, ECS/EKS GPU AMIs with the device plugin, SageMaker's GPU training images.
#
# Cleanup:

# %%
containers.remove(BENCH_CONTAINER, kind="container")
shutil.rmtree(WORK, ignore_errors=True)
print("removed", BENCH_CONTAINER, "and", WORK)
