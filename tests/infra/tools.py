"""Where the infra tools live: the same locations scripts/install-infra-tools.sh installs to.

Nothing here installs anything: a missing tool makes its test skip with the reason,
and infra-snippets/README.md lists what is expected to be unavailable.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNIPPETS = REPO / "infra-snippets"
INSTALL_HINT = "run scripts/install-infra-tools.sh"


def tools_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-course-labs" / "infra-tools"
    return Path(os.environ.get("INFRA_TOOLS_DIR", default))


def orch_python() -> Path:
    return Path(os.environ.get("ORCH_VENV", REPO / ".venv-orch")) / "bin" / "python"


def find_tool(name: str) -> str | None:
    """Tools dir first (pinned builds), then the venv next to this interpreter, then PATH."""
    candidates = [
        tools_dir() / "bin" / name,
        tools_dir() / "venv-checkov" / "bin" / name,
        Path(sys.executable).parent / name,
    ]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


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
