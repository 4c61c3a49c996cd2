"""The container engine as the labs use it: the `docker` CLI where a student has Docker, podman here.

The engine comes from the lab's parameters (CONTAINER_ENGINE, CONTAINER_HOST): with a CONTAINER_HOST
podman runs as a *remote client* of the engine's API socket, the same model as the docker CLI talking
to dockerd. Commands are the Docker CLI's; podman accepts them unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class EngineError(RuntimeError):
    """A container command failed; the message has the command and the engine's stderr."""


def engine_argv() -> list[str]:
    """`docker` or `podman [--remote --url HOST]`, from CONTAINER_ENGINE / CONTAINER_HOST."""
    engine = os.environ.get("CONTAINER_ENGINE", "docker")
    binary = shutil.which(engine)
    if binary is None:
        raise EngineError(f"{engine!r} is not on PATH: install it, or set CONTAINER_ENGINE to docker or podman")
    host = os.environ.get("CONTAINER_HOST", "")
    if engine == "podman" and host:
        return [binary, "--remote", "--url", host]
    return [binary]


def engine(*args: str, timeout: float = 300, check: bool = True, input: str | None = None) -> str:
    """Run one engine command; stdout as text. EngineError (with stderr) when it fails and check is set."""
    argv = [*engine_argv(), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"`{' '.join(args)}` did not finish in {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        raise EngineError(f"`{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def registry_flags() -> list[str]:
    """The local registry speaks plain HTTP on loopback: podman must be told, Docker allows localhost."""
    return ["--tls-verify=false"] if os.environ.get("CONTAINER_ENGINE") == "podman" else []


def build(
    context: Path | str,
    tag: str,
    file: Path | str | None = None,
    build_args: dict[str, str] | None = None,
    extra: Sequence[str] = (),
    timeout: float = 600,
) -> str:
    """`build -t TAG CONTEXT`; returns the build log (its `Using cache` lines show layer reuse)."""
    args = ["build", "-t", tag]
    if file is not None:
        args += ["-f", str(file)]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    return engine(*args, *extra, str(context), timeout=timeout)


def inspect(name: str, kind: str = "") -> dict[str, Any]:
    """`inspect` of an image or container (kind: image|container to disambiguate)."""
    args = [kind, "inspect", name] if kind else ["inspect", name]
    return json.loads(engine(*args))[0]


def image_size(image: str) -> int:
    """Image size in bytes, as the engine reports it."""
    return int(inspect(image, "image")["Size"])


def exists(name: str, kind: str = "image") -> bool:
    done = subprocess.run([*engine_argv(), kind, "exists", name], capture_output=True, timeout=60)
    return done.returncode == 0


def remove(*names: str, kind: str = "image") -> None:
    """Remove images/containers if present (idempotent cleanup)."""
    if names:
        flag = ["-f"] if kind in ("container", "image") else []
        engine(kind, "rm", *flag, *names, check=False, timeout=120)
