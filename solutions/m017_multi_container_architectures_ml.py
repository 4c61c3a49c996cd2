# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 17 — Multi-container architectures for ML systems
#
# **Where this sits:** Module 13 opened up one container, Module 15 packaged the fraud API and a batch
# job as images. A real ML service is never one container: the model API needs a cache or a database,
# something trains the model it serves, something watches it. This lab wires those pieces of the fraud
# project into one **Compose stack** and runs it the way you would on your laptop before anything
# reaches the cloud:
#
# ```
#           host: 127.0.0.1 only      :API_PORT                 :PROM_PORT
#                                        |                          |
#   frontend network  ----------------- api  <---- scrapes ---- prometheus
#                                      /   \
#   backend network (internal) ---- redis   trainer (one-shot)
#                                            |
#   artifacts volume:  models/vN/, features/  <- trainer writes, api reads (read-only)
#   fraud data (bind mount, read-only)       -> trainer
# ```
#
# **You will:**
# 1. write a **compose file** for a multi-service ML stack (model API + Redis + a training job, then
#    monitoring) and bring it up: healthy, in the right order;
# 2. define **service dependencies** with `depends_on` conditions and **health checks**, and read the
#    dependency graph of the course's full stack (FastAPI, Redis, MLflow, Kafka, Postgres, Prometheus);
# 3. **network** containers: services find each other by **service name**; a second, internal network
#    keeps the database away from everything that does not need it;
# 4. **share volumes**: the trainer writes versioned model artifacts and a card-feature table into a
#    named volume that the API reads, so a retrain is served without a restart;
# 5. set up the **local dev loop**: an override file bind-mounts your code and reloads on save.
#
# **The engine here.** No Docker daemon runs on this machine; podman does, with **podman-compose 1.0**
# reading the same compose files as `docker compose`. podman-compose creates networks, volumes and
# containers faithfully but starts them in file order, ignores `depends_on` *conditions*, and podman
# without systemd never runs a health check on its own. `labkit.compose.up()` fills exactly that gap: it
# lets podman-compose create everything, then starts the services in dependency order and runs each
# health check (`healthcheck run`) until the condition a dependant waits for holds — what
# `docker compose up --wait` does by itself, and what `labkit.compose.up()` calls where
# `CONTAINER_ENGINE=docker`.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
CONTAINER_ENGINE = os.environ.get("CONTAINER_ENGINE", "docker")
CONTAINER_HOST = os.environ.get("CONTAINER_HOST", "")
BASE_IMAGE = os.environ.get("BASE_IMAGE", "debian:bookworm")
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "python:3.11-slim")

# %% [markdown]
# ## Setup
# The compose **project name** prefixes everything the stack creates (containers, networks, volumes),
# so it comes from `RUN_ID`; the cell removes what a previous run of this project left behind.

# %% locked=true
import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import yaml

from labkit import compose, containers, labenv, net
from labkit.containers import engine
from mlops_datasets import path as dataset_path

labenv.configure(DATA_DIR)
os.environ.update(CONTAINER_ENGINE=CONTAINER_ENGINE, CONTAINER_HOST=CONTAINER_HOST)
NAME = labenv.resource_name("m017", RUN_ID)
PROJECT = NAME
WORK = (Path("m017-work") / NAME).resolve()
APP_DIR, PROM_DIR = WORK / "app", WORK / "prometheus"
STACK_FILE = WORK / "compose.yaml"
MONITORING_FILE = WORK / "compose.monitoring.yaml"
DEV_FILE = WORK / "compose.dev.yaml"
REDIS_IMAGE = f"localhost/{NAME}-redis:7.0"
APP_IMAGE = f"localhost/{NAME}-app:1.0"
PROM_IMAGE = f"localhost/{NAME}-prometheus:2.42"
FRAUD_DIR = dataset_path("fraud")
API_PORT, PROM_PORT = net.free_port(), net.free_port()
N_REQUESTS = 20 if FAST else 200

compose.down(PROJECT)  # containers, networks and volumes labelled with this project
containers.remove(REDIS_IMAGE, APP_IMAGE, PROM_IMAGE)
for _f in (STACK_FILE, MONITORING_FILE, DEV_FILE):
    _f.unlink(missing_ok=True)
for _d in (APP_DIR, PROM_DIR, WORK / "redis-image", WORK / "prom-image"):
    _d.mkdir(parents=True, exist_ok=True)
STACK_UP = False


def api(path: str, body: dict | None = None, port: int | None = None, timeout: float = 10.0) -> tuple[int, dict]:
    """(status, JSON) of a GET, or a POST of `body`, to the stack's API through its published port."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port or API_PORT}{path}", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def prom_query(promql: str) -> list[dict]:
    """An instant query against the stack's Prometheus (its published port)."""
    url = f"http://127.0.0.1:{PROM_PORT}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]["result"]


def show(rows: list[dict]) -> None:
    for r in rows:
        print(f"{r['service']:<11} {r['name']:<32} {r['state']:<8} exit={r['exit_code']} health={r['health']:<9}"
              f" networks={sorted(r['networks'])}")


print("engine:", " ".join(containers.engine_argv()), "| compose:", " ".join(compose.compose_argv()))
print("project:", PROJECT, "| API on 127.0.0.1:%d, Prometheus on 127.0.0.1:%d" % (API_PORT, PROM_PORT))

