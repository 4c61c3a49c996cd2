"""Daily feature pipeline (Airflow 3, TaskFlow API): extract -> validate -> build features -> publish.

Idempotent by design: every task writes under a directory keyed by the logical date,
so a retry or a backfill overwrites its own day and nothing else.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {
    "owner": "ml-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}


@dag(
    dag_id="feature_pipeline",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # turn on deliberately for backfills
    max_active_runs=1,  # days build on each other's outputs
    default_args=DEFAULT_ARGS,
    params={"data_root": "/tmp/feature-pipeline", "min_rows": 100},
    tags=["mlops", "features"],
)
def feature_pipeline() -> None:
    @task
    def extract() -> str:
        ctx = get_current_context()
        day = ctx["ds"]
        out = Path(ctx["params"]["data_root"]) / day / "raw.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(day)  # deterministic per day: reruns reproduce the same data
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["user_id", "sessions", "spend"])
            for user in range(500):
                writer.writerow([user, rng.randint(0, 20), round(rng.uniform(0, 200), 2)])
        return str(out)

    @task
    def validate(raw_path: str) -> str:
        rows = list(csv.DictReader(Path(raw_path).read_text().splitlines()))
        min_rows = int(get_current_context()["params"]["min_rows"])
        if len(rows) < min_rows:
            raise ValueError(f"only {len(rows)} rows, expected >= {min_rows}")
        bad = [r for r in rows if float(r["spend"]) < 0 or int(r["sessions"]) < 0]
        if bad:
            raise ValueError(f"{len(bad)} rows with negative values")
        return raw_path

    @task
    def build_features(raw_path: str) -> str:
        rows = list(csv.DictReader(Path(raw_path).read_text().splitlines()))
        features = {
            r["user_id"]: {
                "sessions": int(r["sessions"]),
                "spend_per_session": float(r["spend"]) / max(1, int(r["sessions"])),
            }
            for r in rows
        }
        out = Path(raw_path).with_name("features.json")
        out.write_text(json.dumps(features))
        return str(out)

    @task
    def publish(features_path: str) -> dict[str, int]:
        # In production: feast materialize / write to the online store. Here: a manifest.
        features = json.loads(Path(features_path).read_text())
        manifest = {"rows": len(features), "version": 1}
        Path(features_path).with_name("_SUCCESS").write_text(json.dumps(manifest))
        return manifest

    publish(build_features(validate(extract())))


feature_pipeline()
