# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 19 — Debugging and optimizing containers
#
# **Where this sits:** modules 13-18 built, shipped and composed the course's images. This one is
# about the day after: a model container that will not start, one that uses more than it should, an
# API whose first request takes seconds, a CI build that reinstalls everything on each commit, and a
# process that crashes at 3 a.m.
#
# **You will:**
# 1. debug a **crashing model API** from the outside — `logs`, `inspect` (exit code, restart count,
#    OOM flag, environment), a debug shell (`exec` / `run --entrypoint`) — fix it, and watch a
#    **restart policy** act on the crash;
# 2. **measure resource usage** of a running container (CPU seconds, memory, network) with `stats`,
#    across a load burst;
# 3. **reduce cold-start latency** of the model API — lazy import vs eager load plus a warm-up
#    prediction — with before/after numbers;
# 4. write a Containerfile whose **dependency layer is cached**, so a code change rebuilds in seconds.
#
# **The engine here** is podman driven with Docker CLI commands (module 13); with Docker set
# `CONTAINER_ENGINE=docker` and the same cells run.

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
# Every image and container is named from `RUN_ID`; the cell removes leftovers of a previous run,
# writes the model API's code, and trains a small model into `WORK/models`, which the API containers
# mount read-only (this kernel and `PYTHON_IMAGE` pin the same scikit-learn, so the pickle loads there).

# %% locked=true
import json
import re
import shutil
import time
from pathlib import Path

from labkit import containerized, containers, diagnose, labenv
from labkit.containers import EngineError, engine
from labkit.net import free_port

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST)
NAME = labenv.resource_name("m019", RUN_ID)
WORK = (Path("m019-work") / NAME).resolve()
(WORK / "app").mkdir(parents=True, exist_ok=True)
(WORK / "models").mkdir(parents=True, exist_ok=True)
CRASHED, FIXED, COLD = f"{NAME}-crashed", f"{NAME}-api", f"{NAME}-cold"
CACHE_IMAGE, BAD_IMAGE = f"localhost/{NAME}-cached:1.0", f"localhost/{NAME}-uncached:1.0"
N_FEATURES = 20
containers.remove(CRASHED, FIXED, COLD, f"{NAME}-hidden", kind="container")
containers.remove(CACHE_IMAGE, BAD_IMAGE)

APP = '''
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

MODEL_LOAD = os.environ.get("MODEL_LOAD", "lazy")        # lazy | eager
MODEL_PATH = os.environ.get("MODEL_PATH", "/models/model.joblib")
N_FEATURES = int(os.environ.get("N_FEATURES", "20"))
_model = None


def get_model():
    """Import the ML stack and load the model the first time it is needed."""
    global _model
    if _model is None:
        if not os.path.exists(MODEL_PATH):  # fail fast, before the heavy imports
            raise FileNotFoundError(f"no model at MODEL_PATH={MODEL_PATH}")
        import joblib  # heavy: numpy, scipy, scikit-learn come with the pickle
        _model = joblib.load(MODEL_PATH)
        print(f"loaded {type(_model).__name__} from {MODEL_PATH}", flush=True)
    return _model


@asynccontextmanager
async def lifespan(app):
    if MODEL_LOAD == "eager":
        model = get_model()                           # load before the port opens...
        model.predict_proba([[0.0] * N_FEATURES])     # ...and warm up the first prediction
        print("warm-up prediction done", flush=True)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
def health():
    return {"status": "ok", "model_loaded": _model is not None}


@app.post("/predict")
def predict(body: dict):
    proba = get_model().predict_proba([body["features"]])[0][1]
    return {"probability": float(proba)}
'''
(WORK / "app" / "app.py").write_text(APP)
if not (WORK / "models" / "model.joblib").exists():
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    _X, _y = make_classification(n_samples=2000, n_features=N_FEATURES, random_state=0)
    _model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(_X, _y)
    joblib.dump(_model, WORK / "models" / "model.joblib")