# %% [markdown]
# ## 1. One image per service
#
# Each service of a stack runs its own image, built once and started as many times as needed:
# - **redis**: Debian's `redis-server` on the base image (one `apt-get` build: the slowest step of the
#   lab, 15–40 s here). Docker Hub's `redis:7` would be the usual choice; this machine cannot pull it.
# - **app**: the course's Python image plus two programs from `labkit.compose` — `train.py`, a one-shot
#   training job, and `app.py`, the fraud API. **One image, two services**: the compose file picks the
#   command. Read them (`print(compose.API_APP)`): the API finds Redis through `REDIS_HOST` (default
#   `redis`, a *service name*) and reads its model from `/artifacts`, a volume the trainer fills.
# - **prometheus**: the monitoring server. The official `prom/prometheus` image is a static Go binary on
#   a small base; here the same thing is built from the Debian binary this machine already has.

# %% locked=true
_t0 = time.perf_counter()
(WORK / "redis-image" / "Containerfile").write_text(
    "ARG BASE\nFROM ${BASE}\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends redis-server"
    " && rm -rf /var/lib/apt/lists/*\n"
    "EXPOSE 6379\n"
    # no password on a private network: protected mode would refuse every non-loopback client
    'CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]\n'
)
containers.build(WORK / "redis-image", REDIS_IMAGE, build_args={"BASE": BASE_IMAGE}, timeout=600)

(APP_DIR / "train.py").write_text(compose.TRAINER)
(APP_DIR / "app.py").write_text(compose.API_APP)
(APP_DIR / "Containerfile").write_text(
    "ARG BASE\nFROM ${BASE}\nWORKDIR /app\nCOPY train.py app.py /app/\nEXPOSE 8000\n"
    'CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]\n'
)
containers.build(APP_DIR, APP_IMAGE, build_args={"BASE": PYTHON_IMAGE}, timeout=300)

_prom_ctx = WORK / "prom-image"
if shutil.which("prometheus"):  # a static binary: it needs nothing from the image but a libc
    shutil.copy(shutil.which("prometheus"), _prom_ctx / "prometheus")
    _install = "COPY prometheus /usr/local/bin/prometheus\n"
else:  # no binary on this machine: Debian's package (a second apt build)
    _install = ("RUN apt-get update && apt-get install -y --no-install-recommends prometheus"
                " && ln -s /usr/bin/prometheus /usr/local/bin/prometheus && rm -rf /var/lib/apt/lists/*\n")
(_prom_ctx / "Containerfile").write_text(
    f"ARG BASE\nFROM ${{BASE}}\n{_install}EXPOSE 9090\nENTRYPOINT [\"/usr/local/bin/prometheus\"]\n"
)
containers.build(_prom_ctx, PROM_IMAGE, build_args={"BASE": BASE_IMAGE}, timeout=300)
(_prom_ctx / "prometheus").unlink(missing_ok=True)  # 50 MB: the image has it now
for _img in (REDIS_IMAGE, APP_IMAGE, PROM_IMAGE):
    print(f"{_img:<48} {containers.image_size(_img) / 1e6:7.0f} MB")
print(f"built in {time.perf_counter() - _t0:.0f} s")

# %% [markdown]
# ## 2. A compose file: services, dependencies, health
#
# A compose file declares the whole stack: `services` (image, command, environment, ports, volumes,
# networks), and the `networks` and `volumes` they share. Three keys make a stack start *correctly*,
# not just start:
#
# - **`healthcheck`**: a command run inside the container; exit 0 means healthy. "The process is up"
#   is not "the service works": uvicorn listens a few seconds before the model is loaded, Redis accepts
#   connections before it has loaded its data.
# - **`depends_on` with a condition**: `service_started` (the default of the short list form: only the
#   order), `service_healthy` (wait for the dependency's health check), `service_completed_successfully`
#   (a one-shot job, e.g. a trainer or a migration, must exit 0 first).
# - **`ports`**: published on `127.0.0.1` only. `"8000:8000"` publishes on every interface of your
#   laptop — on a café's Wi-Fi, too. Services that only other services call (Redis) publish nothing.
#
# `depends_on` orders the **start** only: if Redis dies later, Compose does not stop or restart the API.
# That is what health checks and restart policies are for (section 4).
#
# **A podman-compose pitfall, found while writing this lab:** in the exec form `["CMD", "python", "-c",
# "import urllib.request; ..."]`, podman-compose 1.0 joins the arguments into a shell string with broken
# quoting: any argument with a space, quote or parenthesis makes the check fail with `/bin/sh: Syntax
# error` — forever unhealthy. Use the shell form with **one string**, `["CMD-SHELL", "python -c \"...\""]`,
# which both Compose implementations run unchanged; simple words (`["CMD", "redis-cli", "ping"]`) are fine.
#
# The course's full stack (`docker/compose.yaml`: Kafka, Kafka Connect, Postgres, Redis, moto, MLflow,
# Prometheus, Alertmanager, Grafana, and the JupyterLab container) is the same kind of file. Its images
# come from Docker Hub and ghcr.io, which this machine cannot reach, so here it is read, not run: its
# dependency graph, as start waves (a service starts after everything it depends on):

# %%
_stack_file = compose.project_stack_file()
if _stack_file is not None:
    COURSE_STACK = compose.load([_stack_file])
    for _i, _wave in enumerate(compose.start_order(COURSE_STACK, profiles=["lab"])):
        print(f"wave {_i}: {', '.join(_wave)}")
    print("the lab container waits for:", compose.dependencies(COURSE_STACK["services"]["lab"]))
else:
    COURSE_STACK = None
    print("docker/compose.yaml is not readable from this kernel (the grader's sandbox only sees labkit/)")

