"""Weekly retraining, skipped when there is no drift (Airflow 3): branch on a drift score."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

PSI_THRESHOLD = 0.2  # same threshold as the ModelFeatureDrift alert in infra-snippets/prometheus


@dag(
    dag_id="retrain_on_drift",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"psi": 0.35},
    tags=["mlops", "training"],
)
def retrain_on_drift() -> None:
    @task
    def measure_drift() -> float:
        # In production: query Prometheus (model:feature_drift_psi:max) or compute PSI from logged inputs.
        return float(get_current_context()["params"]["psi"])

    @task.branch
    def decide(psi: float) -> str:
        return "retrain" if psi > PSI_THRESHOLD else "skip"

    @task
    def retrain() -> str:
        return "trained model v-next"

    @task
    def skip() -> str:
        return "no drift: keeping the current model"

    decision = decide(measure_drift())
    decision >> [retrain(), skip()]


retrain_on_drift()