LAB_T0 = int(time.time()) - 1
API_MOUNTS = ["-v", f"{WORK / 'app'}:/app:ro", "-v", f"{WORK / 'models'}:/models:ro"]
API_CMD = ["uvicorn", "app:app", "--app-dir", "/app", "--host", "0.0.0.0", "--port", "8000"]
SAMPLE = {"features": [0.1] * N_FEATURES}
print("engine:", " ".join(containers.engine_argv()), "| model:", sorted(p.name for p in (WORK / "models").iterdir()))

# %% [markdown]
# ## 1. A model API that will not start
#
# A colleague deployed the API with `--restart on-failure:2` ("if it crashes, try again, at most
# twice") and an environment that *looks* right. It never answers. The cell starts it the way they
# did and waits until the engine gives up.

# %% locked=true
engine("run", "-d", "--name", CRASHED, "--restart", "on-failure:2", *API_MOUNTS,
       "-e", "MODEL_LOAD=eager", "-e", "MODEL_PATH=/models/model.pkl", PYTHON_IMAGE, *API_CMD, timeout=120)
_t0 = time.time()
while time.time() - _t0 < 120:
    _c = containers.inspect(CRASHED, "container")
    if _c["State"]["Status"] == "exited" and _c.get("RestartCount", 0) >= 2:
        time.sleep(1)
        break
    time.sleep(1)
print("status:", _c["State"]["Status"], "| restarts so far:", _c.get("RestartCount"))

# %% [markdown]
# The toolbox, from the outside in:
# - `ps -a` / `inspect`: **State** (`Status`, `ExitCode`, `OOMKilled`, `StartedAt`/`FinishedAt`),
#   `RestartCount`, `HostConfig.RestartPolicy`, `Config.Env`, `Mounts`;
# - `logs` (add `--tail 50`, `--since 10m`, `-f`): everything PID 1 wrote to stdout **and stderr** —
#   a Python traceback lands in stderr;
# - `exec -it NAME sh`: a shell **in a running** container (its processes, files, network). A crashed
#   container cannot be exec'd into: start a throw-away one from the same image with the same mounts
#   and `--entrypoint sh` (or a different `CMD`) to look around;
# - `stats`: live CPU/memory/network/pids (section 2); `top NAME`: its processes; `diff NAME`: what it
#   changed in its writable layer; `events`: the engine's log of starts, dies, restarts.
#
# Exit codes to recognise: **1** an uncaught exception (or a generic error), **3** uvicorn's "startup
# failed", **137** = 128+9 killed by SIGKILL (an OOM kill or `kill -9`), **143** = 128+15 stopped by
# SIGTERM, **126/127** the command is not executable / not found.

# %% [markdown]
# ### Exercise 1 — a crash report, and the fix (3 points)
# 1. Write `crash_report(container)` returning a dict with `"exit_code"` (int), `"restart_count"`
#    (int, how many times the engine restarted it), `"oom_killed"` (bool), `"error"` (the **last line
#    of the logs that names an exception**, like `ValueError: ...`), and `"env"` (the container's
#    environment as a dict). Read the logs with `containerized.logs(name)` (stdout and stderr together).
# 2. Find the cause — look at what the models directory really holds with a throw-away container:
#    `engine("run", "--rm", *API_MOUNTS, PYTHON_IMAGE, "ls", "-l", "/models")`.
# 3. Start the fixed API as container `FIXED` (detached, `MODEL_LOAD=eager`, port 8000 published on
#    `127.0.0.1:API_PORT`, the same mounts and command `API_CMD`) and set `API_URL`
#    (`http://127.0.0.1:{API_PORT}`). Wait until it answers (`diagnose.first_good_response`).
#
# <details><summary>Hint 1</summary><code>info = containers.inspect(name, "container")</code>; the exit code
# is in <code>info["State"]</code>, the restart count at the top level, the environment in
# <code>info["Config"]["Env"]</code> as <code>"KEY=value"</code> strings.</details>
# <details><summary>Hint 2</summary>An exception line matches <code>re.match(r"^[\w.]*(Error|Exception)\b", line)</code>.</details>
# <details><summary>Hint 3</summary>The model file has another name than the one <code>MODEL_PATH</code> says.</details>