# %% [markdown]
# The JupyterLab container waits for Kafka, Postgres, Redis, moto, MLflow and Prometheus to be
# *healthy*; Prometheus waits for Alertmanager; Grafana for Prometheus. The same pattern, smaller, is
# yours to write.
#
# ### Exercise 1 — the stack file (3 points)
# Complete `stack_spec()`: the compose file as a Python dict (the next cell dumps it to YAML and brings
# it up). `redis` is given. Add:
# - **`trainer`**: image `APP_IMAGE`, command `["python", "/app/train.py"]`; the named volume
#   `artifacts` mounted read-write at `/artifacts`; the fraud data directory `FRAUD_DIR` bind-mounted
#   **read-only** at `/data`; on the `backend` network. It trains, writes model version 1, and exits 0.
# - **`api`**: image `APP_IMAGE` (its default command serves the API on port 8000); `artifacts` mounted
#   **read-only** at `/artifacts`; on the `backend` **and** `frontend` networks; container port 8000
#   published on `127.0.0.1:API_PORT`; a health check running `API_HEALTH_SHELL` (shell form); it must
#   start only once Redis is **healthy** and the trainer has **completed successfully**.
# - top-level **`networks`**: `backend` (declare it `internal: true`: no route out of the host for the
#   database tier) and `frontend`; top-level **`volumes`**: `artifacts`.
#
# <details><summary>Hint 1</summary>Short syntax: <code>"volumes": ["artifacts:/artifacts:ro",
# f"{FRAUD_DIR}:/data:ro"]</code>, <code>"ports": [f"127.0.0.1:{API_PORT}:8000"]</code>.</details>
# <details><summary>Hint 2</summary><code>"depends_on": {"redis": {"condition": "service_healthy"},
# "trainer": {"condition": "service_completed_successfully"}}</code>; the health check:
# <code>{"test": ["CMD-SHELL", API_HEALTH_SHELL], "interval": "5s", "timeout": "10s", "retries": 3}</code>.
# </details>
# <details><summary>Hint 3</summary>A network with no options is <code>{}</code> in the dict
# (<code>frontend: {}</code> in YAML).</details>

# %% answer="stack"
API_HEALTH_SHELL = "python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=8)\""
REDIS_SERVICE = {
    "image": REDIS_IMAGE,
    "networks": ["backend"],
    "restart": "unless-stopped",
    "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "5s", "timeout": "10s", "retries": 5},
}


def stack_spec() -> dict:
    spec = {"name": PROJECT, "services": {"redis": REDIS_SERVICE}}
    ### BEGIN SOLUTION
    spec["services"]["trainer"] = {
        "image": APP_IMAGE,
        "command": ["python", "/app/train.py"],
        "volumes": ["artifacts:/artifacts", f"{FRAUD_DIR}:/data:ro"],
        "networks": ["backend"],
    }
    spec["services"]["api"] = {
        "image": APP_IMAGE,
        "environment": {"REDIS_HOST": "redis"},
        "volumes": ["artifacts:/artifacts:ro"],
        "networks": ["backend", "frontend"],
        "ports": [f"127.0.0.1:{API_PORT}:8000"],
        "depends_on": {
            "redis": {"condition": "service_healthy"},
            "trainer": {"condition": "service_completed_successfully"},
        },
        "healthcheck": {"test": ["CMD-SHELL", API_HEALTH_SHELL], "interval": "5s", "timeout": "10s", "retries": 3},
    }
    spec["networks"] = {"backend": {"internal": True}, "frontend": {}}
    spec["volumes"] = {"artifacts": {}}
    ### END SOLUTION
    return spec


# %% [markdown]
# Bring it up. The cell prints the file, then what `ps` reports: the trainer has exited (0), Redis and
# the API are running and healthy.

# %% locked=true
STACK_FILE.write_text(yaml.safe_dump(stack_spec(), sort_keys=False))
print(STACK_FILE.read_text())
_t0 = time.perf_counter()
show(compose.up(PROJECT, [STACK_FILE], timeout=150))
STACK_UP = True
print(f"up in {time.perf_counter() - _t0:.0f} s;", "trainer said:",
      engine("logs", compose.container(PROJECT, "trainer")["name"], timeout=30).strip().splitlines()[-1])

# %% check="stack" points=2
_rows = {r["service"]: r for r in compose.ps(PROJECT)}
assert {"redis", "trainer", "api"} <= set(_rows), f"expected containers for redis, trainer, api, saw {sorted(_rows)}"
assert _rows["trainer"]["state"] == "exited" and _rows["trainer"]["exit_code"] == 0, (
    f"the trainer should have run once and exited 0, saw {_rows['trainer']['state']} / {_rows['trainer']['exit_code']}")
for _svc in ("redis", "api"):
    _h = compose.health(_rows[_svc]["name"])
    assert _h == "healthy", f"{_svc} should be running and healthy, its health check says {_h}"
_status, _health = api("/health")
assert _status == 200 and _health["model_version"] == 1, f"expected /health 200 with model version 1, saw {_status} {_health}"
# A new request twice: the second answer must come from Redis.
_tx = {"card1": 10000 + uuid.uuid4().int % 9000, "amount": round(5 + uuid.uuid4().int % 500 / 3, 2)}
_first, _second = api("/predict", _tx)[1], api("/predict", _tx)[1]
assert _first.get("cached") is False and _second.get("cached") is True, (
    f"the repeated request should be a cache hit: first cached={_first.get('cached')}, second cached={_second.get('cached')}")
_hits_api = api("/stats")[1]["cache_hits"]
_hits_redis = int(engine("exec", _rows["redis"]["name"], "redis-cli", "GET", "stats:cache_hits", timeout=60).strip() or 0)
assert _hits_api == _hits_redis >= 1, f"the API's cache hits ({_hits_api}) should be the counter in the redis container ({_hits_redis})"
### BEGIN HIDDEN TESTS
# The dependencies were honoured: the API started after the trainer finished and after Redis started.
assert _rows["api"]["started_at"] > _rows["trainer"]["finished_at"], (
    f"the API started at {_rows['api']['started_at']}, before the trainer finished at {_rows['trainer']['finished_at']}:"
    " depends_on trainer needs condition service_completed_successfully")
