"""Find a Docker-compatible engine API (Docker or podman) without importing the docker SDK.

A ping is one raw HTTP request (`GET /_ping`) over the unix socket or TCP address, so a
dead socket costs a refused connect, not a client timeout.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

DOCKER_SOCK = "/var/run/docker.sock"


def _request(docker_host: str, path: str, timeout: float) -> tuple[int, bytes, bytes]:
    """One HTTP GET to the engine; (status, headers, body). Raises OSError when it doesn't answer."""
    url = urlparse(docker_host)
    if url.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: str | tuple[str, int] = url.path
    elif url.scheme in ("tcp", "http"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = (url.hostname or "127.0.0.1", url.port or 2375)
    else:  # ssh:// and TLS hosts: leave those to the docker SDK
        raise OSError(f"unsupported DOCKER_HOST scheme for a quick ping: {docker_host}")
    deadline = time.monotonic() + timeout
    with sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
        data = b""
        # Read to Content-Length: podman keeps the connection open despite "Connection: close".
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError(f"not an HTTP answer from {docker_host}") from None
    return status, head, body


def ping(docker_host: str, timeout: float = 0.5) -> bool:
    """True when the engine at docker_host answers /_ping with OK."""
    try:
        status, _, body = _request(docker_host, "/_ping", timeout)
    except OSError:
        return False
    return status == 200 and body.strip() == b"OK"


def is_podman(docker_host: str, timeout: float = 1.0) -> bool:
    """Podman's compat API adds Libpod-* headers to /_ping (its /version takes ~1 s)."""
    try:
        status, head, _ = _request(docker_host, "/_ping", timeout)
    except OSError:
        return False
    return status == 200 and re.search(rb"(?im)^libpod-api-version:", head) is not None


def candidate_hosts(project_socket: Path | None) -> list[str]:
    """Where to look, in order. An explicit DOCKER_HOST is the only candidate: it is the user's choice."""
    if os.environ.get("DOCKER_HOST"):
        return [os.environ["DOCKER_HOST"]]
    socks = [Path(DOCKER_SOCK)]
    if project_socket is not None:
        socks.append(project_socket)
    socks.append(Path("/run/podman/podman.sock"))
    if os.environ.get("XDG_RUNTIME_DIR"):
        socks.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "podman" / "podman.sock")
    return [f"unix://{s}" for s in socks if s.exists()]


def find_engine(project_socket: Path | None = None, budget: float = 1.0) -> str | None:
    """The first candidate that answers, within `budget` seconds overall."""
    deadline = time.monotonic() + budget
    for host in candidate_hosts(project_socket):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if ping(host, timeout=min(0.5, left)):
            return host
    return None
