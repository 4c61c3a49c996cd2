"""Numbers out of a container engine's debugging commands, and time-to-first-response of an HTTP container.

`stats --no-stream --format json` prints human strings ("454.7kB / 25.28GB", "49.57ms", "33.73%");
the helpers here turn them into bytes, seconds and percents so labs can compute with them.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from labkit.containers import engine

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DURATIONS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: str) -> int:
    """'454.7kB' -> 454700, '1.5GiB' -> 1610612736, '90B' -> 90 (decimal and binary units)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_percent(text: str) -> float:
    """'33.73%' -> 33.73; '--' (no data yet) -> 0.0."""
    text = text.strip()
    if text in ("--", ""):
        return 0.0
    return float(text.rstrip("%"))


def parse_duration(text: str) -> float:
    """Go duration strings as podman prints CPU time: '49.578549ms', '1.2s', '1m2.5s' -> seconds."""
    parts = re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _DURATIONS[u] for n, u in parts)


@dataclass(frozen=True)
class Usage:
    """One `stats` sample: memory in bytes, cumulative CPU seconds, network bytes received/sent, pids."""

    mem_bytes: int
    mem_limit_bytes: int
    cpu_seconds: float
    cpu_percent: float
    net_rx_bytes: int
    net_tx_bytes: int
    pids: int


def parse_stats(entry: dict) -> Usage:
    """One object of `stats --no-stream --format json` (podman's keys) as numbers."""
    used, _, limit = entry["mem_usage"].partition("/")
    rx, _, tx = entry.get("net_io", "0B / 0B").partition("/")
    cpu = entry.get("cpu_time", "0s")
    return Usage(
        mem_bytes=parse_size(used),
        mem_limit_bytes=parse_size(limit) if limit.strip() else 0,
        cpu_seconds=parse_duration(cpu) if cpu.strip() else 0.0,
        cpu_percent=parse_percent(entry.get("cpu_percent", "0%")),
        net_rx_bytes=parse_size(rx) if rx.strip() else 0,
        net_tx_bytes=parse_size(tx) if tx.strip() else 0,
        pids=int(entry.get("pids") or 0),
    )


def stats(container: str, timeout: float = 60) -> Usage:
    """Sample a running container once (`stats --no-stream --format json`)."""
    data = json.loads(engine("stats", "--no-stream", "--format", "json", container, timeout=timeout))
    return parse_stats(data[0] if isinstance(data, list) else data)


def first_good_response(url: str, timeout: float = 60, interval: float = 0.05) -> float:
    """Seconds until `GET url` first answers 200 (connection refused/reset and errors are retried).

    Raises TimeoutError if it never does within `timeout`.
    """
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return time.perf_counter() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


def timed_post(url: str, payload: dict, timeout: float = 60) -> tuple[float, dict]:
    """POST JSON; (seconds the request took, parsed JSON answer)."""
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = json.load(resp)
    return time.perf_counter() - t0, body
