"""Minimal model server: /healthz, /ready, /predict and Prometheus /metrics, stdlib HTTP only.

The "model" is a fixed logistic function so the image needs nothing but prometheus-client.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "route", "code"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Request latency",
    ["service", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
WEIGHTS = {"tenure_months": -0.08, "monthly_charges": 0.03, "support_calls": 0.4}


def predict(features: dict[str, float]) -> float:
    z = sum(WEIGHTS[k] * float(features.get(k, 0.0)) for k in WEIGHTS) - 1.0
    return 1.0 / (1.0 + math.exp(-z))


class Handler(BaseHTTPRequestHandler):
    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path in ("/healthz", "/ready"):
            self._send(200, b'{"status":"ok"}')
        elif self.path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
        else:
            self._send(404, b'{"error":"not found"}')

    def do_POST(self) -> None:
        start = time.perf_counter()
        code = 200
        try:
            if self.path != "/predict":
                code = 404
                self._send(code, b'{"error":"not found"}')
                return
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length) or b"{}")
            score = predict(payload.get("features", {}))
            self._send(code, json.dumps({"churn_probability": round(score, 6)}).encode())
        except (ValueError, KeyError, TypeError) as exc:
            code = 400
            self._send(code, json.dumps({"error": str(exc)}).encode())
        finally:
            REQUESTS.labels("model-api", self.path, str(code)).inc()
            LATENCY.labels("model-api", self.path).observe(time.perf_counter() - start)

    def log_message(self, format: str, *args: object) -> None:
        return  # access logs come from the ingress; keep stdout for errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