# %% answer="crash"
API_PORT = free_port()
API_URL = f"http://127.0.0.1:{API_PORT}"


def crash_report(container: str) -> dict:
    ### BEGIN SOLUTION
    info = containers.inspect(container, "container")
    errors = [
        line.strip()
        for line in containerized.logs(container).splitlines()
        if re.match(r"^[\w.]*(Error|Exception)\b", line.strip())
    ]
    return {
        "exit_code": int(info["State"]["ExitCode"]),
        "restart_count": int(info.get("RestartCount") or 0),
        "oom_killed": bool(info["State"].get("OOMKilled")),
        "error": errors[-1] if errors else "",
        "env": dict(item.split("=", 1) for item in info["Config"]["Env"]),
    }
    ### END SOLUTION


### BEGIN SOLUTION
print(engine("run", "--rm", *API_MOUNTS, PYTHON_IMAGE, "ls", "-l", "/models", timeout=60))
containers.remove(FIXED, kind="container")
engine("run", "-d", "--name", FIXED, "-p", f"127.0.0.1:{API_PORT}:8000", *API_MOUNTS,
       "-e", "MODEL_LOAD=eager", "-e", "MODEL_PATH=/models/model.joblib", PYTHON_IMAGE, *API_CMD, timeout=120)
print(f"answered after {diagnose.first_good_response(API_URL + '/health', timeout=90):.1f} s")
### END SOLUTION
REPORT = crash_report(CRASHED)
REPORT

# %% check="crash" points=2
_r = crash_report(CRASHED)
assert _r["exit_code"] != 0, f"the crashed API exited non-zero, the report says {_r['exit_code']}"
assert _r["restart_count"] == 2, f"on-failure:2 restarted it twice, the report says {_r['restart_count']}"
assert _r["error"].startswith("FileNotFoundError"), f"expected the FileNotFoundError line, saw {_r['error']!r}"
assert _r["env"].get("MODEL_PATH") == "/models/model.pkl", f"env should hold MODEL_PATH, saw {_r['env'].get('MODEL_PATH')!r}"
### BEGIN HIDDEN TESTS
_info = containers.inspect(CRASHED, "container")
assert _r["exit_code"] == _info["State"]["ExitCode"], f"expected exit code {_info['State']['ExitCode']}, saw {_r['exit_code']}"
assert _r["oom_killed"] is False, "this crash was not an OOM kill"
# Another crash: the report must be read from the engine, not remembered.
_h = f"{NAME}-hidden"
containers.remove(_h, kind="container")
try:
    engine("run", "-d", "--name", _h, "--restart", "on-failure:1", "-e", "SECRET_FILE=/run/nope", PYTHON_IMAGE,
           "python", "-c", "import os, sys; print('starting'); sys.exit(\"PermissionError: cannot read \" + os.environ['SECRET_FILE'])",
           timeout=120)
    _t = time.time()
    while time.time() - _t < 60:
        _hi = containers.inspect(_h, "container")
        if _hi["State"]["Status"] == "exited" and _hi.get("RestartCount", 0) >= 1:
            break
        time.sleep(0.5)
    time.sleep(1)
    _r2 = crash_report(_h)
    assert _r2["exit_code"] == 1 and _r2["restart_count"] == 1, f"expected exit 1 after 1 restart, saw {_r2}"
    assert _r2["error"] == "PermissionError: cannot read /run/nope", f"saw {_r2['error']!r}"
    assert _r2["env"].get("SECRET_FILE") == "/run/nope", f"saw env {_r2['env']}"
finally:
    containers.remove(_h, kind="container")
### END HIDDEN TESTS

# %% check="crash" points=1
assert containers.inspect(FIXED, "container")["State"]["Running"], f"container {FIXED} should be running"
_, _answer = diagnose.timed_post(API_URL + "/predict", SAMPLE)
assert 0.0 <= _answer["probability"] <= 1.0, f"expected a probability, saw {_answer}"
### BEGIN HIDDEN TESTS
_env = dict(e.split("=", 1) for e in containers.inspect(FIXED, "container")["Config"]["Env"])
assert _env.get("MODEL_LOAD") == "eager", f"the fixed API should load eagerly, MODEL_LOAD={_env.get('MODEL_LOAD')!r}"
assert "127.0.0.1" in json.dumps(containers.inspect(FIXED, "container")["HostConfig"]["PortBindings"]), "publish on loopback"
### END HIDDEN TESTS

