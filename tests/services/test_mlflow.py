from __future__ import annotations

from pathlib import Path

import boto3
import numpy as np
import pytest

pytestmark = [pytest.mark.services("mlflow", "aws"), pytest.mark.timeout(240)]


def test_run_register_alias_load_predict(stack: dict[str, str]) -> None:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    uri = stack["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("services-test")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("accuracy", float(model.score(X, y)))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="services-test-clf")
    client = MlflowClient(uri)
    version = info.registered_model_version
    client.set_registered_model_alias("services-test-clf", "champion", version)
    assert client.get_model_version_by_alias("services-test-clf", "champion").version == str(version)

    loaded = mlflow.pyfunc.load_model("models:/services-test-clf@champion")
    pred = loaded.predict(X[:10])
    assert list(pred) == list(model.predict(X[:10]))
    assert client.get_run(run.info.run_id).data.metrics["accuracy"] > 0.9

    # Artifacts went through the server's proxy to S3 on moto.
    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow-artifacts").get("Contents", [])]
    assert any(k.endswith("MLmodel") for k in keys), keys


@pytest.mark.services
def test_postgres_backend_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LABS_MLFLOW_BACKEND=postgres: runs land in a `mlflow` database on the native PostgreSQL."""
    import mlflow
    import psycopg2

    from autograder.services import commands

    monkeypatch.setenv("LABS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LABS_MLFLOW_BACKEND", "postgres")
    monkeypatch.setenv("LABS_MLFLOW_ARTIFACTS", "local")
    for var in ("MLFLOW_TRACKING_URI", "POSTGRES_DSN"):
        monkeypatch.delenv(var, raising=False)
    try:
        env = commands.up(["mlflow"], quiet=True)
        assert {r["name"] for r in commands.status(quiet=True)} == {"mlflow", "postgres"}
        mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
        mlflow.set_experiment("pg-backend")
        with mlflow.start_run() as run:
            mlflow.log_metric("rmse", 0.25)
        dsn = env["POSTGRES_DSN"].rsplit("/", 1)[0] + "/mlflow"
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT value FROM metrics WHERE run_uuid = %s AND key = 'rmse'", (run.info.run_id,))
            assert cur.fetchone()[0] == 0.25
    finally:
        commands.down(quiet=True)
