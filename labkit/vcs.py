"""Drive git, git-lfs and DVC from a notebook the way you would from a terminal.

Each helper runs one command in a repository and returns its combined output; a
failing command raises `CommandFailed` carrying that output, so a mistake reads
like the terminal would have shown it. DVC runs as `sys.executable -m dvc` (this
environment's DVC) with analytics off.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path


class CommandFailed(RuntimeError):
    """A command exited non-zero; the message holds the command line and its output."""


def run(cmd: list[str], cwd: Path | str, *, env: dict[str, str] | None = None, timeout: float = 120.0) -> str:
    """Run `cmd` in `cwd` and return stdout+stderr; raise CommandFailed on a non-zero exit."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        shown = " ".join(str(c) for c in cmd)
        raise CommandFailed(f"`{shown}` exited {proc.returncode} in {cwd}:\n{proc.stdout.strip()}")
    return proc.stdout


def git(repo: Path | str, *args: str, timeout: float = 60.0) -> str:
    """`git <args>` in `repo`."""
    return run(["git", *args], repo, timeout=timeout)


def dvc(repo: Path | str, *args: str, timeout: float = 180.0) -> str:
    """`dvc <args>` in `repo`, with this Python's DVC and analytics disabled."""
    env = {"DVC_NO_ANALYTICS": "1"}
    if not any(os.environ.get(k) for k in ("LOGNAME", "USER", "LNAME", "USERNAME")):
        # DVC names its site cache after getpass.getuser(), which fails for a uid with no passwd entry
        # (containers, sandboxes); a terminal always sets USER
        env["USER"] = "student"
    return run([sys.executable, "-m", "dvc", *args], repo, env=env, timeout=timeout)


def init_repo(path: Path | str, user: str = "Lab Student", email: str = "student@example.com") -> Path:
    """A fresh git repository on branch `main` with a local identity (no global git config needed)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "config", "user.name", user)
    git(path, "config", "user.email", email)
    git(path, "config", "commit.gpgsign", "false")
    return path


def file_md5(path: Path | str) -> str:
    """The MD5 of a file's bytes: what DVC 3 records as `md5` for a single file."""
    digest = hashlib.md5(usedforsecurity=False)  # a content address, not a security hash
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes: the `oid` a git-lfs pointer records."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