assert _rows["api"]["started_at"] > _rows["redis"]["started_at"], "the API should start after Redis"
# Ports: the API on loopback only; Redis publishes nothing.
_bindings = [b for bs in _rows["api"]["ports"].values() if bs for b in bs]
assert _bindings and all(b.get("HostIp") == "127.0.0.1" for b in _bindings), f"the API's port must bind 127.0.0.1 only, saw {_bindings}"
assert any(str(b.get("HostPort")) == str(API_PORT) for b in _bindings), f"the API should be published on {API_PORT}, saw {_bindings}"
assert not any(_rows["redis"]["ports"].values()), f"Redis must not publish a port, saw {_rows['redis']['ports']}"
### END HIDDEN TESTS

# %% check="stack" points=1
_rows = {r["service"]: r for r in compose.ps(PROJECT)}
_backend, _frontend = f"{PROJECT}_backend", f"{PROJECT}_frontend"
assert set(_rows["api"]["networks"]) == {_backend, _frontend}, f"the API should be on {_backend} and {_frontend}, saw {sorted(_rows['api']['networks'])}"
assert set(_rows["redis"]["networks"]) == {_backend}, f"Redis should be on {_backend} only, saw {sorted(_rows['redis']['networks'])}"
_api_art = [m for m in _rows["api"]["mounts"] if m["Destination"] == "/artifacts"]
assert _api_art and _api_art[0]["Type"] == "volume", f"the API should mount a named volume at /artifacts, saw {_api_art}"
### BEGIN HIDDEN TESTS
assert _api_art[0]["Name"] == f"{PROJECT}_artifacts" and _api_art[0]["RW"] is False, (
    f"the API should mount {PROJECT}_artifacts read-only, saw {_api_art[0]}")
_tr = {m["Destination"]: m for m in _rows["trainer"]["mounts"]}
assert _tr.get("/artifacts", {}).get("Name") == f"{PROJECT}_artifacts" and _tr["/artifacts"]["RW"] is True, (
    f"the trainer should write to {PROJECT}_artifacts, saw {_tr.get('/artifacts')}")
assert _tr.get("/data", {}).get("RW") is False, f"the data bind mount must be read-only, saw {_tr.get('/data')}"
_net = json.loads(engine("network", "inspect", _backend, timeout=60))[0]
assert _net.get("internal", _net.get("Internal")) is True, f"{_backend} should be internal, inspect says {_net}"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Networking by service name
#
# Compose puts every service on the networks you name and registers the **service name** in the
# network's DNS server (podman: aardvark-dns; Docker: its embedded DNS at 127.0.0.11). Inside the API,
# `redis` resolves to the Redis container's address on `backend`; from the host, Redis is not
# reachable at all (no published port), and `backend` being *internal* means it has no route out either.

# %%
if STACK_UP:
    _api_c = compose.container(PROJECT, "api")["name"]
    print("api resolves redis ->", engine("exec", _api_c, "python", "-c",
                                          "import socket; print(socket.gethostbyname('redis'))", timeout=60).strip())
    print("redis's address on backend:", compose.container(PROJECT, "redis")["networks"][f"{PROJECT}_backend"]["ip"])
    print("api's resolv.conf:", engine("exec", _api_c, "cat", "/etc/resolv.conf", timeout=60).split("\n")[:3])

# %% [markdown]
# ### Exercise 2 — monitoring that reaches the API by name (2 points)
# Add monitoring in a **second compose file** (`compose.monitoring.yaml`; Compose merges files given
# with several `-f`, later files adding to or overriding earlier ones). Write:
# - `PROM_CONFIG`: Prometheus's configuration as a dict: `scrape_interval` `2s`, one scrape job named
#   `fraud-api` whose target is the API **as the Prometheus container sees it**;
# - `monitoring_spec()`: a compose dict with a `prometheus` service: image `PROM_IMAGE`, command
#   `["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
#   "--web.listen-address=0.0.0.0:9090"]`, the folder `./prometheus` (the cell writes your config there)
#   bind-mounted read-only at `/etc/prometheus`, port 9090 published on `127.0.0.1:PROM_PORT`, starting
#   when the API is healthy, with a health check running `PROM_HEALTH_SHELL`. Put it on the **frontend**
#   network only: monitoring has no business talking to the database.
#
# <details><summary>Hint 1</summary>Inside a container, <code>127.0.0.1</code> is the container itself.
# The API listens on port 8000 of the <code>api</code> container.</details>
# <details><summary>Hint 2</summary><code>{"job_name": "fraud-api", "static_configs": [{"targets":
# ["api:8000"]}]}</code></details>

# %% answer="monitoring"
PROM_HEALTH_SHELL = "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/-/ready', timeout=8)\""
### BEGIN SOLUTION
PROM_CONFIG = {
    "global": {"scrape_interval": "2s", "scrape_timeout": "2s"},
    "scrape_configs": [{"job_name": "fraud-api", "static_configs": [{"targets": ["api:8000"]}]}],
}


def monitoring_spec() -> dict:
    return {"services": {"prometheus": {
        "image": PROM_IMAGE,
        "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                    "--web.listen-address=0.0.0.0:9090"],
        "volumes": ["./prometheus:/etc/prometheus:ro"],
        "networks": ["frontend"],
        "ports": [f"127.0.0.1:{PROM_PORT}:9090"],
        "depends_on": {"api": {"condition": "service_healthy"}},
        "healthcheck": {"test": ["CMD-SHELL", PROM_HEALTH_SHELL], "interval": "5s", "timeout": "10s", "retries": 5},
    }}}
