"""labkit.containerized: the in-image programs run on the host, the engine helpers against the real engine."""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlops_datasets import load
from mlops_datasets import path as dataset_path
from sklearn.linear_model import LogisticRegression

import labkit.fraud
from labkit import containerized, containers
from labkit.containerized import JobResult, Step

# ---------------------------------------------------------------- the API app, served in-process


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> tuple[Path, LogisticRegression]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((200, len(labkit.fraud.FEATURES))), columns=labkit.fraud.FEATURES)
    y = (X["night"] > 0.7).astype(int)
    model = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(model, path)
    return path, model


def load_app(tmp_path: Path, monkeypatch, model_path: Path, **env: str):
    """Import FRAUD_API_APP as a fresh module with `env` set (it reads its configuration at import)."""
    for key in ("API_KEY", "API_KEY_FILE", "THRESHOLD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(model_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    source = tmp_path / f"app_{uuid.uuid4().hex[:8]}.py"
    source.write_text(containerized.FRAUD_API_APP)
    spec = importlib.util.spec_from_file_location(source.stem, source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAYLOAD = {"log_amount": 3.2, "round_amount": 0, "hour": 2, "night": 1, "product_C": 0, "product_W": 1,
           "device_missing": 0, "risky_email": 0, "card_tx_last_hour": 1}  # fmt: skip


def test_api_scores_with_the_packaged_model(tmp_path, monkeypatch, model_file):
    path, model = model_file
    app = load_app(tmp_path, monkeypatch, path)
    client = TestClient(app.app)
    health = client.get("/health").json()
    assert health["auth"] is False
    assert health["model_sha256"] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()[:12]
    expected = model.predict_proba(pd.DataFrame([PAYLOAD], columns=labkit.fraud.FEATURES).astype(float))[0, 1]
    got = client.post("/predict", json=PAYLOAD).json()
    assert abs(got["fraud_probability"] - expected) < 1e-9
    assert got["is_fraud"] == (expected >= 0.5)
    batch = client.post("/predict/batch", json={"transactions": [PAYLOAD, PAYLOAD]})
    assert batch.status_code == 200 and len(batch.json()) == 2


def test_api_rejects_bad_input(tmp_path, monkeypatch, model_file):
    client = TestClient(load_app(tmp_path, monkeypatch, model_file[0]).app)
    assert client.post("/predict", json={**PAYLOAD, "hour": 24}).status_code == 422
    assert client.post("/predict", json={**PAYLOAD, "colour": "red"}).status_code == 422
    assert client.post("/predict/batch", json={"transactions": []}).status_code == 422


def test_api_key_from_a_file(tmp_path, monkeypatch, model_file):
    key_file = tmp_path / "api_key"
    key_file.write_text("s3cret\n")
    client = TestClient(load_app(tmp_path, monkeypatch, model_file[0], API_KEY_FILE=str(key_file)).app)
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json=PAYLOAD).status_code == 401
    assert client.post("/predict", json=PAYLOAD, headers={"X-API-Key": "nope"}).status_code == 403
    assert client.post("/predict", json=PAYLOAD, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_api_key_from_the_environment_also_works(tmp_path, monkeypatch, model_file):
    client = TestClient(load_app(tmp_path, monkeypatch, model_file[0], API_KEY="envkey").app)
    assert client.post("/predict", json=PAYLOAD).status_code == 401
    assert client.post("/predict", json=PAYLOAD, headers={"X-API-Key": "envkey"}).status_code == 200


# ---------------------------------------------------------------- the ETL job


@pytest.fixture()
def etl_dir(tmp_path) -> Path:
    (tmp_path / "etl.py").write_text(containerized.ETL_JOB)
    shutil.copy(labkit.fraud.__file__, tmp_path / "fraud_features.py")
    return tmp_path


def run_etl(etl_dir: Path, *args: str, source: str | None = None) -> subprocess.CompletedProcess:
    source = source or str(dataset_path("fraud") / "transactions.csv")
    argv = [sys.executable, "etl.py", *args, "--source", source, "--out", str(etl_dir / "out")]
    return subprocess.run(argv, cwd=etl_dir, capture_output=True, text=True, timeout=120)


def test_etl_writes_one_day_partitioned_by_product(etl_dir):
    done = run_etl(etl_dir, "--date", "2018-01-15")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    got = pd.read_parquet(etl_dir / "out" / "date=2018-01-15").set_index("TransactionID").sort_index()
    tx = load("fraud")["transactions"]
    start = 45 * 86400  # 2018-01-15 is 45 days after the reference date 2017-12-01
    feats = labkit.fraud.feature_frame(tx)
    day = tx.loc[feats.index]
    mask = ((day.TransactionDT >= start) & (day.TransactionDT < start + 86400)).to_numpy()
    expected = feats[mask].set_axis(day.TransactionID[mask].to_numpy()).sort_index()
    assert summary["rows"] == len(expected) == len(got) > 0
    assert np.allclose(got[labkit.fraud.FEATURES].to_numpy(float), expected.to_numpy(float))
    products = sorted(p.name for p in (etl_dir / "out" / "date=2018-01-15").iterdir())
    assert products == sorted(f"ProductCD={c}" for c in summary["partitions"])


def test_etl_rerun_replaces_the_partition(etl_dir):
    assert run_etl(etl_dir, "--date", "2017-12-02").returncode == 0
    assert run_etl(etl_dir, "--date", "2017-12-02").returncode == 0
    assert len(pd.read_parquet(etl_dir / "out" / "date=2017-12-02")) == 86  # not 2 x 86
    assert not list((etl_dir / "out").glob(".*tmp"))


@pytest.mark.parametrize(
    ("args", "source", "code"),
    [
        (["--date", "2018-02-30"], None, 2),  # not a date
        ([], None, 2),  # --date missing
        (["--date", "2019-06-01"], None, 3),  # no transactions that day
        (["--date", "2017-12-02"], "/nonexistent/raw.csv", 4),
    ],
)
def test_etl_exit_codes_on_bad_input(etl_dir, args, source, code):
    done = run_etl(etl_dir, *args, source=source)
    assert done.returncode == code, done.stderr
    assert not (etl_dir / "out").exists() or not any((etl_dir / "out").iterdir())


def test_etl_rejects_input_without_the_columns(etl_dir):
    bad = etl_dir / "bad.csv"
    bad.write_text("TransactionID,TransactionDT\n1,90000\n")
    assert run_etl(etl_dir, "--date", "2017-12-02", source=str(bad)).returncode == 4


# ---------------------------------------------------------------- the limits probe


def run_probe(tmp_path: Path, *args: str, preexec=None) -> subprocess.CompletedProcess:
    (tmp_path / "probe.py").write_text(containerized.LIMITS_PROBE)
    return subprocess.run(
        [sys.executable, str(tmp_path / "probe.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=preexec,
    )


def test_probe_reports_and_exits_like_its_worker(tmp_path):
    done = run_probe(tmp_path, "--alloc-mb", "8", "--burn-s", "0.2")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["worker_exit"] == 0 and report["worker_signal"] is None and report["oom_kills"] == 0
    assert report["affinity"] == sorted(os.sched_getaffinity(0))
    assert 0 < report["worker_cpu_s"] <= report["worker_wall_s"] * (os.cpu_count() or 1) + 0.1


def test_probe_passes_a_failing_worker_on(tmp_path):
    # An address-space cap makes the 512 MiB allocation fail: the worker exits 1 (MemoryError), not 0.
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (400 * 2**20, 400 * 2**20))

    done = run_probe(tmp_path, "--alloc-mb", "512", preexec=cap)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["worker_exit"] == 1 and report["worker_signal"] is None


# ---------------------------------------------------------------- small pieces


def test_last_json_skips_noise():
    result = JobResult(0, 'INFO starting\n{"rows": 3}\nnot json {\n', {"HostConfig": {"Memory": 5}})
    assert result.last_json() == {"rows": 3}
    assert result.host_config == {"Memory": 5} and result.oom_killed is False
    assert JobResult(1, "only text", {}).last_json() is None


def test_step_key_changes_with_time_or_instruction():
    a = Step("2026-01-01T00:00:00.1Z", "RUN pip install")
    assert a.key == Step("2026-01-01T00:00:00.1Z", "RUN pip install", True).key
    assert a.key != Step("2026-01-01T00:00:05.3Z", "RUN pip install").key
    assert a.key != Step("2026-01-01T00:00:00.1Z", "COPY etl.py").key


def test_secret_leaks_needs_a_secret():
    with pytest.raises(ValueError):
        containerized.secret_leaks("")


# ---------------------------------------------------------------- against the engine


@pytest.fixture(scope="module")
def engine_env():
    from autograder.services.commands import ensure

    exports = ensure(["containers"])
    saved = {k: os.environ.get(k) for k in [*exports, "BUILDAH_FORMAT"]}
    os.environ.update(exports)
    os.environ["BUILDAH_FORMAT"] = "docker"
    yield exports
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.services
def test_run_job_keeps_exit_code_logs_and_limits(engine_env):
    name = f"labkit-job-{uuid.uuid4().hex[:8]}"
    script = "echo out; echo err >&2; echo '{\"a\": 1}'; exit 3"
    job = containerized.run_job(engine_env["BASE_IMAGE"], "sh", "-c", script, name=name, options=["--memory", "64m"])
    assert job.exit_code == 3
    assert "out" in job.logs and "err" in job.logs and job.last_json() == {"a": 1}
    assert job.host_config["Memory"] == 64 * 2**20
    assert not containers.exists(name, kind="container"), "run_job removes the container"


@pytest.mark.services
def test_history_secret_leaks_and_cache_reuse(engine_env, tmp_path):
    tag = f"localhost/labkit-cz-{uuid.uuid4().hex[:8]}"
    (tmp_path / "note.txt").write_text("one\n")
    (tmp_path / "Containerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nARG TOKEN\nENV TOKEN=${TOKEN}\nRUN echo deps > /deps\nCOPY note.txt /note.txt\n"
        'HEALTHCHECK CMD ["test", "-f", "/note.txt"]\nCMD ["sleep", "60"]\n'
    )
    secret = f"tok-{uuid.uuid4().hex}"
    name = f"labkit-cz-{uuid.uuid4().hex[:8]}"
    try:
        containers.build(tmp_path, f"{tag}:1", build_args={"BASE": engine_env["BASE_IMAGE"], "TOKEN": secret})
        leaks = containerized.secret_leaks(secret, images=[f"{tag}:1"])
        assert any(w.startswith("history") for w in leaks) and any(w.startswith("inspect of image") for w in leaks)
        assert containerized.secret_leaks("never-used-value", images=[f"{tag}:1"]) == []
        (tmp_path / "note.txt").write_text("two\n")
        containers.build(tmp_path, f"{tag}:2", build_args={"BASE": engine_env["BASE_IMAGE"], "TOKEN": secret})
        old = {s.key for s in containerized.history(f"{tag}:1")}
        new = containerized.history(f"{tag}:2")
        run_step = next(s for s in new if "echo deps" in s.created_by)
        copy_step = next(s for s in new if "COPY" in s.created_by and "note.txt" in s.created_by)
        assert run_step.key in old, "the RUN before the changed COPY comes from the cache"
        assert copy_step.key not in old and not copy_step.empty_layer
        containers.engine("run", "-d", "--name", name, f"{tag}:2", timeout=120)
        assert containerized.healthcheck_status(name) == 0
        containers.engine("exec", name, "rm", "/note.txt", timeout=60)
        assert containerized.healthcheck_status(name) not in (0, None)
    finally:
        containers.remove(name, kind="container")
        containers.remove(f"{tag}:1", f"{tag}:2")
