"""labkit.compose: dependency graph, file merging, timestamps, the stack's two programs, and (with the
`containers` service) a small stack brought up in dependency order and torn down."""

from __future__ import annotations

import importlib.util
import json
import os
import socketserver
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from labkit import compose

SPEC = {
    "services": {
        "redis": {"image": "redis:7", "healthcheck": {"test": ["CMD", "redis-cli", "ping"]}},
        "trainer": {"image": "app:1"},
        "api": {
            "image": "app:1",
            "depends_on": {
                "redis": {"condition": "service_healthy"},
                "trainer": {"condition": "service_completed_successfully"},
            },
        },
        "prometheus": {"image": "prom:2", "depends_on": ["api"]},
        "debug": {"image": "busybox:1", "profiles": ["debug"], "depends_on": ["api"]},
    }
}


def test_dependencies_read_both_forms_and_reject_unknown_conditions() -> None:
    assert compose.dependencies(SPEC["services"]["prometheus"]) == {"api": "service_started"}
    assert compose.dependencies(SPEC["services"]["api"]) == {
        "redis": "service_healthy",
        "trainer": "service_completed_successfully",
    }
    assert compose.dependencies({"depends_on": {"db": None}}) == {"db": "service_started"}
    assert compose.dependencies({}) == {}
    with pytest.raises(ValueError, match="unknown condition"):
        compose.dependencies({"depends_on": {"db": {"condition": "service_ready"}}})


def test_start_order_waves_profiles_and_subsets() -> None:
    assert compose.start_order(SPEC) == [["redis", "trainer"], ["api"], ["prometheus"]]
    assert compose.start_order(SPEC, profiles=["debug"]) == [["redis", "trainer"], ["api"], ["debug", "prometheus"]]
    # asking for one service brings what it depends on, nothing else
    assert compose.start_order(SPEC, ["api"]) == [["redis", "trainer"], ["api"]]
    assert compose.start_order(SPEC, ["redis"]) == [["redis"]]


def test_start_order_rejects_cycles_and_unknown_services() -> None:
    cyclic = {"services": {"a": {"depends_on": ["b"]}, "b": {"depends_on": ["c"]}, "c": {"depends_on": ["a"]}, "d": {}}}
    with pytest.raises(ValueError, match=r"cycle among \['a', 'b', 'c'\]"):
        compose.start_order(cyclic)
    with pytest.raises(ValueError, match="unknown service 'nope'"):
        compose.start_order(SPEC, ["nope"])
    with pytest.raises(ValueError, match="depends on unknown service 'db'"):
        compose.start_order({"services": {"api": {"depends_on": ["db"]}}})


def test_load_merges_files_like_compose(tmp_path: Path) -> None:
    base = {
        "services": {
            "api": {
                "image": "app:1",
                "command": ["uvicorn", "app:app"],
                "volumes": ["artifacts:/artifacts:ro"],
                "environment": {"A": "1", "B": "2"},
            }
        },
        "volumes": {"artifacts": {}},
    }
    dev = {
        "services": {
            "api": {
                "command": ["uvicorn", "app:app", "--reload"],
                "volumes": ["./app:/app:ro"],
                "environment": {"B": "3"},
            }
        }
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(dev))
    api = compose.load([tmp_path / "base.yaml", tmp_path / "dev.yaml"])["services"]["api"]
    assert api["command"] == ["uvicorn", "app:app", "--reload"]  # replaced, not appended
    assert api["volumes"] == ["artifacts:/artifacts:ro", "./app:/app:ro"]  # extended
    assert api["environment"] == {"A": "1", "B": "3"}
    assert api["image"] == "app:1"


def test_parse_time_reads_both_engine_formats() -> None:
    rfc = compose.parse_time("2026-11-28T09:38:50.199246138Z")
    go = compose.parse_time("2026-11-28 09:38:50.199246138 +0000 UTC")
    assert rfc == go and rfc is not None and rfc.microsecond == 199246 and rfc.utcoffset().total_seconds() == 0
    assert compose.parse_time("2026-11-28T11:38:50+02:00") == compose.parse_time("2026-11-28T09:38:50Z")
    assert compose.parse_time("0001-01-01T00:00:00Z") is None
    assert compose.parse_time("") is None
    with pytest.raises(ValueError):
        compose.parse_time("yesterday")