### END SOLUTION


# %% [markdown]
# The cell writes both files, starts only the new service (`no_deps`: the rest is already up and is
# left alone), and sends the API some traffic to measure.

# %% locked=true
if STACK_UP:
    (PROM_DIR / "prometheus.yml").write_text(yaml.safe_dump(PROM_CONFIG, sort_keys=False))
    MONITORING_FILE.write_text(yaml.safe_dump(monitoring_spec(), sort_keys=False))
    show(compose.up(PROJECT, [STACK_FILE, MONITORING_FILE], ["prometheus"], no_deps=True, timeout=120))
    for _i in range(N_REQUESTS):
        api("/predict", {"card1": 10228 + _i % 5, "amount": 20.0 + _i % 5, "hour": 3})
    print("API /metrics:", [l for l in urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/metrics", timeout=10)
                            .read().decode().splitlines() if l.startswith("fraud_api_predictions_total")])


# %% check="monitoring" points=2
def _scraped_value(metric: str) -> float | None:
    res = prom_query(f'{metric}{{job="fraud-api"}}')
    return float(res[0]["value"][1]) if res else None


_deadline = time.monotonic() + 30
while time.monotonic() < _deadline:
    try:
        _up = prom_query('up{job="fraud-api"}')
    except OSError:  # nothing listens on PROM_PORT: no point waiting
        _up = []
        break
    if _up and _up[0]["value"][1] == "1":
        break
    time.sleep(1)
assert _up and _up[0]["value"][1] == "1", f"Prometheus should scrape job fraud-api successfully (up == 1), saw {_up}"
_text = urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/metrics", timeout=10).read().decode()
_expected = float(re.search(r"^fraud_api_predictions_total (\S+)$", _text, re.M).group(1))
_deadline = time.monotonic() + 15
while time.monotonic() < _deadline and _scraped_value("fraud_api_predictions_total") != _expected:
    time.sleep(1)
_seen = _scraped_value("fraud_api_predictions_total")
assert _seen == _expected, f"Prometheus should hold the API's fraud_api_predictions_total {_expected}, saw {_seen}"
### BEGIN HIDDEN TESTS
assert _up[0]["metric"].get("instance") == "api:8000", (
    f"the target should be the API by service name (api:8000), Prometheus scrapes {_up[0]['metric'].get('instance')}")
_prom = compose.container(PROJECT, "prometheus")
assert set(_prom["networks"]) == {f"{PROJECT}_frontend"}, f"Prometheus should be on the frontend network only, saw {sorted(_prom['networks'])}"
_resolve = "import socket, sys\ntry:\n    print(socket.gethostbyname(sys.argv[1]))\nexcept OSError:\n    print('unresolved')"
assert engine("exec", _prom["name"], "python3", "-c", _resolve, "redis", timeout=60).strip() == "unresolved", (
    "Prometheus can resolve redis: it must not share a network with the database")
_pb = [b for bs in _prom["ports"].values() if bs for b in bs]
assert _pb and all(b.get("HostIp") == "127.0.0.1" for b in _pb), f"Prometheus's port must bind 127.0.0.1 only, saw {_pb}"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. When a dependency fails later
#
# `depends_on` did its job at start-up. Now stop Redis under the running API: the API's health check
# turns it *unhealthy*, yet it keeps answering — its code treats the cache as optional (`cached: null`)
# instead of failing every prediction. Design for it: a cache is an optimisation, not a dependency.
#
# Then a crash: `redis-cli shutdown` makes the server exit by itself. The `restart: unless-stopped`
# policy in `REDIS_SERVICE` brings it back (podman applies restart policies through its container
# monitor, conmon — measured here; Docker's daemon does the same). A `stop` by you is respected:
# *unless-stopped*. Neither Compose restarts a container because it is **unhealthy**; orchestrators
# (ECS, Kubernetes liveness probes) replace unhealthy tasks.

# %%
if STACK_UP:
    _redis_c, _api_c = compose.container(PROJECT, "redis")["name"], compose.container(PROJECT, "api")["name"]
    engine("stop", "-t", "2", _redis_c, timeout=60)
    print("redis stopped  -> api health:", compose.health(_api_c), "| /health:", api("/health"),
          "| predict:", api("/predict", {"card1": 1, "amount": 9.99})[1])
    engine("start", _redis_c, timeout=60)
    compose.wait_for(PROJECT, "api", "service_healthy", timeout=60)
    print("redis started  -> api health:", compose.health(_api_c))
    engine("exec", _redis_c, "redis-cli", "shutdown", "nosave", timeout=60, check=False)
    net.poll(lambda: (lambda r: r["restart_count"] >= 1 and r["running"])(compose.container(PROJECT, "redis")),
             60, "redis restarted by its restart policy", interval=0.5)
    compose.wait_for(PROJECT, "redis", "service_healthy", timeout=60)
    _r = compose.container(PROJECT, "redis")
    print(f"redis crashed  -> restarted by its policy: restart_count={_r['restart_count']}, running={_r['running']}")
    compose.wait_for(PROJECT, "api", "service_healthy", timeout=60)

# %% [markdown]
# ## 5. Shared volumes: artifact storage and a feature table
#
# The `artifacts` volume outlives every container that mounts it. The trainer wrote into it:
# - `models/v1/model.joblib` — immutable: a new training run writes `v2`, never over `v1`;
# - `features/card_stats.parquet` — per-card aggregates the API joins to each request (a tiny offline
#   → online feature table, the role Feast's online store plays in Module 3);
# - `models/current.json` — which version to serve, replaced **atomically** (`os.replace`) as the last
#   step, so the API sees the old version or the new one, never a half-written file.
#
# The API mounts the volume read-only and reloads when `current.json` changes. Look inside it with a
# throw-away container:

