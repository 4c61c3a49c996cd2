"""Ports and readiness polling (poll with a deadline; never a fixed sleep)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

HOST = "127.0.0.1"


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Call `check` until it returns True; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0, context=None) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def wait_for_port(port: int, timeout: float = 30.0, host: str = HOST) -> None:
    poll(lambda: port_open(port, host), timeout, f"{host}:{port}")


def wait_for_http(url: str, timeout: float = 60.0, ok: tuple[int, ...] = (200,)) -> None:
    poll(lambda: http_status(url) in ok, timeout, url)