# %% [markdown]
# **What the restart policy did here.** `on-failure:2` restarted the crashing container twice and then
# left it `exited` — `RestartCount` in `inspect` counted the restarts, and `logs` kept all three
# attempts' output. On this machine podman has no systemd: its monitor process (`conmon`) reports the
# exit and podman applies the policy, which is what you just observed. What podman 4.3 does **not** do
# without systemd is bring `always` containers back after a **host reboot** — Docker's daemon does;
# with podman you generate a systemd unit (`podman generate systemd`, or a Quadlet file). Policies:
# `no` (default), `on-failure[:N]` (non-zero exits only), `always`, `unless-stopped`. A restart policy
# hides a crash loop: alert on `RestartCount` (or the `die` events) — Kubernetes shows the same thing as
# `CrashLoopBackOff`, with an exponential back-off between attempts.

# %%
for _line in containerized.logs(CRASHED).splitlines():
    if _line.startswith(("FileNotFoundError", "ERROR")):
        print(_line)
print(containers.inspect(CRASHED, "container")["HostConfig"]["RestartPolicy"])
containers.remove(CRASHED, kind="container")

# %% [markdown]
# ## 2. Measuring resource usage
#
# `stats --no-stream --format json` samples a container's cgroup: memory in use and its limit, the
# **cumulative** CPU time, network bytes in/out, process count. A `cpu_percent` from a single
# `--no-stream` sample is an average over the container's whole life (podman) or over a short window
# (Docker) — for a burst you want the **difference of two samples**: CPU seconds used between them,
# divided by the wall time, is the CPU share (100 % = one core). `labkit.diagnose.stats(name)` turns
# the engine's strings (`"454.7kB / 25.28GB"`, `"1.2s"`) into numbers.

# %% [markdown]
# ### Exercise 2 — usage across a burst (2 points)
# Write `measure_usage(container, burst)` that samples `stats` before, calls `burst()` (any function
# that makes the container work), samples again and returns a dict with `"cpu_seconds"` (CPU time used
# during the burst), `"cpu_percent"` (that over the wall time of the burst, in percent of one core),
# `"mem_bytes"` (memory in use after the burst) and `"net_rx_bytes"` (bytes the container received
# during the burst).
#
# <details><summary>Hint 1</summary><code>a = diagnose.stats(c); t0 = time.perf_counter(); burst();
# wall = time.perf_counter() - t0; b = diagnose.stats(c)</code></details>
# <details><summary>Hint 2</summary><code>b.cpu_seconds - a.cpu_seconds</code>, not <code>b.cpu_percent</code>.</details>

# %% answer="usage"
def measure_usage(container: str, burst) -> dict:
    ### BEGIN SOLUTION
    before = diagnose.stats(container)
    t0 = time.perf_counter()
    burst()
    wall = time.perf_counter() - t0
    after = diagnose.stats(container)
    cpu = after.cpu_seconds - before.cpu_seconds
    return {
        "cpu_seconds": cpu,
        "cpu_percent": 100 * cpu / wall,
        "mem_bytes": after.mem_bytes,
        "net_rx_bytes": after.net_rx_bytes - before.net_rx_bytes,
    }
    ### END SOLUTION


SPIN_CPU = []  # what each spin burst measured of itself: its own CPU seconds (time.process_time)


def spin(n: int = 5_000_000):
    """A burst of pure CPU inside the API container (a stand-in for a heavy request)."""
    code = f"import time\nx = 0\nfor i in range({n}): x += i\nprint(time.process_time())"
    return lambda: SPIN_CPU.append(float(engine("exec", FIXED, "python", "-c", code, timeout=120)))


def requests(n: int = 30):
    """A burst of n prediction requests."""
    return lambda: [diagnose.timed_post(API_URL + "/predict", SAMPLE) for _ in range(n)]