# %%
if STACK_UP:
    print(engine("run", "--rm", "-v", f"{PROJECT}_artifacts:/artifacts:ro", BASE_IMAGE,
                 "sh", "-c", "find /artifacts -type f | sort; cat /artifacts/models/current.json", timeout=120))

# %% [markdown]
# ### Exercise 3 — retrain through the volume (2 points)
# Write `retrain(c)`: run the one-shot `trainer` service **again**, through Compose, with the environment
# variable `C` set to `c` (the trainer's regularisation strength), then wait (at most 60 s) until the
# API's `/health` reports the new model version and return that `/health` body. The API must not be
# restarted or recreated: the new version reaches it through the shared volume.
#
# <details><summary>Hint 1</summary>A one-off run of a service: <code>compose.compose(PROJECT, [STACK_FILE],
# "run", "--rm", "-T", "--no-deps", "-e", f"C={c}", "trainer", timeout=300)</code> — <code>-T</code>: no
# terminal; <code>--no-deps</code>: podman-compose 1.0 would otherwise (re)start the whole stack.</details>
# <details><summary>Hint 2</summary>Read <code>api("/health")[1]["model_version"]</code> before, then poll;
# catch <code>OSError</code> (a time-out while the API loads the new model) and ask again.</details>

# %% answer="volume"
def retrain(c: float) -> dict:
    ### BEGIN SOLUTION
    before = api("/health")[1]["model_version"]
    compose.compose(PROJECT, [STACK_FILE], "run", "--rm", "-T", "--no-deps", "-e", f"C={c}", "trainer", timeout=300)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body = api("/health")
        except OSError:  # busy loading the new model: ask again
            status, body = 0, {}
        if status == 200 and body["model_version"] > before:
            return body
        time.sleep(0.5)
    raise TimeoutError(f"the API still serves version {before}")
    ### END SOLUTION


# %% locked=true
API_BEFORE = compose.container(PROJECT, "api") if STACK_UP else None
HEALTH_BEFORE = api("/health")[1] if STACK_UP else None
_t0 = time.perf_counter()
RETRAINED = retrain(0.05)
print(f"retrained in {time.perf_counter() - _t0:.0f} s:", RETRAINED)

# %% check="volume" points=1
assert RETRAINED["model_version"] == HEALTH_BEFORE["model_version"] + 1, (
    f"expected version {HEALTH_BEFORE['model_version'] + 1} after one retrain, saw {RETRAINED['model_version']}")
_status, _h = api("/health")
assert _status == 200 and _h["model_version"] == RETRAINED["model_version"], f"/health should keep serving the new version, saw {_h}"
_p = api("/predict", {"card1": 10228, "amount": 99.5})[1]
assert _p.get("model_version") == RETRAINED["model_version"], f"predictions should come from the new version, saw {_p}"
assert RETRAINED["model_sha256"] != HEALTH_BEFORE["model_sha256"], "C=0.05 trains a different model: its sha256 should differ from v1's"

# %% check="volume" points=1
### BEGIN HIDDEN TESTS
_now = compose.container(PROJECT, "api")
assert _now["id"] == API_BEFORE["id"] and _now["started_at"] == API_BEFORE["started_at"] and _now["restart_count"] == 0, (
    "the API must not be restarted or recreated: the new model arrives through the shared volume")
_meta = json.loads(engine("run", "--rm", "-v", f"{PROJECT}_artifacts:/a:ro", BASE_IMAGE,
                          "cat", "/a/models/current.json", timeout=120))
assert _meta["C"] == 0.05 and _meta["sha256"] == RETRAINED["model_sha256"], (
    f"the volume's current model should be the C=0.05 one the API serves, the volume says {_meta}")
_files = engine("run", "--rm", "-v", f"{PROJECT}_artifacts:/a:ro", BASE_IMAGE, "find", "/a/models", "-name", "model.joblib",
                timeout=120).split()
assert "/a/models/v1/model.joblib" in _files and len(_files) == RETRAINED["model_version"], (
    f"every version stays in the volume (v1 kept for a rollback), saw {_files}")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The local dev loop
#
# Rebuilding an image for every code change is the slow loop. For development, an **override file**
# changes the API service only on your machine: your source folder **bind-mounted** over `/app` in the
# container and uvicorn started with `--reload`, so saving the file restarts the Python process inside
# the same container — with the same Redis, volume and network around it. The production file is never
# edited; CI and the cloud use it alone.

# %% [markdown]
# ### Exercise 4 — live code reload (2 points)
# 1. Write `dev_override()`: a compose dict that changes only the `api` service: mount `./app` (the
#    folder with `app.py`; the compose files sit next to it) **read-only** at `/app`, and set `command`
#    to run `uvicorn app:app --host 0.0.0.0 --port 8000 --reload --reload-dir /app`.
# 2. Write `set_revision(revision)`: edit `APP_DIR / "app.py"` on the host so that its `REVISION = "..."`
#    line holds `revision`, then wait (at most 60 s) until `/health` reports that revision; return the
#    seconds it took.
#
# <details><summary>Hint 1</summary>Why not <code>command</code> in the base file? podman-compose 1.0
# *appends* lists when it merges files; the base API service has no <code>command</code> (the image's
# <code>CMD</code> runs), so the override simply adds one.</details>
# <details><summary>Hint 2</summary><code>re.sub(r'^REVISION = ".*"', f'REVISION = "{revision}"', text,
# flags=re.M)</code>; poll <code>api("/health")</code> and catch <code>OSError</code>: while the
# process reloads, connections are refused.</details>

