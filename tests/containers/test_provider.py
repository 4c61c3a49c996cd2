"""The container provider for real: podman's Docker API + testcontainers + a locally built image."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request

import docker  # ruff files it first-party: the repo has a docker/ folder
import pytest

from autograder.services import containers, podman
from autograder.services.base import ServiceError, free_port, tcp_open
from autograder.services.container_engine import is_podman

pytestmark = pytest.mark.services


def _name(tag: str) -> str:
    return f"labs-test-{tag}-{os.getpid()}"


def _gone(host: str, name: str) -> bool:
    client = docker.DockerClient(base_url=host)
    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return True
    finally:
        client.close()
    return False


def test_engine_is_found_quickly(docker_host: str) -> None:
    t0 = time.monotonic()
    assert containers.docker_available()
    assert time.monotonic() - t0 < 1.0
    assert containers.docker_host() == docker_host
    assert is_podman(docker_host)


def test_containers_conf_is_in_effect(base_image: str) -> None:
    """runc + the ulimits under this machine's hard caps (podman's defaults would fail)."""
    out = podman.podman(["run", "--rm", base_image, "bash", "-c", "ulimit -n; ulimit -u"], timeout=60)
    assert out.split() == ["20000", "32768"]
    runtime = podman.podman(["info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}"])
    assert runtime.split() == ["runc", "cgroupfs"]


def test_start_reach_stop(docker_host: str, http_image: str) -> None:
    name = _name("http")
    handle = containers.start_container(name, http_image, {8000: None}, {}, ready_log="Serving HTTP")
    try:
        port = handle.host_port(8000)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.txt", timeout=5) as r:
            assert r.read() == b"hello from the labs test image\n"
        bindings = handle._container.get_wrapped_container().attrs["HostConfig"]["PortBindings"]
        assert {b["HostIp"] for b in bindings["8000/tcp"]} == {"127.0.0.1"}
        assert "GET /index.txt" in handle.logs()
    finally:
        handle.stop()
    assert _gone(docker_host, name)
    assert not tcp_open("127.0.0.1", port)


def test_fixed_port_env_and_command(docker_host: str, http_image: str) -> None:
    port = free_port()
    cmd = ["sh", "-c", 'echo "greeting=$GREETING"; exec python3 -u -m http.server 8000']
    handle = containers.start_container(
        _name("env"), http_image, {8000: port}, {"GREETING": "hi"}, command=cmd, ready_log="Serving HTTP"
    )
    try:
        assert handle.host_port(8000) == port
        assert "greeting=hi" in handle.logs()
        assert tcp_open("127.0.0.1", port)
    finally:
        handle.stop()


def test_ready_log_deadline(docker_host: str, http_image: str) -> None:
    name = _name("deadline")
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        containers.start_container(name, http_image, {8000: None}, {}, ready_log="never printed", timeout=2)
    assert time.monotonic() - t0 < 15
    assert _gone(docker_host, name)


def test_exit_before_ready(docker_host: str, http_image: str) -> None:
    name = _name("exit")
    with pytest.raises(RuntimeError, match="exited"):
        containers.start_container(name, http_image, {}, {}, command=["false"], ready_log="x", timeout=20)
    assert _gone(docker_host, name)


def test_stale_container_replaced_then_stopped_by_name(docker_host: str, http_image: str) -> None:
    """A run killed mid-way leaves its container: the next start replaces it; stop_container by name."""
    name = _name("stale")
    first = containers.start_container(name, http_image, {8000: None}, {}, ready_log="Serving HTTP")
    second = containers.start_container(name, http_image, {8000: None}, {}, ready_log="Serving HTTP")
    assert second.id != first.id
    containers.stop_container(name)
    assert _gone(docker_host, name)
    containers.stop_container(name)  # already gone: no error


def test_foreign_container_is_left_alone(docker_host: str, http_image: str) -> None:
    name = _name("foreign")
    env = podman.podman_env()
    subprocess.run(["podman", "create", "--name", name, http_image], env=env, check=True, capture_output=True)
    try:
        with pytest.raises(ServiceError, match="not started by the labs harness"):
            containers.start_container(name, http_image, {8000: None}, {})
    finally:
        subprocess.run(["podman", "rm", "-f", name], env=env, capture_output=True)