USAGE_SPIN = measure_usage(FIXED, spin())
USAGE_REQUESTS = measure_usage(FIXED, requests(30))
print("spin:       ", USAGE_SPIN, f"| the loop's own CPU time: {SPIN_CPU[-1]:.2f} s")
print("30 requests:", USAGE_REQUESTS)

# %% check="usage" points=1
_own = SPIN_CPU[0]
assert 0.8 * _own < USAGE_SPIN["cpu_seconds"] < _own + 1.5, (
    f"the busy loop measured {_own:.2f} CPU seconds itself, the report says {USAGE_SPIN['cpu_seconds']:.2f}"
)
assert 2 < USAGE_SPIN["cpu_percent"] <= 250, f"CPU share of one core during the burst, saw {USAGE_SPIN['cpu_percent']:.0f} %"
assert USAGE_REQUESTS["net_rx_bytes"] > 30 * 100, f"30 requests are > 3000 bytes in, saw {USAGE_REQUESTS['net_rx_bytes']}"

# %% check="usage" points=1
### BEGIN HIDDEN TESTS
_now = diagnose.stats(FIXED)
assert 20 * 1024**2 < USAGE_SPIN["mem_bytes"] < _now.mem_limit_bytes, (
    f"the API with its model uses tens of MB (and less than the limit {_now.mem_limit_bytes}), saw {USAGE_SPIN['mem_bytes']}"
)
assert abs(USAGE_REQUESTS["mem_bytes"] - _now.mem_bytes) < 0.5 * _now.mem_bytes, (
    f"memory in use should be read from stats: saw {USAGE_REQUESTS['mem_bytes']}, stats says {_now.mem_bytes}"
)
_idle = measure_usage(FIXED, lambda: time.sleep(0.5))
_spin2 = measure_usage(FIXED, spin(2_000_000))
assert 0.8 * SPIN_CPU[-1] < _spin2["cpu_seconds"] < SPIN_CPU[-1] + 1.5, (
    f"a second burst measured {SPIN_CPU[-1]:.2f} CPU s itself, the report says {_spin2['cpu_seconds']:.2f}"
)
assert _idle["cpu_seconds"] < 0.5 * USAGE_SPIN["cpu_seconds"], (
    f"an idle second should use far less CPU than a busy one: idle {_idle['cpu_seconds']:.2f} s vs {USAGE_SPIN['cpu_seconds']:.2f} s"
)
assert _idle["net_rx_bytes"] < 2000, f"no requests, almost no bytes in; saw {_idle['net_rx_bytes']}"
### END HIDDEN TESTS

# %% [markdown]
# **GPU and the cloud.** `stats` has no GPU column. On a GPU host (module 18) read `nvidia-smi
# --query-gpu=utilization.gpu,memory.used --format=csv` inside or outside the container, or the DCGM
# exporter's Prometheus metrics per container; this machine has no GPU, so there is nothing to sample
# here. In production the same numbers come continuously from cAdvisor / the kubelet
# (`container_cpu_usage_seconds_total`, `container_memory_working_set_bytes` — a counter you take the
# `rate()` of, exactly the difference you computed) or CloudWatch Container Insights for ECS/EKS.
#
# ## 3. Cold start: the first request after a deploy
#
# An autoscaler adds a replica, a serverless function scales from zero, a pod is rescheduled: the new
# container must get to its **first good answer** fast. Two costs add up — the process start (imports,
# model load) and the **first prediction** (lazy imports inside libraries, allocation, caches). The
# app above can do either:
# - `MODEL_LOAD=lazy` — the port opens at once, the ML stack is imported and the model loaded on the
#   first `/predict`: health checks pass early but the **first user pays** the load;
# - `MODEL_LOAD=eager` — import and load in the startup hook and run one **warm-up prediction** before
#   the port opens: readiness comes later, but no user ever meets a cold model.