# %% answer="dev"
def dev_override() -> dict:
    ### BEGIN SOLUTION
    return {"services": {"api": {
        "volumes": ["./app:/app:ro"],
        "command": ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000", "--reload", "--reload-dir", "/app"],
    }}}
    ### END SOLUTION


def set_revision(revision: str) -> float:
    ### BEGIN SOLUTION
    t0 = time.monotonic()
    app_py = APP_DIR / "app.py"
    app_py.write_text(re.sub(r'^REVISION = ".*"', f'REVISION = "{revision}"', app_py.read_text(), flags=re.M))
    while time.monotonic() - t0 < 60:
        try:
            if api("/health", timeout=3)[1].get("revision") == revision:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the API did not report revision {revision} within 60 s")
    ### END SOLUTION


# %% [markdown]
# The cell recreates only the API from both files (`recreate=["api"]`), then saves a code change.

# %% locked=true
DEV_BEFORE = None
if STACK_UP:
    DEV_FILE.write_text(yaml.safe_dump(dev_override(), sort_keys=False))
    _t0 = time.perf_counter()
    compose.up(PROJECT, [STACK_FILE, MONITORING_FILE, DEV_FILE], ["api"], no_deps=True, recreate=["api"], timeout=120)
    DEV_BEFORE = compose.container(PROJECT, "api")
    print(f"api recreated in dev mode in {time.perf_counter() - _t0:.0f} s; serving revision", api("/health")[1]["revision"])
    DEV_SECONDS = set_revision("r2")
    print(f"code change served after {DEV_SECONDS:.1f} s, no rebuild:", api("/health")[1])

# %% check="dev" points=1
_status, _h = api("/health")
assert _h.get("revision") == "r2", f"after set_revision('r2') the API should report revision r2, saw {_h.get('revision')}"
_c = compose.container(PROJECT, "api")
_src = [m for m in _c["mounts"] if m["Destination"] == "/app"]
assert _src and _src[0]["Type"] == "bind" and Path(_src[0]["Source"]).resolve() == APP_DIR.resolve(), (
    f"the API should bind-mount {APP_DIR} at /app, saw {_src}")
assert _src[0]["RW"] is False, "mount the source read-only: the container has no business writing your code"
assert _c["image_id"] == containers.inspect(APP_IMAGE, "image")["Id"], "the dev loop must not rebuild the image"

# %% check="dev" points=1
### BEGIN HIDDEN TESTS
_rev = "dev-" + uuid.uuid4().hex[:6]
_secs = set_revision(_rev)
assert api("/health")[1].get("revision") == _rev, f"after set_revision({_rev!r}) the API reports {api('/health')[1].get('revision')}"
assert 0 < _secs < 60, f"set_revision should return the seconds it waited, saw {_secs}"
_c2 = compose.container(PROJECT, "api")
assert _c2["id"] == DEV_BEFORE["id"] and _c2["restart_count"] == 0 and _c2["started_at"] == DEV_BEFORE["started_at"], (
    "a code change must be picked up by the reloader inside the same container, not by recreating or restarting it")
assert _c2["image_id"] == containers.inspect(APP_IMAGE, "image")["Id"], "the dev loop must not rebuild the image"
### END HIDDEN TESTS

# %% [markdown]
# The whole loop, end to end, is now one command per step — the `make dev` of an ML service:
# `compose -f compose.yaml -f compose.monitoring.yaml -f compose.dev.yaml up` (stack + live code),
# `compose run --rm trainer` (a new model version), `curl /predict` and the Prometheus UI (what it does),
# `compose down -v` (a clean slate). The same files run the end-to-end test in CI, without the dev file.
#
# ## 7. Conventions, checked by code
#
# The course's `docker/compose.yaml` follows a few rules that `tests/containers/test_compose.py` enforces
# in CI. Code review misses them; a script does not.

# %% [markdown]
# ### Exercise 5 — a compose linter (1 point)
# Write `audit(spec)` returning a **set** of `(service, rule)` findings for a compose dict:
# - `"port-not-loopback"`: a published port not bound to `127.0.0.1` (strings `"HOST_IP:HOST:CONTAINER"`,
#   `"HOST:CONTAINER"`, `"CONTAINER"`, or a dict with `host_ip`; `${VAR:-default}` may appear in strings);
# - `"no-healthcheck"`: a service without a `healthcheck.test`, **except** one-shot jobs — services that
#   another service depends on with `service_completed_successfully`;
# - `"unpinned-image"`: an `image` with no tag, or the tag `latest` (a registry port such as
#   `127.0.0.1:5000/x` is not a tag; services with only `build` are fine);
# - `"weak-dependency"`: a `depends_on` entry on a service that *has* a health check, with a condition
#   other than `service_healthy` (the list form counts as `service_started`);
# - `"cmd-quoting"`: a health check in exec form (`"CMD"`) with an argument a shell would need quoted
#   (`shlex.quote(arg) != arg`): podman-compose 1.0 breaks it.
#
# <details><summary>Hint 1</summary><code>compose.dependencies(service)</code> turns either
# <code>depends_on</code> form into <code>{dep: condition}</code>.</details>
# <details><summary>Hint 2</summary>The image tag is after the last <code>:</code> of the part after the
# last <code>/</code>.</details>

# %% answer="audit"
import shlex


