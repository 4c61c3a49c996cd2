"""Where the infra tools live: the same locations scripts/install-infra-tools.sh installs to.

Nothing here installs anything: a missing tool makes its test skip with the reason,
and infra-snippets/README.md lists what is expected to be unavailable.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# The discovery logic is shared with the infra labs (labkit.iac); re-exported here for the tests.
from labkit.iac import INSTALL_HINT as INSTALL_HINT
from labkit.iac import REPO as REPO
from labkit.iac import SNIPPETS as SNIPPETS
from labkit.iac import find_tool as find_tool
from labkit.iac import orch_python as orch_python
from labkit.iac import provider_mirror as provider_mirror
from labkit.iac import tools_dir as tools_dir


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} not found ({INSTALL_HINT})")
    return path


def tool_env() -> dict[str, str]:
    """Environment with the tools dir on PATH (checkov calls helm/kustomize by name)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(tools_dir() / "bin"), str(Path(sys.executable).parent), env["PATH"]])
    return env


def run(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n"
            f"--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
