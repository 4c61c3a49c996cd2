"""Redis from Debian's redis-server package, in-memory (no RDB/AOF files)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlparse

from autograder.services.base import (
    HOST,
    ContainerSpec,
    Running,
    Service,
    data_dir,
    pick_port,
    spawn,
    which,
)


def exports_for(host: str, port: int) -> dict[str, str]:
    return {"REDIS_URL": f"redis://{host}:{port}/0", "REDIS_HOST": host, "REDIS_PORT": str(port)}


class Redis(Service):
    name = "redis"
    endpoint_var = "REDIS_URL"
    start_timeout = 15.0

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        binary = which("redis-server", "apt-get install -y redis-server")
        port = pick_port(self.preferred_port())
        workdir = data_dir(self.name)
        argv = [binary, "--bind", HOST, "--port", str(port), "--dir", str(workdir)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]
        proc = spawn(self.name, argv)
        exports = exports_for(HOST, port)
        return Running(self.name, "native", exports["REDIS_URL"], exports, [proc], {"redis": port}, str(self.log()))

    def probe(self, run: Running) -> bool:
        u = urlparse(run.endpoint)
        return ping(u.hostname or HOST, u.port or 6379)

    def external_exports(self, value: str) -> dict[str, str]:
        u = urlparse(value)
        return {"REDIS_URL": value, "REDIS_HOST": u.hostname or HOST, "REDIS_PORT": str(u.port or 6379)}

    def container_spec(self) -> ContainerSpec:
        return ContainerSpec("redis:7", {6379: None}, ready_log="Ready to accept connections")

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        return exports_for(HOST, host_port(6379))

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """Labs keep their keys under `<lab>:`; reset deletes them (other labs untouched)."""
        import redis

        r = redis.Redis.from_url(run.endpoint)
        prefix = f"{lab}:"
        batch = list(r.scan_iter(match=prefix + "*", count=500))
        if batch:
            r.delete(*batch)
        return {"LABS_NAMESPACE": lab, "REDIS_KEY_PREFIX": prefix}


def ping(host: str, port: int) -> bool:
    """Raw RESP PING: no client library needed for the probe."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


SERVICE = Redis()
