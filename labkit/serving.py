"""Serve an ASGI app (FastAPI, Starlette) from a notebook with uvicorn on a background thread.

The labs that build model-serving APIs define the app in the notebook and test it
with a real HTTP client against a real socket: `serve_app(app)` starts uvicorn on
127.0.0.1 and a free port, waits until it accepts requests, and returns a handle
with `.url` and `.stop()`. In production the same app runs as
`python -m uvicorn module:app --host 0.0.0.0 --port 8000 --workers N`.

Also: `parse_metrics(text)`, the Prometheus text format as {(name, labels): value}.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field

from labkit.net import HOST, free_port, poll

_SERVING: list[ServedApp] = []


@dataclass
class ServedApp:
    url: str
    port: int
    server: object = field(repr=False)
    thread: threading.Thread = field(repr=False)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to finish in-flight requests and exit, then wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self in _SERVING:
            _SERVING.remove(self)


def serve_app(app, port: int | None = None, timeout: float = 30.0, log_level: str = "error") -> ServedApp:
    """Run `app` with uvicorn on 127.0.0.1:`port` (a free one by default) until `.stop()`.

    Uvicorn logs only errors (to stderr) so a healthy app keeps the notebook quiet.
    Raises RuntimeError with the reason if the server does not start.
    """
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        app, host=HOST, port=port, log_level=log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run()  # uvicorn installs no signal handlers off the main thread
        except BaseException as exc:  # SystemExit on a bind error
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    served = ServedApp(f"http://{HOST}:{port}", port, server, thread)
    try:
        poll(lambda: server.started or not thread.is_alive(), timeout, f"uvicorn on port {port}", interval=0.05)
    except TimeoutError:
        served.stop(2.0)
        raise
    if not server.started:
        raise RuntimeError(f"uvicorn did not start on port {port}: {errors[0] if errors else 'it exited'}")
    _SERVING.append(served)
    return served


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a /metrics page: {(sample name, sorted label pairs): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def stop_all() -> None:
    for served in list(_SERVING):
        served.stop(2.0)


atexit.register(stop_all)