def test_the_course_stack_file_waits_for_healthy_services() -> None:
    path = compose.project_stack_file()
    assert path is not None and path.name == "compose.yaml"
    spec = compose.load([path])
    waves = compose.start_order(spec, profiles=["lab"])
    position = {svc: i for i, wave in enumerate(waves) for svc in wave}
    for dep, cond in compose.dependencies(spec["services"]["lab"]).items():
        assert cond == "service_healthy"
        assert position[dep] < position["lab"]


# --- the stack's programs, run on this host -------------------------------------------------------


@pytest.fixture(scope="module")
def fraud_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 600
    amount = rng.lognormal(4, 1, n).round(2)
    night = rng.random(n) < 0.2
    fraud = (rng.random(n) < 0.03 + 0.2 * night).astype(int)
    frame = pd.DataFrame(
        {
            "TransactionID": np.arange(n),
            "isFraud": fraud,
            "TransactionDT": np.sort(rng.integers(0, 30 * 86400, n)) + np.where(night, 0, 8 * 3600),
            "TransactionAmt": amount,
            "ProductCD": rng.choice(["W", "C", "H"], n),
            "card1": rng.integers(1000, 1030, n),
            "P_emaildomain": rng.choice(["gmail.com", "mail.com", None], n),
            "DeviceType": rng.choice(["desktop", None], n),
        }
    )
    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    frame.to_csv(path, index=False)
    return path


