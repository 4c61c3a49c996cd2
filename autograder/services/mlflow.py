"""MLflow tracking server + model registry.

Backend store: sqlite (default) or PostgreSQL (LABS_MLFLOW_BACKEND=postgres).
Artifacts: proxied by the server to S3 on moto (default, LABS_MLFLOW_ARTIFACTS=s3)
or a local directory (LABS_MLFLOW_ARTIFACTS=local).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from autograder.services.base import (
    HOST,
    ContainerSpec,
    MissingDependency,
    Running,
    Service,
    ServiceError,
    cache_dir,
    data_dir,
    http_ok,
    pick_port,
    spawn,
)

ARTIFACT_BUCKET = "mlflow-artifacts"


def backend() -> str:
    return os.environ.get("LABS_MLFLOW_BACKEND", "sqlite")


def artifacts() -> str:
    return os.environ.get("LABS_MLFLOW_ARTIFACTS", "s3")


class Mlflow(Service):
    name = "mlflow"
    endpoint_var = "MLFLOW_TRACKING_URI"
    start_timeout = 150.0  # cold imports on a busy 2-core machine

    def dependencies(self) -> tuple[str, ...]:
        deps = []
        if artifacts() == "s3":
            deps.append("aws")
        if backend() == "postgres":
            deps.append("postgres")
        elif backend() != "sqlite":
            raise ServiceError(f"LABS_MLFLOW_BACKEND={backend()!r}: use 'sqlite' or 'postgres'")
        return tuple(deps)

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        if importlib.util.find_spec("mlflow") is None:
            raise MissingDependency("mlflow is not installed: `pip install mlflow`")
        root = data_dir(self.name)
        env = {
            # The job-execution subsystem costs ~1.4 GB and ~10 s; labs don't use it.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        exports: dict[str, str] = {}
        if backend() == "postgres":
            from autograder.services.postgres import create_database, dsn

            pg = deps["postgres"]
            db = create_database(pg, "mlflow")
            store = dsn(pg.exports.get("PGHOST", HOST), int(pg.exports["PGPORT"]), db, "postgresql+psycopg2")
        else:
            db = root / "mlflow.db"
            if not db.exists() and _template_db().exists():
                shutil.copyfile(_template_db(), db)  # skips ~7 s of schema migrations
            store = f"sqlite:///{db}"
        if artifacts() == "s3":
            from autograder.services.aws import ensure_bucket

            aws = deps["aws"]
            ensure_bucket(aws.endpoint, ARTIFACT_BUCKET)
            destination = f"s3://{ARTIFACT_BUCKET}"
            env.update(aws.exports)
            env["MLFLOW_S3_ENDPOINT_URL"] = aws.endpoint
            exports["MLFLOW_S3_ENDPOINT_URL"] = aws.endpoint
        else:
            destination = str(root / "artifacts")
        port = pick_port(self.preferred_port())
        argv = [sys.executable, "-m", "autograder.services.mlflow_exec", "server", "--host", HOST, "--port", str(port)]
        argv += ["--workers", "1", "--backend-store-uri", store, "--artifacts-destination", destination]
        proc = spawn(self.name, argv, env=env, cwd=root)
        url = f"http://{HOST}:{port}"
        exports = {"MLFLOW_TRACKING_URI": url, **exports}
        extra = {"backend": store.split(":", 1)[0], "artifacts": destination}
        return Running(self.name, "native", url, exports, [proc], {"http": port}, str(self.log()), extra=extra)

    def probe(self, run: Running) -> bool:
        return http_ok(f"{run.endpoint}/health")

    def after_ready(self, run: Running) -> None:
        """Keep the freshly migrated, still empty sqlite DB as the template for the next cold start."""
        db = data_dir(self.name) / "mlflow.db"
        template = _template_db()
        if run.extra.get("backend") != "sqlite" or template.exists() or not db.exists():
            return
        partial = template.with_suffix(f".{os.getpid()}.partial")
        with sqlite3.connect(db) as src, sqlite3.connect(partial) as dst:
            if src.execute("SELECT count(*) FROM runs").fetchone()[0]:
                return  # not empty any more: no template from it
            src.backup(dst)  # a consistent copy while the server runs
        partial.replace(template)

    def container_spec(self) -> ContainerSpec:
        cmd = ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--workers", "1"]
        return ContainerSpec(
            "ghcr.io/mlflow/mlflow:latest",
            {5000: None},
            {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            cmd,
            ready_log="Uvicorn running",
        )

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": f"http://{HOST}:{host_port(5000)}"}

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """Runs of experiment `<lab>` and registered models named `<lab>-*` are deleted."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=run.endpoint)
        exp = client.get_experiment_by_name(lab)
        if exp is not None:
            for r in client.search_runs([exp.experiment_id], max_results=5000):
                client.delete_run(r.info.run_id)
        prefix = re.sub(r"[^\w.-]", "-", lab) + "-"
        for m in client.search_registered_models(filter_string=f"name LIKE '{prefix}%'"):
            client.delete_registered_model(m.name)
        return {"LABS_NAMESPACE": lab, "MLFLOW_EXPERIMENT_NAME": lab, "MLFLOW_MODEL_PREFIX": prefix}


def _template_db() -> Path:
    return cache_dir() / f"mlflow-{importlib.metadata.version('mlflow')}-empty.db"


SERVICE = Mlflow()
