"""Grafana dashboards as code: build the JSON from a few Python helpers.

    python infra-snippets/grafana/generate_dashboards.py            # (re)write dashboards/*.json
    python infra-snippets/grafana/generate_dashboards.py --check    # fail if the JSON is stale

Provision the output with a Grafana file provider (or POST it to /api/dashboards/db).
Every panel query is run against a live Prometheus in the tests, so a renamed metric or
recording rule breaks CI instead of leaving an empty panel in production.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


class Dashboard:
    def __init__(self, uid: str, title: str, tags: list[str]) -> None:
        self.uid, self.title, self.tags = uid, title, tags
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = 0

    def _place(self, width: int, height: int) -> dict[str, int]:
        if self._x + width > 24:  # Grafana's grid is 24 columns wide
            self._x, self._y = 0, self._y + height
        pos = {"x": self._x, "y": self._y, "w": width, "h": height}
        self._x += width
        return pos

    def row(self, title: str) -> None:
        self._x, self._y = 0, self._y + 8 if self.panels else 0
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        self._y += 1

    def panel(
        self,
        title: str,
        exprs: dict[str, str],
        *,
        unit: str = "short",
        kind: str = "timeseries",
        thresholds: list[tuple[str, float | None]] | None = None,
        width: int = 8,
    ) -> None:
        steps = [{"color": color, "value": value} for color, value in (thresholds or [("green", None)])]
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "datasource": DATASOURCE,
                "gridPos": self._place(width, 8),
                "fieldConfig": {
                    "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                    "overrides": [],
                },
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
                "targets": [
                    {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
                    for i, (legend, expr) in enumerate(exprs.items())
                ],
            }
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": self.tags,
            "timezone": "utc",
            "schemaVersion": 39,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {
                "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
            },
            "panels": self.panels,
        }


def ml_platform_slo() -> Dashboard:
    d = Dashboard("ml-platform-slo", "ML platform: SLOs", ["mlops", "slo"])
    d.row("Model API")
    d.panel(
        "Availability (5m)",
        {"{{service}}": "1 - slo:http_error_ratio:rate5m"},
        unit="percentunit",
        kind="stat",
        thresholds=[("red", None), ("orange", 0.995), ("green", 0.999)],
    )
    d.panel(
        "p99 latency",
        {"{{service}}": "slo:http_request_duration_seconds:p99_5m"},
        unit="s",
        thresholds=[("green", None), ("red", 0.5)],
    )
    d.panel(
        "Requests/s by code",
        {"{{code}}": 'sum by (code) (rate(http_requests_total{service="churn"}[5m]))'},
        unit="reqps",
    )
    d.panel("Requests under 250 ms", {"{{service}}": "slo:http_latency_good_ratio:rate5m"}, unit="percentunit")
    d.panel(
        "Predictions/s by model version",
        {"{{model}} {{version}}": "sum by (model, version) (rate(model_predictions_total[5m]))"},
        unit="ops",
    )
    d.row("Data pipeline")
    d.panel(
        "Consumer lag",
        {"{{consumergroup}} / {{topic}}": "kafka:consumergroup_lag:sum"},
        thresholds=[("green", None), ("red", 10000)],
    )
    d.panel(
        "Feature freshness",
        {"{{feature_view}}": "feature:freshness_seconds"},
        unit="s",
        thresholds=[("green", None), ("red", 3600)],
    )
    d.panel(
        "Max drift (PSI) per model",
        {"{{model}}": "model:feature_drift_psi:max"},
        thresholds=[("green", None), ("orange", 0.1), ("red", 0.2)],
    )
    d.panel("Drift (PSI) per feature", {"{{feature}}": 'model_feature_drift_psi{model="churn"}'})
    return d


DASHBOARDS = [ml_platform_slo]


def render() -> dict[str, str]:
    return {f"{b().uid}.json": json.dumps(b().to_json(), indent=2, sort_keys=True) + "\n" for b in DASHBOARDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if dashboards/ differs from the code")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale dashboards (run generate_dashboards.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