def _train(csv: Path, artifacts: Path, c: float = 1.0) -> dict:
    script = artifacts.parent / "train.py"
    script.write_text(compose.TRAINER)
    env = {**os.environ, "DATA_PATH": str(csv), "ARTIFACTS": str(artifacts), "C": str(c)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_trainer_writes_immutable_versions_and_an_atomic_pointer(fraud_csv: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    first = _train(fraud_csv, artifacts)
    assert first["version"] == 1 and first["path"] == "models/v1/model.joblib" and 0 <= first["auc"] <= 1
    second = _train(fraud_csv, artifacts, c=0.01)
    assert second["version"] == 2 and second["C"] == 0.01
    assert second["sha256"] != first["sha256"], "another C trains another model"
    assert (artifacts / "models" / "v1" / "model.joblib").exists(), "v1 is kept"
    assert json.loads((artifacts / "models" / "current.json").read_text()) == second
    cards = pd.read_parquet(artifacts / "features" / "card_stats.parquet")
    assert {"card1", "card_tx_count", "card_mean_amount"} <= set(cards.columns) and cards.card_tx_count.sum() == 420
    assert not list(artifacts.rglob("*.tmp")), "no temporary files left behind"


class _FakeRedis(socketserver.ThreadingTCPServer):
    """Enough of Redis for the API (PING, GET, SET [EX n], INCR), in its wire protocol."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        super().__init__(("127.0.0.1", 0), _RespHandler)


class _RespHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while line := self.rfile.readline():
            args = []
            for _ in range(int(line[1:])):
                size = int(self.rfile.readline()[1:])
                args.append(self.rfile.read(size + 2)[:-2].decode())
            cmd, data = args[0].upper(), self.server.data  # type: ignore[attr-defined]
            if cmd == "PING":
                self.wfile.write(b"+PONG\r\n")
            elif cmd == "GET":
                value = data.get(args[1])
                self.wfile.write(b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value.encode()))
            elif cmd == "SET":
                data[args[1]] = args[2]
                self.wfile.write(b"+OK\r\n")
            elif cmd == "INCR":
                data[args[1]] = str(int(data.get(args[1], "0")) + 1)
                self.wfile.write(b":%s\r\n" % data[args[1]].encode())
            else:
                self.wfile.write(b"-ERR unknown command\r\n")


@pytest.fixture()
def fake_redis() -> Iterator[_FakeRedis]:
    server = _FakeRedis()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _load_app(tmp_path: Path, artifacts: Path, redis_port: int):
    from fastapi.testclient import TestClient

    app_py = tmp_path / "app_under_test.py"
    app_py.write_text(compose.API_APP)
    env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port), "ARTIFACTS": str(artifacts)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location(f"stack_app_{uuid.uuid4().hex}", app_py)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
    return module, TestClient(module.app)


def test_api_caches_in_redis_and_follows_the_volume(fraud_csv: Path, tmp_path: Path, fake_redis: _FakeRedis) -> None:
    artifacts = tmp_path / "artifacts"
    _module, client = _load_app(tmp_path, artifacts, fake_redis.server_address[1])
    assert client.post("/predict", json={"card1": 1005, "amount": 10}).status_code == 503, "no model yet"
    assert client.get("/health").status_code == 503
    _train(fraud_csv, artifacts)
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["model_version"] == 1 and health.json()["redis"] is True
    tx = {"card1": 1005, "amount": 42.5, "hour": 2}
    first, second = client.post("/predict", json=tx).json(), client.post("/predict", json=tx).json()
    assert first["cached"] is False and second["cached"] is True
    assert first["fraud_probability"] == second["fraud_probability"] and first["card_tx_count"] > 0
    assert client.get("/stats").json()["cache_hits"] == 1 == int(fake_redis.data["stats:cache_hits"])
    # a retrain is picked up on the next request, and the cache key includes the version
    _train(fraud_csv, artifacts, c=0.01)
    third = client.post("/predict", json=tx).json()
    assert third["model_version"] == 2 and third["cached"] is False
    metrics = client.get("/metrics").text
    assert "fraud_api_model_version 2" in metrics and "fraud_api_cache_hits_total 1" in metrics
    assert client.post("/predict", json={"card1": 1, "amount": -5}).status_code == 422


def test_api_degrades_without_redis(fraud_csv: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    _train(fraud_csv, artifacts)
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]  # free, then closed: nothing listens there
    _module, client = _load_app(tmp_path, artifacts, port)
    assert client.get("/health").status_code == 503 and client.get("/health").json()["redis"] is False
    answer = client.post("/predict", json={"card1": 1005, "amount": 10})
    assert answer.status_code == 200 and answer.json()["cached"] is None, "predictions go on without the cache"
    assert client.get("/stats").status_code == 503
    assert "fraud_api_redis_up 0" in client.get("/metrics").text


# --- a real stack, with the containers service -----------------------------------------------------


@pytest.fixture(scope="module")
def engine_env():
    from autograder.services.commands import ensure

    exports = ensure(["containers"])
    saved = {k: os.environ.get(k) for k in exports}
    os.environ.update(exports)
    yield exports
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.services
@pytest.mark.slow
def test_up_honours_conditions_and_down_removes_everything(engine_env, tmp_path: Path) -> None:
    base = engine_env["BASE_IMAGE"]
    project = f"labkit-compose-{uuid.uuid4().hex[:6]}"
    spec = {
        "services": {
            "db": {
                "image": base,
                "command": ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 300"],
                "healthcheck": {"test": ["CMD-SHELL", "test -f /tmp/ready"], "interval": "2s", "retries": 3},
                "volumes": ["data:/data"],
            },
            "job": {
                "image": base,
                "command": ["sh", "-c", "sleep 1; echo done > /data/job"],
                "volumes": ["data:/data"],
            },
            "app": {
                "image": base,
                "command": ["sleep", "300"],
                "depends_on": {
                    "db": {"condition": "service_healthy"},
                    "job": {"condition": "service_completed_successfully"},
                },
            },
        },
        "volumes": {"data": {}},
    }
    file = tmp_path / "compose.yaml"
    file.write_text(yaml.safe_dump(spec))
    try:
        rows = {r["service"]: r for r in compose.up(project, [file], timeout=120)}
        assert rows["job"]["state"] == "exited" and rows["job"]["exit_code"] == 0
        assert rows["app"]["running"] and rows["db"]["running"]
        assert rows["app"]["started_at"] > rows["job"]["finished_at"]
        assert compose.health(rows["db"]["name"]) == "healthy" and compose.health(rows["app"]["name"]) == "none"
        assert [m["Name"] for m in rows["app"]["mounts"]] == []
        assert rows["db"]["mounts"][0]["Name"] == f"{project}_data"
        # a failing one-shot stops the dependants from starting, with its exit code in the error
        spec["services"]["job"]["command"] = ["sh", "-c", "exit 3"]
        file.write_text(yaml.safe_dump(spec))
        with pytest.raises(compose.ComposeError, match="exited with 3"):
            compose.up(project, [file], recreate=["job", "app"], timeout=60)
        assert not compose.container(project, "app")["running"]
    finally:
        compose.down(project, [file])
    assert compose.ps(project) == []
    volumes = compose.engine("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}")
    assert volumes.split() == []
