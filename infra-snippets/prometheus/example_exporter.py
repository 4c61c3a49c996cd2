"""A stand-in ML system that exposes the metrics the rules and dashboards use.

    python infra-snippets/prometheus/example_exporter.py --port 9400

Simulates a model API (requests, 5xx, latency histogram), a Kafka consumer group's lag,
feature-view materialization timestamps and per-feature drift (PSI). Labs point Prometheus
at it to practise PromQL before the real services exist. Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import random
import threading
import time

from prometheus_client import Counter, Gauge, Histogram, start_http_server

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "route", "code"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Request latency",
    ["service", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
PREDICTIONS = Counter("model_predictions_total", "Predictions served", ["model", "version"])
LAG = Gauge("kafka_consumergroup_lag", "Messages behind the log end", ["consumergroup", "topic", "partition"])
MATERIALIZED = Gauge(
    "feature_view_last_materialized_timestamp_seconds",
    "Unix time of the last successful materialization",
    ["feature_view"],
)
DRIFT = Gauge("model_feature_drift_psi", "Population stability index vs. training data", ["model", "feature"])


def tick(rng: random.Random, now: float) -> None:
    for _ in range(rng.randint(20, 40)):
        code = "500" if rng.random() < 0.01 else "200"
        REQUESTS.labels("churn", "/predict", code).inc()
        LATENCY.labels("churn", "/predict").observe(rng.lognormvariate(-3.5, 0.6))
        PREDICTIONS.labels("churn", "v3").inc()
    for partition in ("0", "1", "2"):
        LAG.labels("feature-writer", "events", partition).set(rng.randint(0, 500))
    MATERIALIZED.labels("user_stats").set(now - rng.uniform(60, 600))
    MATERIALIZED.labels("item_stats").set(now - rng.uniform(60, 900))
    for feature, base in (("monthly_charges", 0.05), ("tenure_months", 0.02), ("support_calls", 0.12)):
        DRIFT.labels("churn", feature).set(base + rng.uniform(0, 0.03))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between simulated ticks")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tick(rng, time.time())  # every series exists before the first scrape
    start_http_server(args.port, addr=args.host)
    stop = threading.Event()
    try:
        while not stop.wait(args.interval):
            tick(rng, time.time())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