# %% [markdown]
# ### Exercise 3 — before and after (3 points)
# Write `measure_cold_start(mode)` that starts a fresh API container named `COLD` with
# `MODEL_LOAD=mode` (port published on loopback, same mounts and command), and returns a dict with
# `"ready_s"` (seconds from starting the container to the first 200 from `/health`), `"first_s"`
# (latency of the first `/predict`) and `"second_s"` (latency of the second one). Remove the container
# at the end, also when something fails (`try/finally`).
#
# <details><summary>Hint 1</summary><code>t0 = time.perf_counter(); engine("run", "-d", ...);
# diagnose.first_good_response(url + "/health")</code> returns the seconds since <em>it</em> was called:
# measure from <code>t0</code> yourself.</details>
# <details><summary>Hint 2</summary><code>diagnose.timed_post(url + "/predict", SAMPLE)[0]</code> is one
# request's latency. Send nothing else before the first measured request.</details>

# %% answer="cold"
def measure_cold_start(mode: str) -> dict:
    ### BEGIN SOLUTION
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    containers.remove(COLD, kind="container")
    try:
        t0 = time.perf_counter()
        engine("run", "-d", "--name", COLD, "-p", f"127.0.0.1:{port}:8000", *API_MOUNTS,
               "-e", f"MODEL_LOAD={mode}", PYTHON_IMAGE, *API_CMD, timeout=120)
        diagnose.first_good_response(url + "/health", timeout=90)
        ready = time.perf_counter() - t0
        first = diagnose.timed_post(url + "/predict", SAMPLE)[0]
        second = diagnose.timed_post(url + "/predict", SAMPLE)[0]
        return {"ready_s": ready, "first_s": first, "second_s": second}
    finally:
        containers.remove(COLD, kind="container")
    ### END SOLUTION


COLD_START = {mode: measure_cold_start(mode) for mode in ("lazy", "eager")}
for _mode, _m in COLD_START.items():
    print(f"{_mode:5}  ready {_m['ready_s']:.2f} s   first predict {1000 * _m['first_s']:.0f} ms   "
          f"second {1000 * _m['second_s']:.0f} ms   first good answer {_m['ready_s'] + _m['first_s']:.2f} s")

# %% check="cold" points=2
_lazy, _eager = COLD_START["lazy"], COLD_START["eager"]
assert _lazy["first_s"] > 3 * _lazy["second_s"], (
    f"lazy: the first request loads the model, expected it much slower than the second; saw {_lazy}"
)
assert _eager["first_s"] < 0.5 * _lazy["first_s"], (
    f"eager + warm-up: the first request should be far faster than lazy's; saw {_eager['first_s']:.3f} vs {_lazy['first_s']:.3f} s"
)
assert all(0 < m["ready_s"] < 90 for m in COLD_START.values()), f"ready times should be seconds, saw {COLD_START}"

# %% check="cold" points=1
### BEGIN HIDDEN TESTS
assert not containers.exists(COLD, kind="container"), f"measure_cold_start should remove {COLD}"
_lazy, _eager = COLD_START["lazy"], COLD_START["eager"]
# The engine's event log: two fresh containers were really started for the measurements.
_events = engine("events", "--since", str(LAB_T0), "--stream=false", "--filter", "event=start",
                 "--format", "{{.Name}}", timeout=60).split()
assert _events.count(COLD) >= 2, f"the engine recorded {_events.count(COLD)} starts of {COLD}, expected 2"
# Readiness counts from the container start: eager (load + warm-up before the port opens) is not ready sooner.
assert _eager["ready_s"] > 0.8 * _lazy["ready_s"], f"eager readiness {_eager['ready_s']:.2f} s vs lazy {_lazy['ready_s']:.2f} s"
### END HIDDEN TESTS

# %% [markdown]
# Read your numbers: **lazy** gets to "healthy" sooner but its first user waits for the imports and
# the model; **eager + warm-up** moves that cost before readiness, so the first answer is as fast as
# any. Which total matters depends on who waits: behind a load balancer with readiness probes (module
# 10), eager + warm-up is right — traffic arrives only once the replica is warm. More levers:
# a smaller image (fewer bytes to pull on a new node — module 14), a model format that loads faster
# (ONNX, memory-mapped arrays), keeping a **minimum of warm replicas** (SageMaker/Lambda provisioned
# concurrency, `minReplicas`), and on GPUs compiling/loading kernels in the warm-up (CUDA context
# creation alone takes seconds).
#
# ## 4. Caching dependencies for faster builds
#
# Module 15 showed the rule: the engine reuses a layer while the instruction and the files it copies
# are unchanged, and **every step after a changed one is rebuilt**. Here is a Containerfile that
# ignores it — a one-line code change reinstalls every dependency:

