"""The course's model API and batch jobs as container workloads (module 15; reusable by the container labs).

Files that run *inside* images (each a complete program, tested on the host in tests/labkit):
- `FRAUD_API_APP`: module 4's fraud-scoring contract as a standalone FastAPI app (`app.py`): the model from
  a joblib file, `/health`, `/predict`, `/predict/batch`, and an optional API key read from a *file*
  (`API_KEY_FILE`, the secrets convention) or, leakily, from `API_KEY`;
- `ETL_JOB`: the daily feature ETL (`etl.py --date YYYY-MM-DD`): raw transactions CSV (a presigned S3 URL or
  a path) -> that day's features as Parquet under `OUT/date=D/ProductCD=X/`; exit codes 0/2/3/4;
- `LIMITS_PROBE`: a tiny job supervisor (`probe.py --alloc-mb N --burn-s S`) that reports the cgroup limits it
  runs under and why its worker died (the kernel's OOM-kill counter), then exits like a shell would.

Host-side helpers that drive the engine through `labkit.containers`:
- `run_job()`: run a container to completion and keep what `run --rm` throws away (exit code, logs, inspect);
- `history()`: an image's build steps, oldest first, with the ids that show which layers a rebuild reused;
- `secret_leaks()`: every place an engine shows a secret value (image history, image/container inspect);
- `healthcheck_status()`: run a container's HEALTHCHECK command now (engines without systemd do not run it).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit import containers
from labkit.containers import EngineError, engine

FRAUD_API_APP = '''\
"""Fraud-scoring API (module 4's contract), packaged for a container.

Configuration comes from the environment, never from the image:
  MODEL_PATH    the joblib file of a scikit-learn pipeline (default /app/model.joblib)
  API_KEY_FILE  a file holding the API key (a mounted secret); when set, /predict* need X-API-Key
  API_KEY       the key itself (works, but leaks into `inspect`: prefer API_KEY_FILE)
  THRESHOLD     is_fraud = fraud_probability >= THRESHOLD (default 0.5)
"""

import hashlib
import hmac
import os
from pathlib import Path

import joblib
import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

FEATURES = ["log_amount", "round_amount", "hour", "night", "product_C", "product_W",
            "device_missing", "risky_email", "card_tx_last_hour"]
MODEL_PATH = Path(os.environ.get("MODEL_PATH", "/app/model.joblib"))
MODEL = joblib.load(MODEL_PATH)
MODEL_SHA256 = hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()[:12]
THRESHOLD = float(os.environ.get("THRESHOLD", "0.5"))
_key_file = os.environ.get("API_KEY_FILE")
API_KEY = Path(_key_file).read_text().strip() if _key_file else os.environ.get("API_KEY")
Flag = Field(ge=0, le=1)


class Transaction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log_amount: float = Field(ge=0)
    round_amount: int = Flag
    hour: int = Field(ge=0, le=23)
    night: int = Flag
    product_C: int = Flag
    product_W: int = Flag
    device_missing: int = Flag
    risky_email: int = Flag
    card_tx_last_hour: int = Field(ge=0)


class BatchRequest(BaseModel):
    transactions: list[Transaction] = Field(min_length=1, max_length=100)


class Prediction(BaseModel):
    fraud_probability: float = Field(ge=0, le=1)
    is_fraud: bool
    model_sha256: str


def require_key(x_api_key: str | None = Header(default=None)) -> None:
    if API_KEY is None:
        return
    if x_api_key is None:
        raise HTTPException(status_code=401, detail="missing X-API-Key header")
    if not hmac.compare_digest(x_api_key.encode(), API_KEY.encode()):
        raise HTTPException(status_code=403, detail="wrong API key")


def score(txs: list[Transaction]) -> list[Prediction]:
    frame = pd.DataFrame([t.model_dump() for t in txs], columns=FEATURES).astype(float)
    proba = MODEL.predict_proba(frame)[:, 1]
    return [Prediction(fraud_probability=float(p), is_fraud=bool(p >= THRESHOLD), model_sha256=MODEL_SHA256)
            for p in proba]


app = FastAPI(title="fraud scoring")


@app.get("/health")
def health() -> dict:
    return {"status": "ok", "model_sha256": MODEL_SHA256, "auth": API_KEY is not None}


@app.post("/predict", response_model=Prediction, dependencies=[Depends(require_key)])
def predict(tx: Transaction) -> Prediction:
    return score([tx])[0]


@app.post("/predict/batch", response_model=list[Prediction], dependencies=[Depends(require_key)])
def predict_batch(batch: BatchRequest) -> list[Prediction]:
    return score(batch.transactions)
'''

ETL_JOB = '''\
"""Daily feature ETL: raw transactions -> one day of model features as Parquet, partitioned by date and product.

  python etl.py --date 2017-12-02 [--source URL_OR_PATH] [--out DIR]

--source defaults to $RAW_URL (e.g. a presigned S3 URL: the job never holds AWS keys), else /data/transactions.csv.
--out defaults to $OUT_DIR, else /out. Output: OUT/date=D/ProductCD=X/*.parquet, replaced atomically on a rerun.
Exit codes: 0 done; 2 bad arguments; 3 no transactions on that date; 4 input unreadable or missing columns.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
from fraud_features import FEATURES, feature_frame

REFERENCE = dt.date(2017, 12, 1)  # TransactionDT counts seconds from this date
REQUIRED = {"TransactionID", "TransactionDT", "TransactionAmt", "ProductCD", "card1", "addr1",
            "P_emaildomain", "DeviceType", "isFraud"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="daily fraud feature ETL")
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--source", default=os.environ.get("RAW_URL", "/data/transactions.csv"))
    parser.add_argument("--out", default=os.environ.get("OUT_DIR", "/out"))
    args = parser.parse_args(argv)
    try:
        raw = pd.read_csv(args.source)
    except (OSError, ValueError) as exc:
        print(f"etl: cannot read the input: {type(exc).__name__}", file=sys.stderr)  # no URL: it is a credential
        return 4
    missing = REQUIRED - set(raw.columns)
    if missing:
        print(f"etl: input lacks columns {sorted(missing)}", file=sys.stderr)
        return 4
    start = (args.date - REFERENCE).days * 86400
    # card_tx_last_hour looks one hour back: read from an hour before midnight, keep the day's rows
    window = raw[(raw.TransactionDT >= start - 3600) & (raw.TransactionDT < start + 86400)]
    feats = feature_frame(window)
    day = window.loc[feats.index]
    keep = (day.TransactionDT >= start).to_numpy()
    if not keep.any():
        print(f"etl: no transactions on {args.date}", file=sys.stderr)
        return 3
    out = pd.concat([day[["TransactionID", "TransactionDT", "isFraud", "ProductCD"]], feats[FEATURES]], axis=1)[keep]
    target = Path(args.out) / f"date={args.date}"
    staging = Path(args.out) / f".date={args.date}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    out.to_parquet(staging, partition_cols=["ProductCD"], index=False)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # readers never see half a partition
    counts = out.ProductCD.value_counts().sort_index()
    print(json.dumps({"date": str(args.date), "rows": int(len(out)), "partitions": counts.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

LIMITS_PROBE = '''\
"""Limits probe: report the cgroup limits this container runs under, run a worker, say how it ended.

  python probe.py [--alloc-mb N] [--burn-s S]

The worker (a child process) touches N MiB of memory, then keeps one CPU busy for S seconds of wall time.
Prints one JSON line; exits like a shell: the worker's exit code, or 128 + signal if it was killed.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

WORKER = """
import sys, time
block = bytearray(int(sys.argv[1]) * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
t0 = time.perf_counter()
while time.perf_counter() - t0 < float(sys.argv[2]):
    sum(range(1000))
"""


def read(*paths):
    for path in paths:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            continue
    return None


def counter(text, name):
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0


def memory_limit():
    value = read("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    return None if value in (None, "max") or int(value) >= 2**60 else int(value)


def cpu_quota():
    v2 = read("/sys/fs/cgroup/cpu.max")
    if v2:
        quota, period = v2.split()
        return None if quota == "max" else int(quota) / int(period)
    quota = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us")
    period = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us")
    return None if quota in (None, "-1") else int(quota) / int(period)


def oom_kills():
    events = read("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")
    return counter(events, "oom_kill")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alloc-mb", type=int, default=16)
    parser.add_argument("--burn-s", type=float, default=0.0)
    args = parser.parse_args()
    before = oom_kills()
    t0 = time.perf_counter()
    rc = subprocess.run([sys.executable, "-c", WORKER, str(args.alloc_mb), str(args.burn_s)]).returncode
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_stat = read("/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/cpu/cpu.stat")
    report = {
        "memory_limit_bytes": memory_limit(),
        "cpu_quota": cpu_quota(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "worker_exit": rc,
        "worker_signal": -rc if rc < 0 else None,
        "oom_kills": oom_kills() - before,
        "worker_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "worker_wall_s": round(wall, 3),
        "nr_throttled": counter(cpu_stat, "nr_throttled"),
    }
    print(json.dumps(report), flush=True)
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    sys.exit(main())
'''


@dataclass
class JobResult:
    """What a finished container left behind: its exit code, its logs and its `inspect` document."""

    exit_code: int
    logs: str
    inspect: dict[str, Any] = field(repr=False)

    @property
    def host_config(self) -> dict[str, Any]:
        return self.inspect.get("HostConfig", {})

    @property
    def oom_killed(self) -> bool:
        """The engine's own verdict (Docker sets it; podman 4.3 on cgroup v1 leaves it False)."""
        return bool(self.inspect.get("State", {}).get("OOMKilled"))

    def last_json(self) -> dict[str, Any] | None:
        """The last line of the logs that parses as a JSON object (what the course's jobs print)."""
        for line in reversed(self.logs.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None


def logs(name: str, timeout: float = 60) -> str:
    """A container's stdout and stderr, interleaved (`engine()` keeps stdout only)."""
    done = subprocess.run(
        [*containers.engine_argv(), "logs", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return done.stdout


def run_job(image: str, *args: str, name: str, options: Sequence[str] = (), timeout: float = 300) -> JobResult:
    """`run -d` a container, `wait` for it, keep logs and `inspect`, then remove it (also on timeout).

    `options` go between `run` and the image (`--memory`, `-e`, `-v`, `--entrypoint`...), `args` after it.
    Raises EngineError if the container cannot be created or does not finish within `timeout` seconds.
    """
    containers.remove(name, kind="container")
    try:
        engine("run", "-d", "--name", name, *options, image, *args, timeout=120)
        waited = engine("wait", name, timeout=timeout).split()
        if not waited:
            raise EngineError(f"`wait {name}` printed no exit code")
        info = containers.inspect(name, "container")
        return JobResult(int(waited[-1]), logs(name), info)
    finally:
        containers.remove(name, kind="container")


@dataclass(frozen=True)
class Step:
    """One build step of an image: when it was made, the instruction, and whether it added a filesystem layer."""

    created: str
    created_by: str
    empty_layer: bool = False

    @property
    def key(self) -> str:
        """Identity of the step. A step the build cache reused keeps its creation time; a rebuilt one gets a new one."""
        return f"{self.created} {self.created_by}"


def history(image: str) -> list[Step]:
    """The image's build steps, oldest first, the base image's steps included.

    podman's `inspect` carries the image config's own history (nanosecond timestamps, `empty_layer` flags);
    Docker's `inspect` does not, so there `docker history` (second resolution) is read instead.
    """
    entries = containers.inspect(image, "image").get("History")
    if entries:
        return [
            Step(e.get("created", ""), e.get("created_by", "").strip(), bool(e.get("empty_layer"))) for e in entries
        ]
    out = engine("history", "--no-trunc", "--format", "{{.CreatedAt}}\t{{.Size}}\t{{.CreatedBy}}", image, timeout=60)
    steps = []
    for line in out.splitlines():
        if line.strip():
            created, size, created_by = [*line.split("\t", 2), "", ""][:3]
            steps.append(Step(created.strip(), created_by.strip(), size.strip() in ("0", "0B", "0 B")))
    return steps[::-1]


def secret_leaks(secret: str, images: Iterable[str] = (), containers_: Iterable[str] = ()) -> list[str]:
    """Where the engine shows `secret`: lines of each image's history, its inspect, each container's inspect.

    Anyone who can talk to the engine (or pull the image) can read these places. An empty list means none.
    """
    if not secret:
        raise ValueError("secret_leaks needs a non-empty secret")
    found = []
    for image in images:
        for step in history(image):
            if secret in step.created_by:
                found.append(f"history of {image}: {step.created_by[:200]}")
        if secret in json.dumps(containers.inspect(image, "image")):
            found.append(f"inspect of image {image}")
    for name in containers_:
        if secret in json.dumps(containers.inspect(name, "container")):
            found.append(f"inspect of container {name}")
    return found


def healthcheck_status(container: str, timeout: float = 30) -> int | None:
    """Run the container's HEALTHCHECK test once inside it; its exit code (0 healthy), None if it has none."""
    config = containers.inspect(container, "container").get("Config", {})
    check = config.get("Healthcheck") or {}
    test = list(check.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    done = subprocess.run(
        [*containers.engine_argv(), "exec", container, *argv], capture_output=True, text=True, timeout=timeout
    )
    return done.returncode
