"""Prometheus scrapes a lab's target; an alert rule fires through Alertmanager to the webhook receiver."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from autograder.services import prometheus
from autograder.services.base import HOST, free_port

pytestmark = [pytest.mark.services("prometheus"), pytest.mark.timeout(120)]


def test_scrape_and_alert(stack: dict[str, str]) -> None:
    registry = CollectorRegistry()
    latency = Gauge("model_latency_seconds", "p99 latency of the model server", registry=registry)
    latency.set(0.05)
    port = free_port()
    server, _thread = start_http_server(port, addr=HOST, registry=registry)
    try:
        prometheus.register_target("model-server", f"{HOST}:{port}")
        prometheus.wait_for_target("model-server", timeout=30)
        assert float(prometheus.query('model_latency_seconds{job="model-server"}')[0]["value"][1]) == 0.05

        prometheus.add_rules(
            "latency",
            """
groups:
  - name: latency
    rules:
      - alert: HighModelLatency
        expr: model_latency_seconds{job="model-server"} > 0.5
        for: 0s
        labels: {severity: page}
        annotations: {summary: "p99 latency above 500 ms"}
""",
        )
        latency.set(2.0)
        alert = prometheus.wait_for_alert("HighModelLatency", timeout=60)
        assert alert["labels"]["severity"] == "page"
        assert stack["ALERT_WEBHOOK_LOG"].endswith(".jsonl")
    finally:
        server.shutdown()
        prometheus.unregister_target("model-server")