def audit(spec: dict) -> set[tuple[str, str]]:
    ### BEGIN SOLUTION
    services = spec.get("services") or {}
    findings = set()
    one_shots = {dep for s in services.values() for dep, cond in compose.dependencies(s).items()
                 if cond == "service_completed_successfully"}
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                host_ip = str(port.get("host_ip", ""))
            else:
                parts = re.sub(r"\$\{[^}]*\}", "0", str(port)).split(":")
                host_ip = parts[0] if len(parts) == 3 else ""
            if host_ip != "127.0.0.1":
                findings.add((name, "port-not-loopback"))
        test = (svc.get("healthcheck") or {}).get("test")
        if not test and name not in one_shots:
            findings.add((name, "no-healthcheck"))
        if isinstance(test, list) and test and test[0] == "CMD" and any(shlex.quote(str(a)) != str(a) for a in test[1:]):
            findings.add((name, "cmd-quoting"))
        if "image" in svc:
            last = str(svc["image"]).rsplit("/", 1)[-1]
            if ":" not in last or last.rsplit(":", 1)[1] in ("", "latest"):
                findings.add((name, "unpinned-image"))
        for dep, cond in compose.dependencies(svc).items():
            if (services.get(dep) or {}).get("healthcheck", {}).get("test") and cond != "service_healthy":
                findings.add((name, "weak-dependency"))
    return findings
    ### END SOLUTION


# %% check="audit" points=1
_bad = {"services": {
    "db": {"image": "postgres", "ports": ["5432:5432"], "healthcheck": {"test": ["CMD", "pg_isready"]}},
    "api": {"image": "127.0.0.1:5000/api:1.2", "ports": ["127.0.0.1:8000:8000"], "depends_on": ["db"],
            "healthcheck": {"test": ["CMD-SHELL", "curl -f 'http://localhost:8000/health'"]}},
}}
_found = audit(_bad)
assert isinstance(_found, set), f"audit should return a set, saw {type(_found).__name__}"
assert _found == {("db", "port-not-loopback"), ("db", "unpinned-image"), ("api", "weak-dependency")}, f"saw {_found}"
### BEGIN HIDDEN TESTS
_tricky = {"services": {
    "migrate": {"image": "app:2"},  # a one-shot: no health check needed
    "cache": {"image": "redis:latest", "ports": [{"target": 6379, "published": 6379, "host_ip": "127.0.0.1"}],
              "healthcheck": {"test": ["CMD", "redis-cli", "ping"]}},
    "web": {"build": {"context": "."}, "ports": ["${WEB_PORT:-8080}:80", "127.0.0.1:${X:-9}:9"],
            "depends_on": {"migrate": {"condition": "service_completed_successfully"}, "cache": {"condition": "service_healthy"}},
            "healthcheck": {"test": ["CMD", "python", "-c", "import urllib.request as u; u.urlopen('http://x')"]}},
    "worker": {"image": "localhost:5000/worker", "depends_on": {"cache": {"condition": "service_started"}}},
}}
_expect = {("cache", "unpinned-image"), ("web", "port-not-loopback"), ("web", "cmd-quoting"),
           ("worker", "unpinned-image"), ("worker", "no-healthcheck"), ("worker", "weak-dependency")}
assert audit(_tricky) == _expect, f"expected {sorted(_expect)}, saw {sorted(audit(_tricky))}"
# Your own stack follows every rule.
_own = {**stack_spec(), "services": {**stack_spec()["services"], **monitoring_spec()["services"]}}
assert audit(_own) == set(), f"your own stack should pass the audit, saw {audit(_own)}"
### END HIDDEN TESTS

# %% [markdown]
# Run your linter over the course's full stack too (where this kernel can read it). The `cmd-quoting`
# findings are real: those health checks work under Docker Compose but would never pass under
# podman-compose 1.0 — exactly the pitfall of section 2.

# %%
if COURSE_STACK is not None:
    try:
        print("docker/compose.yaml:", sorted(audit(COURSE_STACK)) or "no findings")
    except NotImplementedError:
        print("(write audit() first)")

# %% [markdown]
# ## Wrap-up
#
# **What ran here:** a real multi-container stack — Redis, a one-shot trainer, the FastAPI model API and
# Prometheus, each in its own image — brought up from compose files by podman-compose with dependency
# conditions and health checks honoured (by `labkit.compose` on podman, by Compose itself on Docker),
# two networks with name-based discovery and an internal database tier, a named volume carrying
# versioned models and a feature table from the trainer to the API, and a live-reload dev loop.
#
# **What is not here, and why:** the course stack's MLflow, Kafka and Postgres images come from Docker Hub
# and ghcr.io, which this machine cannot pull, so they were read (dependency waves, the audit), not run.
# With Docker, `docker compose -f docker/compose.yaml up -d --wait` starts all of them, and your stack
# could log each trainer run to `http://mlflow:5000` and stream predictions to `kafka:19092` — by service
# name, like the API reaches `redis`.
#
# **In the cloud** the same architecture maps to managed pieces: each service becomes an ECS task
# definition (its `healthCheck` and `dependsOn` with `HEALTHY`/`SUCCESS` conditions mirror Compose's) or a
# Kubernetes Deployment with readiness/liveness probes and init containers; Redis becomes ElastiCache,
# the artifacts volume becomes S3 (or EFS shared between tasks), Prometheus becomes Amazon Managed Service
# for Prometheus; service names resolve through Cloud Map or cluster DNS; security groups play the part of
# the internal network. Compose stays the local and CI harness for that stack.
#
# Cleanup: `down -v` (containers, networks, the volume), then the images.

# %%
compose.down(PROJECT, [f for f in (STACK_FILE, MONITORING_FILE, DEV_FILE) if f.exists()], volumes=True)
containers.remove(REDIS_IMAGE, APP_IMAGE, PROM_IMAGE)
print("left over:", compose.ps(PROJECT), "| images removed:", not any(containers.exists(i) for i in (REDIS_IMAGE, APP_IMAGE, PROM_IMAGE)))
