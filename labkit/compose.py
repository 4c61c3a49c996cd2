"""Multi-container stacks with Compose, as the container labs drive them (module 17).

One interface over two engines:
- Docker: `docker compose` (v2) honours `depends_on: {X: {condition: ...}}` and runs health checks itself,
  so `up()` is `docker compose up -d --wait`;
- podman here: `podman-compose` 1.0 creates the networks, volumes and containers, but treats `depends_on`
  as a start order only, and podman 4.3 without systemd never runs a HEALTHCHECK on its own schedule.
  `up()` therefore lets podman-compose *create* the containers and then starts them itself in dependency
  order, running health checks (`healthcheck run`) until each condition a dependant asks for holds: the
  part of the Compose spec that podman-compose 1.0 leaves out.

Helpers: `start_order()` (the dependency graph as start waves; unknown services and cycles are errors),
`ps()` (the project's containers, normalised from `inspect`), `health()`, `wait_for()`, `down()`,
`load()` (several compose files merged). The two programs of the module's stack run inside containers:
`TRAINER` (a one-shot job: data -> versioned model + card features in a shared volume) and `API_APP`
(FastAPI: model from the volume, prediction cache in Redis by service name, Prometheus metrics).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from labkit import containers
from labkit.containers import EngineError, engine

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PODMAN_PROJECT_LABEL = "io.podman.compose.project"
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
# Keys whose lists an override file replaces instead of extending (the Compose spec's merge rules).
_REPLACED_LISTS = {"command", "entrypoint", "test", "dns", "profiles"}


class ComposeError(EngineError):
    """A stack did not come up as its compose file says (a dependency failed, a check never passed)."""


def is_podman() -> bool:
    return os.environ.get("CONTAINER_ENGINE", "docker") == "podman"


def compose_argv() -> list[str]:
    """`podman-compose` (podman drives the engine socket in CONTAINER_HOST) or `docker compose`."""
    if is_podman():
        binary = shutil.which("podman-compose")
        if binary is None:
            raise ComposeError("podman-compose is not on PATH: `apt-get install podman-compose`")
        return [binary]
    return [*containers.engine_argv(), "compose"]


def compose(project: str, files: Sequence[Path | str], *args: str, timeout: float = 300, check: bool = True) -> str:
    """Run one compose command for `project` with these files (the first file's folder is the working dir)."""
    argv = [*compose_argv(), "-p", project]
    for file in files:
        argv += ["-f", str(Path(file).resolve())]
    try:
        done = subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=timeout, cwd=Path(files[0]).resolve().parent
        )
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"`compose {' '.join(args)}` did not finish in {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        raise ComposeError(f"`compose {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def _merge(base: Any, over: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(over, list) and key not in _REPLACED_LISTS:
        return base + [v for v in over if v not in base]
    return over


def load(files: Sequence[Path | str]) -> dict[str, Any]:
    """The compose files merged in order: mappings merge, lists extend (`command`/`entrypoint`/`test` replace)."""
    spec: dict[str, Any] = {}
    for file in files:
        spec = _merge(spec, yaml.safe_load(Path(file).read_text()) or {})
    return spec


def dependencies(service: Mapping[str, Any]) -> dict[str, str]:
    """`depends_on` as {service: condition}; the short list form means `service_started`."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, str):
        deps = [deps]
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    out = {}
    for dep, opts in deps.items():
        cond = (opts or {}).get("condition", "service_started")
        if cond not in CONDITIONS:
            raise ValueError(f"depends_on {dep}: unknown condition {cond!r}, expected one of {CONDITIONS}")
        out[dep] = cond
    return out


def start_order(
    spec: Mapping[str, Any], services: Sequence[str] | None = None, profiles: Sequence[str] = ()
) -> list[list[str]]:
    """Start waves: every service after all it depends on. `services` (default: all whose profiles are
    active) pull in their dependencies. ValueError for an unknown service or a dependency cycle."""
    all_services: Mapping[str, Any] = spec.get("services") or {}
    if services is None:
        services = [n for n, s in all_services.items() if not s.get("profiles") or set(s["profiles"]) & set(profiles)]
    graph: dict[str, set[str]] = {}
    todo = list(services)
    while todo:
        name = todo.pop()
        if name in graph:
            continue
        if name not in all_services:
            raise ValueError(f"unknown service {name!r}")
        graph[name] = set(dependencies(all_services[name]))
        for dep in graph[name]:
            if dep not in all_services:
                raise ValueError(f"{name} depends on unknown service {dep!r}")
            todo.append(dep)
    waves: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(graph):
        wave = sorted(n for n, deps in graph.items() if n not in done and deps <= done)
        if not wave:
            raise ValueError(f"dependency cycle among {sorted(set(graph) - done)}")
        waves.append(wave)
        done.update(wave)
    return waves


def parse_time(stamp: str) -> dt.datetime | None:
    """An engine timestamp as an aware datetime: RFC 3339 with nanoseconds (`inspect`), or Go's
    `2024-01-02 03:04:05.123456789 +0000 UTC` (podman's templates). None for the zero time."""
    if not stamp or stamp.startswith("0001-01-01"):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?", stamp.strip())
    if not m:
        raise ValueError(f"not a timestamp: {stamp!r}")
    day, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in (None, "Z") else (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    return dt.datetime.fromisoformat(f"{day}T{clock}.{(frac or '0')[:6].ljust(6, '0')}{zone}")


def _normalise(c: Mapping[str, Any]) -> dict[str, Any]:
    state = c.get("State", {})
    health = state.get("Health") or state.get("Healthcheck") or {}
    config = c.get("Config", {})
    labels = config.get("Labels") or {}
    nets = c.get("NetworkSettings", {}).get("Networks") or {}
    return {
        "service": labels.get(SERVICE_LABEL, ""),
        "name": c.get("Name", "").lstrip("/"),
        "id": c.get("Id", ""),
        "image": c.get("ImageName") or config.get("Image", ""),
        "image_id": c.get("Image", ""),
        "state": state.get("Status", ""),
        "running": bool(state.get("Running")),
        "exit_code": state.get("ExitCode"),
        "health": health.get("Status") or "none",
        "started_at": parse_time(state.get("StartedAt", "")),
        "finished_at": parse_time(state.get("FinishedAt", "")),
        "restart_count": c.get("RestartCount", 0),
        "networks": {n: {"ip": v.get("IPAddress", ""), "aliases": v.get("Aliases") or []} for n, v in nets.items()},
        "ports": c.get("HostConfig", {}).get("PortBindings") or {},
        "mounts": [
            {k: m.get(k) for k in ("Type", "Name", "Source", "Destination", "RW")} for m in c.get("Mounts") or []
        ],
    }


def ps(project: str) -> list[dict[str, Any]]:
    """The project's containers (running or not), from `inspect`: service, state, exit code, health,
    start/finish times, networks (ip, aliases), published ports, mounts. Sorted by service, then name."""
    ids = engine("ps", "-a", "-q", "--filter", f"label={PROJECT_LABEL}={project}", timeout=60).split()
    if not ids:
        return []
    rows = [_normalise(c) for c in json.loads(engine("container", "inspect", *ids, timeout=60))]
    return sorted(rows, key=lambda r: (r["service"], r["name"]))


def container(project: str, service: str) -> dict[str, Any]:
    """The service's container (the first one, as `ps()` lists it); ComposeError when there is none."""
    rows = [r for r in ps(project) if r["service"] == service]
    if not rows:
        raise ComposeError(f"project {project} has no container for service {service!r}")
    return rows[0]


def health(name: str) -> str:
    """`healthy`, `unhealthy` (the check failed), `none` (no check) or `stopped`. On podman this *runs*
    the check now, as Docker's daemon does on its own every `interval`."""
    if not is_podman():
        state = containers.inspect(name, "container")["State"]
        if not state.get("Running"):
            return "stopped"
        return (state.get("Health") or {}).get("Status") or "none"
    done = subprocess.run(
        [*containers.engine_argv(), "healthcheck", "run", name], capture_output=True, text=True, timeout=60
    )
    if done.returncode == 0:
        return "healthy"
    err = (done.stderr + done.stdout).lower()
    if "no defined healthcheck" in err:
        return "none"
    if "not running" in err:
        return "stopped"
    if done.returncode == 1 or "exceeded timeout" in err:  # the check ran and failed, or took too long
        return "unhealthy"
    raise ComposeError(f"healthcheck run {name} failed: {err.strip()[-500:]}")


def wait_for(project: str, service: str, condition: str = "service_healthy", timeout: float = 120) -> None:
    """Until the service meets a `depends_on` condition; ComposeError (with its logs) when it cannot."""
    deadline = time.monotonic() + timeout
    while True:
        row = container(project, service)
        if condition == "service_started" and row["running"]:
            return
        if condition == "service_completed_successfully" and row["state"] == "exited":
            if row["exit_code"] == 0:
                return
            raise ComposeError(f"{service} exited with {row['exit_code']}: {_logs(row['name'])}")
        if condition == "service_healthy":
            if not row["running"] and row["state"] in ("exited", "stopped"):
                raise ComposeError(f"{service} stopped before it was healthy: {_logs(row['name'])}")
            if row["running"] and health(row["name"]) == "healthy":
                return
        if time.monotonic() > deadline:
            raise ComposeError(f"{service} not {condition} after {timeout:.0f} s: {_logs(row['name'])}")
        time.sleep(0.5)


def _logs(name: str, lines: int = 15) -> str:
    try:
        return engine("logs", "--tail", str(lines), name, timeout=30).strip()[-1500:]
    except EngineError as exc:
        return str(exc)


def up(
    project: str,
    files: Sequence[Path | str],
    services: Sequence[str] | None = None,
    *,
    no_deps: bool = False,
    recreate: Sequence[str] = (),
    timeout: float = 180,
) -> list[dict[str, Any]]:
    """Bring the stack (or `services` and what they depend on) up as the compose files say, waiting for
    every `depends_on` condition and, at the end, for every started service's health check. `recreate`
    names services whose containers are replaced (a changed file); `no_deps` starts only `services`
    (their dependencies must already meet their conditions). Returns `ps(project)`."""
    spec = load(files)
    wanted = list(services) if services is not None else None
    waves = [[s for s in wave if no_deps is False or s in (wanted or [])] for wave in start_order(spec, wanted)]
    names = [s for wave in waves for s in wave]
    if not is_podman():
        args = ["up", "-d", "--wait", "--wait-timeout", str(int(timeout))]
        args += ["--force-recreate"] if recreate else []
        args += ["--no-deps"] if no_deps else []
        compose(project, files, *args, *(wanted or []), timeout=timeout + 60)
        return ps(project)
    for service in recreate:
        for row in [r for r in ps(project) if r["service"] == service]:
            containers.remove(row["name"], kind="container")
    # podman-compose creates what is missing (networks, volumes, containers); existing ones stay.
    compose(project, files, "up", "--no-start", *names, timeout=timeout)
    deadline = time.monotonic() + timeout
    all_services = spec.get("services") or {}
    for service in names:
        for dep, condition in dependencies(all_services[service]).items():
            wait_for(project, dep, condition, timeout=max(5.0, deadline - time.monotonic()))
        row = container(project, service)
        if not row["running"]:
            engine("start", row["name"], timeout=120)
    for service in names:
        if all_services[service].get("healthcheck") and container(project, service)["running"]:
            wait_for(project, service, "service_healthy", timeout=max(5.0, deadline - time.monotonic()))
    return ps(project)


def down(project: str, files: Sequence[Path | str] = (), *, volumes: bool = True, timeout: float = 180) -> None:
    """`compose down [-v]`, then remove whatever still carries the project's label (one-off `run`
    containers, networks, and with `volumes` the named volumes). Works without the files too."""
    existing = [f for f in files if Path(f).exists()]
    if existing:
        compose(project, existing, "down", *(["-v"] if volumes else []), timeout=timeout, check=False)
    ids = engine("ps", "-a", "-q", "--filter", f"label={PROJECT_LABEL}={project}", timeout=60, check=False).split()
    if ids:
        engine("rm", "-f", *ids, timeout=timeout, check=False)
    kinds = ("network", "volume") if volumes else ("network",)
    for kind in kinds:
        for label in (PROJECT_LABEL, PODMAN_PROJECT_LABEL):
            listing = engine(kind, "ls", "-q", "--filter", f"label={label}={project}", timeout=60, check=False)
            if listing.split():
                engine(kind, "rm", *listing.split(), timeout=timeout, check=False)


def project_stack_file() -> Path | None:
    """The course's own stack, docker/compose.yaml beside labkit/, where this checkout lets us read it
    (graded sandboxes see labkit/ but not docker/)."""
    path = Path(__file__).resolve().parents[1] / "docker" / "compose.yaml"
    try:
        return path if path.is_file() and os.access(path, os.R_OK) else None
    except OSError:
        return None


TRAINER = '''\
"""One-shot trainer of the compose stack: fraud data -> a new model version in the shared volume.

Reads DATA_PATH (default /data/transactions.csv, a read-only bind mount) and writes under ARTIFACTS
(default /artifacts, a named volume the API mounts read-only):
  features/card_stats.parquet       per-card aggregates of the training window (the online lookup table)
  models/v<N>/model.joblib          the model, never overwritten: each run is the next version N
  models/current.json               {"version", "path", "sha256", "auc", ...}: written last, atomically
The pointer file is replaced with os.replace, so a reader sees the old version or the new one, never half.
"""

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

DATA = Path(os.environ.get("DATA_PATH", "/data/transactions.csv"))
OUT = Path(os.environ.get("ARTIFACTS", "/artifacts"))
C = float(os.environ.get("C", "1.0"))
RISKY = ("anonymous.com", "protonmail.com", "mail.com")


def features(tx, card_stats):
    counts = tx["card1"].map(card_stats["card_tx_count"]).fillna(0.0)
    hour = (tx["TransactionDT"] // 3600) % 24
    return np.column_stack([
        np.log1p(tx["TransactionAmt"]), hour.between(0, 5), tx["ProductCD"].eq("C"), tx["ProductCD"].eq("W"),
        tx["DeviceType"].isna(), tx["P_emaildomain"].isin(RISKY), np.log1p(counts),
    ]).astype(float)


def atomic_write(path, data):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


tx = pd.read_csv(DATA).sort_values("TransactionDT")
cut = int(len(tx) * 0.7)
train, valid = tx.iloc[:cut], tx.iloc[cut:]
stats = train.groupby("card1").agg(card_tx_count=("TransactionID", "size"), card_mean_amount=("TransactionAmt", "mean"))
model = LogisticRegression(C=C, max_iter=1000).fit(features(train, stats), train["isFraud"])
auc = roc_auc_score(valid["isFraud"], model.predict_proba(features(valid, stats))[:, 1])

pointer = OUT / "models" / "current.json"
version = json.loads(pointer.read_text())["version"] + 1 if pointer.exists() else 1
(OUT / "features").mkdir(parents=True, exist_ok=True)
(OUT / "models" / f"v{version}").mkdir(parents=True, exist_ok=True)
stats.reset_index().to_parquet(OUT / "features" / "card_stats.parquet.tmp", index=False)
os.replace(OUT / "features" / "card_stats.parquet.tmp", OUT / "features" / "card_stats.parquet")
model_path = OUT / "models" / f"v{version}" / "model.joblib"
joblib.dump(model, model_path)
meta = {
    "version": version, "path": str(model_path.relative_to(OUT)), "C": C, "auc": round(float(auc), 4),
    "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(), "rows": int(len(train)),
    "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
}
atomic_write(pointer, json.dumps(meta).encode())
print(json.dumps(meta))
'''

API_APP = '''\
"""Fraud API of the compose stack.

- the model and the card features come from the shared volume ARTIFACTS (written by the trainer); when
  models/current.json changes, the next request loads the new version: no restart, no rebuild;
- predictions are cached in Redis at REDIS_HOST:REDIS_PORT (on the compose network the host name is the
  *service name*, `redis`), keyed by model version and request; hits and misses are counted in Redis;
- GET /health: 200 when Redis answers and a model is loaded, else 503 (the container's health check);
- GET /metrics: Prometheus text format.
Redis is spoken in its wire protocol (RESP) with the standard library: the image needs no client package.
"""

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

REVISION = "r1"  # the code's revision, reported by /health (the dev-workflow step edits this line)
REDIS_HOST = os.environ.get("REDIS_HOST", "redis")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
ARTIFACTS = Path(os.environ.get("ARTIFACTS", "/artifacts"))
CACHE_TTL_S = int(os.environ.get("CACHE_TTL_S", "600"))
RISKY = ("anonymous.com", "protonmail.com", "mail.com")
STARTED = time.time()
COUNTS = {"predictions": 0, "cache_hits": 0, "cache_misses": 0, "redis_errors": 0}


def redis(*args):
    """One command to Redis over a fresh connection; the reply as Python (str, int, list, None)."""
    payload = b"*%d\\r\\n" % len(args) + b"".join(
        b"$%d\\r\\n%s\\r\\n" % (len(a), a) for a in (str(x).encode() for x in args))
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0) as sock:
        sock.sendall(payload)
        return _reply(sock.makefile("rb"))


def _reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return None if rest == "-1" else f.read(int(rest) + 2)[:-2].decode()
    if kind == b"*":
        return None if rest == "-1" else [_reply(f) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected reply {line!r}")


class Artifacts:
    """The model version named by models/current.json, reloaded when that file changes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.meta, self.model, self.cards, self.stamp = None, None, None, None

    def current(self):
        pointer = ARTIFACTS / "models" / "current.json"
        try:
            stat = pointer.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self.lock:
            if stamp != self.stamp:
                meta = json.loads(pointer.read_text())
                self.model = joblib.load(ARTIFACTS / meta["path"])
                self.cards = pd.read_parquet(ARTIFACTS / "features" / "card_stats.parquet").set_index("card1")
                self.meta, self.stamp = meta, stamp
            return self.meta


ART = Artifacts()
app = FastAPI(title="fraud API (compose stack)")


class Transaction(BaseModel):
    card1: int
    amount: float = Field(gt=0)
    product: str = "W"
    hour: int = Field(default=12, ge=0, le=23)
    device_missing: bool = False
    email_domain: str = "gmail.com"


def redis_ok():
    try:
        return redis("PING") == "PONG"
    except (OSError, RuntimeError):
        return False


@app.get("/health")
def health():
    meta, up = ART.current(), redis_ok()
    body = {"status": "ok" if meta and up else "degraded", "redis": up, "revision": REVISION,
            "model_version": meta and meta["version"], "model_sha256": meta and meta["sha256"]}
    return JSONResponse(body, status_code=200 if meta and up else 503)


@app.post("/predict")
def predict(tx: Transaction):
    meta = ART.current()
    if meta is None:
        return JSONResponse({"detail": "no model in the artifacts volume yet"}, status_code=503)
    COUNTS["predictions"] += 1
    digest = hashlib.sha256(json.dumps(tx.model_dump(), sort_keys=True).encode()).hexdigest()[:16]
    key = "pred:v%d:%s" % (meta["version"], digest)
    try:
        cached = redis("GET", key)
    except (OSError, RuntimeError):
        cached, COUNTS["redis_errors"] = None, COUNTS["redis_errors"] + 1
        redis_up = False
    else:
        redis_up = True
    if cached is not None:
        COUNTS["cache_hits"] += 1
        redis("INCR", "stats:cache_hits")
        return {**json.loads(cached), "cached": True}
    card_count = float(ART.cards["card_tx_count"].get(tx.card1, 0.0))
    x = np.array([[np.log1p(tx.amount), tx.hour <= 5, tx.product == "C", tx.product == "W",
                   tx.device_missing, tx.email_domain in RISKY, np.log1p(card_count)]], dtype=float)
    answer = {"fraud_probability": round(float(ART.model.predict_proba(x)[0, 1]), 6),
              "model_version": meta["version"], "card_tx_count": int(card_count)}
    if redis_up:
        COUNTS["cache_misses"] += 1
        try:
            redis("SET", key, json.dumps(answer), "EX", CACHE_TTL_S)
            redis("INCR", "stats:cache_misses")
        except (OSError, RuntimeError):
            COUNTS["redis_errors"] += 1
    return {**answer, "cached": False if redis_up else None}


@app.get("/stats")
def stats():
    try:
        hits, misses = redis("GET", "stats:cache_hits"), redis("GET", "stats:cache_misses")
    except (OSError, RuntimeError):
        return JSONResponse({"detail": f"redis at {REDIS_HOST}:{REDIS_PORT} unreachable"}, status_code=503)
    return {"cache_hits": int(hits or 0), "cache_misses": int(misses or 0), "redis": f"{REDIS_HOST}:{REDIS_PORT}"}


@app.get("/metrics", response_class=PlainTextResponse)
def metrics():
    meta = ART.current()
    lines = []
    for name, kind, value, help_ in (
        ("fraud_api_predictions_total", "counter", COUNTS["predictions"], "Predictions served."),
        ("fraud_api_cache_hits_total", "counter", COUNTS["cache_hits"], "Predictions answered from Redis."),
        ("fraud_api_cache_misses_total", "counter", COUNTS["cache_misses"], "Predictions computed and cached."),
        ("fraud_api_redis_errors_total", "counter", COUNTS["redis_errors"], "Redis calls that failed."),
        ("fraud_api_redis_up", "gauge", int(redis_ok()), "1 when Redis answers PING."),
        ("fraud_api_model_version", "gauge", meta["version"] if meta else 0, "Model version being served."),
        ("fraud_api_start_time_seconds", "gauge", STARTED, "Process start, Unix time."),
    ):
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\\n".join(lines) + "\\n"
'''
