"""Shared interface and plumbing for every service module.

A service module defines one `Service` subclass. The harness (`commands.py`)
picks a provider (external → native → container), spawns processes with
`spawn()`, waits with `wait_until()` and records the result as a `Running`
record in `.labs/services.json`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psutil

from autograder import paths

HOST = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service could not be provided; the message says what to do."""


class MissingDependency(ServiceError):
    """A binary, package or artifact is missing; the message names the install step."""


class ServiceDied(ServiceError):
    """A service that was running has exited or stopped answering."""

    def __init__(self, name: str, log: Path | str | None, detail: str = "") -> None:
        self.name = name
        self.log = str(log) if log else None
        msg = f"service {name!r} is not running{': ' + detail if detail else ''}"
        if log:
            msg += f" (log: {log})"
        super().__init__(msg)


# --------------------------------------------------------------------------- locations


def state_dir() -> Path:
    """Read at call time so tests can point LABS_STATE_DIR at a tmp dir."""
    env = os.environ.get("LABS_STATE_DIR")
    return Path(env) if env else paths.STATE_DIR


def log_dir() -> Path:
    return paths.ensure_dir(state_dir() / "logs")


def data_dir(name: str) -> Path:
    return paths.ensure_dir(state_dir() / "services" / name)


def log_path(name: str) -> Path:
    return log_dir() / f"{name}.log"


def cache_dir() -> Path:
    """Downloads shared across checkouts (Kafka jars): outside the repo."""
    base = os.environ.get("LABS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "mlops-labs"
    )
    return paths.ensure_dir(Path(base))


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """A spawned process; create_time tells a live pid from a reused one."""

    pid: int
    create_time: float
    role: str = "main"

    def alive(self) -> bool:
        try:
            p = psutil.Process(self.pid)
            return abs(p.create_time() - self.create_time) < 0.5 and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def rss_mb(self) -> float:
        """RSS of the process and its children (postgres forks, uvicorn workers...)."""
        if not self.alive():
            return 0.0
        try:
            p = psutil.Process(self.pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for q in procs:
            with contextlib.suppress(psutil.Error):
                total += q.memory_info().rss
        return total / 2**20


def which(binary: str, install_hint: str, extra_dirs: Sequence[str] = ()) -> str:
    """Absolute path of a binary, or MissingDependency naming the package to install."""
    found = shutil.which(binary)
    if not found:
        for d in extra_dirs:
            cand = Path(d) / binary
            if cand.is_file() and os.access(cand, os.X_OK):
                found = str(cand)
                break
    if not found:
        raise MissingDependency(f"'{binary}' not found on PATH: install it with `{install_hint}`")
    return found


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    role: str = "main",
) -> Proc:
    """Start argv in its own session (= process group) with output appended to the service log."""
    log = log_path(name)
    full_env = {**os.environ, **(env or {})}
    with open(log, "ab") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {role}: {' '.join(argv)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # own process group: down() kills the whole group
            user=user,
            close_fds=True,
        )
    return Proc(pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(), role=role)


def kill_group(proc: Proc, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal the process group, wait up to timeout, then SIGKILL what is left."""
    if not proc.alive():
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    members = _group_members(pgid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    _, alive = psutil.wait_procs(members, timeout=timeout)
    if alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)


def _group_members(pgid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(p.pid) == pgid:
                out.append(p)
    return out


# --------------------------------------------------------------------------- ports and probes


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def pick_port(preferred: int | None = None) -> int:
    """The preferred port when free (LABS_<SVC>_PORT), else any free one."""
    if preferred and port_free(preferred):
        return preferred
    return free_port()


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except (OSError, ValueError):
        return False


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    procs: Sequence[Proc] = (),
    log: Path | None = None,
    interval: float = 0.1,
) -> None:
    """Poll check() until it is true; fail fast if a watched process exits."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        for p in procs:
            if not p.alive():
                raise ServiceError(f"{what}: process {p.pid} ({p.role}) exited during start\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{what}: not ready after {timeout:.0f} s\n{log_tail(log)}")
        time.sleep(interval)
        interval = min(interval * 1.3, 0.5)


def log_tail(log: Path | None, lines: int = 15) -> str:
    if not log or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last lines of {log} ---\n" + "\n".join(text)


# --------------------------------------------------------------------------- records


@dataclass
class Running:
    """What is recorded for a provided service in services.json."""

    name: str
    provider: str  # external | native | container
    endpoint: str
    exports: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    log: str | None = None
    started_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Running:
        data = dict(data)
        data["procs"] = [Proc(**p) for p in data.get("procs", [])]
        return cls(**data)

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)

    def rss_mb(self) -> float:
        return sum(p.rss_mb() for p in self.procs)


@dataclass
class ContainerSpec:
    """What the container provider needs to start this service."""

    image: str
    ports: dict[int, int | None]
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    ready_log: str | None = None


class Service:
    """One service. Subclasses set the class attributes and implement start_native()."""

    name: ClassVar[str]
    endpoint_var: ClassVar[str]  # set in the environment → external provider
    requires: ClassVar[tuple[str, ...]] = ()
    start_timeout: ClassVar[float] = 60.0
    stop_signal: ClassVar[int] = signal.SIGTERM

    def dependencies(self) -> tuple[str, ...]:
        """Services that must be ready first (may depend on configuration)."""
        return self.requires

    # ---- to implement
    def start_native(self, deps: Mapping[str, Running]) -> Running:
        raise NotImplementedError

    def probe(self, run: Running) -> bool:
        """One readiness/health check (no waiting)."""
        raise NotImplementedError

    def after_ready(self, run: Running) -> None:
        """Hook once a native start is ready (e.g. to cache something for the next cold start)."""

    def external_exports(self, value: str) -> dict[str, str]:
        """Exports when the endpoint variable was set by the user."""
        return {self.endpoint_var: value}

    def container_spec(self) -> ContainerSpec | None:
        return None

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        raise NotImplementedError

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """Give a lab a clean namespace; returns env vars naming it."""
        return {"LABS_NAMESPACE": lab}

    def stop(self, run: Running) -> None:
        for p in reversed(run.procs):
            kill_group(p, self.stop_signal)
        if run.provider == "container" and run.extra.get("container"):
            with contextlib.suppress(Exception):  # no engine any more: nothing left to stop
                from autograder.services import containers

                containers.stop_container(run.extra["container"])

    def alive(self, run: Running) -> bool:
        """Are the recorded processes still ours and running? (external/container: no procs)."""
        return run.alive()

    def healthy(self, run: Running) -> bool:
        try:
            return self.alive(run) and self.probe(run)
        except Exception:
            return False

    # ---- shared helpers
    def log(self) -> Path:
        return log_path(self.name)

    def wait_ready(self, run: Running, timeout: float | None = None) -> None:
        wait_until(
            lambda: self.probe(run),
            timeout=timeout or self.start_timeout,
            what=f"{self.name}",
            procs=run.procs,
            log=self.log(),
        )

    def preferred_port(self, default: int | None = None) -> int | None:
        env = os.environ.get(f"LABS_{self.name.upper().replace('-', '_')}_PORT")
        return int(env) if env else default
