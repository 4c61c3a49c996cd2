"""docker/compose.yaml, checked statically and against the native service list."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from autograder import paths
from autograder.services import registry

DOCKER = paths.REPO_ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
NATIVE_LABEL = "org.mlops-labs.native"
PINNED = re.compile(r"^[a-z0-9][\w.\-/]*:(?P<tag>[\w][\w.\-]*)$")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _env_file(name: str) -> dict[str, str]:
    """KEY=VALUE lines; a commented `# KEY=VALUE` (profile-only services) counts too."""
    out = {}
    for line in (DOCKER / name).read_text().splitlines():
        if m := re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(\S*)$", line):
            out[m.group(1)] = m.group(2)
    return out


def _constraint(package: str) -> str:
    text = (paths.REPO_ROOT / "constraints.txt").read_text()
    m = re.search(rf"(?im)^{re.escape(package)}==(\S+)$", text)
    assert m, f"{package} not pinned in constraints.txt"
    return m.group(1)


def _published(svc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, default host port, container port) of each published port."""
    out = []
    for p in svc.get("ports", []):
        if isinstance(p, dict):
            out.append((str(p.get("host_ip", "")), int(p["published"]), int(p["target"])))
            continue
        # "127.0.0.1:${X_PORT:-9092}:9092" → interpolate the default
        text = re.sub(r"\$\{\w+:-(\d+)\}", r"\1", str(p))
        parts = text.split(":")
        assert len(parts) == 3, f"port {p!r} must name the host ip, host port and container port"
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


# The `containers` service is the engine the stack itself runs on, so it cannot be one of its services.
STACK_SERVICES = set(registry.NAMES) - {"containers"}


def test_every_native_service_has_a_compose_service_and_back(services: dict[str, dict[str, Any]]) -> None:
    labels = {name: svc.get("labels", {}).get(NATIVE_LABEL) for name, svc in services.items()}
    assert all(labels.values()), f"services without {NATIVE_LABEL}: {[n for n, v in labels.items() if not v]}"
    native = set(labels.values()) - {"none"}
    assert native == STACK_SERVICES, (
        f"native services missing from compose: {sorted(STACK_SERVICES - native)}; "
        f"compose services naming no native one: {sorted(native - STACK_SERVICES)}"
    )
    for name in ("prometheus", "alertmanager", "grafana"):
        assert name in services


def test_ports_on_loopback_images_pinned_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    host_ports: dict[int, str] = {}
    for name, svc in services.items():
        m = PINNED.match(svc.get("image", ""))
        assert m, f"{name}: image {svc.get('image')!r} needs an explicit tag"
        assert m.group("tag") != "latest", f"{name}: image tag 'latest' is not pinned"
        assert svc.get("ports"), f"{name}: publishes no port"
        for ip, host_port, _ in _published(svc):
            assert ip == "127.0.0.1", f"{name}: port published on {ip or 'all interfaces'}, not 127.0.0.1"
            assert host_port not in host_ports, f"{name} and {host_ports[host_port]} both publish {host_port}"
            host_ports[host_port] = name
        test = svc.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond.get("condition") == "service_healthy", f"{name}: wait for {dep} to be healthy"


def test_versions_match_the_native_stack(services: dict[str, dict[str, Any]]) -> None:
    assert services["mlflow"]["image"].endswith(f":v{_constraint('mlflow')}")
    assert services["aws"]["image"].endswith(f":{_constraint('moto')}")
    if not os.environ.get("LABS_KAFKA_VERSION"):
        kafka_version = importlib.import_module("autograder.services.kafka_dist").VERSION
        kafka_images = {s["image"] for s in services.values() if s["image"].startswith("apache/kafka:")}
        assert kafka_images == {f"apache/kafka:{kafka_version}"}


def test_mounted_files_exist_and_parse(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src = str(vol).split(":", 1)[0]
            if src.startswith("."):
                assert (DOCKER / src).exists(), f"{name}: mounts missing {src}"
        for env_file in [svc["env_file"]] if isinstance(svc.get("env_file"), str) else svc.get("env_file", []):
            assert (DOCKER / env_file).is_file(), f"{name}: env_file {env_file} missing"
        build = svc.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file()
    confs = [*DOCKER.glob("prometheus/**/*.yml"), *DOCKER.glob("alertmanager/*.yml"), *DOCKER.glob("grafana/**/*.yml")]
    assert len(confs) >= 3
    for conf in confs:
        assert isinstance(yaml.safe_load(conf.read_text()), dict), conf


def test_endpoint_files_cover_the_native_exports(services: dict[str, dict[str, Any]]) -> None:
    host_env, net_env = _env_file("endpoints.env"), _env_file("endpoints.compose.env")
    assert host_env.keys() == net_env.keys()
    for name in sorted(STACK_SERVICES):
        var = registry.get(name).endpoint_var
        assert var in host_env, f"docker/endpoints.env lacks {var} ({name})"
    # Each host endpoint points at a port the stack publishes on 127.0.0.1.
    published = {port for svc in services.values() for _, port, _ in _published(svc)}
    for key, value in host_env.items():
        for host, port in re.findall(r"([\w.\-]+):(\d+)", value):
            assert host == "127.0.0.1", f"{key}={value}: host endpoints are on 127.0.0.1"
            assert int(port) in published, f"{key}={value}: nothing publishes port {port}"


@pytest.mark.skipif(shutil.which("podman-compose") is None, reason="podman-compose not installed")
def test_podman_compose_reads_it(tmp_path: Path) -> None:
    """podman-compose 1.0 has no `config`: a dry run prints every `podman run` it would do."""
    from autograder.services.podman import podman_env

    project = f"labs-dryrun-{os.getpid()}"
    cmd = ["podman-compose", "--dry-run", "-p", project, "-f", str(COMPOSE), "up", "-d"]
    env = podman_env()
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
        runs = [line for line in res.stdout.splitlines() if line.startswith("podman run ")]
        names = {m.group(1) for line in runs if (m := re.search(rf"--name={project}_([\w-]+)_1", line))}
        assert names == set(yaml.safe_load(COMPOSE.read_text())["services"])
        binds = re.findall(r" -p (\S+)", "\n".join(runs))
        assert binds and all(b.startswith("127.0.0.1:") for b in binds), binds
    finally:
        # The dry run still creates the project's network and volumes.
        label = f"label=io.podman.compose.project={project}"
        ls = ["podman", "volume", "ls", "-q", "--filter", label]
        vols = subprocess.run(ls, env=env, capture_output=True, text=True).stdout.split()
        if vols:
            subprocess.run(["podman", "volume", "rm", *vols], env=env, capture_output=True)
        subprocess.run(["podman", "network", "rm", f"{project}_default"], env=env, capture_output=True)
