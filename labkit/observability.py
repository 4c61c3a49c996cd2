"""Run a monitoring stack from a notebook: an ASGI app in a thread, Prometheus, Alertmanager, PromQL.

The binaries are the Debian packages (`prometheus`, `prometheus-alertmanager`, with `promtool`
and `amtool`). Every listener binds 127.0.0.1; Alertmanager's gossip port is disabled.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.net import HOST, http_status, poll, port_open
from labkit.process import ManagedProcess, start_process


class AppServer:
    """An ASGI app (FastAPI) served by uvicorn in a background thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        self.url = f"http://{HOST}:{port}"
        config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self, timeout: float = 30.0) -> AppServer:
        self.thread.start()
        poll(lambda: port_open(self.port), timeout, f"app on {self.url}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve_app(app: Any, port: int, timeout: float = 30.0) -> AppServer:
    """Serve `app` on 127.0.0.1:port in a thread; returns once the port accepts connections."""
    return AppServer(app, port).start(timeout)


def start_prometheus(config: Path, port: int, workdir: Path, *, timeout: float = 60.0) -> ManagedProcess:
    """`prometheus` with this config, its TSDB under workdir, reloadable via POST /-/reload."""
    workdir = Path(workdir)
    cmd = [
        "prometheus",
        f"--config.file={Path(config).resolve()}",
        f"--storage.tsdb.path={(workdir / 'tsdb').resolve()}",
        f"--web.listen-address={HOST}:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=1d",
        "--rules.alert.resend-delay=2s",
    ]
    url = f"http://{HOST}:{port}"
    return start_process(
        "prometheus", cmd, ready=lambda: http_status(f"{url}/-/ready") == 200, log_dir=workdir, timeout=timeout
    )


def start_alertmanager(config: Path, port: int, workdir: Path, *, timeout: float = 60.0) -> ManagedProcess:
    """`prometheus-alertmanager` with this config, single node (no gossip port)."""
    workdir = Path(workdir)
    cmd = [
        "prometheus-alertmanager",
        f"--config.file={Path(config).resolve()}",
        f"--storage.path={(workdir / 'alertmanager-data').resolve()}",
        f"--web.listen-address={HOST}:{port}",
        "--cluster.listen-address=",
    ]
    url = f"http://{HOST}:{port}"
    return start_process(
        "alertmanager", cmd, ready=lambda: http_status(f"{url}/-/ready") == 200, log_dir=workdir, timeout=timeout
    )


def reload(url: str, timeout: float = 10.0) -> None:
    """POST /-/reload (Prometheus with --web.enable-lifecycle, or Alertmanager); raises on a bad config."""
    req = urllib.request.Request(f"{url}/-/reload", method="POST")
    urllib.request.urlopen(req, timeout=timeout).close()


def api_get(url: str, path: str, params: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
    """GET a JSON API path (`/api/v1/...` on Prometheus, `/api/v2/...` on Alertmanager)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=timeout) as resp:
        body = json.load(resp)
    return body["data"] if isinstance(body, dict) and "data" in body else body


def query(url: str, promql: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Instant PromQL query against the Prometheus at `url`: the result vector."""
    return api_get(url, "/api/v1/query", {"query": promql}, timeout)["result"]


def value(url: str, promql: str) -> float | None:
    """The first sample's value of an instant query, or None when the result is empty."""
    result = query(url, promql)
    return float(result[0]["value"][1]) if result else None


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Poll `check` (exceptions count as "not yet") until true; TimeoutError naming `what`."""

    def safe() -> bool:
        try:
            return bool(check())
        except Exception:
            return False

    poll(safe, timeout, what, interval)


def tool(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run promtool / amtool; the result carries returncode, stdout and stderr."""
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