# %% locked=true
CACHE_CTX = WORK / "cache-ctx"
(CACHE_CTX / "wheels").mkdir(parents=True, exist_ok=True)
for _wheel in Path(WHEELHOUSE).glob("threadpoolctl-*.whl") if WHEELHOUSE else []:
    shutil.copy(_wheel, CACHE_CTX / "wheels" / _wheel.name)
(CACHE_CTX / "requirements.txt").write_text("threadpoolctl\n")
PIP_FLAGS = "--no-index --find-links /src/wheels" if WHEELHOUSE else ""
BAD_CONTAINERFILE = f"""ARG BASE
FROM ${{BASE}}
COPY . /src
RUN pip install --no-cache-dir {PIP_FLAGS} --target /opt/deps -r /src/requirements.txt
ENV PYTHONPATH=/opt/deps
CMD ["python", "/src/app.py"]
"""


def build_after_code_change(containerfile: str, tag: str, version: int) -> dict:
    """Write the app at `version`, build `tag` from `containerfile`; seconds, the log and the layers."""
    (CACHE_CTX / "app.py").write_text(
        f"import threadpoolctl\nprint('version {version}', threadpoolctl.__file__)\n"
    )
    (CACHE_CTX / "Containerfile").write_text(containerfile)
    t0 = time.perf_counter()
    log = containers.build(CACHE_CTX, tag, file=CACHE_CTX / "Containerfile",
                           build_args={"BASE": PYTHON_IMAGE}, timeout=300)
    return {"seconds": time.perf_counter() - t0, "cached_steps": log.count("Using cache"),
            "layers": containers.inspect(tag, "image")["RootFS"]["Layers"]}


def rebuilt_layers(a: dict, b: dict) -> int:
    """How many of b's layers are not in a (built again after the change)."""
    return len([layer for layer in b["layers"] if layer not in a["layers"]])


_bad1 = build_after_code_change(BAD_CONTAINERFILE, BAD_IMAGE, 1)
_bad2 = build_after_code_change(BAD_CONTAINERFILE, BAD_IMAGE, 2)
print(f"uncached order: rebuild after a code change {_bad2['seconds']:.1f} s, "
      f"{rebuilt_layers(_bad1, _bad2)} layers rebuilt, {_bad2['cached_steps']} steps from cache")

# %% [markdown]
# ### Exercise 4 — a Containerfile that caches its dependencies (2 points)
# Write `GOOD_CONTAINERFILE`: the same image (base through `ARG BASE` / `FROM ${BASE}`, dependencies
# from `/src/requirements.txt` installed with the same `pip install` line into `/opt/deps`,
# `PYTHONPATH=/opt/deps`, `CMD` running `/src/app.py`), ordered so that a change of `app.py`
# rebuilds **exactly one layer**. The cell then builds it for versions 1 and 2 of the app.
# (The context has `requirements.txt`, `wheels/` and `app.py`; `PIP_FLAGS` holds the pip options.)
#
# <details><summary>Hint 1</summary>Copy only what the install needs first (<code>requirements.txt</code>
# and <code>wheels/</code>), install, then copy <code>app.py</code>.</details>
# <details><summary>Hint 2</summary><code>COPY requirements.txt /src/</code>, <code>COPY wheels /src/wheels</code>
# — each COPY is a layer, but they come before the change, so they stay cached.</details>

