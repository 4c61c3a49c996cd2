"""`labs doctor`: what this machine has for the labs, and how to get what it lacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else ""


def _binary(name: str, fix: str, version_args: tuple[str, ...] = ("--version",), purpose: str = "") -> Finding:
    path = shutil.which(name)
    if not path:
        return Finding(name, False, f"not found{f' ({purpose})' if purpose else ''}", fix)
    return Finding(name, True, _version([path, *version_args]) or path)


def _docker_engine() -> Finding:
    try:
        from autograder.services.containers import docker_available
    except ImportError:
        return Finding("container engine", False, "container support not installed", "")
    if docker_available():
        return Finding("container engine", True, "a Docker-compatible engine answers")
    return Finding(
        "container engine",
        False,
        "no Docker engine answers (labs fall back to native services; container labs use podman)",
        "bash scripts/install-container-deps.sh",
    )


def run_checks() -> list[Finding]:
    findings = [
        Finding(
            "python",
            sys.version_info[:2] == (3, 11),
            sys.version.split()[0],
            "use Python 3.11 (pyenv install 3.11 or conda env create -f environment.yml)",
        ),
        _binary("java", "apt-get install -y openjdk-17-jre-headless", ("-version",), "Kafka, Spark"),
        _binary("mvn", "apt-get install -y maven", purpose="fetches Kafka's jars"),
    ]
    system_fix = "bash scripts/install-system-deps.sh"
    for name, purpose in [
        ("redis-server", "Redis"),
        ("prometheus", "Prometheus"),
        ("prometheus-alertmanager", "Alertmanager"),
        ("nginx", "reverse-proxy labs"),
        ("git-lfs", "data versioning lab"),
    ]:
        findings.append(_binary(name, system_fix, purpose=purpose))
    pg = shutil.which("postgres") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))), None)
    findings.append(Finding("postgres", bool(pg), str(pg) if pg else "not found (PostgreSQL server)", system_fix))
    findings.append(_binary("podman", "bash scripts/install-container-deps.sh", purpose="container labs"))
    findings.append(_binary("bwrap", "apt-get install -y bubblewrap", purpose="grading sandbox"))
    findings.append(_docker_engine())
    mem = psutil.virtual_memory()
    findings.append(
        Finding(
            "memory",
            mem.total >= 8 * 1024**3,
            f"{mem.total / 1024**3:.0f} GiB total, {mem.available / 1024**3:.0f} GiB available",
            "the full service stack wants about 3 GiB free",
        )
    )
    findings.append(Finding("cpu cores", True, str(os.cpu_count())))
    return findings
