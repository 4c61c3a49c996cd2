"""The harness's on-disk state: services.json, endpoints.env and the `up` lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from autograder.services.base import Running, ServiceError, state_dir


def state_file() -> Path:
    return state_dir() / "services.json"


def endpoints_file() -> Path:
    return state_dir() / "endpoints.env"


def load_state() -> dict[str, Running]:
    try:
        raw = json.loads(state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {name: Running.from_json(rec) for name, rec in raw.get("services", {}).items()}


def save_state(services: Mapping[str, Running]) -> None:
    if not services:
        state_file().unlink(missing_ok=True)
        return
    data = {"updated_at": time.time(), "services": {n: r.to_json() for n, r in services.items()}}
    _atomic_write(state_file(), json.dumps(data, indent=2, sort_keys=True))


def write_endpoints(services: Mapping[str, Running]) -> dict[str, str]:
    env: dict[str, str] = {}
    for run in services.values():
        env.update(run.exports)
    if not env:
        endpoints_file().unlink(missing_ok=True)
        return env
    lines = ["# Written by `labs up`: endpoints of the running lab services."]
    lines += [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    _atomic_write(endpoints_file(), "\n".join(lines) + "\n")
    return env


def load_endpoints(path: Path | None = None) -> dict[str, str]:
    """KEY=VALUE lines (values may be shell-quoted); comments and blanks skipped."""
    path = path or endpoints_file()
    out: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        parts = shlex.split(value) if value else [""]
        out[key.strip()] = parts[0] if parts else ""
    return out


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(wait: float = 120.0) -> Iterator[None]:
    """Serialise up/down. flock is released by the kernel if the holder dies, so no stale locks."""
    path = state_dir() / "services.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - held for the duration of the block
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise ServiceError(
                        f"another `labs up`/`labs down` is running (holder: {holder}; lock {path}); "
                        "wait for it to finish and retry"
                    ) from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