# %% answer="cache"
### BEGIN SOLUTION
GOOD_CONTAINERFILE = f"""ARG BASE
FROM ${{BASE}}
COPY requirements.txt /src/requirements.txt
COPY wheels /src/wheels
RUN pip install --no-cache-dir {PIP_FLAGS} --target /opt/deps -r /src/requirements.txt
ENV PYTHONPATH=/opt/deps
COPY app.py /src/app.py
CMD ["python", "/src/app.py"]
"""
### END SOLUTION
GOOD_1 = build_after_code_change(GOOD_CONTAINERFILE, CACHE_IMAGE, 1)
GOOD_2 = build_after_code_change(GOOD_CONTAINERFILE, CACHE_IMAGE, 2)
print(f"cached order: rebuild after a code change {GOOD_2['seconds']:.1f} s (uncached order {_bad2['seconds']:.1f} s), "
      f"{rebuilt_layers(GOOD_1, GOOD_2)} layer rebuilt")

# %% check="cache" points=1
_out = engine("run", "--rm", "--network", "none", CACHE_IMAGE, timeout=120).strip()
assert _out.startswith("version 2") and "/opt/deps/threadpoolctl" in _out, (
    f"the image should run app.py version 2 with threadpoolctl from /opt/deps, printed {_out!r}"
)
assert rebuilt_layers(GOOD_1, GOOD_2) == 1, f"a code change should rebuild 1 layer, rebuilt {rebuilt_layers(GOOD_1, GOOD_2)}"

# %% check="cache" points=1
### BEGIN HIDDEN TESTS
_g3 = build_after_code_change(GOOD_CONTAINERFILE, CACHE_IMAGE, 3)
assert rebuilt_layers(GOOD_2, _g3) == 1, f"another code change rebuilt {rebuilt_layers(GOOD_2, _g3)} layers, expected 1"
_out3 = engine("run", "--rm", "--network", "none", CACHE_IMAGE, timeout=120).strip()
assert _out3.startswith("version 3") and "/opt/deps/threadpoolctl" in _out3, f"version 3 should run, printed {_out3!r}"
_base = containers.inspect(PYTHON_IMAGE, "image")["RootFS"]["Layers"]
assert _g3["layers"][: len(_base)] == _base, "the image should start from PYTHON_IMAGE (ARG BASE)"
assert len(_g3["layers"]) - len(_base) >= 2, "dependencies and code should be separate layers"
### END HIDDEN TESTS

# %% [markdown]
# Beyond ordering: BuildKit's `RUN --mount=type=cache,target=/root/.cache/pip` keeps pip's download
# cache across builds even when `requirements.txt` changes; `--cache-from`/`--cache-to` a registry
# gives fresh CI runners a warm layer cache (the CI runner of module 5 starts empty every time);
# a `.dockerignore` keeps notebooks and data out of the context so `COPY .` does not bust the cache.
#
# ## Wrap-up
#
# - Debugging order: `ps -a` → `logs` → `inspect` (State, RestartCount, Env, Mounts) → a shell
#   (`exec` if it runs, `run --entrypoint sh` with the same image and mounts if it does not).
# - Restart policies restart, they do not fix: a crash loop shows as a growing `RestartCount`.
#   Podman without systemd applied `on-failure:N` here; boot-time restarts need systemd units/Quadlet.
# - Usage is a *difference* of cumulative counters; GPU metrics come from `nvidia-smi`/DCGM, not `stats`.
# - Cold start: eager load + warm-up before readiness; lazy load only when readiness does not gate traffic.
# - Dependencies before code in the Containerfile.
#
# **In the cloud:** ECS/EKS restart tasks/pods per their own policy (ECS service scheduler, Kubernetes
# `restartPolicy` + back-off) and record exit reasons (`OOMKilled`, `Essential container exited`);
# CloudWatch Container Insights / Prometheus + cAdvisor give continuous usage per container;
# SageMaker and Lambda expose cold-start metrics (`ModelSetupTime`, `InitDuration`) and provisioned
# concurrency to pay for warmth. The local engine here has none of these managers — you observed the
# same signals one command at a time.
#
# Cleanup:

# %%
containers.remove(CRASHED, FIXED, COLD, f"{NAME}-hidden", kind="container")
containers.remove(CACHE_IMAGE, BAD_IMAGE)
print("removed containers and images of", NAME)
