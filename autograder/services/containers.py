"""The container provider: one service as a container, through testcontainers.

Works against Docker or podman's Docker-compatible API (see `podman.py`). Ports are
published on 127.0.0.1 only; readiness is a log line polled against a deadline.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from autograder import paths
from autograder.services.base import HOST, MissingDependency, ServiceError
from autograder.services.container_engine import find_engine, is_podman

LABEL = "org.mlops-labs.managed"  # marks containers this harness may replace or remove
COMPOSE_FILE = paths.REPO_ROOT / "docker" / "compose.yaml"


def docker_host() -> str | None:
    """DOCKER_HOST of the engine that answers now (≤1 s), or None."""
    from autograder.services.podman import socket_path

    return find_engine(socket_path(), budget=1.0)


def docker_available() -> bool:
    """True when a Docker-compatible engine answers: DOCKER_HOST, the Docker socket or a podman socket."""
    return docker_host() is not None


def _require_host() -> str:
    host = docker_host()
    if host is None:
        raise MissingDependency(
            "no Docker-compatible engine answers: start Docker, or run "
            "`bash scripts/install-container-deps.sh` and `python -m autograder.services.podman socket`"
        )
    return host


@lru_cache(maxsize=8)
def _configure_testcontainers(host: str) -> None:
    """Ryuk (the reaper) is a pulled image that mounts the socket: off on podman, where neither works."""
    from testcontainers.core.config import testcontainers_config

    if is_podman(host):
        testcontainers_config.ryuk_disabled = True


def _client(host: str) -> Any:
    import docker

    return docker.DockerClient(base_url=host, timeout=60)


@dataclass
class ContainerHandle:
    """A started container; `stop()` removes it (and its anonymous volumes)."""

    name: str
    id: str
    docker_host: str
    _container: Any = field(repr=False)  # testcontainers DockerContainer

    def host_port(self, container_port: int) -> int:
        """The 127.0.0.1 port that publishes container_port (tcp)."""
        api = self._container.get_docker_client().client.api
        for binding in api.port(self.id, container_port) or []:
            if binding.get("HostIp") in (HOST, "") and binding.get("HostPort"):
                return int(binding["HostPort"])
        raise ServiceError(f"container {self.name}: port {container_port} is not published on {HOST}")

    def logs(self) -> str:
        out, err = self._container.get_logs()
        return (out + err).decode(errors="replace")

    def stop(self, grace: float = 5) -> None:
        """Stop (the image's stop signal, then SIGKILL after `grace` s) and remove."""
        _remove(self._container.get_wrapped_container(), grace)
        with contextlib.suppress(Exception):
            self._container.get_docker_client().client.close()


def _remove(container: Any, grace: float = 5) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        with contextlib.suppress(docker.errors.APIError):  # already stopped
            container.stop(timeout=int(grace))
        container.remove(force=True, v=True)


def _remove_stale(host: str, name: str) -> None:
    """A container left by a killed run blocks the name; replace it only if the harness made it."""
    import docker.errors

    client = _client(host)
    try:
        old = client.containers.get(name)
        if old.labels.get(LABEL) != "true":
            raise ServiceError(f"a container named {name!r} exists and was not started by the labs harness")
        _remove(old)
    except docker.errors.NotFound:
        return
    finally:
        client.close()


def start_container(
    name: str,
    image: str,
    ports: dict[int, int | None],
    env: dict[str, str],
    command: list[str] | None = None,
    ready_log: str | None = None,
    timeout: float = 60,
) -> ContainerHandle:
    """Start `image` as container `name`, ports {container: host or None (any free)} on 127.0.0.1.

    With ready_log, returns once that text appears in the logs (TimeoutError after `timeout`,
    RuntimeError if the container exits first); without, once it is running.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import ContainerStatusWaitStrategy, LogMessageWaitStrategy

    host = _require_host()
    _configure_testcontainers(host)
    _remove_stale(host, name)
    container = DockerContainer(image, docker_client_kw={"environment": {"DOCKER_HOST": host}})
    container.with_name(name).with_kwargs(labels={LABEL: "true"})
    if command:
        container.with_command(command)
    for key, value in env.items():
        container.with_env(key, value)
    for container_port, host_port in ports.items():
        # (ip, port) is docker-py's binding form; with_bind_ports() has no host-IP argument.
        container.ports[f"{container_port}/tcp"] = (HOST, host_port)
    strategy: Any = (
        LogMessageWaitStrategy(re.compile(re.escape(ready_log))) if ready_log else ContainerStatusWaitStrategy()
    )
    container.waiting_for(strategy.with_startup_timeout(int(max(timeout, 1))).with_poll_interval(0.2))
    try:
        container.start()
    except BaseException:
        with contextlib.suppress(Exception):
            _remove(container.get_wrapped_container(), grace=0)
        raise
    return ContainerHandle(name=name, id=container.get_container_id(), docker_host=host, _container=container)


def stop_container(name_or_id: str) -> None:
    """Remove a container by name or id (from another process than the one that started it)."""
    import docker.errors

    host = docker_host()
    if host is None:
        return
    client = _client(host)
    try:
        _remove(client.containers.get(name_or_id))
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


def compose_images() -> dict[str, str]:
    """Pinned image of each service in docker/compose.yaml (one source of truth for tags)."""
    import yaml

    data = yaml.safe_load(COMPOSE_FILE.read_text())
    return {name: svc["image"] for name, svc in data["services"].items() if "image" in svc}
